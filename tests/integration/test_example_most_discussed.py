"""The most-discussed example against the real broker, fed records published directly."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from commentfeed import codec
from commentfeed.events import Author, CommentPosted, CommentPostedData, FeedCount, FeedCountData
from commentfeed.kafka import make_producer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from examples.most_discussed.consumer import Config, MostDiscussed
from examples.most_discussed.view import Row, counts, top

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

_groups = itertools.count(1)


def example_config(settings: Settings) -> Config:
    return Config(
        bootstrap=settings.kafka_bootstrap, topic_prefix=settings.topic_prefix,
        group_id=f"most-discussed-{settings.topic_prefix}{next(_groups)}",
        fetch_wait_ms=settings.fetch_wait_ms, rebalance_timeout_ms=settings.rebalance_timeout_ms,
    )


@contextlib.asynccontextmanager
async def running(service: MostDiscussed) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(service.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for(
    service: MostDiscussed, condition: Callable[[], bool], what: str, timeout_s: float = 60.0,
) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            await service.wait_until(condition)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def _post(comment_id: str, article_id: str, at: datetime) -> CommentPosted:
    return CommentPosted(subject=article_id, time=at, data=CommentPostedData(
        comment_id=comment_id, article_id=article_id, site="demo",
        author=Author(id="u-1", name="Reader"), body="Worth discussing.", posted_at=at))


def _count(article_id: str, value: int, offset: int) -> FeedCount:
    return FeedCount(subject=article_id, data=FeedCountData(
        article_id=article_id, site="demo", count=value, offset=offset))


async def test_view_follows_published_counts_and_comments(kafka_settings: Settings) -> None:
    now = datetime.now(UTC)
    comments = topic_name(kafka_settings, Topic.COMMENTS)
    feed_counts = topic_name(kafka_settings, Topic.FEED_COUNTS)
    posts = [
        _post("c1", "bridge", now - timedelta(minutes=5)),
        _post("c2", "bridge", now - timedelta(minutes=4)),
        _post("c1", "bridge", now - timedelta(minutes=5)),  # redelivered: counts once
        _post("c3", "tram", now - timedelta(minutes=3)),
        _post("c4", "market", now - timedelta(hours=3)),  # outside the window
    ]
    count_records = [
        _count("bridge", 1, 2), _count("bridge", 2, 4),
        _count("bridge", 1, 2),  # a replayed, older count: ignored
        _count("tram", 1, 2), _count("market", 1, 2),
    ]
    service = MostDiscussed(example_config(kafka_settings))
    producer = make_producer(kafka_settings)
    await producer.start()
    try:
        for post in posts:
            await producer.send_and_wait(
                comments, codec.encode(post), key=post.data.article_id.encode())
        await producer.send_and_wait(comments, b"{not json", key=b"bridge")
        for record in count_records:
            await producer.send_and_wait(
                feed_counts, codec.encode(record), key=record.data.article_id.encode())

        async with running(service) as task:
            await wait_for(
                service,
                lambda: service.applied + service.rejected == len(posts) + 1 + len(count_records),
                "every record to be consumed")
            assert not task.done()
            assert counts(service.view) == {"bridge": 2, "tram": 1, "market": 1}
            assert top(service.view, datetime.now(UTC)) == [
                Row("bridge", 2, 2), Row("tram", 1, 1)]
            assert service.rejected == 1

            # Records that arrive while it runs are folded in too.
            await producer.send_and_wait(
                feed_counts, codec.encode(_count("tram", 2, 4)), key=b"tram")
            for comment_id in ("c5", "c6"):
                await producer.send_and_wait(
                    comments, codec.encode(_post(comment_id, "tram", datetime.now(UTC))),
                    key=b"tram")
            await wait_for(service, lambda: counts(service.view)["tram"] == 2
                           and len(service.view.posts["tram"]) == 3, "the live records")
            assert top(service.view, datetime.now(UTC)) == [
                Row("tram", 3, 2), Row("bridge", 2, 2)]
    finally:
        await producer.stop()


async def test_command_line_prints_the_top_list(kafka_settings: Settings) -> None:
    comments = topic_name(kafka_settings, Topic.COMMENTS)
    producer = make_producer(kafka_settings)
    await producer.start()
    try:
        post = _post("c1", "night-market", datetime.now(UTC))
        await producer.send_and_wait(comments, codec.encode(post), key=b"night-market")
    finally:
        await producer.stop()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.most_discussed",
        "--bootstrap", kafka_settings.kafka_bootstrap,
        "--topic-prefix", kafka_settings.topic_prefix,
        "--group", f"most-discussed-cli-{kafka_settings.topic_prefix}",
        "--fetch-wait-ms", "5", "--rebalance-timeout-ms", "2000", "--every", "0.1",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not seen or "night-market" not in seen[-1]:
                line = (await process.stdout.readline()).decode()
                assert line, "the example exited"
                seen.append(line)
    finally:
        process.terminate()
        await process.wait()
    assert seen[-1].split() == ["1.", "night-market", "1", "new", "?", "total"]
