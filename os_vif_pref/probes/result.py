"""What every probe returns: a :class:`ProbeResult`, never an exception.

Apart from the families so that each of them, the prober and the preference
list share one type without importing one another.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """One capability: present or not, what was found, and why."""

    capability: str
    ok: bool
    value: Any = None
    reason: str = ""
    #: Seconds the probe (its whole family) took when it last ran.
    duration: float = 0.0
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        value = self.value
        if not isinstance(value, (str, int, float, bool, list, type(None))):
            value = str(value)
        return {"capability": self.capability, "ok": self.ok,
                "value": value, "reason": self.reason,
                "duration_ms": round(self.duration * 1000, 3),
                "cached": self.cached}


def _missing(capability: str, reason: str) -> ProbeResult:
    return ProbeResult(capability, False, None, reason)
