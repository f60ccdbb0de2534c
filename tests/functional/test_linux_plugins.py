"""The Linux plugins exactly as Nova drives them: ``os_vif.initialize()``
then ``os_vif.plug(vif, instance_info)`` / ``os_vif.unplug(...)``, with the
privileged work in the real ``sudo privsep-helper`` daemon, inside the
session's test namespace; results read back over netlink, and real traffic
between two namespaces through a plugged bridge."""

from __future__ import annotations

import uuid

import os_vif
from os_vif import exception as osv_exception
from os_vif import objects
from oslo_config import cfg
from pyroute2 import NetNS
import pytest

from os_vif_pref.linux import net
from os_vif_pref.plugins import linux_bridge
from os_vif_pref.testing import netns as netns_testing

pytestmark = pytest.mark.functional

LB_GROUP = linux_bridge.CFG_GROUP


@pytest.fixture(scope="module")
def osvif(test_netns):
    """os-vif initialised the Nova way, with our options set beforehand."""
    cfg.CONF.register_opts(linux_bridge.CONFIG_OPTS, group=LB_GROUP)
    cfg.CONF.set_override("physical_interface_mappings",
                          ["physnet1:tphys0"], group=LB_GROUP)
    os_vif.initialize(reset=True)
    yield
    cfg.CONF.clear_override("physical_interface_mappings", group=LB_GROUP)


@pytest.fixture
def create_tap_option():
    cfg.CONF.set_override("create_tap", True, group=LB_GROUP)
    yield
    cfg.CONF.clear_override("create_tap", group=LB_GROUP)


def link(ipr, name):
    found = ipr.link_lookup(ifname=name)
    return ipr.link("get", index=found[0])[0] if found else None


def names(ipr):
    return {m.get("ifname") for m in ipr.get_links()}


def instance():
    return objects.instance_info.InstanceInfo(
        uuid=str(uuid.uuid4()), name="vm", project_id="p")


def network(**kw):
    return objects.network.Network(id=str(uuid.uuid4()), **kw)


def bridge_vif(bridge, dev, mac="fa:16:3e:00:00:01", **net_kw):
    return objects.vif.VIFBridge(
        id=str(uuid.uuid4()), address=mac, plugin="pref_linux_bridge",
        bridge_name=bridge, vif_name=dev,
        network=network(bridge=bridge, **net_kw))


def test_plugins_are_loaded_by_os_vif(osvif):
    names_ = set(os_vif._EXT_MANAGER.names())
    assert {"pref_linux_bridge", "pref_tap", "pref_macvtap"} <= names_


def test_linux_bridge_attaches_existing_device(osvif, ipr, cleanup):
    cleanup += ["tlb0", "tlv0", "tlv0p"]
    net.create_veth_pair("tlv0", "tlv0p")
    vif = bridge_vif("tlb0", "tlv0", mtu=1400)
    os_vif.plug(vif, instance())
    os_vif.plug(vif, instance())  # converges, no error
    br, dev = link(ipr, "tlb0"), link(ipr, "tlv0")
    assert br.get(("linkinfo", "kind")) == "bridge" and br["flags"] & 1
    assert br.get("mtu") == 1400
    assert dev.get("master") == br["index"] and dev.get("mtu") == 1400
    os_vif.unplug(vif, instance())
    assert link(ipr, "tlv0").get("master") is None
    os_vif.unplug(vif, instance())  # idempotent
    assert link(ipr, "tlb0") is not None  # the shared bridge stays


def test_linux_bridge_without_device_only_ensures_bridge(osvif, ipr,
                                                          cleanup):
    cleanup += ["tlb1"]
    vif = bridge_vif("tlb1", "tlnot1")
    os_vif.plug(vif, instance())
    assert link(ipr, "tlb1") is not None and "tlnot1" not in names(ipr)
    os_vif.unplug(vif, instance())


def test_linux_bridge_create_tap(osvif, ipr, cleanup, create_tap_option):
    cleanup += ["tlb2"]
    vif = bridge_vif("tlb2", "tlt2", mtu=1450)
    os_vif.plug(vif, instance())
    os_vif.plug(vif, instance())
    tap = link(ipr, "tlt2")
    assert tap.get(("linkinfo", "kind")) == "tun"
    assert tap.get("master") == link(ipr, "tlb2")["index"]
    assert tap.get("mtu") == 1450 and tap["flags"] & 1
    os_vif.unplug(vif, instance())
    assert "tlt2" not in names(ipr)
    os_vif.unplug(vif, instance())
    net.flush_deleted()
    assert not [n for n in names(ipr) if n.startswith(net.RETIRED_PREFIX)]


def test_linux_bridge_vlan_uses_physnet_mapping(osvif, ipr, cleanup,
                                                kernel_8021q,
                                                request):
    """Depends on the kernel (fixture ``kernel_8021q``): the VLAN device on
    the mapped interface where it has 802.1Q, a clean refusal where not."""
    request.node.user_properties.append(("kernel_8021q", kernel_8021q))
    cleanup += ["tlb3", "tphys0", "tphys0p", "vlan103"]
    net.create_veth_pair("tphys0", "tphys0p")
    vif = bridge_vif("tlb3", "tlt3", should_provide_vlan=True, vlan=103,
                     bridge_interface="physnet1")
    if kernel_8021q:
        os_vif.plug(vif, instance())
        vl = link(ipr, "vlan103")
        assert vl.get(("linkinfo", "data", "vlan_id")) == 103
        assert vl.get("link") == link(ipr, "tphys0")["index"]
        assert vl.get("master") == link(ipr, "tlb3")["index"]
    else:
        # No 802.1Q: the cause is in the message and the bridge this call
        # created is gone again.
        with pytest.raises(osv_exception.PlugException,
                           match="vlan103.*Operation not supported"):
            os_vif.plug(vif, instance())
        net.flush_deleted()
        assert not {"tlb3", "vlan103"} & names(ipr)


def test_linux_bridge_flat_network_attaches_mapped_interface(osvif, ipr,
                                                             cleanup):
    cleanup += ["tlb5", "tphys0", "tphys0p", "tlv5", "tlv5p"]
    net.create_veth_pair("tphys0", "tphys0p")
    net.create_veth_pair("tlv5", "tlv5p")
    vif = bridge_vif("tlb5", "tlv5", should_provide_bridge=True,
                     bridge_interface="physnet1")
    os_vif.plug(vif, instance())
    os_vif.plug(vif, instance())  # converges
    br = link(ipr, "tlb5")
    assert link(ipr, "tphys0").get("master") == br["index"]
    assert link(ipr, "tphys0")["flags"] & 1
    assert link(ipr, "tlv5").get("master") == br["index"]
    os_vif.unplug(vif, instance())
    # The uplink is shared by every port of the network: it stays.
    assert link(ipr, "tphys0").get("master") == br["index"]
    assert link(ipr, "tlv5").get("master") is None


def test_linux_bridge_flat_network_missing_uplink_rolls_back(osvif, ipr):
    vif = bridge_vif("tlb6", "tlv6", should_provide_bridge=True,
                     bridge_interface="nosuchif0")
    with pytest.raises(osv_exception.PlugException) as exc:
        os_vif.plug(vif, instance())
    assert "nosuchif0" in str(exc.value)
    net.flush_deleted()
    assert "tlb6" not in names(ipr)


def test_linux_bridge_vlan_without_interface_fails_cleanly(osvif, ipr):
    vif = bridge_vif("tlb4", "tlt4", should_provide_vlan=True, vlan=104)
    with pytest.raises(osv_exception.PlugException,
                       match="needs a physnet or interface"):
        os_vif.plug(vif, instance())
    assert "tlb4" not in names(ipr)


def test_tap_plugin(osvif, ipr, cleanup):
    vif = objects.vif.VIFGeneric(
        id=str(uuid.uuid4()), address="fa:16:3e:aa:bb:cc",
        plugin="pref_tap", vif_name="ttp0", network=network(mtu=1442))
    os_vif.plug(vif, instance())
    os_vif.plug(vif, instance())
    tap = link(ipr, "ttp0")
    assert tap.get(("linkinfo", "kind")) == "tun"
    assert tap.get("address") == "fe:16:3e:aa:bb:cc"
    assert tap.get("mtu") == 1442 and tap["flags"] & 1
    os_vif.unplug(vif, instance())
    assert "ttp0" not in names(ipr)
    os_vif.unplug(vif, instance())


@pytest.mark.parametrize("mode,kernel", [
    ("vepa", "vepa"), ("bridge", "bridge"), ("passthrough", "passthru")])
def test_macvtap_plugin(osvif, ipr, cleanup, mode, kernel):
    cleanup += ["tms0", "tms0p"]
    net.create_veth_pair("tms0", "tms0p")
    vif = objects.vif.VIFDirect(
        id=str(uuid.uuid4()), address="fa:16:3e:12:34:56",
        plugin="pref_macvtap", vif_name="tmt0", dev_address="0000:00:00.0",
        vlan_name="tms0", mode=mode, network=network(mtu=1400))
    os_vif.plug(vif, instance())
    os_vif.plug(vif, instance())
    mv = link(ipr, "tmt0")
    assert mv.get(("linkinfo", "data", "macvtap_mode")) == kernel
    assert mv.get("link") == link(ipr, "tms0")["index"]
    assert mv.get("address") == "fa:16:3e:12:34:56"
    assert mv.get("mtu") == 1400 and mv["flags"] & 1
    os_vif.unplug(vif, instance())
    assert "tmt0" not in names(ipr)


def test_macvtap_missing_source_is_a_plug_exception(osvif, ipr):
    vif = objects.vif.VIFDirect(
        id=str(uuid.uuid4()), address="fa:16:3e:12:34:56",
        plugin="pref_macvtap", vif_name="tmt1", dev_address="0000:00:00.0",
        vlan_name="tnosrc1", mode="vepa")
    with pytest.raises(osv_exception.PlugException,
                       match="tnosrc1: no such device"):
        os_vif.plug(vif, instance())


def test_wrong_vif_type_is_a_plug_exception(osvif):
    vif = objects.vif.VIFGeneric(
        id=str(uuid.uuid4()), plugin="pref_linux_bridge", vif_name="tx0")
    with pytest.raises(osv_exception.PlugException, match="VIFBridge only"):
        os_vif.plug(vif, instance())
    with pytest.raises(osv_exception.UnplugException,
                       match="VIFBridge only"):
        os_vif.unplug(vif, instance())


def _move_and_address(ipr, dev, ns, cidr):
    ipr.link("set", index=link(ipr, dev)["index"], net_ns_fd=ns)
    addr, prefix = cidr.split("/")
    with NetNS(ns) as nsr:
        idx = nsr.link_lookup(ifname=dev)[0]
        nsr.addr("add", index=idx, address=addr, prefixlen=int(prefix))
        nsr.link("set", index=idx, state="up")


def test_two_vifs_on_one_bridge_ping_each_other(osvif, ipr, cleanup,
                                                netns_factory):
    cleanup += ["tpbr0", "tpa0", "tpb0"]
    ns_a, ns_b = netns_factory("a"), netns_factory("b")
    net.create_veth_pair("tpa0", "tpa0p")
    net.create_veth_pair("tpb0", "tpb0p")
    vif_a = bridge_vif("tpbr0", "tpa0", mac="fa:16:3e:00:0a:01")
    vif_b = bridge_vif("tpbr0", "tpb0", mac="fa:16:3e:00:0b:01")
    os_vif.plug(vif_a, instance())
    os_vif.plug(vif_b, instance())
    _move_and_address(ipr, "tpa0p", ns_a, "10.231.7.1/24")
    _move_and_address(ipr, "tpb0p", ns_b, "10.231.7.2/24")
    assert netns_testing.ping(ns_a, "10.231.7.2") == 3
    assert netns_testing.ping(ns_b, "10.231.7.1") == 3
    # Unplugging one VIF detaches it: the traffic stops.
    os_vif.unplug(vif_b, instance())
    assert netns_testing.ping(ns_a, "10.231.7.2", count=1,
                              timeout=0.5) == 0


def test_fifty_concurrent_os_vif_plugs(osvif, ipr, create_tap_option):
    import threading

    vifs = [bridge_vif("tcc0", f"tcc{i:02d}", mac=f"fa:16:3e:00:02:{i:02x}",
                       mtu=1400) for i in range(50)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def run(func, vif):
        try:
            barrier.wait()
            func(vif, instance())
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def all_at_once(func):
        threads = [threading.Thread(target=run, args=(func, v))
                   for v in vifs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    all_at_once(os_vif.plug)
    assert errors == []
    br = link(ipr, "tcc0")
    ports = {m.get("ifname"): m for m in ipr.get_links(master=br["index"])}
    assert sorted(ports) == [v.vif_name for v in vifs]
    assert all(p.get("mtu") == 1400 and p["flags"] & 1
               for p in ports.values())
    all_at_once(os_vif.unplug)
    assert errors == []
    net.delete_net_devs(["tcc0"])
    net.flush_deleted()
    left = names(ipr)
    assert not {v.vif_name for v in vifs} & left and "tcc0" not in left
    assert not [n for n in left if n.startswith(net.RETIRED_PREFIX)]
