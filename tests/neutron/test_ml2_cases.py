"""Our ML2 drivers on real Neutron (tests/neutron/cases_ml2_*.py).

The cases use Neutron's own unit-test bases (real ``Ml2Plugin`` on sqlite,
the REST test client, agents registered with Neutron's helpers, the OVN
driver's fakes).  Importing ``neutron.tests.unit`` selects oslo.service's
threading backend for the whole process, and Nova, imported by other
modules of this suite, selects eventlet; one process cannot hold both.  So
the cases run through the shared peer-suite runner in child processes, like
Nova's functional cases (tests/nova).  Every case must pass: the list file
``tests/peer_lists/neutron-ml2-cases.txt`` is empty on purpose, and a
minimum number must have run, so an import error cannot pass as "nothing
failed".
"""

from __future__ import annotations

from pathlib import Path

from tests import peer_suite

CASES = ["tests.neutron.cases_ml2_openvswitch", "tests.neutron.cases_ml2_ovn"]
#: Every case of the two modules (stock and ours, OVS, trunk and OVN).
MIN_RAN = 56


def test_ml2_cases_on_real_neutron(tmp_path: Path) -> None:
    outcomes = peer_suite.run("neutron-ml2-cases", CASES, shards=2,
                              timeout=480, workdir=tmp_path)
    peer_suite.check(outcomes, min_ran=MIN_RAN)
