"""linux/net.py without a kernel: every privileged function is an
entrypoint of our one context, and validates before touching anything."""

from __future__ import annotations

from unittest import mock

import pytest

from os_vif_pref import privsep
from os_vif_pref.exceptions import InvalidArgument
from os_vif_pref.linux import net

PRIVILEGED = ["create_tap", "create_veth_pair", "ensure_bridge",
              "add_bridge_port", "delete_net_devs", "flush_deleted",
              "set_device_mtu", "set_device_up", "detach_from_bridge",
              "plug_bridge_port", "create_macvtap", "daemon_pid"]


@pytest.mark.parametrize("name", PRIVILEGED)
def test_is_entrypoint_of_our_context(name):
    assert privsep.vif_plug.is_entrypoint(getattr(net, name))


def test_device_exists_is_unprivileged():
    assert not privsep.vif_plug.is_entrypoint(net.device_exists)
    assert net.device_exists("lo")
    assert not net.device_exists("nosuchdev0")


def test_context_keeps_only_net_admin():
    from oslo_privsep import capabilities as caps
    assert list(privsep.vif_plug.conf.capabilities) == [caps.CAP_NET_ADMIN]
    assert privsep.vif_plug.cfg_section == "os_vif_pref_privileged"


@pytest.fixture
def in_process():
    """Run entrypoints locally; any netlink or ioctl use fails the test."""
    privsep.vif_plug.set_client_mode(False)
    boom = mock.Mock(side_effect=AssertionError("touched the kernel"))
    with mock.patch.object(net, "_ipr", boom), \
            mock.patch.object(net, "_index", boom), \
            mock.patch.object(net.os, "open", boom):
        yield
    privsep.vif_plug.set_client_mode(True)


@pytest.mark.parametrize("call", [
    lambda: net.create_tap("bad name"),
    lambda: net.create_tap("t0", mtu=10),
    lambda: net.create_tap("t0", mac="01:00:00:00:00:01"),
    lambda: net.create_tap("t0", owner=-1),
    lambda: net.create_tap("t0", master="a:b"),
    lambda: net.create_veth_pair("v0", "v0"),
    lambda: net.ensure_bridge("b" * 16),
    lambda: net.add_bridge_port("b0", "x/y"),
    lambda: net.delete_net_devs(["ok", ""]),
    lambda: net.set_device_mtu("t0", 100000),
    lambda: net.set_device_up("t\0"),
    lambda: net.detach_from_bridge(" "),
    lambda: net.create_macvtap("m0", "eth0", "private"),
    lambda: net.create_macvtap("m0", "m0", "vepa"),
    lambda: net.plug_bridge_port("b0", None, None, None, None, None, True),
    lambda: net.plug_bridge_port("b0", "t0", None, "eth0", 0, "vlan0"),
    lambda: net.flush_deleted(timeout=0),
])
def test_validation_happens_before_kernel_access(in_process, call):
    with pytest.raises(InvalidArgument):
        call()


# --------------------------------------------------------------------------
# The VLAN path of plug_bridge_port on every kernel: CI's kernel has no
# 802.1Q (tests/functional check the clean refusal there), so the creating
# path runs here against a fake rtnetlink that does what the kernel's does
# for these requests.

class _Msg(dict):
    """A link message: ``get`` takes pyroute2's attribute paths."""

    def get(self, key, default=None):
        return super().get(key, default)


class FakeRtnetlink:
    """Links by name: ``link("add" | "set" | "get")``, ``get_links``."""

    def __init__(self, *physical: str) -> None:
        self.links: dict[str, dict] = {}
        self.requests: list[tuple[str, dict]] = []
        for name in physical:
            self._new(name, None)

    def _new(self, name: str, kind: str | None, **attrs) -> None:
        self.links[name] = {"index": 10 + len(self.links), "kind": kind,
                            **attrs}

    def index(self, name: str) -> int | None:
        return self.links[name]["index"] if name in self.links else None

    def _by_index(self, index: int) -> tuple[str, dict]:
        return next((n, a) for n, a in self.links.items()
                    if a["index"] == index)

    def link(self, command: str, **kwargs):
        self.requests.append((command, dict(kwargs)))
        if command == "add":
            name, kind = kwargs.pop("ifname"), kwargs.pop("kind")
            if kind == "vlan":
                self._by_index(kwargs["link"])  # the lower device exists
            self._new(name, kind, **kwargs)
            return [_Msg()]
        name, attrs = self._by_index(kwargs.pop("index"))
        if command == "set":
            attrs.update(kwargs)
            return [_Msg()]
        assert command == "get", command
        msg = _Msg({"ifname": name, ("linkinfo", "kind"): attrs["kind"]})
        for key in ("link", "master", "mtu", "state"):
            if key in attrs:
                msg[key] = attrs[key]
        if "vlan_id" in attrs:
            msg[("linkinfo", "data", "vlan_id")] = attrs["vlan_id"]
        return [msg]

    def get_links(self, master=None):
        return [_Msg(ifname=n) for n, a in self.links.items()
                if a.get("master") == master]


@pytest.fixture
def rtnetlink():
    """The entrypoints run in this process against the fake."""
    fake = FakeRtnetlink("tph0")
    privsep.vif_plug.set_client_mode(False)
    with mock.patch.object(net, "_ipr", return_value=fake), \
            mock.patch.object(net, "_index", side_effect=fake.index):
        yield fake
    privsep.vif_plug.set_client_mode(True)


def test_vlan_bridge_port_is_created_on_the_mapped_interface(rtnetlink):
    created = net.plug_bridge_port("tvbr0", None, 1400, "tph0", 102,
                                   "vlan102")
    assert created == ["tvbr0", "vlan102"]
    phys, bridge = rtnetlink.index("tph0"), rtnetlink.index("tvbr0")
    # One request for the bridge and one for the VLAN device, which is
    # created already enslaved and up.
    assert rtnetlink.requests == [
        ("add", {"ifname": "tvbr0", "kind": "bridge", "br_stp_state": 0,
                 "br_forward_delay": 0, "state": "up", "mtu": 1400}),
        ("add", {"ifname": "vlan102", "kind": "vlan", "link": phys,
                 "vlan_id": 102, "master": bridge, "state": "up",
                 "mtu": 1400})]
    vlan = rtnetlink.links["vlan102"]
    assert (vlan["kind"], vlan["link"], vlan["vlan_id"], vlan["master"]) == (
        "vlan", phys, 102, bridge)


def test_vlan_bridge_port_plug_converges(rtnetlink):
    net.plug_bridge_port("tvbr0", None, 1400, "tph0", 102, "vlan102")
    rtnetlink.requests.clear()
    rtnetlink.links["vlan102"]["master"] = None  # detached meanwhile
    assert net.plug_bridge_port("tvbr0", None, 1400, "tph0", 102,
                                "vlan102") == []
    assert [r[0] for r in rtnetlink.requests] == ["set", "get", "set"]
    assert rtnetlink.links["vlan102"]["master"] == rtnetlink.index("tvbr0")


@pytest.mark.parametrize("existing", [
    {"kind": "vlan", "vlan_id": 101},   # another VLAN under that name
    {"kind": "vlan", "vlan_id": 102, "link": 99},  # on another interface
    {"kind": "veth"},                    # not a VLAN at all
])
def test_vlan_name_taken_by_another_device_is_refused(rtnetlink, existing):
    net.ensure_bridge("tvbr0", 1400)
    existing.setdefault("link", rtnetlink.index("tph0"))
    rtnetlink._new("vlan102", **existing)
    before = dict(rtnetlink.links["vlan102"])
    rtnetlink.requests.clear()
    with pytest.raises(net.NetDeviceError,
                       match="vlan102.*exists but is not VLAN 102 on tph0"):
        net.plug_bridge_port("tvbr0", None, 1400, "tph0", 102, "vlan102")
    assert rtnetlink.links["vlan102"] == before  # left alone
    assert not [r for r in rtnetlink.requests if r[0] == "add"]
