"""Timing helper shared by the benchmark scripts (run from this folder)."""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Any


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    """Wall time of ``runs`` calls of ``fn``, each in milliseconds."""
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out
