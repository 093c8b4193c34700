"""The publishing library against the real broker: routing, keys, order, delivery metadata and
typed errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commentfeed.broker import free_port
from commentfeed.errors import BrokerError, PublishError
from commentfeed.events import (
    ArticleClosed,
    ArticleData,
    ArticlePublished,
    ArticleRef,
    Author,
    CommentPosted,
    CommentPostedData,
    CommentVoted,
    CommentVotedData,
    InputEvent,
)
from commentfeed.settings import Settings
from commentfeed.topics import Topic
from producers import PublishBatchError, Publisher
from tests.conftest import make_settings
from tests.integration.producers_support import end_offsets, read_topic

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def article(article_id: str) -> ArticlePublished:
    return ArticlePublished(subject=article_id, data=ArticleData(
        article_id=article_id, site="demo", title="Title", url=f"https://news.example/{article_id}",
        author="Writer", published_at=NOW))


def comment(article_id: str, n: int, body: str = "A comment.") -> CommentPosted:
    return CommentPosted(subject=article_id, data=CommentPostedData(
        comment_id=f"c-{article_id}-{n}", article_id=article_id, site="demo",
        author=Author(id="u-1", name="One"), body=body, posted_at=NOW))


async def test_events_go_to_their_topic_keyed_by_article(kafka_settings: Settings) -> None:
    events: list[InputEvent] = [
        article("a1"), comment("a1", 1),
        ArticleClosed(subject="a1", data=ArticleRef(article_id="a1", site="demo")),
    ]
    async with Publisher(kafka_settings) as publisher:
        published, posted, closed = [await publisher.publish(e) for e in events]
    prefix = kafka_settings.topic_prefix
    assert (published.topic, posted.topic, closed.topic) == (
        f"{prefix}articles", f"{prefix}comments", f"{prefix}articles")
    assert [d.event_id for d in (published, posted, closed)] == [e.id for e in events]
    assert [d.event_type for d in (published, posted, closed)] == [
        "article.published", "comment.posted", "article.closed"]
    # Co-partitioned: one article's records share a partition number in both topics.
    assert published.partition == posted.partition == closed.partition
    articles = await read_topic(kafka_settings, Topic.ARTICLES)
    comments = await read_topic(kafka_settings, Topic.COMMENTS)
    assert [(s.key, s.partition, s.offset, s.event) for s in articles] == [
        ("a1", published.partition, published.offset, events[0]),
        ("a1", closed.partition, closed.offset, events[2]),
    ]
    assert [(s.key, s.partition, s.offset, s.event) for s in comments] == [
        ("a1", posted.partition, posted.offset, events[1]),
    ]


async def test_publish_many_keeps_each_articles_order(kafka_settings: Settings) -> None:
    events = [comment(f"a{i % 3}", i) for i in range(30)]
    async with Publisher(kafka_settings) as publisher:
        deliveries = await publisher.publish_many(events)
    assert [d.event_id for d in deliveries] == [e.id for e in events]
    stored = await read_topic(kafka_settings, Topic.COMMENTS)
    for article_id in ("a0", "a1", "a2"):
        mine = [s for s in stored if s.key == article_id]
        assert len({s.partition for s in mine}) == 1
        assert [s.event.id for s in sorted(mine, key=lambda s: s.offset)] == [
            e.id for e in events if e.data.article_id == article_id]


async def test_an_oversized_record_is_a_non_retriable_publish_error(
    kafka_settings: Settings,
) -> None:
    before = await end_offsets(kafka_settings)
    async with Publisher(kafka_settings, max_request_size=800) as publisher:
        with pytest.raises(PublishError) as caught:
            await publisher.publish(comment("a1", 1, body="x" * 1000))
    assert caught.value.retriable is False
    assert type(caught.value.__cause__).__name__ == "MessageSizeTooLargeError"
    assert await end_offsets(kafka_settings) == before


async def test_a_batch_reports_which_events_failed(kafka_settings: Settings) -> None:
    events = [comment("a1", 1), comment("a1", 2, body="x" * 1000), comment("a1", 3)]
    async with Publisher(kafka_settings, max_request_size=800) as publisher:
        with pytest.raises(PublishBatchError) as caught:
            await publisher.publish_many(events)
    error = caught.value
    assert list(error.errors) == [1]
    assert error.retriable is False
    assert [d.event_id if d else None for d in error.deliveries] == [events[0].id, None,
                                                                      events[2].id]
    stored = await read_topic(kafka_settings, Topic.COMMENTS)
    assert [s.event.id for s in stored] == [events[0].id, events[2].id]


async def test_an_event_whose_subject_is_not_its_article_is_refused(
    kafka_settings: Settings,
) -> None:
    wrong = CommentVoted(subject="a2", data=CommentVotedData(
        comment_id="c1", article_id="a1", site="demo", voter_id="u1", value=1))
    async with Publisher(kafka_settings) as publisher:
        with pytest.raises(PublishError, match="subject") as caught:
            await publisher.publish(wrong)
    assert caught.value.retriable is False


async def test_publishing_before_start_is_a_publish_error(kafka_settings: Settings) -> None:
    with pytest.raises(PublishError, match="not started"):
        await Publisher(kafka_settings).publish(article("a1"))


async def test_an_unreachable_broker_is_a_broker_error() -> None:
    settings = make_settings(f"127.0.0.1:{free_port()}")
    with pytest.raises(BrokerError, match="cannot reach Kafka"):
        async with Publisher(settings, request_timeout_ms=2000):
            pass
