"""The moderation queue end to end: the real broker, a real streams worker process, a real
gateway and websocket clients, one of them logged in as a moderator of the site.

Pending post -> ``queue.item`` on ``moderation:demo`` -> approval -> ``queue.removed``, the
comment on ``article:<id>`` and the count one up; the report threshold; a snapshot after a
reconnect equals the live state; ``comment.reported`` and ``user.banned`` reach no DLQ.
"""

from __future__ import annotations

import base64
import itertools
from datetime import timedelta
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from commentfeed.codec import decode_dead_letter, encode
from commentfeed.events import (
    AnyInputEvent,
    Author,
    CommentModerated,
    CommentModeratedData,
    CommentPosted,
    CommentPostedData,
    CommentReported,
    CommentReportedData,
    UserBanned,
    UserBannedData,
    partition_key,
    utc_now,
)
from commentfeed.kafka import make_consumer
from commentfeed.settings import Settings
from commentfeed.tokens import Reader, mint_reader_token
from commentfeed.topics import Topic, topic_name
from tests.integration.gateway_harness import (
    Client,
    View,
    eventually,
    http_get,
    running_gateway,
)
from tests.integration.test_gateway_worker import Site, site, stack, url

pytestmark = pytest.mark.integration
__all__ = ["site", "stack"]  # fixtures shared with test_gateway_worker

SECRET = "streams-moderation-test-secret-0123456789"
QUEUE = "moderation:demo"
_ids = (f"mq-{n}" for n in itertools.count(1))


def queue_of(view: View) -> dict[str, dict[str, Any]]:
    """The queue as a client keeps it: the snapshot, then every update in order."""
    queue = {i["comment_id"]: i for i in view.snapshot["queue"]}
    for u in view.updates:
        if u["type"] == "queue.item":
            queue[u["data"]["comment_id"]] = u["data"]
        else:
            assert u["type"] == "queue.removed"
            queue.pop(u["data"]["comment_id"], None)
    return queue


async def send(site: Site, event: AnyInputEvent) -> None:
    await site.producer.send_and_wait(topic_name(site.settings, Topic.COMMENTS), encode(event),
                                      key=partition_key(event).encode())


def post(article_id: str, status: str = "visible") -> CommentPosted:
    cid = next(_ids)
    return CommentPosted(subject=article_id, data=CommentPostedData(
        comment_id=cid, article_id=article_id, site="demo", author=Author(id="u-ann", name="Ann"),
        body=f"Comment {cid} waiting.", posted_at=utc_now(), status=status))


def moderate(article_id: str, cid: str, status: str) -> CommentModerated:
    return CommentModerated(subject=article_id, data=CommentModeratedData(
        comment_id=cid, article_id=article_id, site="demo", status=status, moderator="m-1"))


def report(article_id: str, cid: str, reporter: str) -> CommentReported:
    return CommentReported(subject=article_id, data=CommentReportedData(
        comment_id=cid, article_id=article_id, site="demo", reporter_id=reporter,
        reason="abuse"))


async def moderator(port: int) -> Client:
    client = await Client(url(port)).connect()
    token = mint_reader_token(Reader("m-1", "Ines", "moderator", "demo"), SECRET,
                              ttl=timedelta(minutes=10))
    assert (await client.request({"op": "auth", "token": token}))["op"] == "authed"
    return client


async def test_the_queue_lives_on_the_moderation_channel(stack: Settings, site: Site) -> None:
    aid = await site.article()
    settings = stack.model_copy(update={"gateway_port": 0, "jwt_secret": SecretStr(SECRET)})
    async with running_gateway(settings) as gw:
        desk = await moderator(gw.port)
        reply = await desk.subscribe(QUEUE)
        assert reply["op"] == "subscribed", reply
        reader = await Client(url(gw.port)).connect()
        article = await reader.subscribe(f"article:{aid}")
        assert article["snapshot"]["count"] == 0

        # A pending post reaches the queue, not the readers.
        pending = post(aid, "pending")
        cid = pending.data.comment_id
        await send(site, pending)
        view = await desk.until_view(QUEUE, lambda v: cid in queue_of(v), within=30)
        item = queue_of(view)[cid]
        assert (item["status"], item["author"], item["report_count"]) == (
            "pending", {"id": "u-ann", "name": "Ann"}, 0)

        # Approved: out of the queue, on the article, counted once.
        await send(site, moderate(aid, cid, "visible"))
        await desk.until_view(QUEUE, lambda v: cid not in queue_of(v), within=30)
        assert desk.views[QUEUE].updates[-1]["data"] == {
            "comment_id": cid, "article_id": aid, "status": "visible"}
        seen = await reader.until_view(f"article:{aid}", lambda v: v.count() == 1, within=30)
        assert seen.comment_ids() == [cid]

        # Reports: the third distinct reader sends a visible comment to the queue; a repeat
        # by the same reader changes nothing.
        [visible] = await site.comments(aid, 1)
        for reporter in ("r1", "r2", "r2"):
            await send(site, report(aid, visible, reporter))
        await send(site, report(aid, visible, "r3"))
        view = await desk.until_view(QUEUE, lambda v: visible in queue_of(v), within=30)
        item = queue_of(view)[visible]
        assert (item["status"], item["report_count"], item["reasons"]) == (
            "reported", 3, ["abuse"])

        # A ban is folded, not dead-lettered.
        await send(site, UserBanned(subject="site:demo", data=UserBannedData(
            user_id="u-bad", site="demo", until=utc_now() + timedelta(days=1),
            moderator="m-1")))

        # A snapshot after a reconnect equals the live state.
        await site.counted(aid, 2)
        again = await moderator(gw.port)
        fresh = await again.subscribe(QUEUE)
        live = desk.views[QUEUE]
        assert (fresh["epoch"], fresh["offset"]) == (live.epoch, live.offset)
        assert {i["comment_id"]: i for i in fresh["snapshot"]["queue"]} == queue_of(live)
        assert fresh["snapshot"]["depth"] == sum(
            1 for i in queue_of(live).values() if i["status"] != "hidden")
        assert fresh["snapshot"]["decisions"] >= 1
        assert desk.gaps == []
        stats = await _http_json(f"{stack.streams_base_url}/v1/sites/demo/moderation/stats")
        assert stats["depth"] == fresh["snapshot"]["depth"]
        # The same figures for Prometheus, from the worker that owns the site.
        answer = await http_get(f"{stack.streams_base_url}/metrics")
        assert answer.status_code == 200, answer.text
        samples = {(m.name, m.labels.get("site")): m.value
                   for family in text_string_to_metric_families(answer.text)
                   for m in family.samples}
        assert samples[("commentfeed_streams_moderation_queue_depth", "demo")] == stats["depth"]
        assert samples[("commentfeed_streams_moderation_decisions_total", "demo")] == (
            stats["decisions"])
        assert samples[("commentfeed_streams_moderation_last_decision_seconds", "demo")] == (
            stats["last_decision_ms"] / 1000)
        assert samples[("commentfeed_streams_processed_total", None)] > 0
        for c in (desk, reader, again):
            await c.close()

    # Neither moderation fact went to the DLQ: a record of an unknown type sent after them
    # is the only one of its kind there.
    sentinel = orjson.dumps({**orjson.loads(encode(post(aid))), "type": "comment.liked"})
    await site.producer.send_and_wait(topic_name(site.settings, Topic.COMMENTS), sentinel,
                                      key=aid.encode())
    letters = await _dead_letters(stack, sentinel)
    assert [d.original_b64 for d in letters if d.reason == "unknown_type"] == [
        base64.b64encode(sentinel).decode()]


async def _http_json(address: str) -> Any:
    answer = await http_get(address)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _dead_letters(settings: Settings, last: bytes) -> list[Any]:
    """The DLQ up to the letter of ``last``."""
    consumer = make_consumer(settings, topic_name(settings, Topic.DLQ), group_id=None)
    await consumer.start()
    out: list[Any] = []
    wanted = base64.b64encode(last).decode()
    try:
        async def drained() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            out.extend(decode_dead_letter(m.value) for ms in batch.values() for m in ms)
            return any(d.original_b64 == wanted for d in out)

        await eventually(drained, within=60)
    finally:
        await consumer.stop()
    return out
