"""``Idempotency-Key`` support: a retried request publishes once and gets the first answer.

Keys are scoped by the caller (a reader's id, or the CMS) and the request's method and path, so
two callers can never see each other's answers. The first request with a key runs; a retry
gets the stored response (the same ids, offsets and event id); a retry that arrives while the
first is still running waits for it. Only successes are stored: a refused or failed request
may be retried for real. The same key with a different body is refused.

The store is per process, bounded (least recently used keys go first) and keys expire after a
TTL. With several ingest processes behind a load balancer a retry is only deduplicated if it
reaches the same process; the streams still drop duplicate event ids downstream.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from commentfeed.errors import CommentfeedError

T = TypeVar("T")


class IdempotencyKeyReused(CommentfeedError):
    """The key was used before with a different request body."""


@dataclass(slots=True)
class _Entry(Generic[T]):
    fingerprint: str
    created: float
    #: Settles with the stored value, or ``None`` if the first attempt failed.
    outcome: asyncio.Future[T | None]


class IdempotencyCache(Generic[T]):
    def __init__(self, *, ttl_s: float, max_keys: int, clock: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry[T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, key: Hashable) -> _Entry[T] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry.created > self.ttl_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    async def run(
        self, key: Hashable, fingerprint: str, work: Callable[[], Awaitable[T]]
    ) -> tuple[T, bool]:
        """The value of ``work()`` for this key, and whether it was replayed from the store."""
        while True:
            entry = self._live(key)
            if entry is None:
                return await self._first(key, fingerprint, work), False
            if entry.fingerprint != fingerprint:
                raise IdempotencyKeyReused
            value = await asyncio.shield(entry.outcome)
            if value is not None:
                return value, True
            # The first attempt failed and removed itself: this retry runs for real.

    async def _first(
        self, key: Hashable, fingerprint: str, work: Callable[[], Awaitable[T]]
    ) -> T:
        outcome: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        entry = _Entry(fingerprint, self._clock(), outcome)
        self._entries[key] = entry
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
        try:
            value = await work()
        except BaseException:
            if self._entries.get(key) is entry:
                del self._entries[key]
            outcome.set_result(None)
            raise
        outcome.set_result(value)
        return value
