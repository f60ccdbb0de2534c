"""Nova's own unit tests for the code the Nova integration hooks.

``nova/tests/unit/network/test_neutron.py`` (binding requests: boot,
bind_ports_to_host, unbind, migration finish) and
``nova/tests/unit/virt/libvirt/test_vif.py`` (the libvirt VIF driver's
get_config / plug / unplug) run, through the shared peer-suite runner, in
child processes where the setup hook (``tests/nova_unit/hooks.py``) has
switched the integration on, runtime hooks installed on the unmodified
Nova, before Nova's test modules load. They must all pass, except the
tests listed in ``tests/peer_lists/nova_unit_integration.txt`` with the
reason each. A test that starts passing, a new failure, or a hook that did
not take effect (the hook's call counts) all fail this test.

None is listed today: the runtime hooks add the offer at the Neutron
client (``update_port``), below the ``_update_port`` /
``_populate_neutron_extension_values`` level whose request bodies Nova's
tests assert, and the tests that reach it use mocks or dicts as instances,
for which the integration declines to make an offer (logged) and binds
as stock; the tests' VIFs carry no offer, so ``checked_vif`` hands every
one back to Nova's own path.
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
SETUP = "tests.nova_unit.hooks:integration_on"


def test_nova_unit_modules_with_integration(tmp_path: Path) -> None:
    # Two shards: ~80 s wall on 2 vCPUs (about twice that in one process).
    outcomes = peer_suite.run("nova_unit_integration", MODULES, setup=SETUP,
                              shards=2, timeout=480, workdir=tmp_path)
    peer_suite.check(outcomes, min_ran=MIN_RAN)
    reports = outcomes.report_values(SETUP)
    assert len(reports) == 2, outcomes.reports
    total = {key: sum(r.get(key, 0) for r in reports)
             for key in ("remove_offer", "checked_vif", "check_bound_port")}
    # The runtime hooks were entered from Nova's code under test: every
    # test_vif get_config/plug/unplug, every unbind, the binding checks.
    assert total["checked_vif"] >= 80, (total, reports)
    assert all(total.values()), (total, reports)
