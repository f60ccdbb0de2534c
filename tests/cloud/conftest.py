"""The one-machine cloud for tests/cloud: started once, run in modes, stopped.

One cloud serves every scenario (starting it is the expensive part).  A
scenario runs in a *mode*: which Neutron driver and whether the Nova
integration is on.  Scenarios are parametrized by mode and reordered so that
each mode's tests run together; switching restarts only the services whose
configuration changed.  Each mode has a peer guest (at :data:`PEER_IP`)
that pings the scenario guests' fixed addresses
(:data:`GUEST_IPS`), so "both ways" is read on two consoles.

The cloud runs in the network namespace pytest started in (the functional
tests move the process into one of their own) and is stopped when the
package's last test is done: ``down`` must leave no process, link, socket
directory, mount or DPDK file behind, and the teardown asserts it.

``OS_VIF_PREF_CLOUD_DIR=DIR`` runs the scenarios against a cloud already up
in DIR (``python -m os_vif_pref.testing.cloud up --dir DIR``) and leaves it
running: for working on a scenario without paying the start each time.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import shutil

from pyroute2 import netns
import pytest

from os_vif_pref.testing.cloud import guests, launcher
from os_vif_pref.testing.cloud.layout import Settings
from tests import conftest as root_conftest

#: The modes, in the order they run (each switch restarts what changed).
MODES: dict[str, dict[str, object]] = {
    # os-vif-pref on both ends, as the installation guide sets it up.
    "ours": {"neutron_driver": "pref_openvswitch", "nova_integration": True,
             "preference_order": ""},
    # ... with the operator's preference for plain ovs on this host.
    "ours_prefer_ovs": {"neutron_driver": "pref_openvswitch",
                        "nova_integration": True, "preference_order": "ovs"},
    # a new Nova with an old Neutron (stock openvswitch driver).
    "old_neutron": {"neutron_driver": "openvswitch", "nova_integration": True,
                    "preference_order": ""},
    # neither: Nova and Neutron as shipped.
    "stock": {"neutron_driver": "openvswitch", "nova_integration": False,
              "preference_order": ""},
    # an old Nova (integration off) with the new Neutron driver.
    "old_nova": {"neutron_driver": "pref_openvswitch",
                 "nova_integration": False, "preference_order": ""},
}

PEER_IP = "203.0.113.5"
#: The scenario guests' addresses, which every peer pings.
GUEST_IPS = ("203.0.113.21", "203.0.113.22")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run each mode's tests together, modes in :data:`MODES` order."""
    order = list(MODES)

    def key(item: pytest.Item) -> tuple[int, int]:
        callspec = getattr(item, "callspec", None)
        mode = callspec.params.get("mode") if callspec else None
        return (order.index(mode) + 1 if mode in MODES else 0, 0)

    cloud_items = [i for i in items if "tests/cloud/" in i.nodeid]
    if not cloud_items:
        return
    first = items.index(cloud_items[0])
    rest = [i for i in items if i not in cloud_items]
    cloud_items.sort(key=key)
    items[:] = rest[:first] + cloud_items + rest[first:]


@contextlib.contextmanager
def home_namespace() -> Iterator[None]:
    """Be in the namespace pytest started in (the cloud's: 127.0.0.1)."""
    current = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        netns.setns(root_conftest._HOME_NETNS)
        yield
    finally:
        netns.setns(current)
        os.close(current)


class ModeState:
    """The cloud's current mode and the guests booted for it."""

    def __init__(self, cloud: launcher.Cloud) -> None:
        self.cloud = cloud
        self.mode = "ours"
        self.peer: guests.Guest | None = None

    def switch(self, mode: str) -> None:
        if mode == self.mode:
            return
        self.drop_peer()
        self.cloud.reconfigure(**MODES[mode])
        self.mode = mode

    def drop_peer(self) -> None:
        if self.peer is not None:
            guests.delete(self.cloud, self.peer)
            self.peer = None

    def ensure_peer(self) -> guests.Guest:
        if self.peer is None:
            # A peer the mode can give traffic: where ours binds a server
            # without hugepages as ovs, a tap; elsewhere (stock binds
            # vhost-user, which needs shared memory) a hugepages server.
            hugepages = self.mode not in ("ours", "ours_prefer_ovs")
            self.peer = guests.boot(self.cloud, f"peer-{self.mode}", PEER_IP,
                                    peers=GUEST_IPS, hugepages=hugepages)
            guests.wait_console(self.cloud, self.peer, r"^GUEST READY",
                                timeout=180)
        return self.peer


@pytest.fixture(scope="package")
def cloud(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[launcher.Cloud]:
    existing = os.environ.get("OS_VIF_PREF_CLOUD_DIR")
    with home_namespace():
        if existing:
            c = launcher.Cloud.attach(Path(existing))
            c.reconfigure(**MODES["ours"])
            yield c
            return
        root = tmp_path_factory.mktemp("cloud")
        # Two hosts (test_two_hosts.py); compute2 stays disabled while
        # the one-host scenarios run.
        c = launcher.up(root, settings=Settings(**MODES["ours"]), hosts=2)
    try:
        yield c
    finally:
        with home_namespace():
            sock_dir = c.lay.sock_dir
            launcher.down(root)
            left = launcher.leftovers(c.lay)
            shutil.rmtree(root, ignore_errors=True)
        assert not left, f"left behind by the cloud: {left}"
        assert not sock_dir.exists()


@pytest.fixture(scope="package")
def modes(cloud: launcher.Cloud) -> Iterator[ModeState]:
    state = ModeState(cloud)  # the cloud fixture left it in "ours"
    try:
        yield state
    finally:
        with home_namespace():
            state.drop_peer()


@pytest.fixture
def mode(request: pytest.FixtureRequest, modes: ModeState) -> Iterator[str]:
    """The scenario's mode (indirect parameter), switched to if needed."""
    name = request.param
    with home_namespace():
        modes.switch(name)
        yield name


@pytest.fixture
def peer(modes: ModeState, mode: str) -> guests.Guest:
    """This mode's peer guest (booted on first use)."""
    del mode
    with home_namespace():
        return modes.ensure_peer()


@pytest.fixture(autouse=True)
def _in_home_namespace(request: pytest.FixtureRequest) -> Iterator[None]:
    with home_namespace():
        yield
