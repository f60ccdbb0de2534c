"""pref_ovn in Neutron's real ML2 plugin, with the OVN driver's own fakes.

The base is Neutron's own ``TestOVNMechanismDriverBase`` (real
``Ml2Plugin`` on sqlite, fake NB/SB IDLs, the agent cache with fake
chassis).  Neutron's module has no DPDK chassis: these cases bring one
(``datapath-type: netdev``, ``iface-types: dpdkvhostuser``) and bind
through the driver as Neutron's own ``test_bind_port_*`` do, next to the
stock driver on the same fakes.  The second half loads the driver under
its own name, ``pref_ovn``, and checks what Neutron enables only for the
name ``ovn``.
"""

from __future__ import annotations

import copy
from typing import Any
from unittest import mock

from neutron.common.ovn import constants as ovn_const
from neutron.common.ovn import utils as ovn_utils
from neutron.plugins.ml2.drivers.ovn.agent import neutron_agent
from neutron.services.trunk import plugin as trunk_plugin
from neutron.tests.unit import fake_resources as fakes
from neutron.tests.unit.plugins.ml2.drivers.ovn.mech_driver import (
    test_mech_driver as ovn_tests,
)
from neutron_lib.api.definitions import portbindings
from neutron_lib.callbacks import events, registry, resources
from neutron_lib.plugins import directory

from os_vif_pref import offer
from os_vif_pref.neutron.ml2 import ovn as pref_ovn
from tests.neutron import base

HOST = "dpdk-chassis-host"
SOCK_DIR = "/var/run/openvswitch"
GENEVE = [{"id": "seg-geneve", "network_type": "geneve",
           "physical_network": None, "segmentation_id": 1001}]


class DpdkChassisMixin:
    """Bind a fake port on a DPDK chassis through ``self.mech_driver``."""

    def dpdk_agent(self) -> Any:
        agent = self._add_agent("dpdk-agent", hostname=HOST)
        agent.chassis.other_config.update({
            ovn_const.OVN_DATAPATH_TYPE: "netdev",
            "iface-types": "dpdkvhostuser,dpdkvhostuserclient,internal"})
        neutron_agent.AgentCache().get_agents.return_value = [agent]
        # The Southbound lookup the stock code does for datapath_type.
        self.sb_ovn.db_find.return_value.execute.return_value = [
            {"other_config": {ovn_const.OVN_DATAPATH_TYPE: "netdev"}}]
        return agent

    def bind(self, profile: dict[str, Any] | None = None,
             vnic_type: str = "normal") -> tuple[Any, dict[str, Any]]:
        attrs: dict[str, Any] = {"binding:vnic_type": vnic_type,
                                 "binding:host_id": HOST}
        if profile is not None:
            attrs["binding:profile"] = profile
        port = fakes.FakePort.create_one_port(attrs=attrs).info()
        port.setdefault(portbindings.VIF_DETAILS, {})
        context = fakes.FakePortContext(port, HOST, copy.deepcopy(GENEVE))
        self.mech_driver.bind_port(context)
        return context, port

    def stock_vhostuser(self, port_id: str) -> dict[str, Any]:
        details = copy.deepcopy(
            self.mech_driver.vif_details[portbindings.VIF_TYPE_VHOST_USER])
        details.update({
            portbindings.VHOST_USER_SOCKET:
                ovn_utils.ovn_vhu_sockpath(SOCK_DIR, port_id),
            portbindings.VIF_DETAILS_BRIDGE_NAME: "br-int",
            portbindings.OVS_DATAPATH_TYPE: "netdev"})
        return details

    def assert_bound(self, context: Any, vif_type: str,
                     details: dict[str, Any]) -> None:
        context.set_binding.assert_called_once_with(
            GENEVE[0]["id"], vif_type, details)

    def test_dpdk_no_offer_is_stock_vhostuser(self) -> None:
        self.dpdk_agent()
        context, port = self.bind()
        self.assert_bound(context, "vhostuser",
                          self.stock_vhostuser(port["id"]))
        self.assertEqual(
            ovn_utils.ovn_vhu_sockpath(SOCK_DIR, port["id"]),
            port[portbindings.VIF_DETAILS][portbindings.VHOST_USER_SOCKET])

    def test_dpdk_malformed_offer_is_stock(self) -> None:
        self.dpdk_agent()
        context, port = self.bind({offer.KEY: {"version": 1, "offer": 3}})
        self.assert_bound(context, "vhostuser",
                          self.stock_vhostuser(port["id"]))


class StockTestCase(DpdkChassisMixin, ovn_tests.TestOVNMechanismDriverBase):
    """Neutron's stock OVN driver on the same fakes."""

    def test_stock_driver_is_stock(self) -> None:
        self.assertIs(type(self.mech_driver),
                      pref_ovn.mech_driver.OVNMechanismDriver)


class PrefTestCase(DpdkChassisMixin, ovn_tests.TestOVNMechanismDriverBase):
    """pref_ovn under its own name, as an operator configures it."""

    _mechanism_drivers = ["logger", "pref_ovn"]

    def setup_parent(self) -> None:
        super().setup_parent()
        # What neutron-server does once every plugin is loaded, before the
        # workers start (the stock driver's own pre-fork step needs a
        # Northbound connection: not here).
        with mock.patch.object(ovn_utils, "create_neutron_pg_drop"):
            registry.publish(resources.PROCESS, events.BEFORE_SPAWN, self)

    def test_listed_under_both_names_called_once(self) -> None:
        mm = directory.get_plugin().mechanism_manager
        self.assertIsInstance(self.mech_driver,
                              pref_ovn.PrefOVNMechanismDriver)
        self.assertIs(mm.mech_drivers["ovn"], mm.mech_drivers["pref_ovn"])
        self.assertEqual(["logger", "pref_ovn"],
                         [d.name for d in mm.ordered_mech_drivers])

    def test_listed_under_ovn_before_any_event(self) -> None:
        """neutron-server builds the OVN L3 plugin right after the core
        plugin, before any PROCESS event: the L3 plugin's constructor
        must already find the driver under ``ovn`` (a fresh manager, no
        event published, as in the one-machine cloud on ML2/OVN)."""
        from neutron.plugins.ml2 import managers

        mm = managers.MechanismManager()
        mm.initialize()
        self.assertIs(mm.mech_drivers["ovn"], mm.mech_drivers["pref_ovn"])
        self.assertEqual(["logger", "pref_ovn"],
                         [d.name for d in mm.ordered_mech_drivers])

    def test_ovn_l3_plugin_finds_the_driver(self) -> None:
        from neutron.services.ovn_l3 import plugin as l3_plugin

        l3 = l3_plugin.OVNL3RouterPlugin.__new__(
            l3_plugin.OVNL3RouterPlugin)
        l3._mech = None
        l3._plugin_property = directory.get_plugin()
        self.assertIs(self.mech_driver, l3._plugin_driver)

    def test_trunk_plugin_loads_one_ovn_trunk_driver(self) -> None:
        plugin = trunk_plugin.TrunkPlugin()  # raises if no driver loaded
        ovn_drivers = [d for d in plugin._drivers
                       if isinstance(d, pref_ovn.trunk_driver.OVNTrunkDriver)]
        self.assertEqual(1, len(ovn_drivers))
        self.assertIsInstance(ovn_drivers[0], pref_ovn.TrunkDriver)
        self.assertTrue(ovn_drivers[0].is_loaded)

    def test_pvlan_driver_loaded_under_our_name(self) -> None:
        self.assertTrue(pref_ovn.PVLANDriver(self.mech_driver).is_loaded)
        stock = pref_ovn.pvlan_driver.PVLANDriver(self.mech_driver)
        self.assertFalse(stock.is_loaded)

    def test_dpdk_offer_prefers_vhostuser(self) -> None:
        self.dpdk_agent()
        context, port = self.bind(base.offer_profile(
            "ovs-vhostuser", "ovs", host=HOST))
        self.assert_bound(context, "vhostuser",
                          self.stock_vhostuser(port["id"]))

    def test_dpdk_offer_prefers_ovs_on_netdev(self) -> None:
        self.dpdk_agent()
        context, port = self.bind(base.offer_profile(
            "ovs", "ovs-vhostuser", host=HOST))
        details = copy.deepcopy(
            self.mech_driver.vif_details[portbindings.VIF_TYPE_OVS])
        details.update({portbindings.VIF_DETAILS_BRIDGE_NAME: "br-int",
                        portbindings.OVS_DATAPATH_TYPE: "netdev"})
        self.assert_bound(context, "ovs", details)
        # The socket the stock code wrote into the port dict is gone.
        self.assertNotIn(portbindings.VHOST_USER_SOCKET,
                         port[portbindings.VIF_DETAILS])

    def test_dpdk_offer_first_item_not_producible(self) -> None:
        self.dpdk_agent()
        context, port = self.bind(base.offer_profile(
            "linux-bridge", "vhostuser-fp-ovs", "ovs-vhostuser", host=HOST))
        self.assert_bound(context, "vhostuser",
                          self.stock_vhostuser(port["id"]))

    def test_dpdk_nothing_servable_not_bound(self) -> None:
        self.dpdk_agent()
        with self.assertLogs("os_vif_pref.neutron.ml2.hook",
                             "WARNING") as logs:
            context, port = self.bind(base.offer_profile(
                "linux-bridge", "ovs-hybrid", host=HOST))
        context.set_binding.assert_not_called()
        self.assertNotIn(portbindings.VHOST_USER_SOCKET,
                         port[portbindings.VIF_DETAILS])
        self.assertIn("ovs-hybrid=ovs", "\n".join(logs.output))

    def test_dpdk_stale_host_offer_is_stock(self) -> None:
        if "host" not in offer.Offer.__dataclass_fields__:
            self.fail("wire format without a host field")
        self.dpdk_agent()
        context, port = self.bind(base.offer_profile(
            "ovs", host="the-migration-source"))
        self.assert_bound(context, "vhostuser",
                          self.stock_vhostuser(port["id"]))

    def test_virtio_forwarder_needs_an_agilio_item(self) -> None:
        # Default chassis (no DPDK): stock binds agilio_ovs.
        self.sb_ovn.db_find.return_value.execute.return_value = [
            {"other_config": {}}]
        context, _ = self.bind(base.offer_profile("ovs", host=HOST),
                               vnic_type="virtio-forwarder")
        context.set_binding.assert_not_called()
        context, _ = self.bind(base.offer_profile(
            "agilio-ovs-forwarder", host=HOST), vnic_type="virtio-forwarder")
        self.assertEqual("agilio_ovs",
                         context.set_binding.call_args[0][1])
