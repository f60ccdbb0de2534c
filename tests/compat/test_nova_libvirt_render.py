"""Every catalogue entry offered under libvirt renders in Nova's driver.

Runs ``tests/compat/nova_libvirt_render.py`` (a unittest module on Nova's
test base and its fake libvirt) through the shared peer runner, with the
drop-in installed as Nova's converter (:mod:`tests.compat.nova_hook`).
"""

from __future__ import annotations

import pytest

from tests import peer_suite

pytestmark = pytest.mark.nova_compat


def test_libvirt_renders_every_offered_entry() -> None:
    outcomes = peer_suite.run(
        "nova-libvirt-render", ["tests.compat.nova_libvirt_render"],
        setup="tests.compat.nova_hook:install", shards=1, timeout=300)
    peer_suite.check(outcomes, min_ran=2)
