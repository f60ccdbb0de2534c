"""Functional-test fixtures: a private network namespace per session.

The logic lives in :mod:`os_vif_pref.testing` (the demo command uses it too);
this file only adapts it to pytest.  ``test_netns`` moves the test process
into a fresh namespace before any privsep or OVS daemon starts, so those
inherit it; at the end it stops the privsep daemons, comes back and deletes
the namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
import errno

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
import pytest

from os_vif_pref.linux import net
from os_vif_pref.testing import netns as netns_testing


@pytest.fixture(scope="session")
def test_netns() -> Iterator[str]:
    ns = netns_testing.TestNetns().open()
    try:
        yield ns.name
    finally:
        ns.close()


@pytest.fixture
def netns_factory() -> Iterator[netns_testing.NetnsFactory]:
    factory = netns_testing.NetnsFactory()
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def ipr(test_netns: str) -> Iterator[IPRoute]:
    """A netlink socket in the session's test namespace."""
    with IPRoute() as sock:
        yield sock


@pytest.fixture
def cleanup(test_netns: str) -> Iterator[list[str]]:
    """Devices a test creates; removed (and reaped) afterwards."""
    devs: list[str] = []
    yield devs
    net.delete_net_devs(devs)
    net.flush_deleted()


@pytest.fixture(scope="session")
def kernel_8021q(test_netns: str) -> bool:
    """Whether this kernel creates 802.1Q VLAN devices (8021q built in or
    loadable), asked of the kernel directly rather than through our code.

    The VLAN plug tests depend on it, explicitly: with 802.1Q they check
    the VLAN device, without it that the plug is refused naming the cause
    and leaves nothing behind (CI's kernel has no 802.1Q; the creating path
    is checked on every kernel against a fake rtnetlink in
    ``tests/unit/test_linux_net.py``). Each test records which it checked
    in its ``user_properties`` (``kernel_8021q``).
    """
    with IPRoute() as ipr:
        ipr.link("add", ifname="tvlprobe", kind="veth", peer="tvlprobe1")
        try:
            ipr.link("add", ifname="tvlprobe.1", kind="vlan", vlan_id=1,
                     link=ipr.link_lookup(ifname="tvlprobe")[0])
            return True
        except NetlinkError as exc:
            if exc.code != errno.EOPNOTSUPP:
                raise
            return False
        finally:
            ipr.link("del", ifname="tvlprobe")
