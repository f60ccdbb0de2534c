"""Fixtures for the OVS functional tests: a private userspace OVS in the
session's test network namespace, and os-vif with ``pref_ovs`` pointed at it.

Everything runs for real: ovsdb-server and ovs-vswitchd (netdev datapath),
the privsep daemon through sudo, kernel devices in the namespace.  Tests
read OVSDB back with ``ovs-vsctl`` (not through the code under test).
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import tempfile
from typing import Any
import uuid

import os_vif
from os_vif import objects
from oslo_config import cfg
from pyroute2 import IPRoute
import pytest

from os_vif_pref.linux import net as linux_net
from os_vif_pref.ovs import ovsdb
from os_vif_pref.plugins import ovs as ovs_plugin
from os_vif_pref.testing import private_ovs

GROUP = ovs_plugin.CONFIG_GROUP
INT_BRIDGE = "br-int"
#: Kernel device prefixes the tests create; cleaned after every test.
_DEV_PREFIXES = ("tap", "qbr", "qvb", "qvo", "vhu")


@pytest.fixture(scope="session")
def private_ovs_server(test_netns: Any) -> Iterator[private_ovs.PrivateOVS]:
    """ovsdb-server + ovs-vswitchd started inside the test namespace."""
    with private_ovs.PrivateOVS(bridges=(INT_BRIDGE,)) as server:
        yield server
    ovsdb.reset()


@pytest.fixture(scope="session")
def vhostuser_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="vhu-") as path:
        yield path


@pytest.fixture(scope="session")
def ovs_plugin_instance(
    private_ovs_server: private_ovs.PrivateOVS, vhostuser_dir: str,
) -> ovs_plugin.OvsPlugin:
    """The ``pref_ovs`` plugin as os-vif loads it, configured for the
    private OVS (our plugin reads its options at call time)."""
    os_vif.initialize()
    cfg.CONF.set_override("ovsdb_connection", private_ovs_server.connection,
                          group=GROUP)
    cfg.CONF.set_override("ovsdb_timeout", 20, group=GROUP)
    cfg.CONF.set_override("vhostuser_socket_dir", vhostuser_dir, group=GROUP)
    plugin = os_vif._EXT_MANAGER["pref_ovs"].obj
    assert isinstance(plugin, ovs_plugin.OvsPlugin)
    return plugin


def links() -> dict[str, dict[str, Any]]:
    """Devices of this process's namespace, read over netlink.

    (/sys/class/net shows the namespace sysfs was mounted in, not ours.)
    """
    out = {}
    with IPRoute() as ipr:
        for msg in ipr.get_links():
            linkinfo = msg.get("IFLA_LINKINFO")
            data = linkinfo.get("IFLA_INFO_DATA") if linkinfo else None
            out[msg.get("IFLA_IFNAME")] = {
                "tun_multi_queue": (data.get("IFLA_TUN_MULTI_QUEUE")
                                    if data else None),
                "index": msg["index"],
                "mtu": msg.get("IFLA_MTU"),
                "address": msg.get("IFLA_ADDRESS"),
                "up": bool(msg["flags"] & 0x1),
                "master": msg.get("IFLA_MASTER"),
                "kind": linkinfo.get("IFLA_INFO_KIND") if linkinfo else None,
            }
    return out


def link_names() -> list[str]:
    return list(links())


class OVSView:
    """Reads the private OVSDB through ovs-vsctl (independent of our code)."""

    def __init__(self, server: private_ovs.PrivateOVS) -> None:
        self.server = server

    def rows(self, table: str, record: str | None = None
             ) -> list[dict[str, Any]]:
        args = ["--format=json", "--data=json", "list", table]
        if record is not None:
            args.append(record)
        try:
            out = json.loads(self.server.vsctl(*args))
        except private_ovs.PrivateOVSError as e:
            if "no row" in str(e):
                return []
            raise
        heads = out["headings"]
        return [{h: _decode(v) for h, v in zip(heads, row, strict=True)}
                for row in out["data"]]

    def row(self, table: str, record: str) -> dict[str, Any] | None:
        rows = self.rows(table, record)
        return rows[0] if rows else None

    def ports(self, bridge: str) -> list[str]:
        return sorted(self.server.vsctl("list-ports", bridge).split())

    def bridges(self) -> list[str]:
        return sorted(self.server.vsctl("list-br").split())

    def count(self, table: str, name: str) -> int:
        return sum(1 for r in self.rows(table) if r.get("name") == name)


def _decode(value: Any) -> Any:
    """OVSDB JSON (RFC 7047) to Python."""
    if isinstance(value, list) and len(value) == 2:
        kind, data = value
        if kind == "map":
            return {k: _decode(v) for k, v in data}
        if kind == "set":
            return [_decode(v) for v in data]
        if kind in ("uuid", "named-uuid"):
            return data
    return value


@pytest.fixture
def ovs_view(private_ovs_server: private_ovs.PrivateOVS) -> OVSView:
    return OVSView(private_ovs_server)


@pytest.fixture
def ovs(ovs_plugin_instance: ovs_plugin.OvsPlugin,
        private_ovs_server: private_ovs.PrivateOVS,
        ) -> Iterator[ovs_plugin.OvsPlugin]:
    """The plugin, with OVS and the namespace cleaned after each test."""
    yield ovs_plugin_instance
    for key in ("isolate_vif", "network_device_mtu",
                "unplug_wait_vswitchd"):
        cfg.CONF.clear_override(key, group=GROUP)
    view = OVSView(private_ovs_server)
    for bridge in view.bridges():
        if bridge != INT_BRIDGE:
            private_ovs_server.vsctl("--if-exists", "del-br", bridge)
    for port in view.ports(INT_BRIDGE):
        private_ovs_server.vsctl("--if-exists", "del-port", INT_BRIDGE, port)
    for qos in view.rows("QoS"):
        private_ovs_server.vsctl("destroy", "QoS", qos["_uuid"])
    leftovers = [name for name in link_names()
                 if name.startswith(_DEV_PREFIXES)]
    if leftovers:
        linux_net.delete_net_devs(leftovers)
    linux_net.flush_deleted()


@pytest.fixture
def instance() -> objects.instance_info.InstanceInfo:
    return objects.instance_info.InstanceInfo(
        uuid=str(uuid.uuid4()), name="vm-" + uuid.uuid4().hex[:6])


class VIFFactory:
    """Builds the os-vif objects Nova would hand to ``pref_ovs``."""

    def __init__(self) -> None:
        self.n = 0

    def _common(self, bridge: str, mtu: int | None
                ) -> tuple[str, str, objects.network.Network]:
        self.n += 1
        port_id = str(uuid.uuid4())
        mac = "fa:16:3e:" + ":".join(
            f"{self.n >> shift & 0xFF:02x}" for shift in (16, 8, 0))
        net = objects.network.Network(id=str(uuid.uuid4()), bridge=bridge)
        if mtu is not None:
            net.mtu = mtu
        return port_id, mac, net

    def ovs(self, bridge: str = INT_BRIDGE, mtu: int | None = 1450,
            create_port: bool = True, create_tap: bool = True,
            datapath_type: str | None = "netdev",
            multiqueue: bool = False) -> objects.vif.VIFOpenVSwitch:
        port_id, mac, net = self._common(bridge, mtu)
        profile = objects.vif.VIFPortProfileOpenVSwitch(
            interface_id=port_id, create_port=create_port,
            create_tap=create_tap, multiqueue=multiqueue)
        if datapath_type:
            profile.datapath_type = datapath_type
        return objects.vif.VIFOpenVSwitch(
            id=port_id, address=mac, network=net, plugin="pref_ovs",
            vif_name=("tap" + port_id)[:14], bridge_name=bridge,
            port_profile=profile, has_traffic_filtering=True,
            preserve_on_delete=False, active=False)

    def hybrid(self, bridge: str = INT_BRIDGE, mtu: int | None = 1450,
               datapath_type: str | None = "netdev"
               ) -> objects.vif.VIFBridge:
        port_id, mac, net = self._common(bridge, mtu)
        profile = objects.vif.VIFPortProfileOpenVSwitch(interface_id=port_id)
        if datapath_type:
            profile.datapath_type = datapath_type
        return objects.vif.VIFBridge(
            id=port_id, address=mac, network=net, plugin="pref_ovs",
            vif_name=("tap" + port_id)[:14],
            bridge_name=("qbr" + port_id)[:14], port_profile=profile,
            has_traffic_filtering=True, preserve_on_delete=False,
            active=False)

    def vhostuser(self, path: str, mode: str = "server",
                  bridge: str = INT_BRIDGE, mtu: int | None = 1500,
                  ) -> objects.vif.VIFVHostUser:
        port_id, mac, net = self._common(bridge, mtu)
        profile = objects.vif.VIFPortProfileOpenVSwitch(
            interface_id=port_id, datapath_type="netdev")
        return objects.vif.VIFVHostUser(
            id=port_id, address=mac, network=net, plugin="pref_ovs",
            vif_name=("vhu" + port_id)[:14], path=path, mode=mode,
            port_profile=profile, has_traffic_filtering=False,
            preserve_on_delete=False, active=False)


@pytest.fixture
def vifs() -> VIFFactory:
    return VIFFactory()
