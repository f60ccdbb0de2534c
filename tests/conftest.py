"""Fixtures for every test directory."""

from __future__ import annotations

from collections.abc import Iterator
import os

from pyroute2 import netns
import pytest

#: The network namespace pytest started in, opened before any functional
#: fixture moves the process into its test namespace (which has no route
#: to the package registries).
_HOME_NETNS = os.open("/proc/self/ns/net", os.O_RDONLY)


@pytest.fixture(scope="session", autouse=True)
def private_lock_path(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Per-port lock files of this test session go to its own directory.

    A default, not an override: tests that point lock_path elsewhere (the
    disk-full test) and clear their override come back to this directory.
    """
    from oslo_config import cfg

    from os_vif_pref import locking

    cfg.CONF.set_default("lock_path", str(tmp_path_factory.mktemp("locks")),
                         group=locking.GROUP)


@pytest.fixture
def home_netns() -> Iterator[None]:
    """Run the test (and what it spawns) in the namespace pytest started in.

    The functional tests' session namespace stays entered until the session
    ends; a test that needs the outside network (installing a wheel's
    dependencies) steps out for its duration and back in afterwards.
    """
    current = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        netns.setns(_HOME_NETNS)
        yield
    finally:
        netns.setns(current)
        os.close(current)
