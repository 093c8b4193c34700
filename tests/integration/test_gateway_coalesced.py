"""Coalesced writes on the real broker with real websocket clients: the updates a multi-update
``feed.updates`` record carries reach every connection as separate frames, in order. (The
slow-consumer limit with joined writes is tested in test_gateway_server.py.)"""

from __future__ import annotations

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
