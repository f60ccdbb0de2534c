"""``pref_linux_bridge``: VIFBridge on a Linux bridge, optionally on a VLAN.

Nova calls ``plug()`` before the guest starts. We ensure the bridge (STP off,
forward delay 0, MTU, up); when the network asks for it
(``should_provide_vlan`` with ``vlan``), the VLAN sub-interface ``vlan<id>`` on
the physical interface ``[os_vif_pref_linux_bridge]
physical_interface_mappings`` maps ``network.bridge_interface`` to (or
``bridge_interface`` itself when it is not a mapped physnet) joins the bridge;
on a flat network (``should_provide_bridge`` without a VLAN) that physical
interface itself joins it; the VIF's own device joins it too when it already
exists (libvirt usually creates it later and enslaves it itself). With
``create_tap`` the plugin pre-creates that tap, which hypervisors using
``managed='no'`` taps need, and unplug removes it; otherwise unplug only
detaches the device. The bridge itself is shared and never removed on unplug
(as in os-vif).

All kernel work is one privsep call per plug or unplug.
"""

from __future__ import annotations

from os_vif import objects
from oslo_config import cfg

from os_vif_pref import exceptions, lazy, locking, validate
from os_vif_pref.plugins import base

#: Netlink through the privsep daemon: imported when first plugging.
net = lazy.module("os_vif_pref.linux.net")

PLUGIN_NAME = "pref_linux_bridge"
CFG_GROUP = "os_vif_" + PLUGIN_NAME

CONFIG_OPTS = [
    cfg.ListOpt(
        "physical_interface_mappings", default=[],
        help="physnet:interface pairs; a network whose bridge_interface is "
             "one of these physnets gets its VLAN sub-interface on that "
             "interface."),
    cfg.BoolOpt(
        "create_tap", default=False,
        help="Create the VIF's tap device on plug (and delete it on unplug) "
             "instead of leaving that to the hypervisor."),
]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(CFG_GROUP, CONFIG_OPTS)]


def parse_mappings(pairs: list[str]) -> dict[str, str]:
    """``["physnet1:eth1", ...]`` -> ``{"physnet1": "eth1"}``, validated."""
    mappings: dict[str, str] = {}
    for pair in pairs:
        physnet, sep, iface = pair.partition(":")
        physnet, iface = physnet.strip(), iface.strip()
        if not sep or not physnet or physnet in mappings:
            raise exceptions.InvalidArgument(
                name="physical_interface_mappings entry", value=pair,
                reason="must be a unique physnet:interface pair")
        mappings[physnet] = validate.ifname(iface)
    return mappings


def network_mtu(vif: objects.vif.VIFBase) -> int | None:
    """The network's MTU, if the VIF carries one."""
    network = vif.network if vif.obj_attr_is_set("network") else None
    if network is None or not network.obj_attr_is_set("mtu"):
        return None
    return None if network.mtu is None else validate.mtu(network.mtu)


class LinuxBridgePlugin(base.CataloguePlugin):
    """Plugs :class:`os_vif.objects.vif.VIFBridge` onto a Linux bridge."""

    PLUGIN_NAME = PLUGIN_NAME
    CONFIG_OPTS = CONFIG_OPTS

    def __init__(self, config: cfg.ConfigOpts.GroupAttr) -> None:
        super().__init__(config)
        self.mappings = parse_mappings(
            list(config.physical_interface_mappings))

    def _uplink(self, vif: objects.vif.VIFBridge
                ) -> tuple[str | None, int | None, str | None]:
        """(physical interface, VLAN id, VLAN device) joining the bridge.

        A VLAN network gets ``vlan<id>`` on the physical interface; a flat
        network whose bridge Nova asks us to provide gets the physical
        interface itself, as os-vif's linux_bridge plugin did.
        """
        network = vif.network
        if (network is not None
                and not (network.obj_attr_is_set("should_provide_vlan")
                         and network.should_provide_vlan)
                and network.obj_attr_is_set("should_provide_bridge")
                and network.should_provide_bridge
                and network.obj_attr_is_set("bridge_interface")
                and network.bridge_interface):
            iface = network.bridge_interface
            return validate.ifname(self.mappings.get(iface, iface)), None, None
        if network is None or not (
                network.obj_attr_is_set("should_provide_vlan")
                and network.should_provide_vlan
                and network.obj_attr_is_set("vlan") and network.vlan):
            return None, None, None
        vlan = validate.vlan_id(int(network.vlan))
        iface = (network.bridge_interface
                 if network.obj_attr_is_set("bridge_interface") else None)
        if not iface:
            raise exceptions.InvalidArgument(
                name="network bridge_interface", value=iface,
                reason=f"VLAN {vlan} needs a physnet or interface")
        phys = validate.ifname(self.mappings.get(iface, iface))
        return phys, vlan, f"vlan{vlan}"

    def plug(self, vif: objects.vif.VIFBase,
             instance_info: objects.instance_info.InstanceInfo) -> None:
        self.require(vif, objects.vif.VIFBridge)
        bridge = validate.ifname(vif.bridge_name)
        dev = validate.ifname(vif.vif_name)
        phys, vlan, vlan_dev = self._uplink(vif)
        mtu = network_mtu(vif)
        with locking.vif_lock(vif):
            net.plug_bridge_port(bridge, dev, mtu, phys, vlan, vlan_dev,
                                 bool(self.config.create_tap))

    def unplug(self, vif: objects.vif.VIFBase,
               instance_info: objects.instance_info.InstanceInfo) -> None:
        self.require(vif, objects.vif.VIFBridge)
        dev = validate.ifname(vif.vif_name)
        with locking.vif_lock(vif):
            if self.config.create_tap:
                net.delete_net_devs([dev])
            else:
                net.detach_from_bridge(dev)
