"""The publishing library: typed input events to the right topic, keyed by ``article_id``.

    async with Publisher(settings) as pub:
        delivery = await pub.publish(event)           # one event, wait for the broker's ack
        deliveries = await pub.publish_many(events)   # many, sent together, acks in input order
        pending = await pub.submit(event)             # enqueue now, await ``pending`` for the ack

Article events go to ``articles``, comment events to ``comments``; both are keyed by the
article id so one article's events stay in one partition, in order. The producer comes from
:func:`commentfeed.kafka.make_producer` (short linger, idempotence from settings: on for Kafka,
off for the embedded broker). Failures surface as :class:`~commentfeed.errors.PublishError`
whose ``retriable`` comes from aiokafka's error class; no aiokafka exception escapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import IllegalOperation, KafkaError

from commentfeed import codec
from commentfeed.errors import BrokerError, PublishError
from commentfeed.events import (
    ARTICLE_EVENT_TYPES,
    COMMENT_EVENT_TYPES,
    MODERATION_EVENT_TYPES,
    AnyInputEvent,
    partition_key,
)
from commentfeed.kafka import make_producer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the broker stored one event."""

    topic: str
    partition: int
    offset: int
    event_id: str
    event_type: str
    #: The record key: the event's article id.
    key: str


class PublishBatchError(PublishError):
    """Some events of a batch failed; the others were stored.

    ``deliveries`` is in input order with ``None`` where an event failed; ``errors`` maps the
    failed positions to their :class:`PublishError`. Retrying is safe only if every failure was.
    """

    def __init__(self, deliveries: list[Delivery | None], errors: dict[int, PublishError]) -> None:
        first = errors[min(errors)]
        super().__init__(
            f"{len(errors)} of {len(deliveries)} events failed; first: {first}",
            retriable=all(e.retriable for e in errors.values()),
        )
        self.deliveries = deliveries
        self.errors = errors


def route(settings: Settings, event: AnyInputEvent) -> tuple[str, str]:
    """The physical topic and the key of an input event."""
    if isinstance(event, ARTICLE_EVENT_TYPES):
        return topic_name(settings, Topic.ARTICLES), event.data.article_id
    if isinstance(event, (*COMMENT_EVENT_TYPES, *MODERATION_EVENT_TYPES)):
        return topic_name(settings, Topic.COMMENTS), partition_key(event)
    raise PublishError(f"not an input event: {type(event).__name__}", retriable=False)


def as_publish_error(exc: BaseException, event_id: str) -> PublishError:
    """Translate whatever aiokafka raised into the project's typed error (cause kept)."""
    if isinstance(exc, PublishError):
        return exc
    retriable = isinstance(exc, KafkaError) and bool(exc.retriable)
    if isinstance(exc, IllegalOperation):
        error = PublishError(f"event {event_id}: {exc}", retriable=False)
    else:
        error = PublishError(f"event {event_id}: {type(exc).__name__}: {exc}",
                             retriable=retriable)
    error.__cause__ = exc
    return error


def encode_checked(event: AnyInputEvent) -> bytes:
    """Wire bytes of an event, refusing what every consumer would refuse anyway."""
    if event.subject != partition_key(event):
        raise PublishError(
            f"event {event.id}: subject {event.subject!r} is not its key "
            f"{partition_key(event)!r}",
            retriable=False,
        )
    value = codec.encode(event)
    if len(value) > codec.MAX_EVENT_BYTES:
        raise PublishError(
            f"event {event.id}: {len(value)} bytes, limit {codec.MAX_EVENT_BYTES}",
            retriable=False,
        )
    return value


class Publisher:
    """An async context manager around one aiokafka producer.

    ``producer_options`` override :func:`make_producer`'s options (e.g. ``request_timeout_ms``).
    """

    def __init__(self, settings: Settings, **producer_options: Any) -> None:
        self.settings = settings
        self._options = {"client_id": "commentfeed-publisher", **producer_options}
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = make_producer(self.settings, **self._options)
        try:
            await producer.start()
        except KafkaError as exc:
            # aiokafka leaves half-open connections behind a failed start.
            await producer.stop()
            raise BrokerError(
                f"cannot reach Kafka at {self.settings.kafka_bootstrap}: {exc}"
            ) from exc
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def submit(self, event: AnyInputEvent) -> asyncio.Future[Delivery]:
        """Hand one event to the producer; the returned future yields its delivery.

        Returns once the record is queued (waiting only if the producer's buffer is full), so
        a caller can keep many events in flight; per-key order is the submission order. The
        future fails with :class:`PublishError` only.
        """
        producer = self._producer
        if producer is None:
            raise PublishError(f"event {event.id}: publisher is not started", retriable=False)
        topic, key = route(self.settings, event)
        value = encode_checked(event)
        try:
            sent = await producer.send(topic, value=value, key=key.encode())
        except Exception as exc:
            raise as_publish_error(exc, event.id) from exc
        # A plain future with a callback, not a task: the load generator keeps thousands open.
        result: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()

        def settle(done: asyncio.Future[Any]) -> None:
            if result.done():
                return
            if done.cancelled():
                result.set_exception(PublishError(f"event {event.id}: cancelled", retriable=True))
            elif (exc := done.exception()) is not None:
                result.set_exception(as_publish_error(exc, event.id))
            else:
                meta = done.result()
                result.set_result(Delivery(
                    topic=meta.topic, partition=meta.partition, offset=meta.offset,
                    event_id=event.id, event_type=event.type, key=key,
                ))

        sent.add_done_callback(settle)
        return result

    async def publish(self, event: AnyInputEvent) -> Delivery:
        """Publish one event and wait until the broker has stored it."""
        return await (await self.submit(event))

    async def publish_many(self, events: Iterable[AnyInputEvent]) -> list[Delivery]:
        """Publish events together (one linger window) and wait for every ack.

        Raises :class:`PublishBatchError` if any failed, after all have settled.
        """
        batch: Sequence[AnyInputEvent] = list(events)
        pending: list[Awaitable[Delivery] | PublishError] = []
        for event in batch:
            try:
                pending.append(await self.submit(event))
            except PublishError as exc:
                pending.append(exc)
        results = await asyncio.gather(
            *(_settle(p) for p in pending), return_exceptions=False
        )
        errors = {i: r for i, r in enumerate(results) if isinstance(r, PublishError)}
        if errors:
            deliveries = [r if isinstance(r, Delivery) else None for r in results]
            raise PublishBatchError(deliveries, errors)
        return [r for r in results if isinstance(r, Delivery)]


async def _settle(pending: Awaitable[Delivery] | PublishError) -> Delivery | PublishError:
    if isinstance(pending, PublishError):
        return pending
    try:
        return await pending
    except PublishError as exc:
        return exc
