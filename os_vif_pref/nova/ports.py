"""Neutron port dict -> the Nova VIF dict Nova builds for it.

The converter and the offer check accept either kind of port; a Neutron
port is first turned into what ``nova.network.neutron.API._build_vif_model``
would build (devname, OVS bridge, ``ovs_interfaceid``, subnets with their
IPs), so the two paths meet.  :func:`binding_of` reads the binding of
either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import ipaddress
from typing import Any

from oslo_config import cfg

from os_vif_pref import exceptions, naming
from os_vif_pref.exceptions import excerpt

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


class InvalidPort(exceptions.OsVifPrefException):
    msg_fmt = "Cannot convert port: %(reason)s"


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
    port_id = excerpt(port.get("id"), quote=False)
    if not isinstance(vif_type, str) or not vif_type:
        raise InvalidPort(reason=f"port {port_id} has no vif_type "
                                 f"(got {excerpt(vif_type)})")
    if not isinstance(vnic, str):
        raise InvalidPort(reason=f"vnic_type {excerpt(vnic)} is not a "
                                 "string")
    if details is None:
        details = {}
    if not isinstance(details, Mapping):
        raise InvalidPort(reason=f"vif_details of port {port_id} is "
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
        raise InvalidPort(reason=f"the port has no id (got "
                                 f"{excerpt(port_id)})")
    network_id = port.get("network_id")
    if not isinstance(network_id, str) or not network_id:
        raise InvalidPort(reason=f"port {excerpt(port_id, quote=False)} "
                                 "has no network_id")
    vif_type, vnic_type, details = binding_of(port)
    bridge: str | None = None
    ovs_interfaceid = None
    should_create_bridge = None
    if not isinstance(details.get(BRIDGE_NAME, ""), str):
        raise InvalidPort(reason=(
            f"port {excerpt(port_id, quote=False)}: vif_details "
            f"bridge_name {excerpt(details[BRIDGE_NAME])} is not a "
            "string"))
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
            + ", ".join(excerpt(k, quote=False)
                        for k in sorted(map(str, port))[:20])))
    return dict(port)
