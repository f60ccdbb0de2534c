"""pref_ovs against a real (private, userspace) Open vSwitch and kernel.

Every check reads OVSDB back through ovs-vsctl and the kernel through
/sys, independently of the code under test.
"""

from __future__ import annotations

import os
import threading

import os_vif
from os_vif import exception as osv_exception
from oslo_config import cfg
import pytest

from os_vif_pref.linux import net as linux_net
from os_vif_pref.ovs import ovsdb
from os_vif_pref.plugins import ovs as ovs_plugin

from .conftest import GROUP, INT_BRIDGE, links

pytestmark = pytest.mark.functional


def _link(dev: str) -> dict:
    return links()[dev]


def _exists(dev: str) -> bool:
    return dev in links()


def _master(dev: str) -> str | None:
    idx = _link(dev)["master"]
    if not idx:
        return None
    return next(n for n, v in links().items() if v["index"] == idx)


def _assert_iface(ovs_view, name, vif, instance, mtu, itype=""):
    iface = ovs_view.row("Interface", name)
    assert iface is not None, name
    assert iface["type"] == itype
    assert iface["external_ids"] == {
        "iface-id": vif.port_profile.interface_id,
        "iface-status": "active",
        "attached-mac": vif.address,
        "vm-uuid": instance.uuid,
    }
    assert iface["mtu_request"] == mtu
    assert ovs_view.count("Port", name) == 1
    assert ovs_view.count("Interface", name) == 1
    return iface


def test_ovs_create_port_and_tap(ovs, ovs_view, vifs, instance):
    vif = vifs.ovs(mtu=1450)
    os_vif.plug(vif, instance)

    name = vif.vif_name
    assert ovs_view.ports(INT_BRIDGE) == [name]
    iface = _assert_iface(ovs_view, name, vif, instance, 1450)
    # vswitchd opened the tap we created (it existed before the port).
    assert isinstance(iface["ofport"], int) and iface["ofport"] > 0
    assert iface["error"] == []
    port = ovs_view.row("Port", name)
    assert port["tag"] == [] and port["qos"] == []   # netdev: no QoS
    # The kernel side: a persistent tap, up, with the MTU and libvirt's
    # fe: MAC convention.
    tap = _link(name)
    assert tap["kind"] == "tun"
    assert tap["mtu"] == 1450
    assert tap["address"] == "fe" + vif.address[2:]
    assert tap["up"]

    os_vif.unplug(vif, instance)
    assert ovs_view.ports(INT_BRIDGE) == []
    assert ovs_view.row("Interface", name) is None
    assert not _exists(name)
    # Unplug did not wait for vswitchd; the next plug (or this) does.
    ovs.ovsdb.wait_for_vswitchd()
    assert _vswitchd_caught_up(ovs_view)


def _vswitchd_caught_up(ovs_view) -> bool:
    row = ovs_view.rows("Open_vSwitch")[0]
    return row["cur_cfg"] >= row["next_cfg"]


@pytest.mark.parametrize("multiqueue", [True, False])
def test_tap_multiqueue_follows_profile(ovs, ovs_view, vifs, instance,
                                        multiqueue):
    vif = vifs.ovs(multiqueue=multiqueue)
    os_vif.plug(vif, instance)
    assert _link(vif.vif_name)["tun_multi_queue"] == int(multiqueue)
    assert ovs_view.row("Interface", vif.vif_name)["ofport"] > 0


def test_create_port_false_only_ensures_bridge(ovs, ovs_view, vifs,
                                               instance):
    # Upstream: libvirt adds the port; create_tap needs create_port.
    vif = vifs.ovs(bridge="br-lv", create_port=False, create_tap=True,
                   datapath_type="netdev")
    os_vif.plug(vif, instance)
    assert "br-lv" in ovs_view.bridges()
    assert ovs_view.row("Bridge", "br-lv")["datapath_type"] == "netdev"
    assert ovs_view.ports("br-lv") == []
    assert not _exists(vif.vif_name)
    os_vif.unplug(vif, instance)      # no port: a no-op that must not fail
    assert ovs_view.ports("br-lv") == []


def test_create_port_without_tap(ovs, ovs_view, vifs, instance):
    vif = vifs.ovs(create_port=True, create_tap=False)
    os_vif.plug(vif, instance)
    _assert_iface(ovs_view, vif.vif_name, vif, instance, 1450)
    # libvirt has not created the tap: vswitchd could not open it.
    assert not _exists(vif.vif_name)
    os_vif.unplug(vif, instance)
    assert ovs_view.ports(INT_BRIDGE) == []


def test_missing_bridge_created_with_profile_datapath(ovs, ovs_view, vifs,
                                                      instance):
    vif = vifs.ovs(bridge="br-new", datapath_type="netdev")
    os_vif.plug(vif, instance)
    br = ovs_view.row("Bridge", "br-new")
    assert br["datapath_type"] == "netdev"
    assert ovs_view.ports("br-new") == [vif.vif_name]
    # The bridge's own internal port/interface, as ovs-vsctl add-br makes.
    assert ovs_view.row("Interface", "br-new")["type"] == "internal"
    assert ovs_view.row("Interface", vif.vif_name)["ofport"] > 0
    os_vif.unplug(vif, instance)
    assert ovs_view.ports("br-new") == []


def test_existing_bridge_datapath_never_changed(ovs, ovs_view, vifs,
                                                instance):
    # Upstream would set br-int to 'system' here (and break a netdev host).
    vif = vifs.ovs(datapath_type="system")
    os_vif.plug(vif, instance)
    assert ovs_view.row("Bridge", INT_BRIDGE)["datapath_type"] == "netdev"
    assert ovs_view.ports(INT_BRIDGE) == [vif.vif_name]


def test_replug_is_idempotent_and_keeps_agent_changes(
        ovs, ovs_view, vifs, instance, private_ovs_server):
    vif = vifs.ovs()
    os_vif.plug(vif, instance)
    name = vif.vif_name
    port_uuid = ovs_view.row("Port", name)["_uuid"]
    # What Neutron's OVS agent does after binding the port.
    private_ovs_server.vsctl("set", "Port", name, "tag=7")
    private_ovs_server.vsctl("set", "Interface", name,
                             "external_ids:agent-key=x")

    os_vif.plug(vif, instance)
    os_vif.plug(vif, instance)
    assert ovs_view.ports(INT_BRIDGE) == [name]
    port = ovs_view.row("Port", name)
    assert port["_uuid"] == port_uuid
    assert port["tag"] == 7
    iface = ovs_view.row("Interface", name)
    assert iface["external_ids"]["agent-key"] == "x"
    assert iface["external_ids"]["iface-id"] == vif.port_profile.interface_id
    assert iface["ofport"] > 0


def test_stale_port_with_other_iface_id_is_replaced(
        ovs, ovs_view, vifs, instance, private_ovs_server):
    vif = vifs.ovs()
    name = vif.vif_name
    private_ovs_server.vsctl(
        "add-port", INT_BRIDGE, name, "tag=5", "--", "set", "Interface",
        name, "external_ids:iface-id=someone-else",
        "external_ids:vm-uuid=old-vm", "external_ids:stale=yes")
    stale_uuid = ovs_view.row("Port", name)["_uuid"]

    os_vif.plug(vif, instance)
    assert ovs_view.ports(INT_BRIDGE) == [name]
    port = ovs_view.row("Port", name)
    assert port["_uuid"] != stale_uuid
    assert port["tag"] == []                      # nothing of the old row
    _assert_iface(ovs_view, name, vif, instance, 1450)


def test_stale_port_on_another_bridge_is_moved(
        ovs, ovs_view, vifs, instance, private_ovs_server):
    private_ovs_server.add_bridge("br-old")
    vif = vifs.ovs()
    name = vif.vif_name
    private_ovs_server.vsctl(
        "add-port", "br-old", name, "--", "set", "Interface", name,
        "external_ids:iface-id=" + vif.port_profile.interface_id)
    os_vif.plug(vif, instance)
    assert ovs_view.ports("br-old") == []
    assert ovs_view.ports(INT_BRIDGE) == [name]
    _assert_iface(ovs_view, name, vif, instance, 1450)


def test_hybrid_plug_and_unplug(ovs, ovs_view, vifs, instance):
    vif = vifs.hybrid(mtu=1400)
    os_vif.plug(vif, instance)
    qbr, qvb, qvo = ovs_plugin.hybrid_names(vif.id)
    assert qbr == vif.bridge_name
    # Kernel: per-port Linux bridge, veth pair, qvb enslaved to qbr.
    assert _link(qbr)["kind"] == "bridge"
    assert _link(qvb)["kind"] == _link(qvo)["kind"] == "veth"
    assert _master(qvb) == qbr
    assert _master(qvo) is None
    for dev in (qbr, qvb, qvo):
        assert _link(dev)["mtu"] == 1400
        assert _link(dev)["up"]
    # OVS: the qvo end on the integration bridge, with Neutron's ids.
    assert ovs_view.ports(INT_BRIDGE) == [qvo]
    iface = _assert_iface(ovs_view, qvo, vif, instance, 1400)
    assert iface["ofport"] > 0

    os_vif.plug(vif, instance)                    # idempotent
    assert ovs_view.ports(INT_BRIDGE) == [qvo]

    os_vif.unplug(vif, instance)
    assert ovs_view.ports(INT_BRIDGE) == []
    for dev in (qbr, qvb, qvo):
        assert not _exists(dev)


def test_vifopenvswitch_unplug_cleans_hybrid_plug(ovs, ovs_view, vifs,
                                                  instance):
    # Nova may plug a port hybrid and unplug it as VIFOpenVSwitch; upstream
    # then removes the qbr/qvb/qvo set, and so must we.
    hybrid = vifs.hybrid()
    os_vif.plug(hybrid, instance)
    as_ovs = vifs.ovs()
    as_ovs.id = hybrid.id
    as_ovs.vif_name = hybrid.vif_name
    as_ovs.port_profile = hybrid.port_profile
    os_vif.unplug(as_ovs, instance)
    assert ovs_view.ports(INT_BRIDGE) == []
    for dev in ovs_plugin.hybrid_names(hybrid.id):
        assert not _exists(dev)


def test_vhostuser_server_mode_client_interface(ovs, ovs_view, vifs,
                                                instance, vhostuser_dir):
    path = os.path.join(vhostuser_dir, "vhu-sock-1")
    vif = vifs.vhostuser(path, mode="server", mtu=9000)
    os_vif.plug(vif, instance)
    name = ovs_plugin.vhostuser_name(vif.id)
    iface = _assert_iface(ovs_view, name, vif, instance, 9000,
                          itype="dpdkvhostuserclient")
    assert iface["options"] == {"vhost-server-path": path}
    os_vif.unplug(vif, instance)
    assert ovs_view.row("Interface", name) is None


def test_vhostuser_client_mode_server_interface(ovs, ovs_view, vifs,
                                                instance, vhostuser_dir):
    vif = vifs.vhostuser(os.path.join(vhostuser_dir, "x"), mode="client")
    os_vif.plug(vif, instance)
    name = ovs_plugin.vhostuser_name(vif.id)
    iface = _assert_iface(ovs_view, name, vif, instance, 1500,
                          itype="dpdkvhostuser")
    assert iface["options"] == {}


@pytest.mark.parametrize("bad", ["/etc/passwd", "{d}/../escape",
                                 "{d}/a/../../escape", "relative/sock"])
def test_vhostuser_path_outside_socket_dir_refused(ovs, ovs_view, vifs,
                                                   instance, vhostuser_dir,
                                                   bad):
    vif = vifs.vhostuser(bad.format(d=vhostuser_dir), mode="server")
    with pytest.raises(osv_exception.PlugException):
        os_vif.plug(vif, instance)
    assert ovs_view.ports(INT_BRIDGE) == []


def test_isolate_vif_only_on_new_ports(ovs, ovs_view, vifs, instance,
                                       private_ovs_server):
    cfg.CONF.set_override("isolate_vif", True, group=GROUP)
    vif = vifs.ovs()
    os_vif.plug(vif, instance)
    port = ovs_view.row("Port", vif.vif_name)
    assert port["tag"] == 4095
    assert port["vlan_mode"] == "trunk"
    assert port["trunks"] == 4095
    # The agent wires it; a re-plug (nova-compute restart) must not undo it.
    private_ovs_server.vsctl("set", "Port", vif.vif_name, "tag=12")
    os_vif.plug(vif, instance)
    assert ovs_view.row("Port", vif.vif_name)["tag"] == 12


def test_trunk_bridge_ids_and_removal(ovs, ovs_view, vifs, instance):
    vif = vifs.ovs(bridge="tbr-0123abcd-4")
    os_vif.plug(vif, instance)
    iface = ovs_view.row("Interface", vif.vif_name)
    assert iface["external_ids"]["bridge_name"] == "tbr-0123abcd-4"
    os_vif.unplug(vif, instance)
    assert "tbr-0123abcd-4" not in ovs_view.bridges()


def test_system_datapath_gets_default_qos_and_unplug_removes_it(
        ovs, ovs_view, vifs, instance):
    # No kernel datapath here: vswitchd cannot instantiate the bridge, but
    # the OVSDB configuration is what we write and check.
    vif = vifs.ovs(bridge="br-sys", datapath_type="system",
                   create_tap=False)
    os_vif.plug(vif, instance)
    port = ovs_view.row("Port", vif.vif_name)
    qos = ovs_view.rows("QoS")
    assert len(qos) == 1 and port["qos"] == qos[0]["_uuid"]
    assert qos[0]["type"] == "linux-noop"
    assert qos[0]["external_ids"]["id"] == ovsdb.qos_id(vif.vif_name)
    os_vif.unplug(vif, instance)
    assert ovs_view.rows("QoS") == []


def test_mtu_from_config_when_network_has_none(ovs, ovs_view, vifs,
                                               instance):
    cfg.CONF.set_override("network_device_mtu", 1380, group=GROUP)
    vif = vifs.ovs(mtu=None)
    os_vif.plug(vif, instance)
    assert ovs_view.row("Interface", vif.vif_name)["mtu_request"] == 1380
    assert _link(vif.vif_name)["mtu"] == 1380


def test_bulk_plug_and_unplug_one_transaction(ovs, ovs_view, vifs,
                                              instance, monkeypatch):
    many = [vifs.ovs() for _ in range(12)] + [vifs.hybrid()
                                              for _ in range(4)]
    starts = []
    real_start = ovsdb._Transaction.start

    def counting_start(self):
        starts.append(self)
        return real_start(self)

    monkeypatch.setattr(ovsdb._Transaction, "start", counting_start)
    result = ovs.plug_many([(v, instance) for v in many])
    assert len(starts) == 1
    assert sorted(n for n, outcome in result if outcome == "created") == \
        sorted(ovs_view.ports(INT_BRIDGE))
    assert len(ovs_view.ports(INT_BRIDGE)) == 16
    for v in many[:12]:
        assert ovs_view.row("Interface", v.vif_name)["ofport"] > 0
        assert _exists(v.vif_name)

    # Re-plugging the whole host: everything "updated", nothing duplicated.
    again = ovs.plug_many([(v, instance) for v in many])
    assert {outcome for _, outcome in again} == {"updated"}
    assert len(ovs_view.rows("Port")) == 16 + 1     # + br-int's own

    starts.clear()
    ovs.unplug_many([(v, instance) for v in many])
    assert len(starts) == 1
    assert ovs_view.ports(INT_BRIDGE) == []
    assert not any(_exists(v.vif_name) for v in many[:12])
    # The bulk unplug did not wait for vswitchd; this does.
    ovs.ovsdb.wait_for_vswitchd()
    assert _vswitchd_caught_up(ovs_view)


def test_reconnects_after_ovsdb_server_restart(ovs, ovs_view, vifs,
                                               instance, private_ovs_server):
    first = vifs.ovs()
    os_vif.plug(first, instance)
    client = ovs.ovsdb

    private_ovs_server.restart_ovsdb_server()
    second = vifs.ovs()
    os_vif.plug(second, instance)          # same client, reconnected
    assert ovs.ovsdb is client
    assert ovs_view.ports(INT_BRIDGE) == sorted(
        [first.vif_name, second.vif_name])
    assert ovs_view.row("Interface", second.vif_name)["ofport"] > 0

    # A plug issued while the server is down completes once it is back.
    third = vifs.ovs()
    errors: list[BaseException] = []

    def plug_third() -> None:
        try:
            os_vif.plug(third, instance)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    private_ovs_server._stop_daemon("ovsdb-server")
    thread = threading.Thread(target=plug_third)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()          # waiting for the server, not failed
    private_ovs_server.restart_ovsdb_server()
    thread.join(30)
    assert not thread.is_alive() and errors == []
    _assert_iface(ovs_view, third.vif_name, third, instance, 1450)

    os_vif.unplug(first, instance)
    assert first.vif_name not in ovs_view.ports(INT_BRIDGE)


def test_unplug_wait_vswitchd_option(ovs, ovs_view, vifs, instance):
    cfg.CONF.set_override("unplug_wait_vswitchd", True, group=GROUP)
    vif = vifs.ovs()
    os_vif.plug(vif, instance)
    os_vif.unplug(vif, instance)
    assert _vswitchd_caught_up(ovs_view)


def test_unplug_of_absent_vif_is_a_noop(ovs, ovs_view, vifs, instance):
    for vif in (vifs.ovs(), vifs.hybrid()):
        os_vif.unplug(vif, instance)
        os_vif.unplug(vif, instance)
    assert ovs_view.ports(INT_BRIDGE) == []


def test_replug_after_unplug_reuses_names(ovs, ovs_view, vifs, instance):
    # Nova's hard reboot: unplug then plug the same VIF at once; device
    # deletion is deferred in the kernel but the names must be free.
    vif = vifs.ovs()
    hyb = vifs.hybrid()
    for _ in range(3):
        os_vif.plug(vif, instance)
        os_vif.plug(hyb, instance)
        os_vif.unplug(vif, instance)
        os_vif.unplug(hyb, instance)
    os_vif.plug(vif, instance)
    os_vif.plug(hyb, instance)
    assert ovs_view.row("Interface", vif.vif_name)["ofport"] > 0
    qvo = ovs_plugin.hybrid_names(hyb.id)[2]
    assert ovs_view.row("Interface", qvo)["ofport"] > 0
    assert linux_net.device_exists(vif.vif_name)
