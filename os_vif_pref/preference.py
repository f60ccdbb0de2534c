"""The host's ordered preference list: which bindings, in which order, why.

Input: the catalogue (every binding this host might accept), the probes
(what the host actually has) and the operator's configuration.  Output: every
entry, in order, marked usable or not with the reasons, from which come

* the offer sent to Neutron in ``binding:profile`` (:mod:`os_vif_pref.offer`),
  made of the usable entries only, most preferred first;
* an os-vif ``HostInfo`` whose plugins and VIF infos are in that same order
  (upstream ``os_vif.host_info()`` sorts plugins by name and so cannot say
  which binding the host prefers).

How the order is computed:

1. entries named in ``[os_vif_pref] preference_order`` come first, in that
   order; the others follow by catalogue ``preference`` (highest first),
   ties broken by name, so the order never depends on file or dict order;
2. an entry is unusable when it is disabled (in the catalogue or by
   ``[os_vif_pref] disabled``), deprecated and not kept by
   ``[os_vif_pref] keep_deprecated``, its os-vif plugin is missing or does
   not describe what the entry needs (name, object, versions, port
   profile: upstream has shipped plugins whose ``describe()`` did not match
   their entry-point name), or one of its ``requires`` fails to probe;
3. for one instance (:meth:`PreferenceList.for_instance`) the catalogue's
   instance rules also apply: hugepages required or forbidden, excluded
   vif models, and the vnic_type the port asks for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
import logging
import socket
from typing import Any, Protocol

from oslo_config import cfg

from os_vif_pref import catalogue, exceptions, offer, probes

LOG = logging.getLogger(__name__)

preference_opts = [
    cfg.ListOpt(
        "preference_order", default=[],
        help="Catalogue entries to prefer, most preferred first; they come "
             "before every other entry, which keep the catalogue's order. "
             "Example: ovs,linux-bridge."),
    cfg.ListOpt(
        "disabled", default=[],
        help="Catalogue entries this host never offers (listed as unusable "
             "by 'os-vif-pref preferences' with this option as reason)."),
    cfg.ListOpt(
        "keep_deprecated", default=[],
        help="Deprecated catalogue entries to keep offering; each one logs "
             "a warning naming its replacement. Deprecated entries not "
             "listed here are not offered."),
]

CONF = cfg.CONF
CONF.register_opts(preference_opts, group="os_vif_pref")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("os_vif_pref", preference_opts)]


def default_host(conf: cfg.ConfigOpts = CONF) -> str:
    """The name an offer is computed for: Nova's ``[DEFAULT] host`` when
    running inside Nova (what Neutron sees as ``binding:host_id``), else
    the machine's host name, as Nova's option defaults to."""
    try:
        host = conf.host
    except cfg.NoSuchOptError:
        host = None
    return host or socket.gethostname()


class _Prober(Protocol):
    def probe(self, capabilities: Iterable[str],
              ) -> Mapping[str, probes.ProbeResult]: ...


@dataclasses.dataclass(frozen=True)
class Ranked:
    """One catalogue entry's place on this host."""

    position: int
    #: The entry; when usable, its versions are narrowed to what the plugin
    #: describes, so the offer never claims more than the plugin can plug.
    entry: catalogue.Entry
    usable: bool
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.entry.name

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        out: dict[str, Any] = {
            "position": self.position, "name": e.name,
            "usable": self.usable, "reasons": list(self.reasons),
            "warnings": list(self.warnings), "preference": e.preference,
            "vif_type": e.vif_type, "vnic_types": list(e.vnic_types),
            "os_vif_object": e.vif_object,
            "os_vif_versions": [e.vif_versions.min, e.vif_versions.max],
            "plugin": e.plugin, "requires": list(e.requires),
        }
        if e.port_profile is not None:
            out["port_profile"] = [e.port_profile.object,
                                   e.port_profile.versions.min,
                                   e.port_profile.versions.max]
        return out


# --------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------

_NO_HUGEPAGES = {"", "small", "4", "4k", "4kb", "4kib", "4096"}


@dataclasses.dataclass(frozen=True)
class InstanceInfo:
    """What the catalogue's instance rules look at, from Nova's data."""

    hugepages: bool = False
    vif_model: str | None = None
    vnic_type: str | None = None
    mem_page_size: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceInfo:
        """Read a flat or Nova-shaped description of an instance.

        Flat: ``{"mem_page_size": "large", "vif_model": "virtio",
        "vnic_type": "normal"}`` (or ``"hugepages": true``).  Nova-shaped:
        ``{"flavor": {"extra_specs": {"hw:mem_page_size": ...}},
        "image": {"properties": {"hw_mem_page_size": ...,
        "hw_vif_model": ...}}, "port": {"binding:vnic_type": ...}}``.
        Flavor extra specs win over image properties, as in Nova.
        """
        if not isinstance(data, Mapping):
            raise exceptions.InvalidArgument(
                name="instance", value=type(data).__name__,
                reason="expected a JSON/YAML object")
        flavor = data.get("flavor") or {}
        specs = dict(flavor.get("extra_specs") or {})
        specs.update(data.get("extra_specs") or {})
        image = data.get("image") or {}
        props = dict(image.get("properties") or {})
        props.update(data.get("image_properties") or {})
        port = data.get("port") or {}
        page = (data.get("mem_page_size") or specs.get("hw:mem_page_size")
                or props.get("hw_mem_page_size"))
        page = None if page is None else str(page)
        hugepages = data.get("hugepages")
        if hugepages is None:
            hugepages = page is not None and (
                page.strip().lower() not in _NO_HUGEPAGES)
        vif_model = (data.get("vif_model") or specs.get("hw:vif_model")
                     or props.get("hw_vif_model"))
        vnic_type = (data.get("vnic_type") or port.get("binding:vnic_type")
                     or port.get("vnic_type"))
        for name, value in (("vif_model", vif_model),
                            ("vnic_type", vnic_type)):
            if value is not None and not isinstance(value, str):
                raise exceptions.InvalidArgument(
                    name=f"instance {name}", value=value,
                    reason="expected a string")
        if vnic_type is not None and vnic_type not in catalogue.VNIC_TYPES:
            raise exceptions.InvalidArgument(
                name="instance vnic_type", value=vnic_type,
                reason="not one of Neutron's: " + ", ".join(
                    sorted(catalogue.VNIC_TYPES)))
        return cls(hugepages=bool(hugepages), vif_model=vif_model,
                   vnic_type=vnic_type, mem_page_size=page)

    def reasons(self, entry: catalogue.Entry) -> list[str]:
        """Why this instance cannot use ``entry`` (empty: it can)."""
        out = []
        if self.vnic_type and self.vnic_type not in entry.vnic_types:
            out.append("the port asks for vnic_type "
                       f"{exceptions.excerpt(self.vnic_type)}; "
                       f"this binding serves {', '.join(entry.vnic_types)}")
        rules = entry.instance_rules
        hp = rules.get("hugepages")
        if hp == "required" and not self.hugepages:
            out.append("needs guest memory on hugepages (hw:mem_page_size);"
                       " the instance has " + (
                           f"hw:mem_page_size={self.mem_page_size}"
                           if self.mem_page_size else "none"))
        elif hp == "forbidden" and self.hugepages:
            out.append("cannot be used with hugepages (hw:mem_page_size="
                       f"{self.mem_page_size})")
        models = rules.get("exclude_vif_models") or ()
        if self.vif_model and self.vif_model in models:
            out.append("not available for vif model "
                       f"{exceptions.excerpt(self.vif_model)} "
                       "(hw_vif_model)")
        return out


# --------------------------------------------------------------------------
# The list
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PreferenceList:
    """Every catalogue entry on this host, in order, usable or not."""

    ranked: tuple[Ranked, ...]
    probes: Mapping[str, probes.ProbeResult]
    catalogue_errors: tuple[str, ...] = ()
    instance: InstanceInfo | None = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.ranked)

    def __len__(self) -> int:
        return len(self.ranked)

    @property
    def usable(self) -> tuple[catalogue.Entry, ...]:
        """The entries offered, most preferred first."""
        return tuple(r.entry for r in self.ranked if r.usable)

    def get(self, name: str) -> Ranked:
        for r in self.ranked:
            if r.name == name:
                return r
        raise exceptions.CatalogueEntryNotFound(
            name=name, known=", ".join(r.name for r in self.ranked))

    def offer(self, host: str | None = None,
              conf: cfg.ConfigOpts = CONF) -> offer.Offer:
        """The usable entries as an offer for ``host`` (default: this one,
        see :func:`default_host`), every one of them: the byte budget is
        applied where the offer is encoded (:meth:`profile`,
        :func:`offer.encode`), the one place that knows the wire size."""
        return offer.from_entries(self.usable,
                                  host=host or default_host(conf))

    def profile(self, host: str | None = None, budget: int | None = None,
                conf: cfg.ConfigOpts = CONF) -> dict[str, Any]:
        """The ``binding:profile`` fragment Nova sends to Neutron, within
        ``budget`` (default ``[os_vif_pref] offer_budget_bytes``): the least
        preferred entries are left out, with a warning, to fit."""
        return {offer.KEY: offer.encode(self.offer(host, conf),
                                        budget=budget, conf=conf)}

    def permitted_vif_types(self) -> list[str]:
        """os-vif object names of the usable entries, preferred first.

        What upstream's ``HostInfo.filter_vif_types()`` /
        ``os_vif.host_info(permitted_vif_type_names)`` expect, for callers
        that keep using upstream's HostInfo.
        """
        return list(dict.fromkeys(e.vif_object for e in self.usable))

    def host_info(self) -> Any:
        """An os-vif ``HostInfo`` in preference order.

        Plugins are ordered by their most preferred usable entry, and each
        plugin's VIF infos (and their port profiles) likewise; version
        ranges are the union over the usable entries, already narrowed to
        what the plugin describes.
        """
        from os_vif.objects import host_info as hi

        plugins: dict[str, dict[str, list[Any]]] = {}
        for e in self.usable:
            vifs = plugins.setdefault(e.plugin, {})
            slot = vifs.get(e.vif_object)
            if slot is None:
                vifs[e.vif_object] = [e.vif_versions, {}]
            else:
                slot[0] = _union(slot[0], e.vif_versions)
            if e.port_profile is not None:
                pps = vifs[e.vif_object][1]
                old = pps.get(e.port_profile.object)
                pps[e.port_profile.object] = (
                    e.port_profile.versions if old is None
                    else _union(old, e.port_profile.versions))
        return hi.HostInfo(plugin_info=[
            hi.HostPluginInfo(plugin_name=plugin, vif_info=[
                hi.HostVIFInfo(
                    vif_object_name=obj, min_version=rng.min,
                    max_version=rng.max,
                    supported_port_profiles=[
                        hi.HostPortProfileInfo(
                            profile_object_name=pname,
                            min_version=prng.min, max_version=prng.max)
                        for pname, prng in pps.items()])
                for obj, (rng, pps) in vifs.items()])
            for plugin, vifs in plugins.items()])

    def for_instance(self, instance: InstanceInfo | Mapping[str, Any],
                     ) -> PreferenceList:
        """The list for one instance: the host's, minus what the instance
        rules out (hugepages, vif model, vnic_type)."""
        if not isinstance(instance, InstanceInfo):
            instance = InstanceInfo.from_dict(instance)
        ranked = []
        for r in self.ranked:
            extra = instance.reasons(r.entry)
            if extra:
                r = dataclasses.replace(r, usable=False,
                                        reasons=r.reasons + tuple(extra))
            ranked.append(r)
        return dataclasses.replace(self, ranked=tuple(ranked),
                                   instance=instance)


def _union(a: catalogue.VersionRange,
           b: catalogue.VersionRange) -> catalogue.VersionRange:
    vt = catalogue.version_tuple
    return catalogue.VersionRange(min(a.min, b.min, key=vt),
                                  max(a.max, b.max, key=vt))


def _range_of(obj: Any) -> catalogue.VersionRange:
    return catalogue.VersionRange(obj.min_version, obj.max_version)


@dataclasses.dataclass
class _PluginView:
    """A plugin's describe(), indexed once for the per-entry checks."""

    error: str | None
    vifs: dict[str, tuple[catalogue.VersionRange,
                          dict[str, catalogue.VersionRange]]]

    @classmethod
    def of(cls, name: str, result: probes.ProbeResult | None) -> _PluginView:
        if result is None or not result.ok:
            return cls(result.reason if result else
                       f"os-vif plugin {name!r} was not probed", {})
        info = result.value
        described = getattr(info, "plugin_name", None)
        if described != name:
            return cls(f"os-vif plugin {name!r} describes itself as "
                       f"{described!r}; os-vif and Nova would not match "
                       "them", {})
        vifs = {}
        try:
            for vi in info.vif_info:
                pps = {}
                if "supported_port_profiles" in vi:
                    pps = {p.profile_object_name: _range_of(p)
                           for p in vi.supported_port_profiles}
                vifs[vi.vif_object_name] = (_range_of(vi), pps)
        except (AttributeError, ValueError, NotImplementedError) as exc:
            return cls(f"os-vif plugin {name!r}: unreadable describe(): "
                       f"{exc}", {})
        return cls(None, vifs)

    def check(self, plugin: str, entry: catalogue.Entry) -> _Check:
        """The entry's versions narrowed to the plugin's, or why not."""
        if self.error:
            return None, None, self.error
        have = self.vifs.get(entry.vif_object)
        if have is None:
            return None, None, (
                f"os-vif plugin {plugin!r} does not describe "
                f"{entry.vif_object} (it describes: "
                f"{', '.join(self.vifs) or 'nothing'})")
        rng = entry.vif_versions.intersect(have[0])
        if rng is None:
            return None, None, (
                f"os-vif plugin {plugin!r} describes {entry.vif_object} "
                f"{have[0].min}..{have[0].max}; the entry needs "
                f"{entry.vif_versions.min}..{entry.vif_versions.max}")
        pp = entry.port_profile
        if pp is None:
            return rng, None, None
        prng = have[1].get(pp.object)
        if prng is None:
            return None, None, (
                f"os-vif plugin {plugin!r} does not describe port profile "
                f"{pp.object} for {entry.vif_object}")
        narrowed = pp.versions.intersect(prng)
        if narrowed is None:
            return None, None, (
                f"os-vif plugin {plugin!r} describes {pp.object} "
                f"{prng.min}..{prng.max}; the entry needs "
                f"{pp.versions.min}..{pp.versions.max}")
        return rng, narrowed, None


#: (VIF versions, port profile versions, reason): versions when usable.
_Check = tuple[Any, Any, Any]


def _narrow(e: catalogue.Entry, rng: catalogue.VersionRange,
            prng: catalogue.VersionRange | None) -> catalogue.Entry:
    pp = e.port_profile
    if rng == e.vif_versions and (pp is None or prng == pp.versions):
        return e
    return dataclasses.replace(
        e, vif_versions=rng,
        port_profile=None if pp is None else dataclasses.replace(
            pp, versions=prng))


def _order(entries: Iterable[catalogue.Entry],
           first: list[str]) -> list[catalogue.Entry]:
    rank = {name: i for i, name in enumerate(first)}
    n = len(rank)
    return sorted(entries, key=lambda e: (rank.get(e.name, n),
                                          -e.preference, e.name))


def check_config(cat: catalogue.Catalogue,
                 conf: cfg.ConfigOpts = CONF) -> None:
    """Raise :class:`UnknownConfiguredEntry` naming unknown entries."""
    opts = conf.os_vif_pref
    for option in ("preference_order", "disabled", "keep_deprecated"):
        unknown = [n for n in getattr(opts, option) if n not in cat]
        if unknown:
            raise exceptions.UnknownConfiguredEntry(
                option=option, names=", ".join(unknown),
                known=", ".join(sorted(e.name for e in
                                       cat.entries + cat.disabled)))


def compute(cat: catalogue.Catalogue | None = None,
            prober: _Prober | None = None, *,
            conf: cfg.ConfigOpts = CONF,
            instance: InstanceInfo | Mapping[str, Any] | None = None,
            strict: bool = True) -> PreferenceList:
    """The preference list of this host (or of one instance on it).

    ``strict`` raises :class:`UnknownConfiguredEntry` when the options name
    entries the catalogue lacks; otherwise those names are only logged.
    """
    if cat is None:
        cat = catalogue.get_catalogue()
    if prober is None:
        prober = probes.default_prober()
    try:
        check_config(cat, conf)
    except exceptions.UnknownConfiguredEntry as exc:
        if strict:
            raise
        LOG.warning("%s", exc)
    opts = conf.os_vif_pref
    disabled = set(opts.disabled)
    keep = set(opts.keep_deprecated)

    caps: dict[str, None] = {}
    for e in cat.entries:
        for cap in e.requires:
            caps[cap] = None
    results = dict(prober.probe(caps))
    # A plugin is loaded (imported, describe()d) only for the entries that
    # nothing else rules out: upstream's OVS plugin alone imports pyroute2,
    # oslo.privsep and eventlet, which a host without OVSDB never needs to
    # list its bindings.  The others only learn whether it is installed.
    plugins: dict[str, None] = {}
    for e in cat.entries:
        if e.name not in disabled and (not e.deprecated or e.name in keep) \
                and all(results[c].ok for c in e.requires):
            plugins["plugin:" + e.plugin] = None
    results.update(prober.probe(plugins))
    absent = getattr(prober, "plugin_absent", None)
    views: dict[str, _PluginView] = {}
    # Many entries share plugin, object and versions: check each once.
    checked: dict[Any, _Check] = {}

    ranked: list[Ranked] = []
    for e in _order(cat.entries, list(opts.preference_order)):
        reasons: list[str] = []
        warnings: list[str] = []
        if e.name in disabled:
            reasons.append("disabled by [os_vif_pref] disabled")
        if e.deprecated:
            repl = (f"use {e.replacement!r} instead" if e.replacement
                    else "no replacement")
            why = f"deprecated ({repl})" + (
                f": {e.deprecation_reason}" if e.deprecation_reason else "")
            if e.name in keep:
                warnings.append(why + "; kept by [os_vif_pref] "
                                "keep_deprecated")
            else:
                reasons.append(why + "; [os_vif_pref] keep_deprecated "
                               "would keep it")
        if "plugin:" + e.plugin not in results:
            # Not loaded: unusable anyway (see above); said if not there.
            missing = absent(e.plugin) if absent is not None else None
            if missing is not None:
                reasons.append(missing.reason)
            reasons += _missing_reasons(e.requires, results)
            ranked.append(Ranked(
                position=len(ranked) + 1, entry=e, usable=False,
                reasons=tuple(reasons), warnings=tuple(warnings)))
            continue
        view = views.get(e.plugin)
        if view is None:
            view = views[e.plugin] = _PluginView.of(
                e.plugin, results.get("plugin:" + e.plugin))
        pp = e.port_profile
        ck = (e.plugin, e.vif_object, e.vif_versions,
              None if pp is None else (pp.object, pp.versions))
        hit = checked.get(ck)
        if hit is None:
            hit = checked[ck] = view.check(e.plugin, e)
        rng, prng, why_not = hit
        if why_not:
            reasons.append(why_not)
        else:
            e = _narrow(e, rng, prng)
        reasons += _missing_reasons(e.requires, results)
        ranked.append(Ranked(
            position=len(ranked) + 1,
            entry=e,
            usable=not reasons, reasons=tuple(reasons),
            warnings=tuple(warnings)))
    for e in cat.disabled:
        ranked.append(Ranked(
            position=len(ranked) + 1, entry=e, usable=False,
            reasons=(f"enabled: false in the catalogue ({e.origin})",)))
    for r in ranked:
        if r.usable and r.warnings and r.name not in _warned:
            _warned.add(r.name)  # once per process, not per computation
            LOG.warning("Binding %s: %s", r.name, "; ".join(r.warnings))
    plist = PreferenceList(
        ranked=tuple(ranked), probes=results,
        catalogue_errors=tuple(str(err) for err in cat.errors))
    if instance is not None:
        plist = plist.for_instance(instance)
    return plist


_warned: set[str] = set()


def _missing_reasons(requires: Iterable[str],
                     results: Mapping[str, probes.ProbeResult]) -> list[str]:
    """One reason per cause: capabilities failing for the same reason (every
    OVS capability when ovsdb-server is unreachable) are named together and
    the cause is said once, not once per capability."""
    by_cause: dict[str, list[str]] = {}
    for cap in requires:
        res = results.get(cap) or probes.ProbeResult(
            cap, False, None, "the prober did not answer")
        if not res.ok:
            by_cause.setdefault(res.reason, []).append(cap)
    return [f"needs {', '.join(caps)}: {why}"
            for why, caps in by_cause.items()]


def startup_check(cat: catalogue.Catalogue | None = None,
                  prober: _Prober | None = None) -> PreferenceList:
    """Compute the list once and log what is not usable and why.

    Meant for service start (nova-compute): a plugin whose ``describe()``
    does not match its catalogue entries is reported at once, by name,
    instead of surfacing as a failed binding later.
    """
    plist = compute(cat, prober)
    for r in plist:
        if not r.usable:
            LOG.info("Binding %s is not offered: %s", r.name,
                     "; ".join(r.reasons))
    if not plist.usable:
        LOG.warning("No binding of the catalogue is usable on this host")
    return plist
