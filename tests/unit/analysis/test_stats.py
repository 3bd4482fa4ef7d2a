"""The paired bootstrap of `sealign compare --baseline` on hand-computed cases."""

import math

import pytest

from sealign.analysis.stats import geometric_mean_ratio, paired_bootstrap


def test_identical_presets_differ_by_zero_with_an_interval_containing_zero():
    interval = paired_bootstrap([0.0, 0.0, 0.0, 0.0])
    assert (interval.estimate, interval.low, interval.high, interval.n) == (0.0, 0.0, 0.0, 4)
    assert not interval.excludes(0.0)


def test_a_uniformly_better_preset_has_a_point_interval():
    interval = paired_bootstrap([0.1] * 5)
    assert interval.estimate == pytest.approx(0.1)
    assert (interval.low, interval.high) == (pytest.approx(0.1), pytest.approx(0.1))
    assert interval.excludes(0.0)


def test_two_seeds_give_the_hand_computed_percentiles():
    # Resampling [0, 1] twice gives means 0 (p = 1/4), 0.5 (1/2) and 1 (1/4): the 2.5% and 97.5%
    # quantiles of 10,000 such means are 0 and 1.
    interval = paired_bootstrap([0.0, 1.0])
    assert (interval.estimate, interval.low, interval.high) == (0.5, 0.0, 1.0)
    assert not interval.excludes(0.0)


def test_mixed_differences_straddle_zero_and_the_interval_is_reproducible():
    diffs = [-0.1, 0.1, 0.0, 0.05, -0.02]
    interval = paired_bootstrap(diffs)
    assert interval.low < 0 < interval.high
    assert interval.estimate == pytest.approx(0.006)
    assert interval.low <= interval.estimate <= interval.high
    assert paired_bootstrap(diffs) == interval  # the fixed RNG seed: the same report every time
    assert paired_bootstrap(diffs, confidence=0.5).high < interval.high  # a narrower interval


def test_one_seed_has_no_interval():
    interval = paired_bootstrap([0.2])
    assert interval.estimate == 0.2 and math.isnan(interval.low) and math.isnan(interval.high)
    assert not interval.excludes(0.0)


def test_the_geometric_mean_of_ratios_is_bootstrapped_on_the_log_scale():
    # log 2 and log 0.5 cancel: the geometric mean is 1 (the arithmetic mean would say 1.25), and the
    # resampled log means -log 2, 0, log 2 map back to an interval [0.5, 2].
    interval = geometric_mean_ratio([2.0, 0.5])
    assert interval.estimate == pytest.approx(1.0)
    assert (interval.low, interval.high) == (pytest.approx(0.5), pytest.approx(2.0))
    assert not interval.excludes(1.0)
    saving = geometric_mean_ratio([2.0, 2.0, 2.0])
    assert (saving.estimate, saving.low, saving.high) == (pytest.approx(2.0),) * 3
    assert saving.excludes(1.0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        paired_bootstrap([])
    with pytest.raises(ValueError):
        geometric_mean_ratio([1.5, 0.0])
