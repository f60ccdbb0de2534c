"""Our four plugins through the plugin conformance kit
(:mod:`os_vif_pref.testing.conformance`), for real: the privsep daemon
through sudo, devices in test namespaces, a private userspace OVS."""

from __future__ import annotations

from collections.abc import Iterator
import uuid

import os_vif
from os_vif import objects
from oslo_config import cfg
import pytest

from os_vif_pref import exceptions
from os_vif_pref.linux import net
from os_vif_pref.plugins import linux_bridge, macvtap, noop, ovs, tap
from os_vif_pref.testing import conformance

pytestmark = pytest.mark.functional

OURS = (conformance.PluginConformance.CLEAN_EXCEPTIONS
        + (exceptions.OsVifPrefException,))


def _mac() -> str:
    b = uuid.uuid4().bytes
    return f"fa:16:3e:{b[0]:02x}:{b[1]:02x}:{b[2]:02x}"


def _network(**kw) -> objects.network.Network:
    return objects.network.Network(id=str(uuid.uuid4()), **kw)


class _Linux(conformance.PluginConformance):
    CLEAN_EXCEPTIONS = OURS

    @pytest.fixture
    def environment(self, test_netns: str) -> Iterator[None]:
        yield

    def observe(self) -> dict:
        # Deletion is deferred to the daemon's reaper: judge the settled
        # state, not names in the middle of being reaped.
        net.flush_deleted()
        return conformance.kernel_links()


class TestLinuxBridgeCreateTap(_Linux):
    """pref_linux_bridge with [os_vif_pref_linux_bridge] create_tap."""

    PLUGIN_NAME = "pref_linux_bridge"
    PLUGIN_CLASS = linux_bridge.LinuxBridgePlugin
    INVALID_FIELDS = ("vif_name", "bridge_name")
    BRIDGE = "tcfbr0"

    @pytest.fixture
    def environment(self, test_netns: str) -> Iterator[None]:
        os_vif.initialize()   # registers the plugin's option group
        cfg.CONF.set_override("create_tap", True,
                              group=linux_bridge.CFG_GROUP)
        yield
        cfg.CONF.clear_override("create_tap", group=linux_bridge.CFG_GROUP)
        net.delete_net_devs([self.BRIDGE])
        net.flush_deleted()

    def make_vif(self) -> objects.vif.VIFBridge:
        return objects.vif.VIFBridge(
            id=str(uuid.uuid4()), address=_mac(), plugin=self.PLUGIN_NAME,
            bridge_name=self.BRIDGE,
            vif_name="tcft" + conformance.unique_suffix(),
            network=_network(bridge=self.BRIDGE, mtu=1400))

    def shared_names(self, vif) -> set:
        return {self.BRIDGE}

    def assert_plugged(self, vif, state) -> None:
        assert state[vif.vif_name][:2] == ("tun", self.BRIDGE)
        assert state[vif.vif_name][2:] == (1400, True)

    def assert_unplugged(self, vif, state) -> None:
        assert vif.vif_name not in state


class TestLinuxBridgeExistingDevice(_Linux):
    """pref_linux_bridge attaching a device the hypervisor created (the
    default): plug enslaves it, unplug only detaches it."""

    PLUGIN_NAME = "pref_linux_bridge"
    INVALID_FIELDS = ("vif_name", "bridge_name")
    BRIDGE = "tcfbr1"

    @pytest.fixture
    def environment(self, test_netns: str) -> Iterator[None]:
        self.devs: list[str] = []
        yield
        net.delete_net_devs(self.devs + [self.BRIDGE])
        net.flush_deleted()

    def make_vif(self) -> objects.vif.VIFBridge:
        name = "tcfv" + conformance.unique_suffix()
        net.create_veth_pair(name, name + "p")
        self.devs.append(name)
        return objects.vif.VIFBridge(
            id=str(uuid.uuid4()), address=_mac(), plugin=self.PLUGIN_NAME,
            bridge_name=self.BRIDGE, vif_name=name,
            network=_network(bridge=self.BRIDGE))

    def shared_names(self, vif) -> set:
        return {self.BRIDGE, vif.vif_name, vif.vif_name + "p"}

    def assert_plugged(self, vif, state) -> None:
        assert state[vif.vif_name][:2] == ("veth", self.BRIDGE)

    def assert_unplugged(self, vif, state) -> None:
        assert state[vif.vif_name][:2] == ("veth", None)


class TestTap(_Linux):
    PLUGIN_NAME = "pref_tap"
    PLUGIN_CLASS = tap.TapPlugin

    def make_vif(self) -> objects.vif.VIFGeneric:
        return objects.vif.VIFGeneric(
            id=str(uuid.uuid4()), address=_mac(), plugin=self.PLUGIN_NAME,
            vif_name="tcfg" + conformance.unique_suffix(),
            network=_network(mtu=1450))

    def assert_plugged(self, vif, state) -> None:
        assert state[vif.vif_name] == ("tun", None, 1450, True)

    def assert_unplugged(self, vif, state) -> None:
        assert vif.vif_name not in state


class TestMacvtap(_Linux):
    PLUGIN_NAME = "pref_macvtap"
    PLUGIN_CLASS = macvtap.MacvtapPlugin
    INVALID_FIELDS = ("vif_name", "vlan_name")
    SOURCE = "tcfsrc0"

    @pytest.fixture
    def environment(self, test_netns: str) -> Iterator[None]:
        net.create_veth_pair(self.SOURCE, self.SOURCE + "p")
        yield
        net.delete_net_devs([self.SOURCE])
        net.flush_deleted()

    def make_vif(self) -> objects.vif.VIFDirect:
        return objects.vif.VIFDirect(
            id=str(uuid.uuid4()), address=_mac(), plugin=self.PLUGIN_NAME,
            vif_name="tcfm" + conformance.unique_suffix(),
            dev_address="0000:00:00.0", vlan_name=self.SOURCE,
            mode="bridge", network=_network(mtu=1400))

    def assert_plugged(self, vif, state) -> None:
        assert state[vif.vif_name] == ("macvtap", None, 1400, True)

    def assert_unplugged(self, vif, state) -> None:
        assert vif.vif_name not in state


@pytest.fixture(scope="module")
def conformance_ovs(test_netns: str):
    """A private OVS in its own namespace, nested in the session's."""
    with conformance.private_ovs_environment() as server:
        yield server


class TestOvs(conformance.PluginConformance):
    """pref_ovs, VIFOpenVSwitch with create_port and create_tap."""

    PLUGIN_NAME = "pref_ovs"
    PLUGIN_CLASS = ovs.OvsPlugin
    CLEAN_EXCEPTIONS = OURS
    INVALID_FIELDS = ("vif_name", "network.bridge")

    @pytest.fixture
    def environment(self, conformance_ovs) -> Iterator[None]:
        self.server = conformance_ovs
        yield

    def observe(self) -> dict:
        net.flush_deleted()
        state: dict = dict(conformance.kernel_links())
        # vswitchd moves the bridge port's MTU to the smallest port MTU in
        # its own time: not the plugin's state.
        kind, master, _mtu, up = state["br-int"]
        state["br-int"] = (kind, master, None, up)
        for table in ("Bridge", "Port", "Interface"):
            names = self.server.vsctl("--bare", "--columns=name", "list",
                                      table).split()
            state[table] = sorted(names)
        return state

    def make_vif(self) -> objects.vif.VIFOpenVSwitch:
        port_id = str(uuid.uuid4())
        profile = objects.vif.VIFPortProfileOpenVSwitch(
            interface_id=port_id, create_port=True, create_tap=True,
            datapath_type="netdev")
        return objects.vif.VIFOpenVSwitch(
            id=port_id, address=_mac(), plugin=self.PLUGIN_NAME,
            vif_name=("tap" + port_id)[:14], bridge_name="br-int",
            network=_network(bridge="br-int", mtu=1450),
            port_profile=profile, has_traffic_filtering=True)

    def assert_plugged(self, vif, state) -> None:
        assert state[vif.vif_name][0] == "tun"
        assert vif.vif_name in state["Port"]
        assert vif.vif_name in state["Interface"]

    def assert_unplugged(self, vif, state) -> None:
        assert vif.vif_name not in state
        assert vif.vif_name not in state["Port"]


class TestOvsHybrid(TestOvs):
    """pref_ovs, hybrid plug (VIFBridge: qbr + veth pair into OVS)."""

    INVALID_FIELDS = ("bridge_name", "network.bridge")

    def make_vif(self) -> objects.vif.VIFBridge:
        port_id = str(uuid.uuid4())
        profile = objects.vif.VIFPortProfileOpenVSwitch(
            interface_id=port_id, datapath_type="netdev")
        return objects.vif.VIFBridge(
            id=port_id, address=_mac(), plugin=self.PLUGIN_NAME,
            vif_name=("tap" + port_id)[:14],
            bridge_name=("qbr" + port_id)[:14],
            network=_network(bridge="br-int", mtu=1450),
            port_profile=profile, has_traffic_filtering=True)

    def assert_plugged(self, vif, state) -> None:
        qvo = ("qvo" + vif.id)[:14]
        assert state[vif.bridge_name][0] == "bridge"
        assert state[("qvb" + vif.id)[:14]][:2] == ("veth", vif.bridge_name)
        assert qvo in state["Port"]

    def assert_unplugged(self, vif, state) -> None:
        assert vif.bridge_name not in state
        assert ("qvo" + vif.id)[:14] not in state["Port"]


def test_the_kit_catches_a_plugin_that_accepts_anything(test_netns):
    """The kit has teeth: upstream os-vif's ``noop`` plugin (shipped with
    os-vif, plugs nothing, accepts any VIF) fails the clean-error checks."""

    class Noop(conformance.PluginConformance):
        PLUGIN_NAME = "noop"

        def make_vif(self):
            return objects.vif.VIFVHostUser(
                id=str(uuid.uuid4()), address=_mac(), plugin="noop",
                vif_name="vhu" + conformance.unique_suffix(),
                path="/var/run/vhu-x", mode="server",
                network=_network(mtu=1400))

    kit = Noop()
    os_vif.initialize()
    kit._made, kit.instance = [], kit.make_instance()
    kit.test_entry_point_loads_the_plugin()          # these hold
    kit.test_plug_and_unplug_are_idempotent()
    with pytest.raises(pytest.fail.Exception,
                       match="accepted, but must be refused"):
        kit.test_foreign_vif_types_are_clean_errors()
    with pytest.raises(pytest.fail.Exception,
                       match="accepted, but must be refused"):
        kit.test_invalid_vifs_are_clean_errors_and_create_nothing()


class TestNoop(conformance.PluginConformance):
    """pref_noop: remote-managed ports, backend-managed vhost-user sockets."""

    PLUGIN_NAME = "pref_noop"
    PLUGIN_CLASS = noop.NoopPlugin
    CLEAN_EXCEPTIONS = OURS
    INVALID_FIELDS = ()

    @pytest.fixture
    def environment(self, test_netns):
        yield

    def make_vif(self) -> objects.vif.VIFHostDevice:
        return objects.vif.VIFHostDevice(
            id=str(uuid.uuid4()), address=_mac(), plugin=self.PLUGIN_NAME,
            dev_address="0000:81:00.3", dev_type="ethernet",
            network=_network(mtu=1500))

    def test_invalid_vifs_are_clean_errors_and_create_nothing(self) -> None:
        """Nothing of the VIF reaches the kernel or OVSDB, so no name, path
        or MTU is invalid for pref_noop: hostile values are ignored, and
        (what matters) nothing is created."""
        before = self.observe()
        vif = objects.vif.VIFVHostUser(
            id=str(uuid.uuid4()), address=_mac(), plugin=self.PLUGIN_NAME,
            vif_name="-rf;reboot", path="/../../etc/passwd", mode="server",
            network=_network(mtu=2**31 - 1))
        self._plugin().plug(vif, self.instance)
        os_vif.plug(vif, self.instance)
        os_vif.unplug(vif, self.instance)
        assert self.observe() == before

    def assert_plugged(self, vif, state) -> None:
        # The host side belongs to the DPU's backend: nothing appears here.
        assert not any("81:00.3" in str(k) for k in state)
