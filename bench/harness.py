"""Process plumbing shared by the benchmarks: run directories, the broker, readiness waits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka import TopicPartition

from commentfeed.broker import EmbeddedBroker, free_port
from commentfeed.kafka import ensure_topics, make_consumer
from commentfeed.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def run_dir(name: str) -> Path:
    """``var/bench/<name>/``, emptied: logs, samples and profiles of this run."""
    path = ROOT / "var" / "bench" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@dataclass
class BrokerRun:
    broker: EmbeddedBroker
    settings: Settings


@contextlib.asynccontextmanager
async def fresh_broker(log_dir: Path, tag: str = "broker", *,
                       partitions: int = 4) -> AsyncIterator[BrokerRun]:
    """A new embedded broker (empty: its memory engine starts from nothing), topics created."""
    broker = EmbeddedBroker(port=free_port(), log_file=log_dir / f"{tag}.log")
    await asyncio.to_thread(broker.start)
    try:
        settings = Settings.explicit(kafka_bootstrap=broker.bootstrap, partitions=partitions)
        await ensure_topics(settings)
        yield BrokerRun(broker, settings)
    finally:
        await asyncio.to_thread(broker.stop)


async def wait_http(url: str, timeout_s: float = 60.0, *, what: str = "") -> float:
    """Poll ``url`` until it answers 200; seconds it took."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=2.0) as client:
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        response = await client.get(url)
                        if response.status_code == 200:
                            return time.monotonic() - started
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise TimeoutError(f"{what or url} not ready within {timeout_s}s") from None


async def topic_sizes(settings: Settings) -> dict[str, int]:
    """Records in every topic of the broker (sum of the partitions' end offsets)."""
    consumer = make_consumer(settings, group_id=None, client_id="bench-sizes")
    await consumer.start()
    try:
        topics = sorted(await consumer.topics())
        tps = [TopicPartition(t, p) for t in topics
               for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = await consumer.end_offsets(tps) if tps else {}
    finally:
        await consumer.stop()
    sizes: dict[str, int] = {}
    for tp, end in ends.items():
        sizes[tp.topic] = sizes.get(tp.topic, 0) + end
    return sizes


def load_average() -> str:
    """The 1-minute load average: how busy the shared machine was."""
    return f"{os.getloadavg()[0]:.2f}"


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a commentfeed service process against ``settings``' broker."""
    env = dict(os.environ)
    env.update({
        "PYTHONUNBUFFERED": "1",
        "COMMENTFEED_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "COMMENTFEED_FETCH_WAIT_MS": str(settings.fetch_wait_ms),
        "COMMENTFEED_PARTITIONS": str(settings.partitions),
        # INFO, the default, on purpose: at WARNING and above Faust's worker turns on its
        # terminal spinner, which sets the root logger to DEBUG (see docs/benchmarks.md).
        "COMMENTFEED_LOG_LEVEL": "INFO",
    })
    env.update(extra)
    return env
