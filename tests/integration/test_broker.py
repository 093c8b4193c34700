"""The embedded broker and the codec against a real Tansu process."""

from __future__ import annotations

import asyncio
import logging
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from commentfeed import codec
from commentfeed.broker import EmbeddedBroker, pid_exists
from commentfeed.demo_data import demo_events
from commentfeed.errors import EventDecodeError
from commentfeed.events import (
    ArticleClosed,
    ArticleDeleted,
    ArticlePublished,
    ArticleRef,
    ArticleUpdated,
    CommentDeleted,
    CommentDeletedData,
    CommentEdited,
    CommentEditedData,
    CommentModerated,
    CommentModeratedData,
    CommentVoted,
    CommentVotedData,
    InputEvent,
)
from commentfeed.kafka import ensure_topics, make_consumer, make_producer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name, topic_specs
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


def _all_event_types() -> list[InputEvent]:
    demo = demo_events()
    published = next(e for e in demo if isinstance(e, ArticlePublished))
    a, s, now = published.data.article_id, published.data.site, datetime.now(UTC)
    ref = ArticleRef(article_id=a, site=s)
    return [
        published,
        ArticleUpdated(subject=a, data=published.data),
        ArticleClosed(subject=a, data=ref),
        ArticleDeleted(subject=a, data=ref),
        *[e for e in demo if e.type == "comment.posted"][:1],
        CommentEdited(subject=a, data=CommentEditedData(
            comment_id="c-1001", article_id=a, site=s, body="edited", edited_at=now)),
        CommentDeleted(subject=a, data=CommentDeletedData(
            comment_id="c-1001", article_id=a, site=s, deleted_by="u-ferro", reason=None)),
        CommentModerated(subject=a, data=CommentModeratedData(
            comment_id="c-1002", article_id=a, site=s, status="hidden", moderator="m-1",
            reason="off topic")),
        CommentVoted(subject=a, data=CommentVotedData(
            comment_id="c-1003", article_id=a, site=s, voter_id="u-9", value=-1)),
    ]


async def test_every_event_type_survives_publish_and_consume(kafka_settings: Settings) -> None:
    sent = _all_event_types()
    assert len({e.type for e in sent}) == 9
    producer = make_producer(kafka_settings)
    topics = [
        topic_name(kafka_settings, Topic.ARTICLES), topic_name(kafka_settings, Topic.COMMENTS)
    ]
    consumer = make_consumer(kafka_settings, *topics)
    await producer.start()
    await consumer.start()
    try:
        for event in sent:
            topic = topics[0] if event.type.startswith("article.") else topics[1]
            await producer.send_and_wait(topic, codec.encode(event), key=event.subject.encode())
        received: list[InputEvent] = []
        keys: set[bytes] = set()
        async with asyncio.timeout(10):
            while len(received) < len(sent):
                record = await consumer.getone()
                received.append(codec.decode_input(record.value))
                keys.add(record.key)
    finally:
        await consumer.stop()
        await producer.stop()
    assert sorted(received, key=lambda e: e.id) == sorted(sent, key=lambda e: e.id)
    assert keys == {sent[0].subject.encode()}


async def test_round_trip_p50_is_under_50ms_with_fetch_wait_from_settings(
    kafka_settings: Settings,
) -> None:
    topic = topic_name(kafka_settings, Topic.COMMENTS)
    producer = make_producer(kafka_settings, linger_ms=0)
    consumer = make_consumer(kafka_settings, topic, auto_offset_reset="latest")
    await producer.start()
    await consumer.start()
    event = _all_event_types()[4]
    samples = []
    try:
        await consumer.seek_to_end()
        for _ in range(40):
            started = time.perf_counter()
            await producer.send_and_wait(topic, codec.encode(event), key=b"k")
            async with asyncio.timeout(5):
                record = await consumer.getone()
            samples.append((time.perf_counter() - started) * 1000)
            assert codec.decode_input(record.value) == event
    finally:
        await consumer.stop()
        await producer.stop()
    assert statistics.median(samples) < 50, samples


async def test_bad_bytes_on_a_topic_decode_to_the_typed_error(kafka_settings: Settings) -> None:
    topic = topic_name(kafka_settings, Topic.COMMENTS)
    good = codec.encode(_all_event_types()[4])
    bad = [b"\x00\x01garbage", b'{"type": "comment.posted"}', good.replace(b'"visible"', b'"x"')]
    producer = make_producer(kafka_settings)
    consumer = make_consumer(kafka_settings, topic)
    await producer.start()
    await consumer.start()
    try:
        for raw in bad:
            await producer.send_and_wait(topic, raw, key=b"k")
        errors: list[tuple[str, str | None]] = []
        async with asyncio.timeout(10):
            while len(errors) < len(bad):
                record = await consumer.getone()
                with pytest.raises(EventDecodeError) as info:
                    codec.decode_input(record.value)
                errors.append((info.value.reason, info.value.field))
    finally:
        await consumer.stop()
        await producer.stop()
    assert errors[0] == ("invalid_json", None)
    assert errors[1][0] == "invalid_event"
    assert errors[2] == ("invalid_event", "data.status")


def test_broker_process_is_gone_after_stop() -> None:
    embedded = EmbeddedBroker().start()
    pid = embedded.pid
    assert pid is not None
    assert pid_exists(pid)
    embedded.stop()
    assert not pid_exists(pid)


def test_broker_dies_with_a_parent_killed_by_sigkill() -> None:
    script = (
        "import sys, time\n"
        "from commentfeed.broker import EmbeddedBroker\n"
        "b = EmbeddedBroker().start()\n"
        "print(b.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert pid_exists(child_pid)
    parent.kill()
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 5
    while pid_exists(child_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_exists(child_pid)


async def _topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        specs = topic_specs(settings)
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs])
        return {name: {e[0]: e[1] for e in entries}
                for r in responses for _, _, _, name, entries in r.resources}
    finally:
        await admin.close()


async def test_topics_are_created_with_the_settings_of_their_role(
    kafka_settings: Settings, caplog: pytest.LogCaptureFixture,
) -> None:
    configs = await _topic_configs(kafka_settings)
    for spec in topic_specs(kafka_settings):
        assert configs[spec.name] == {**configs[spec.name], **spec.configs()}, spec.name
    assert configs[topic_name(kafka_settings, Topic.COMMENTS)]["retention.ms"] == "-1"
    # Run again: nothing to create, nothing to change, nothing to warn about.
    with caplog.at_level(logging.WARNING, logger="commentfeed.kafka"):
        assert await ensure_topics(kafka_settings) == []
    assert caplog.records == []


async def test_an_existing_topic_without_its_settings_is_aligned_or_named(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(broker.bootstrap)
    comments = topic_name(settings, Topic.COMMENTS)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        # As an operator (or an older version) made it: the broker's default retention.
        await admin.create_topics([NewTopic(comments, settings.partitions, 1)])
    finally:
        await admin.close()
    with caplog.at_level(logging.WARNING, logger="commentfeed.kafka"):
        created = await ensure_topics(settings)
    assert comments not in created
    if (await _topic_configs(settings))[comments].get("retention.ms") != "-1":
        # The embedded broker cannot alter topic settings: the operator is told what to run.
        (warning,) = [r.getMessage() for r in caplog.records]
        assert f"--entity-name {comments} --add-config " in warning
        assert "retention.ms=-1" in warning
