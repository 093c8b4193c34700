"""The HTTP ingest API against the real broker: what a fake publisher cannot show. Events land
on the real topics with the key and the position the answer names, a retry with an
Idempotency-Key adds no record, the directory learns from other producers, edits through two
apps with clocks apart stay in log order, and broker or directory trouble answers 503. Refusals
and the rest: tests/unit/test_ingest_api.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from commentfeed.broker import EmbeddedBroker
from commentfeed.events import (
    ArticleData,
    ArticlePublished,
    CommentEdited,
    CommentPosted,
)
from commentfeed.kafka import ensure_topics
from commentfeed.settings import Settings
from commentfeed.topics import Topic
from producers.app import IngestLimits, create_app
from producers.publisher import Publisher
from tests import ingest_client
from tests.conftest import make_settings
from tests.ingest_client import ANN, JWT_SECRET, SERVICE_TOKEN, Stored
from tests.integration.producers_support import end_offsets, read_topic

pytestmark = pytest.mark.integration


@dataclass
class Api(ingest_client.Api):
    """The ingest app on the real broker; records are read back from the topics."""

    async def records(self, topic: Topic) -> list[Stored]:
        return await read_topic(self.settings, topic)


@asynccontextmanager
async def start_api(broker: EmbeddedBroker, *, topics: bool = True,
                    publisher_options: dict[str, Any] | None = None,
                    settings: Settings | None = None,
                    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                    **limits: Any) -> AsyncIterator[Api]:
    """An ingest app on the real broker; pass ``settings`` to share another app's topics."""
    if settings is None:
        settings = make_settings(broker.bootstrap, jwt_secret=JWT_SECRET,
                                 service_token=SERVICE_TOKEN, demo_mode=True)
        if topics:
            await ensure_topics(settings)
    publisher = Publisher(settings, **(publisher_options or {}))
    app = create_app(settings, limits=IngestLimits(**limits), publisher=publisher,
                     wall_clock=wall_clock)
    async with app.router.lifespan_context(app):
        if topics:
            await app.state.ingest.feed.wait_ready(30)
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://news.test") as client:
            yield Api(client, settings, app)


@pytest.fixture
async def api(broker: EmbeddedBroker) -> AsyncIterator[Api]:
    async with start_api(broker) as a:
        yield a


async def unchanged(api: Api, request: Callable[[], Awaitable[httpx.Response]],
                    status: int) -> dict[str, Any]:
    """Run a request that must be refused with ``status``; assert nothing reached Kafka."""
    before = await end_offsets(api.settings)
    r = await request()
    assert r.status_code == status, r.text
    assert await end_offsets(api.settings) == before
    body = r.json()
    assert isinstance(body, dict)
    return body


# -- end to end on the real broker ------------------------------------------------------

async def test_publishing_an_article_lands_article_published_keyed_by_its_id(api: Api) -> None:
    answer = await api.article("harbour", site="metro", published_at="2026-03-14T09:00:00Z")
    (stored,) = await api.records(Topic.ARTICLES)
    assert stored.key == "harbour"
    assert (stored.partition, stored.offset) == (answer["partition"], answer["offset"])
    assert isinstance(stored.event, ArticlePublished)
    assert stored.event.id == answer["event_id"]
    assert stored.event.subject == "harbour"
    assert stored.event.data == ArticleData(
        article_id="harbour", site="metro", title="A title", url="https://news.example/a",
        author="Jo Writer", published_at=datetime(2026, 3, 14, 9, tzinfo=UTC),
    )
    assert answer["topic"] == f"{api.settings.topic_prefix}articles"


async def test_a_comment_takes_its_author_from_the_token_and_its_id_from_the_api(
    api: Api,
) -> None:
    await api.article("a1")
    answer = await api.comment(ANN, body="  First!  ")
    (stored,) = await api.records(Topic.COMMENTS)
    assert stored.key == "a1"
    assert isinstance(stored.event, CommentPosted)
    data = stored.event.data
    assert data.comment_id == answer["comment_id"]
    assert data.comment_id.startswith("c-")
    assert (data.author.id, data.author.name) == ("u-ann", "Ann")
    assert data.body == "First!"
    assert data.parent_id is None
    assert data.status == "visible"
    assert stored.event.id == answer["event_id"]


async def test_the_directory_learns_articles_published_by_other_producers(api: Api) -> None:
    article = ArticlePublished(subject="elsewhere", data=ArticleData(
        article_id="elsewhere", site="demo", title="From the CMS's own producer",
        url="https://news.example/elsewhere", author="Someone",
        published_at=datetime.now(UTC)))
    async with Publisher(api.settings) as publisher:
        await publisher.publish(article)
    await api.app.state.ingest.feed.wait_until(lambda d: d.article("elsewhere") is not None, 30)
    answer = await api.comment(ANN, "elsewhere")
    assert answer["article_id"] == "elsewhere"


async def test_an_idempotency_key_makes_a_retry_publish_once(api: Api) -> None:
    await api.article("a1")
    headers = {**ANN, "Idempotency-Key": "retry-1"}
    first = await api.client.post("/v1/articles/a1/comments", json={"body": "Once."},
                                  headers=headers)
    before = await end_offsets(api.settings)
    again = await api.client.post("/v1/articles/a1/comments", json={"body": "Once."},
                                  headers=headers)
    assert await end_offsets(api.settings) == before
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    posted = [s for s in await api.records(Topic.COMMENTS)]
    assert [s.event.id for s in posted] == [first.json()["event_id"]]


async def test_edits_through_processes_with_clocks_10_s_apart_keep_the_log_order(
    broker: EmbeddedBroker,
) -> None:
    def ahead() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=10)

    async with start_api(broker, wall_clock=ahead) as one, \
            start_api(broker, settings=one.settings) as two:
        await one.article("a1")
        comment_id = (await one.comment(ANN))["comment_id"]
        for api, body in ((one, "First."), (two, "Second."), (one, "Third."), (two, "Last.")):
            r = await api.client.patch(f"/v1/comments/{comment_id}", json={"body": body},
                                       headers=ANN)
            assert r.status_code == 202, r.text
        edits = [s.event for s in await one.records(Topic.COMMENTS)
                 if isinstance(s.event, CommentEdited)]
    assert [e.data.body for e in edits] == ["First.", "Second.", "Third.", "Last."]
    # Consumers keep the latest edited_at: in log order it only grows, whichever clock ran ahead.
    stamps = [e.data.edited_at for e in edits]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


async def test_503_when_the_broker_refuses_the_event(broker: EmbeddedBroker) -> None:
    async with start_api(broker, publisher_options={"max_request_size": 1000}) as api:
        await api.article("a1")
        body = await unchanged(api, lambda: api.client.post(
            "/v1/articles/a1/comments", json={"body": "x" * 2000}, headers=ANN), 503)
        assert body["code"] == "publish_failed"


async def test_503_until_the_directory_has_caught_up(broker: EmbeddedBroker) -> None:
    """Without its topics the directory cannot catch up: writes wait, nothing is guessed."""
    async with start_api(broker, topics=False) as api:
        r = await api.client.post("/v1/articles/a1/comments", json={"body": "hi"}, headers=ANN)
        assert (r.status_code, r.json()["code"]) == (503, "not_ready")
        assert r.headers["Retry-After"] == "1"
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["directory"] is False


