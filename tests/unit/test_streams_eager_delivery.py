"""The consumer's eager delivery (streams.faust_compat.start_eagerly / Started): a delivery that
does not wait completes at once; one that waits still behaves as a fresh coroutine would."""

from __future__ import annotations

import asyncio

import pytest

from streams.faust_compat import Started, start_eagerly


async def test_a_delivery_with_room_completes_without_a_task() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    tasks_before = len(asyncio.all_tasks())
    assert start_eagerly(queue.put(1)) is None
    assert queue.get_nowait() == 1
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_delivery_that_waits_finishes_when_awaited_as_a_task() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(1)
    started = start_eagerly(queue.put(2))
    assert isinstance(started, Started)
    task = asyncio.ensure_future(started)
    await asyncio.sleep(0)
    assert not task.done()
    assert queue.get_nowait() == 1  # room again: the waiting put goes on
    await asyncio.wait_for(task, timeout=5)
    assert queue.get_nowait() == 2


async def test_the_value_of_the_coroutine_comes_back() -> None:
    gate = asyncio.Event()

    async def answer() -> str:
        await gate.wait()
        return "delivered"

    started = start_eagerly(answer())
    assert started is not None
    gate.set()
    assert await asyncio.wait_for(started, timeout=5) == "delivered"


async def test_losing_the_race_cancels_the_waiting_delivery() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(1)
    cleaned = asyncio.Event()

    async def deliver() -> None:
        try:
            await queue.put(2)
        finally:
            cleaned.set()

    suspended = asyncio.Event()
    started = start_eagerly(deliver())
    assert started is not None
    racers = {asyncio.ensure_future(started), asyncio.ensure_future(suspended.wait())}
    suspended.set()
    done, pending = await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED, timeout=5)
    assert len(done) == 1
    assert len(pending) == 1
    (loser,) = pending
    loser.cancel()
    await asyncio.wait_for(cleaned.wait(), timeout=5)
    assert loser.cancelled()
    assert queue.qsize() == 1
    assert queue.get_nowait() == 1


async def test_an_error_before_any_wait_is_raised_at_once() -> None:
    async def broken() -> None:
        raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        start_eagerly(broken())


async def test_an_error_after_a_wait_reaches_the_awaiting_task() -> None:
    gate = asyncio.Event()

    async def fails_later() -> None:
        await gate.wait()
        raise KeyError("late")

    started = start_eagerly(fails_later())
    assert started is not None
    task = asyncio.ensure_future(started)
    gate.set()
    with pytest.raises(KeyError, match="late"):
        await asyncio.wait_for(task, timeout=5)
