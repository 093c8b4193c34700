"""aiokafka clients built from settings, so no consumer anywhere forgets the fetch wait."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from commentfeed.errors import BrokerError
from commentfeed.settings import Settings
from commentfeed.topics import topic_specs

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "linger_ms": settings.producer_linger_ms,
        "enable_idempotence": settings.idempotent_producer,
        "acks": "all",
        "client_id": "commentfeed-producer",
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(settings: Settings, *topics: str, **overrides: Any) -> AIOKafkaConsumer:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "fetch_max_wait_ms": settings.fetch_wait_ms,
        "rebalance_timeout_ms": settings.rebalance_timeout_ms,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
    }
    options.update(overrides)
    return IdleBackoffConsumer(*topics, idle_wait_ms=settings.fetch_wait_idle_ms, **options)


class IdleBackoffConsumer(AIOKafkaConsumer):  # type: ignore[misc]
    """An aiokafka consumer whose fetch wait grows while fetches come back empty."""

    def __init__(self, *topics: str, idle_wait_ms: int, **options: Any) -> None:
        super().__init__(*topics, **options)
        self._idle_wait_ms = idle_wait_ms

    async def start(self) -> None:
        await super().start()
        backoff_idle_fetches(self, self._idle_wait_ms)


def backoff_idle_fetches(consumer: Any, idle_wait_ms: int) -> None:
    """Make a started aiokafka consumer double its fetch wait after each empty fetch, up to
    ``idle_wait_ms``, and return to its configured wait on the first record.

    A broker that holds every Fetch for the full wait (Tansu) makes an idle consumer cost a
    request every few milliseconds, on both sides. aiokafka reads ``_fetch_max_wait_ms`` each
    time it builds a Fetch, and its per-request task reports whether records came back.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    base = getattr(fetcher, "_fetch_max_wait_ms", None)
    proc = getattr(fetcher, "_proc_fetch_request", None)
    if fetcher is None or not isinstance(base, int) or proc is None:
        raise RuntimeError("aiokafka changed: cannot adapt the consumer fetch wait")
    if idle_wait_ms <= base:
        return

    async def proc_fetch_request(assignment: Any, node_id: int, request: Any) -> bool:
        got = bool(await proc(assignment, node_id, request))
        wait = fetcher._fetch_max_wait_ms
        fetcher._fetch_max_wait_ms = base if got else min(idle_wait_ms, max(1, wait) * 2)
        return got

    fetcher._proc_fetch_request = proc_fetch_request


async def ensure_topics(settings: Settings) -> list[str]:
    """Create every topic of :func:`topic_specs` that is missing; return the names created.

    Idempotent: an existing topic is left alone (its partition count is checked, not changed).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
        specs = topic_specs(settings)
        new = [
            NewTopic(
                s.name,
                s.partitions,
                1,
                topic_configs={"cleanup.policy": "compact"} if s.compacted else {},
            )
            for s in specs
        ]
        response = await admin.create_topics(new)
        created = []
        for name, code, message in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != _TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"creating topic {name}: error {code} {message}")
        described = await admin.describe_topics([s.name for s in specs])
        counts = {d["topic"]: len(d["partitions"]) for d in described}
        for s in specs:
            if counts.get(s.name, s.partitions) < s.partitions:
                log.warning(
                    "topic %s has %d partitions, settings ask for %d",
                    s.name, counts[s.name], s.partitions,
                )
        return created
    except KafkaError as exc:
        raise BrokerError(f"cannot reach {settings.kafka_bootstrap}: {exc}") from exc
    finally:
        await admin.close()
