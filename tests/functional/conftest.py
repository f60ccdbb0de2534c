"""Functional-test fixtures: a private network namespace per session.

The logic lives in :mod:`os_vif_pref.testing` (the demo command uses it too);
this file only adapts it to pytest.  ``test_netns`` moves the test process
into a fresh namespace before any privsep or OVS daemon starts, so those
inherit it; at the end it stops the privsep daemons, comes back and deletes
the namespace.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
