"""aiokafka clients built from settings, so no consumer anywhere forgets the fetch wait."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from commentfeed.errors import BrokerError
from commentfeed.settings import Settings
from commentfeed.topics import TopicSpec, config_changes, topic_specs

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
#: DescribeConfigs' config_source for a setting made on the topic itself.
_DYNAMIC_TOPIC_CONFIG = 1


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

    Topics are created with their settings (:meth:`TopicSpec.configs`: retention, cleanup).
    An existing topic keeps its partitions (the count is checked, not changed) and gets the
    settings it lacks; a broker that cannot change them (the embedded one) is warned about.
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
                topic_configs=s.configs(),
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
        await _align_configs(admin, [s for s in specs if s.name not in created])
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


async def _align_configs(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    """Give existing topics the settings of their spec, keeping their other topic settings."""
    if not specs:
        return
    resources = [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs]
    current: dict[str, dict[str, str]] = {}
    own: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for error, _, _, name, entries in response.resources:
            if error:
                log.warning("cannot read the settings of topic %s (error %d)", name, error)
                continue
            current[name] = {e[0]: e[1] for e in entries}
            own[name] = {e[0]: e[1] for e in entries if e[3] == _DYNAMIC_TOPIC_CONFIG}
    for spec in specs:
        if spec.name not in current:
            continue
        changes = config_changes(spec, current[spec.name])
        if not changes:
            continue
        # AlterConfigs replaces all of a topic's own settings: send the ones it has too.
        wanted = {**own[spec.name], **changes}
        try:
            responses = await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=wanted)])
            for response in responses:
                for error, message, *_ in response.resources:
                    if error:
                        raise BrokerError(f"error {error} {message}")
        except (KafkaError, BrokerError) as exc:
            log.warning(
                "topic %s lacks %s and the broker did not change it (%s); set it with "
                "kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config %s",
                spec.name, changes, exc, spec.name,
                ",".join(f"{k}={v}" for k, v in changes.items()))
        else:
            log.info("topic %s: set %s", spec.name, changes)


async def end_offsets(settings: Settings, partitions: Sequence[TopicPartition],
                      listed: Mapping[TopicPartition, int],
                      timeout_s: float = 30.0) -> dict[TopicPartition, int]:
    """The end offsets of ``partitions`` (one past the last record), given the ones the broker
    listed (``ListOffsets``, e.g. aiokafka's ``end_offsets``).

    Tansu lists one past the *first* offset of a partition's last record batch, not one past its
    last record (a batch of 137 records at 0-136 lists 1). A fetch of that last batch carries
    the true high watermark, so this fetches it, once per partition with records, and keeps
    whichever is higher: on Kafka the two agree and nothing changes.

    Raises :class:`BrokerError` when the broker does not answer within ``timeout_s``: table
    recovery reads a changelog up to these offsets, and an understated end would end it early
    with state silently missing (a worker that fails and restarts is the safer outcome).
    """
    out = dict(listed)
    probe = [tp for tp in partitions if out.get(tp)]
    if not probe:
        return out
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, fetch_max_wait_ms=100)
    try:
        async with asyncio.timeout(timeout_s):
            await consumer.start()
            consumer.assign(probe)
            for tp in probe:
                consumer.seek(tp, out[tp] - 1)
            while any(consumer.highwater(tp) is None for tp in probe):
                await consumer.getmany(timeout_ms=100)
    except TimeoutError:
        names = ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in probe))
        raise BrokerError(f"no end offsets for {names} within {timeout_s:g} s") from None
    finally:
        await consumer.stop()
    for tp in probe:
        seen = consumer.highwater(tp)
        if seen is not None and seen > out[tp]:
            out[tp] = seen
    return out
