"""The one timing helper of the micro-benchmarks."""

from __future__ import annotations

import statistics
import time


def median_ms(fn, repeats: int, warmup: int = 2) -> float:
    """The median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones, in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def fastest_s(fn, repeats: int, warmup: int = 1) -> float:
    """The shortest wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones, in s
    (for a peak rate: the best the machine did, not the typical)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
