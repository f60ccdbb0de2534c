"""An ML2-shaped port context, for driving a mechanism driver's bind_port.

The code lives in :mod:`os_vif_pref.sandbox.ml2_context` (the demo's
fallback path binds on it); this module keeps the names tests import.
"""

from __future__ import annotations

from os_vif_pref.sandbox.ml2_context import Binding, PortContext

__all__ = ["Binding", "PortContext"]
