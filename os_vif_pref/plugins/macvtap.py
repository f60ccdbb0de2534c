"""``pref_macvtap``: VIFDirect as a macvtap on its source device.

The source is ``vif.vlan_name`` when set (the VLAN interface to sit on, as
os-vif's field says), otherwise the network device of the PCI function
``vif.dev_address``.  The mode is ``vif.mode`` (vepa, bridge or
passthrough); the macvtap carries the guest's MAC and the network MTU, and
is up.  Unplug removes it.
"""

from __future__ import annotations

import os

from os_vif import objects
from oslo_config import cfg

from os_vif_pref import exceptions, lazy, locking, validate
from os_vif_pref.plugins import base
from os_vif_pref.plugins.linux_bridge import network_mtu

#: Netlink through the privsep daemon: imported when first plugging.
net = lazy.module("os_vif_pref.linux.net")

PLUGIN_NAME = "pref_macvtap"

#: Where the kernel lists a PCI function's network devices.
PCI_NET_DIR = "/sys/bus/pci/devices/{}/net"


def source_device(vif: objects.vif.VIFDirect) -> str:
    """The device the macvtap goes on (see the module docstring)."""
    if vif.obj_attr_is_set("vlan_name") and vif.vlan_name:
        return validate.ifname(vif.vlan_name)
    address = vif.dev_address if vif.obj_attr_is_set("dev_address") else None
    try:
        names = sorted(os.listdir(PCI_NET_DIR.format(address)))
    except (OSError, TypeError):
        names = []
    if not names:
        raise exceptions.InvalidArgument(
            name="VIFDirect dev_address", value=address,
            reason="no network device for this PCI address")
    return validate.ifname(names[0])


class MacvtapPlugin(base.CataloguePlugin):
    """Plugs :class:`os_vif.objects.vif.VIFDirect` as a macvtap."""

    PLUGIN_NAME = PLUGIN_NAME
    CONFIG_OPTS: list[cfg.Opt] = []

    def _check(self, vif: objects.vif.VIFBase) -> str:
        self.require(vif, objects.vif.VIFDirect)
        return validate.ifname(vif.vif_name)

    def plug(self, vif: objects.vif.VIFBase,
             instance_info: objects.instance_info.InstanceInfo) -> None:
        dev = self._check(vif)
        source, mtu = source_device(vif), network_mtu(vif)
        mac = vif.address and validate.mac(vif.address)
        with locking.vif_lock(vif):
            net.create_macvtap(dev, source, vif.mode, mac=mac, mtu=mtu)

    def unplug(self, vif: objects.vif.VIFBase,
               instance_info: objects.instance_info.InstanceInfo) -> None:
        dev = self._check(vif)
        with locking.vif_lock(vif):
            net.delete_net_devs([dev])
