"""Unit tests of the pref_ovs plugin's planning and call sequence.

The privileged layer and OVSDB are faked here; the functional tests in
tests/functional/ovs run the same paths against a real OVS and kernel.
"""

from __future__ import annotations

from unittest import mock
import uuid

from os_vif import exception as osv_exception
from os_vif import objects
from oslo_config import cfg
import pytest

from os_vif_pref import conf
from os_vif_pref.ovs import constants, ovsdb
from os_vif_pref.plugins import ovs as ovs_plugin

objects.register_all()

PORT_ID = "0123abcd-4567-89ef-0123-456789abcdef"
MAC = "fa:16:3e:12:34:56"


@pytest.fixture
def config() -> cfg.ConfigOpts:
    conf_ = cfg.ConfigOpts()
    conf_.register_opts(ovs_plugin.OvsPlugin.CONFIG_OPTS,
                        group=ovs_plugin.CONFIG_GROUP)
    conf_([], project="test")
    conf_.set_override("vhostuser_socket_dir", "/run/vhu",
                       group=ovs_plugin.CONFIG_GROUP)
    return conf_


@pytest.fixture
def plugin(config: cfg.ConfigOpts) -> ovs_plugin.OvsPlugin:
    return ovs_plugin.OvsPlugin(getattr(config, ovs_plugin.CONFIG_GROUP))


@pytest.fixture
def inst() -> objects.instance_info.InstanceInfo:
    return objects.instance_info.InstanceInfo(uuid=str(uuid.uuid4()),
                                              name="vm")


def _net(bridge: str = "br-int", mtu: int | None = 1450):
    net = objects.network.Network(id=str(uuid.uuid4()), bridge=bridge)
    if mtu is not None:
        net.mtu = mtu
    return net


def _profile(**kw):
    return objects.vif.VIFPortProfileOpenVSwitch(interface_id=PORT_ID, **kw)


def ovs_vif(bridge="br-int", mtu=1450, **profile):
    return objects.vif.VIFOpenVSwitch(
        id=PORT_ID, address=MAC, network=_net(bridge, mtu),
        vif_name=("tap" + PORT_ID)[:14], plugin="pref_ovs",
        port_profile=_profile(**profile))


def hybrid_vif(**profile):
    return objects.vif.VIFBridge(
        id=PORT_ID, address=MAC, network=_net(),
        vif_name=("tap" + PORT_ID)[:14], bridge_name=("qbr" + PORT_ID)[:14],
        plugin="pref_ovs", port_profile=_profile(**profile))


def vhu_vif(path="/run/vhu/sock0", mode="server"):
    return objects.vif.VIFVHostUser(
        id=PORT_ID, address=MAC, network=_net(), plugin="pref_ovs",
        path=path, mode=mode, port_profile=_profile())


# -- naming ----------------------------------------------------------------
def test_names_match_upstream_rules():
    from vif_plug_ovs import ovs as upstream

    assert ovs_plugin.hybrid_names(PORT_ID) == (
        "qbr0123abcd-45", *upstream.OvsPlugin.get_veth_pair_names(
            hybrid_vif()))
    assert ovs_plugin.vhostuser_name(PORT_ID) == "vhu0123abcd-45"
    assert all(len(n) == constants.NIC_NAME_LEN
               for n in ovs_plugin.hybrid_names(PORT_ID))


def test_tap_mac_uses_libvirt_fe_prefix():
    assert ovs_plugin.tap_mac("FA:16:3E:00:11:22") == "fe:16:3e:00:11:22"


def test_qos_id_matches_upstream():
    from vif_plug_ovs.ovsdb import ovsdb_lib

    assert ovsdb.qos_id("tapx") == str(
        uuid.uuid5(ovsdb_lib.QOS_UUID_NAMESPACE, "tapx"))


# -- planning --------------------------------------------------------------
def test_plan_ovs_create_port_and_tap(plugin, inst):
    plan = plugin._plan_plug(
        ovs_vif(create_port=True, create_tap=True, multiqueue=True,
                datapath_type="netdev"), inst)
    spec = plan.spec
    assert spec.bridge == "br-int" and spec.name == "tap0123abcd-45"
    assert spec.external_ids() == {
        "iface-id": PORT_ID, "iface-status": "active", "attached-mac": MAC,
        "vm-uuid": inst.uuid}
    assert spec.mtu == 1450 and spec.datapath_type == "netdev"
    assert spec.qos_type is None            # netdev: no tc qdisc
    assert spec.interface_type is None and not spec.isolate
    assert plan.tap == ("tap0123abcd-45", "fe:16:3e:12:34:56", 1450, True)
    assert plan.hybrid is None and plan.bridge is None


def test_plan_create_port_false_only_ensures_bridge(plugin, inst):
    # Upstream: no port, no tap (create_tap only acts with create_port).
    plan = plugin._plan_plug(ovs_vif(create_port=False, create_tap=True),
                             inst)
    assert plan.spec is None and plan.tap is None
    assert plan.bridge == ("br-int", "system")


def test_plan_old_profile_without_flags(plugin, inst):
    vif = ovs_vif()
    vif.port_profile = objects.vif.VIFPortProfileOpenVSwitch(
        interface_id=PORT_ID)
    plan = plugin._plan_plug(vif, inst)
    assert plan.spec is None and plan.tap is None


def test_plan_system_datapath_gets_default_qos(plugin, config, inst):
    plan = plugin._plan_plug(ovs_vif(create_port=True), inst)
    assert plan.spec.datapath_type == "system"
    assert plan.spec.qos_type == "linux-noop"
    config.set_override("default_qos_type", "linux-htb",
                        group=ovs_plugin.CONFIG_GROUP)
    assert plugin._plan_plug(ovs_vif(create_port=True),
                             inst).spec.qos_type == "linux-htb"


def test_plan_mtu_falls_back_to_config(plugin, config, inst):
    config.set_override("network_device_mtu", 9000,
                        group=ovs_plugin.CONFIG_GROUP)
    plan = plugin._plan_plug(ovs_vif(mtu=None, create_port=True), inst)
    assert plan.spec.mtu == 9000


def test_plan_isolate_vif(plugin, config, inst):
    config.set_override("isolate_vif", True, group=ovs_plugin.CONFIG_GROUP)
    assert plugin._plan_plug(ovs_vif(create_port=True), inst).spec.isolate


def test_plan_hybrid(plugin, inst):
    plan = plugin._plan_plug(hybrid_vif(datapath_type="netdev"), inst)
    assert plan.hybrid == ("qbr0123abcd-45", "qvb0123abcd-45",
                           "qvo0123abcd-45", 1450)
    assert plan.spec.name == "qvo0123abcd-45"
    assert plan.spec.bridge == "br-int"
    assert plan.tap is None


def test_plan_vhostuser_server_mode(plugin, inst):
    spec = plugin._plan_plug(vhu_vif(), inst).spec
    assert spec.name == "vhu0123abcd-45"
    assert spec.interface_type == "dpdkvhostuserclient"
    assert spec.options == {"vhost-server-path": "/run/vhu/sock0"}
    assert spec.datapath_type == "netdev"     # vhost-user default


def test_plan_vhostuser_client_mode(plugin, inst):
    spec = plugin._plan_plug(vhu_vif(path="/anywhere/x", mode="client"),
                             inst).spec
    assert spec.interface_type == "dpdkvhostuser" and spec.options is None


@pytest.mark.parametrize("path", ["/run/vhu/../etc/x", "/etc/passwd",
                                  "/run/vhu", "run/vhu/x", "/run/vhux/y"])
def test_vhostuser_path_must_stay_in_socket_dir(plugin, inst, path):
    with pytest.raises(osv_exception.PlugException):
        plugin.plug(vhu_vif(path=path), inst)


def test_missing_and_wrong_port_profile(plugin, inst):
    vif = ovs_vif()
    del vif.port_profile
    with pytest.raises(osv_exception.PlugException, match="port profile"):
        plugin.plug(vif, inst)
    vif.port_profile = objects.vif.VIFPortProfile8021Qbh(profile_id="x")
    with pytest.raises(osv_exception.PlugException, match="8021Qbh"):
        plugin.plug(vif, inst)


def test_unsupported_vif_type(plugin, inst):
    vif = objects.vif.VIFGeneric(id=PORT_ID, address=MAC, network=_net(),
                                 vif_name="tapx", plugin="pref_ovs",
                                 port_profile=_profile())
    with pytest.raises(osv_exception.PlugException, match="VIFGeneric"):
        plugin.plug(vif, inst)
    with pytest.raises(osv_exception.UnplugException, match="VIFGeneric"):
        plugin.unplug(vif, inst)


def test_create_tap_refused_for_hybrid(plugin, inst):
    with pytest.raises(osv_exception.PlugException):
        plugin.plug(hybrid_vif(create_tap=True), inst)


def test_bad_vif_name_refused_before_anything_runs(plugin, inst):
    vif = ovs_vif(create_port=True)
    vif.vif_name = "a/b"
    with mock.patch.object(ovs_plugin, "linux_net") as net, \
            mock.patch.object(ovsdb, "get") as get:
        with pytest.raises(osv_exception.PlugException):
            plugin.plug(vif, inst)
    assert not net.mock_calls and not get.mock_calls


def test_trunk_bridge_spec_and_unplug_plan(plugin, inst):
    vif = ovs_vif(bridge="tbr-1234", create_port=True)
    spec = plugin._plan_plug(vif, inst).spec
    assert spec.external_ids()["bridge_name"] == "tbr-1234"
    assert plugin._plan_unplug(vif).trunk_bridge == "tbr-1234"
    assert plugin._plan_unplug(ovs_vif()).trunk_bridge is None


def test_unplug_plans_cover_hybrid_leftovers(plugin):
    plan = plugin._plan_unplug(ovs_vif())
    assert plan.del_ports == ["tap0123abcd-45", "qvo0123abcd-45"]
    assert plan.del_devs == ["tap0123abcd-45", "qvo0123abcd-45",
                             "qvb0123abcd-45", "qbr0123abcd-45"]
    plan = plugin._plan_unplug(hybrid_vif())
    assert plan.del_ports == ["qvo0123abcd-45"]
    assert plan.del_devs[0] == "qvo0123abcd-45"
    plan = plugin._plan_unplug(vhu_vif())
    assert plan.del_ports == ["vhu0123abcd-45"] and plan.del_devs == []


# -- call sequence ---------------------------------------------------------
@pytest.fixture
def fakes():
    """linux_net and the OVSDB client, recording one shared call order."""
    calls = mock.Mock()
    db = mock.Mock(spec=ovsdb.Ovsdb)
    db.connection = "unix:/fake/db.sock"
    db.plug_ports.side_effect = lambda specs: [(s.name, "created")
                                               for s in specs]
    txn = mock.Mock()
    db.begin.return_value = txn
    calls.attach_mock(db, "db")
    calls.attach_mock(txn, "txn")
    with mock.patch.object(ovs_plugin, "linux_net") as net, \
            mock.patch.object(ovsdb, "get", return_value=db):
        calls.attach_mock(net, "net")
        yield calls


def _names(calls):
    return [c[0] for c in calls.mock_calls]


def test_plug_creates_tap_before_the_port(plugin, inst, fakes):
    plugin.plug(ovs_vif(create_port=True, create_tap=True), inst)
    assert _names(fakes) == ["net.create_tap", "db.plug_ports"]
    args, kwargs = fakes.net.create_tap.call_args
    assert args == ("tap0123abcd-45",)
    assert kwargs == {"mac": "fe:16:3e:12:34:56", "mtu": 1450,
                      "multiqueue": False, "up": True}
    (specs,), _ = fakes.db.plug_ports.call_args
    assert [s.name for s in specs] == ["tap0123abcd-45"]


def test_plug_hybrid_sequence(plugin, inst, fakes):
    plugin.plug(hybrid_vif(), inst)
    assert _names(fakes) == ["net.ensure_bridge", "net.create_veth_pair",
                             "net.add_bridge_port", "db.plug_ports"]
    fakes.net.create_veth_pair.assert_called_once_with(
        "qvb0123abcd-45", "qvo0123abcd-45", mtu=1450)
    fakes.net.add_bridge_port.assert_called_once_with(
        "qbr0123abcd-45", "qvb0123abcd-45")


def test_plug_without_create_port_ensures_bridge_only(plugin, inst, fakes):
    plugin.plug(ovs_vif(create_port=False, create_tap=True), inst)
    assert _names(fakes) == ["db.ensure_bridge", "db.plug_ports"]
    fakes.db.ensure_bridge.assert_called_once_with("br-int", "system")
    fakes.db.plug_ports.assert_called_once_with([])


def test_unplug_overlaps_transaction_and_device_deletion(plugin, inst,
                                                         fakes):
    plugin.unplug(hybrid_vif(), inst)
    # Queued first, devices deleted while it is in flight, then waited on.
    assert _names(fakes) == ["db.unplug_ports_command", "db.begin",
                             "net.delete_net_devs", "txn.wait"]
    fakes.net.delete_net_devs.assert_called_once_with(
        ["qvo0123abcd-45", "qvb0123abcd-45", "qbr0123abcd-45"])
    assert fakes.db.begin.call_args.kwargs == {"wait_vswitchd": False}


def test_unplug_can_wait_for_vswitchd_like_upstream(plugin, config, inst,
                                                    fakes):
    config.set_override("unplug_wait_vswitchd", True,
                        group=ovs_plugin.CONFIG_GROUP)
    plugin.unplug(ovs_vif(), inst)
    assert fakes.db.begin.call_args.kwargs == {"wait_vswitchd": True}


def test_unplug_waits_for_transaction_even_if_deletion_fails(plugin, inst,
                                                             fakes):
    fakes.net.delete_net_devs.side_effect = RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        plugin.unplug(ovs_vif(), inst)   # os_vif.unplug wraps it
    assert _names(fakes)[-1] == "txn.wait"


def test_unplug_transaction_error_is_an_unplug_exception(plugin, inst,
                                                         fakes):
    fakes.txn.wait.side_effect = RuntimeError("OVSDB Error")
    with pytest.raises(osv_exception.UnplugException, match="OVSDB Error"):
        plugin.unplug(ovs_vif(), inst)


def test_bulk_is_one_transaction_and_one_deletion(plugin, inst, fakes):
    many = [ovs_vif(create_port=True, create_tap=True)]
    for _ in range(3):
        v = ovs_vif(create_port=True, create_tap=True)
        v.id = str(uuid.uuid4())
        v.vif_name = ("tap" + v.id)[:14]
        many.append(v)
    result = plugin.plug_many([(v, inst) for v in many])
    assert len(result) == 4
    assert fakes.db.plug_ports.call_count == 1
    assert fakes.net.create_tap.call_count == 4
    plugin.unplug_many([(v, inst) for v in many])
    assert fakes.db.begin.call_count == 1
    assert fakes.db.begin.call_args.kwargs == {"wait_vswitchd": False}
    assert fakes.net.delete_net_devs.call_count == 1
    (devs,), _ = fakes.net.delete_net_devs.call_args
    assert len(devs) == len(set(devs)) == 16


# -- configuration ---------------------------------------------------------
def test_options_mirror_upstream_names():
    from vif_plug_ovs import ovs as upstream

    ours = {o.name for o in ovs_plugin.OvsPlugin.CONFIG_OPTS}
    theirs = {o.name for o in upstream.OvsPlugin.CONFIG_OPTS}
    # Same meaning, same name; ovsdb_timeout accepts ovs_vsctl_timeout.
    assert {"network_device_mtu", "ovsdb_connection", "isolate_vif",
            "default_qos_type"} <= ours & theirs
    timeout = next(o for o in ovs_plugin.OvsPlugin.CONFIG_OPTS
                   if o.name == "ovsdb_timeout")
    assert [d.name for d in timeout.deprecated_opts] == ["ovs_vsctl_timeout"]


def test_upstream_timeout_name_still_read(tmp_path):
    conf_ = cfg.ConfigOpts()
    conf_.register_opts(ovs_plugin.OvsPlugin.CONFIG_OPTS,
                        group=ovs_plugin.CONFIG_GROUP)
    f = tmp_path / "c.conf"
    f.write_text("[os_vif_pref_ovs]\novs_vsctl_timeout = 7\n")
    conf_(["--config-file", str(f)], project="test")
    assert conf_.os_vif_pref_ovs.ovsdb_timeout == 7


def test_options_listed_for_the_generator():
    groups = dict(ovs_plugin.list_opts())
    assert groups["os_vif_pref_ovs"] == ovs_plugin.OvsPlugin.CONFIG_OPTS
    assert "os_vif_pref.plugins.ovs" in conf._OPT_MODULES


def test_plugin_name_is_the_entry_point():
    assert ovs_plugin.OvsPlugin.PLUGIN_NAME == "pref_ovs"
    assert ovs_plugin.CONFIG_GROUP == "os_vif_pref_ovs"


def test_constructing_the_plugin_does_not_connect(config):
    with mock.patch.object(ovsdb, "get") as get:
        ovs_plugin.OvsPlugin(getattr(config, ovs_plugin.CONFIG_GROUP))
    get.assert_not_called()
