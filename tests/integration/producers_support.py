"""Helpers for the producers' integration tests: read back what reached the real broker."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from commentfeed import codec
from commentfeed.kafka import make_consumer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from tests.ingest_client import Stored


async def _partitions(settings: Settings, topic: Topic) -> list[TopicPartition]:
    consumer = make_consumer(settings)
    await consumer.start()
    try:
        name = topic_name(settings, topic)
        await consumer.topics()
        return [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name))]
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    """The end offset of every partition of ``articles`` and ``comments``."""
    consumer = make_consumer(settings)
    await consumer.start()
    try:
        partitions = [
            *(await _partitions(settings, Topic.ARTICLES)),
            *(await _partitions(settings, Topic.COMMENTS)),
        ]
        offsets: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return offsets
    finally:
        await consumer.stop()


async def read_topic(settings: Settings, topic: Topic, timeout_s: float = 30) -> list[Stored]:
    """Every record of a topic, from the beginning to its current end, decoded."""
    partitions = await _partitions(settings, topic)
    consumer = make_consumer(settings)
    await consumer.start()
    out: list[Stored] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(timeout_s):
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                batches = await consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for r in records:
                        assert r.key is not None
                        assert r.value is not None
                        out.append(Stored(r.key.decode(), tp.partition, r.offset,
                                          codec.decode_input(r.value)))
    finally:
        await consumer.stop()
    return out
