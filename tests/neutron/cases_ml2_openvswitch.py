"""pref_openvswitch in Neutron's real ML2 plugin, next to the stock driver.

Every case binds a port through the REST API the way Nova does (see
:mod:`tests.neutron.base`).  :class:`StockTestCase` runs the cases that
must give the stock result with Neutron's own ``openvswitch`` driver on the
same agents, so "exactly the stock binding" is measured, not assumed.
"""

from __future__ import annotations

import json
from typing import Any

from neutron.plugins.ml2 import models as ml2_models
from neutron_lib.api.definitions import portbindings

from os_vif_pref import nova, offer
from tests.neutron import base

FAILED = portbindings.VIF_TYPE_BINDING_FAILED


def vhostuser_details(port_id: str) -> dict[str, Any]:
    """What the stock driver binds on the DPDK agent (dpdkvhostuserclient
    reported: OVS is the client, QEMU the server)."""
    return {"port_filter": False, "ovs_hybrid_plug": False,
            "vhostuser_mode": "server", "vhostuser_ovs_plug": True,
            "vhostuser_socket": f"{base.VHU_DIR}/vhu{port_id}"[:len(
                base.VHU_DIR) + 15],
            "datapath_type": "netdev", "bridge_name": "br-int"}


OVS_NETDEV = {"port_filter": True, "ovs_hybrid_plug": False,
              "datapath_type": "netdev", "bridge_name": "br-int",
              "connectivity": "l2"}
#: Neutron 29 defaults [OVS_DRIVER] ovs_create_tap to true (system datapath,
#: no hybrid plug).
OVS_SYSTEM = {**OVS_NETDEV, "datapath_type": "system", "ovs_create_tap": True}


def binding(port: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    details = dict(port[portbindings.VIF_DETAILS])
    details.pop(portbindings.VIF_DETAILS_BOUND_DRIVERS, None)
    return port[portbindings.VIF_TYPE], details


class CommonCases:
    """Cases whose answer is the stock one, for either driver."""

    def test_no_offer_dpdk_host_is_stock_vhostuser(self) -> None:
        port = self.bind(base.DPDK_HOST)
        self.assertEqual(("vhostuser", vhostuser_details(port["id"])),
                         binding(port))

    def test_no_offer_system_host_is_stock_ovs(self) -> None:
        port = self.bind(base.SYSTEM_HOST)
        self.assertEqual(("ovs", OVS_SYSTEM), binding(port))

    def _refused(self, host: str, profile: Any, **kwargs: Any) -> None:
        port = self.bind(host, profile, **kwargs)
        self.assertEqual(FAILED, port[portbindings.VIF_TYPE])

    def _refused_with_and_without_offer(self, host: str,
                                        **kwargs: Any) -> None:
        self._refused(host, None, **kwargs)
        self._refused(host, base.offer_profile(
            "ovs-vhostuser", "ovs", "ovs-hybrid", "ovs-direct", "macvtap",
            host=host), **kwargs)

    def test_host_without_agent_refused(self) -> None:
        self._refused_with_and_without_offer(base.NO_AGENT_HOST)

    def test_dead_agent_refused(self) -> None:
        self._refused_with_and_without_offer(base.DEAD_HOST)

    def test_vlan_physnet_without_bridge_mapping_refused(self) -> None:
        net = self.vlan_network("physnet2")
        self._refused_with_and_without_offer(base.DPDK_HOST, net=net)

    def test_vlan_physnet_with_bridge_mapping_bound(self) -> None:
        net = self.vlan_network("physnet1")
        port = self.bind(base.DPDK_HOST, net=net)
        self.assertEqual("vhostuser", port[portbindings.VIF_TYPE])

    def test_direct_without_switchdev_refused(self) -> None:
        self._refused_with_and_without_offer(base.SYSTEM_HOST,
                                             vnic_type="direct")

    def test_macvtap_refused(self) -> None:
        self._refused_with_and_without_offer(base.SYSTEM_HOST,
                                             vnic_type="macvtap")

    def test_direct_with_switchdev_is_ovs_offload(self) -> None:
        port = self.bind(base.SYSTEM_HOST, {"capabilities": ["switchdev"]},
                         vnic_type="direct")
        details = dict(OVS_SYSTEM)
        details.pop("ovs_hybrid_plug")
        _, got = binding(port)
        self.assertEqual("ovs", port[portbindings.VIF_TYPE])
        self.assertEqual("system", got["datapath_type"])
        self.assertFalse(got.get("ovs_create_tap", False))

    def test_malformed_offer_is_stock(self) -> None:
        for bad in ({"version": 1, "offer": "not a list"},
                    {"offer": []}, "{not json", 17,
                    {"version": 1, "offer": [{"name": "x"}]}):
            port = self.bind(base.DPDK_HOST, {offer.KEY: bad})
            self.assertEqual(("vhostuser", vhostuser_details(port["id"])),
                             binding(port), bad)

    def test_unknown_major_version_is_stock(self) -> None:
        port = self.bind(base.DPDK_HOST,
                         {offer.KEY: {"version": 99, "offer": []}})
        self.assertEqual("vhostuser", port[portbindings.VIF_TYPE])


class StockTestCase(CommonCases, base.Ml2BindingTestCase):
    _mechanism_drivers = ["openvswitch"]

    def test_stock_ignores_the_offer(self) -> None:
        port = self.bind(base.DPDK_HOST, base.offer_profile("ovs"))
        self.assertEqual("vhostuser", port[portbindings.VIF_TYPE])


class OursTestCase(CommonCases, base.Ml2BindingTestCase):
    _mechanism_drivers = ["pref_openvswitch"]

    def test_bound_drivers_names_us(self) -> None:
        port = self.bind(base.DPDK_HOST, base.offer_profile("ovs"))
        self.assertEqual(
            {"0": "pref_openvswitch"},
            port[portbindings.VIF_DETAILS][
                portbindings.VIF_DETAILS_BOUND_DRIVERS])

    def test_offer_prefers_vhostuser(self) -> None:
        port = self.bind(base.DPDK_HOST,
                         base.offer_profile("ovs-vhostuser", "ovs"))
        self.assertEqual(("vhostuser", vhostuser_details(port["id"])),
                         binding(port))

    def test_offer_prefers_ovs_on_netdev(self) -> None:
        # The host creates the tap (see pref_openvswitch's docstring).
        port = self.bind(base.DPDK_HOST,
                         base.offer_profile("ovs", "ovs-vhostuser"))
        self.assertEqual(("ovs", {**OVS_NETDEV, "ovs_create_tap": True}),
                         binding(port))

    def test_ovs_on_netdev_without_create_tap_when_configured_off(
            self) -> None:
        from oslo_config import cfg

        cfg.CONF.set_override("ovs_create_tap", False, group="OVS_DRIVER")
        port = self.bind(base.DPDK_HOST,
                         base.offer_profile("ovs", "ovs-vhostuser"))
        self.assertEqual(("ovs", OVS_NETDEV), binding(port))

    def test_vhostuser_never_asks_for_a_tap(self) -> None:
        port = self.bind(base.DPDK_HOST,
                         base.offer_profile("ovs-vhostuser", "ovs"))
        self.assertNotIn("ovs_create_tap", binding(port)[1])

    def test_offer_prefers_what_the_agent_cannot_produce(self) -> None:
        port = self.bind(base.DPDK_HOST, base.offer_profile(
            "linux-bridge", "vhostuser-fp-ovs", "ovs-hybrid",
            "ovs-vhostuser", "ovs"))
        self.assertEqual(("vhostuser", vhostuser_details(port["id"])),
                         binding(port))

    def test_nothing_servable_is_binding_failed(self) -> None:
        with self.assertLogs("os_vif_pref.neutron.ml2.hook",
                             "WARNING") as logs:
            port = self.bind(base.DPDK_HOST, base.offer_profile(
                "linux-bridge", "tap", "ovs-hybrid"))
        self.assertEqual(FAILED, port[portbindings.VIF_TYPE])
        text = "\n".join(logs.output)
        for word in ("linux-bridge=bridge", "tap=tap", "ovs-hybrid=ovs",
                     "vhostuser(", "ovs(", "pref_openvswitch"):
            self.assertIn(word, text)

    def test_hybrid_stays_the_agents(self) -> None:
        # A native-firewall agent: the host's first choice (hybrid) is not
        # a binding this agent can give, its second is.
        port = self.bind(base.SYSTEM_HOST,
                         base.offer_profile("ovs-hybrid", "ovs",
                                            host=base.SYSTEM_HOST))
        self.assertEqual(("ovs", OVS_SYSTEM), binding(port))
        port = self.bind(base.SYSTEM_HOST,
                         base.offer_profile("ovs-hybrid",
                                            host=base.SYSTEM_HOST))
        self.assertEqual(FAILED, port[portbindings.VIF_TYPE])

    def test_direct_switchdev_needs_a_direct_item(self) -> None:
        port = self.bind(base.SYSTEM_HOST, base.offer_profile(
            "ovs-direct", host=base.SYSTEM_HOST,
            capabilities=["switchdev"]), vnic_type="direct")
        self.assertEqual("ovs", port[portbindings.VIF_TYPE])
        port = self.bind(base.SYSTEM_HOST, base.offer_profile(
            "ovs", host=base.SYSTEM_HOST, capabilities=["switchdev"]),
            vnic_type="direct")
        self.assertEqual(FAILED, port[portbindings.VIF_TYPE])

    def test_vdpa_port_follows_the_offer_for_its_vnic_type(self) -> None:
        port = self.bind(base.SYSTEM_HOST, base.offer_profile(
            "ovs", "ovs-direct", host=base.SYSTEM_HOST), vnic_type="vdpa")
        self.assertEqual("ovs", port[portbindings.VIF_TYPE])
        # An offer with no item for vdpa ports: not this host's binding.
        port = self.bind(base.SYSTEM_HOST, base.offer_profile(
            "ovs", "ovs-hybrid", host=base.SYSTEM_HOST), vnic_type="vdpa")
        self.assertEqual(FAILED, port[portbindings.VIF_TYPE])

    def test_largest_offer_with_nova_sriov_keys_fits(self) -> None:
        names = [e.name for e in base.CAT]
        profile = base.offer_profile(*names, **base.NOVA_SRIOV_KEYS)
        self.assertLess(len(json.dumps(profile)),
                        ml2_models.BINDING_PROFILE_LEN)
        # Stored as Nova sends it (no host yet: nothing to bind).
        port = self.make_port()
        stored = self._update("ports", port["id"], {"port": {
            portbindings.PROFILE: profile}}, as_service=True)["port"]
        self.assertEqual(profile, stored[portbindings.PROFILE])
        # Bound with it: "allocation" would make ML2 look for the agent's
        # resource provider (QoS minimum bandwidth), which these agents do
        # not report, so it is left out of the binding request.
        bind_profile = {k: v for k, v in profile.items()
                        if k != "allocation"}
        port = self.bind(base.DPDK_HOST, bind_profile)
        self.assertEqual(bind_profile, port[portbindings.PROFILE])
        # The first item the encoder kept that the agent can produce wins.
        candidates = [("vhostuser", vhostuser_details(port["id"])),
                      ("ovs", OVS_NETDEV)]
        first = next(
            (i.name, i.vif_type) for i in offer.decode(bind_profile).items
            if any(i.accepts(t, "normal", d) for t, d in candidates))
        self.assertEqual(first[1], port[portbindings.VIF_TYPE], first)

    def test_stale_host_offer_is_stock(self) -> None:
        if "host" not in offer.Offer.__dataclass_fields__:
            self.fail("wire format without a host field")
        with self.assertLogs("os_vif_pref.neutron.choose", "INFO") as logs:
            port = self.bind(base.DPDK_HOST, base.offer_profile(
                "ovs", host="the-migration-source"))
        self.assertEqual(("vhostuser", vhostuser_details(port["id"])),
                         binding(port))
        self.assertIn("the-migration-source", "\n".join(logs.output))

    def test_round_trip_nova_vhostuser(self) -> None:
        profile = base.offer_profile("ovs-vhostuser", "ovs")
        port = self.bind(base.DPDK_HOST, profile)
        item = nova.check_binding(port, profile)
        self.assertEqual("ovs-vhostuser", item.name)
        vif = nova.to_os_vif(port, offer=profile, network=self.net)
        self.assertEqual("VIFVHostUser", vif.obj_name())
        self.assertEqual(vhostuser_details(port["id"])["vhostuser_socket"],
                         vif.path)
        self.assertEqual("server", vif.mode)

    def test_round_trip_nova_ovs_on_netdev(self) -> None:
        profile = base.offer_profile("ovs", "ovs-vhostuser")
        port = self.bind(base.DPDK_HOST, profile)
        self.assertEqual("ovs", nova.check_binding(port, profile).name)
        vif = nova.to_os_vif(port, offer=profile, network=self.net)
        self.assertEqual("VIFOpenVSwitch", vif.obj_name())
        self.assertEqual("netdev", vif.port_profile.datapath_type)
        self.assertTrue(vif.port_profile.create_tap)
        self.assertEqual("br-int", vif.network.bridge)


class TrunkCases:
    """Neutron's real trunk plugin: parent bound, subports follow it."""

    def get_additional_service_plugins(self) -> dict[str, str]:
        return {**super().get_additional_service_plugins(),
                "trunk": "trunk"}

    def test_trunk_subports_follow_the_parent(self) -> None:
        from neutron_lib import context as n_context
        from neutron_lib.plugins import directory

        ctx = n_context.get_admin_context()
        trunks = directory.get_plugin("trunk")
        self.assertTrue(any(d.is_loaded for d in trunks._drivers))
        parent = self.make_port()
        sub = self.make_port()
        trunk = trunks.create_trunk(ctx, {"trunk": {
            "port_id": parent["id"], "name": "t", "description": "",
            "admin_state_up": True, "project_id": parent["project_id"],
            "sub_ports": [{"port_id": sub["id"], "segmentation_type": "vlan",
                           "segmentation_id": 101}]}})
        body = {portbindings.HOST_ID: base.SYSTEM_HOST,
                "device_owner": "compute:nova", "device_id": "vm",
                portbindings.PROFILE: base.offer_profile(
                    "ovs", host=base.SYSTEM_HOST)}
        bound = self._update("ports", parent["id"], {"port": body},
                             as_service=True)["port"]
        self.assertEqual("ovs", bound[portbindings.VIF_TYPE])
        # The trunk bridge, from the trunk driver's bridge-name callback.
        self.assertEqual(
            "tbr-" + trunk["id"][:10],
            bound[portbindings.VIF_DETAILS][
                portbindings.VIF_DETAILS_BRIDGE_NAME])
        self.driver.update_port_status(ctx, parent["id"], "ACTIVE",
                                       base.SYSTEM_HOST)
        sub_now = self._show("ports", sub["id"], as_admin=True)["port"]
        self.assertEqual(base.SYSTEM_HOST, sub_now[portbindings.HOST_ID])
        self.assertEqual("ovs", sub_now[portbindings.VIF_TYPE])


class StockTrunkTestCase(TrunkCases, base.Ml2BindingTestCase):
    _mechanism_drivers = ["openvswitch"]


class OursTrunkTestCase(TrunkCases, base.Ml2BindingTestCase):
    _mechanism_drivers = ["pref_openvswitch"]
