"""The Nova integration: what nova-compute does with the negotiation.

Switched on by one line in nova.conf::

    [os_vif_pref]
    nova_integration = true

and nothing else.  nova-compute calls ``os_vif.initialize()`` at start
(``nova/cmd/compute.py``), which loads this package's os-vif plugins; their
``load()`` asks :mod:`os_vif_pref.nova_switch` (which imports this module
only inside nova-compute with the option set) to call
:func:`on_plugins_loaded`, which switches the integration on once per
process, only on a Nova it was verified against
(:mod:`os_vif_pref.nova.hooks` checks the version and the shape of every
function it hooks, and refuses with one log line otherwise).  The host's
preference list is computed there, at start-up, and refreshed in the
background; no probe ever runs in the path of a binding.

The hook functions below are what Nova calls: the runtime hooks of
:mod:`os_vif_pref.nova.hooks` for an unmodified Nova, and the upstreamable
patch in ``contrib/nova`` (which holds no logic of its own).  They never
raise except where named, and when the integration is off they change
nothing: Nova behaves exactly as stock.

``add_offer(profile, instance, vnic_type, host) -> dict``
    The ``binding:profile`` to send when binding a port of ``instance`` to
    ``host``: ``profile`` (not modified) plus this host's offer for that
    instance and vnic_type, within the byte budget left by Nova's own keys.
    For a host this process does not serve (a live-migration destination
    seen from elsewhere) an offer naming another host is removed instead:
    one host's offer never reaches another host's binding.
``remove_offer(profile) -> dict``
    ``profile`` without the offer (unbinding).
``check_bound_port(port, instance=None) -> None``
    Called on a port Neutron returned bound as ``binding_failed``: raises
    :class:`~os_vif_pref.nova.faults.OfferNotServed` (a
    ``PortBindingFailed``) naming the offer when one was sent.
``checked_vif(vif, instance) -> os_vif VIF | None``
    The libvirt VIF driver's check-and-convert, before anything is plugged:
    ``None`` means "do what stock Nova does" (no offer stored, anything
    unreadable: logged; or a binding outside another host's offer: that
    host enforces its own, this may be a copy); an os-vif object means
    "inside the offer: configure and plug this one" (converted from the
    catalogue, naming the plugin the catalogue chose); a binding outside the
    offer raises :class:`~os_vif_pref.nova.faults.OfferRefused` (a
    ``PortBindingFailed``), recorded as an instance action event so its
    reason survives rescheduling.
``destination_profiles(migrate_data, instance, host) -> None``
    On a live-migration destination, after Nova's pre-migration check:
    every ``migrate_data.vifs[].profile`` carries the destination's offer
    (and never the source's), so the conductor's ``bind_ports_to_host``
    binds the destination with it.

Control: :func:`switch_on` / :func:`switch_off` / :func:`enabled`,
:func:`warm` (compute a host's preference list).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import dataclasses
import logging
import threading
from typing import Any

from oslo_config import cfg

from os_vif_pref import exceptions, nova_switch, preference
from os_vif_pref import offer as offer_mod

LOG = logging.getLogger(__name__)

integration_opts = [
    # Declared where our plugins' load reads it without importing this.
    nova_switch.nova_integration_opt,
    cfg.IntOpt(
        "nova_offer_refresh_interval", default=60, min=0,
        help="Seconds between background recomputations of the host's "
             "preference list (probes) by the Nova integration; 0 computes "
             "it once, at nova-compute start. Bindings always use the last "
             "computed list and never wait for a probe."),
]

CONF = cfg.CONF
CONF.register_opts(integration_opts, group="os_vif_pref")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("os_vif_pref", integration_opts)]


#: Neutron's limit on the stored binding:profile (ml2/models.py
#: BINDING_PROFILE_LEN): the offer must fit next to Nova's own keys.
BINDING_PROFILE_LEN = 4095
#: The instance action event a refusal is recorded under (":<host>" added).
EVENT = "os_vif_pref_check_binding"


# --------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------

class _State:
    """What one nova-compute process knows; swapped whole, never mutated
    under a reader (a binding reads ``plists`` without a lock)."""

    def __init__(self) -> None:
        self.enabled = False
        self.tried = False  # on_plugins_loaded acted once
        self.plists: dict[str, preference.PreferenceList] = {}
        self.offers: dict[Any, dict[str, Any] | None] = {}
        self.prober_for: Callable[[str], Any] | None = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None


_state = _State()


def enabled() -> bool:
    return _state.enabled


def served_hosts() -> frozenset[str]:
    """Hosts this process computed a preference list for."""
    return frozenset(_state.plists)


#: What Nova 34 itself cannot take, whatever the catalogue says: never
#: offered from inside it (the offer would be accepted and then fail).
NOVA_REFUSES_VIF_TYPES = {
    "bridge": "Nova 34 refuses binding:vif_type=bridge when it builds the "
              "network model (API._nw_info_build_network: Linux bridge "
              "support was removed from Nova)",
}


def nova_view(plist: preference.PreferenceList,
              ) -> preference.PreferenceList:
    """The list minus what this Nova cannot bind, marked unusable with the
    reason (what its virt driver cannot configure is already out: the
    ``virt_vif:`` probe)."""
    ranked = []
    for r in plist.ranked:
        why = []
        if r.entry.vif_type in NOVA_REFUSES_VIF_TYPES:
            why.append(NOVA_REFUSES_VIF_TYPES[r.entry.vif_type])
        if why and r.usable:
            r = dataclasses.replace(r, usable=False,
                                    reasons=r.reasons + tuple(why))
        ranked.append(r)
    return dataclasses.replace(plist, ranked=tuple(ranked))


def _default_prober(host: str) -> Any:
    from os_vif_pref import probes
    return probes.default_prober()


def warm(host: str, prober: Any = None) -> preference.PreferenceList | None:
    """Compute ``host``'s preference list now (start-up, refresher).

    Never raises: a broken catalogue or a failing probe leaves the host
    without a list, so its bindings are exactly stock, and says why.
    """
    if prober is None:
        factory = _state.prober_for or _default_prober
        prober = factory(host)
    try:
        plist = nova_view(preference.compute(prober=prober, strict=False))
    except Exception as exc:
        LOG.error("os-vif-pref: cannot compute the preference list of host "
                  "%s, its bindings stay stock Nova's: %s", host, exc)
        return None
    usable = [e.name for e in plist.usable]
    with _state.lock:
        old = _state.plists.get(host)
        plists = dict(_state.plists)
        plists[host] = plist
        _state.plists = plists
        _state.offers = {}
    changed = old is None or [e.name for e in old.usable] != usable
    # Said at start and when it changes, not at every refresh.
    LOG.log(logging.INFO if changed else logging.DEBUG,
            "os-vif-pref: host %s offers %s", host,
            ", ".join(usable) or "nothing")
    if changed:
        for r in plist:
            if not r.usable:
                LOG.debug("os-vif-pref: host %s does not offer %s: %s",
                          host, r.name, "; ".join(r.reasons))
    return plist


def _refresh_loop(state: _State, interval: float) -> None:
    """Recompute every served host's list until ``state`` is switched off
    (a list computed as it is switched off is dropped with it)."""
    while not state.stop.wait(interval):
        for host in list(state.plists):
            if state is not _state or state.stop.is_set():
                return
            warm(host)


def switch_on(hosts: Iterable[str] | None = None, *,
              prober_for: Callable[[str], Any] | None = None,
              refresh_interval: float | None = None,
              install: bool = True) -> bool:
    """Verify Nova, install the runtime hooks, warm the preference lists.

    ``hosts`` default: ``[CONF.host]`` (Nova's option).  ``install=False``
    leaves Nova's functions alone, for a Nova carrying the contrib patch
    (detected by itself: ``nova.network.binding_preference.CARRIES_HOOKS``).
    Returns whether the integration is on.  Never raises.
    """
    from os_vif_pref.nova import hooks

    if _state.enabled:
        return True
    try:
        if install and hooks.nova_carries_hooks():
            LOG.info("os-vif-pref: this Nova carries the integration's "
                     "hooks (contrib/nova patch): nothing patched at run "
                     "time")
            install = False
        if install:
            problem = hooks.verify()
            if problem:
                LOG.error("os-vif-pref: Nova integration NOT switched on "
                          "(Nova behaves as stock): %s", problem)
                return False
        if prober_for is not None:
            _state.prober_for = prober_for
        if hosts is None:
            hosts = [getattr(CONF, "host", None) or _hostname()]
        for host in hosts:
            warm(host)
        if install:
            hooks.install()
        _state.enabled = True
    except Exception as exc:  # never stop nova-compute
        LOG.exception("os-vif-pref: Nova integration NOT switched on "
                      "(Nova behaves as stock): %s", exc)
        return False
    interval = (CONF.os_vif_pref.nova_offer_refresh_interval
                if refresh_interval is None else refresh_interval)
    if interval and _state.thread is None:
        _state.stop.clear()
        _state.thread = threading.Thread(
            target=_refresh_loop, args=(_state, float(interval)),
            name="os-vif-pref-refresh", daemon=True)
        _state.thread.start()
    LOG.info("os-vif-pref: Nova integration switched on for host(s) %s",
             ", ".join(_state.plists) or "none")
    return True


def switch_off() -> None:
    """Undo :func:`switch_on` (tests; a process never needs it)."""
    global _state
    from os_vif_pref.nova import hooks

    hooks.uninstall()
    _state.stop.set()
    if _state.thread is not None:
        _state.thread.join(timeout=5)
    tried = _state.tried
    _state = _State()
    _state.tried = tried


def _hostname() -> str:
    import socket
    return socket.gethostname()


inside_nova_compute = nova_switch.inside_nova_compute


def on_plugins_loaded() -> None:
    """Switch on if :func:`os_vif_pref.nova_switch.wanted`: acts once.

    Our plugins' ``load()`` reaches this through
    :func:`os_vif_pref.nova_switch.on_plugins_loaded`, which imports this
    module only inside nova-compute with the option set.
    """
    if _state.tried:
        return
    _state.tried = True
    if nova_switch.wanted():
        switch_on()


# --------------------------------------------------------------------------
# Offers
# --------------------------------------------------------------------------

def instance_info(instance: Any, vnic_type: str | None,
                  ) -> preference.InstanceInfo:
    """What the catalogue's instance rules look at, read from Nova's
    instance: flavor extra specs win over image properties, as in Nova."""
    specs = dict(instance.flavor.extra_specs or {})
    props: dict[str, Any] = {}
    meta = instance.image_meta
    if "properties" in meta:
        for key in ("hw_mem_page_size", "hw_vif_model"):
            if key in meta.properties:
                props[key] = meta.properties.get(key)
    return preference.InstanceInfo.from_dict({
        "extra_specs": specs, "image_properties": props,
        "vnic_type": vnic_type or None})


def _encode(plist: preference.PreferenceList, host: str,
            room: int) -> dict[str, Any] | None:
    """The value under :data:`offer.KEY`, within ``room`` bytes and
    ``[os_vif_pref] offer_budget_bytes``; ``None``: not even one fits."""
    budget = min(CONF.os_vif_pref.offer_budget_bytes, room)
    try:
        return plist.profile(host=host, budget=budget)[offer_mod.KEY]
    except exceptions.OfferTooLarge as exc:
        LOG.warning("os-vif-pref: %s; port bound as stock Nova would", exc)
        return None


def _room(profile: Mapping[str, Any]) -> int:
    """Bytes Neutron's limit leaves for ``{KEY: offer}`` next to Nova's
    keys (json.dumps is additive, plus the ", " joining them)."""
    rest = {k: v for k, v in profile.items() if k != offer_mod.KEY}
    return BINDING_PROFILE_LEN - offer_mod.stored_size(rest) - 2


def _offer_for(host: str, instance: Any, vnic_type: str | None,
               budget: int) -> dict[str, Any] | None:
    plist = _state.plists.get(host)
    if plist is None:
        return None
    info = instance_info(instance, vnic_type)
    key = (host, info, budget)
    offers = _state.offers
    if key in offers:
        return offers[key]
    value = _encode(plist.for_instance(info), host, budget)
    if len(offers) < 256:
        offers[key] = value
    return value


def _names_host(value: Any, host: str) -> bool:
    """Whether an offer value was computed for ``host``."""
    try:
        the_offer = offer_mod.decode({offer_mod.KEY: value})
    except exceptions.MalformedOffer:
        return False
    return the_offer is not None and the_offer.for_host(host)


def add_offer(profile: Mapping[str, Any] | None, instance: Any,
              vnic_type: str | None, host: str | None) -> dict[str, Any]:
    """``profile`` plus this host's offer (see module doc). Never raises."""
    out = dict(profile or {})
    if not _state.enabled:
        return out
    try:
        old = out.pop(offer_mod.KEY, None)
        if host is None:
            return out
        if host not in _state.plists:
            if old is not None and _names_host(old, host):
                out[offer_mod.KEY] = old  # that host's own offer: keep
            LOG.debug("os-vif-pref: host %s is not served here; no "
                      "offer added for it", host)
            return out
        value = _offer_for(host, instance, vnic_type, _room(out))
        if value is not None:
            out[offer_mod.KEY] = value
        return out
    except Exception as exc:
        LOG.warning("os-vif-pref: no offer for instance %s on %s (port "
                    "bound as stock Nova would): %s",
                    getattr(instance, "uuid", "?"), host, exc)
        return {k: v for k, v in (profile or {}).items()
                if k != offer_mod.KEY}


def remove_offer(profile: Mapping[str, Any] | None) -> dict[str, Any]:
    """``profile`` without the offer (unbinding). Never raises."""
    out = dict(profile or {})
    if _state.enabled:
        out.pop(offer_mod.KEY, None)
    return out


def destination_profiles(migrate_data: Any, instance: Any,
                         host: str) -> None:
    """Put the destination's offer in ``migrate_data.vifs[].profile``."""
    if not _state.enabled or "vifs" not in migrate_data:
        return
    for mig_vif in migrate_data.vifs:
        try:
            source = mig_vif.source_vif
            if "profile_json" in mig_vif:
                base = mig_vif.profile
            else:
                # The conductor would copy the source's profile: the same,
                # minus the source's offer.
                base = dict(source.get("profile") or {})
            new = add_offer(base, instance, source.get("vnic_type"), host)
            if new != base or "profile_json" not in mig_vif:
                mig_vif.profile = new
        except Exception as exc:
            LOG.warning("os-vif-pref: port %s: no destination offer for "
                        "the live migration (stock binding): %s",
                        getattr(mig_vif, "port_id", "?"), exc)


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

def _stored_offer(profile: Any, port_id: Any) -> offer_mod.Offer | None:
    """The offer stored on a port (``None``: none, or unreadable)."""
    if not isinstance(profile, Mapping) or offer_mod.KEY not in profile:
        return None
    try:
        return offer_mod.decode(profile)
    except Exception as exc:
        LOG.warning("os-vif-pref: port %s: unreadable offer in "
                    "binding:profile, handled as stock Nova: %s", port_id,
                    exc)
        return None


def _ours(the_offer: offer_mod.Offer) -> bool:
    """Whether this process computed the offer (so it enforces it)."""
    return the_offer.host in _state.plists


def _record(instance: Any, exc: Exception) -> None:
    """Record the refusal as an instance action event: after a reschedule
    the final fault may only say "Exceeded maximum number of retries"."""
    try:
        from nova.compute import utils as compute_utils

        ctx = getattr(instance, "_context", None)
        if ctx is None:
            return
        host = getattr(instance, "host", None) or getattr(CONF, "host", "")
        try:
            # One event per host: Nova finishes the first event of a name.
            with compute_utils.EventReporter(ctx, f"{EVENT}:{host}", host,
                                             instance.uuid,
                                             graceful_exit=True):
                raise exc
        except type(exc):
            pass
    except Exception as err:  # the event is a courtesy, the fault is not
        LOG.debug("os-vif-pref: could not record event %s: %s", EVENT, err)


def check_bound_port(port: Mapping[str, Any], instance: Any = None) -> None:
    """Raise :class:`OfferNotServed` for ``binding_failed`` after an offer."""
    if not _state.enabled:
        return
    if port.get("binding:vif_type") != "binding_failed":
        return
    the_offer = _stored_offer(port.get("binding:profile"), port.get("id"))
    if the_offer is None or not _ours(the_offer):
        return
    from os_vif_pref.nova import convert, faults

    exc = faults.OfferNotServed(
        port_id=port.get("id"),
        host=the_offer.host or port.get("binding:host_id"),
        offered=", ".join(the_offer.names()) or "nothing")
    LOG.error("os-vif-pref: %s (offered in full: %s)", exc,
              convert._describe_offer(the_offer))
    if instance is not None:
        _record(instance, exc)
    raise exc


def _convert(vif: Mapping[str, Any], the_offer: offer_mod.Offer) -> Any:
    """The catalogue's object for a binding inside the offer.

    The drop-in keeps Nova's contract (``None`` for what Nova plugs on its
    legacy path, e.g. ``tap``); inside an offer the catalogue decides, so
    such a binding is converted by :func:`to_os_vif` and plugged by the
    catalogue's plugin too.
    """
    from os_vif_pref import nova as nova_pkg

    obj = nova_pkg.nova_to_osvif_vif(vif)
    if obj is None:
        obj = nova_pkg.to_os_vif(vif, offer=the_offer)
    return obj


def checked_vif(vif: Mapping[str, Any], instance: Any,
                record: bool = True) -> Any:
    """Check-and-convert for the libvirt VIF driver (see module doc).

    ``record=False`` (unplug) raises without recording an event.
    """
    if not _state.enabled:
        return None
    port_id = vif.get("id") if isinstance(vif, Mapping) else None
    try:
        the_offer = _stored_offer(vif.get("profile"), port_id)
    except Exception as exc:
        LOG.warning("os-vif-pref: port %s: %s; handled as stock Nova",
                    port_id, exc)
        return None
    if the_offer is None:
        return None
    from os_vif_pref.nova import convert, faults

    ours = _ours(the_offer)
    try:
        convert.check_binding(dict(vif), the_offer)
    except convert.BindingNotAcceptable as exc:
        if not ours:
            # Another host's offer: this one's to enforce, not ours (it
            # may be a source's offer a stock conductor copied).
            LOG.info("os-vif-pref: port %s carries the offer of host %s "
                     "and is bound outside it: handled as stock Nova",
                     port_id, the_offer.host)
            return None
        # Nova keeps 255 characters of a fault: names first, the full
        # description (details of both sides) goes to the log.
        offered = ", ".join(the_offer.names()) or "nothing"
        if vif.get("type") in convert.NOT_BOUND:
            err: Exception = faults.OfferNotServed(
                port_id=port_id, host=the_offer.host
                or getattr(instance, "host", None), offered=offered)
        else:
            vnic = vif.get("vnic_type") or "normal"
            returned = exceptions.excerpt(vif.get("type"), quote=False) + (
                "" if vnic == "normal"
                else f" (vnic_type {exceptions.excerpt(vnic, quote=False)})")
            err = faults.OfferRefused(port_id=port_id, returned=returned,
                                      offered=offered)
        if record:
            LOG.error("os-vif-pref: %s", exc)
            _record(instance, err)
        raise err from None
    except Exception as exc:
        LOG.warning("os-vif-pref: port %s: cannot check the binding against "
                    "the offer (%s); handled as stock Nova", port_id, exc)
        return None
    try:
        return _convert(vif, the_offer)
    except Exception as exc:
        LOG.warning("os-vif-pref: port %s: the catalogue cannot convert "
                    "the binding (%s); handled as stock Nova", port_id, exc)
        return None
