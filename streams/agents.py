"""What the agents do with one record: decode, fold, write the tables, send the results.

The agents themselves (in ``app``) are a loop over Faust events calling these handlers. A
handler never raises on bad input: undecodable or refused records go to ``comments.dlq`` with
a reason and their original bytes, and the worker carries on.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from commentfeed import codec
from commentfeed.errors import EventDecodeError
from commentfeed.events import InputEvent
from streams.logic import (
    ARTICLES,
    COMMENTS,
    FACTS,
    ChannelUpdate,
    CountChanged,
    Emit,
    Outcome,
    Position,
    RecentFact,
    Rejected,
    fold_event,
    fold_facts,
)
from streams.records import (
    dead_letter_record,
    fact_record,
    feed_count_record,
    feed_update_record,
)
from streams.tables import RecordTable, writing_for

log = logging.getLogger(__name__)

_FACT_FIELDS = ("op", "site", "article_id", "comment_id", "posted_at", "version")


@dataclass
class Outputs:
    """Where the handlers send: topic names and the app's producer.

    Records go straight to Faust's producer rather than through Faust topic objects, which
    wrap every record in futures and callbacks; that was most of the worker's CPU per event.
    """

    producer: Any
    feed_updates: str
    feed_counts: str
    facts: str
    dlq: str

    def last_changelog(self) -> Any | None:
        """The newest table write still in Faust's changelog buffer (a future of its ack).

        The buffer is one FIFO queue, so right after a synchronous table write its tail is
        that write. Waiting for the whole buffer to empty instead would also wait for the
        ``fold`` agent's writes, which under load keep coming.
        """
        pending = self.producer.buffer.pending
        queue = getattr(pending, "_queue", None)
        if queue is None:
            raise RuntimeError("asyncio.Queue changed: cannot find the changelog buffer")
        return queue[-1] if queue else None

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        # Awaiting the send means the record is appended to the producer's batch (not yet
        # acknowledged): an event's updates are queued before the next event's table writes.
        await self.producer.send(topic, key, value, None, None, None)


@dataclass
class Stats:
    processed: int = 0
    dead_lettered: int = 0
    replayed: int = 0
    superseded: int = 0


class Handlers:
    def __init__(self, *, state: RecordTable, sites: RecordTable, outputs: Outputs,
                 articles_topic: str, comments_topic: str, namespace: str) -> None:
        self.state = state
        self.sites = sites
        self.outputs = outputs
        self.namespace = namespace
        self.tags = {articles_topic: ARTICLES, comments_topic: COMMENTS}
        self.comments_topic = comments_topic
        self.stats = Stats()

    async def on_input(self, message: Any) -> None:
        """One record of ``articles`` or ``comments``."""
        raw: bytes = message.value if message.value is not None else b""
        key: bytes | None = message.key
        tag = self.tags[message.topic]
        try:
            event = self._decode(tag, raw, key)
        except EventDecodeError as exc:
            await self._dead_letter(message, codec.encode(codec.dead_letter(
                exc, raw=raw, topic=message.topic, partition=message.partition,
                offset=message.offset, key=key)))
            return
        try:
            pos = Position(tag, message.offset, message.partition,
                           round(message.timestamp * 1000))
            outcome = fold_event(event, pos, self.state.get, namespace=self.namespace, raw=raw)
            self.state.apply(outcome.writes)
        except Exception as exc:  # a bug must not stop the worker; keep the record
            log.exception("folding %s@%d failed", message.topic, message.offset)
            await self._dead_letter(message, codec.encode(codec.dead_letter(
                exc, raw=raw, topic=message.topic, partition=message.partition,
                offset=message.offset, key=key)))
            return
        await self._emit(outcome, message, raw)

    def _decode(self, tag: str, raw: bytes, key: bytes | None) -> InputEvent:
        event: InputEvent
        if tag == ARTICLES:
            event = codec.decode_article_event(raw)
        else:
            event = codec.decode_comment_event(raw)
        if key is None or key.decode("utf-8", "replace") != event.data.article_id:
            # State is partitioned by the record key; a record keyed otherwise would land in
            # the wrong partition's state.
            raise EventDecodeError("key_mismatch", "the record key must be data.article_id",
                                   field="data.article_id", raw=raw)
        return event

    async def on_facts(self, events: Sequence[Any]) -> None:
        """A batch of records of the internal recent-list topic (keyed by site).

        Each site's facts are folded together: one site record write and at most one
        ``recent`` update per site and batch. The updates are queued only once the broker has
        acknowledged the batch's table writes (see :func:`streams.logic.fold_facts`).
        """
        by_site: dict[str, list[tuple[Any, dict[str, Any], bytes]]] = {}
        for event in events:
            message = event.message
            raw: bytes = message.value if message.value is not None else b""
            try:
                fact = codec.loads(raw)
                if not isinstance(fact, dict) or any(f not in fact for f in _FACT_FIELDS):
                    raise ValueError("not a recent-list fact")
            except Exception as exc:
                await self._bad_fact(message, raw, exc)
                continue
            by_site.setdefault(str(fact["site"]), []).append((event, fact, raw))
        done: list[tuple[Outcome, Any, bytes]] = []
        written: Any | None = None
        for batch in by_site.values():
            try:
                outcome = fold_facts(
                    [(fact, Position(FACTS, event.message.offset)) for event, fact, _ in batch],
                    self.sites.get, namespace=self.namespace)
                with writing_for(batch[-1][0]):
                    self.sites.apply(outcome.writes)
                if outcome.writes:
                    written = self.outputs.last_changelog() or written
            except Exception as exc:
                for event, _, raw in batch:
                    await self._bad_fact(event.message, raw, exc)
                continue
            last_event, _, last_raw = batch[-1]
            done.append((outcome, last_event.message, last_raw))
            self.stats.processed += len(batch) - 1
        if written is not None:
            # A landed update must imply a landed site record (see fold_facts).
            await written
        for outcome, message, raw in done:
            await self._emit(outcome, message, raw)

    async def _bad_fact(self, message: Any, raw: bytes, exc: Exception) -> None:
        log.error("recent-list fact %s@%d failed: %r", message.topic, message.offset, exc)
        await self._dead_letter(message, codec.encode(codec.dead_letter(
            exc, raw=raw, topic=message.topic, partition=message.partition,
            offset=message.offset, key=message.key)))

    async def _emit(self, outcome: Outcome, message: Any, raw: bytes) -> None:
        stats = self.stats
        stats.processed += 1
        stats.replayed += outcome.replayed
        stats.superseded += outcome.superseded
        now = datetime.now(UTC)
        for emit in outcome.emits:
            await self._send(emit, now, message, raw)

    async def _send(self, emit: Emit, now: datetime, message: Any, raw: bytes) -> None:
        out = self.outputs
        if isinstance(emit, ChannelUpdate):
            await out.send(out.feed_updates, emit.channel.encode(),
                           feed_update_record(emit, now))
        elif isinstance(emit, CountChanged):
            await out.send(out.feed_counts, emit.article_id.encode(),
                           feed_count_record(emit, now))
        elif isinstance(emit, RecentFact):
            await out.send(out.facts, emit.site.encode(), fact_record(emit.fact))
        elif isinstance(emit, Rejected) and emit.raw_b64 is not None:
            # A parked comment that waited for its article in vain: its own record goes.
            await self._dead_letter(message, dead_letter_record(
                emit, raw=base64.b64decode(emit.raw_b64), topic=self.comments_topic,
                partition=message.partition, offset=emit.offset or 0,
                key=emit.key.encode() if emit.key else message.key))
        elif isinstance(emit, Rejected):
            await self._dead_letter(message, dead_letter_record(
                emit, raw=raw, topic=message.topic, partition=message.partition,
                offset=message.offset, key=message.key))

    async def _dead_letter(self, message: Any, value: bytes) -> None:
        self.stats.dead_lettered += 1
        await self.outputs.send(self.outputs.dlq, message.key, value)
