"""The benchmarks' statistics: percentiles, summaries, trends and the backlog verdict."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.stats import backlog, percentile, ratio, slope, summarize, windowed_percentile


def test_percentile_interpolates_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(3.7)


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_no_values_and_out_of_range_q() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200),
       st.floats(min_value=0, max_value=100))
def test_percentile_lies_between_min_and_max_and_grows_with_q(values: list[float],
                                                              q: float) -> None:
    ordered = sorted(values)
    p = percentile(ordered, q)
    assert ordered[0] <= p <= ordered[-1]
    assert percentile(ordered, min(100.0, q + 1)) >= p


def test_summarize_reports_the_tail_of_unsorted_samples() -> None:
    samples = [float(v) for v in range(100, 0, -1)]  # 100 .. 1, reversed on purpose
    summary = summarize(samples)
    assert summary.count == 100
    assert summary.p50 == pytest.approx(50.5)
    assert summary.p90 == pytest.approx(90.1)
    assert summary.p99 == pytest.approx(99.01)
    assert summary.max == 100.0
    assert summary.mean == pytest.approx(50.5)


def test_slope_of_a_line_and_of_flat_or_degenerate_points() -> None:
    assert slope([(0, 1), (1, 3), (2, 5)]) == pytest.approx(2.0)
    assert slope([(0, 4), (1, 4), (5, 4)]) == 0.0
    assert slope([(3, 1), (3, 9)]) == 0.0
    assert slope([(1, 1)]) == 0.0


def test_windowed_percentile_groups_by_window_and_skips_empty_ones() -> None:
    samples = [(0.1, 1.0), (0.9, 3.0), (2.5, 10.0), (2.6, 20.0), (2.7, 30.0)]
    assert windowed_percentile(samples, 1.0, 50) == [(0.0, 2.0), (2.0, 20.0)]


def test_a_run_whose_latency_climbs_every_second_did_not_keep_up() -> None:
    climbing = [(t / 10, 5.0 + 20.0 * t / 10) for t in range(100)]  # +20 ms per second
    verdict = backlog(climbing, delivered_share=1.0)
    assert verdict.growth_ms_per_s == pytest.approx(20.0, rel=0.05)
    assert verdict.first_p50_ms < verdict.last_p50_ms
    assert not verdict.kept_up()


def test_a_flat_run_that_delivered_everything_kept_up() -> None:
    flat = [(t / 10, 5.0 + (t % 3)) for t in range(100)]
    assert backlog(flat, delivered_share=1.0).kept_up()
    assert not backlog(flat, delivered_share=0.9).kept_up()


def test_ratio_handles_a_zero_baseline() -> None:
    assert ratio(9.0, 10.0) == pytest.approx(0.9)
    assert math.isinf(ratio(1.0, 0.0))
    assert ratio(0.0, 0.0) == 1.0
