"""``commentfeed publish``, ``demo`` and ``load`` as real processes against the real broker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from commentfeed.demo_data import ARTICLES, COMMENT_COUNTS, demo_events
from commentfeed.events import ArticlePublished, CommentPosted, CommentVoted
from commentfeed.settings import Settings
from commentfeed.topics import Topic
from tests.integration.producers_support import end_offsets, read_topic

pytestmark = pytest.mark.integration


async def commentfeed(settings: Settings, *args: str, stdin: bytes | None = None,
                      ) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMENTFEED_")}
    env.update({"COMMENTFEED_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                "COMMENTFEED_TOPIC_PREFIX": settings.topic_prefix})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "commentfeed", *args, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_publish_from_flags_prints_where_the_event_went(kafka_settings: Settings) -> None:
    code, out, err = await commentfeed(
        kafka_settings, "publish", "comment.voted", "--article-id", "a1", "--comment-id", "c1",
        "--voter-id", "u-7", "--value", "-1", "--event-id", "vote-1")
    assert code == 0, err
    delivery = json.loads(out)
    (stored,) = await read_topic(kafka_settings, Topic.COMMENTS)
    assert delivery == {
        "topic": f"{kafka_settings.topic_prefix}comments", "partition": stored.partition,
        "offset": stored.offset, "event_id": "vote-1", "event_type": "comment.voted",
        "key": "a1",
    }
    assert isinstance(stored.event, CommentVoted)
    assert (stored.key, stored.event.data.voter_id, stored.event.data.value) == ("a1", "u-7", -1)


async def test_publish_from_a_json_file(kafka_settings: Settings, tmp_path: Path) -> None:
    doc = {"type": "comment.posted", "data": {
        "comment_id": "c-file", "article_id": "a9", "site": "demo", "parent_id": None,
        "author": {"id": "u-1", "name": "Filer"}, "body": "From a file.",
        "posted_at": "2026-03-14T10:00:00Z"}}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(doc))
    code, out, err = await commentfeed(kafka_settings, "publish", "--file", str(path))
    assert code == 0, err
    (stored,) = await read_topic(kafka_settings, Topic.COMMENTS)
    assert json.loads(out)["event_id"] == stored.event.id
    assert isinstance(stored.event, CommentPosted)
    assert (stored.key, stored.event.subject) == ("a9", "a9")
    assert stored.event.data.body == "From a file."


async def test_publish_refuses_bad_input_and_names_the_flag(kafka_settings: Settings) -> None:
    before = await end_offsets(kafka_settings)
    code, _, err = await commentfeed(
        kafka_settings, "publish", "comment.posted", "--article-id", "a1", "--author-id", "u1",
        "--body", "   ")
    assert code == 2
    assert "--body" in err
    code, _, err = await commentfeed(kafka_settings, "publish", "--file", "-",
                                     stdin=b'{"type": "comment.exploded", "data": {}}')
    assert code == 2
    assert "type" in err
    assert await end_offsets(kafka_settings) == before


async def test_demo_publishes_articles_then_comments_and_replays_harmlessly(
    kafka_settings: Settings,
) -> None:
    for _ in range(2):
        code, out, err = await commentfeed(kafka_settings, "demo")
        assert code == 0, err
        assert f"published {len(ARTICLES)} articles and {sum(COMMENT_COUNTS.values())} " \
            "comments" in out
    articles = await read_topic(kafka_settings, Topic.ARTICLES)
    comments = await read_topic(kafka_settings, Topic.COMMENTS)
    expected = demo_events()
    # Twice the same events, with the same (fixed) ids: the streams drop the second copy.
    assert sorted(s.event.id for s in articles + comments) == sorted(
        [e.id for e in expected] * 2)
    assert all(isinstance(s.event, ArticlePublished) for s in articles)
    assert {s.key for s in comments} <= {s.key for s in articles}


async def test_load_publishes_at_the_asked_rate(kafka_settings: Settings,
                                                tmp_path: Path) -> None:
    stats_path = tmp_path / "stats.json"
    code, out, err = await commentfeed(
        kafka_settings, "load", "--rate", "150", "--duration", "2", "--articles", "3",
        "--viewers", "4", "--seed", "7", "--json-out", str(stats_path))
    assert code == 0, err
    assert "sent 300, acked 300, failed 0" in out
    assert "ev/s" in err  # the progress bar
    stats = json.loads(stats_path.read_text())
    assert stats["acked"] == 300
    assert stats["viewers"] == 4
    assert len(stats["published_at"]) == 300
    # Paced, not dumped: 300 events at 150/s take about two seconds.
    assert stats["elapsed_s"] >= 1.9
    articles = await read_topic(kafka_settings, Topic.ARTICLES)
    comments = await read_topic(kafka_settings, Topic.COMMENTS)
    assert sorted(s.key for s in articles) == sorted(stats["articles"])
    assert len(comments) == 300
    assert {s.event.id for s in comments} == set(stats["published_at"])
    assert {s.key for s in comments} <= set(stats["articles"])
    kinds = {s.event.type for s in comments}
    assert "comment.posted" in kinds
    assert kinds <= {"comment.posted", "comment.voted", "comment.edited"}
