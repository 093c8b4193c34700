"""Resume across disconnects and gateway restarts, on the real broker with ``feed.updates``
written by the test: exactly the missed updates, or a fresh snapshot; never a partial replay,
and in the end every client has the state of one that never disconnected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from commentfeed.settings import Settings
from tests.integration.gateway_harness import (
    Client,
    FeedWriter,
    close_code,
    gateway_settings,
    running_gateway,
)

pytestmark = pytest.mark.integration


class Article:
    """An article channel written through the stand-in, its snapshot kept alongside."""

    def __init__(self, writer: FeedWriter, article_id: str) -> None:
        self.writer, self.id = writer, article_id
        self.channel = f"article:{article_id}"
        self.comments: list[dict[str, Any]] = []

    async def add(self, n: int) -> int:
        """``n`` new comments, each a ``comment.added`` and a ``count`` update, as the worker
        writes them; the last offset."""
        last = 0
        for _ in range(n):
            k = len(self.comments)
            comment = {"comment_id": f"c{k}", "article_id": self.id, "parent_id": None,
                       "author": {"id": "u1", "name": "Ada"}, "body": f"comment {k}",
                       "posted_at": f"2026-03-14T{9 + k // 60:02d}:{k % 60:02d}:00Z",
                       "edited_at": None, "score": 0, "depth": 0}
            self.comments.append(comment)
            state = {"article": None, "count": len(self.comments),
                     "comments": list(self.comments), "cursor": None}
            await self.writer.publish(self.channel, "comment.added", comment, state=state)
            last = await self.writer.publish(
                self.channel, "count", {"article_id": self.id, "count": len(self.comments)},
                state=state)
        return last

    def ids(self) -> list[str]:
        return [c["comment_id"] for c in self.comments]


@pytest.fixture
async def writer(kafka_settings: Settings) -> AsyncIterator[FeedWriter]:
    async with FeedWriter(gateway_settings(kafka_settings)) as feed:
        yield feed


def url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/ws"


async def test_a_client_back_with_since_gets_exactly_the_20_updates_it_missed(
        writer: FeedWriter) -> None:
    article = Article(writer, "r1")
    async with running_gateway(writer.settings) as gw:
        steady = await Client(url(gw.port)).connect()
        roamer = await Client(url(gw.port)).connect()
        for client in (steady, roamer):
            await client.subscribe(article.channel)
        before = await article.add(5)
        await roamer.until_offset(article.channel, before)
        await roamer.close()
        last = await article.add(10)  # 20 updates
        await steady.until_offset(article.channel, last)

        back = await roamer.connect()  # the same client, back with what it had
        reply = await back.subscribe(article.channel, resume=True)
        assert reply["recovered"] is True
        assert [u["offset"] for u in reply["missed"]] == list(range(before + 1, last + 1))
        assert len(reply["missed"]) == 20
        for client in (back, steady):
            assert client.views[article.channel].comment_ids() == article.ids()
            assert client.views[article.channel].count() == 15
        assert back.gaps == steady.gaps == []
        for client in (steady, back):
            await client.close()


async def test_a_client_that_missed_more_than_the_history_holds_gets_a_fresh_snapshot(
        writer: FeedWriter) -> None:
    article = Article(writer, "r2")
    async with running_gateway(writer.settings, history_size=10) as gw:
        steady = await Client(url(gw.port)).connect()
        roamer = await Client(url(gw.port)).connect()
        for client in (steady, roamer):
            await client.subscribe(article.channel)
        before = await article.add(3)
        await roamer.until_offset(article.channel, before)
        await roamer.close()
        last = await article.add(10)  # 20 updates
        await steady.until_offset(article.channel, last)

        back = await roamer.connect()  # the same client, back with what it had
        reply = await back.subscribe(article.channel, resume=True)
        assert reply["recovered"] is False
        assert "missed" not in reply
        assert reply["offset"] == last
        assert [c["comment_id"] for c in reply["snapshot"]["comments"]] == article.ids()
        assert reply["snapshot"]["count"] == 13
        assert back.views[article.channel].snapshots == 2
        for client in (steady, back):
            await client.close()


async def test_after_a_gateway_restart_clients_resume_to_the_state_of_one_that_stayed(
        writer: FeedWriter) -> None:
    article = Article(writer, "r3")
    count = "count:r3"
    await writer.count("r3", 0)
    other = writer.settings.model_copy(update={"gateway_port": 0})
    async with running_gateway(other) as stays:
        steady = await Client(url(stays.port)).connect()
        await steady.subscribe(article.channel)
        await steady.subscribe(count)
        restarting = running_gateway(writer.settings)
        gw = await restarting.__aenter__()
        try:
            clients = [await Client(url(gw.port)).connect() for _ in range(3)]
            for client in clients:
                await client.subscribe(article.channel)
                await client.subscribe(count)
            last = await article.add(4)
            for client in (steady, *clients):
                await client.until_offset(article.channel, last)
        finally:
            await restarting.__aexit__(None, None, None)
        for client in clients:  # told to go away, with the code that says "come back"
            assert client.ws is not None
            assert await close_code(client.ws) == 1001

        last = await article.add(6)  # while the gateway is down
        counted = await writer.count("r3", 10)

        async with running_gateway(writer.settings) as gw:
            for client in clients:
                await client.connect()
                for channel in (article.channel, count):
                    reply = await client.subscribe(channel, resume=True)
                    assert reply["op"] == "subscribed"
            last = await article.add(3)  # and live again
            for client in (steady, *clients):
                assert (await client.until_offset(article.channel, last)).offset == last
                await client.until_offset(count, counted)
            for client in clients:
                view = client.views[article.channel]
                assert view.comment_ids() == steady.views[article.channel].comment_ids()
                assert view.comment_ids() == article.ids()
                assert client.views[count].count() == steady.views[count].count() == 10
                assert client.gaps == []
                await client.close()
        await steady.close()
