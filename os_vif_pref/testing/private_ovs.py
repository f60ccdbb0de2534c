"""A private, userspace Open vSwitch for tests, benchmarks and humans.

The code lives in :mod:`os_vif_pref.sandbox.ovs` (the demo uses it too);
this module keeps the names tests and vendors' suites import, and the
command for humans::

    python -m os_vif_pref.testing.private_ovs [--bridge br-int] [--netns NS]
"""

from __future__ import annotations

import sys

from os_vif_pref.sandbox.ovs import (
    REQUIRED_BINARIES,
    PrivateOVS,
    PrivateOVSError,
    available,
    main,
)

__all__ = ["REQUIRED_BINARIES", "PrivateOVS", "PrivateOVSError",
           "available", "main"]

if __name__ == "__main__":
    sys.exit(main(prog="python -m os_vif_pref.testing.private_ovs"))
