"""The ingest API's moderation on a fake publisher: reports, bans, pre-moderation and banned
words become the right events with the right keys, and every refusal publishes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from commentfeed.events import (
    CommentModerated,
    CommentPosted,
    CommentReported,
    UserBanned,
    UserBannedData,
)
from commentfeed.topics import Topic
from producers.directory import Directory
from producers.moderation import BANNED_WORD, PREMODERATED, ModerationPolicy
from tests.ingest_client import ANN, BOB, MOD, bearer, token
from tests.unit.ingest_support import Api, ingest_settings, start_api, unchanged

OTHER_MOD = bearer(token("u-max", "Max", "moderator", site="elsewhere"))


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with start_api() as a:
        yield a


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def ban(api: Api, user_id: str, who: dict[str, str] = MOD, **fields: Any) -> Any:
    return await api.client.post("/v1/sites/demo/bans", headers=who,
                                 json={"user_id": user_id, "until": later(hours=1), **fields})


# -- reports -----------------------------------------------------------------------------------

async def test_a_report_is_a_comment_reported_event_keyed_by_the_article(api: Api) -> None:
    await api.article("a1")
    posted = await api.comment(ANN)
    r = await api.client.post(f"/v1/comments/{posted['comment_id']}/reports", headers=BOB,
                              json={"reason": "spam", "text": "Sells watches"})
    assert r.status_code == 202, r.text
    stored = await api.last(Topic.COMMENTS)
    assert isinstance(stored.event, CommentReported)
    assert stored.key == stored.event.subject == "a1"
    assert stored.event.data.model_dump() == {
        "comment_id": posted["comment_id"], "article_id": "a1", "site": "demo",
        "reporter_id": "u-bob", "reason": "spam", "text": "Sells watches"}


async def test_a_reader_reports_a_comment_once(api: Api) -> None:
    await api.article("a1")
    cid = (await api.comment(ANN))["comment_id"]
    path = f"/v1/comments/{cid}/reports"
    assert (await api.client.post(path, headers=BOB, json={"reason": "abuse"})).status_code == 202
    body = await unchanged(api, lambda: api.client.post(path, headers=BOB,
                                                        json={"reason": "spam"}), 409)
    assert body["code"] == "already_reported"
    # Another reader still may.
    assert (await api.client.post(path, headers=MOD, json={"reason": "spam"})).status_code == 202


@pytest.mark.parametrize("body", [{"reason": "boring"}, {}, {"reason": "spam", "text": "x" * 501},
                                  {"reason": "spam", "reporter_id": "u-x"}])
async def test_a_report_needs_a_reason_from_the_list(api: Api, body: dict[str, Any]) -> None:
    await api.article("a1")
    cid = (await api.comment(ANN))["comment_id"]
    await unchanged(api, lambda: api.client.post(f"/v1/comments/{cid}/reports", headers=BOB,
                                                 json=body), 422)


async def test_reports_need_a_login_and_a_known_visible_comment(api: Api) -> None:
    await api.article("a1")
    await unchanged(api, lambda: api.client.post("/v1/comments/nope/reports", headers=BOB,
                                                 json={"reason": "spam"}), 404)
    cid = (await api.comment(ANN))["comment_id"]
    await unchanged(api, lambda: api.client.post(f"/v1/comments/{cid}/reports",
                                                 json={"reason": "spam"}), 401)
    hide = await api.client.post(f"/v1/comments/{cid}/moderation", headers=MOD,
                                 json={"action": "hide"})
    assert hide.status_code == 202
    body = await unchanged(api, lambda: api.client.post(f"/v1/comments/{cid}/reports",
                                                        headers=BOB, json={"reason": "spam"}),
                           409)
    assert body["code"] == "comment_not_visible"


# -- bans --------------------------------------------------------------------------------------

async def test_a_ban_is_a_user_banned_event_keyed_by_the_site(api: Api) -> None:
    until = later(hours=2)
    r = await api.client.post("/v1/sites/demo/bans", headers=MOD,
                              json={"user_id": "u-ann", "until": until, "reason": "spam"})
    assert r.status_code == 202, r.text
    assert r.json()["article_id"] == "site:demo"
    stored = await api.last(Topic.COMMENTS)
    assert isinstance(stored.event, UserBanned)
    assert stored.key == stored.event.subject == "site:demo"
    data = stored.event.data
    assert (data.user_id, data.site, data.until, data.hide_comments, data.moderator,
            data.reason) == ("u-ann", "demo", datetime.fromisoformat(until), False, "u-mod",
                             "spam")


async def test_a_banned_user_cannot_write_on_the_site_until_the_ban_ends(api: Api) -> None:
    await api.article("a1")
    cid = (await api.comment(ANN))["comment_id"]
    other = (await api.comment(BOB))["comment_id"]
    assert (await ban(api, "u-ann")).status_code == 202
    refusals = [
        lambda: api.client.post("/v1/articles/a1/comments", headers=ANN, json={"body": "Hi"}),
        lambda: api.client.patch(f"/v1/comments/{cid}", headers=ANN, json={"body": "Edit"}),
        lambda: api.client.post(f"/v1/comments/{other}/vote", headers=ANN, json={"value": 1}),
        lambda: api.client.post(f"/v1/comments/{other}/reports", headers=ANN,
                                json={"reason": "spam"}),
    ]
    for request in refusals:
        assert (await unchanged(api, request, 403))["code"] == "banned"
    # Others still write, and the banned user may still delete their own comment.
    await api.comment(BOB)
    assert (await api.client.delete(f"/v1/comments/{cid}", headers=ANN)).status_code == 202


async def test_an_expired_ban_no_longer_refuses(api: Api) -> None:
    await api.article("a1")
    directory = api.app.state.ingest.directory
    assert (await ban(api, "u-ann")).status_code == 202
    assert directory.banned_until("demo", "u-ann", datetime.now(UTC)) is not None
    assert directory.banned_until("demo", "u-ann",
                                  datetime.now(UTC) + timedelta(hours=2)) is None
    assert directory.banned_until("elsewhere", "u-ann", datetime.now(UTC)) is None


async def test_a_ban_that_hides_comments_hides_each_visible_one_first(api: Api) -> None:
    await api.article("a1")
    await api.article("a2")
    first = (await api.comment(ANN, "a1"))["comment_id"]
    second = (await api.comment(ANN, "a2"))["comment_id"]
    await api.comment(BOB, "a1")
    assert (await ban(api, "u-ann", hide_comments=True)).status_code == 202
    records = (await api.records(Topic.COMMENTS))[-3:]
    hidden = [(r.key, r.event.data.comment_id) for r in records[:2]
              if isinstance(r.event, CommentModerated) and r.event.data.status == "hidden"]
    assert hidden == [("a1", first), ("a2", second)]
    assert isinstance(records[2].event, UserBanned)


async def test_a_lifted_ban_ends_at_once_and_only_a_ban_can_be_lifted(api: Api) -> None:
    await api.article("a1")
    assert (await ban(api, "u-ann")).status_code == 202
    r = await api.client.delete("/v1/sites/demo/bans/u-ann", headers=MOD)
    assert r.status_code == 202, r.text
    stored = await api.last(Topic.COMMENTS)
    assert isinstance(stored.event, UserBanned)
    assert (stored.key, stored.event.data.reason) == ("site:demo", "ban lifted")
    await api.comment(ANN)
    body = await unchanged(api, lambda: api.client.delete("/v1/sites/demo/bans/u-ann",
                                                          headers=MOD), 409)
    assert body["code"] == "not_banned"
    await unchanged(api, lambda: api.client.delete("/v1/sites/demo/bans/u-ann", headers=BOB),
                    403)


@pytest.mark.parametrize(("who", "fields", "status", "code"), [
    (ANN, {}, 403, "not_moderator"),
    (OTHER_MOD, {}, 403, "wrong_site"),
    (MOD, {"until": "2001-01-01T00:00:00Z"}, 409, "ban_in_the_past"),
    (MOD, {"user_id": "u-mod"}, 409, "self_ban"),
])
async def test_only_a_moderator_of_the_site_bans_and_only_into_the_future(
        api: Api, who: dict[str, str], fields: dict[str, Any], status: int, code: str) -> None:
    body = await unchanged(api, lambda: ban(api, fields.pop("user_id", "u-ann"), who, **fields),
                           status)
    assert body["code"] == code


# -- the list of bans ----------------------------------------------------------------------------

async def listed(api: Api, who: dict[str, str] = MOD) -> Any:
    r = await api.client.get("/v1/sites/demo/bans", headers=who)
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_list_shows_bans_in_force_newest_first_with_names_reasons_and_moderator(
        api: Api) -> None:
    await api.article("a1")
    await api.comment(ANN)  # her name is known from her comment; Bob never commented
    await api.comment(MOD)
    ann_until, bob_until = later(hours=3), later(days=2)
    r = await api.client.post("/v1/sites/demo/bans", headers=MOD,
                              json={"user_id": "u-ann", "until": ann_until, "reason": "spam"})
    assert r.status_code == 202, r.text
    ann_ban = (await api.last(Topic.COMMENTS)).event
    assert (await ban(api, "u-bob", until=bob_until)).status_code == 202
    bob_ban = (await api.last(Topic.COMMENTS)).event
    assert isinstance(ann_ban, UserBanned)
    assert isinstance(bob_ban, UserBanned)
    assert await listed(api) == {"site": "demo", "total": 2, "limit": 200, "bans": [
        {"user_id": "u-bob", "name": None, "until": _iso(bob_until), "reason": None,
         "moderator": "u-mod", "moderator_name": "Mia", "banned_at": _iso(bob_ban.time)},
        {"user_id": "u-ann", "name": "Ann", "until": _iso(ann_until), "reason": "spam",
         "moderator": "u-mod", "moderator_name": "Mia", "banned_at": _iso(ann_ban.time)},
    ]}
    # A lifted ban leaves the list; a new ban of the same user is the newest again.
    assert (await api.client.delete("/v1/sites/demo/bans/u-bob", headers=MOD)).status_code == 202
    assert [b["user_id"] for b in (await listed(api))["bans"]] == ["u-ann"]
    assert (await ban(api, "u-bob")).status_code == 202
    answer = await listed(api)
    assert [b["user_id"] for b in answer["bans"]] == ["u-bob", "u-ann"]
    assert answer["total"] == 2


def _iso(value: str | datetime) -> str:
    """A time as the API writes it (pydantic's ISO 8601, UTC as ``Z``)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.isoformat().replace("+00:00", "Z")


async def test_the_list_holds_the_newest_200_and_counts_them_all() -> None:
    async with start_api(rate_per_s=1000.0, burst=1000) as api:
        for n in range(203):
            assert (await ban(api, f"u-{n:03d}")).status_code == 202
        answer = await listed(api)
    assert (answer["total"], answer["limit"], len(answer["bans"])) == (203, 200, 200)
    assert [b["user_id"] for b in answer["bans"]] == [f"u-{n:03d}" for n in range(202, 2, -1)]


def test_the_directory_lists_a_sites_bans_that_hold_now_whatever_the_fold_order() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)

    def banned(user_id: str, site: str, until: datetime) -> UserBanned:
        return UserBanned(subject=f"site:{site}", time=now, data=UserBannedData(
            user_id=user_id, site=site, until=until, moderator="u-mod"))

    records = [(banned("u-ann", "demo", now + timedelta(hours=1)), 3),
               (banned("u-ann", "demo", now), 7),  # lifted later in the log
               (banned("u-bob", "demo", now + timedelta(minutes=1)), 5),
               (banned("u-cy", "demo", now - timedelta(minutes=1)), 9),  # over already
               (banned("u-dee", "news", now + timedelta(hours=1)), 11)]  # another site
    for order in (records, records[::-1]):
        directory = Directory()
        for event, offset in order:
            directory.apply(event, offset)
        assert [(user, ban.offset) for user, ban in directory.bans_in_force("demo", now)] == [
            ("u-bob", 5)]
        assert directory.bans_in_force("demo", now + timedelta(minutes=2)) == []
        assert [user for user, _ in directory.bans_in_force("news", now)] == ["u-dee"]


@pytest.mark.parametrize(("who", "status", "code"), [
    ({}, 401, "missing_token"),
    (ANN, 403, "not_moderator"),
    (OTHER_MOD, 403, "wrong_site"),
])
async def test_only_a_moderator_of_the_site_lists_its_bans(
        api: Api, who: dict[str, str], status: int, code: str) -> None:
    assert (await ban(api, "u-ann")).status_code == 202
    body = await unchanged(api, lambda: api.client.get("/v1/sites/demo/bans", headers=who),
                           status)
    assert body["code"] == code
    assert "u-ann" not in str(body)


async def test_the_list_waits_for_the_directory() -> None:
    async with start_api(catch_up=False) as api:
        r = await api.client.get("/v1/sites/demo/bans", headers=MOD)
        assert (r.status_code, r.json()["code"], r.headers["Retry-After"]) == (
            503, "not_ready", "1")


# -- pre-moderation and banned words -----------------------------------------------------------

@pytest.mark.parametrize(("settings", "article", "body", "status", "held_for"), [
    ({}, "a1", "Hello", "visible", []),
    ({"premoderated_sites": ["demo"]}, "a1", "Hello", "pending", ["premoderated"]),
    ({"premoderated_articles": ["a2"]}, "a1", "Hello", "visible", []),
    ({"premoderated_articles": ["a2"]}, "a2", "Hello", "pending", ["premoderated"]),
    ({"banned_words": {"demo": ["watches"]}}, "a1", "Cheap WATCHES here", "pending",
     ["banned_word"]),
    ({"banned_words": {"demo": ["watch"]}}, "a1", "I watched it", "visible", []),
    ({"banned_words": {"other": ["hello"]}}, "a1", "Hello", "visible", []),
])
async def test_held_comments_are_posted_pending(settings: dict[str, Any], article: str,
                                                body: str, status: str,
                                                held_for: list[str]) -> None:
    async with start_api(settings=ingest_settings(**settings)) as api:
        await api.article(article)
        answer = await api.comment(ANN, article, body=body)
        stored = await api.last(Topic.COMMENTS)
        assert isinstance(stored.event, CommentPosted)
        assert stored.event.data.status == status
        assert stored.event.data.held_for == held_for  # why, for the moderators' desk
        # The author's page learns of the hold from the answer (awaiting moderation).
        assert answer["status"] == status


def test_the_policy_says_why_it_holds_a_comment() -> None:
    policy = ModerationPolicy.of(premoderated_sites=["demo"],
                                 banned_words={"demo": ["buy  now", " "]})
    assert policy.hold_reasons("demo", "a1", "Please buy\nnow!") == [PREMODERATED, BANNED_WORD]
    assert policy.hold_reasons("demo", "a1", "buying nowhere") == [PREMODERATED]
    assert policy.hold_reasons("news", "a1", "buy now") == []
