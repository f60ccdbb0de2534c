"""Point privsep contexts at ``sudo <sys.prefix>/bin/privsep-helper``.

The code lives in :mod:`os_vif_pref.sandbox.privsep_conf` (the demo uses it
too); this module keeps the names tests and vendors' suites import.
"""

from __future__ import annotations

from os_vif_pref.sandbox.privsep_conf import (
    CONTEXTS,
    SudoMissing,
    configure,
    helper_command,
    stop_daemons,
)

__all__ = ["CONTEXTS", "SudoMissing", "configure", "helper_command",
           "stop_daemons"]
