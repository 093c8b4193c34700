"""The queue of requests to the streams API: bounded in flight, shared fairly between owners (pure).

Every snapshot or history fetch a client sets off waits here until it may start. At most
``max_in_flight`` requests run at once in the whole process and at most ``per_owner`` for any one
owner (a connection), and owners take turns: a client with 200 queued fetches gets one started,
then the next client gets one, so a burst from one client delays the others by one request per
turn, not by its whole backlog. Without this bound, every cold subscribe started a request at
once, and thousands of them waiting in the HTTP client's connection pool made each pool step scan
them all: the event loop wedged (issue 12).

A request nobody wants any more is taken out in O(1) (:meth:`discard`, :meth:`drop_owner`), so
churning subscriptions costs nothing upstream. Owners are any hashable values; the core uses
connection handles, and :data:`SYSTEM` for its own resync fetches.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")

#: The owner of requests no client asked for (a channel resyncing for its subscribers).
SYSTEM: Hashable = ("gateway-core",)


class FetchQueue(Generic[T]):
    """Queued requests per owner, started round-robin within the in-flight bounds."""

    __slots__ = ("_in_flight", "_owners", "_queues", "_turns", "max_in_flight", "per_owner")

    def __init__(self, max_in_flight: int | None, per_owner: int | None) -> None:
        self.max_in_flight = max_in_flight
        self.per_owner = per_owner
        self._queues: dict[Hashable, OrderedDict[Hashable, T]] = {}
        #: Requests started and not done yet, per owner (absent: none).
        self._owners: dict[Hashable, int] = {}
        self._in_flight = 0
        #: Owners with queued requests that may start one now, in turn order.
        self._turns: OrderedDict[Hashable, None] = OrderedDict()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def queued(self, owner: Hashable | None = None) -> int:
        """Requests waiting to start: ``owner``'s, or everyone's."""
        if owner is None:
            return sum(len(q) for q in self._queues.values())
        queue = self._queues.get(owner)
        return len(queue) if queue is not None else 0

    def owner_in_flight(self, owner: Hashable) -> int:
        return self._owners.get(owner, 0)

    def push(self, owner: Hashable, key: Hashable, item: T) -> bool:
        """Queue ``item`` under ``key`` (unique per owner); ``False`` if that key is queued."""
        queue = self._queues.get(owner)
        if queue is None:
            queue = self._queues[owner] = OrderedDict()
        elif key in queue:
            return False
        queue[key] = item
        self._may_take_turn(owner)
        return True

    def discard(self, owner: Hashable, key: Hashable) -> None:
        """Forget a queued request (one already started is not affected)."""
        queue = self._queues.get(owner)
        if queue is None or key not in queue:
            return
        del queue[key]
        if not queue:
            del self._queues[owner]
            self._turns.pop(owner, None)

    def drop_owner(self, owner: Hashable) -> None:
        """Forget every queued request of ``owner``; its started ones still count until done."""
        self._queues.pop(owner, None)
        self._turns.pop(owner, None)

    def done(self, owner: Hashable) -> None:
        """One request ``owner`` started has finished (succeeded, failed or was skipped)."""
        self._in_flight -= 1
        left = self._owners.get(owner, 0) - 1
        if left > 0:
            self._owners[owner] = left
        else:
            self._owners.pop(owner, None)
        self._may_take_turn(owner)

    def take(self) -> tuple[Hashable, T] | None:
        """The next request to start, now counted in flight; ``None`` if none may start."""
        limit = self.max_in_flight
        if limit is not None and self._in_flight >= limit:
            return None
        if not self._turns:
            return None
        owner, _ = self._turns.popitem(last=False)
        queue = self._queues[owner]
        _, item = queue.popitem(last=False)
        if not queue:
            del self._queues[owner]
        self._in_flight += 1
        self._owners[owner] = self._owners.get(owner, 0) + 1
        self._may_take_turn(owner)  # back at the end of the line
        return owner, item

    def _may_take_turn(self, owner: Hashable) -> None:
        if owner not in self._queues or owner in self._turns:
            return
        # The core's own resyncs serve every subscriber of a channel: no per-owner bound.
        if (self.per_owner is not None and owner != SYSTEM
                and self._owners.get(owner, 0) >= self.per_owner):
            return
        self._turns[owner] = None
