"""The duration histogram behind the wait, hold and creation percentiles."""

from __future__ import annotations

import pytest

from producer_pool.core.histogram import BOUNDS, Durations, Histogram


def test_an_empty_histogram_summarises_to_zeros():
    assert Histogram().summary() == Durations()


def test_percentiles_are_bucket_bounds_within_a_factor_of_two_and_never_above_max():
    histogram = Histogram()
    for _ in range(98):
        histogram.record(0.003)  # 3 ms: the bucket (2.048 ms, 4.096 ms]
    histogram.record(0.5)
    histogram.record(1.5)
    summary = histogram.summary()
    assert summary.count == 100
    assert summary.sum == pytest.approx(98 * 0.003 + 2.0)
    assert 0.003 <= summary.p50 < 0.006
    assert 0.5 <= summary.p99 < 1.0
    assert summary.max == 1.5
    assert histogram.percentile(1.0) == 1.5  # capped by the largest value seen


def test_zeros_added_for_unrecorded_fast_acquisitions_move_the_median_down():
    histogram = Histogram()
    histogram.record(0.25)
    with_zeros = histogram.record_zeros(9)
    assert with_zeros.count == 10
    assert with_zeros.summary().p50 <= 1e-6  # the first bucket: at most a microsecond
    assert with_zeros.summary().p99 == 0.25
    assert histogram.count == 1  # the original is untouched


def test_cumulative_counts_end_with_every_value_under_inf():
    histogram = Histogram()
    for seconds in (0.0, 2e-6, 1e9):
        histogram.record(seconds)
    pairs = histogram.cumulative()
    assert len(pairs) == len(BOUNDS) + 1
    assert pairs[0] == (BOUNDS[0], 1)
    assert pairs[-1] == (float("inf"), 3)
    assert pairs[-2][1] == 2  # 1e9 s is beyond the last finite bound
