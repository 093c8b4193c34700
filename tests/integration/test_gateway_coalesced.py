"""Coalesced writes on the real broker with real websocket clients: the updates a multi-update
``feed.updates`` record carries reach every connection as separate frames, in order, and the
slow-consumer limit still closes a stalled client with 4000 when one joined write crosses it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from commentfeed.settings import Settings
from tests.integration.gateway_harness import (
    Client,
    FeedWriter,
    gateway_settings,
    metric,
    running_gateway,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def writer(kafka_settings: Settings) -> AsyncIterator[FeedWriter]:
    async with FeedWriter(gateway_settings(kafka_settings)) as feed:
        yield feed


def ws_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/ws"


async def test_every_update_of_a_multi_update_record_is_its_own_frame_in_order(
        writer: FeedWriter) -> None:
    await writer.count("multi", 0)  # offset 1: the snapshot the clients start from
    async with running_gateway(writer.settings) as gw:
        clients = [await Client(ws_url(gw.port)).connect() for _ in range(5)]
        for client in clients:
            assert (await client.subscribe("count:multi"))["offset"] == 1
        sent_before = metric(gw, "commentfeed_gateway_frames_sent_total")
        # 40 updates in 4 records of 10 (offsets 2..41), sent together: one fetched batch or
        # a few, each connection's frames of a batch in one socket write.
        last = await writer.count("multi", *range(1, 41), per_record=10)
        assert last == 41
        for client in clients:
            await client.until_offset("count:multi", last, within=60)
            updates = [f for f in client.frames if f["op"] == "update"]
            assert [u["offset"] for u in updates] == list(range(2, 42))
            assert [u["data"]["count"] for u in updates] == list(range(1, 41))
            assert {(u["channel"], u["epoch"], u["type"]) for u in updates} == {
                ("count:multi", "e1", "count")}
            assert client.gaps == []
        assert metric(gw, "commentfeed_gateway_frames_sent_total") - sent_before == 40 * 5
        for client in clients:
            await client.close()


async def test_a_joined_write_over_the_limit_closes_the_stalled_client_with_4000(
        writer: FeedWriter) -> None:
    limit = 64 * 1024
    async with running_gateway(writer.settings, slow_consumer_bytes=limit,
                               close_timeout_s=30.0) as gw:
        url = ws_url(gw.port)
        readers = [await Client(url).connect() for _ in range(20)]
        for r in readers:
            await r.subscribe("count:jam")
        # The stalled client: a tiny receive buffer and no reading (see test_gateway_server).
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", gw.port))
        stalled = await Client(url).connect(sock=sock, max_queue=1, ping_interval=None)
        await stalled.subscribe("count:jam")

        published = 0
        target: int | None = None

        async def read_all(client: Client) -> None:
            while target is None or client.views["count:jam"].offset < target:
                await client.recv(within=60)

        reading = [asyncio.create_task(read_all(r)) for r in readers]
        async with asyncio.timeout(120):
            while metric(gw, "commentfeed_gateway_slow_consumer_closes_total") < 1:
                # 40 frames of ~2 KiB in two records: each batch is more than the limit.
                published = await writer.count("jam", *range(published + 1, published + 41),
                                                pad=2000, per_record=20)
        target = published + 1
        assert await writer.count("jam", target) == target
        await asyncio.gather(*reading)
        for r in readers:
            view = r.views["count:jam"]
            assert [u["offset"] for u in view.updates] == list(range(1, target + 1))
            assert r.gaps == []
        assert await stalled.closed(within=60) == 4000
        # What the stalled client got before the close frame is a gapless prefix, in order.
        got = [u["offset"] for u in stalled.views["count:jam"].updates]
        assert got == list(range(1, len(got) + 1))
        assert len(got) < target
        assert stalled.gaps == []
        assert metric(gw, "commentfeed_gateway_slow_consumer_closes_total") == 1
        for r in readers:
            await r.close()
