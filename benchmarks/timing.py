"""Timing helper shared by the benchmark scripts (run from this folder)."""

from __future__ import annotations

from collections.abc import Callable
import statistics
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


def per_call(fn: Callable[[], Any], repeat: int,
             rounds: int = 7) -> tuple[float, float]:
    """Best-of-rounds mean seconds per call (robust to a noisy machine),
    and the median of the rounds."""
    fn()
    results = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(repeat):
            fn()
        results.append((time.perf_counter() - t) / repeat)
    return min(results), statistics.median(results)
