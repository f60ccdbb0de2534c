"""Neutron's own mechanism-driver test modules, run against our drivers.

Through the shared runner (tests/peer_suite.py): each child replaces
Neutron's stock driver class by ours before the tests load
(tests/neutron/peer_hooks.py) and reports how many driver instances it
made and what the negotiation decided, so a run that silently used the
stock class cannot pass.  Each suite runs as Neutron wrote it (no offer:
our drivers must be the stock ones), and its binding tests also with an
offer of every catalogue entry in every port that is bound (every binding
then goes through the whole negotiation and must still be the one the test
expects).

The OVN module runs whole (709 tests, ~3.3 min on 2 workers): its two
tests Neutron itself skips are listed in tests/peer_lists/neutron-ovn.txt
with Neutron's reason.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import peer_suite

OVS = ("neutron.tests.unit.plugins.ml2.drivers.openvswitch.mech_driver."
       "test_mech_openvswitch")
OVN = "neutron.tests.unit.plugins.ml2.drivers.ovn.mech_driver.test_mech_driver"


def ovn_bind_tests() -> list[str]:
    """Where an offer changes anything: the module's ``test_bind*`` tests
    (the ones that call ``bind_port`` on the driver's fakes).

    Listed in a child process: importing ``neutron.tests.unit`` selects
    oslo.service's threading backend, which this pytest process cannot
    take once Nova (imported by other test modules) has selected eventlet.
    """
    code = (
        "import json\n"
        "from neutron.tests.unit.plugins.ml2.drivers.ovn.mech_driver "
        "import test_mech_driver as m\n"
        "cls = m.TestOVNMechanismDriver\n"
        "print(json.dumps(sorted(n for n in dir(cls) "
        "if n.startswith('test_bind'))))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True, timeout=300)
    names = json.loads(out.stdout.strip().splitlines()[-1])
    return [f"{OVN}.TestOVNMechanismDriver.{name}" for name in names]


HOOKS = "tests.neutron.peer_hooks"


def _run_and_check(name: str, targets: list[str], hook: str, *,
                   min_ran: int, negotiated: bool, shards: int = 2) -> None:
    """Run ``targets`` with ``hook``; compare with the list file ``name``;
    check from the hook's report that our driver class was the one used
    and whether the negotiation decided anything."""
    outcomes = peer_suite.run(name, targets, setup=f"{HOOKS}:{hook}",
                              shards=shards, timeout=900)
    peer_suite.check(outcomes, min_ran=min_ran)
    reports = outcomes.report_values(f"{HOOKS}:{hook}")
    assert reports, outcomes.summary()
    assert sum(r["instances"] for r in reports) >= 1, reports
    if negotiated:
        assert sum(r["negotiated"] for r in reports) >= 10, reports
    else:
        assert sum(r["negotiated"] + r["refused"]
                   for r in reports) == 0, reports


@pytest.mark.parametrize("hook,negotiated", [
    ("use_pref_openvswitch", False),
    ("use_pref_openvswitch_with_offer", True)])
def test_neutron_ovs_driver_module(hook: str, negotiated: bool) -> None:
    # One list file per run: with an offer one test differs on purpose.
    _run_and_check("neutron-ovs-offer" if negotiated else "neutron-ovs",
                   [OVS], hook, min_ran=50, negotiated=negotiated)


def test_neutron_ovn_driver_module() -> None:
    _run_and_check("neutron-ovn", [OVN], "use_pref_ovn",
                   min_ran=709, negotiated=False)


def test_neutron_ovn_driver_bind_tests_with_offer() -> None:
    tests = ovn_bind_tests()
    assert len(tests) >= 17, tests
    # One child: for 20 tests, a second one would mostly repeat the imports.
    _run_and_check("neutron-ovn-offer", tests, "use_pref_ovn_with_offer",
                   min_ran=len(tests), negotiated=True, shards=1)
