"""Nova's own tests of its converter, run against our drop-in.

``nova/tests/unit/network/test_os_vif_util.py`` (38 tests, all pass stock)
runs in a child process with ``nova.network.os_vif_util``'s conversion
functions replaced by :mod:`os_vif_pref.nova.dropin`
(:func:`tests.compat.nova_hook.install`).  The intended differences are
listed, with their reasons, in ``tests/peer_lists/nova-os-vif-util.txt``;
a listed test that starts passing, or any other failure, fails this test.
"""

from __future__ import annotations

import pytest

from tests import peer_suite

pytestmark = pytest.mark.nova_compat


def test_nova_os_vif_util_against_the_dropin() -> None:
    outcomes = peer_suite.run(
        "nova-os-vif-util", ["nova.tests.unit.network.test_os_vif_util"],
        setup="tests.compat.nova_hook:install", shards=1, timeout=300)
    peer_suite.check(outcomes, min_ran=38)
