"""Real ML2 on sqlite, through Neutron's own test bases, binding like Nova.

:class:`Ml2BindingTestCase` is Neutron's ``Ml2PluginV2TestCase`` (the real
``Ml2Plugin``, its REST API through Neutron's test client, sqlite) with a
mechanism driver chosen per subclass, Open vSwitch agents registered with
``neutron.tests.common.helpers`` and one helper, :meth:`bind`, that binds a
port the way Nova does: create it, then update it with ``binding:host_id``,
``device_owner`` and ``binding:profile`` as the ``service`` role (Neutron's
default policy lets only that role write ``binding:profile``).
"""

from __future__ import annotations

import inspect
from typing import Any

from neutron.tests.common import helpers
from neutron.tests.unit.plugins.ml2 import test_plugin
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import ovs_constants as ovs_const
from oslo_config import cfg

from os_vif_pref import catalogue, offer

CAT = catalogue.load(plugin_choice={})

DPDK_HOST = "dpdk-host"
SYSTEM_HOST = "ovs-host"
NO_AGENT_HOST = "host-without-agent"
DEAD_HOST = "dead-host"
VHU_DIR = "/var/run/openvswitch"

#: Keys Nova itself puts in binding:profile for an SR-IOV port.
NOVA_SRIOV_KEYS: dict[str, Any] = {
    "pci_slot": "0000:81:10.7",
    "pci_vendor_info": "15b3:101e",
    "physical_network": "physnet1",
    "capabilities": ["switchdev"],
    "card_serial_number": "MT2113X00000",
    "pf_mac_address": "b8:ce:f6:00:00:01",
    "vf_num": 63,
    "allocation": {"8a1f6a00-0000-4000-8000-000000000001":
                   "5c4f2a3e-0000-4000-8000-000000000002"},
}


def offer_profile(*names: str, host: str | None = DPDK_HOST,
                  **extra: Any) -> dict[str, Any]:
    """``binding:profile`` carrying an offer of catalogue entries."""
    items = [CAT.get(n) for n in names]
    assert all(items), names
    if "host" in inspect.signature(offer.encode).parameters:
        value = offer.encode(items, host=host)
    else:  # wire format v1: no host field
        value = offer.encode(items)
    return {offer.KEY: value, **extra}


def ovs_agent(host: str, *, dpdk: bool = False, hybrid: bool = False,
              bridge_mappings: dict[str, str] | None = None,
              plugin: Any = None) -> dict[str, Any]:
    """Register an OVS agent the way the agent reports itself."""
    agent = helpers._get_l2_agent_dict(
        host, helpers.constants.AGENT_TYPE_OVS,
        helpers.constants.AGENT_PROCESS_OVS, tunnel_types=["vxlan"],
        bridge_mappings=bridge_mappings or {"physnet1": "br-phys"},
        integration_bridge="br-int")
    conf = agent["configurations"]
    conf[portbindings.OVS_HYBRID_PLUG] = hybrid
    if dpdk:
        conf["datapath_type"] = ovs_const.OVS_DATAPATH_NETDEV
        conf["ovs_capabilities"] = {"iface_types": [
            ovs_const.OVS_DPDK_VHOST_USER,
            ovs_const.OVS_DPDK_VHOST_USER_CLIENT, "internal", "system",
            "tap"]}
        conf["vhostuser_socket_dir"] = VHU_DIR
    else:
        conf["datapath_type"] = ovs_const.OVS_DATAPATH_SYSTEM
    return helpers._register_agent(agent, plugin)


class Ml2BindingTestCase(test_plugin.Ml2PluginV2TestCase):
    """Neutron's ML2 test case with OVS agents on three hosts."""

    _mechanism_drivers = ["pref_openvswitch"]

    def setUp(self) -> None:
        super().setUp()
        cfg.CONF.set_override("firewall_driver", "openvswitch",
                              "SECURITYGROUP")
        ovs_agent(DPDK_HOST, dpdk=True)
        ovs_agent(SYSTEM_HOST)
        dead = ovs_agent(DEAD_HOST)
        helpers.kill_agent(dead["id"])
        self.net = self._make_network(self.fmt, "net", True)["network"]

    def make_port(self, net: dict[str, Any] | None = None,
                  vnic_type: str = "normal") -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if vnic_type != "normal":
            kwargs = {"arg_list": (portbindings.VNIC_TYPE,),
                      portbindings.VNIC_TYPE: vnic_type}
        return self._make_port(self.fmt, (net or self.net)["id"],
                               **kwargs)["port"]

    def bind(self, host: str, profile: dict[str, Any] | None = None, *,
             vnic_type: str = "normal", net: dict[str, Any] | None = None,
             expected_code: int = 200) -> dict[str, Any]:
        """Nova's two steps; the port as Neutron stored it."""
        port = self.make_port(net, vnic_type)
        body: dict[str, Any] = {portbindings.HOST_ID: host,
                                "device_owner": "compute:nova",
                                "device_id": "instance-1"}
        if profile is not None:
            body[portbindings.PROFILE] = profile
        res = self._update("ports", port["id"], {"port": body},
                           expected_code=expected_code, as_service=True)
        if expected_code != 200:
            return res
        return self._show("ports", port["id"], as_admin=True)["port"]

    def vlan_network(self, physnet: str) -> dict[str, Any]:
        return self._make_network(
            self.fmt, "vlan-net", True, as_admin=True,
            arg_list=("provider:network_type", "provider:physical_network",
                      "provider:segmentation_id"),
            **{"provider:network_type": "vlan",
               "provider:physical_network": physnet,
               "provider:segmentation_id": 42})["network"]
