"""The Nova integration in Nova's functional harness (tests/nova/nova_cases).

Nova's functional tests are unittest-based and patch the process for good
(eventlet, oslo.config, ``os_vif.initialize``), so the cases run through
the shared peer-suite runner in child processes; every case must pass
(the list file ``tests/peer_lists/nova_functional_integration.txt`` is
empty on purpose) and a minimum number must have run, so an import error
cannot pass as "nothing failed".

``OS_VIF_PREF_NOVA_HOOKS`` is passed through: ``contrib`` runs the same
cases against a Nova carrying the contrib patch (see tests/nova/harness).
"""

from __future__ import annotations

import os
from pathlib import Path

from tests import peer_suite

CASES = ["tests.nova.nova_cases"]
#: Every case of nova_cases.py.
MIN_RAN = 13


def test_nova_functional_with_integration(tmp_path: Path) -> None:
    env = {"OS_VIF_PREF_NOVA_HOOKS":
           os.environ.get("OS_VIF_PREF_NOVA_HOOKS", "runtime")}
    outcomes = peer_suite.run(
        "nova_functional_integration", CASES, shards=2, timeout=300,
        preimport=["nova.tests.functional"], env=env, workdir=tmp_path)
    peer_suite.check(outcomes, min_ran=MIN_RAN)
