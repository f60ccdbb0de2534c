"""Open vSwitch constants of the OVSDB layer and the ``pref_ovs`` plugin.

The values that name things on the host (port prefixes, the dead VLAN, the
trunk bridge prefix) are deliberately the same as upstream ``vif_plug_ovs``:
ports plugged by either plugin must be recognisable by the other, by the
Neutron OVS agent and by Nova across an upgrade or a plugin switch.
"""

from __future__ import annotations

PLUGIN_NAME = "pref_ovs"

#: Linux interface names are at most 15 bytes; Nova and os-vif use 14.
NIC_NAME_LEN = 14

#: Hybrid plug: per-port Linux bridge and the veth pair that joins it to OVS.
HYBRID_BRIDGE_PREFIX = "qbr"
HYBRID_VETH_BRIDGE_PREFIX = "qvb"
HYBRID_VETH_OVS_PREFIX = "qvo"
#: vhost-user ports.
VHOSTUSER_PREFIX = "vhu"

OVS_DATAPATH_SYSTEM = "system"
OVS_DATAPATH_NETDEV = "netdev"

#: vhost-user interface types: with ``dpdkvhostuser`` OVS is the socket
#: server (QEMU in client mode); with ``dpdkvhostuserclient`` OVS connects
#: to the socket QEMU serves.
OVS_VHOSTUSER_INTERFACE_TYPE = "dpdkvhostuser"
OVS_VHOSTUSER_CLIENT_INTERFACE_TYPE = "dpdkvhostuserclient"

#: Neutron's dead VLAN: 802.1Q reserves 4095, ml2/ovs drops all its traffic.
DEAD_VLAN = 4095

#: Neutron trunk bridges; ports on them carry ``bridge_name`` in
#: external_ids so the agent can clean them up.
TRUNK_BR_PREFIX = "tbr-"

#: Interface external_ids keys written on plug (Neutron's agents read them).
EXT_IFACE_ID = "iface-id"
EXT_IFACE_STATUS = "iface-status"
EXT_ATTACHED_MAC = "attached-mac"
EXT_VM_UUID = "vm-uuid"
EXT_BRIDGE_NAME = "bridge_name"

#: QoS rows created for ``default_qos_type`` carry this key in external_ids
#: (same uuid5 namespace as upstream, so either plugin can clean them up).
QOS_UUID_NAMESPACE = "68da264a-847f-42a8-8ab0-5e774aee3d95"
