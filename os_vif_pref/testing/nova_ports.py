"""Realistic Nova VIFs for a catalogue entry (tests and benchmarks).

What Nova's instance info cache holds for a port bound as the entry
describes: the entry's selecting vif_details and required ones, a PCI slot
in the profile, a network with a subnet, MTU and bridge.
"""

from __future__ import annotations

from typing import Any

from os_vif_pref import catalogue

PORT_ID = "dc065497-3c8d-4f44-8fb4-e1d33c16a536"
NET_ID = "b82c1929-051e-481d-8110-4669916c7915"
PCI = "0000:81:00.3"
SOCKET = "/var/lib/vhost_sockets/vhu-sock"
REQUIRED_VALUES = {"vhostuser_socket": SOCKET, "macvtap_source": "eth1"}


def realistic_vif(entry: catalogue.Entry, vnic: str | None = None,
                  ) -> Any:
    """A ``nova.network.model.VIF`` the entry converts (Nova required)."""
    from nova.network import model

    details: dict[str, Any] = {"port_filter": True}
    details.update(entry.details_match)
    for key in entry.details_required:
        details[key] = REQUIRED_VALUES.get(key, "x")
    if entry.vif_type in ("ovs", "agilio_ovs"):
        details.setdefault("datapath_type", "system")
    return model.VIF(
        id=PORT_ID, address="fa:16:3e:11:22:33", type=entry.vif_type,
        vnic_type=vnic or entry.vnic_types[0], details=details,
        devname=("tap" + PORT_ID)[:14], ovs_interfaceid=PORT_ID,
        active=True,
        profile={"pci_slot": PCI, "physical_network": "physnet1"},
        network=model.Network(
            id=NET_ID, bridge="br-int", label="private", mtu=1450,
            subnets=[model.Subnet(
                cidr="10.0.0.0/24",
                gateway=model.IP(address="10.0.0.1", type="gateway"),
                dns=[model.IP(address="8.8.8.8", type="dns")],
                ips=[model.FixedIP(address="10.0.0.5")])]))
