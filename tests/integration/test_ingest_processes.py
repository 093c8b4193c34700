"""Two real ``commentfeed ingest`` processes on one real broker: a write accepted by either
lands exactly once, a retry through the other one is the same write, what one process
acknowledged the other sees before it answers, and a broker that stops answering gets a 503
within 5 s, after which the retry lands once (also when the first attempt was stored late)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from commentfeed.broker import EmbeddedBroker
from commentfeed.events import AnyInputEvent, ArticlePublished, CommentPosted
from commentfeed.kafka import ensure_topics
from commentfeed.settings import Settings
from commentfeed.topics import Topic
from producers.app import IngestLimits, create_app
from producers.idempotency import write_ids
from producers.publisher import Delivery, Publisher
from tests.conftest import make_settings
from tests.ingest_client import JWT_SECRET, SERVICE_TOKEN, bearer, token
from tests.integration.producers_support import (
    IngestProcess,
    end_offsets,
    ingest_processes,
    read_topic,
)

pytestmark = pytest.mark.integration

CMS = bearer(SERVICE_TOKEN)
ANN = bearer(token("u-ann", "Ann"))


def _article(article_id: str) -> dict[str, Any]:
    return {"article_id": article_id, "title": "A title", "url": "https://news.example/a",
            "author": "Jo Writer"}


@pytest.fixture
async def pair(kafka_settings: Settings) -> AsyncIterator[list[IngestProcess]]:
    async with ingest_processes(kafka_settings, 2) as running:
        yield running


async def test_a_retry_through_the_other_process_is_the_same_write(
    kafka_settings: Settings, pair: list[IngestProcess],
) -> None:
    one, two = pair
    async with httpx.AsyncClient(timeout=30) as client:
        keyed_cms = {**CMS, "Idempotency-Key": "article-a1"}
        first = await client.post(f"{one.base_url}/v1/articles", json=_article("a1"),
                                  headers=keyed_cms)
        assert first.status_code == 202, first.text
        again = await client.post(f"{two.base_url}/v1/articles", json=_article("a1"),
                                  headers=keyed_cms)
        # Not 409 "article exists": it is the same write, answered as the first one was.
        assert again.status_code == 202, again.text
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"

        keyed = {**ANN, "Idempotency-Key": "post-1"}
        url = "/v1/articles/a1/comments"
        posted = await client.post(f"{one.base_url}{url}", json={"body": "Once."},
                                   headers=keyed)
        assert posted.status_code == 202, posted.text
        before = await end_offsets(kafka_settings)
        retried = await client.post(f"{two.base_url}{url}", json={"body": "Once."},
                                    headers=keyed)
        assert retried.status_code == 202, retried.text
        assert retried.json() == posted.json()
        assert await end_offsets(kafka_settings) == before
    comments = [s.event for s in await read_topic(kafka_settings, Topic.COMMENTS)]
    assert [(e.id, e.data.comment_id) for e in comments if isinstance(e, CommentPosted)] == [
        (posted.json()["event_id"], posted.json()["comment_id"])]
    articles = [s.event for s in await read_topic(kafka_settings, Topic.ARTICLES)]
    assert [e.id for e in articles if isinstance(e, ArticlePublished)] == [
        first.json()["event_id"]]


async def test_a_close_through_one_process_is_seen_by_a_post_through_the_other(
    pair: list[IngestProcess],
) -> None:
    one, two = pair
    async with httpx.AsyncClient(timeout=30) as client:
        for n in range(8):
            article = f"closing-{n}"
            r = await client.post(f"{one.base_url}/v1/articles", json=_article(article),
                                  headers=CMS)
            assert r.status_code == 202, r.text
            r = await client.post(f"{one.base_url}/v1/articles/{article}/close", headers=CMS)
            assert r.status_code == 202, r.text
            # At once, through the other process: refused, never a 202 that the streams drop.
            r = await client.post(f"{two.base_url}/v1/articles/{article}/comments",
                                  json={"body": "Too late."}, headers=ANN)
            assert (r.status_code, r.json()["code"]) == (409, "comments_closed"), n


async def test_a_comment_posted_through_one_process_can_be_edited_through_the_other(
    pair: list[IngestProcess],
) -> None:
    one, two = pair
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(f"{one.base_url}/v1/articles", json=_article("a1"), headers=CMS)
        assert r.status_code == 202, r.text
        for n in range(10):
            r = await client.post(f"{one.base_url}/v1/articles/a1/comments",
                                  json={"body": f"Draft {n}."}, headers=ANN)
            assert r.status_code == 202, r.text
            comment_id = r.json()["comment_id"]
            r = await client.patch(f"{two.base_url}/v1/comments/{comment_id}",
                                   json={"body": f"Final {n}."}, headers=ANN)
            assert r.status_code == 202, (n, r.text)


async def _post_until_accepted(client: httpx.AsyncClient, url: str, headers: dict[str, str],
                               timeout_s: float) -> httpx.Response:
    """Retry a write (same key) while the API answers 503, as a client would."""
    async with asyncio.timeout(timeout_s):
        while True:
            r = await client.post(url, json={"body": "Said once."}, headers=headers)
            if r.status_code != 503:
                return r
            await asyncio.sleep(float(r.headers.get("Retry-After", "1")) / 4)


async def test_a_hung_broker_answers_503_within_5_s_and_the_retry_lands_once() -> None:
    # Its own broker: it is frozen with SIGSTOP, and other tests must not notice.
    with EmbeddedBroker() as broker:
        settings = make_settings(broker.bootstrap)
        await ensure_topics(settings)
        pid = broker.pid
        assert pid is not None
        async with ingest_processes(settings, 2) as (one, two), \
                httpx.AsyncClient(timeout=30) as client:
            r = await client.post(f"{one.base_url}/v1/articles", json=_article("a1"),
                                  headers=CMS)
            assert r.status_code == 202, r.text
            keyed = {**ANN, "Idempotency-Key": "during-outage"}
            url = "/v1/articles/a1/comments"
            os.kill(pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                hung = await client.post(f"{one.base_url}{url}", json={"body": "Said once."},
                                         headers=keyed)
                took = time.monotonic() - started
            finally:
                os.kill(pid, signal.SIGCONT)
            assert hung.status_code == 503, hung.text
            assert hung.json()["code"] == "broker_timeout"
            assert hung.headers["Retry-After"] == "1"
            assert took < 5.0
            retried = await _post_until_accepted(client, f"{two.base_url}{url}", keyed, 60)
            assert retried.status_code == 202, retried.text
            # And once more through the first process: the same answer, nothing new.
            replayed = await _post_until_accepted(client, f"{one.base_url}{url}", keyed, 60)
            assert replayed.status_code == 202, replayed.text
            assert replayed.json()["comment_id"] == retried.json()["comment_id"]
        posts = [s.event for s in await read_topic(settings, Topic.COMMENTS)
                 if isinstance(s.event, CommentPosted)]
    # Every record of this write (the first attempt may also have landed late) is the same
    # event and the same comment, so the streams keep one comment.
    assert posts
    assert {(e.id, e.data.comment_id) for e in posts} == {
        (retried.json()["event_id"], retried.json()["comment_id"])}


class _FreezingPublisher(Publisher):
    """Freezes the broker (SIGSTOP) just before its next publish: the write is in flight
    when the broker stops answering."""

    def __init__(self, settings: Settings, broker_pid: int) -> None:
        super().__init__(settings)
        self.broker_pid = broker_pid
        self.freeze_next = False

    async def publish(self, event: AnyInputEvent) -> Delivery:
        if self.freeze_next:
            self.freeze_next = False
            os.kill(self.broker_pid, signal.SIGSTOP)
        return await super().publish(event)


async def test_a_write_that_lands_after_its_503_is_answered_to_the_retry_elsewhere() -> None:
    with EmbeddedBroker() as broker:
        settings = make_settings(broker.bootstrap, jwt_secret=JWT_SECRET,
                                 service_token=SERVICE_TOKEN)
        await ensure_topics(settings)
        pid = broker.pid
        assert pid is not None
        publisher = _FreezingPublisher(settings, pid)
        app = create_app(settings, limits=IngestLimits(burst=1000), publisher=publisher)
        async with app.router.lifespan_context(app), \
                ingest_processes(settings, 1) as (other,), \
                httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                  base_url="http://one.test", timeout=30) as one, \
                httpx.AsyncClient(timeout=30) as client:
            await app.state.ingest.feed.wait_ready(30)
            r = await one.post("/v1/articles", json=_article("a1"), headers=CMS)
            assert r.status_code == 202, r.text
            before = await end_offsets(settings)
            keyed = {**ANN, "Idempotency-Key": "in-flight"}
            publisher.freeze_next = True
            try:
                started = time.monotonic()
                hung = await one.post("/v1/articles/a1/comments", json={"body": "Said once."},
                                      headers=keyed)
                took = time.monotonic() - started
            finally:
                os.kill(pid, signal.SIGCONT)
            # The produce request or the write's deadline times out first: either way a 503
            # that asks for a retry.
            assert hung.status_code == 503, hung.text
            assert hung.json()["code"] in ("publish_failed", "broker_timeout")
            assert hung.headers["Retry-After"] == "1"
            assert took < 5.0
            # The broker, answering again, stores the request it was holding.
            ids = write_ids("reader:u-ann", "POST", "/v1/articles/a1/comments", "in-flight")
            await app.state.ingest.feed.wait_until(
                lambda d: d.landed(ids.event_id) is not None, 30)
            assert await end_offsets(settings) != before
            retried = await _post_until_accepted(
                client, f"{other.base_url}/v1/articles/a1/comments", keyed, 60)
            assert retried.status_code == 202, retried.text
            assert retried.headers["Idempotent-Replayed"] == "true"
        posts = [s.event for s in await read_topic(settings, Topic.COMMENTS)
                 if isinstance(s.event, CommentPosted)]
    assert [(e.id, e.data.comment_id) for e in posts] == [
        (retried.json()["event_id"], retried.json()["comment_id"])]


async def test_a_ban_and_a_report_through_one_process_bind_the_other(
    kafka_settings: Settings, pair: list[IngestProcess],
) -> None:
    one, two = pair
    bob = bearer(token("u-bob", "Bob"))
    moderator = bearer(token("u-mod", "Mia", "moderator", site=kafka_settings.default_site))
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(f"{one.base_url}/v1/articles", json=_article("a1"), headers=CMS)
        assert r.status_code == 202, r.text
        r = await client.post(f"{one.base_url}/v1/articles/a1/comments",
                              json={"body": "Buy watches."}, headers=ANN)
        assert r.status_code == 202, r.text
        comment_id = r.json()["comment_id"]
        report = {"reason": "spam"}
        r = await client.post(f"{one.base_url}/v1/comments/{comment_id}/reports", json=report,
                              headers=bob)
        assert r.status_code == 202, r.text
        r = await client.post(f"{two.base_url}/v1/comments/{comment_id}/reports", json=report,
                              headers=bob)
        assert (r.status_code, r.json()["code"]) == (409, "already_reported")
        until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        r = await client.post(f"{one.base_url}/v1/sites/{kafka_settings.default_site}/bans",
                              json={"user_id": "u-ann", "until": until, "hide_comments": True},
                              headers=moderator)
        assert r.status_code == 202, r.text
        # At once, through the other process: the ban holds there too.
        r = await client.post(f"{two.base_url}/v1/articles/a1/comments",
                              json={"body": "Again."}, headers=ANN)
        assert (r.status_code, r.json()["code"]) == (403, "banned")
        r = await client.post(f"{two.base_url}/v1/articles/a1/comments",
                              json={"body": "Fine."}, headers=bob)
        assert r.status_code == 202, r.text
        # The desk's list, through the other process at once: the ban, with Ann's name from
        # her comment; lifted through that process, it is gone from the first one's list.
        bans = f"/v1/sites/{kafka_settings.default_site}/bans"
        r = await client.get(f"{two.base_url}{bans}", headers=moderator)
        assert r.status_code == 200, r.text
        assert [(b["user_id"], b["name"], b["until"], b["moderator"])
                for b in r.json()["bans"]] == [
            ("u-ann", "Ann", until.replace("+00:00", "Z"), "u-mod")]
        r = await client.delete(f"{two.base_url}{bans}/u-ann", headers=moderator)
        assert r.status_code == 202, r.text
        r = await client.get(f"{one.base_url}{bans}", headers=moderator)
        assert (r.status_code, r.json()["bans"], r.json()["total"]) == (200, [], 0)
    stored = await read_topic(kafka_settings, Topic.COMMENTS)
    facts = sorted((s.key, s.offset, s.event.type) for s in stored
                   if s.event.type != "comment.posted")
    assert [(key, kind) for key, _, kind in facts] == [
        ("a1", "comment.reported"), ("a1", "comment.moderated"),
        (f"site:{kafka_settings.default_site}", "user.banned"),
        (f"site:{kafka_settings.default_site}", "user.banned")]
