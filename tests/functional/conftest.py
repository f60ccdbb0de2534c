"""Functional-test fixtures: a private network namespace per session.

The logic lives in :mod:`os_vif_pref.testing` (the demo command uses it too);
this file only adapts it to pytest.  ``test_netns`` moves the test process
into a fresh namespace before any privsep or OVS daemon starts, so those
inherit it; at the end it stops the privsep daemons, comes back and deletes
the namespace.
"""

from __future__ import annotations

from collections.abc import Iterator

from pyroute2 import IPRoute
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
