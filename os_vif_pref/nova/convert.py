"""``to_os_vif``: a bound port -> the os-vif object, for callers outside Nova.

Inside Nova the drop-in (:mod:`.dropin`) keeps Nova's exact contract; this
converter is the richer one for the CLI and tools:

* it accepts a Neutron port dict (turned into Nova's VIF dict by
  :mod:`.ports`) or a Nova VIF dict;
* with an offer, the binding must be in it (:func:`.check.check_binding`)
  and the object is built at the highest version both the offer and the
  installed os-vif accept, back-levelled with ``obj_make_compatible``;
* the object comes from the catalogue entry that accepts the binding: the
  common fields (ids, network, flags) filled exactly as Nova fills them,
  the entry's ``fields`` the rest; the result equals Nova's field by field
  (``tests/compat``), except that ``plugin`` may name this project's plugin
  where the catalogue or the operator chose it;
* every failure is one of this package's errors naming the port and what
  is wrong (where Nova raises ``KeyError`` or a bare ``NovaException``).

The names of :mod:`.check` and :mod:`.ports` are re-exported here for the
callers of the earlier single module.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

from os_vif_pref import catalogue as catalogue_mod
from os_vif_pref import exceptions, naming
from os_vif_pref.exceptions import excerpt
from os_vif_pref.nova import dropin

# Re-exported: callers of the earlier single module use these names here.
from os_vif_pref.nova.check import (  # noqa: F401
    BindingNotAcceptable,
    MigrationVerdict,
    _as_offer,
    _describe,
    _describe_offer,
    check_binding,
    migrate_check,
)
from os_vif_pref.nova.ports import (  # noqa: F401
    BRIDGE_NAME,
    NOT_BOUND,
    PORT_FILTER,
    VHOSTUSER_FP_PLUG,
    VHOSTUSER_OVS_PLUG,
    InvalidPort,
    as_vif,
    binding_of,
    is_neutron_port,
    list_opts,
    nova_opts,
    vif_from_neutron_port,
)

# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

class UnsupportedBinding(exceptions.OsVifPrefException):
    msg_fmt = ("No enabled catalogue entry converts port %(port)s bound as "
               "%(binding)s%(hint)s")
    input_kwargs = {"port": False}


class BindingDetailsMismatch(exceptions.OsVifPrefException):
    msg_fmt = ("Port %(port)s bound as %(binding)s does not fit catalogue "
               "entry %(entry)r: %(reason)s")
    input_kwargs = {"port": False}


class MissingBindingValue(exceptions.OsVifPrefException):
    msg_fmt = ("Port %(port)s cannot become %(object)s for entry %(entry)r: "
               "%(field)s needs %(source)s, which is not set")
    input_kwargs = {"port": False}


class InvalidBindingValue(exceptions.OsVifPrefException):
    msg_fmt = ("Port %(port)s cannot become %(object)s for entry %(entry)r: "
               "%(field)s = %(value)s is invalid: %(reason)s")
    input_kwargs = {"port": False, "value": True}


class NoCommonVersion(exceptions.OsVifPrefException):
    msg_fmt = ("No version of %(object)s both sides accept: the offer says "
               "%(offered)s, entry %(entry)r says %(catalogue)s and the "
               "installed os-vif builds up to %(installed)s")


# --------------------------------------------------------------------------
# The common part: what Nova fills for every VIF
# --------------------------------------------------------------------------

def network_to_os_vif(network: Mapping[str, Any], port_id: str) -> Any:
    """Nova's ``_nova_to_osvif_network`` (the drop-in's), with our errors."""
    if not isinstance(network, Mapping):
        raise InvalidPort(reason=f"port {excerpt(port_id, quote=False)} "
                                 "has no network")
    try:
        return dropin.nova_to_osvif_network(network)
    except dropin.nova_exceptions()[0]:
        # Nova's "Missing vlan number": the only error it raises here.
        raise InvalidPort(reason=(
            f"network {excerpt(network.get('id'), quote=False)} of port "
            f"{excerpt(port_id, quote=False)} asks for a VLAN but has no "
            "vlan number")) from None


# --------------------------------------------------------------------------
# Catalogue-driven fields
# --------------------------------------------------------------------------

_UNSET = object()


@dataclasses.dataclass
class _Ctx:
    vif: Mapping[str, Any]
    details: Mapping[str, Any]
    network: Any
    entry: catalogue_mod.Entry
    obj_name: str

    def fail_missing(self, field: str, source: str) -> MissingBindingValue:
        return MissingBindingValue(port=self.vif.get("id"),
                                   object=self.obj_name,
                                   entry=self.entry.name, field=field,
                                   source=source)


def _source_value(spec: Mapping[str, Any], field: str, ctx: _Ctx) -> Any:
    """The value a source spec yields for this port, or ``_UNSET``."""
    value: Any = _UNSET
    what = ""
    if "port" in spec:
        keys = spec["port"]
        if isinstance(keys, str):
            v = ctx.vif.get(keys)
            value = _UNSET if v is None else v
        else:
            # Several keys: the first that is set, as Nova's ``a or b``.
            for key in keys:
                v = ctx.vif.get(key)
                if v is not None and v != "":
                    value = v
                    break
        what = f"port {keys}"
    elif "detail" in spec:
        v = ctx.details.get(spec["detail"])
        value = _UNSET if v is None else v
        what = f"binding:vif_details[{spec['detail']!r}]"
    elif "profile" in spec:
        prof = ctx.vif.get("profile") or {}
        v = prof.get(spec["profile"]) if isinstance(prof, Mapping) else None
        value = _UNSET if v is None else v
        what = f"binding:profile[{spec['profile']!r}]"
    elif "network" in spec:
        attr = spec["network"]
        if ctx.network.obj_attr_is_set(attr):
            value = getattr(ctx.network, attr)
        what = f"network.{attr}"
    elif "name" in spec:
        rule = spec["name"]
        value = naming.vif_name(
            ctx.vif, rule["prefix"],
            rule.get("length", naming.NIC_NAME_LEN),
            rule.get("use_devname", True))
    elif "value" in spec:
        value = spec["value"]
    elif "object" in spec:
        value = _build(spec["object"], spec.get("fields", {}), ctx)
    if spec.get("required") and (value is _UNSET or value == ""):
        raise ctx.fail_missing(field, what)
    if value is _UNSET and "default" in spec:
        value = spec["default"]
    return value


def _build(cls_name: str, fields: Mapping[str, Any], ctx: _Ctx,
           **common: Any) -> Any:
    cls = catalogue_mod.os_vif_classes().get(cls_name)
    if cls is None:
        raise UnsupportedBinding(
            port=ctx.vif.get("id"), binding=ctx.entry.vif_type,
            hint=f": entry {ctx.entry.name!r} names os-vif object "
                 f"{cls_name!r}, which the installed os-vif lacks")
    values = dict(common)
    for field, spec in fields.items():
        value = _source_value(spec, field, ctx)
        if value is not _UNSET:
            values[field] = value
    try:
        return dropin.builder(cls_name)(values)
    except (ValueError, TypeError) as exc:
        # Name the field: oslo's message only has the value.
        for field, value in values.items():
            try:
                cls(**{field: value})
            except (ValueError, TypeError) as one:
                raise InvalidBindingValue(
                    port=ctx.vif.get("id"), object=cls_name,
                    entry=ctx.entry.name, field=field, value=value,
                    reason=excerpt(str(one), 200, quote=False)) from None
        raise InvalidBindingValue(
            port=ctx.vif.get("id"), object=cls_name, entry=ctx.entry.name,
            field="?", value=values, reason=str(exc)) from None


# --------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------

def _vt(version: str) -> tuple[int, int]:
    return catalogue_mod.version_tuple(version)


def negotiate_version(obj_name: str, installed: str,
                      ours: catalogue_mod.VersionRange,
                      offered: catalogue_mod.VersionRange | None,
                      entry: str) -> str:
    """The highest version in ``ours`` ∩ ``offered`` ∩ ``[.., installed]``.

    ``installed`` is the class's ``VERSION`` in the os-vif here: anything
    lower can be produced by ``obj_make_compatible``, nothing higher.
    """
    rng: catalogue_mod.VersionRange | None = ours
    if offered is not None:
        rng = ours.intersect(offered)
    if rng is not None:
        rng = rng.intersect(catalogue_mod.VersionRange("1.0", installed))
    if rng is None or _vt(rng.max)[0] != _vt(installed)[0]:
        raise NoCommonVersion(
            object=obj_name, entry=entry, installed=installed,
            offered="-" if offered is None else
            f"{offered.min}..{offered.max}",
            catalogue=f"{ours.min}..{ours.max}")
    return rng.max


def _backlevel(obj: Any, target: str, pp_target: str | None) -> Any:
    """``obj`` as the object a peer at ``target`` would build.

    Serialised with a version manifest (VIF objects declare no
    ``obj_relationships``; the manifest tells oslo how far to back-level
    the port profile, and that the network stays as it is), then rebuilt
    from the primitive so the result carries the negotiated versions.
    """
    has_pp = obj.obj_attr_is_set("port_profile")
    if target == obj.VERSION and (
            not has_pp or pp_target in (None, obj.port_profile.VERSION)):
        return obj
    manifest = {"Network": obj.network.VERSION if obj.obj_attr_is_set(
        "network") and obj.network is not None else "1.0"}
    if has_pp:
        manifest["VIFPortProfileBase"] = (
            pp_target or obj.port_profile.VERSION)
    prim = obj.obj_to_primitive(target_version=target,
                                version_manifest=manifest)
    return type(obj).obj_from_primitive(prim)


# --------------------------------------------------------------------------
# The public functions
# --------------------------------------------------------------------------

def find_entry(vif_type: str, vnic: str, details: Mapping[str, Any],
               cat: catalogue_mod.Catalogue, port_id: Any = None,
               name: str | None = None) -> catalogue_mod.Entry:
    """The catalogue entry converting a binding (``name`` forces one)."""
    binding = _describe(vif_type, vnic, details)
    if name is not None:
        entry = cat.get(name)
        if not entry.accepts(vif_type, vnic, details):
            raise BindingDetailsMismatch(
                port=port_id, binding=binding, entry=name, reason=(
                    f"the entry accepts vif_type={entry.vif_type}, "
                    f"vnic_types={list(entry.vnic_types)}, vif_details "
                    f"matching {dict(entry.details_match)}"))
        return entry
    found = cat.find(vif_type, vnic, details)
    if found:
        return found[0]
    if vif_type in NOT_BOUND:
        hint = (": Neutron could not bind the port (see the Neutron server "
                "log for the mechanism drivers' reasons)")
    else:
        same = [e for e in cat.entries if e.vif_type == vif_type]
        if same:
            hint = "; entries for this vif_type: " + ", ".join(
                f"{e.name} (vnic_types {list(e.vnic_types)}, details "
                f"{dict(e.details_match)})" for e in same)
        else:
            hint = ("; the catalogue knows vif_types: " + ", ".join(
                sorted({e.vif_type for e in cat.entries})))
            if vif_type in {e.vif_type for e in cat.disabled}:
                hint += f" (entries for {excerpt(vif_type)} are disabled)"
    raise UnsupportedBinding(port=port_id, binding=binding, hint=hint)


def to_os_vif(port: Mapping[str, Any], *, offer: Any = None,
              entry: str | None = None,
              catalogue: catalogue_mod.Catalogue | None = None,
              **neutron_extra: Any) -> Any:
    """The os-vif VIF object to plug for a bound port.

    ``port``: a Neutron port dict or a Nova VIF dict (see module doc).
    ``offer``: the host's offer; when given the binding must be in it
    (:func:`check_binding`) and the object is built at the highest version
    both the offer and the catalogue entry accept.  ``entry`` forces a
    catalogue entry (e.g. the name the offer item carries) and makes a
    binding contradicting it an error.  ``neutron_extra`` (``network``,
    ``subnets``, ``floating_ips``, ``preserve_on_delete``) completes a
    Neutron port dict as Nova completes it from Neutron.

    Every failure is one of this package's exceptions saying which port
    and what is wrong; a value of the wrong JSON type anywhere in the port
    is reported as :class:`InvalidPort` rather than a traceback.
    """
    try:
        return _to_os_vif(port, offer, entry, catalogue, neutron_extra)
    except (TypeError, ValueError, KeyError, AttributeError,
            IndexError) as exc:
        port_id = port.get("id") if isinstance(port, Mapping) else None
        raise InvalidPort(reason=(
            f"port {excerpt(port_id, quote=False)} is malformed: "
            f"{type(exc).__name__}: {excerpt(str(exc), quote=False)}"
        )) from None


def _to_os_vif(port: Any, offer: Any, entry: str | None,
               catalogue: catalogue_mod.Catalogue | None,
               neutron_extra: dict[str, Any]) -> Any:
    vif = as_vif(port, **neutron_extra)
    vif_type, vnic, details = binding_of(vif)
    port_id = vif.get("id")
    if not isinstance(port_id, str) or not port_id:
        raise InvalidPort(reason=f"the port has no id (got "
                                 f"{excerpt(port_id)})")
    cat = catalogue if catalogue is not None else (
        catalogue_mod.get_catalogue())
    the_offer = _as_offer(offer)
    item = check_binding(vif, the_offer) if the_offer is not None else None
    if entry is None and item is not None and item.name in cat:
        entry = item.name
    ent = find_entry(vif_type, vnic, details, cat, port_id, entry)
    ctx = _Ctx(vif=vif, details=details,
               network=network_to_os_vif(vif.get("network"), port_id),
               entry=ent, obj_name=ent.vif_object)
    for key in ent.details_required:
        if details.get(key) in (None, ""):
            raise ctx.fail_missing(key, f"binding:vif_details[{key!r}]")
    common = {
        "id": port_id,
        "address": vif.get("address"),
        "network": ctx.network,
        "has_traffic_filtering": bool(details.get(PORT_FILTER, False)),
        "preserve_on_delete": bool(vif.get("preserve_on_delete", False)),
        "active": bool(vif.get("active", False)),
        "plugin": ent.plugin,
    }
    if ent.port_profile is not None:
        ctx.obj_name = ent.port_profile.object
        common["port_profile"] = _build(ent.port_profile.object,
                                        ent.port_profile.fields, ctx)
        ctx.obj_name = ent.vif_object
    obj = _build(ent.vif_object, ent.fields, ctx, **common)
    target = negotiate_version(
        ent.vif_object, obj.VERSION, ent.vif_versions,
        item.os_vif_versions if item is not None else None, ent.name)
    pp_target = None
    if ent.port_profile is not None:
        offered = None
        if item is not None and item.port_profile_object is not None:
            if item.port_profile_object != ent.port_profile.object:
                raise BindingDetailsMismatch(
                    port=port_id, binding=_describe(vif_type, vnic, details),
                    entry=ent.name, reason=(
                        f"the offer expects port profile "
                        f"{item.port_profile_object}, the entry builds "
                        f"{ent.port_profile.object}"))
            offered = item.port_profile_versions
        pp_target = negotiate_version(
            ent.port_profile.object, obj.port_profile.VERSION,
            ent.port_profile.versions, offered, ent.name)
    return _backlevel(obj, target, pp_target)
