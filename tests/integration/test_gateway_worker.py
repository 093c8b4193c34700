"""The gateway with a real streams worker on the real broker, and real websocket clients.

Comments are posted as ``comment.posted`` events into ``comments``; the worker (``python -m
commentfeed worker``, its own process) folds them and writes ``feed.updates``; gateways serve
its snapshots and push its updates. Each visible comment makes two ``article:<id>`` updates
(``comment.added``, then ``count``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from commentfeed.broker import EmbeddedBroker, free_port
from commentfeed.channels import ChannelUpdate
from commentfeed.codec import encode
from commentfeed.events import (
    ArticleData,
    ArticlePublished,
    Author,
    CommentDeleted,
    CommentDeletedData,
    CommentPosted,
    CommentPostedData,
    CommentVoted,
    CommentVotedData,
    utc_now,
)
from commentfeed.kafka import ensure_topics, make_producer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from gateway.snapshots import fold as hot_fold
from tests.conftest import make_settings
from tests.integration.gateway_harness import (
    Client,
    View,
    close_code,
    eventually,
    http_get,
    running_gateway,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("streams") is None,
                       reason="the streams worker is not in this tree"),
]

_article_ids = (f"gw{os.getpid()}-{n}" for n in itertools.count(1))


class Site:
    """Publishes input events the way the ingest API does, and reads the streams API."""

    def __init__(self, settings: Settings, producer: AIOKafkaProducer) -> None:
        self.settings, self.producer = settings, producer
        self.posted = itertools.count(1)

    async def article(self) -> str:
        article_id = next(_article_ids)
        event = ArticlePublished(subject=article_id, data=ArticleData(
            article_id=article_id, site="demo", title=f"Article {article_id}",
            url=f"https://news.example/{article_id}", author="Desk", published_at=utc_now()))
        await self.producer.send_and_wait(topic_name(self.settings, Topic.ARTICLES),
                                          encode(event), key=article_id.encode())

        async def known() -> bool:
            answer = await http_get(f"{self.settings.streams_base_url}/v1/articles/{article_id}")
            return answer.status_code == 200 and answer.json()["article"] is not None

        await eventually(known, within=30)
        return article_id

    async def counted(self, article_id: str, count: int) -> None:
        """Wait until the streams count ``count`` comments on the article."""
        async def done() -> bool:
            answer = await http_get(f"{self.settings.streams_base_url}/v1/articles/{article_id}")
            return answer.status_code == 200 and answer.json()["count"] == count

        await eventually(done, within=30)

    async def comments(self, article_id: str, n: int, parent: str | None = None) -> list[str]:
        """Post ``n`` visible comments (replies of ``parent``); their ids."""
        ids = []
        for _ in range(n):
            comment_id = f"{article_id}-c{next(self.posted)}"
            event = CommentPosted(subject=article_id, data=CommentPostedData(
                comment_id=comment_id, article_id=article_id, site="demo", parent_id=parent,
                author=Author(id="u-ada", name="Ada"), body=f"Comment {comment_id}.",
                posted_at=utc_now()))
            await self.producer.send_and_wait(topic_name(self.settings, Topic.COMMENTS),
                                              encode(event), key=article_id.encode())
            ids.append(comment_id)
        return ids


    async def vote(self, article_id: str, comment_id: str, voter: str, value: int) -> None:
        event = CommentVoted(subject=article_id, data=CommentVotedData(
            comment_id=comment_id, article_id=article_id, site="demo", voter_id=voter,
            value=value))
        await self.producer.send_and_wait(topic_name(self.settings, Topic.COMMENTS),
                                          encode(event), key=article_id.encode())

    async def delete(self, article_id: str, comment_id: str) -> None:
        event = CommentDeleted(subject=article_id, data=CommentDeletedData(
            comment_id=comment_id, article_id=article_id, site="demo", deleted_by="u-ada"))
        await self.producer.send_and_wait(topic_name(self.settings, Topic.COMMENTS),
                                          encode(event), key=article_id.encode())


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMENTFEED_")}
    env.update({
        "COMMENTFEED_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "COMMENTFEED_TOPIC_PREFIX": settings.topic_prefix,
        "COMMENTFEED_FETCH_WAIT_MS": str(settings.fetch_wait_ms),
        "COMMENTFEED_REBALANCE_TIMEOUT_MS": str(settings.rebalance_timeout_ms),
        "COMMENTFEED_STREAMS_PORT": str(settings.streams_port),
        "COMMENTFEED_DATA_DIR": settings.data_dir,
        "PYTHONUNBUFFERED": "1",
    })
    return env


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "commentfeed", "worker"],
                                env=worker_env(settings), stdout=out, stderr=subprocess.STDOUT)


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, log: Path) -> AsyncIterator[None]:
    """A streams worker process, ready (``/readyz`` 200) on entry, stopped on exit."""
    worker = start_worker(settings, log)
    try:
        async def ready() -> bool:
            assert worker.poll() is None, _tail(log)
            try:
                answer = await http_get(f"{settings.streams_base_url}/readyz")
            except httpx.HTTPError:
                return False
            return answer.status_code == 200

        await eventually(ready, within=90)
        yield
    finally:
        worker.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(worker.wait), 30)
        except TimeoutError:
            worker.kill()
            worker.wait()


@pytest.fixture(scope="module")
async def stack(broker: EmbeddedBroker,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    """A streams worker process on its own topics; the settings to reach it."""
    workdir = tmp_path_factory.mktemp("gateway-worker")
    settings = make_settings(broker.bootstrap, streams_port=free_port(),
                             gateway_port=free_port(), data_dir=str(workdir / "streams"))
    await ensure_topics(settings)
    async with running_worker(settings, workdir / "worker.log"):
        yield settings


@pytest.fixture
async def site(stack: Settings) -> AsyncIterator[Site]:
    producer = make_producer(stack)
    await producer.start()
    try:
        yield Site(stack, producer)
    finally:
        await producer.stop()


def newest(view: View) -> str | None:
    """The newest comment id on a ``recent`` channel as a client sees it."""
    lists = [u["data"]["items"] for u in view.updates if u["type"] == "recent"]
    items = lists[-1] if lists else view.snapshot["items"]
    return str(items[0]["comment_id"]) if items else None


def url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/ws"


async def test_subscribe_gets_snapshot_and_position_and_a_new_comment_the_next_offset(
        stack: Settings, site: Site) -> None:
    article_id = await site.article()
    channel = f"article:{article_id}"
    async with running_gateway(stack.model_copy(update={"gateway_port": 0})) as gw:
        client = await Client(url(gw.port)).connect()
        reply = await client.subscribe(channel)
        assert reply["op"] == "subscribed"
        assert reply["recovered"] is False
        snapshot, start = reply["snapshot"], reply["offset"]
        assert snapshot["article"]["article_id"] == article_id
        assert (snapshot["count"], snapshot["comments"], snapshot["cursor"]) == (0, [], None)
        assert isinstance(reply["epoch"], str)
        assert start >= 1

        counter = await Client(url(gw.port)).connect()
        count_reply = await counter.subscribe(f"count:{article_id}")
        assert count_reply["snapshot"] == {"article_id": article_id, "count": 0}

        [comment_id] = await site.comments(article_id, 1)
        added = await client.until(lambda f: f["op"] == "update")
        assert (added["offset"], added["type"], added["epoch"]) == (
            start + 1, "comment.added", reply["epoch"])
        assert added["data"]["comment_id"] == comment_id
        assert added["data"]["author"] == {"id": "u-ada", "name": "Ada"}
        count = await client.until(lambda f: f["op"] == "update")
        assert (count["offset"], count["type"], count["data"]["count"]) == (start + 2, "count", 1)
        counted = await counter.until(lambda f: f["op"] == "update")
        assert (counted["offset"], counted["data"]) == (
            count_reply["offset"] + 1, {"article_id": article_id, "count": 1})
        for c in (client, counter):
            await c.close()


async def test_a_client_back_with_since_gets_exactly_the_20_updates_it_missed(
        stack: Settings, site: Site) -> None:
    article_id = await site.article()
    channel = f"article:{article_id}"
    async with running_gateway(stack.model_copy(update={"gateway_port": 0})) as gw:
        steady, roamer = [await Client(url(gw.port)).connect() for _ in range(2)]
        for client in (steady, roamer):
            await client.subscribe(channel)
        await site.comments(article_id, 2)
        seen = (await roamer.until(lambda f: f.get("type") == "count"
                                   and f["data"]["count"] == 2))["offset"]
        await roamer.close()
        await site.comments(article_id, 10)  # 20 updates while away
        await steady.until_offset(channel, seen + 20, within=30)

        await roamer.connect()
        reply = await roamer.subscribe(channel, resume=True)
        assert reply["recovered"] is True
        missed = reply["missed"]
        assert [u["offset"] for u in missed] == list(range(seen + 1, seen + 21))
        assert [u["type"] for u in missed] == ["comment.added", "count"] * 10
        assert roamer.views[channel].comment_ids() == steady.views[channel].comment_ids()
        assert roamer.views[channel].count() == steady.views[channel].count() == 12
        for client in (steady, roamer):
            assert client.gaps == []
            await client.close()


async def test_a_client_that_missed_more_than_the_history_holds_gets_a_fresh_snapshot(
        stack: Settings, site: Site) -> None:
    article_id = await site.article()
    channel = f"article:{article_id}"
    gateway = stack.model_copy(update={"gateway_port": 0})
    async with running_gateway(gateway, history_size=10) as gw:
        steady, roamer = [await Client(url(gw.port)).connect() for _ in range(2)]
        for client in (steady, roamer):
            await client.subscribe(channel)
        await site.comments(article_id, 1)
        seen = (await roamer.until(lambda f: f.get("type") == "count"))["offset"]
        await roamer.close()
        await site.comments(article_id, 10)  # 20 updates: more than the history's 10
        last = (await steady.until_offset(channel, seen + 20, within=30)).offset

        await roamer.connect()
        reply = await roamer.subscribe(channel, resume=True)
        assert reply["recovered"] is False
        assert reply["offset"] == last
        assert [c["comment_id"] for c in reply["snapshot"]["comments"]] == (
            steady.views[channel].comment_ids())
        assert reply["snapshot"]["count"] == steady.views[channel].count() == 11
        for client in (steady, roamer):
            await client.close()


async def test_after_a_gateway_restart_clients_resume_to_the_state_of_one_that_stayed(
        stack: Settings, site: Site) -> None:
    article_id = await site.article()
    channels = (f"article:{article_id}", f"count:{article_id}", "recent")
    async with running_gateway(stack.model_copy(update={"gateway_port": 0})) as stays:
        steady = await Client(url(stays.port)).connect()
        for channel in channels:
            await steady.subscribe(channel)
        port = free_port()
        restarting = stack.model_copy(update={"gateway_port": port})
        async with running_gateway(restarting):
            clients = [await Client(url(port)).connect() for _ in range(3)]
            for client in clients:
                for channel in channels:
                    await client.subscribe(channel)
            await site.comments(article_id, 2)
            for client in (steady, *clients):
                await client.until(lambda f: f.get("type") == "count"
                                   and f["data"]["count"] == 2, within=30)
        for client in clients:  # told to go away, with the code that says "come back"
            assert client.ws is not None
            assert await close_code(client.ws) == 1001

        await site.comments(article_id, 3)  # while the gateway is down
        async with running_gateway(restarting):
            for client in clients:
                await client.connect()
                for channel in channels:
                    assert (await client.subscribe(channel, resume=True))["op"] == "subscribed"
            last_id = (await site.comments(article_id, 2))[-1]  # and live again
            article, count, recent = channels
            for client in (steady, *clients):
                await client.until_view(article, lambda v: v.count() == 7, within=30)
                await client.until_view(count, lambda v: v.count() == 7, within=30)
                await client.until_view(recent, lambda v: newest(v) == last_id, within=30)
            for client in clients:
                view = client.views[article]
                assert view.offset == steady.views[article].offset
                assert view.comment_ids() == steady.views[article].comment_ids()
                assert len(view.comment_ids()) == 7
                assert client.views[count].offset == steady.views[count].offset
                assert client.gaps == []
                await client.close()
        await steady.close()


async def test_history_pages_back_and_an_outgrown_snapshot_is_fetched_again(
        stack: Settings, site: Site) -> None:
    article_id = await site.article()
    channel = f"article:{article_id}"
    ids = await site.comments(article_id, 5)
    await site.counted(article_id, 5)
    gateway = stack.model_copy(update={"gateway_port": 0})
    async with running_gateway(gateway, snapshot_comments=3) as gw:
        reader = await Client(url(gw.port)).connect()
        reply = await reader.subscribe(channel)
        snapshot = reply["snapshot"]
        assert [c["comment_id"] for c in snapshot["comments"]] == ids[2:]
        assert snapshot["cursor"] is not None
        page = await reader.request({"op": "history", "channel": channel,
                                     "before": snapshot["cursor"], "limit": 50})
        assert page["op"] == "history"
        assert [c["comment_id"] for c in page["comments"]] == [ids[1], ids[0]]  # newest first
        assert page["cursor"] is None

        [sixth] = await site.comments(article_id, 1)  # four listed now: over the limit of 3
        await reader.until_view(channel, lambda v: v.count() == 6, within=30)
        late = await Client(url(gw.port)).connect()
        fresh = await late.subscribe(channel)
        assert fresh["offset"] == reader.views[channel].offset
        assert [c["comment_id"] for c in fresh["snapshot"]["comments"]] == [*ids[3:], sixth]

        gone = await reader.request({"op": "unsubscribe", "channel": channel})
        assert gone == {"op": "unsubscribed", "channel": channel, "id": gone["id"]}
        refused = await reader.request({"op": "history", "channel": channel})
        assert refused["code"] == "not_subscribed"
        for client in (reader, late):
            await client.close()


def live_thread(channel: str, view: View) -> list[dict[str, Any]]:
    """The comments a client that saw every update keeps (the widgets' and the hot fold)."""
    state: dict[str, Any] | None = {**view.snapshot,
                                    "comments": list(view.snapshot["comments"])}
    for u in view.updates:
        assert state is not None
        state = hot_fold("article", state, ChannelUpdate(
            channel, u["epoch"], u["offset"], u["type"], u["data"], None), 10_000)
    assert state is not None
    return list(state["comments"])


async def test_a_reloaded_thread_keeps_the_placeholder_the_live_one_kept(
        stack: Settings, site: Site) -> None:
    article_id = await site.article()
    channel = f"article:{article_id}"
    gateway = stack.model_copy(update={"gateway_port": 0})
    async with running_gateway(gateway) as gw:
        live = await Client(url(gw.port)).connect()
        await live.subscribe(channel)
        [parent, lone] = await site.comments(article_id, 2)
        [reply] = await site.comments(article_id, 1, parent=parent)
        await live.until_view(channel, lambda v: v.count() == 3, within=30)
        await site.delete(article_id, parent)
        await site.delete(article_id, lone)
        await live.until_view(channel, lambda v: v.count() == 1, within=30)
        thread = live_thread(channel, live.views[channel])
        await live.close()
    assert [(c["comment_id"], c.get("removed")) for c in thread] == [
        (parent, True), (reply, None)]
    # Reloaded: a new gateway has nothing hot and asks the streams for the snapshot.
    async with running_gateway(gateway) as gw:
        reloaded = await Client(url(gw.port)).connect()
        frame = await reloaded.subscribe(channel)
        assert frame["snapshot"]["comments"] == thread
        page = await reloaded.request({"op": "history", "channel": channel, "limit": 50})
        assert page["comments"] == thread[::-1]
        await reloaded.close()


async def test_best_pages_rank_comments_the_snapshot_never_held(
        stack: Settings, site: Site) -> None:
    article_id = await site.article()
    channel = f"article:{article_id}"
    ids = await site.comments(article_id, 6)
    for voter, comment_id, value in [("u1", ids[0], 1), ("u2", ids[0], 1), ("u1", ids[1], 1),
                                     ("u1", ids[5], -1)]:
        await site.vote(article_id, comment_id, voter, value)
    await site.counted(article_id, 6)
    gateway = stack.model_copy(update={"gateway_port": 0})
    async with running_gateway(gateway, snapshot_comments=2) as gw:
        reader = await Client(url(gw.port)).connect()
        snapshot = (await reader.subscribe(channel))["snapshot"]
        assert [c["comment_id"] for c in snapshot["comments"]] == ids[4:]  # newest only

        async def ranked() -> bool:
            page = await reader.request({"op": "history", "channel": channel,
                                         "sort": "best", "limit": 1})
            return [c["comment_id"] for c in page["comments"]] == [ids[0]]

        await eventually(ranked, within=30)  # the votes are folded
        first = await reader.request({"op": "history", "channel": channel, "sort": "best",
                                      "limit": 1})
        assert (first["sort"], first["floor"], first["cursor"]) == ("best", None, "b1")
        assert first["comments"][0]["score"] == 2
        rest = await reader.request({"op": "history", "channel": channel, "sort": "best",
                                     "before": first["cursor"], "limit": 50})
        assert [c["comment_id"] for c in rest["comments"]] == [
            ids[1], ids[4], ids[3], ids[2], ids[5]]  # by score, then newest
        assert rest["cursor"] is None
        bad = await reader.request({"op": "history", "channel": channel, "sort": "best",
                                    "before": ids[0]})
        assert bad["code"] == "bad_request"
        await reader.close()
