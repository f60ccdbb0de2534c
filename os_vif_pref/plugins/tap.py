"""``pref_tap``: pre-create the tap of a VIFGeneric.

The hypervisor then opens the existing tap (libvirt ``managed='no'``), so
it needs no CAP_NET_ADMIN itself.  The tap gets the network MTU, is up, is
multi-queue when ``[os_vif_pref_tap] multiqueue`` says so (it must match how
the hypervisor will open it) and can be owned by the hypervisor's user.
Its MAC is the VIF's with the first octet set to 0xfe, as libvirt does for
the host side of a tap, so the host end never answers for the guest's MAC.
Unplug removes the tap; both are idempotent.
"""

from __future__ import annotations

from os_vif import objects
from oslo_config import cfg

from os_vif_pref import lazy, locking, validate
from os_vif_pref.plugins import base
from os_vif_pref.plugins.linux_bridge import network_mtu

#: Netlink through the privsep daemon: imported when first plugging.
net = lazy.module("os_vif_pref.linux.net")

PLUGIN_NAME = "pref_tap"
CFG_GROUP = "os_vif_" + PLUGIN_NAME

CONFIG_OPTS = [
    cfg.BoolOpt("multiqueue", default=False,
                help="Create multi-queue taps (IFF_MULTI_QUEUE)."),
    cfg.StrOpt("owner", default=None,
               help="User name or uid allowed to open the taps (e.g. the "
                    "hypervisor's user); unset keeps root only."),
]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(CFG_GROUP, CONFIG_OPTS)]


def host_side_mac(address: str | None) -> str | None:
    """``fa:16:3e:..`` -> ``fe:16:3e:..`` (libvirt's host-side tap MAC)."""
    if not address:
        return None
    return "fe" + validate.mac(address)[2:]


class TapPlugin(base.CataloguePlugin):
    """Plugs :class:`os_vif.objects.vif.VIFGeneric` as a pre-created tap."""

    PLUGIN_NAME = PLUGIN_NAME
    CONFIG_OPTS = CONFIG_OPTS

    def _check(self, vif: objects.vif.VIFBase) -> str:
        self.require(vif, objects.vif.VIFGeneric)
        return validate.ifname(vif.vif_name)

    def plug(self, vif: objects.vif.VIFBase,
             instance_info: objects.instance_info.InstanceInfo) -> None:
        dev = self._check(vif)
        owner = self.config.owner
        if owner is not None and owner.isdigit():
            owner = int(owner)
        mac, mtu = host_side_mac(vif.address), network_mtu(vif)
        with locking.vif_lock(vif):
            net.create_tap(dev, mac=mac, mtu=mtu,
                           multiqueue=bool(self.config.multiqueue),
                           owner=owner, up=True)

    def unplug(self, vif: objects.vif.VIFBase,
               instance_info: objects.instance_info.InstanceInfo) -> None:
        dev = self._check(vif)
        with locking.vif_lock(vif):
            net.delete_net_devs([dev])
