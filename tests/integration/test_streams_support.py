"""Helpers for the streams integration tests (no tests here): publish, tail topics, poll HTTP,
generate comment streams and their ground truth."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from commentfeed import codec
from commentfeed.events import (
    ArticleData,
    ArticlePublished,
    Author,
    CommentDeleted,
    CommentDeletedData,
    CommentModerated,
    CommentModeratedData,
    CommentPosted,
    CommentPostedData,
    CommentVoted,
    CommentVotedData,
    InputEvent,
)
from commentfeed.kafka import make_consumer, make_producer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name

T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)

Record = tuple[str, bytes | None, bytes]


def as_record(settings: Settings, event: InputEvent) -> Record:
    topic = Topic.ARTICLES if event.type.startswith("article.") else Topic.COMMENTS
    return topic_name(settings, topic), event.data.article_id.encode(), codec.encode(event)


async def publish(settings: Settings, records: Iterable[Record], *,
                  per_second: float | None = None, chunk: int = 250) -> None:
    """Publish records in order (one producer, acks=all), optionally paced."""
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    try:
        batch: list[asyncio.Future[Any]] = []
        started = time.monotonic()
        for n, (topic, key, value) in enumerate(records, 1):
            batch.append(await producer.send(topic, value, key=key))
            if n % chunk == 0:
                await asyncio.gather(*batch)
                batch.clear()
                if per_second:
                    ahead = n / per_second - (time.monotonic() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
        await asyncio.gather(*batch)
    finally:
        await producer.stop()


class Tail:
    """Reads a whole topic from the beginning in the background and keeps every record."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.records: list[tuple[bytes | None, bytes]] = []
        self._changed = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Tail:
        consumer = self._consumer = make_consumer(self.settings)
        await consumer.start()
        partitions = await _partitions(consumer, self.topic)
        consumer.assign([TopicPartition(self.topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                self.records.extend((r.key, r.value) for r in batch)
            if batches:
                self._changed.set()

    async def wait_for(self, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    async with asyncio.timeout(30):
        while True:
            found = consumer.partitions_for_topic(topic)
            if found:
                return sorted(found)
            await consumer._client.force_metadata_update()


@dataclass(frozen=True)
class FlatData:
    channel: str
    epoch: str
    offset: int
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class FlatUpdate:
    """One update of a ``feed.updates`` record, with the record's envelope fields."""

    type: str
    subject: str
    record_id: str
    data: FlatData


def flatten(value: bytes) -> list[FlatUpdate]:
    record = codec.decode_feed_update(value)
    d = record.data
    return [FlatUpdate(f"feed.{u.kind}", record.subject, record.id,
                       FlatData(d.channel, d.epoch, u.offset, u.kind, u.payload))
            for u in d.updates]


def _index(out: dict[str, dict[int, FlatUpdate]], key: bytes | None, value: bytes) -> None:
    for update in flatten(value):
        assert key == update.data.channel.encode()
        first = out[update.data.channel].setdefault(update.data.offset, update)
        assert (first.data.kind, first.data.payload, first.data.epoch) == (
            update.data.kind, update.data.payload, update.data.epoch), "offset re-used"


def feed_by_channel(tail: Tail) -> dict[str, dict[int, FlatUpdate]]:
    """``feed.updates`` per channel and offset; a repeated offset must repeat the update."""
    out: dict[str, dict[int, FlatUpdate]] = defaultdict(dict)
    for key, value in tail.records:
        _index(out, key, value)
    return out


class FeedIndex:
    """``feed.updates`` of a :class:`Tail` per channel and offset, decoded incrementally."""

    def __init__(self, tail: Tail) -> None:
        self.tail = tail
        self.seen = 0
        self.channels: dict[str, dict[int, FlatUpdate]] = defaultdict(dict)

    def refresh(self) -> FeedIndex:
        records = self.tail.records
        for key, value in records[self.seen:]:
            _index(self.channels, key, value)
        self.seen = len(records)
        return self

    def last_count(self, article_id: str) -> int:
        """The count of the newest ``count:<id>`` update (0 when there is none)."""
        channel = self.channels.get(f"count:{article_id}")
        return channel[max(channel)].data.payload["count"] if channel else 0

    def gapless(self, channel: str) -> bool:
        offsets = self.channels.get(channel, {})
        return sorted(offsets) == list(range(1, len(offsets) + 1))


def last_counts(tail: Tail) -> dict[str, int]:
    """Latest ``feed.counts`` value per article (highest channel offset wins)."""
    best: dict[str, tuple[int, int]] = {}
    for _key, value in tail.records:
        data = codec.decode_feed_count(value).data
        if data.article_id not in best or data.offset > best[data.article_id][0]:
            best[data.article_id] = (data.offset, data.count)
    return {a: c for a, (_, c) in best.items()}


async def poll_json(client: httpx.AsyncClient, url: str, done: Callable[[Any], bool],
                    timeout_s: float = 60.0) -> Any:
    """GET ``url`` until a 200 answer satisfies ``done``; return that answer."""
    body: Any = None
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                response = await client.get(url)
                if response.status_code == 200:
                    body = response.json()
                    if done(body):
                        return body
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{url} never satisfied the condition; last: {body}") from None


async def counts_via(client: httpx.AsyncClient, base: str, ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in range(0, len(ids), 200):
        response = await client.get(f"{base}/v1/counts", params={"ids": ",".join(ids[i:i + 200])})
        response.raise_for_status()
        out.update(response.json()["counts"])
    return out


# -- a generated comment stream and its ground truth -------------------------------------------


def article(aid: str, site: str) -> ArticlePublished:
    return ArticlePublished(id=f"pub-{aid}", subject=aid, time=T0, data=ArticleData(
        article_id=aid, site=site, title=f"Article {aid}", url=f"https://news.example/{aid}",
        author="Desk", published_at=T0))


def post(aid: str, cid: str, site: str, *, minute: int, body: str = "a comment",
         parent: str | None = None, status: str = "visible",
         eid: str | None = None) -> CommentPosted:
    at = T0 + timedelta(minutes=minute)
    return CommentPosted(id=eid or f"post-{aid}-{cid}", subject=aid, time=at,
                         data=CommentPostedData(
                             comment_id=cid, article_id=aid, site=site, parent_id=parent,
                             author=Author(id=f"u-{cid}", name=f"Reader {cid}"), body=body,
                             posted_at=at, status=status))


def moderate(aid: str, cid: str, site: str, status: str, eid: str) -> CommentModerated:
    return CommentModerated(id=eid, subject=aid, data=CommentModeratedData(
        comment_id=cid, article_id=aid, site=site, status=status, moderator="mod"))


def delete(aid: str, cid: str, site: str, eid: str) -> CommentDeleted:
    return CommentDeleted(id=eid, subject=aid, data=CommentDeletedData(
        comment_id=cid, article_id=aid, site=site, deleted_by="mod"))


def vote(aid: str, cid: str, site: str, voter: str, value: int, eid: str) -> CommentVoted:
    return CommentVoted(id=eid, subject=aid, data=CommentVotedData(
        comment_id=cid, article_id=aid, site=site, voter_id=voter, value=value))


@dataclass
class Stream:
    articles: list[InputEvent]
    comments: list[InputEvent]
    counts: dict[str, int]
    scores: dict[tuple[str, str], int] = field(default_factory=dict)


def comment_stream(*, site: str, n_articles: int, n_events: int, seed: int) -> Stream:
    """Posts (some pending), duplicate deliveries, hides, approvals, deletes and votes."""
    rng = random.Random(seed)
    aids = [f"{site}-art-{i:03d}" for i in range(n_articles)]
    status: dict[tuple[str, str], str] = {}
    votes: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    posted: list[tuple[str, str]] = []
    events: list[InputEvent] = []
    n = 0
    while len(events) < n_events:
        n += 1
        roll = rng.random()
        if roll < 0.74 or len(posted) < 20:
            aid = rng.choice(aids)
            cid = f"c{n:05d}"
            state = "pending" if rng.random() < 0.1 else "visible"
            events.append(post(aid, cid, site, minute=n, body=f"comment {n} " * 3, status=state))
            status[(aid, cid)] = state
            posted.append((aid, cid))
        elif roll < 0.80:
            events.append(events[max(0, len(events) - rng.randint(1, 50))])  # a redelivery
        elif roll < 0.87:
            aid, cid = rng.choice(posted)
            target = rng.choice(["hidden", "visible"])
            events.append(moderate(aid, cid, site, target, f"mod-{n}"))
            if status[(aid, cid)] != "deleted":
                status[(aid, cid)] = target
        elif roll < 0.92:
            aid, cid = rng.choice(posted)
            events.append(delete(aid, cid, site, f"del-{n}"))
            status[(aid, cid)] = "deleted"
        else:
            aid, cid = rng.choice(posted)
            voter, value = f"v{rng.randint(0, 5)}", rng.choice([-1, 0, 1])
            events.append(vote(aid, cid, site, voter, value, f"vote-{n}"))
            if status[(aid, cid)] != "deleted":
                votes[(aid, cid)][voter] = value
    counts = {a: 0 for a in aids}
    for (aid, _), state in status.items():
        counts[aid] += state == "visible"
    return Stream(
        articles=[article(a, site) for a in aids], comments=events, counts=counts,
        scores={k: sum(v.values()) for k, v in votes.items()},
    )
