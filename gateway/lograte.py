"""Rate-limited logging: a line that repeats is written a few times per interval, then counted.

A client, or a broken upstream, can make the same warning fire thousands of times a second (one
per failed fetch, one per refused accept); written out, that fills disks and costs more CPU than
the work itself (issue 12 measured 413,597 "Too many open files" lines in 50 s). Records are
grouped by logger, level and message template (not the formatted text, so "snapshot of count:1
failed" and "... count:2 ..." are one group); each group may write ``burst`` lines per
``interval_s``, and the first line after a quiet spell says how many were held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitFilter(logging.Filter):
    """A :class:`logging.Filter` for handlers; ``clock`` is monotonic seconds."""

    def __init__(self, interval_s: float = 10.0, burst: int = 5, *,
                 clock: Callable[[], float] = time.monotonic, max_groups: int = 1000) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.burst = burst
        self.clock = clock
        self.max_groups = max_groups
        #: group -> [window start, lines written in the window, lines held back]
        self._groups: dict[tuple[str, int, str], list[float]] = {}
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= self.max_groups:
                self._groups.clear()  # a bound on memory; at worst a few extra lines
            group = self._groups[key] = [now, 0.0, 0.0]
        if now - group[0] >= self.interval_s:
            held = int(group[2])
            group[0], group[1], group[2] = now, 0.0, 0.0
            if held:
                record.msg = f"{record.msg} [{held} similar lines held back in the last " \
                             f"{self.interval_s:g} s]"
        if group[1] >= self.burst:
            group[2] += 1
            self.suppressed += 1
            return False
        group[1] += 1
        return True


def install(logger: logging.Logger | None = None, *, interval_s: float = 10.0,
            burst: int = 5) -> RateLimitFilter:
    """Put one :class:`RateLimitFilter` on every handler of ``logger`` (default: the root)."""
    target = logger or logging.getLogger()
    limiter = RateLimitFilter(interval_s, burst)
    for handler in target.handlers:
        handler.addFilter(limiter)
    return limiter
