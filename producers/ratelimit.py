"""Per-user token buckets (pure: the clock is passed in).

Each user may burst ``burst`` requests, refilled at ``rate_per_s``. The buckets live in one
process: behind a load balancer with N ingest processes a user can get up to N times the
limit. At most ``max_users`` buckets are kept; the least recently used is dropped first, and a
dropped bucket comes back full (only users idle long enough to be evicted gain from it).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self, *, rate_per_s: float, burst: int, clock: Callable[[], float],
        max_users: int = 100_000,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_users = max_users
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, user: str) -> float | None:
        """Spend one token: ``None`` if allowed, else the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.get(user)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated=now)
            self._buckets[user] = bucket
            if len(self._buckets) > self.max_users:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(user)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_s)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate_per_s


def retry_after_header(wait_s: float) -> str:
    """Whole seconds, rounded up, never 0 (a client retrying at 0 would only be refused)."""
    return str(max(1, math.ceil(wait_s)))
