"""The HTTP ingest API on a fake publisher: every endpoint turns a request into the right event
for the right topic and key, and every refusal publishes nothing. The same API against the real
broker: tests/integration/test_ingest_api.py."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from commentfeed.broker import free_port
from commentfeed.demo_data import ARTICLES, LEAD_ARTICLE_ID, SECTIONS
from commentfeed.events import (
    ArticleClosed,
    ArticleDeleted,
    ArticlePublished,
    ArticleUpdated,
    CommentDeleted,
    CommentEdited,
    CommentModerated,
    CommentPosted,
    CommentVoted,
)
from commentfeed.topics import Topic
from producers.auth import Reader, mint_reader_token
from tests.ingest_client import ANN, BOB, CMS, JWT_SECRET, MOD, bearer, token
from tests.unit.ingest_support import (
    Api,
    ingest_settings,
    start_api,
    unchanged,
)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with start_api() as a:
        yield a


@pytest.fixture
async def strict_api() -> AsyncIterator[Api]:
    """An API whose readers get two writes and then wait a long time."""
    async with start_api(burst=2, rate_per_s=0.01) as a:
        yield a


# -- happy paths: the right event, on the right topic, with the right key ------------------------

async def test_an_article_without_site_gets_the_default_site(api: Api) -> None:
    await api.article("a1")
    stored = await api.last(Topic.ARTICLES)
    assert isinstance(stored.event, ArticlePublished)
    assert stored.event.data.site == api.settings.default_site


async def test_patching_an_article_publishes_the_whole_updated_article(api: Api) -> None:
    await api.article("a1")
    r = await api.client.patch("/v1/articles/a1", json={"title": "A better title"}, headers=CMS)
    assert r.status_code == 202, r.text
    stored = await api.last(Topic.ARTICLES)
    assert stored.key == "a1"
    assert isinstance(stored.event, ArticleUpdated)
    assert stored.event.data.title == "A better title"
    assert stored.event.data.url == "https://news.example/a"
    assert stored.event.data.author == "Jo Writer"


async def test_closing_and_deleting_an_article(api: Api) -> None:
    await api.article("a1")
    r = await api.client.post("/v1/articles/a1/close", headers=CMS)
    assert r.status_code == 202, r.text
    r = await api.client.delete("/v1/articles/a1", headers=CMS)
    assert r.status_code == 202, r.text
    _, closed, deleted = await api.records(Topic.ARTICLES)
    assert isinstance(closed.event, ArticleClosed)
    assert isinstance(deleted.event, ArticleDeleted)
    assert (closed.key, deleted.key) == ("a1", "a1")
    assert closed.event.data.site == deleted.event.data.site == api.settings.default_site


async def test_a_body_cannot_set_the_author(api: Api) -> None:
    await api.article("a1")
    r = await api.client.post("/v1/articles/a1/comments",
                              json={"body": "hi", "author": {"id": "u-bob", "name": "Bob"}},
                              headers=ANN)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "author"]


async def test_a_reply_names_its_parent(api: Api) -> None:
    await api.article("a1")
    parent = await api.comment(ANN)
    reply = await api.comment(BOB, parent_id=parent["comment_id"], body="Agreed.")
    stored = await api.last(Topic.COMMENTS)
    assert isinstance(stored.event, CommentPosted)
    assert stored.event.data.comment_id == reply["comment_id"]
    assert stored.event.data.parent_id == parent["comment_id"]
    assert stored.event.data.author.id == "u-bob"


async def test_a_comment_can_be_edited_at_once_after_posting(api: Api) -> None:
    """Read-your-writes: the edit must not 404 even if the directory feed has not caught up."""
    await api.article("a1")
    posted = await api.comment(ANN)
    r = await api.client.patch(f"/v1/comments/{posted['comment_id']}",
                               json={"body": "Edited text."}, headers=ANN)
    assert r.status_code == 202, r.text
    stored = await api.last(Topic.COMMENTS)
    assert stored.key == "a1"
    assert isinstance(stored.event, CommentEdited)
    assert stored.event.data.comment_id == posted["comment_id"]
    assert stored.event.data.body == "Edited text."


async def test_the_author_and_a_moderator_may_delete(api: Api) -> None:
    await api.article("a1")
    mine = await api.comment(ANN)
    other = await api.comment(BOB)
    r = await api.client.delete(f"/v1/comments/{mine['comment_id']}", headers=ANN)
    assert r.status_code == 202, r.text
    r = await api.client.delete(f"/v1/comments/{other['comment_id']}",
                                params={"reason": "off topic"}, headers=MOD)
    assert r.status_code == 202, r.text
    by_author, by_moderator = (await api.records(Topic.COMMENTS))[-2:]
    assert isinstance(by_author.event, CommentDeleted)
    assert isinstance(by_moderator.event, CommentDeleted)
    assert (by_author.event.data.deleted_by, by_author.event.data.reason) == ("u-ann", None)
    assert by_moderator.event.data.deleted_by == "u-mod"
    assert by_moderator.event.data.reason == "off topic"
    assert by_moderator.key == "a1"


async def test_a_vote_carries_the_voter_from_the_token(api: Api) -> None:
    await api.article("a1")
    posted = await api.comment(ANN)
    r = await api.client.post(f"/v1/comments/{posted['comment_id']}/vote", json={"value": -1},
                              headers=BOB)
    assert r.status_code == 202, r.text
    stored = await api.last(Topic.COMMENTS)
    assert stored.key == "a1"
    assert isinstance(stored.event, CommentVoted)
    assert (stored.event.data.voter_id, stored.event.data.value) == ("u-bob", -1)


async def test_a_moderator_hides_and_approves(api: Api) -> None:
    await api.article("a1")
    posted = await api.comment(ANN)
    url = f"/v1/comments/{posted['comment_id']}/moderation"
    r = await api.client.post(url, json={"action": "hide", "reason": "spam"}, headers=MOD)
    assert r.status_code == 202, r.text
    r = await api.client.post(url, json={"action": "approve"}, headers=MOD)
    assert r.status_code == 202, r.text
    hidden, approved = (await api.records(Topic.COMMENTS))[-2:]
    assert isinstance(hidden.event, CommentModerated)
    assert isinstance(approved.event, CommentModerated)
    assert (hidden.event.data.status, hidden.event.data.reason) == ("hidden", "spam")
    assert (approved.event.data.status, approved.event.data.moderator) == ("visible", "u-mod")
    assert hidden.key == approved.key == "a1"


async def test_demo_login_gives_a_working_reader_token(api: Api) -> None:
    await api.article("a1")
    r = await api.client.post("/v1/demo/login", json={"name": "Dora", "role": "moderator"})
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["user"]["name"] == "Dora"
    assert session["user"]["role"] == "moderator"
    posted = await api.comment(bearer(session["token"]))
    stored = await api.last(Topic.COMMENTS)
    assert isinstance(stored.event, CommentPosted)
    assert posted["comment_id"] == stored.event.data.comment_id
    assert stored.event.data.author.id == session["user"]["id"]
    assert stored.event.data.author.name == "Dora"


# -- refusals: the right status, and nothing reaches Kafka ------------------------------------

async def test_401_without_a_token(api: Api) -> None:
    await api.article("a1")
    body = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", json={"body": "hi"}), 401)
    assert body["code"] == "missing_token"


async def test_401_for_an_expired_token(api: Api) -> None:
    await api.article("a1")
    expired = token("u-ann", ttl=timedelta(minutes=1),
                    now=datetime.now(UTC) - timedelta(minutes=5))
    body = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", json={"body": "hi"}, headers=bearer(expired)), 401)
    assert body["code"] == "expired_token"


async def test_401_for_a_tampered_token(api: Api) -> None:
    """The payload is changed to another user; the signature no longer matches."""
    await api.article("a1")
    header, payload, signature = token("u-ann").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"], claims["role"] = "u-mod", "moderator"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    body = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", json={"body": "hi"},
        headers=bearer(f"{header}.{forged}.{signature}")), 401)
    assert body["code"] == "invalid_token"


async def test_401_for_a_token_signed_with_another_secret(api: Api) -> None:
    await api.article("a1")
    other = token("u-ann", secret="not-the-site-secret-but-long-enough-for-hs256")
    body = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", json={"body": "hi"}, headers=bearer(other)), 401)
    assert body["code"] == "invalid_token"


async def test_401_for_the_wrong_credential_kind(api: Api) -> None:
    await api.article("a1")
    # A reader token is not the service token, and the service token is not a reader token.
    await unchanged(api, lambda: api.client.post(
        "/v1/articles", json={"article_id": "a2", "title": "T", "url": "https://x.example/",
                              "author": "A"}, headers=ANN), 401)
    await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", json={"body": "hi"}, headers=CMS), 401)


async def test_403_when_a_reader_moderates(api: Api) -> None:
    await api.article("a1")
    posted = await api.comment(ANN)
    body = await unchanged(api, lambda: api.client.post(
        f"/v1/comments/{posted['comment_id']}/moderation", json={"action": "hide"},
        headers=ANN), 403)
    assert body["code"] == "not_moderator"


async def test_403_for_a_token_of_another_user_on_a_comment(api: Api) -> None:
    await api.article("a1")
    posted = await api.comment(ANN)
    comment_url = f"/v1/comments/{posted['comment_id']}"
    edit = await unchanged(api, lambda: api.client.patch(
        comment_url, json={"body": "Not mine."}, headers=BOB), 403)
    delete = await unchanged(api, lambda: api.client.delete(comment_url, headers=BOB), 403)
    assert edit["code"] == delete["code"] == "not_author"


def _signed(**claims: Any) -> dict[str, str]:
    import jwt
    payload = {"sub": "u-ann", "exp": datetime.now(UTC) + timedelta(minutes=5), **claims}
    return bearer(jwt.encode(payload, JWT_SECRET, algorithm="HS256"))


async def test_every_token_defect_is_a_401_never_a_500(api: Api) -> None:
    await api.article("a1")
    decades = datetime.now(UTC) + timedelta(days=365 * 30)
    for defect in ({"sub": "alice\n"}, {"name": "A\ud800"}, {"name": "\u200b"},
                   {"role": "moderator"}, {"exp": decades}, {"sub": 42}, {"iat": "now"}):
        body = await unchanged(api, lambda d=defect: api.client.post(  # type: ignore[misc]
            "/v1/articles/a1/comments", json={"body": "hi"}, headers=_signed(**d)), 401)
        assert body["code"] == "invalid_token", defect


async def test_each_demo_login_is_its_own_user(api: Api) -> None:
    await api.article("a1")
    sessions = []
    for _ in range(2):
        r = await api.client.post("/v1/demo/login", json={"name": "Alice"})
        assert r.status_code == 200, r.text
        sessions.append(r.json())
    first, second = sessions
    assert first["user"]["id"] != second["user"]["id"]
    posted = await api.comment(bearer(first["token"]))
    body = await unchanged(api, lambda: api.client.patch(
        f"/v1/comments/{posted['comment_id']}", json={"body": "Mine now."},
        headers=bearer(second["token"])), 403)
    assert body["code"] == "not_author"


async def test_a_moderator_moderates_only_the_site_of_their_token(api: Api) -> None:
    await api.article("a1")
    posted = await api.comment(ANN)
    elsewhere = bearer(token("u-mod", "Mia", "moderator", site="sport"))
    body = await unchanged(api, lambda: api.client.post(
        f"/v1/comments/{posted['comment_id']}/moderation", json={"action": "hide"},
        headers=elsewhere), 403)
    assert body["code"] == "wrong_site"


async def test_deleting_an_article_deletes_its_comments_first(api: Api) -> None:
    await api.article("a1")
    await api.article("other")
    kept = await api.comment(ANN, "other")
    first = await api.comment(ANN)
    second = await api.comment(BOB)
    already = await api.comment(BOB)
    r = await api.client.delete(f"/v1/comments/{already['comment_id']}", headers=BOB)
    assert r.status_code == 202, r.text
    r = await api.client.delete("/v1/articles/a1", headers=CMS)
    assert r.status_code == 202, r.text
    answer = r.json()
    cascade = [s.event for s in await api.records(Topic.COMMENTS) if s.key == "a1"][-2:]
    assert [(type(e), e.data.comment_id, e.data.deleted_by, e.data.reason) for e in cascade
            if isinstance(e, CommentDeleted)] == [
        (CommentDeleted, first["comment_id"], "cms", "article deleted"),
        (CommentDeleted, second["comment_id"], "cms", "article deleted"),
    ]
    assert [e.id for e in cascade] == [f"{answer['event_id']}.{first['comment_id']}",
                                       f"{answer['event_id']}.{second['comment_id']}"]
    last_of_a1 = [s.event for s in await api.records(Topic.ARTICLES) if s.key == "a1"][-1]
    assert isinstance(last_of_a1, ArticleDeleted)
    # What a moderator can still do with those comments: nothing; the answer says why.
    body = await unchanged(api, lambda: api.client.post(
        f"/v1/comments/{first['comment_id']}/moderation", json={"action": "hide"},
        headers=MOD), 410)
    assert body["code"] == "article_deleted"
    r = await api.client.post(f"/v1/comments/{kept['comment_id']}/moderation",
                              json={"action": "hide"}, headers=MOD)
    assert r.status_code == 202, r.text


async def test_hidden_comments_cannot_be_voted_on(api: Api) -> None:
    await api.article("a1")
    posted = await api.comment(ANN)
    r = await api.client.post(f"/v1/comments/{posted['comment_id']}/moderation",
                              json={"action": "hide"}, headers=MOD)
    assert r.status_code == 202, r.text
    body = await unchanged(api, lambda: api.client.post(
        f"/v1/comments/{posted['comment_id']}/vote", json={"value": 1}, headers=BOB), 409)
    assert body["code"] == "comment_not_visible"


async def test_a_body_must_hold_visible_text(api: Api) -> None:
    await api.article("a1")
    for text in ("\u0000", "\u200b\u200c\u200d", "\u202e\u2066", "ok\u0000"):
        body = await unchanged(api, lambda t=text: api.client.post(  # type: ignore[misc]
            "/v1/articles/a1/comments", json={"body": t}, headers=ANN), 422)
        assert body["detail"][0]["loc"] == ["body", "body"], text
    # A lone surrogate, as a JSON escape: refused as a field error, not a server error.
    lone = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", content=b'{"body": "x\\ud800"}',
        headers={**ANN, "Content-Type": "application/json"}), 422)
    assert lone["detail"][0]["loc"] == ["body", "body"]


async def test_404_for_unknown_articles_and_comments(api: Api) -> None:
    await api.article("a1")
    posted = await api.comment(ANN)
    cases = [
        lambda: api.client.post("/v1/articles/nope/comments", json={"body": "hi"}, headers=ANN),
        lambda: api.client.post("/v1/articles/a1/comments",
                                json={"body": "hi", "parent_id": "c-missing"}, headers=ANN),
        lambda: api.client.patch("/v1/comments/c-missing", json={"body": "x"}, headers=ANN),
        lambda: api.client.post("/v1/comments/c-missing/vote", json={"value": 1}, headers=ANN),
        lambda: api.client.patch("/v1/articles/nope", json={"title": "T"}, headers=CMS),
        lambda: api.client.post("/v1/articles/nope/close", headers=CMS),
    ]
    codes = [(await unchanged(api, case, 404))["code"] for case in cases]
    assert codes == ["article_not_found", "parent_not_found", "comment_not_found",
                     "comment_not_found", "article_not_found", "article_not_found"]
    # A deleted comment is gone too.
    r = await api.client.delete(f"/v1/comments/{posted['comment_id']}", headers=ANN)
    assert r.status_code == 202
    await unchanged(api, lambda: api.client.patch(
        f"/v1/comments/{posted['comment_id']}", json={"body": "x"}, headers=ANN), 404)


async def test_409_when_comments_are_closed(api: Api) -> None:
    await api.article("a1")
    posted = await api.comment(ANN)
    r = await api.client.post("/v1/articles/a1/close", headers=CMS)
    assert r.status_code == 202
    post = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", json={"body": "Too late."}, headers=BOB), 409)
    vote = await unchanged(api, lambda: api.client.post(
        f"/v1/comments/{posted['comment_id']}/vote", json={"value": 1}, headers=BOB), 409)
    assert post["code"] == vote["code"] == "comments_closed"
    # Publishing the same article id twice is a conflict as well.
    again = await unchanged(api, lambda: api.client.post(
        "/v1/articles", json={"article_id": "a1", "title": "T", "url": "https://x.example/",
                              "author": "A"}, headers=CMS), 409)
    assert again["code"] == "article_exists"


async def test_413_for_a_declared_and_for_an_undeclared_large_body(api: Api) -> None:
    await api.article("a1")
    big = json.dumps({"body": "x" * 40_000}).encode()
    declared = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", content=big,
        headers={**ANN, "Content-Type": "application/json"}), 413)
    assert declared["code"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start:start + 4096]

    # A streamed body has no Content-Length: the bytes themselves are counted.
    streamed = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", content=chunks(),
        headers={**ANN, "Content-Type": "application/json"}), 413)
    assert streamed["code"] == "body_too_large"


async def test_422_names_the_bad_fields(api: Api) -> None:
    await api.article("a1")
    posted = await api.comment(ANN)
    empty = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", json={"body": "   "}, headers=ANN), 422)
    assert [e["loc"] for e in empty["detail"]] == [["body", "body"]]
    vote = await unchanged(api, lambda: api.client.post(
        f"/v1/comments/{posted['comment_id']}/vote", json={"value": 2}, headers=ANN), 422)
    assert [e["loc"] for e in vote["detail"]] == [["body", "value"]]
    article = await unchanged(api, lambda: api.client.post(
        "/v1/articles", json={"article_id": "bad id!", "title": "T", "url": "ftp://x",
                              "author": "A"}, headers=CMS), 422)
    assert sorted(e["loc"][-1] for e in article["detail"]) == ["article_id", "url"]
    not_json = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", content=b"{nope",
        headers={**ANN, "Content-Type": "application/json"}), 422)
    assert not_json["detail"][0]["type"] == "json_invalid"
    bad_path = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a%20b/comments", json={"body": "hi"}, headers=ANN), 422)
    assert bad_path["detail"][0]["loc"] == ["path", "article_id"]


async def test_429_over_the_rate_limit_with_retry_after(strict_api: Api) -> None:
    api = strict_api
    await api.article("a1")
    await api.comment(ANN)
    await api.comment(ANN)
    body = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", json={"body": "third"}, headers=ANN), 429)
    assert body["code"] == "rate_limited"
    r = await api.client.post("/v1/articles/a1/comments", json={"body": "x"}, headers=ANN)
    assert int(r.headers["Retry-After"]) >= 1
    # The limit is per user: another reader still gets through.
    await api.comment(BOB)


async def test_an_idempotency_key_is_scoped_to_its_caller_and_body(api: Api) -> None:
    await api.article("a1")
    ann = await api.client.post("/v1/articles/a1/comments", json={"body": "Same key."},
                                headers={**ANN, "Idempotency-Key": "k"})
    bob = await api.client.post("/v1/articles/a1/comments", json={"body": "Same key."},
                                headers={**BOB, "Idempotency-Key": "k"})
    assert ann.status_code == bob.status_code == 202
    assert ann.json()["comment_id"] != bob.json()["comment_id"]
    reused = await unchanged(api, lambda: api.client.post(
        "/v1/articles/a1/comments", json={"body": "Another body."},
        headers={**ANN, "Idempotency-Key": "k"}), 422)
    assert [(e["loc"], e["type"]) for e in reused["detail"]] == [
        (["header", "Idempotency-Key"], "idempotency_key_reused")]
    assert len(await api.records(Topic.COMMENTS)) == 2


async def test_concurrent_retries_with_one_key_publish_once(api: Api) -> None:
    await api.article("a1")
    headers = {**ANN, "Idempotency-Key": "burst"}
    answers = await asyncio.gather(*(
        api.client.post("/v1/articles/a1/comments", json={"body": "Once."}, headers=headers)
        for _ in range(5)))
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["event_id"] for r in answers}) == 1
    assert len(await api.records(Topic.COMMENTS)) == 1


async def test_a_refused_request_is_not_remembered_under_its_key(api: Api) -> None:
    headers = {**ANN, "Idempotency-Key": "early"}
    early = await api.client.post("/v1/articles/a1/comments", json={"body": "hi"},
                                  headers=headers)
    assert early.status_code == 404
    await api.article("a1")
    later = await api.client.post("/v1/articles/a1/comments", json={"body": "hi"},
                                  headers=headers)
    assert later.status_code == 202


# -- the page side ----------------------------------------------------------------------------

async def test_page_config_comes_from_settings_never_from_the_host_header(api: Api) -> None:
    expected = {
        "gateway_url": f"ws://127.0.0.1:{api.settings.gateway_port}/ws",
        "ingest_url": "",
        "site": api.settings.default_site,
        "article_id": LEAD_ARTICLE_ID,
        "demo_mode": True,
    }
    for host in ("news.test", "evil.example:8000", "127.0.0.1:8000"):
        r = await api.client.get("/config.json", headers={"Host": host})
        assert r.status_code == 200
        assert r.json() == expected
        assert "evil" not in r.headers["content-security-policy"]


async def test_the_demo_site_serves_its_pages_and_content(api: Api) -> None:
    front = await api.client.get("/")
    assert front.status_code == 200
    assert '<script type="module" src="/front.js">' in front.text
    content = (await api.client.get("/site/articles.json")).json()
    assert [s["name"] for s in content["sections"]] == list(SECTIONS)
    assert content["articles"][0]["article_id"] == LEAD_ARTICLE_ID  # the lead story on top
    assert {a["article_id"] for a in content["articles"]} == {a.article_id for a in ARTICLES}
    for section in content["sections"]:
        page = await api.client.get(section["url"])
        assert page.status_code == 200, section
        assert page.text == front.text
        assert any(a["section_url"] == section["url"] for a in content["articles"]), section
    assert (await api.client.get("/sections/sport")).status_code == 404
    for article in content["articles"]:
        page = await api.client.get(article["url"])
        assert page.status_code == 200
        assert '<script type="module" src="/app.js">' in page.text
        assert "unsafe-inline" not in page.headers["content-security-policy"]
    # Any article id the stream may know gets a page; a malformed one does not.
    assert (await api.client.get("/articles/from-the-cms")).status_code == 200
    assert (await api.client.get("/articles/no%20spaces")).status_code in (404, 422)


async def test_public_urls_are_settings() -> None:
    settings = ingest_settings(public_gateway_url="wss://live.news.example/ws",
                               public_ingest_url="https://api.news.example")
    async with start_api(settings=settings) as api:
        r = await api.client.get("/config.json", headers={"Host": "evil.example"})
    assert r.json()["gateway_url"] == "wss://live.news.example/ws"
    assert r.json()["ingest_url"] == "https://api.news.example"
    assert "connect-src 'self' wss://live.news.example;" in r.headers["content-security-policy"]


async def test_the_demo_page_is_served_with_security_headers(api: Api) -> None:
    r = await api.client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert f"ws://127.0.0.1:{api.settings.gateway_port}" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    # Only the interactive API docs (Swagger UI) may set inline styles; no page runs inline
    # script or names another host.
    docs = await api.client.get("/docs")
    assert docs.status_code == 200
    docs_csp = docs.headers["content-security-policy"]
    assert "style-src 'self' 'unsafe-inline'" in docs_csp
    assert "script-src 'self';" in docs_csp
    assert "http" not in docs_csp
    assert "unsafe-inline" not in (await api.client.get("/config.json")).headers[
        "content-security-policy"]


async def test_the_api_docs_work_offline(api: Api) -> None:
    # Swagger UI comes from this process: no other host in the page, every asset answers.
    page = await api.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text  # no inline script
    assert "://" not in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
            "/docs/assets/start.js"} <= set(assets)
    for asset in assets:
        answer = await api.client.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 0, asset
    start = (await api.client.get("/docs/assets/start.js")).text
    assert '"/openapi.json"' in start
    assert "validatorUrl: null" in start
    assert (await api.client.get("/openapi.json")).status_code == 200
    # FastAPI's CDN-backed pages are gone.
    assert (await api.client.get("/redoc")).status_code == 404


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    await api.article("a1")
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "publisher": True, "directory": True,
                            "articles": 1, "comments": 0}


async def test_demo_login_is_absent_outside_demo_mode() -> None:
    async with start_api(settings=ingest_settings(demo_mode=False)) as api:
        client = api.client
        r = await client.post("/v1/demo/login", json={"name": "Eve"})
        assert r.status_code == 404
        assert r.json()["code"] == "demo_disabled"
        spec = (await client.get("/openapi.json")).json()
        # The demo page and its config are demo-only; the widget assets stay for embedders.
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/config.json")).status_code == 404
        for path in ("/sections/city", f"/articles/{LEAD_ARTICLE_ID}", "/site/articles.json"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/docs")).status_code == 200  # the API docs stay
        widgets = await client.get("/widgets.js")
        assert widgets.status_code == 200
        assert "RecentComments" in widgets.text
        # A demo token signed with the same secret is refused outside demo mode.
        demo = mint_reader_token(Reader("u-eve", "Eve", "reader", demo=True), JWT_SECRET,
                                 ttl=timedelta(minutes=5))
        r = await client.post("/v1/articles/a1/comments", json={"body": "hi"},
                              headers=bearer(demo))
        assert (r.status_code, r.json()["code"]) == (401, "invalid_token")
    assert "/v1/demo/login" not in spec["paths"]


# -- the reader's own votes: read from the streams API -----------------------------------------


@asynccontextmanager
async def stand_in_streams(status: int, body: bytes) -> AsyncIterator[tuple[str, list[str]]]:
    """A real HTTP server answering every request with ``status`` and ``body``; its base URL
    and the paths asked."""
    asked: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", asked
    finally:
        await runner.cleanup()


async def test_my_votes_ask_the_streams_for_the_callers_votes() -> None:
    body = b'{"article_id": "a1", "voter_id": "u-ann", "votes": {"c1": 1, "c2": -1}}'
    async with stand_in_streams(200, body) as (url, asked), start_api(
            settings=ingest_settings(streams_url=url)) as api:
        r = await api.client.get("/v1/articles/a1/votes/mine", headers=bearer(token("u-ann")))
        assert r.status_code == 200, r.text
        assert r.json() == {"article_id": "a1", "votes": {"c1": 1, "c2": -1}}
        assert asked == ["/v1/articles/a1/votes/u-ann"]
        # A read spends nothing of the write rate limit, and publishes nothing.
        assert api.publisher.count == 0


async def test_my_votes_need_a_reader_token() -> None:
    async with start_api() as api:
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, CMS):
            r = await api.client.get("/v1/articles/a1/votes/mine", headers=headers)
            assert r.status_code == 401, r.text
            assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_my_votes_answer_503_when_the_streams_cannot() -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with start_api(settings=ingest_settings(streams_url=closed)) as api:
        r = await api.client.get("/v1/articles/a1/votes/mine", headers=bearer(token("u-ann")))
        assert (r.status_code, r.json()["code"]) == (503, "streams_unavailable")
        assert r.headers["Retry-After"] == "1"
    async with stand_in_streams(503, b'{"error": "unavailable"}') as (url, _), start_api(
            settings=ingest_settings(streams_url=url)) as api:
        r = await api.client.get("/v1/articles/a1/votes/mine", headers=bearer(token("u-ann")))
        assert (r.status_code, r.json()["code"]) == (503, "streams_unavailable")
