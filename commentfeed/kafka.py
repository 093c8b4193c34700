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
        # aiokafka's 40 s default would hold a write that long when the broker stops answering.
        "request_timeout_ms": settings.producer_request_timeout_ms,
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
    return AIOKafkaConsumer(*topics, **options)


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
