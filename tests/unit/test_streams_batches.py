"""How the fold agent cuts its stream into batches (streams.faust_compat.fetched_batches)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest

from streams.faust_compat import fetched_batches


class FakeStream:
    """What fetched_batches uses of a Faust stream: noack(), channel.queue, events(), ack()."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.channel = self
        self.acked: list[int] = []

    def noack(self) -> FakeStream:
        return self

    async def events(self) -> AsyncIterator[int]:
        while True:
            yield await self.queue.get()

    async def ack(self, event: int) -> None:
        self.acked.append(event)


def as_gen(batches: AsyncIterator[list[Any]]) -> AsyncGenerator[list[Any], None]:
    assert isinstance(batches, AsyncGenerator)
    return batches


async def feed_one_at_a_time(stream: FakeStream, events: list[int], turns: int) -> None:
    """Like Faust's consumer: one record per few loop turns."""
    for event in events:
        stream.queue.put_nowait(event)
        for _ in range(turns):
            await asyncio.sleep(0)


async def test_a_fetch_handed_over_record_by_record_is_one_batch_acked_after_it() -> None:
    stream = FakeStream()
    batches = as_gen(fetched_batches(stream, 100))
    producer = asyncio.create_task(feed_one_at_a_time(stream, list(range(10)), 3))
    first = await anext(batches)
    assert first == list(range(10))
    assert stream.acked == []  # not before the caller is done with the batch
    await producer
    later = asyncio.create_task(feed_one_at_a_time(stream, [10, 11], 1))
    assert await anext(batches) == [10, 11]
    assert stream.acked == list(range(10))
    await later
    await batches.aclose()


async def test_a_batch_stops_at_its_maximum() -> None:
    stream = FakeStream()
    for event in range(7):
        stream.queue.put_nowait(event)
    batches = as_gen(fetched_batches(stream, 3))
    assert [await anext(batches) for _ in range(3)] == [[0, 1, 2], [3, 4, 5], [6]]
    await batches.aclose()


async def test_records_that_keep_coming_fill_batches_to_their_maximum() -> None:
    stream = FakeStream()
    endless = asyncio.create_task(feed_one_at_a_time(stream, list(range(100_000)), 1))
    batches = as_gen(fetched_batches(stream, 50))
    assert [await anext(batches) for _ in range(2)] == [list(range(50)), list(range(50, 100))]
    endless.cancel()
    await batches.aclose()


class SuspendedStream(FakeStream):
    """A rebalance right after the first event: Faust clears the queue (the second event, which
    the batch saw queued, is gone) and suspends the stream, then waits for every delivered event
    to be acknowledged."""

    async def events(self) -> AsyncIterator[int]:
        yield await self.queue.get()
        while not self.queue.empty():
            self.queue.get_nowait()
        await asyncio.Event().wait()  # suspended until the rebalance ends
        yield -1


async def test_a_partial_batch_is_handed_over_and_acked_when_a_rebalance_suspends_the_stream(
) -> None:
    stream = SuspendedStream()
    stream.queue.put_nowait(1)
    stream.queue.put_nowait(2)
    batches = as_gen(fetched_batches(stream, 10))
    try:
        assert await asyncio.wait_for(anext(batches), timeout=5) == [1]
        after = asyncio.ensure_future(anext(batches))
        for _ in range(5):
            await asyncio.sleep(0)
        assert stream.acked == [1]  # so Faust's wait for acknowledgements can end
        after.cancel()
        await asyncio.gather(after, return_exceptions=True)
    finally:
        await batches.aclose()


class FailingStream(FakeStream):
    """The stream's own iteration fails after two events (a bug or a Faust internal error)."""

    async def events(self) -> AsyncIterator[int]:
        yield await self.queue.get()
        yield await self.queue.get()
        raise RuntimeError("stream broke")


async def test_a_failing_stream_hands_over_what_it_delivered_then_raises_its_error() -> None:
    stream = FailingStream()
    stream.queue.put_nowait(1)
    stream.queue.put_nowait(2)
    batches = as_gen(fetched_batches(stream, 10))
    try:
        assert await asyncio.wait_for(anext(batches), timeout=5) == [1, 2]
        with pytest.raises(RuntimeError, match="stream broke"):
            await asyncio.wait_for(anext(batches), timeout=5)
        assert stream.acked == [1, 2]
    finally:
        await batches.aclose()


class EndingStream(FakeStream):
    async def events(self) -> AsyncIterator[int]:
        yield await self.queue.get()


async def test_a_stream_that_ends_ends_the_batches() -> None:
    stream = EndingStream()
    stream.queue.put_nowait(7)
    batches = as_gen(fetched_batches(stream, 10))
    assert [b async for b in batches] == [[7]]
    assert stream.acked == [7]
