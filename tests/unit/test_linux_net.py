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
