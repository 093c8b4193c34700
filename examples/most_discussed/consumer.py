"""The thin Kafka shell of the most-discussed view: read, decode, fold.

It joins its OWN consumer group (never the streams worker's), so it gets its own copy of every
record. The view lives in memory, so on every partition assignment it reads the assigned
partitions from the beginning and rebuilds; it never commits offsets, because a committed
offset would skip records that an empty view still needs. ``feed.counts`` is compacted on
Kafka, so that read is about one record per article. Replays are harmless: the fold keeps the
highest channel offset per count and drops duplicate comment ids.

A record that does not decode is logged and counted in ``rejected``; the service goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from commentfeed import codec
from commentfeed.errors import EventDecodeError
from commentfeed.events import CommentEvent, FeedCount

from .view import ONE_HOUR, View, fold

log = logging.getLogger(__name__)

#: Logical topic names from docs/asyncapi.yaml; a deployment may put a prefix before them.
COMMENTS = "comments"
FEED_COUNTS = "feed.counts"


@dataclass(frozen=True, slots=True)
class Config:
    bootstrap: str = "127.0.0.1:9092"
    #: The deployment's COMMENTFEED_TOPIC_PREFIX.
    topic_prefix: str = ""
    group_id: str = "most-discussed"
    window: timedelta = ONE_HOUR
    #: 5 ms suits the embedded broker (it holds every fetch for the whole wait); 100-500 on Kafka.
    fetch_wait_ms: int = 100
    rebalance_timeout_ms: int = 10_000


class _FromTheBeginning(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass  # nothing to save: the view is rebuilt from the topics

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if assigned:
            await self._consumer.seek_to_beginning(*assigned)


class MostDiscussed:
    """Consumes ``comments`` and ``feed.counts`` into :attr:`view` until cancelled."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.view = View(window=config.window)
        self.applied = 0
        self.rejected = 0
        #: Notified after every batch, for callers that wait for the view to reach a state.
        self.progress = asyncio.Condition()
        self._comments = config.topic_prefix + COMMENTS
        self._counts = config.topic_prefix + FEED_COUNTS

    def apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Decode one record and fold it; bad bytes are logged and skipped."""
        event: FeedCount | CommentEvent
        try:
            if record.value is None:
                raise EventDecodeError("invalid_event", "empty record", field=None, raw=b"")
            if record.topic == self._counts:
                event = codec.decode_feed_count(record.value)
            else:
                event = codec.decode_comment_event(record.value)
        except EventDecodeError as exc:
            self.rejected += 1
            log.warning("skipping %s[%d]@%d: %s", record.topic, record.partition,
                        record.offset, exc)
            return
        self.view = fold(self.view, event)
        self.applied += 1

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds; it is checked after every batch."""
        async with self.progress:
            await self.progress.wait_for(condition)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.config.bootstrap,
            group_id=self.config.group_id,
            client_id=self.config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.config.fetch_wait_ms,
            rebalance_timeout_ms=self.config.rebalance_timeout_ms,
        )
        consumer.subscribe([self._comments, self._counts], listener=_FromTheBeginning(consumer))
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=1_000)
                for records in batches.values():
                    for record in records:
                        self.apply(record)
                if batches:
                    async with self.progress:
                        self.progress.notify_all()
        finally:
            await consumer.stop()
