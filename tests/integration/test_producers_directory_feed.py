"""The directory feed against the real broker: catches up from the beginning, skips bad
records, follows new ones, and waits for topics that do not exist yet."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commentfeed.broker import EmbeddedBroker
from commentfeed.events import (
    ArticleClosed,
    ArticleData,
    ArticlePublished,
    ArticleRef,
    Author,
    CommentDeleted,
    CommentDeletedData,
    CommentPosted,
    CommentPostedData,
)
from commentfeed.kafka import ensure_topics, make_producer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from producers import Publisher
from producers.directory_feed import DirectoryFeed
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def article(article_id: str) -> ArticlePublished:
    return ArticlePublished(subject=article_id, data=ArticleData(
        article_id=article_id, site="metro", title="Title", url="https://news.example/x",
        author="Writer", published_at=NOW))


def posted(article_id: str, comment_id: str, author: str = "u-1") -> CommentPosted:
    return CommentPosted(subject=article_id, data=CommentPostedData(
        comment_id=comment_id, article_id=article_id, site="metro",
        author=Author(id=author, name="Someone"), body="Text.", posted_at=NOW))


async def test_the_feed_catches_up_skips_bad_records_and_follows(
    kafka_settings: Settings,
) -> None:
    async with Publisher(kafka_settings) as publisher:
        await publisher.publish_many([article("a1"), article("a2")])
        await publisher.publish(ArticleClosed(subject="a2",
                                              data=ArticleRef(article_id="a2", site="metro")))
        await publisher.publish_many([posted("a1", "c1", "u-ann"), posted("a1", "c2")])
        await publisher.publish(CommentDeleted(subject="a1", data=CommentDeletedData(
            comment_id="c2", article_id="a1", site="metro", deleted_by="u-1")))
    raw = make_producer(kafka_settings)
    await raw.start()
    try:
        await raw.send_and_wait(topic_name(kafka_settings, Topic.COMMENTS), b"not json",
                                key=b"a1")
    finally:
        await raw.stop()

    feed = DirectoryFeed(kafka_settings)
    feed.start()
    try:
        await feed.wait_ready(30)
        d = feed.directory
        a1, a2 = d.article("a1"), d.article("a2")
        assert a1 is not None
        assert a2 is not None
        assert a1.details is not None
        assert (a1.site, a1.details.title, a1.closed, a1.deleted) == (
            "metro", "Title", False, False)
        assert a2.closed
        c1, c2 = d.comment("c1"), d.comment("c2")
        assert c1 is not None
        assert c2 is not None
        assert (c1.article_id, c1.author_id, c1.status, c1.deleted) == (
            "a1", "u-ann", "visible", False)
        assert c2.deleted
        assert feed.skipped == 1
        assert feed.records == 7

        async with Publisher(kafka_settings) as publisher:
            await publisher.publish(posted("a2", "c3"))
        await feed.wait_until(lambda d: d.comment("c3") is not None, 30)
    finally:
        await feed.stop()


async def test_empty_topics_are_ready_at_once(kafka_settings: Settings) -> None:
    feed = DirectoryFeed(kafka_settings)
    feed.start()
    try:
        await feed.wait_ready(30)
        assert feed.directory.articles == {}
    finally:
        await feed.stop()


async def test_the_feed_waits_for_missing_topics(broker: EmbeddedBroker) -> None:
    settings = make_settings(broker.bootstrap)
    feed = DirectoryFeed(settings)
    feed.start()
    try:
        with pytest.raises(TimeoutError):
            await feed.wait_ready(0.5)
        await ensure_topics(settings)
        await feed.wait_ready(30)
    finally:
        await feed.stop()
