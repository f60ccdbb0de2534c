"""Nova's own unit tests for the code the Nova integration hooks.

``nova/tests/unit/network/test_neutron.py`` (binding requests: boot,
bind_ports_to_host, unbind) and ``nova/tests/unit/virt/libvirt/test_vif.py``
(the libvirt VIF driver's get_config / plug / unplug) run, through the
shared peer-suite runner, in child processes where the setup hook has
switched the integration on before Nova's test modules load. They must all
pass, except the tests listed in ``tests/peer_lists/nova_unit_integration.txt``
with the reason each (those that assert the exact binding request body,
which now carries the offer). A test that starts passing, a new failure,
or a hook that did not take effect (the listed tests would pass) all fail
this test.
"""

from __future__ import annotations

from pathlib import Path

from tests import peer_suite

MODULES = [
    "nova.tests.unit.network.test_neutron",   # 390 tests
    "nova.tests.unit.virt.libvirt.test_vif",  # 81 tests
]
#: Fewer than this means a module did not load (or lost tests upstream).
MIN_RAN = 460
#: The child's setup hook (tests/nova_unit/hooks.py).
SETUP = None


def test_nova_unit_modules_with_integration(tmp_path: Path) -> None:
    # Two shards: ~80 s wall on 2 vCPUs (about twice that in one process).
    outcomes = peer_suite.run("nova_unit_integration", MODULES, setup=SETUP,
                              shards=2, timeout=480, workdir=tmp_path)
    peer_suite.check(outcomes, min_ran=MIN_RAN)
