"""Nova's own code against our drop-in, in one child process.

- Nova's ``nova/tests/unit/network/test_os_vif_util.py`` (38 tests, all pass
  stock) with ``nova.network.os_vif_util``'s conversion functions replaced
  by :mod:`os_vif_pref.nova.dropin` (:func:`tests.compat.nova_hook.install`);
- ``tests/compat/nova_libvirt_render.py``: Nova's real libvirt VIF driver
  renders every catalogue entry offered under libvirt (and refuses the
  ones the ``virt_vif`` probe refuses).

Both are unittest modules on Nova's test base, so they run through the
shared peer runner; one child for both saves a second Nova start-up.  The
intended differences are listed, with their reasons, in
``tests/peer_lists/nova-os-vif-util.txt``; a listed test that starts
passing, or any other failure, fails this test.
"""

from __future__ import annotations

import pytest

from tests import peer_suite

pytestmark = pytest.mark.nova_compat


def test_nova_os_vif_util_and_libvirt_against_the_dropin() -> None:
    outcomes = peer_suite.run(
        "nova-os-vif-util", ["nova.tests.unit.network.test_os_vif_util",
                             "tests.compat.nova_libvirt_render"],
        setup="tests.compat.nova_hook:install", shards=1, timeout=300)
    peer_suite.check(outcomes, min_ran=40)
