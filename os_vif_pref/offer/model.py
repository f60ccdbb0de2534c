"""The wire format of the offer: what Nova puts in ``binding:profile``.

The compute host states, in preference order, the bindings it can plug; Nova
sends that list to Neutron under ``binding:profile["os_vif_pref"]`` and
Neutron picks the first one it can serve.  This module is the only place
that knows the JSON shape, so both sides agree by construction.  It imports
nothing heavier than oslo.config, because neutron-server reads it without
the catalogue, probes or plugins (the catalogue imports this, never the
reverse; ``tests/unit/test_import_isolation.py`` keeps it so).

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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
import json
import logging
import re
from typing import TYPE_CHECKING, Any, Union

from oslo_config import cfg

from os_vif_pref import exceptions
from os_vif_pref.exceptions import excerpt
from os_vif_pref.versions import VersionRange, version_tuple

if TYPE_CHECKING:  # for type hints only: never imported at run time
    from os_vif_pref.catalogue import Entry

LOG = logging.getLogger(__name__)

KEY = "os_vif_pref"
#: Major and minor version this module writes; it reads every ``2.x``.
VERSION = 2
MINOR = 0

#: Neutron's stored size limit of the whole ``binding:profile``.
PROFILE_MAX = 4095

offer_opts = [
    cfg.IntOpt(
        "offer_budget_bytes", default=2048, min=256, max=PROFILE_MAX,
        help="Most characters the offer may add to a port's binding:profile "
             "as Neutron stores it (json.dumps; Neutron refuses a profile "
             "over 4095). The least preferred bindings are left out, with "
             "a warning, to stay within it. The default leaves about 2 KB "
             "for Nova's own keys (an SR-IOV port's take about 400); the "
             "whole bundled catalogue needs about 1 KB."),
    cfg.IntOpt(
        "offer_max_items", default=256, min=1,
        help="Largest number of bindings accepted in an offer read from "
             "binding:profile, and sent in one. The bundled catalogue has "
             "about 20 entries."),
    cfg.IntOpt(
        "offer_max_bytes", default=PROFILE_MAX + 1, min=256,
        help="Largest size (bytes of compact JSON) of an offer read from "
             "binding:profile; Neutron cannot store more than 4095."),
]

CONF = cfg.CONF
CONF.register_opts(offer_opts, group="os_vif_pref")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("os_vif_pref", offer_opts)]


#: Neutron's vnic types, one letter each on the wire (fixed for major 2;
#: a minor version may add letters).
VNIC_CODES: dict[str, str] = {
    "normal": "n", "direct": "d", "macvtap": "m", "baremetal": "b",
    "direct-physical": "p", "virtio-forwarder": "f", "smart-nic": "s",
    "vdpa": "v", "remote-managed": "r", "accelerator-direct": "a",
    "accelerator-direct-physical": "A",
}
_VNIC_NAMES = {v: k for k, v in VNIC_CODES.items()}

#: Short spellings of well-known vif_details keys (fixed for major 2: a
#: reader cannot tell an unknown code from a literal key, so new keys are
#: written in full).
DETAIL_CODES: dict[str, str] = {
    "ovs_hybrid_plug": "hy", "port_filter": "pf",
    "vhostuser_ovs_plug": "vo", "vhostuser_fp_plug": "vf",
    "vhostuser_vrouter_plug": "vr", "vhostuser_socket": "vs",
    "vhostuser_mode": "vm", "macvtap_source": "ms", "macvtap_mode": "mm",
    "physical_interface": "pi", "bridge_name": "bn", "datapath_type": "dt",
    "connectivity": "ct", "vlan": "vl", "ovs_create_tap": "ot",
}
_DETAIL_NAMES = {v: k for k, v in DETAIL_CODES.items()}

#: Short names of os-vif's classes in ``o`` (fixed for major 2; lower case,
#: so never a class name, which starts upper case; other classes are
#: written in full).
CLASS_CODES: dict[str, str] = {
    "VIFGeneric": "g", "VIFBridge": "b", "VIFOpenVSwitch": "o",
    "VIFDirect": "d", "VIFVHostUser": "v", "VIFHostDevice": "h",
    "VIFNestedDPDK": "n",
    "VIFPortProfileBase": "pb", "VIFPortProfileOpenVSwitch": "po",
    "VIFPortProfileFPOpenVSwitch": "pfo", "VIFPortProfileFPBridge": "pfb",
    "VIFPortProfileFPTap": "pft", "VIFPortProfileOVSRepresentor": "pr",
    "VIFPortProfile8021Qbg": "pqg", "VIFPortProfile8021Qbh": "pqh",
    "VIFPortProfileK8sDPDK": "pk",
}
_CLASS_NAMES = {v: k for k, v in CLASS_CODES.items()}

_VERSION_RE = re.compile(r"^[0-9]{1,4}\.[0-9]{1,4}$")
_WIRE_VERSION_RE = re.compile(r"^([0-9]{1,4})(?:\.([0-9]{1,4}))?$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$")
_VALUE_RE = re.compile(r"^[A-Za-z0-9_.:/@+-]{0,255}$")
_OBJ_RE = re.compile(r"^([A-Z][A-Za-z0-9]{0,63}|[a-z]{1,4}) "
                     r"([0-9]{1,4}\.[0-9]{1,4})"
                     r"(?:-([0-9]{1,4}\.[0-9]{1,4}))?$")
_REFS_RE = re.compile(r"^([0-9]{1,4})(?:,([0-9]{1,4}))?$")
_TOKEN_START = re.compile(r"^[A-Za-z0-9_!*]")
_MAX_HOST = 255
_MAX_DEPTH = 6  # deepest legitimate path: i[n][1][key]


def details_match(match: Mapping[str, Any],
                  details: Mapping[str, Any] | None) -> bool:
    """Whether Neutron's vif_details have every selecting value of ``match``.

    An absent detail counts as false/null, as Nova reads them with
    ``details.get(key, False)``.  The catalogue and the offer both use this
    one rule, so Nova and Neutron cannot disagree on what a binding is.
    """
    details = details or {}
    for key, want in match.items():
        have = details.get(key)
        if want in (False, None):
            if have not in (False, None):
                return False
        elif have != want:
            return False
    return True


@dataclasses.dataclass(frozen=True)
class OfferItem:
    """One binding the host offers: enough for Neutron to decide.

    ``vif_details`` is the catalogue entry's match dict (an absent key means
    false/null, as Nova reads details); ``required_details`` are keys Neutron
    must fill (e.g. ``vhostuser_socket``).  Versions are the os-vif object
    versions the host can plug, so Nova can build the newest both ends of a
    migration understand.
    """

    name: str
    vif_type: str
    vnic_types: tuple[str, ...]
    vif_details: Mapping[str, Any]
    required_details: tuple[str, ...]
    os_vif_object: str
    os_vif_versions: VersionRange
    port_profile_object: str | None
    port_profile_versions: VersionRange | None

    @classmethod
    def from_entry(cls, entry: Entry) -> OfferItem:
        pp = entry.port_profile
        return cls(
            name=entry.name,
            vif_type=entry.vif_type,
            vnic_types=tuple(entry.vnic_types),
            vif_details=dict(entry.details_match),
            required_details=tuple(entry.details_required),
            os_vif_object=entry.vif_object,
            os_vif_versions=entry.vif_versions,
            port_profile_object=None if pp is None else pp.object,
            port_profile_versions=None if pp is None else pp.versions,
        )

    def accepts(self, vif_type: str, vnic_type: str,
                details: Mapping[str, Any] | None) -> bool:
        """Whether a Neutron binding is this item (same rule as the
        catalogue: an absent detail counts as false/null)."""
        return (vif_type == self.vif_type and vnic_type in self.vnic_types
                and details_match(self.vif_details, details))

    def to_dict(self) -> dict[str, Any]:
        """A readable form (CLI output, messages); not the wire form."""
        osv: dict[str, Any] = {
            "object": self.os_vif_object,
            "versions": [self.os_vif_versions.min, self.os_vif_versions.max],
        }
        if self.port_profile_object is not None:
            rng = self.port_profile_versions
            assert rng is not None
            osv["port_profile"] = [self.port_profile_object, rng.min, rng.max]
        out: dict[str, Any] = {
            "name": self.name,
            "vif_type": self.vif_type,
            "vnic_types": list(self.vnic_types),
        }
        if self.vif_details:
            out["vif_details"] = dict(self.vif_details)
        if self.required_details:
            out["required_details"] = list(self.required_details)
        out["os_vif"] = osv
        return out


@dataclasses.dataclass(frozen=True)
class Offer:
    """A decoded offer: ``items`` in the host's preference order.

    ``host`` is the compute host it was computed for: Neutron uses the offer
    only for a port whose ``binding:host_id`` is that host (Nova copies a
    source host's profile into a migration destination's binding).
    ``version`` / ``minor`` are what the sender wrote.
    """

    version: int
    items: tuple[OfferItem, ...]
    host: str | None = None
    minor: int = MINOR

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def names(self) -> list[str]:
        return [i.name for i in self.items]

    def get(self, name: str) -> OfferItem | None:
        for item in self.items:
            if item.name == name:
                return item
        return None

    def find(self, vif_type: str, vnic_type: str,
             details: Mapping[str, Any] | None = None) -> list[OfferItem]:
        """Items accepting a Neutron binding, most preferred first."""
        return [i for i in self.items
                if i.accepts(vif_type, vnic_type, details)]

    def for_host(self, host: str | None) -> bool:
        """Whether this offer was computed for ``host``."""
        return self.host is not None and self.host == host

    def to_dict(self) -> dict[str, Any]:
        """The wire value of every item (no budget): see :func:`encode`."""
        return _Encoding(self, _host_of(self, None)).value()


ItemLike = Union[OfferItem, "Entry"]


def _as_item(obj: Any) -> OfferItem:
    if isinstance(obj, OfferItem):
        return obj
    # A catalogue Entry, recognised by shape: importing the catalogue here
    # would load it (YAML, jsonschema) inside neutron-server.
    if hasattr(obj, "details_match") and hasattr(obj, "vif_object"):
        return OfferItem.from_entry(obj)
    raise TypeError(f"cannot offer a {type(obj).__name__}")


def from_entries(entries: Iterable[ItemLike], *,
                 host: str | None = None) -> Offer:
    """An :class:`Offer` of catalogue entries (or items), order kept."""
    return Offer(version=VERSION, items=tuple(_as_item(e) for e in entries),
                 host=host)


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------

def stored_size(profile: Mapping[str, Any]) -> int:
    """Characters ``profile`` takes in Neutron's column (what ML2 stores:
    ``oslo_serialization.jsonutils.dumps``, i.e. ``json.dumps``)."""
    return len(json.dumps(profile))


def _host_of(offer: Offer, host: str | None) -> str:
    host = host or offer.host
    if not isinstance(host, str) or not host or len(host) > _MAX_HOST:
        raise ValueError(
            "an offer names the host it was computed for: got "
            f"{excerpt(host)}")
    return host


def _range_text(obj: str, rng: VersionRange) -> str:
    obj = CLASS_CODES.get(obj, obj)
    if rng.min == rng.max:
        return f"{obj} {rng.min}"
    return f"{obj} {rng.min}-{rng.max}"


def _wire_name(kind: str, value: str, item: OfferItem) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(f"offer item {excerpt(item.name)}: {kind} "
                         f"{excerpt(value)} cannot be sent (letters, "
                         "digits, _ . : - only, at most 64)")
    return value


def _short_key(key: str) -> str | None:
    """The token spelling of a detail key, or None (array form)."""
    code = DETAIL_CODES.get(key)
    if code is not None:
        return code
    if _KEY_RE.match(key) and key not in _DETAIL_NAMES:
        return key
    return None


class _Encoding:
    """An offer's items in wire form, one at a time, with their sizes.

    Items are encoded in preference order, each adding the ``o`` entries it
    is the first to use; an item's text never depends on later items, so
    the size of any prefix of the offer is a running sum, exact to the
    character (``json.dumps`` of a list or object is additive).
    """

    def __init__(self, offer: Offer, host: str) -> None:
        self.host = host
        self.objects: list[str] = []
        self._index: dict[str, int] = {}
        self.items: list[Any] = []
        #: number of ``o`` entries the first n+1 items use
        self._object_counts: list[int] = []
        for item in offer.items:
            self.items.append(self._item(item))
            self._object_counts.append(len(self.objects))
        self._sizes: list[int] | None = None

    def _prefix_sizes(self) -> list[int]:
        """Stored size of the first n items, for n = 0..len (computed only
        when the offer has to be cut: one json.dumps per item)."""
        if self._sizes is None:
            size = stored_size({KEY: self._envelope([], [])})
            sizes = [size]
            done = 0
            for n, wire in enumerate(self.items):
                for text in self.objects[done:self._object_counts[n]]:
                    size += len(json.dumps(text)) + (2 if done else 0)
                    done += 1
                size += len(json.dumps(wire)) + (2 if n else 0)
                sizes.append(size)
            self._sizes = sizes
        return self._sizes

    def _envelope(self, objects: list[str], items: list[Any]
                  ) -> dict[str, Any]:
        return {"v": f"{VERSION}.{MINOR}", "h": self.host, "o": objects,
                "i": items}

    def _ref(self, obj: str, rng: VersionRange) -> str:
        text = _range_text(obj, rng)
        if not _OBJ_RE.match(text):
            raise ValueError(f"os-vif object {excerpt(text)} cannot be sent")
        index = self._index.get(text)
        if index is None:
            index = self._index[text] = len(self.objects)
            self.objects.append(text)
        return str(index)

    def _item(self, item: OfferItem) -> Any:
        name = _wire_name("name", item.name, item)
        vif_type = _wire_name("vif_type", item.vif_type, item)
        try:
            vnics = "".join(VNIC_CODES[v] for v in item.vnic_types)
        except KeyError as exc:
            raise ValueError(f"offer item {excerpt(name)}: unknown vnic_type "
                             f"{excerpt(exc.args[0])}") from None
        if not vnics:
            raise ValueError(f"offer item {excerpt(name)}: no vnic_types")
        refs = self._ref(item.os_vif_object, item.os_vif_versions)
        if item.port_profile_object is not None:
            assert item.port_profile_versions is not None
            refs += "," + self._ref(item.port_profile_object,
                                    item.port_profile_versions)
        fields = [name, vif_type, vnics, refs]
        extra_match: dict[str, Any] = {}
        extra_required: list[str] = []
        for key, want in item.vif_details.items():
            short = _short_key(key) if isinstance(key, str) else None
            if short is not None and want is True:
                fields.append(short)
            elif short is not None and want is False:
                fields.append("!" + short)
            elif (short is not None and isinstance(want, str)
                  and _VALUE_RE.match(want)):
                fields.append(f"{short}={want}")
            else:
                extra_match[key] = want
        for key in item.required_details:
            short = _short_key(key)
            if short is None:
                extra_required.append(key)
            else:
                fields.append("*" + short)
        text = " ".join(fields)
        if extra_required:
            return [text, extra_match, extra_required]
        if extra_match:
            return [text, extra_match]
        return text

    def value(self, n: int | None = None) -> dict[str, Any]:
        """The wire value of the first ``n`` items (all by default)."""
        if n is None:
            n = len(self.items)
        objects = self.objects[:self._object_counts[n - 1]] if n else []
        return self._envelope(objects, self.items[:n])

    def size(self, n: int) -> int:
        """Stored size of ``{KEY: value(n)}``."""
        return self._prefix_sizes()[n]


def encode(offer_or_items: Offer | Iterable[ItemLike], *,
           host: str | None = None, budget: int | None = None,
           conf: cfg.ConfigOpts = CONF) -> dict[str, Any]:
    """The value to put under ``binding:profile[KEY]``, within ``budget``.

    ``host`` (default: the offer's own) is the compute host the offer is
    for.  ``budget`` (default ``[os_vif_pref] offer_budget_bytes``) bounds
    what ``{KEY: value}`` takes as Neutron stores it; since json.dumps is
    additive, that is also exactly what it adds to a profile holding other
    keys.  The least preferred items that do not fit (or are beyond
    ``offer_max_items``) are left out, with a warning naming them; if not
    even the most preferred one fits, :class:`~os_vif_pref.exceptions.
    OfferTooLarge` is raised (send no offer: stock binding).
    """
    offer = (offer_or_items if isinstance(offer_or_items, Offer)
             else from_entries(offer_or_items))
    host = _host_of(offer, host)
    if budget is None:
        budget = conf.os_vif_pref.offer_budget_bytes
    max_items = conf.os_vif_pref.offer_max_items
    enc = _Encoding(offer, host)
    total = len(enc.items)
    if total <= max_items:
        value = enc.value()
        if stored_size({KEY: value}) <= budget:   # the usual case
            return value
    n = min(total, max_items)
    while n and enc.size(n) > budget:
        n -= 1
    if total and not n:
        raise exceptions.OfferTooLarge(
            name=offer.items[0].name, size=enc.size(1),
            budget=budget, host=host)
    value = enc.value(n)
    if n < total:
        LOG.warning(
            "The offer for host %s is cut to its %d most preferred of %d "
            "bindings to stay within [os_vif_pref] offer_budget_bytes = %d "
            "(%d characters as Neutron stores it; all %d would take %d) and "
            "offer_max_items = %d; left out: %s", host, n, total, budget,
            enc.size(n), total, enc.size(total), max_items,
            _names(offer.items[n:]))
    return value


def _names(items: Iterable[OfferItem], limit: int = 20) -> str:
    names = [i.name for i in items]
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0
                                       else "")


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------

def _bad(reason: str) -> exceptions.MalformedOffer:
    return exceptions.MalformedOffer(reason=reason)


def _check_size(value: Any, max_bytes: int) -> None:
    """Refuse a value whose compact JSON would exceed ``max_bytes``.

    Walks the structure counting (a slight under-estimate of) the JSON bytes
    and stops as soon as the budget is spent, so the cost is bounded by the
    budget, not by what was sent.  Non-JSON types are refused here too.
    """
    budget = max_bytes
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise _bad(f"nested deeper than {_MAX_DEPTH} levels")
        kind = type(node)  # exact types first: ABC checks cost the most
        if kind is str:
            budget -= len(node) + 2
        elif kind is bool or node is None:
            budget -= 4
        elif kind is int or kind is float:
            budget -= 1
        elif isinstance(node, str):
            budget -= len(node) + 2
        elif kind is dict or isinstance(node, Mapping):
            budget -= 2 + 2 * len(node)
            for k, v in node.items():
                if not isinstance(k, str):
                    raise _bad(f"object key {excerpt(k)} is not a string")
                budget -= len(k) + 2
                stack.append((v, depth + 1))
                if budget < 0:
                    break
        elif kind is list or isinstance(node, (list, tuple)):
            budget -= 1 + len(node)
            if budget >= 0:
                below = depth + 1
                stack.extend([(v, below) for v in node])
        elif node is None or isinstance(node, bool):
            budget -= 4
        elif isinstance(node, (int, float)):
            budget -= 1
        else:
            raise _bad(f"{type(node).__name__} is not a JSON value")
        if budget < 0:
            raise _bad(f"larger than [{KEY}] offer_max_bytes = {max_bytes} "
                       "bytes")


class _UnknownMajor(Exception):
    """A well-formed envelope of a major version this side cannot read."""


def _version(raw: Any) -> tuple[int, int]:
    """(major, minor) of the ``v`` field; a newer minor is fine."""
    if isinstance(raw, bool):
        raise _bad(f"v: {excerpt(raw)} is not a version")
    if isinstance(raw, int) and 0 <= raw < 10_000:
        major, minor = raw, 0
    elif isinstance(raw, str) and _WIRE_VERSION_RE.match(raw):
        parts = raw.split(".")
        major = int(parts[0])
        minor = int(parts[1]) if len(parts) > 1 else 0
    else:
        raise _bad(f"v: {excerpt(raw)} is not a version (expected "
                   f"\"{VERSION}.N\")")
    if major != VERSION:
        raise _UnknownMajor(f"{major}.{minor}")
    return major, minor


def _objects(raw: Any) -> list[tuple[str, VersionRange]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad(f"o: expected a list of \"CLASS MIN-MAX\", got "
                   f"{type(raw).__name__}")
    out = []
    for n, text in enumerate(raw):
        m = _OBJ_RE.match(text) if isinstance(text, str) else None
        if m is None:
            raise _bad(f"o[{n}]: expected \"CLASS MIN-MAX\" such as "
                       f"\"VIFVHostUser 1.0-1.1\", got {excerpt(text)}")
        name, lo, hi = m.group(1), m.group(2), m.group(3) or m.group(2)
        if version_tuple(lo) > version_tuple(hi):
            raise _bad(f"o[{n}]: min {lo} is greater than max {hi}")
        if name.islower():
            if name not in _CLASS_NAMES:
                raise _bad(f"o[{n}]: {excerpt(name)} is not a class code")
            name = _CLASS_NAMES[name]
        out.append((name, VersionRange(lo, hi)))
    return out


def _scalar_details(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping) or any(
            isinstance(v, (Mapping, list)) or not isinstance(k, str)
            for k, v in raw.items()):
        raise _bad(f"{where}: expected an object of scalars, got "
                   f"{excerpt(raw)}")
    return dict(raw)


def _item(raw: Any, i: int, objects: list[tuple[str, VersionRange]]
          ) -> OfferItem | None:
    """One item, or None if it has no vnic type this reader knows."""
    where = f"i[{i}]"
    extra_match: dict[str, Any] = {}
    extra_required: tuple[str, ...] = ()
    if isinstance(raw, list):
        if not raw:
            raise _bad(f"{where}: empty array")
        if len(raw) > 1:
            extra_match = _scalar_details(raw[1], f"{where}[1]")
        if len(raw) > 2:
            if not isinstance(raw[2], list) or not all(
                    isinstance(k, str) and k for k in raw[2]):
                raise _bad(f"{where}[2]: expected a list of detail names, "
                           f"got {excerpt(raw[2])}")
            extra_required = tuple(raw[2])
        raw = raw[0]
    if not isinstance(raw, str):
        raise _bad(f"{where}: expected a string \"NAME VIF_TYPE VNICS "
                   f"OBJECTS [DETAILS]\", got {type(raw).__name__}")
    fields = raw.split(" ")
    if len(fields) < 4:
        raise _bad(f"{where}: expected \"NAME VIF_TYPE VNICS OBJECTS "
                   f"[DETAILS]\", got {excerpt(raw)}")
    name, vif_type, vnics, refs = fields[:4]
    if not _NAME_RE.match(name):
        raise _bad(f"{where}.name: {excerpt(name)} is not a binding name")
    where = f"i[{i}]({name})"
    if not _NAME_RE.match(vif_type):
        raise _bad(f"{where}.vif_type: {excerpt(vif_type)} is not a vif_type")
    if not vnics.isalpha() or not vnics.isascii():
        raise _bad(f"{where}.vnic_types: expected vnic letters such as "
                   f"\"n\" or \"dv\", got {excerpt(vnics)}")
    # Letters this side does not know come from a newer minor version.
    vnic_types = tuple(dict.fromkeys(
        _VNIC_NAMES[c] for c in vnics if c in _VNIC_NAMES))
    m = _REFS_RE.match(refs)
    if m is None:
        raise _bad(f"{where}.objects: expected an index into 'o' or "
                   f"\"VIF,PROFILE\", got {excerpt(refs)}")
    indexes = [int(g) for g in m.groups() if g is not None]
    for n in indexes:
        if n >= len(objects):
            raise _bad(f"{where}.objects: index {n} is not in 'o' "
                       f"({len(objects)} entries)")
    obj, versions = objects[indexes[0]]
    pp_obj: str | None = None
    pp_versions: VersionRange | None = None
    if len(indexes) > 1:
        pp_obj, pp_versions = objects[indexes[1]]
    details: dict[str, Any] = {}
    required: list[str] = []
    for token in fields[4:]:
        if not token:
            raise _bad(f"{where}: empty detail token (two spaces)")
        if not _TOKEN_START.match(token):
            continue  # an extension of a newer minor version
        value: Any = True
        if token[0] in "!*":
            sigil, key = token[0], token[1:]
        elif "=" in token:
            sigil = "="
            key, value = token.split("=", 1)
            if not _VALUE_RE.match(value):
                raise _bad(f"{where}.vif_details: bad value in "
                           f"{excerpt(token)}")
        else:
            sigil, key = "", token
        if not _KEY_RE.match(key):
            raise _bad(f"{where}.vif_details: bad detail token "
                       f"{excerpt(token)}")
        key = _DETAIL_NAMES.get(key, key)
        if sigil == "*":
            required.append(key)
        elif key in details:
            raise _bad(f"{where}.vif_details: {excerpt(key)} given twice")
        else:
            details[key] = False if sigil == "!" else value
    for key, want in extra_match.items():
        if key in details:
            raise _bad(f"{where}.vif_details: {excerpt(key)} given twice")
        details[key] = want
    required.extend(extra_required)
    if not vnic_types:
        return None
    return OfferItem(
        name=name, vif_type=vif_type, vnic_types=vnic_types,
        vif_details=details, required_details=tuple(dict.fromkeys(required)),
        os_vif_object=obj, os_vif_versions=versions,
        port_profile_object=pp_obj, port_profile_versions=pp_versions)


def _decode(value: Any, max_items: int | None, max_bytes: int | None
            ) -> Offer:
    """Decode the value under the key; raises MalformedOffer or
    _UnknownMajor."""
    if max_items is None:
        max_items = CONF.os_vif_pref.offer_max_items
    if max_bytes is None:
        max_bytes = CONF.os_vif_pref.offer_max_bytes
    if isinstance(value, (str, bytes)):
        # Some clients store the profile value JSON-encoded.
        if len(value) > max_bytes:
            raise _bad(f"larger than [{KEY}] offer_max_bytes = {max_bytes} "
                       "bytes")
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _bad(f"not valid JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise _bad(f"expected an object with 'v', 'h' and 'i', got "
                   f"{type(value).__name__}")
    if "v" in value:
        major, minor = _version(value["v"])
    elif "version" in value:
        # Version 1's envelope (never released): an unknown major.
        raw = value["version"]
        raise _UnknownMajor(str(raw)[:16])
    else:
        raise _bad("no 'v' (version)")
    raw_items = value.get("i")
    if not isinstance(raw_items, list):
        raise _bad(f"i: must be a list, got {type(raw_items).__name__}")
    # Bounds first: both are cheap and independent of what was sent.
    if len(raw_items) > max_items:
        raise _bad(f"i: {len(raw_items)} items, more than [{KEY}] "
                   f"offer_max_items = {max_items}")
    key = _canonical(value, max_bytes, max_items)
    if key is not None:
        cached = _decoded.get(key)
        if cached is not None:
            return cached
    _check_size(value, max_bytes)
    host = value.get("h")
    if not isinstance(host, str) or not host or len(host) > _MAX_HOST:
        raise _bad(f"h: expected the host name the offer is for, got "
                   f"{excerpt(host)}")
    objects = _objects(value.get("o"))
    items = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_items):
        item = _item(raw, i, objects)
        if item is None:
            continue
        if item.name in seen:
            raise _bad(f"i[{i}]: binding {excerpt(item.name)} is offered "
                       "twice")
        seen.add(item.name)
        items.append(item)
    offer = Offer(version=major, minor=minor, items=tuple(items), host=host)
    if key is not None:
        if len(_decoded) >= _DECODED_MAX:
            _decoded.pop(next(iter(_decoded)))
        _decoded[key] = offer
    return offer


#: Offers already decoded, by canonical JSON.  A compute host sends the same
#: offer with every port it binds, so Neutron sees few distinct ones; a hit
#: skips the per-item validation (most of the cost), a miss is validated in
#: full and then remembered.  Offers are immutable, so sharing is safe.
_decoded: dict[tuple[str, int, int], Offer] = {}
_DECODED_MAX = 64

#: Unknown major versions already logged (once each, not once per port).
_unknown_logged: set[str] = set()


def _canonical(value: Any, max_bytes: int,
               max_items: int) -> tuple[str, int, int] | None:
    """A cache key for a plain-JSON offer, or None (then no caching).

    json.dumps runs in C, so this costs a fraction of validating the items;
    anything it cannot encode (non-JSON types, NaN, odd keys, extreme
    nesting) or that is over the size bound goes down the full checking
    path, which reports it.
    """
    if type(value) is not dict:
        return None
    for k, v in value.items():
        # The envelope holds a version, a host and perhaps newer small
        # fields; a large one is left to the bounded walk, which refuses
        # it cheaply.
        if k not in ("i", "o") and not (
                v is None or type(v) in (int, float, bool)
                or (type(v) is str and len(v) <= 256)):
            return None
    try:
        text = _dumps(value)
    except (TypeError, ValueError, RecursionError):
        return None
    if len(text) > max_bytes:
        return None
    return text, max_bytes, max_items


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      allow_nan=False)


def _unknown_major(version: str) -> str:
    reason = (f"offer version {excerpt(version, quote=False)} is not "
              f"understood here (this side reads {VERSION}.x); ignored, "
              "binding as without an offer")
    if version not in _unknown_logged and len(_unknown_logged) < 64:
        _unknown_logged.add(version)
        LOG.warning("binding:profile[%s]: %s", KEY, reason)
    return reason


def decode_value(value: Any, *, max_items: int | None = None,
                 max_bytes: int | None = None) -> Offer | None:
    """Decode the value found under ``binding:profile[KEY]``.

    ``None`` for an unknown major version (logged once); raises
    :class:`~os_vif_pref.exceptions.MalformedOffer` for a malformed one.
    """
    try:
        return _decode(value, max_items, max_bytes)
    except _UnknownMajor as exc:
        _unknown_major(str(exc))
        return None


def decode(profile: Mapping[str, Any] | None, **bounds: Any) -> Offer | None:
    """The offer in a port's ``binding:profile``, or ``None`` if it has none.

    ``None`` (no key, a null value, or an unknown major version, logged)
    means: bind as for a Nova that does not negotiate.  Anything present but
    wrong raises :class:`~os_vif_pref.exceptions.MalformedOffer` saying what
    and where.
    """
    if not profile:
        return None
    if not isinstance(profile, Mapping):
        raise _bad(f"binding:profile is a {type(profile).__name__}, not an "
                   "object")
    value = profile.get(KEY)
    if value is None:
        return None
    return decode_value(value, **bounds)


def read_offer(profile: Any, **bounds: Any
               ) -> tuple[Offer | None, str | None]:
    """The offer in a ``binding:profile`` and, if there is one this side
    cannot use, why not.  Never raises (the Neutron side uses this: a
    broken offer must not fail a binding)."""
    try:
        if isinstance(profile, Offer):
            return profile, None
        if profile is not None and not isinstance(profile, Mapping):
            raise _bad(f"binding:profile is a {type(profile).__name__}, "
                       "not an object")
        value = None if not profile else profile.get(KEY)
        if value is None:
            return None, None
        return _decode(value, bounds.get("max_items"),
                       bounds.get("max_bytes")), None
    except _UnknownMajor as exc:
        return None, _unknown_major(str(exc))
    except exceptions.MalformedOffer as exc:
        return None, str(exc)
    except Exception as exc:  # defensive: never break binding
        return None, f"unreadable offer ({type(exc).__name__}: {exc})"


def to_json(obj: Offer | Iterable[ItemLike], *, host: str | None = None,
            budget: int | None = None, indent: int | None = None) -> str:
    """The binding:profile fragment ``{"os_vif_pref": {...}}`` as JSON
    (compact unless ``indent``)."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps({KEY: encode(obj, host=host, budget=budget)},
                      indent=indent, separators=separators)


def from_json(text: str | bytes) -> Offer:
    """Read an offer from JSON (CLI ``--offer FILE``).

    Accepts a whole ``binding:profile`` (``{"os_vif_pref": {...}}``) or just
    the value under the key (``{"v": "2.0", "h": ..., "i": [...]}``).  Here
    an unknown major version is an error: the user asked for this offer.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(f"not valid JSON: {exc}") from None
    if isinstance(data, Mapping) and KEY in data:
        data = data[KEY]
        if data is None:
            raise _bad(f"'{KEY}' is null")
    try:
        return _decode(data, None, None)
    except _UnknownMajor as exc:
        raise _bad(f"version {exc} is not supported (this side reads "
                   f"{VERSION}.x)") from None
