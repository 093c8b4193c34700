"""The per-channel resume history: the last N encoded update frames, each kept for a limited age.

Entries are contiguous in offset (the owner clears the ring whenever the channel's position
jumps), so a resume is answered by slicing, and either every missed update is there or the
answer is "not recoverable": never a partial replay.
"""

from __future__ import annotations

from collections import deque
from itertools import islice


class History:
    """A bounded ring of ``(offset, time, frame)``; ``time`` from the caller's monotonic clock."""

    __slots__ = ("_entries", "size", "ttl_s")

    def __init__(self, size: int, ttl_s: float | None) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._entries: deque[tuple[int, float, bytes]] = deque(maxlen=max(size, 0) or None)

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, offset: int, now: float, frame: bytes) -> None:
        if self.size <= 0:
            return
        self._entries.append((offset, now, frame))
        self.expire(now)

    def clear(self) -> None:
        self._entries.clear()

    def expire(self, now: float) -> None:
        """Drop entries older than the age limit."""
        if self.ttl_s is None:
            return
        oldest_kept = now - self.ttl_s
        entries = self._entries
        while entries and entries[0][1] < oldest_kept:
            entries.popleft()

    def after(self, offset: int, last: int, now: float) -> list[bytes] | None:
        """Frames of every update after ``offset`` up to ``last``, or ``None`` if any is gone."""
        if offset == last:
            return []
        if offset > last:
            return None
        self.expire(now)
        entries = self._entries
        if not entries or entries[0][0] > offset + 1 or entries[-1][0] != last:
            return None
        start = offset + 1 - entries[0][0]
        return [frame for _, _, frame in islice(entries, start, None)]
