"""Test hosts' capabilities (no Nova import: unit tests use it too)."""

from __future__ import annotations

from typing import Any

from os_vif_pref import probes

#: Capabilities of a host with OVS-DPDK (vhost-user) and kernel OVS.
OVS_DPDK = frozenset({
    "ovsdb", "ovs_bridge", "ovs_datapath:netdev",
    "ovs_iface:dpdkvhostuserclient", "vhostuser_socket_dir",
    "kernel_link:bridge", "kernel_link:veth", "kernel_link:tun",
    "kernel_link:macvtap", "kernel_link:macvlan", "kernel_link:vlan"})
#: A host with only the Linux kernel's bridge and tap (no OVS at all).
LINUX_ONLY = frozenset({
    "kernel_link:bridge", "kernel_link:veth", "kernel_link:tun",
    "kernel_link:macvtap", "kernel_link:macvlan", "kernel_link:vlan"})


class CapabilityProber(probes.Prober):
    """Answers every capability from a fixed set, except os-vif plugins and
    what the virt driver configures (``virt_vif:``, read from Nova's
    source): those are probed for real."""

    def __init__(self, present: frozenset[str]) -> None:
        super().__init__()
        self.present = present
        self.runs = 0

    def _run(self, fam: str, key: Any, wanted: Any) -> dict[str, Any]:
        if fam.startswith("plugin:") or fam == "virt_vif":
            return super()._run(fam, key, wanted)
        self.runs += 1
        return {c: probes.ProbeResult(
            c, c in self.present, True if c in self.present else None,
            "" if c in self.present else "absent on this test host")
            for c in wanted}


