"""The Nova side of the negotiation: check what Neutron bound, convert it.

Today Nova hard-codes, in ``nova.network.os_vif_util``, how each Neutron
binding becomes an os-vif object, and a binding it does not expect ends in
an internal error.  Here both steps are driven by data:

* :func:`check_binding` compares Neutron's answer with the host's offer and
  refuses, with an error naming both, a binding the host never offered;
* :func:`to_os_vif` builds the os-vif object from the catalogue entry that
  accepts the binding.  The common fields (ids, network, flags) are filled
  exactly as Nova fills them, the entry's ``fields`` say the rest, and the
  result equals, field by field, what Nova's own converter returns (checked
  by ``tests/compat``), except that ``plugin`` may name this project's
  plugin where the catalogue or the operator chose it;
* the object is built at the highest version both the offer and the
  installed os-vif accept, and back-levelled with ``obj_make_compatible``.

:func:`migrate_check` answers, before a live migration, whether the binding
active on the source is also offered by the destination, or which one to
bind instead.

Both a Neutron port dict (``binding:vif_type``, ``mac_address``...) and a
Nova VIF dict (``dict(nova.network.model.VIF)``: ``type``, ``address``,
``network`` with ``meta``, ``subnets``, ``ips``) are accepted; a Neutron port
is first turned into the VIF dict Nova would build for it
(``nova.network.neutron.API._build_vif_model``), so the two paths meet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import dataclasses
import ipaddress
from typing import Any

from oslo_config import cfg

from os_vif_pref import catalogue as catalogue_mod
from os_vif_pref import exceptions, naming
from os_vif_pref import offer as offer_mod
from os_vif_pref.nova import dropin

nova_opts = [
    cfg.StrOpt(
        "integration_bridge", default=None,
        help="OVS bridge Nova assumes for an ovs or vhost-user port whose "
             "vif_details name no bridge_name, when converting a Neutron "
             "port dict. Unset: Nova's own [neutron] ovs_bridge when this "
             "runs inside Nova, else br-int (Nova's default)."),
]

CONF = cfg.CONF
CONF.register_opts(nova_opts, group="os_vif_pref")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("os_vif_pref", nova_opts)]


#: vif_details keys, as in nova.network.model.
PORT_FILTER = "port_filter"
BRIDGE_NAME = "bridge_name"
VHOSTUSER_OVS_PLUG = "vhostuser_ovs_plug"
VHOSTUSER_FP_PLUG = "vhostuser_fp_plug"
#: Types Neutron sets when there is no usable binding.
NOT_BOUND = frozenset({"binding_failed", "unbound"})
_DEFAULT_OVS_BRIDGE = "br-int"


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

class BindingNotAcceptable(exceptions.OsVifPrefException):
    msg_fmt = ("Neutron bound port %(port)s as %(returned)s, which the host "
               "did not offer; offered: %(offered)s")


class UnsupportedBinding(exceptions.OsVifPrefException):
    msg_fmt = ("No enabled catalogue entry converts port %(port)s bound as "
               "%(binding)s%(hint)s")


class BindingDetailsMismatch(exceptions.OsVifPrefException):
    msg_fmt = ("Port %(port)s bound as %(binding)s does not fit catalogue "
               "entry %(entry)r: %(reason)s")


class MissingBindingValue(exceptions.OsVifPrefException):
    msg_fmt = ("Port %(port)s cannot become %(object)s for entry %(entry)r: "
               "%(field)s needs %(source)s, which is not set")


class InvalidBindingValue(exceptions.OsVifPrefException):
    msg_fmt = ("Port %(port)s cannot become %(object)s for entry %(entry)r: "
               "%(field)s = %(value)r is invalid: %(reason)s")


class InvalidPort(exceptions.OsVifPrefException):
    msg_fmt = "Cannot convert port: %(reason)s"


class NoCommonVersion(exceptions.OsVifPrefException):
    msg_fmt = ("No version of %(object)s both sides accept: the offer says "
               "%(offered)s, entry %(entry)r says %(catalogue)s and the "
               "installed os-vif builds up to %(installed)s")


# --------------------------------------------------------------------------
# Ports: Neutron port dict -> Nova VIF dict
# --------------------------------------------------------------------------

def is_neutron_port(port: Mapping[str, Any]) -> bool:
    return "binding:vif_type" in port or "mac_address" in port


def binding_of(port: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """``(vif_type, vnic_type, vif_details)`` of either kind of port."""
    if not isinstance(port, Mapping):
        raise InvalidPort(reason=f"expected an object, got "
                                 f"{type(port).__name__}")
    if is_neutron_port(port):
        vif_type = port.get("binding:vif_type")
        vnic = port.get("binding:vnic_type") or "normal"
        details = port.get("binding:vif_details")
    else:
        vif_type = port.get("type")
        vnic = port.get("vnic_type") or "normal"
        details = port.get("details")
    if not isinstance(vif_type, str) or not vif_type:
        raise InvalidPort(reason=f"port {port.get('id')} has no vif_type "
                                 f"(got {vif_type!r})")
    if not isinstance(vnic, str):
        raise InvalidPort(reason=f"vnic_type {vnic!r} is not a string")
    if details is None:
        details = {}
    if not isinstance(details, Mapping):
        raise InvalidPort(reason=f"vif_details of port {port.get('id')} is "
                                 f"a {type(details).__name__}, not an "
                                 "object")
    return vif_type, vnic, dict(details)


def _ovs_bridge() -> str:
    if CONF.os_vif_pref.integration_bridge:
        return CONF.os_vif_pref.integration_bridge
    try:
        return CONF.neutron.ovs_bridge or _DEFAULT_OVS_BRIDGE
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError, AttributeError):
        return _DEFAULT_OVS_BRIDGE


def _in_cidr(address: str, cidr: str | None) -> bool:
    if not cidr:
        return False
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(
            cidr, strict=False)
    except ValueError:
        return False


def _neutron_subnets(port: Mapping[str, Any],
                     subnets: Sequence[Mapping[str, Any]] | None,
                     floating_ips: Sequence[Mapping[str, Any]] | None,
                     ) -> list[dict[str, Any]]:
    """Nova's ``_nw_info_get_subnets``: the port's subnets with its IPs."""
    fixed_ips = port.get("fixed_ips") or []
    if not fixed_ips or not subnets:
        return []
    wanted = {ip.get("subnet_id") for ip in fixed_ips}
    ips = []
    for fixed in fixed_ips:
        addr = fixed["ip_address"]
        floats = [{"address": f["floating_ip_address"], "type": "floating"}
                  for f in floating_ips or ()
                  if f.get("fixed_ip_address") == addr
                  and f.get("port_id") in (None, port.get("id"))]
        ips.append({"address": addr, "type": "fixed",
                    "floating_ips": floats})
    out = []
    for subnet in subnets:
        if subnet.get("id") is not None and subnet["id"] not in wanted:
            continue
        gw = subnet.get("gateway_ip")
        out.append({
            "cidr": subnet.get("cidr"),
            "gateway": {"address": gw, "type": "gateway"},
            "dns": [{"address": d, "type": "dns"}
                    for d in subnet.get("dns_nameservers") or ()],
            "routes": [{"cidr": r["destination"], "interface": None,
                        "gateway": {"address": r["nexthop"],
                                    "type": "gateway"}}
                       for r in subnet.get("host_routes") or ()],
            "ips": [ip for ip in ips
                    if _in_cidr(ip["address"], subnet.get("cidr"))],
        })
    return out


def vif_from_neutron_port(
        port: Mapping[str, Any], *,
        network: Mapping[str, Any] | None = None,
        subnets: Sequence[Mapping[str, Any]] | None = None,
        floating_ips: Sequence[Mapping[str, Any]] | None = None,
        preserve_on_delete: bool = False) -> dict[str, Any]:
    """The Nova VIF dict Nova builds for a Neutron port.

    Mirrors ``nova.network.neutron.API._build_vif_model`` and
    ``_nw_info_build_network``: devname ``tap<id>``, the OVS bridge and
    ``ovs_interfaceid`` for OVS-like types, ``delegate_create=True``.
    ``network`` (the Neutron network: name, mtu), ``subnets`` and
    ``floating_ips`` are what Nova fetches from Neutron separately.
    """
    port_id = port.get("id")
    if not isinstance(port_id, str) or not port_id:
        raise InvalidPort(reason=f"the port has no id (got {port_id!r})")
    network_id = port.get("network_id")
    if not isinstance(network_id, str) or not network_id:
        raise InvalidPort(reason=f"port {port_id} has no network_id")
    vif_type, vnic_type, details = binding_of(port)
    bridge: str | None = None
    ovs_interfaceid = None
    should_create_bridge = None
    if not isinstance(details.get(BRIDGE_NAME, ""), str):
        raise InvalidPort(reason=(
            f"port {port_id}: vif_details bridge_name "
            f"{details[BRIDGE_NAME]!r} is not a string"))
    if vif_type in ("ovs", "agilio_ovs"):
        bridge = details.get(BRIDGE_NAME, _ovs_bridge())
        ovs_interfaceid = port_id
    elif vif_type == "vhostuser" and details.get(VHOSTUSER_OVS_PLUG, False):
        bridge = details.get(BRIDGE_NAME, _ovs_bridge())
        ovs_interfaceid = port_id
    elif vif_type == "vhostuser" and details.get(VHOSTUSER_FP_PLUG, False):
        bridge = details.get(BRIDGE_NAME, "brq" + network_id)
    elif vif_type == "bridge":
        # What Nova did before it dropped Linux bridge (Wallaby..2024.2).
        bridge = details.get(BRIDGE_NAME, "brq" + network_id)
        should_create_bridge = True
    if bridge is not None:
        bridge = bridge[:naming.NIC_NAME_LEN]
    label = mtu = None
    if network is not None and network.get("id") in (None, network_id):
        label = network.get("name")
        mtu = network.get("mtu")
    active = (port.get("admin_state_up") is False
              or port.get("status") == "ACTIVE")
    return {
        "id": port_id,
        "address": port.get("mac_address"),
        "network": {
            "id": network_id, "bridge": bridge, "label": label,
            "subnets": _neutron_subnets(port, subnets, floating_ips),
            "meta": {"mtu": mtu} if should_create_bridge is None else {
                "mtu": mtu, "should_create_bridge": should_create_bridge},
        },
        "type": vif_type,
        "details": details,
        "devname": naming.devname_for_port(port_id),
        "ovs_interfaceid": ovs_interfaceid,
        "qbh_params": None, "qbg_params": None,
        "active": active,
        "vnic_type": vnic_type,
        "profile": dict(port.get("binding:profile") or {}),
        "preserve_on_delete": preserve_on_delete,
        "delegate_create": True,
        "meta": {},
    }


def as_vif(port: Mapping[str, Any], **neutron_extra: Any) -> dict[str, Any]:
    """A Nova VIF dict for either kind of port."""
    if not isinstance(port, Mapping):
        raise InvalidPort(reason=f"expected an object, got "
                                 f"{type(port).__name__}")
    if is_neutron_port(port):
        return vif_from_neutron_port(port, **neutron_extra)
    if "type" not in port or "id" not in port:
        raise InvalidPort(reason=(
            "neither a Neutron port (binding:vif_type, mac_address) nor a "
            "Nova VIF (id, type, address, network); keys: "
            + ", ".join(sorted(map(str, port))[:20])))
    return dict(port)


# --------------------------------------------------------------------------
# The common part: what Nova fills for every VIF
# --------------------------------------------------------------------------

def network_to_os_vif(network: Mapping[str, Any], port_id: str) -> Any:
    """Nova's ``_nova_to_osvif_network`` (the drop-in's), with our errors."""
    if not isinstance(network, Mapping):
        raise InvalidPort(reason=f"port {port_id} has no network")
    try:
        return dropin.nova_to_osvif_network(network)
    except dropin.nova_exceptions()[0]:
        # Nova's "Missing vlan number": the only error it raises here.
        raise InvalidPort(reason=f"network {network.get('id')} of port "
                                 f"{port_id} asks for a VLAN but has no "
                                 "vlan number") from None


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
                    reason=str(one)) from None
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

def _describe(vif_type: str, vnic: str, details: Mapping[str, Any]) -> str:
    keys = sorted(details)[:12]
    shown = {k: details[k] for k in keys}
    more = "" if len(details) <= 12 else f" (+{len(details) - 12} more)"
    return f"vif_type={vif_type} vnic_type={vnic} vif_details={shown}{more}"


def _describe_offer(offer: offer_mod.Offer, limit: int = 20) -> str:
    parts = [f"{i.name} ({i.vif_type}/{'|'.join(i.vnic_types)}"
             + (f" {dict(i.vif_details)}" if i.vif_details else "") + ")"
             for i in offer.items[:limit]]
    if len(offer.items) > limit:
        parts.append(f"... {len(offer.items) - limit} more")
    return ", ".join(parts) or "nothing"


def _as_offer(offer: Any) -> offer_mod.Offer | None:
    if offer is None or isinstance(offer, offer_mod.Offer):
        return offer
    if isinstance(offer, Mapping):
        # The value under the key ({"v", "h", "i"}), or a whole
        # binding:profile (which may carry no offer at all).
        if "i" in offer and offer_mod.KEY not in offer:
            return offer_mod.decode_value(offer)
        return offer_mod.decode(offer)
    raise InvalidPort(reason=f"an offer must be an Offer or a mapping, got "
                             f"{type(offer).__name__}")


def check_binding(port: Mapping[str, Any], offer: Any,
                  ) -> offer_mod.OfferItem | None:
    """The offer item Neutron's binding of ``port`` answers, or raise.

    ``offer`` is the :class:`~os_vif_pref.offer.Offer` the host sent (or the
    ``binding:profile`` carrying it).  ``None`` means the host did not
    negotiate: nothing to check, today's behaviour, ``None`` returned.
    A binding outside the offer (including ``binding_failed``) raises
    :class:`BindingNotAcceptable` naming both sides.
    """
    offer = _as_offer(offer)
    if offer is None:
        return None
    vif_type, vnic, details = binding_of(port)
    port_id = port.get("id")
    for item in offer.find(vif_type, vnic, details):
        missing = [k for k in item.required_details
                   if details.get(k) in (None, "")]
        if not missing:
            return item
        raise BindingNotAcceptable(
            port=port_id, returned=_describe(vif_type, vnic, details)
            + f" (matches {item.name!r} but lacks required vif_details "
              f"{missing})", offered=_describe_offer(offer))
    raise BindingNotAcceptable(port=port_id,
                               returned=_describe(vif_type, vnic, details),
                               offered=_describe_offer(offer))


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
                hint += f" (entries for {vif_type!r} are disabled)"
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
            f"port {port_id} is malformed: {type(exc).__name__}: "
            f"{exc}")) from None


def _to_os_vif(port: Any, offer: Any, entry: str | None,
               catalogue: catalogue_mod.Catalogue | None,
               neutron_extra: dict[str, Any]) -> Any:
    vif = as_vif(port, **neutron_extra)
    vif_type, vnic, details = binding_of(vif)
    port_id = vif.get("id")
    if not isinstance(port_id, str) or not port_id:
        raise InvalidPort(reason=f"the port has no id (got {port_id!r})")
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


# --------------------------------------------------------------------------
# Live migration
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MigrationVerdict:
    """Whether the source's binding works on the destination.

    ``status``: ``same`` (the destination offers it), ``rebind`` (bind
    ``bind_instead`` on the destination), ``impossible`` (nothing offered
    fits the port's vnic_type) or ``unknown`` (the destination does not
    negotiate; today's behaviour applies).
    """

    status: str
    entry: str | None
    bind_instead: offer_mod.OfferItem | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.status in ("same", "unknown")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "entry": self.entry,
                "bind_instead": (None if self.bind_instead is None
                                 else self.bind_instead.to_dict()),
                "reason": self.reason}


def migrate_check(port: Mapping[str, Any], dest_offer: Any,
                  served: Sequence[Any] | None = None) -> MigrationVerdict:
    """Can the binding active on the source stay as it is on the destination?

    ``port`` carries the active binding (Neutron port or Nova VIF dict);
    ``dest_offer`` is the destination host's offer.  When the destination
    does not offer the binding, the replacement is what Neutron would choose
    from the destination's offer: with ``served`` (see
    :func:`os_vif_pref.neutron.choose`) exactly that, otherwise the first
    offered binding of the same vif_type (the same mechanism driver most
    likely serves it), else the first one for the port's vnic_type.  The
    vnic_type never changes: it is the port's, not the host's.
    """
    vif_type, vnic, details = binding_of(port)
    offer = _as_offer(dest_offer)
    binding = _describe(vif_type, vnic, details)
    if offer is None:
        return MigrationVerdict("unknown", None, None, (
            "the destination sent no offer; the binding is kept as today"))
    try:
        item = check_binding(port, offer)
    except BindingNotAcceptable:
        item = None
    if item is not None:
        return MigrationVerdict("same", item.name, None, (
            f"the destination offers {item.name!r}, which accepts {binding}"))
    if served is not None:
        from os_vif_pref import neutron

        try:
            choice = neutron.choose(offer, served, None, vnic_type=vnic)
        except neutron.NoAcceptableBinding as exc:
            return MigrationVerdict("impossible", None, None, str(exc))
        chosen = offer.get(choice.entry) if choice.entry else None
        return MigrationVerdict("rebind", None, chosen, (
            f"the destination does not offer {binding}; Neutron would bind "
            f"{choice.entry!r} ({choice.reason})"))
    same_vnic = [i for i in offer.items if vnic in i.vnic_types]
    same_type = [i for i in same_vnic if i.vif_type == vif_type]
    pick = (same_type or same_vnic or [None])[0]
    if pick is None:
        return MigrationVerdict("impossible", None, None, (
            f"the destination offers nothing for vnic_type {vnic!r}: "
            f"{_describe_offer(offer)}"))
    why = ("same vif_type, other details" if same_type
           else "no binding of the same vif_type; first for this vnic_type")
    return MigrationVerdict("rebind", None, pick, (
        f"the destination does not offer {binding}; bind {pick.name!r} "
        f"instead ({why})"))
