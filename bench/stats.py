"""Pure statistics for the benchmarks: percentiles, latency summaries, trends, ratios."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of already sorted values, linearly interpolated.

    Interpolation between the two closest ranks (numpy's default), so p50 of ``[1, 2]`` is 1.5.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    rank = (len(sorted_values) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = rank - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latencies in milliseconds."""

    count: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    def as_dict(self) -> dict[str, float]:
        return {"count": self.count, "p50": self.p50, "p90": self.p90, "p99": self.p99,
                "max": self.max, "mean": self.mean}


def summarize(latencies_ms: Sequence[float]) -> LatencySummary:
    """p50/p90/p99/max/mean of latency samples (any order)."""
    ordered = sorted(latencies_ms)
    return LatencySummary(
        count=len(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
        max=ordered[-1],
        mean=math.fsum(ordered) / len(ordered),
    )


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of ``y`` against ``x``; 0 for fewer than two distinct ``x``."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = math.fsum(x for x, _ in points) / n
    mean_y = math.fsum(y for _, y in points) / n
    sxx = math.fsum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx


def windowed_percentile(samples: Sequence[tuple[float, float]], window_s: float,
                        q: float) -> list[tuple[float, float]]:
    """``(window start, q-th percentile of y)`` per ``window_s``-wide window of ``x``.

    ``samples`` are ``(x seconds, y)`` pairs in any order; empty windows are left out.
    """
    if window_s <= 0:
        raise ValueError("window must be positive")
    buckets: dict[int, list[float]] = {}
    for x, y in samples:
        buckets.setdefault(math.floor(x / window_s), []).append(y)
    return [(index * window_s, percentile(sorted(ys), q))
            for index, ys in sorted(buckets.items())]


@dataclass(frozen=True, slots=True)
class Backlog:
    """Whether a run kept up: latency must not climb while the load stays constant."""

    #: Growth of the per-second median latency over the run, in ms per second of run.
    growth_ms_per_s: float
    first_p50_ms: float
    last_p50_ms: float
    #: Share of the published events that reached the viewers.
    delivered_share: float

    def kept_up(self, *, max_growth_ms_per_s: float = 1.0, min_share: float = 0.999) -> bool:
        """No backlog growth: median latency flat within ``max_growth`` and all delivered.

        A growing backlog shows as latency that climbs by the backlog's drain time every
        second; a flat median means the pipeline consumes as fast as it is fed.
        """
        return self.growth_ms_per_s <= max_growth_ms_per_s and self.delivered_share >= min_share


def backlog(samples: Sequence[tuple[float, float]], delivered_share: float,
            window_s: float = 1.0) -> Backlog:
    """Judge backlog growth from ``(seconds since start, latency ms)`` samples."""
    medians = windowed_percentile(samples, window_s, 50)
    if not medians:
        return Backlog(0.0, math.nan, math.nan, delivered_share)
    return Backlog(slope(medians), medians[0][1], medians[-1][1], delivered_share)


def ratio(measured: float, baseline: float) -> float:
    """``measured / baseline``; infinite when the baseline is zero and the measure is not."""
    if baseline == 0:
        return math.inf if measured else 1.0
    return measured / baseline


def median(values: Sequence[float]) -> float:
    return percentile(sorted(values), 50)
