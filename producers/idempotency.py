"""``Idempotency-Key`` support: a retried request lands once, through any process.

Two layers, so that it holds across processes and failures:

1. **Ids derived from the key** (:func:`write_ids`): a keyed write's event id and, for a new
   comment, its comment id are hashes of (caller, method, path, key). Every process derives the
   same ids, so a retry through any process, even one that publishes again because the first
   attempt's outcome was unknown (a broker timeout), is the same event: the streams drop the
   duplicate (same event id, same comment id). The API also looks the event id up in its
   directory, which has caught up with the topics first, and answers a retry of a write that
   has landed with that write's answer instead of publishing it again.
2. **A per-process store** (:class:`IdempotencyCache`): a retry that reaches the same process
   gets the stored response at once; one that arrives while the first is still running waits
   for it; the same key with a different body is refused. Only successes are stored: a refused
   or failed request may be retried for real. Bounded (least recently used keys go first), keys
   expire after a TTL.

Keys are scoped by the caller (a reader's id, or the CMS) and the request's method and path, so
two callers can never see each other's answers or collide on ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from commentfeed.errors import CommentfeedError

T = TypeVar("T")


#: Event ids of keyed writes start with this, so the directory remembers only those.
KEYED_EVENT_PREFIX = "k-"


@dataclass(frozen=True, slots=True)
class WriteIds:
    """The ids one write publishes with."""

    event_id: str
    #: Used only by a new comment.
    comment_id: str
    keyed: bool


def _digest(purpose: str, parts: tuple[str, ...]) -> str:
    # NUL cannot occur in any part (keys are visible ASCII, ids and paths are URL-safe), so
    # distinct parts never hash alike.
    return hashlib.sha256("\0".join((purpose, *parts)).encode()).hexdigest()


def write_ids(caller: str, method: str, path: str, key: str | None) -> WriteIds:
    """Ids derived from the key (the same in every process), or fresh ones without a key."""
    if key is None:
        return WriteIds(uuid.uuid4().hex, "c-" + uuid.uuid4().hex, keyed=False)
    parts = (caller, method.upper(), path, key)
    return WriteIds(
        event_id=KEYED_EVENT_PREFIX + _digest("commentfeed/event", parts)[:40],
        comment_id="c-" + _digest("commentfeed/comment", parts)[:32],
        keyed=True,
    )


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
