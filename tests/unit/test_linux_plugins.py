"""The Linux plugins translate os-vif objects into the right privileged
calls (the privileged module is faked here; tests/functional runs it)."""

from __future__ import annotations

from unittest import mock
import uuid

from os_vif import objects
from oslo_config import cfg
import pytest

from os_vif_pref.exceptions import InvalidArgument
from os_vif_pref.plugins import linux_bridge, macvtap, tap

objects.register_all()


def conf(**values):
    group = mock.Mock(spec=list(values))
    for k, v in values.items():
        setattr(group, k, v)
    return group


def lb_plugin(mappings=(), create_tap=False):
    return linux_bridge.LinuxBridgePlugin(conf(
        physical_interface_mappings=list(mappings), create_tap=create_tap))


def network(**kw):
    return objects.network.Network(id=str(uuid.uuid4()), **kw)


def bridge_vif(**net_kw):
    return objects.vif.VIFBridge(
        id=str(uuid.uuid4()), address="fa:16:3e:00:00:01",
        plugin="pref_linux_bridge", bridge_name="brq1", vif_name="tap1",
        network=network(**net_kw))


INST = objects.instance_info.InstanceInfo(uuid=str(uuid.uuid4()), name="x")


@pytest.fixture
def fake_net():
    with mock.patch.object(linux_bridge, "net") as lb, \
            mock.patch.object(tap, "net") as tp, \
            mock.patch.object(macvtap, "net") as mv:
        yield mock.Mock(lb=lb, tap=tp, mv=mv)


def test_bridge_plug_plain(fake_net):
    lb_plugin().plug(bridge_vif(mtu=1450), INST)
    fake_net.lb.plug_bridge_port.assert_called_once_with(
        "brq1", "tap1", 1450, None, None, None, False)


def test_bridge_plug_vlan_maps_physnet(fake_net):
    vif = bridge_vif(should_provide_vlan=True, vlan=42,
                     bridge_interface="physnet1")
    lb_plugin(["physnet1:eth1"], create_tap=True).plug(vif, INST)
    fake_net.lb.plug_bridge_port.assert_called_once_with(
        "brq1", "tap1", None, "eth1", 42, "vlan42", True)


def test_bridge_plug_vlan_unmapped_interface_used_as_is(fake_net):
    vif = bridge_vif(should_provide_vlan=True, vlan="7",
                     bridge_interface="eth2")
    lb_plugin(["physnet1:eth1"]).plug(vif, INST)
    args = fake_net.lb.plug_bridge_port.call_args.args
    assert args[3:6] == ("eth2", 7, "vlan7")


def test_bridge_vlan_not_provided_is_ignored(fake_net):
    vif = bridge_vif(should_provide_vlan=False, vlan=42,
                     bridge_interface="physnet1")
    lb_plugin(["physnet1:eth1"]).plug(vif, INST)
    assert fake_net.lb.plug_bridge_port.call_args.args[3:6] == \
        (None, None, None)


@pytest.mark.parametrize("kw", [
    dict(should_provide_vlan=True, vlan=42),
    dict(should_provide_vlan=True, vlan=5000, bridge_interface="eth1"),
    dict(should_provide_vlan=True, vlan=5, bridge_interface="eth 1"),
])
def test_bridge_vlan_bad_input_never_reaches_daemon(fake_net, kw):
    with pytest.raises(InvalidArgument):
        lb_plugin().plug(bridge_vif(**kw), INST)
    fake_net.lb.plug_bridge_port.assert_not_called()


@pytest.mark.parametrize("pairs", [["physnet1"], ["a:eth1", "a:eth2"],
                                   [":eth1"], ["p:bad/name"]])
def test_bad_mappings_refused(pairs):
    with pytest.raises(InvalidArgument):
        linux_bridge.parse_mappings(pairs)


def test_bridge_unplug(fake_net):
    lb_plugin().unplug(bridge_vif(), INST)
    fake_net.lb.detach_from_bridge.assert_called_once_with("tap1")
    lb_plugin(create_tap=True).unplug(bridge_vif(), INST)
    fake_net.lb.delete_net_devs.assert_called_once_with(["tap1"])


def test_bridge_refuses_other_vif_types(fake_net):
    vif = objects.vif.VIFGeneric(id=str(uuid.uuid4()), vif_name="t")
    with pytest.raises(InvalidArgument, match="VIFBridge"):
        lb_plugin().plug(vif, INST)


def test_tap_plug(fake_net):
    plugin = tap.TapPlugin(conf(multiqueue=True, owner="107"))
    vif = objects.vif.VIFGeneric(id=str(uuid.uuid4()), vif_name="tap9",
                                 address="fa:16:3e:01:02:03",
                                 network=network(mtu=9000))
    plugin.plug(vif, INST)
    fake_net.tap.create_tap.assert_called_once_with(
        "tap9", mac="fe:16:3e:01:02:03", mtu=9000, multiqueue=True,
        owner=107, up=True)
    plugin.unplug(vif, INST)
    fake_net.tap.delete_net_devs.assert_called_once_with(["tap9"])


def test_tap_without_network_or_address(fake_net):
    plugin = tap.TapPlugin(conf(multiqueue=False, owner="libvirt-qemu"))
    plugin.plug(objects.vif.VIFGeneric(id=str(uuid.uuid4()),
                                       vif_name="tap8", address=None), INST)
    fake_net.tap.create_tap.assert_called_once_with(
        "tap8", mac=None, mtu=None, multiqueue=False, owner="libvirt-qemu",
        up=True)


def test_macvtap_plug_uses_vlan_name(fake_net):
    vif = objects.vif.VIFDirect(
        id=str(uuid.uuid4()), vif_name="mvt0", address="fa:16:3e:0a:0b:0c",
        dev_address="0000:05:00.1", vlan_name="eth1.100", mode="bridge",
        network=network(mtu=1500))
    macvtap.MacvtapPlugin(conf()).plug(vif, INST)
    fake_net.mv.create_macvtap.assert_called_once_with(
        "mvt0", "eth1.100", "bridge", mac="fa:16:3e:0a:0b:0c", mtu=1500)


def test_macvtap_source_from_pci(fake_net, tmp_path, monkeypatch):
    (tmp_path / "0000:05:00.1" / "net" / "ens5f1").mkdir(parents=True)
    monkeypatch.setattr(macvtap, "PCI_NET_DIR",
                        str(tmp_path) + "/{}/net")
    vif = objects.vif.VIFDirect(
        id=str(uuid.uuid4()), vif_name="mvt0", dev_address="0000:05:00.1",
        mode="vepa")
    assert macvtap.source_device(vif) == "ens5f1"
    vif.dev_address = "0000:06:00.0"
    with pytest.raises(InvalidArgument, match="no network device"):
        macvtap.source_device(vif)


def test_options_listed():
    groups = dict(linux_bridge.list_opts() + tap.list_opts())
    assert {o.name for o in groups["os_vif_pref_linux_bridge"]} == {
        "physical_interface_mappings", "create_tap"}
    assert {o.name for o in groups["os_vif_pref_tap"]} == {
        "multiqueue", "owner"}
    assert all(isinstance(o, cfg.Opt) for o in groups["os_vif_pref_tap"])
