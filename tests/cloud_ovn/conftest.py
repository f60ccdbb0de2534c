"""The one-machine cloud on ML2/OVN, for tests/cloud_ovn.

The same cloud as tests/cloud (``up --backend ovn``): OVN's databases,
ovn-northd and ovn-controller on the DPDK host replace the Open vSwitch
agent, and the guests take their addresses from OVN's DHCP.  Only what
differs from the agent back end runs here (doc/source/reference/cloud.rst
says which scenario runs on which back end); the machinery is
tests/cloud's, imported: the home namespace, the per-mode peer guest.

Modes: ``ours`` (``pref_ovn`` and the Nova integration, the installation
guide's ML2/OVN block), ``old_neutron`` (stock ``ovn``, integration on)
and ``stock`` (``ovn``, integration off).  The cloud is started once for
the package and stopped after its last test; the teardown asserts that
``down`` left nothing behind.

``OS_VIF_PREF_OVN_CLOUD_DIR=DIR`` runs the scenarios against a cloud
already up in DIR (``python -m os_vif_pref.testing.cloud up --dir DIR
--backend ovn``) and leaves it running.
"""

from __future__ import annotations

from collections.abc import Iterator
import os
from pathlib import Path
import shutil

import pytest

from os_vif_pref.testing.cloud import guests, launcher
from os_vif_pref.testing.cloud.layout import Settings
from tests.cloud.conftest import ModeState, home_namespace

#: The modes, in the order they run (each switch restarts what changed).
MODES: dict[str, dict[str, object]] = {
    "ours": {"neutron_driver": "pref_ovn", "nova_integration": True,
             "preference_order": ""},
    "old_neutron": {"neutron_driver": "ovn", "nova_integration": True,
                    "preference_order": ""},
    "stock": {"neutron_driver": "ovn", "nova_integration": False,
              "preference_order": ""},
}

_HERE = "tests/cloud_ovn/"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each mode's tests together, in :data:`MODES` order; the checks of
    the whole run (no mode) last."""
    order = list(MODES)

    def key(item: pytest.Item) -> int:
        callspec = getattr(item, "callspec", None)
        mode = callspec.params.get("mode") if callspec else None
        if mode in MODES:
            return order.index(mode) + 1
        return 0 if "cloud" not in item.fixturenames else len(order) + 1

    ours = [i for i in items if _HERE in i.nodeid]
    if not ours:
        return
    first = items.index(ours[0])
    rest = [i for i in items if i not in ours]
    ours.sort(key=key)
    items[:] = rest[:first] + ours + rest[first:]


class OVNModeState(ModeState):
    """tests/cloud's mode state with this back end's modes, and guests kept
    between scenarios of one mode (booting is what costs: the security
    group and router checks reuse the guest the no-hugepages scenario
    booted)."""

    def __init__(self, cloud: launcher.Cloud) -> None:
        super().__init__(cloud)
        self.kept: dict[str, guests.Guest] = {}

    def switch(self, mode: str) -> None:
        if mode == self.mode:
            return
        self.drop_kept()
        self.drop_peer()
        self.cloud.reconfigure(**MODES[mode])
        self.mode = mode

    def drop_kept(self) -> None:
        while self.kept:
            _, guest = self.kept.popitem()
            guests.delete(self.cloud, guest)


@pytest.fixture(scope="package")
def cloud(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[launcher.Cloud]:
    existing = os.environ.get("OS_VIF_PREF_OVN_CLOUD_DIR")
    with home_namespace():
        if existing:
            c = launcher.Cloud.attach(Path(existing))
            assert c.lay.settings.backend == "ovn", (
                f"{existing} runs the {c.lay.settings.backend} back end")
            c.reconfigure(**MODES["ours"])
            yield c
            return
        root = tmp_path_factory.mktemp("cloud-ovn")
        c = launcher.up(root, settings=Settings(backend="ovn",
                                                **MODES["ours"]))
    try:
        yield c
    finally:
        with home_namespace():
            sock_dir = c.lay.sock_dir
            launcher.down(root)
            left = launcher.leftovers(c.lay)
            shutil.rmtree(root, ignore_errors=True)
        assert not left, f"left behind by the OVN cloud: {left}"
        assert not sock_dir.exists()


@pytest.fixture(scope="package")
def modes(cloud: launcher.Cloud) -> Iterator[OVNModeState]:
    state = OVNModeState(cloud)  # the cloud fixture left it in "ours"
    try:
        yield state
    finally:
        with home_namespace():
            try:
                state.drop_kept()
            finally:
                state.drop_peer()


@pytest.fixture
def mode(request: pytest.FixtureRequest, modes: OVNModeState
         ) -> Iterator[str]:
    """The scenario's mode (indirect parameter), switched to if needed."""
    name = request.param
    with home_namespace():
        modes.switch(name)
        yield name


@pytest.fixture
def peer(modes: OVNModeState, mode: str) -> guests.Guest:
    """This mode's peer guest (booted on first use)."""
    del mode
    with home_namespace():
        return modes.ensure_peer()


@pytest.fixture(autouse=True)
def _in_home_namespace() -> Iterator[None]:
    with home_namespace():
        yield
