"""The privileged netlink functions, called through the real privsep daemon
(``sudo privsep-helper``) inside the session's test namespace, verified by
reading netlink back."""

from __future__ import annotations

import os
import threading

import pytest

from os_vif_pref import exceptions
from os_vif_pref.linux import net

pytestmark = pytest.mark.functional

CAP_NET_ADMIN_MASK = 1 << 12


def link(ipr, name):
    found = ipr.link_lookup(ifname=name)
    return ipr.link("get", index=found[0])[0] if found else None


def names(ipr):
    return {m.get("ifname") for m in ipr.get_links()}


def test_daemon_is_separate_and_has_only_net_admin(test_netns):
    pid = net.daemon_pid()
    assert pid != os.getpid()
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":\t", 1) for line in f if ":\t" in line)
    assert int(status["CapEff"], 16) == CAP_NET_ADMIN_MASK
    assert int(status["CapPrm"], 16) == CAP_NET_ADMIN_MASK
    # The daemon works in our namespace, not the host's.
    assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink(
        "/proc/self/ns/net")


def test_create_tap_reads_back_and_is_idempotent(ipr, cleanup):
    cleanup += ["tbr0", "ttap0"]
    assert net.ensure_bridge("tbr0", mtu=1400) is True
    kwargs = dict(mac="fa:16:3e:11:22:33", mtu=1400, owner=4242,
                  master="tbr0", up=True)
    assert net.create_tap("ttap0", **kwargs) is True
    assert net.create_tap("ttap0", **kwargs) is False
    tap = link(ipr, "ttap0")
    assert tap.get(("linkinfo", "kind")) == "tun"
    assert tap.get("address") == "fa:16:3e:11:22:33"
    assert tap.get("mtu") == 1400
    assert tap.get("master") == link(ipr, "tbr0")["index"]
    assert tap["flags"] & 1  # IFF_UP
    tun = tap.get(("linkinfo", "data"))
    assert tun.get("IFLA_TUN_OWNER") == 4242
    assert tun.get("IFLA_TUN_TYPE") == 2  # tap, not tun
    assert tun.get("IFLA_TUN_PERSIST") == 1
    assert tun.get("IFLA_TUN_VNET_HDR") == 1
    assert tun.get("IFLA_TUN_MULTI_QUEUE") == 0
    assert net.device_exists("ttap0")


def test_tap_multiqueue_flag(ipr, cleanup):
    cleanup.append("tmq0")
    net.create_tap("tmq0", multiqueue=True)
    tun = link(ipr, "tmq0").get(("linkinfo", "data"))
    assert tun.get("IFLA_TUN_MULTI_QUEUE") == 1
    # Re-opening with the other flavour must fail, proving the flag is set.
    with pytest.raises(net.NetDeviceError, match="Invalid argument"):
        net.create_tap("tmq0", multiqueue=False)
    assert net.create_tap("tmq0", multiqueue=True) is False


def test_veth_pair(ipr, cleanup):
    cleanup += ["tvb0", "tvo0"]
    assert net.create_veth_pair("tvb0", "tvo0", mtu=1450) is True
    assert net.create_veth_pair("tvb0", "tvo0", mtu=1450) is False
    a, b = link(ipr, "tvb0"), link(ipr, "tvo0")
    assert a.get("link") == b["index"] and b.get("link") == a["index"]
    for dev in (a, b):
        assert dev.get("mtu") == 1450
        assert dev["flags"] & 1


def test_veth_pair_replaces_stale_half(ipr, cleanup):
    cleanup += ["tvb1", "tvo1", "tvx1"]
    net.create_veth_pair("tvb1", "tvx1")
    # tvb1 exists but its peer is not tvo1: replaced by the right pair.
    assert net.create_veth_pair("tvb1", "tvo1", mtu=1500) is True
    assert link(ipr, "tvb1").get("link") == link(ipr, "tvo1")["index"]


def test_ensure_bridge_converges(ipr, cleanup):
    cleanup.append("tbr1")
    assert net.ensure_bridge("tbr1", mtu=1450) is True
    br = link(ipr, "tbr1")
    assert br.get(("linkinfo", "kind")) == "bridge"
    assert br.get(("linkinfo", "data", "br_stp_state")) == 0
    assert br.get(("linkinfo", "data", "br_forward_delay")) == 0
    ipr.link("set", index=br["index"], state="down", mtu=1300)
    assert net.ensure_bridge("tbr1", mtu=1450) is False
    br = link(ipr, "tbr1")
    assert br.get("mtu") == 1450 and br["flags"] & 1


def test_add_bridge_port_and_set_helpers(ipr, cleanup):
    cleanup += ["tbr2", "tvb2", "tvo2"]
    net.ensure_bridge("tbr2")
    net.create_veth_pair("tvb2", "tvo2")
    net.add_bridge_port("tbr2", "tvb2")
    net.add_bridge_port("tbr2", "tvb2")
    assert link(ipr, "tvb2").get("master") == link(ipr, "tbr2")["index"]
    net.set_device_mtu("tvo2", 1280)
    assert link(ipr, "tvo2").get("mtu") == 1280
    ipr.link("set", index=link(ipr, "tvo2")["index"], state="down")
    net.set_device_up("tvo2")
    assert link(ipr, "tvo2")["flags"] & 1


def test_delete_net_devs_frees_names_at_once_and_reaps(ipr, test_netns):
    net.ensure_bridge("tbr3")
    for i in range(5):
        net.create_tap(f"tdel{i}", master="tbr3", up=True)
    gone = net.delete_net_devs([f"tdel{i}" for i in range(5)]
                               + ["tbr3", "tnothere"])
    assert list(gone) == [f"tdel{i}" for i in range(5)] + ["tbr3"]
    # The names are free at once ...
    assert not {f"tdel{i}" for i in range(5)} & names(ipr)
    assert not net.device_exists("tdel0")
    # ... and the devices themselves are gone once the reaper ran.
    net.flush_deleted()
    assert not [n for n in names(ipr) if n.startswith(net.RETIRED_PREFIX)]
    assert list(net.delete_net_devs(["tdel0"])) == []


def test_delete_refuses_devices_without_link_kind(ipr, test_netns):
    with pytest.raises(net.NetDeviceError, match="not a virtual device"):
        net.delete_net_devs(["lo"])
    assert link(ipr, "lo") is not None


@pytest.mark.parametrize("mode,kernel", [
    ("vepa", "vepa"), ("bridge", "bridge"), ("passthrough", "passthru")])
def test_macvtap_modes(ipr, cleanup, mode, kernel):
    cleanup += ["tmvs0", "tmvp0", "tmv0"]
    net.create_veth_pair("tmvs0", "tmvp0")
    assert net.create_macvtap("tmv0", "tmvs0", mode,
                              mac="fa:16:3e:00:00:99", mtu=1400) is True
    assert net.create_macvtap("tmv0", "tmvs0", mode,
                              mac="fa:16:3e:00:00:99", mtu=1400) is False
    mv = link(ipr, "tmv0")
    assert mv.get(("linkinfo", "kind")) == "macvtap"
    assert mv.get(("linkinfo", "data", "macvtap_mode")) == kernel
    assert mv.get("link") == link(ipr, "tmvs0")["index"]
    assert mv.get("address") == "fa:16:3e:00:00:99"
    assert mv.get("mtu") == 1400 and mv["flags"] & 1


def test_macvtap_existing_in_other_mode_is_an_error(ipr, cleanup):
    cleanup += ["tmvs1", "tmvp1", "tmv1"]
    net.create_veth_pair("tmvs1", "tmvp1")
    net.create_macvtap("tmv1", "tmvs1", "vepa")
    with pytest.raises(net.NetDeviceError, match="not a bridge macvtap"):
        net.create_macvtap("tmv1", "tmvs1", "bridge")


def test_failed_configuration_rolls_back_the_new_tap(ipr, cleanup):
    cleanup += ["tnb0", "tnb0p"]
    net.create_veth_pair("tnb0", "tnb0p")
    # tnb0 is not a bridge: enslaving fails after the tap was created.
    with pytest.raises(net.NetDeviceError, match="configure tap"):
        net.create_tap("trb0", master="tnb0", up=True)
    assert "trb0" not in names(ipr)


def test_plug_bridge_port_rolls_back_bridge_on_failure(ipr, test_netns):
    # A VLAN on a device that is not there fails after the bridge was made.
    with pytest.raises(net.NetDeviceError, match="no such device"):
        net.plug_bridge_port("trbr0", "trtap0", 1500, "tnophys", 101,
                             "vlan101", True)
    net.flush_deleted()
    assert not {"trbr0", "trtap0", "vlan101"} & names(ipr)


def test_plug_bridge_port_vlan(ipr, cleanup, kernel_8021q,
                               request):
    """Depends on the kernel (fixture ``kernel_8021q``): a VLAN device
    where it has 802.1Q, a clean refusal where it has not."""
    request.node.user_properties.append(("kernel_8021q", kernel_8021q))
    cleanup += ["tvbr0", "tph0", "tph0p", "vlan102"]
    net.create_veth_pair("tph0", "tph0p")
    if kernel_8021q:
        created = net.plug_bridge_port("tvbr0", None, 1400, "tph0", 102,
                                       "vlan102")
        assert list(created) == ["tvbr0", "vlan102"]
        vl = link(ipr, "vlan102")
        assert vl.get(("linkinfo", "data", "vlan_id")) == 102
        assert vl.get("link") == link(ipr, "tph0")["index"]
        assert vl.get("master") == link(ipr, "tvbr0")["index"]
        assert net.plug_bridge_port("tvbr0", None, 1400, "tph0", 102,
                                    "vlan102") == ()
    else:
        # No 802.1Q: the error names the device and the kernel's answer,
        # and the bridge this call created is gone again.
        with pytest.raises(net.NetDeviceError,
                           match="vlan102.*Operation not supported"):
            net.plug_bridge_port("tvbr0", None, 1400, "tph0", 102,
                                 "vlan102")
        net.flush_deleted()
        assert not {"tvbr0", "vlan102"} & names(ipr)


def test_fifty_concurrent_plugs(ipr, test_netns):
    net.ensure_bridge("tcbr0", mtu=1400)
    devs = [f"tc{i:02d}" for i in range(50)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def plug(i: int) -> None:
        try:
            barrier.wait()
            net.create_tap(devs[i], mac=f"fa:16:3e:00:01:{i:02x}", mtu=1400,
                           master="tcbr0", up=True)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=plug, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    br_idx = link(ipr, "tcbr0")["index"]
    ports = {m.get("ifname"): m for m in ipr.get_links(master=br_idx)}
    assert sorted(ports) == devs
    for i, dev in enumerate(devs):
        assert ports[dev].get("address") == f"fa:16:3e:00:01:{i:02x}"
        assert ports[dev].get("mtu") == 1400 and ports[dev]["flags"] & 1

    def unplug(i: int) -> None:
        try:
            barrier.wait()
            net.delete_net_devs([devs[i]])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=unplug, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    net.delete_net_devs(["tcbr0"])
    net.flush_deleted()
    left = names(ipr)
    assert not set(devs) & left and "tcbr0" not in left
    assert not [n for n in left if n.startswith(net.RETIRED_PREFIX)]


BAD_CALLS = [
    # interface names
    (net.create_tap, ("",), {}),
    (net.create_tap, ("a" * 16,), {}),
    (net.create_tap, ("é" * 8,), {}),           # 16 bytes in UTF-8
    (net.create_tap, ("a/b",), {}),
    (net.create_tap, ("a b",), {}),
    (net.create_tap, ("a\tb",), {}),
    (net.create_tap, ("a:1",), {}),
    (net.create_tap, ("a\0b",), {}),
    (net.create_tap, ("..",), {}),
    (net.create_tap, (7,), {}),
    (net.ensure_bridge, ("br/x",), {}),
    (net.add_bridge_port, ("tbr", "x y"), {}),
    (net.create_veth_pair, ("ok0", "bad:1"), {}),
    (net.create_veth_pair, ("same0", "same0"), {}),
    (net.delete_net_devs, (["ok0", "bad/x"],), {}),
    (net.delete_net_devs, ("notalist",), {}),
    (net.set_device_up, ("a" * 20,), {}),
    # MTU
    (net.create_tap, ("t0",), {"mtu": 67}),
    (net.create_tap, ("t0",), {"mtu": 65536}),
    (net.create_tap, ("t0",), {"mtu": "1500"}),
    (net.create_tap, ("t0",), {"mtu": True}),
    (net.set_device_mtu, ("t0", 0), {}),
    (net.ensure_bridge, ("b0",), {"mtu": -1}),
    (net.create_veth_pair, ("v0", "v1"), {"mtu": 70000}),
    # MAC
    (net.create_tap, ("t0",), {"mac": "01:00:5e:00:00:01"}),  # multicast
    (net.create_tap, ("t0",), {"mac": "ff:ff:ff:ff:ff:ff"}),  # broadcast
    (net.create_tap, ("t0",), {"mac": "00:00:00:00:00:00"}),
    (net.create_tap, ("t0",), {"mac": "fa:16:3e:00:00"}),
    (net.create_tap, ("t0",), {"mac": "fa-16-3e-00-00-01"}),
    (net.create_macvtap, ("m0", "lo", "vepa"), {"mac": "03:00:00:00:00:00"}),
    # other arguments
    (net.create_tap, ("t0",), {"owner": "no-such-user-here"}),
    (net.create_tap, ("t0",), {"multiqueue": "yes"}),
    (net.create_macvtap, ("m0", "lo", "private"), {}),
    (net.plug_bridge_port, ("b0", "t0", None, "eth9", 4095, "vlan4095"), {}),
    (net.flush_deleted, (), {"timeout": -1}),
]


@pytest.mark.parametrize("func,args,kwargs", BAD_CALLS,
                         ids=[f"{f.func.__name__}-{i}"
                              for i, (f, _, _) in enumerate(BAD_CALLS)])
def test_daemon_rejects_bad_arguments(ipr, func, args, kwargs):
    before = names(ipr)
    with pytest.raises(exceptions.InvalidArgument):
        func(*args, **kwargs)
    assert names(ipr) == before


def test_daemon_rejects_missing_source_device(ipr, test_netns):
    with pytest.raises(net.NetDeviceError, match="no such device"):
        net.create_macvtap("tm9", "tnosrc0", "vepa")
    with pytest.raises(net.NetDeviceError, match="no such device"):
        net.add_bridge_port("tnobr0", "lo")
    with pytest.raises(net.NetDeviceError, match="no such device"):
        net.create_tap("tm9", master="tnobr0")
    assert "tm9" not in names(ipr)


def test_new_daemon_adopts_devices_a_dead_daemon_retired(ipr, test_netns):
    """A device left renamed-but-undeleted (daemon died before its reaper
    ran) is deleted by the next daemon's reaper."""
    from os_vif_pref.testing import privsep as privsep_testing

    net.create_tap("tadopt0")
    idx = link(ipr, "tadopt0")["index"]
    # What _retire leaves behind, done by hand in a foreign group.
    ipr.link("set", index=idx, state="down")
    ipr.link("set", index=idx, ifname=f"{net.RETIRED_PREFIX}{idx}",
             group=12345)
    privsep_testing.stop_daemons()
    net.delete_net_devs(["tnothing0"])   # new daemon, reaper starts
    net.flush_deleted()
    assert f"{net.RETIRED_PREFIX}{idx}" not in names(ipr)
