"""Latency samples on disk and event times as integer nanoseconds.

A sample is a pair (event time, arrival time) in nanoseconds since the epoch, both read from
this host's clock: the event's CloudEvents ``time`` (or a comment's ``posted_at``, the same
instant) is stamped by the publisher, the arrival by the receiving client. A file holds all the
event times as int64, then all the arrival times.
"""

from __future__ import annotations

from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def iso_to_ns(text: str) -> int:
    """An RFC 3339 time as integer nanoseconds since the epoch (exact to the microsecond)."""
    return (datetime.fromisoformat(text) - _EPOCH) // _MICROSECOND * 1000


def write_samples(path: str | Path, published: array[int], arrived: array[int]) -> None:
    if len(published) != len(arrived):
        raise ValueError("every sample needs both times")
    with open(path, "wb") as out:
        published.tofile(out)
        arrived.tofile(out)


def read_samples(path: str | Path) -> tuple[array[int], array[int]]:
    """The (event times, arrival times) :func:`write_samples` wrote."""
    both = array("q")
    both.frombytes(Path(path).read_bytes())
    half = len(both) // 2
    return both[:half], both[half:]


def latencies_ms(published: array[int], arrived: array[int],
                 *, since_ns: int = 0) -> list[tuple[float, float]]:
    """``(seconds after since_ns, latency ms)`` per sample, for events at or after since_ns."""
    return [((p - since_ns) / 1e9, (a - p) / 1e6)
            for p, a in zip(published, arrived, strict=True) if p >= since_ns]
