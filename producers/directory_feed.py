"""Keeps a :class:`~producers.directory.Directory` current from the ``articles`` and ``comments``
topics: the thin I/O shell around the fold.

Every ingest process reads every partition of both topics from the beginning, with manual
assignment and no consumer group (no rebalance wait, any number of processes side by side).
It is *ready* once it has read up to the end offsets it saw at start. :meth:`DirectoryFeed.sync`
gives read-your-writes across processes: it asks the broker for the current end offsets and
waits until the directory has read up to them, so a write that another process had acknowledged
before this call began is in the directory when it returns. A record that does not
decode is logged and skipped; the feed never stops on bad input. If the topics do not exist
yet it waits for them (``commentfeed topics`` creates them) instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from commentfeed import codec
from commentfeed.errors import EventDecodeError
from commentfeed.kafka import make_consumer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from producers.directory import Directory
from producers.idempotency import KEYED_EVENT_PREFIX

log = logging.getLogger(__name__)


class NotFollowing(Exception):
    """The feed has no live consumer right now (starting, or reconnecting)."""


class DirectoryFeed:
    """Runs the consumer in a background task; ``ready`` is set once caught up."""

    def __init__(self, settings: Settings, directory: Directory | None = None) -> None:
        self.settings = settings
        self.directory = directory if directory is not None else Directory()
        self.ready = asyncio.Event()
        #: Notified after every batch the feed folds in.
        self._progress = asyncio.Condition()
        self.records = 0
        self.skipped = 0
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[TopicPartition, int] = {}
        #: The consumer and its partitions while it is following the topics.
        self._following: tuple[AIOKafkaConsumer, list[TopicPartition]] | None = None
        self._topics = [
            topic_name(settings, Topic.ARTICLES), topic_name(settings, Topic.COMMENTS),
        ]

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="directory-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_ready(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            await self.ready.wait()

    async def wait_until(self, predicate: Callable[[Directory], bool], timeout_s: float) -> None:
        """Wait until the directory satisfies ``predicate`` (checked after every batch)."""
        async with asyncio.timeout(timeout_s), self._progress:
            await self._progress.wait_for(lambda: predicate(self.directory))

    async def sync(self) -> None:
        """Wait until the directory has read everything the topics held when this was called.

        Raises :class:`NotFollowing` if there is no consumer to ask; the caller bounds the wait
        (a broker that stops answering stalls it).
        """
        if self._following is None or not self.ready.is_set():
            raise NotFollowing
        consumer, partitions = self._following
        targets: dict[TopicPartition, int] = await consumer.end_offsets(partitions)

        def caught_up(_: Directory) -> bool:
            return all(self._positions.get(tp, 0) >= end for tp, end in targets.items())

        if not caught_up(self.directory):
            async with self._progress:
                await self._progress.wait_for(lambda: caught_up(self.directory))

    async def _run(self) -> None:
        warned = False
        while True:
            consumer = make_consumer(self.settings, client_id="commentfeed-ingest-directory")
            try:
                await consumer.start()
                partitions = self._partitions(consumer)
                if partitions:
                    await self._consume(consumer, partitions)
                elif not warned:
                    warned = True
                    log.warning("directory feed: waiting for topics %s (`commentfeed topics` "
                                "creates them)", " and ".join(self._topics))
            except KafkaError as exc:
                # The consumer reconnects by itself; this covers failures of start/metadata.
                log.warning("directory feed: %s; retrying", exc)
            except Exception:
                # Never leave the API with a directory that silently stopped following.
                log.exception("directory feed failed; restarting it")
            finally:
                self._following = None
                await _stop(consumer)
            # A new consumer fetches fresh metadata, so it also sees topics created meanwhile.
            await asyncio.sleep(1.0)

    def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition] | None:
        """Every partition of both topics, or None while either is missing."""
        found = {t: consumer.partitions_for_topic(t) for t in self._topics}
        if not all(found.values()):
            return None
        return [TopicPartition(t, p) for t, ps in found.items() for p in sorted(ps or ())]

    async def _consume(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        consumer.assign(partitions)
        # After a reconnect, carry on where the previous consumer stopped.
        for tp, position in self._positions.items():
            if tp in partitions:
                consumer.seek(tp, position)
        fresh = [tp for tp in partitions if tp not in self._positions]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        targets = await consumer.end_offsets(partitions)
        self._following = (consumer, partitions)
        while True:
            # position() is the next offset to read: it also steps over non-data records.
            moved = False
            for tp in partitions:
                position = await consumer.position(tp)
                if position != self._positions.get(tp):
                    self._positions[tp] = position
                    moved = True
            if not self.ready.is_set() and all(
                    self._positions[tp] >= end for tp, end in targets.items()):
                log.info("directory ready: %d articles, %d comments",
                         len(self.directory.articles), self.directory.comment_count)
                self.ready.set()
            if moved:
                async with self._progress:
                    self._progress.notify_all()
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for tp, records in batches.items():
                for record in records:
                    self._fold(record.value, record.offset, tp)

    def _fold(self, raw: bytes | None, offset: int, tp: TopicPartition) -> None:
        self.records += 1
        if raw is None:
            self.skipped += 1
            return
        try:
            event = codec.decode_input(raw)
        except EventDecodeError as exc:
            self.skipped += 1
            log.warning("directory feed: skipping %s[%d]@%d: %s", tp.topic, tp.partition,
                        offset, exc)
            return
        self.directory.apply(event, offset, topic=tp.topic, partition=tp.partition,
                             keyed_prefix=KEYED_EVENT_PREFIX)


async def _stop(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer, even one stopped right after start.

    aiokafka then awaits an internal task it cancelled before the task ever ran, which raises
    CancelledError here although nobody cancelled us; only a real cancellation propagates.
    """
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
