"""The wire format of the offer: what Nova puts in ``binding:profile``.

The compute host states, in preference order, the bindings it can plug; Nova
sends that list to Neutron under ``binding:profile["os_vif_pref"]`` and
Neutron picks the first one it can serve.  This package is the only place
that knows the JSON shape, so both sides agree by construction.  It imports
nothing heavier than oslo.config, because neutron-server reads it without
the catalogue, probes or plugins (the catalogue imports this, never the
reverse; the import-linter contracts in ``setup.cfg`` and
``tests/unit/test_import_isolation.py`` keep it so).

Why compact: Neutron keeps ``binding:profile`` as ``json.dumps(profile)``
in a column of 4,095 characters (``neutron/plugins/ml2/models.py``
``BINDING_PROFILE_LEN``; HTTP 400 above), and Nova shares the field
(``pci_slot``, ``pci_vendor_info``, ``physical_network``, ``capabilities``,
``allocation``, ``card_serial_number``, ``pf_mac_address``, ``vf_num``...).
Sizes below are measured as Neutron stores them: ``json.dumps`` with its
default separators (``", "``, ``": "``).

Wire format, version 2
======================

The value under the key is an object (this is a real one: a host with
OVS-DPDK, 435 characters as Neutron stores it, with the key)::

    {"v": "2.0",                          # MAJOR.MINOR (an int N means N.0)
     "h": "compute-0001.example.org",     # the host it was computed for
     "o": ["v 1.0-1.1", "po 1.0-1.4",     # os-vif classes and versions,
           "o 1.0", "po 1.0", "b 1.0",    # each listed once, referred to
           "d 1.0", "g 1.0"],             # by index
     "i": ["ovs-vhostuser vhostuser n 0,1 vo !vf *vs",   # preference order
           "ovs ovs n 2,1 !hy",
           "agilio-ovs agilio_ovs n 2,3 !hy",
           "ovs-hybrid ovs n 4,1 hy",
           "agilio-ovs-hybrid agilio_ovs n 4,3 hy",
           "linux-bridge bridge n 4",
           "macvtap macvtap nm 5 *ms",
           "tap tap n 6",
           "vhostuser-noop vhostuser n 0 !vr !vf !vo *vs"]}

``o`` entries are ``"CLASS MIN-MAX"`` (``"CLASS V"`` when min = max);
os-vif's own classes are written as the lower-case codes of
:data:`CLASS_CODES` (``v`` VIFVHostUser, ``o`` VIFOpenVSwitch, ``b``
VIFBridge, ``po`` VIFPortProfileOpenVSwitch, ...), any other class in full.
Each item of ``i`` is one string of space-separated fields:

1. the catalogue entry's name;
2. the Neutron ``vif_type``;
3. the vnic types, one letter each: ``n`` normal, ``d`` direct, ``m``
   macvtap, ``b`` baremetal, ``p`` direct-physical, ``f``
   virtio-forwarder, ``s`` smart-nic, ``v`` vdpa, ``r`` remote-managed,
   ``a`` accelerator-direct, ``A`` accelerator-direct-physical;
4. the os-vif object as an index into ``o``, then ``,`` and the port
   profile's index if the binding has one;
5. then any number of tokens about ``vif_details``: ``KEY`` (must be
   true), ``!KEY`` (must be false/absent), ``KEY=VALUE`` (must equal that
   string), ``*KEY`` (Neutron must fill it, e.g. the vhost-user socket).
   Well-known keys are written short (:data:`DETAIL_CODES`: ``hy``
   ovs_hybrid_plug, ``vo`` vhostuser_ovs_plug, ``vf`` vhostuser_fp_plug,
   ``vr`` vhostuser_vrouter_plug, ``vs`` vhostuser_socket, ``ms``
   macvtap_source, ...); any other key is written in full.

A detail the token grammar cannot spell (a number, null, a string with a
space, a key that looks like a short code) makes the item an array,
``["ovs ovs n 2,1", {"mtu_hint": 9000}, ["odd key"]]``: element 1 holds
the extra match values with literal keys, element 2 extra required keys.
The os-vif plugin is not sent: Neutron does not need it, and Nova plugs
with its own catalogue's choice.

Sizes (``benchmarks/bench_negotiation.py`` prints them): the whole bundled
catalogue, all 22 entries usable, 973 characters with a 24-character host
name (version 1 took 5,658); the OVS-DPDK host above 435.

Compatibility rules, because the two ends are upgraded independently:

* no ``os_vif_pref`` key means an old Nova: :func:`decode` returns ``None``
  and the caller falls back to today's behaviour;
* a newer *minor* version is read as this one; it may add envelope keys,
  array elements after the second, vnic letters (an item left with no vnic
  type this side knows is skipped) and detail tokens starting with a
  character other than a letter, digit, ``_``, ``!`` or ``*``, all of which
  a 2.0 reader ignores; anything a reader must not ignore needs a new major;
* an unknown *major* version is not an error: :func:`decode` logs it once
  and returns ``None`` (stock binding), so a newer Nova never makes an older
  Neutron fail a port;
* the encoder stays within ``[os_vif_pref] offer_budget_bytes`` (dropping
  the least preferred items, with a warning) so that Nova's own keys still
  fit in Neutron's column.

``binding:profile`` is written by the ``service`` role (Nova) under Neutron
29's default policy, not by users; the reader is still bounded (items and
bytes, ``offer_max_items`` / ``offer_max_bytes``, checked before any
per-item work, at a cost bounded by the limits and not by what was sent)
because an operator can grant the field to admins or others, and a Neutron
server must not be taken down by one port update.

The package is split where its readers differ: :mod:`.model` (the offer,
its items and the format's codes, shared), :mod:`.encoding` (what the host
writes), :mod:`.decoding` (what Neutron reads) and :mod:`.opts`; every
public name is re-exported here.
"""

from __future__ import annotations

from os_vif_pref.offer.decoding import (  # noqa: F401
    decode,
    decode_value,
    from_json,
    read_offer,
)
from os_vif_pref.offer.encoding import encode, to_json  # noqa: F401
from os_vif_pref.offer.model import (  # noqa: F401
    CLASS_CODES,
    DETAIL_CODES,
    KEY,
    MINOR,
    PROFILE_MAX,
    VERSION,
    VNIC_CODES,
    ItemLike,
    Offer,
    OfferItem,
    details_match,
    from_entries,
    stored_size,
)
from os_vif_pref.offer.opts import CONF, list_opts, offer_opts  # noqa: F401
