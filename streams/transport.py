"""Faust's Kafka transport, adjusted to commentfeed settings (registered as ``commentfeed://``).

faust-streaming's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``; the embedded broker
holds every Fetch for that long, so the consumer thread here sets the wait from settings. The
producer takes idempotence from settings and, before Faust commits offsets, drains Faust's
changelog buffer completely (its own flush gives up after 0.1 s without progress, which would
let a commit run ahead of changelog records). Records of one fetch are handed out in
timestamp order across topics, so an article published just before its first comment is
folded first.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from typing import Any

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver
from faust.transport.utils import DefaultSchedulingStrategy

from commentfeed.settings import Settings

SCHEME = "commentfeed"


def app_settings(app: Any) -> Settings:
    settings = getattr(app, "settings", None)
    if not isinstance(settings, Settings):
        raise TypeError("the commentfeed transport needs a streams.app.StreamsApp")
    return settings


def _apply_fetch_wait(consumer: Any, settings: Settings) -> Any:
    # aiokafka keeps the value until start() builds its fetcher; fail loudly if that changes.
    if not hasattr(consumer, "_fetch_max_wait_ms"):
        raise RuntimeError("aiokafka changed: cannot set the consumer fetch wait")
    consumer._fetch_max_wait_ms = settings.fetch_wait_ms
    return consumer


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        return _apply_fetch_wait(consumer, app_settings(self.app))

    def _create_client_consumer(self, transport: Any) -> Any:
        consumer = super()._create_client_consumer(transport)
        return _apply_fetch_wait(consumer, app_settings(self.app))


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Producer(driver.Producer):
    #: Faust holds stream processing whenever its changelog buffer has more than 100 records
    #: and then waits for them one loop turn at a time; at a few records per event that ping-
    #: pong capped the worker near 1,000 events/s. Commits still drain the buffer completely.
    BUFFER_HIGH_WATER = 20_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer.max_messages = self.BUFFER_HIGH_WATER

    def _settings_extra(self) -> Mapping[str, Any]:
        extra = dict(super()._settings_extra())
        extra.setdefault("enable_idempotence", app_settings(self.app).idempotent_producer)
        return extra

    async def flush(self) -> None:
        while self.buffer.size and not self.buffer.should_stop:
            await self.buffer.flush()
        await super().flush()


class Transport(driver.Transport):
    Consumer = Consumer
    Producer = Producer


class TimeOrderedScheduler(DefaultSchedulingStrategy):
    """Deliver the records of one fetch merged by timestamp (each partition stays in order)."""

    def __init__(self) -> None:
        pass  # stateless; the base declares __init__ abstract

    def iterate(self, records: Mapping[Any, list[Any]]) -> Iterator[tuple[Any, Any]]:
        streams = [_tagged(tp, batch) for tp, batch in records.items()]
        return heapq.merge(*streams, key=lambda item: item[1].timestamp)


def _tagged(tp: Any, batch: list[Any]) -> Iterator[tuple[Any, Any]]:
    return ((tp, record) for record in batch)


def register() -> None:
    """Make ``commentfeed://host:port`` resolve to :class:`Transport` (idempotent)."""
    TRANSPORTS[SCHEME] = f"{__name__}:Transport"


def broker_url(settings: Settings) -> str:
    return ";".join(f"{SCHEME}://{host.strip()}"
                    for host in settings.kafka_bootstrap.split(",") if host.strip())
