"""Websocket authentication and the private ``moderation:<site>`` channel on a real gateway, the
real broker and real websocket clients: the ingest API's tokens log a connection in, only a
moderator of the site reads its queue, and an anonymous client never gets a byte of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr

from commentfeed.settings import Settings
from commentfeed.tokens import Reader, mint_reader_token
from tests.integration.gateway_harness import (
    Client,
    FeedWriter,
    _ChannelLog,
    gateway_settings,
    running_gateway,
)

pytestmark = pytest.mark.integration

SECRET = "gateway-auth-test-secret-0123456789abcdef"
QUEUE = "moderation:site-a"
ITEM = {"comment_id": "c-1", "article_id": "42", "author": {"id": "u-1", "name": "Ann"},
        "excerpt": "hello", "status": "pending", "reasons": ["premoderated"],
        "report_count": 0, "posted_at": "2026-12-04T06:00:00Z"}


@pytest.fixture
async def writer(kafka_settings: Settings) -> AsyncIterator[FeedWriter]:
    settings = gateway_settings(kafka_settings, jwt_secret=SecretStr(SECRET))
    async with FeedWriter(settings) as feed:
        yield feed


def token(reader: Reader) -> str:
    return mint_reader_token(reader, SECRET, ttl=timedelta(minutes=10))


async def test_only_a_moderator_of_the_site_reads_its_queue_live(writer: FeedWriter) -> None:
    async with running_gateway(writer.settings) as gw:
        url = f"ws://127.0.0.1:{gw.port}/ws"
        anonymous, reader, other_site, moderator = [await Client(url).connect()
                                                    for _ in range(4)]
        assert (await anonymous.subscribe(QUEUE))["code"] == "forbidden"
        for client, who in ((reader, Reader("u-2", "Bea", "reader", "site-a")),
                            (other_site, Reader("m-9", "Max", "moderator", "site-b"))):
            assert (await client.request({"op": "auth", "token": token(who)}))["op"] == "authed"
            assert (await client.subscribe(QUEUE))["code"] == "forbidden"
        authed = await moderator.request(
            {"op": "auth", "token": token(Reader("m-1", "Ines", "moderator", "site-a"))})
        assert authed["user"] == {"id": "m-1", "name": "Ines", "roles": ["moderator"],
                                  "site": "site-a"}
        subscribed = await moderator.subscribe(QUEUE)
        assert (subscribed["op"], subscribed["snapshot"]) == (
            "subscribed", {"site": "site-a", "queue": []})
        await writer.publish(QUEUE, "queue.item", ITEM, state={"site": "site-a", "queue": [ITEM]})
        view = await moderator.until_offset(QUEUE, 1)
        assert [u["data"] for u in view.updates] == [ITEM]
        # The anonymous client, still connected, asks once more; it saw no frame of the queue.
        assert (await anonymous.subscribe(QUEUE))["code"] == "forbidden"
        seen = [f for c in (anonymous, reader, other_site) for f in c.frames]
        assert not any(f.get("channel") == QUEUE and f["op"] != "error" for f in seen)
        for client in (anonymous, reader, other_site, moderator):
            await client.close()


async def test_a_forged_token_is_refused_and_an_answer_without_a_queue_is_unavailable(
        writer: FeedWriter) -> None:
    async with running_gateway(writer.settings) as gw:
        client = await Client(f"ws://127.0.0.1:{gw.port}/ws").connect()
        forged = mint_reader_token(Reader("m-1", "Ines", "moderator", "site-a"),
                                   "not-the-secret-" + "x" * 32, ttl=timedelta(minutes=10))
        refused = await client.request({"op": "auth", "token": forged})
        assert (refused["op"], refused["code"]) == ("error", "bad_token")
        assert (await client.subscribe(QUEUE))["code"] == "forbidden"
        # Today's streams answer a moderation: name with the site's Recent list, not a queue.
        writer.channels[QUEUE] = _ChannelLog("e1", 0, {"site": "site-a", "items": []})
        await client.request({"op": "auth", "token": token(
            Reader("m-1", "Ines", "moderator", "site-a"))})
        assert (await client.subscribe("moderation:site-a"))["code"] == "unavailable"
        await client.close()
