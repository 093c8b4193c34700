"""What the agents do with one fetched batch: decode, fold, send the results, write the tables.

The agents themselves (in ``app``) are loops over batches of Faust events calling these
handlers. A handler never raises on bad input: undecodable or refused records go to
``comments.dlq`` with a reason and their original bytes, and the worker carries on.

Order within a batch (the crash reasoning in :mod:`streams.tx` rests on it): output records
are appended to the producer first, then the table writes (straight to the producer too, see
:mod:`streams.tables`), each partition's batch mark last.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from commentfeed import codec
from commentfeed.channels import ChannelUpdate
from commentfeed.errors import EventDecodeError
from commentfeed.events import InputEvent
from streams.fold import (
    PARK_GRACE,
    CountChanged,
    Emit,
    Failed,
    QueueFact,
    RecentFact,
    fold_batch,
    iso,
    sweep_parked,
)
from streams.moderation import CommentsEvent, decode_comments_record
from streams.modqueue import FACTS_PER_RECORD, QUEUE_FACT_FIELDS, fold_queue
from streams.recent import FACT_FIELDS, fold_facts
from streams.records import (
    dead_letter_record,
    facts_record,
    feed_count_record,
    feed_updates_record,
    queue_facts_record,
)
from streams.shapes import ARTICLES, COMMENTS, FACTS, Position, queue_key, site_key
from streams.tables import PartitionCache, RecordTable

log = logging.getLogger(__name__)


@dataclass
class Outputs:
    """Where the handlers send: topic names and the app's producer.

    Records go straight to Faust's producer rather than through Faust topic objects, which
    wrap every record in futures and callbacks. Partitions are computed here, once per key.
    """

    producer: Any
    partitions: PartitionCache
    feed_updates: str
    feed_counts: str
    facts: str
    dlq: str

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        # Awaiting the send means the record is appended to the producer's batch (not yet
        # acknowledged): a batch's outputs are queued before its table writes.
        partition = self.partitions.partition(topic, key)
        await self.producer.send(topic, key, value, partition, None, None)


@dataclass
class Stats:
    processed: int = 0
    dead_lettered: int = 0
    replayed: int = 0
    superseded: int = 0
    batches: int = 0


@dataclass
class _Packed:
    """A batch's outputs, packed: one record per channel, per article, per site."""

    updates: dict[str, list[ChannelUpdate]] = field(default_factory=dict)
    counts: dict[str, CountChanged] = field(default_factory=dict)
    facts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    queue: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class Handlers:
    def __init__(self, *, state: RecordTable, sites: RecordTable, outputs: Outputs,
                 articles_topic: str, comments_topic: str, namespace: str,
                 park_grace: timedelta = PARK_GRACE, report_threshold: int = 3) -> None:
        self.state = state
        self.report_threshold = report_threshold
        self.sites = sites
        self.outputs = outputs
        self.namespace = namespace
        self.tags = {articles_topic: ARTICLES, comments_topic: COMMENTS}
        self.comments_topic = comments_topic
        self.park_grace = park_grace
        self.stats = Stats()
        # The sweep of parked comments runs between batches, never inside one.
        self.folding = asyncio.Lock()

    async def on_inputs(self, events: Sequence[Any]) -> None:
        """One fetched batch of ``articles`` and ``comments`` records."""
        async with self.folding:
            await self._fold_inputs(events)

    async def on_sweep(self, partitions: Sequence[int], now_ms: int,
                       still_owned: Callable[[], bool]) -> int:
        """Dead-letter parked comments of ``partitions`` that waited past the grace; returns
        how many. Letters go first, then the table writes (as a batch's), and only while this
        worker still owns the partitions (``still_owned``): another owner sweeps again."""
        async with self.folding:
            outcome = sweep_parked(partitions, now_ms, self.state.get,
                                   park_grace=self.park_grace)
            for expired in outcome.expired:
                r = expired.rejected
                assert r.raw_b64 is not None
                assert r.key is not None
                self.stats.dead_lettered += 1
                await self.outputs.send(self.outputs.dlq, r.key.encode(), dead_letter_record(
                    r, raw=base64.b64decode(r.raw_b64), topic=self.comments_topic,
                    partition=expired.partition, offset=r.offset or 0, key=r.key.encode()))
            if not still_owned():
                return 0
            for partition, writes in outcome.writes.items():
                await self.state.write(partition, writes)
            return len(outcome.expired)

    async def _fold_inputs(self, events: Sequence[Any]) -> None:
        inputs: list[tuple[InputEvent | CommentsEvent | Exception, Position, bytes]] = []
        by_pos: dict[Position, Any] = {}
        for event in events:
            message = event.message
            raw: bytes = message.value if message.value is not None else b""
            tag = self.tags[message.topic]
            pos = Position(tag, message.offset, message.partition,
                           round(message.timestamp * 1000))
            decoded: InputEvent | CommentsEvent | Exception
            try:
                decoded = self._decode(tag, raw, message.key)
            except EventDecodeError as exc:
                decoded = exc
            inputs.append((decoded, pos, raw))
            by_pos[pos] = event
        outcome = fold_batch(inputs, self.state.get, namespace=self.namespace,
                             park_grace=self.park_grace, report_threshold=self.report_threshold)
        stats = self.stats
        stats.batches += 1
        stats.superseded += len(outcome.landed)
        now = iso(datetime.now(UTC))
        packed = _Packed()
        for pos, emits in outcome.emits:
            message = by_pos[pos].message
            stats.processed += 1
            if isinstance(emits, Failed):
                if not isinstance(emits.error, EventDecodeError):
                    log.error("folding %s@%d failed: %r", message.topic, message.offset,
                              emits.error)
                await self._dead_letter(message, codec.encode(codec.dead_letter(
                    emits.error, raw=message.value or b"", topic=message.topic,
                    partition=message.partition, offset=message.offset, key=message.key)))
                continue
            for emit in emits:
                await self._pack(emit, packed, message)
        await self._send_packed(packed, now)
        # Each partition's writes go to its own changelog partition, the batch mark last.
        for partition, writes in outcome.writes.items():
            await self.state.write(partition, writes)

    def _decode(self, tag: str, raw: bytes, key: bytes | None) -> InputEvent | CommentsEvent:
        if tag == COMMENTS:
            return decode_comments_record(raw, key)
        event = codec.decode_article_event(raw)
        if key is None or key.decode("utf-8", "replace") != event.data.article_id:
            # State is partitioned by the record key; a record keyed otherwise would land in
            # the wrong partition's state.
            raise EventDecodeError("key_mismatch", "the record key must be data.article_id",
                                   field="data.article_id", raw=raw)
        return event

    async def _pack(self, emit: Emit, packed: _Packed, message: Any) -> None:
        if isinstance(emit, ChannelUpdate):
            packed.updates.setdefault(emit.channel, []).append(emit)
        elif isinstance(emit, CountChanged):
            packed.counts[emit.article_id] = emit  # the latest value per article and batch
        elif isinstance(emit, RecentFact):
            packed.facts.setdefault(emit.site, []).append(emit.fact)
        elif isinstance(emit, QueueFact):
            packed.queue.setdefault(emit.site, []).append(emit.fact)
        elif emit.raw_b64 is not None:
            # A parked comment that waited for its article in vain: its own record goes.
            await self._dead_letter(message, dead_letter_record(
                emit, raw=base64.b64decode(emit.raw_b64), topic=self.comments_topic,
                partition=message.partition, offset=emit.offset or 0,
                key=emit.key.encode() if emit.key else message.key))
        else:
            await self._dead_letter(message, dead_letter_record(
                emit, raw=message.value or b"", topic=message.topic,
                partition=message.partition, offset=message.offset, key=message.key))

    async def _send_packed(self, packed: _Packed, now: str) -> None:
        out = self.outputs
        for channel, updates in packed.updates.items():
            await out.send(out.feed_updates, channel.encode(), feed_updates_record(updates, now))
        for article_id, count in packed.counts.items():
            await out.send(out.feed_counts, article_id.encode(), feed_count_record(count, now))
        for site, facts in packed.facts.items():
            await out.send(out.facts, site.encode(), facts_record(site, facts))
        for site, facts in packed.queue.items():
            for at in range(0, len(facts), FACTS_PER_RECORD):
                await out.send(out.facts, site.encode(),
                               queue_facts_record(site, facts[at:at + FACTS_PER_RECORD]))

    async def on_facts(self, events: Sequence[Any]) -> None:
        """A batch of records of the internal recent-list topic (keyed by site).

        Each site's facts are folded together: one site record write and at most one
        ``recent`` update per site and batch. The updates are queued only once the broker has
        acknowledged the batch's table writes (see :mod:`streams.recent`).
        """
        by_site: dict[str, list[tuple[Any, list[dict[str, Any]]]]] = {}
        queues: dict[str, list[tuple[Any, list[dict[str, Any]]]]] = {}
        for event in events:
            message = event.message
            raw: bytes = message.value if message.value is not None else b""
            try:
                record = codec.loads(raw)
                if isinstance(record, dict) and "queue" in record:
                    queue = record["queue"]
                    if not isinstance(queue, list) or not queue or any(
                            not isinstance(f, dict) or any(k not in f for k in QUEUE_FACT_FIELDS)
                            or f["site"] != record.get("site") for f in queue):
                        raise ValueError("not a record of moderation-queue facts")
                    queues.setdefault(str(record["site"]), []).append((event, queue))
                    continue
                facts = record.get("facts") if isinstance(record, dict) else None
                if not isinstance(facts, list) or not facts or any(
                        not isinstance(f, dict) or any(k not in f for k in FACT_FIELDS)
                        or f["site"] != record.get("site") for f in facts):
                    raise ValueError("not a record of recent-list facts")
            except Exception as exc:
                await self._bad_fact(message, raw, exc)
                continue
            by_site.setdefault(str(record["site"]), []).append((event, facts))
        updates: list[ChannelUpdate] = []
        written: Any | None = None
        for batch in by_site.values():
            try:
                outcome = fold_facts(
                    [(facts, Position(FACTS, event.message.offset)) for event, facts in batch],
                    self.sites.get, namespace=self.namespace)
                if outcome.write is not None:
                    written = await self.sites.write(
                        batch[-1][0].message.partition,
                        {site_key(outcome.write["site"]): dict(outcome.write)}) or written
            except Exception as exc:
                for event, _ in batch:
                    await self._bad_fact(event.message, event.message.value or b"", exc)
                continue
            self.stats.replayed += outcome.replayed
            updates += outcome.emits
        if written is not None:
            # A landed update must imply a landed site record (see streams.recent).
            await written
        now = iso(datetime.now(UTC))
        out = self.outputs
        for update in updates:
            await out.send(out.feed_updates, update.channel.encode(),
                           feed_updates_record([update], now))
        for batch in queues.values():
            await self._fold_queue(batch)

    async def _fold_queue(self, batch: list[tuple[Any, list[dict[str, Any]]]]) -> None:
        """One site's queue facts: each chunk's record is written and acknowledged before its
        updates are queued (see streams.modqueue)."""
        out = self.outputs
        try:
            outcome = fold_queue(
                [(facts, Position(FACTS, event.message.offset)) for event, facts in batch],
                self.sites.get, namespace=self.namespace)
        except Exception as exc:
            for event, _ in batch:
                await self._bad_fact(event.message, event.message.value or b"", exc)
            return
        self.stats.replayed += outcome.replayed
        if outcome.replay:
            await out.send(out.feed_updates, outcome.replay[0].channel.encode(),
                           feed_updates_record(outcome.replay, iso(datetime.now(UTC))))
        for chunk in outcome.chunks:
            written = await self.sites.write(batch[-1][0].message.partition,
                                             {queue_key(chunk.write["site"]): dict(chunk.write)})
            if written is not None:
                await written
            if chunk.emits:
                await out.send(out.feed_updates, chunk.emits[0].channel.encode(),
                               feed_updates_record(chunk.emits, iso(datetime.now(UTC))))

    async def _bad_fact(self, message: Any, raw: bytes, exc: Exception) -> None:
        log.error("recent-list fact %s@%d failed: %r", message.topic, message.offset, exc)
        await self._dead_letter(message, codec.encode(codec.dead_letter(
            exc, raw=raw, topic=message.topic, partition=message.partition,
            offset=message.offset, key=message.key)))

    async def _dead_letter(self, message: Any, value: bytes) -> None:
        self.stats.dead_lettered += 1
        await self.outputs.send(self.outputs.dlq, message.key, value)
