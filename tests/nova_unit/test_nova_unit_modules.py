"""Nova's own unit tests for the code the Nova integration hooks.

``nova/tests/unit/network/test_neutron.py`` (binding requests: boot,
bind_ports_to_host, unbind, migration finish),
``nova/tests/unit/virt/libvirt/test_vif.py`` (the libvirt VIF driver's
get_config / plug / unplug) and, of ``nova/tests/unit/compute/
test_compute_mgr.py``, the tests of
``ComputeManager.check_can_live_migrate_destination`` (chosen by a
pattern in the list file, which says why the rest of that module is left
out) run, through the shared peer-suite runner, in child processes where
the setup hook (``tests/nova_unit/hooks.py``) has switched the integration
on, runtime hooks installed on the unmodified Nova, before Nova's test
modules load. Every loaded test must run and pass, except the tests listed
in ``tests/peer_lists/nova_unit_integration.txt`` with the reason each. A
test that starts passing, a new failure, a test that never ran, or a hook
that did not take effect (the hook's call counts, per test module) all
fail this test.

Non-interference is not all: in ``test_neutron.py``, whose tests build
Nova ``Instance`` objects and bind ports, the integration must have made
offers (``add_offer:offered``). The runtime hooks add the offer at Nova's
Neutron client, which most of those tests replace (``get_client``,
``_update_port``), so here one request gets one (in
``TestAllocateForInstance.test_update_ports_for_instance_with_portbinding``,
which does not assert that request and passes); on the patched Nova, which
adds it where Nova builds the request, 23 tests see it
(``test_contrib_nova.py``).
"""

from __future__ import annotations

from pathlib import Path

from tests import peer_suite
from tests.nova_unit import hooks

NEUTRON = "nova.tests.unit.network.test_neutron"
VIF = "nova.tests.unit.virt.libvirt.test_vif"
COMPUTE_MGR = "nova.tests.unit.compute.test_compute_mgr"
MODULES = [NEUTRON, VIF, COMPUTE_MGR]
#: Every test loaded that the list file does not exclude: test_neutron's
#: 390, test_vif's 81, and the 9 check_can_live_migrate_destination tests
#: of test_compute_mgr (its other 632 are excluded by the list file).
MIN_RAN = 480
SETUP = "tests.nova_unit.hooks:integration_on"


def test_nova_unit_modules_with_integration(tmp_path: Path) -> None:
    # Two shards: 75-145 s wall on the shared 2 vCPUs (load 2-4).
    outcomes = peer_suite.run("nova_unit_integration", MODULES, setup=SETUP,
                              shards=2, timeout=600, workdir=tmp_path)
    peer_suite.check(outcomes, min_ran=MIN_RAN)
    reports = outcomes.report_values(SETUP)
    assert len(reports) == 2, outcomes.reports
    per_module = hooks.module_totals(reports)
    # The runtime hooks were entered from Nova's code under test, in each
    # module: the binding checks and unbinding, and offers made, in
    # test_neutron; every test_vif get_config/plug/unplug; the live-
    # migration destination check (its tests mock the VIF list empty, so
    # it has no port to put an offer on).
    neutron = per_module[NEUTRON]
    assert neutron["add_offer:offered"] > 0, per_module
    assert neutron["remove_offer"] > 0 and neutron["check_bound_port"] > 0
    assert per_module[VIF]["checked_vif"] >= 80, per_module
    assert per_module[COMPUTE_MGR]["destination_profiles"] > 0, per_module
