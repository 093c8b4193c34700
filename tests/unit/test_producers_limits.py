"""Per-user token buckets and the Idempotency-Key store (pure, with a fake clock)."""

from __future__ import annotations

import asyncio
import re

import pytest

from producers.idempotency import (
    KEYED_EVENT_PREFIX,
    IdempotencyCache,
    IdempotencyKeyReused,
    write_ids,
)
from producers.ratelimit import RateLimiter, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    assert [limiter.take("ann") for _ in range(3)] == [None, None, None]
    wait = limiter.take("ann")
    assert wait == pytest.approx(0.5)
    assert limiter.take("bob") is None  # per user
    clock.now += 0.5
    assert limiter.take("ann") is None
    assert limiter.take("ann") is not None
    clock.now += 100
    assert [limiter.take("ann") for _ in range(4)][:3] == [None, None, None]


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.2) == "2"
    assert retry_after_header(3.0) == "3"


def test_the_least_recently_used_bucket_is_dropped_first() -> None:
    limiter = RateLimiter(rate_per_s=0.001, burst=1, clock=Clock(), max_users=2)
    limiter.take("a")
    limiter.take("b")
    limiter.take("a")
    limiter.take("c")  # evicts b, the least recently used
    assert limiter.take("a") is not None
    assert limiter.take("b") is None  # a fresh, full bucket


async def test_a_key_runs_once_and_replays() -> None:
    cache: IdempotencyCache[str] = IdempotencyCache(ttl_s=60, max_keys=10, clock=Clock())
    calls = 0

    async def work() -> str:
        nonlocal calls
        calls += 1
        return f"answer-{calls}"

    assert await cache.run("k", "body", work) == ("answer-1", False)
    assert await cache.run("k", "body", work) == ("answer-1", True)
    assert calls == 1
    with pytest.raises(IdempotencyKeyReused):
        await cache.run("k", "other body", work)


async def test_keys_expire_and_are_bounded() -> None:
    clock = Clock()
    cache: IdempotencyCache[int] = IdempotencyCache(ttl_s=10, max_keys=2, clock=clock)

    async def one() -> int:
        return 1

    await cache.run("a", "x", one)
    clock.now += 11
    assert await cache.run("a", "x", one) == (1, False)  # expired: runs again
    await cache.run("b", "x", one)
    await cache.run("c", "x", one)
    assert len(cache) == 2
    assert (await cache.run("a", "x", one))[1] is False  # evicted


async def test_a_failure_is_not_stored_and_a_waiting_retry_runs_itself() -> None:
    cache: IdempotencyCache[str] = IdempotencyCache(ttl_s=60, max_keys=10, clock=Clock())
    release = asyncio.Event()

    async def failing() -> str:
        await release.wait()
        raise RuntimeError("broker down")

    async def working() -> str:
        return "stored"

    first = asyncio.create_task(cache.run("k", "b", failing))
    await asyncio.sleep(0)  # let the first attempt claim the key
    second = asyncio.create_task(cache.run("k", "b", working))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError):
        await first
    assert await second == ("stored", False)
    assert await cache.run("k", "b", working) == ("stored", True)


def test_ids_derived_from_a_key_are_the_same_in_every_process_and_scoped() -> None:
    first = write_ids("reader:u-ann", "POST", "/v1/articles/a1/comments", "k-1")
    # Another process computes the same ids from the same request: nothing else goes in.
    assert write_ids("reader:u-ann", "post", "/v1/articles/a1/comments", "k-1") == first
    assert first.keyed
    assert first.event_id.startswith(KEYED_EVENT_PREFIX)
    assert len(first.event_id) <= 128
    assert re.fullmatch(r"c-[0-9a-f]{32}", first.comment_id)
    others = [
        write_ids("reader:u-bob", "POST", "/v1/articles/a1/comments", "k-1"),
        write_ids("reader:u-ann", "POST", "/v1/articles/a2/comments", "k-1"),
        write_ids("reader:u-ann", "PATCH", "/v1/articles/a1/comments", "k-1"),
        write_ids("reader:u-ann", "POST", "/v1/articles/a1/comments", "k-2"),
    ]
    assert len({first.event_id, *(o.event_id for o in others)}) == 5
    assert len({first.comment_id, *(o.comment_id for o in others)}) == 5


def test_writes_without_a_key_get_fresh_ids() -> None:
    a, b = (write_ids("cms", "POST", "/v1/articles", None) for _ in range(2))
    assert not a.keyed
    assert a.event_id != b.event_id
    assert not a.event_id.startswith(KEYED_EVENT_PREFIX)
