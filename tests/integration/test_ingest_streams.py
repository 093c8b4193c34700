"""What the ingest API publishes, as the real streams worker folds it: a deleted article's
comments leave its snapshot, its history and the site's recent list; a write published twice
with its derived ids (two processes racing on one Idempotency-Key) counts once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from commentfeed.broker import EmbeddedBroker, free_port
from commentfeed.events import CommentPosted
from commentfeed.settings import Settings
from commentfeed.topics import Topic
from producers.app import IngestLimits, create_app
from streams.process import WorkerProcess
from tests.conftest import make_settings
from tests.ingest_client import JWT_SECRET, SERVICE_TOKEN, bearer, token
from tests.integration.producers_support import read_topic
from tests.integration.test_streams_support import as_record, poll_json, publish

pytestmark = pytest.mark.integration

CMS = bearer(SERVICE_TOKEN)
ANN = bearer(token("u-ann", "Ann"))
BOB = bearer(token("u-bob", "Bob"))
SITE = "cascade"


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("ingest-streams")
    settings = make_settings(broker.bootstrap, streams_port=free_port(),
                             data_dir=str(tmp / "data"), jwt_secret=JWT_SECRET,
                             service_token=SERVICE_TOKEN, default_site=SITE)
    process = WorkerProcess(settings, tmp / "worker.log").start()
    try:
        process.wait_ready(60)
        yield process
    finally:
        assert process.stop() == 0, Path(process.log_path).read_text()[-3000:]


@dataclass
class Both:
    ingest: httpx.AsyncClient
    streams: httpx.AsyncClient
    settings: Settings

    async def write(self, method: str, url: str, headers: dict[str, str],
                    **kwargs: Any) -> dict[str, Any]:
        r = await self.ingest.request(method, url, headers=headers, **kwargs)
        assert r.status_code == 202, r.text
        return dict(r.json())


@pytest.fixture
async def both(worker: WorkerProcess) -> AsyncIterator[Both]:
    settings = worker.settings
    app = create_app(settings, limits=IngestLimits(burst=1000))
    async with app.router.lifespan_context(app):
        await app.state.ingest.feed.wait_ready(30)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                     base_url="http://ingest.test") as ingest, \
                httpx.AsyncClient(base_url=worker.url, timeout=10) as streams:
            yield Both(ingest, streams, settings)


def _article(article_id: str) -> dict[str, Any]:
    return {"article_id": article_id, "title": "A title", "url": "https://news.example/a",
            "author": "Jo Writer"}


async def test_a_deleted_articles_comments_leave_snapshot_history_and_recent_list(
    both: Both,
) -> None:
    await both.write("POST", "/v1/articles", CMS, json=_article("doomed"))
    await both.write("POST", "/v1/articles", CMS, json=_article("kept"))
    doomed = [(await both.write("POST", "/v1/articles/doomed/comments", ANN,
                                json={"body": f"Doomed {n}."}))["comment_id"] for n in range(3)]
    kept = (await both.write("POST", "/v1/articles/kept/comments", ANN,
                             json={"body": "Kept."}))["comment_id"]
    recent_url = f"/v1/sites/{SITE}/recent"
    await poll_json(both.streams, recent_url, lambda b: len(b["items"]) == 4)

    await both.write("DELETE", "/v1/articles/doomed", CMS)

    snapshot = await poll_json(both.streams, "/v1/channels/article:doomed/snapshot",
                               lambda b: b["snapshot"]["count"] == 0)
    assert snapshot["snapshot"]["comments"] == []
    assert snapshot["snapshot"]["article"]["deleted"] is True
    history = (await both.streams.get("/v1/articles/doomed/comments")).json()
    assert history["comments"] == []
    recent = await poll_json(both.streams, recent_url, lambda b: len(b["items"]) == 1)
    assert [i["comment_id"] for i in recent["items"]] == [kept]
    assert kept not in doomed


async def test_a_keyed_post_published_twice_is_one_comment(both: Both) -> None:
    await both.write("POST", "/v1/articles", CMS, json=_article("twice"))
    answer = await both.write("POST", "/v1/articles/twice/comments",
                              {**ANN, "Idempotency-Key": "race-1"}, json={"body": "Once."})
    # Another process that did not see the first yet publishes the same write again: the
    # same derived ids, so the same event.
    (stored,) = [s.event for s in await read_topic(both.settings, Topic.COMMENTS)
                 if isinstance(s.event, CommentPosted) and s.key == "twice"]
    assert (stored.id, stored.data.comment_id) == (answer["event_id"], answer["comment_id"])
    await publish(both.settings, [as_record(both.settings, stored)])
    then = await both.write("POST", "/v1/articles/twice/comments", ANN, json={"body": "Next."})
    snapshot = await poll_json(
        both.streams, "/v1/channels/article:twice/snapshot",
        lambda b: then["comment_id"] in [c["comment_id"] for c in b["snapshot"]["comments"]])
    assert snapshot["snapshot"]["count"] == 2
    assert [c["comment_id"] for c in snapshot["snapshot"]["comments"]] == [
        answer["comment_id"], then["comment_id"]]


async def poll_ingest(both: Both, url: str, headers: dict[str, str],
                      done: Callable[[Any], bool]) -> Any:
    async def answer() -> Any:
        r = await both.ingest.get(url, headers=headers)
        assert r.status_code in (200, 503), r.text
        return r.json() if r.status_code == 200 else None

    async with asyncio.timeout(60):
        while True:
            body = await answer()
            if body is not None and done(body):
                return body
            await asyncio.sleep(0.1)


async def test_a_readers_votes_come_back_from_votes_mine_and_a_zero_withdraws(
    both: Both,
) -> None:
    await both.write("POST", "/v1/articles", CMS, json=_article("voted"))
    c1, c2 = [(await both.write("POST", "/v1/articles/voted/comments", ANN,
                                json={"body": f"Vote on me {n}."}))["comment_id"]
              for n in range(2)]
    await both.write("POST", f"/v1/comments/{c1}/vote", BOB, json={"value": 1})
    await both.write("POST", f"/v1/comments/{c2}/vote", BOB, json={"value": -1})
    await both.write("POST", f"/v1/comments/{c1}/vote", ANN, json={"value": -1})
    mine = "/v1/articles/voted/votes/mine"
    bob = await poll_ingest(both, mine, BOB, lambda b: len(b["votes"]) == 2)
    assert bob == {"article_id": "voted", "votes": {c1: 1, c2: -1}}
    ann = await poll_ingest(both, mine, ANN, lambda b: b["votes"] != {})
    assert ann["votes"] == {c1: -1}

    await both.write("POST", f"/v1/comments/{c2}/vote", BOB, json={"value": 0})
    bob = await poll_ingest(both, mine, BOB, lambda b: len(b["votes"]) == 1)
    assert bob["votes"] == {c1: 1}
    snapshot = (await both.streams.get("/v1/channels/article:voted/snapshot")).json()
    assert [c["score"] for c in snapshot["snapshot"]["comments"]] == [0, 0]
    assert (await both.ingest.get(mine)).status_code == 401


async def test_a_comment_deleted_through_the_api_leaves_a_placeholder_over_its_replies(
    both: Both,
) -> None:
    await both.write("POST", "/v1/articles", CMS, json=_article("threaded"))
    parent = (await both.write("POST", "/v1/articles/threaded/comments", ANN,
                               json={"body": "A question."}))["comment_id"]
    reply = (await both.write("POST", "/v1/articles/threaded/comments", BOB,
                              json={"body": "An answer.", "parent_id": parent}))["comment_id"]
    await both.write("DELETE", f"/v1/comments/{parent}", ANN)
    snapshot = await poll_json(
        both.streams, "/v1/channels/article:threaded/snapshot",
        lambda b: any(c.get("removed") for c in b["snapshot"]["comments"]))
    assert snapshot["snapshot"]["count"] == 1
    comments = snapshot["snapshot"]["comments"]
    assert [(c["comment_id"], c.get("removed"), c["parent_id"]) for c in comments] == [
        (parent, True, None), (reply, None, parent)]
    assert "body" not in comments[0]
    history = (await both.streams.get("/v1/articles/threaded/comments")).json()
    assert history["comments"] == comments[::-1]
