"""Helpers for the producers' integration tests: read back what reached the real broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from aiokafka import TopicPartition

from commentfeed import codec
from commentfeed.broker import free_port
from commentfeed.kafka import make_consumer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from tests.ingest_client import JWT_SECRET, SERVICE_TOKEN, Stored


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


@dataclass
class IngestProcess:
    """A real ``commentfeed ingest`` process on a free loopback port."""

    process: subprocess.Popen[bytes]
    base_url: str

    def output(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        out, _ = self.process.communicate(timeout=10)
        return out.decode(errors="replace")


def spawn_ingest(settings: Settings, *args: str, **env: str) -> IngestProcess:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COMMENTFEED_")}
    environment.update({
        "COMMENTFEED_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "COMMENTFEED_TOPIC_PREFIX": settings.topic_prefix,
        "COMMENTFEED_HOST": "127.0.0.1", "COMMENTFEED_INGEST_PORT": str(port),
        "COMMENTFEED_JWT_SECRET": JWT_SECRET, "COMMENTFEED_SERVICE_TOKEN": SERVICE_TOKEN,
        **env,
    })
    process = subprocess.Popen(
        [sys.executable, "-m", "commentfeed", "ingest", "--burst", "100000", *args],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    return IngestProcess(process, f"http://127.0.0.1:{port}")


async def wait_ingest_ready(ingest: IngestProcess, timeout_s: float = 60) -> None:
    async with asyncio.timeout(timeout_s), httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(f"{ingest.base_url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert ingest.process.poll() is None, ingest.output()
            await asyncio.sleep(0.1)


@asynccontextmanager
async def ingest_processes(settings: Settings, count: int,
                           **env: str) -> AsyncIterator[list[IngestProcess]]:
    """``count`` ingest processes on one broker, ready; killed on exit."""
    running = [spawn_ingest(settings, **env) for _ in range(count)]
    try:
        await asyncio.gather(*(wait_ingest_ready(p) for p in running))
        yield running
    finally:
        for p in running:
            if p.process.poll() is None:
                p.process.kill()
            p.process.communicate(timeout=10)
