"""Paired comparisons over seeds: a mean (or geometric-mean) difference and its bootstrap interval.

Seed s of two presets starts from the same SFT policy with the same prompt order and random draws
wherever the two recipes draw alike, so the per-seed difference cancels part of the luck that a
difference of means would keep (a paired design). The seeds are the independent units: the
interval is a percentile bootstrap over them (resample the n per-seed differences with replacement,
take the mean, repeat; the 2.5% and 97.5% quantiles of those means bound the 95% interval). It
assumes nothing about the differences' distribution, but with few seeds it is too narrow (with 3
seeds there are only 10 distinct resamples): read it as a description below ~10 seeds, not a test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0  # fixed: the same runs give the same interval every time the report is written


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval over ``n`` paired seeds (low = high = NaN below 2)."""

    estimate: float
    low: float
    high: float
    n: int

    def excludes(self, value: float) -> bool:
        """Whether the whole interval lies on one side of ``value`` (0 for a difference, 1 for a ratio)."""
        return self.n >= 2 and (self.low > value or self.high < value)


def paired_bootstrap(diffs: list[float], resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
                     seed: int = BOOTSTRAP_SEED) -> Interval:
    """Mean of per-seed differences with its percentile-bootstrap interval.

    One seed has no spread to resample, so its interval is left undefined (NaN) rather than [d, d],
    which would read as certainty.
    """
    values = np.asarray(diffs, dtype=float)
    if values.size == 0:
        raise ValueError("paired_bootstrap needs at least one difference")
    estimate = float(values.mean())
    if values.size < 2:
        return Interval(estimate, math.nan, math.nan, 1)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    # A mean of identical values can round a hair away from the value itself: keep the estimate inside.
    return Interval(estimate, min(float(low), estimate), max(float(high), estimate), int(values.size))


def geometric_mean_ratio(ratios: list[float], resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
                         seed: int = BOOTSTRAP_SEED) -> Interval:
    """Geometric mean of per-seed ratios with its interval, bootstrapped on the log scale.

    Ratios multiply: a 2x saving on one seed and a 0.5x on another average to 1x, not 1.25x, so the
    mean is taken of log ratios and the estimate and both ends are mapped back with exp.
    """
    if any(not (r > 0 and math.isfinite(r)) for r in ratios):
        raise ValueError(f"ratios must be positive and finite: {ratios}")
    logs = paired_bootstrap([math.log(r) for r in ratios], resamples, confidence, seed)
    return Interval(math.exp(logs.estimate), math.exp(logs.low), math.exp(logs.high), logs.n)
