"""The gateway server on the real broker with real websocket clients, ``feed.updates`` written by
the test (see ``gateway_harness.FeedWriter``): positions, resyncs, coalescing, limits, probes,
and the slow consumer that never delays the others.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from commentfeed.settings import Settings
from tests.integration.gateway_harness import (
    Client,
    FeedWriter,
    close_code,
    eventually,
    gateway_settings,
    http_get,
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


async def test_subscribe_gets_snapshot_and_position_then_every_next_offset_on_each_gateway(
        writer: FeedWriter) -> None:
    await writer.count("a1", 5)  # offset 1: before any gateway follows the channel
    second = writer.settings.model_copy(update={"gateway_port": 0})
    async with running_gateway(writer.settings) as gw1, running_gateway(second) as gw2:
        clients = [await Client(ws_url(gw.port)).connect() for gw in (gw1, gw2)]
        for client in clients:
            assert await client.subscribe("count:a1") == {
                "op": "subscribed", "id": 1, "channel": "count:a1", "epoch": "e1", "offset": 1,
                "recovered": False, "snapshot": {"article_id": "a1", "count": 5}}
        for n in range(6, 9):
            await writer.count("a1", n)
        for client in clients:
            frame = await client.until(lambda f: f["op"] == "update")
            assert frame == {"op": "update", "channel": "count:a1", "epoch": "e1", "offset": 2,
                             "type": "count", "data": {"article_id": "a1", "count": 6}}
            view = await client.until_offset("count:a1", 4)
            assert [u["offset"] for u in view.updates] == [2, 3, 4]
            assert view.count() == 8
            assert client.gaps == []
            await client.close()
        assert metric(gw1, "commentfeed_gateway_frames_sent_total") >= 4
        assert metric(gw1, "commentfeed_gateway_publish_to_send_seconds_count") == 3


async def test_a_cold_channel_is_fetched_once_however_many_clients_ask(
        writer: FeedWriter) -> None:
    await writer.count("cold", 3)
    async with running_gateway(writer.settings) as gw:
        clients = [await Client(ws_url(gw.port)).connect() for _ in range(30)]
        replies = await asyncio.gather(*(c.subscribe("count:cold") for c in clients))
        assert {(r["offset"], r["snapshot"]["count"]) for r in replies} == {(1, 3)}
        assert writer.snapshot_requests.count("count:cold") == 1
        late = await Client(ws_url(gw.port)).connect()
        assert (await late.subscribe("count:cold"))["offset"] == 1  # hot now: from the gateway
        assert writer.snapshot_requests.count("count:cold") == 1
        for c in [*clients, late]:
            await c.close()


async def test_a_gap_or_a_new_epoch_resyncs_subscribers_with_an_unsolicited_snapshot(
        writer: FeedWriter) -> None:
    async with running_gateway(writer.settings) as gw:
        client = await Client(ws_url(gw.port)).connect()
        await client.subscribe("count:g")
        await writer.count("g", 1)
        await client.until_offset("count:g", 1)
        await writer.count("g", 4, skip=2)  # offsets 2 and 3 never appear
        resync = await client.until(lambda f: f["op"] == "subscribed")
        assert resync == {"op": "subscribed", "channel": "count:g", "epoch": "e1", "offset": 4,
                          "recovered": False, "snapshot": {"article_id": "g", "count": 4}}
        await writer.count("g", 5)
        assert (await client.until(lambda f: f["op"] == "update"))["offset"] == 5
        await writer.count("g", 0, epoch="e2")  # the streams rebuilt the channel
        resync = await client.until(lambda f: f["op"] == "subscribed")
        assert (resync["epoch"], resync["offset"], "id" in resync) == ("e2", 1, False)
        await writer.count("g", 1)
        frame = await client.until(lambda f: f["op"] == "update")
        assert (frame["epoch"], frame["offset"]) == ("e2", 2)
        assert writer.snapshot_requests.count("count:g") == 3
        await client.close()


async def test_http_probes_and_metrics_share_the_port(writer: FeedWriter) -> None:
    async with running_gateway(writer.settings) as gw:
        base = f"http://127.0.0.1:{gw.port}"
        assert (await http_get(f"{base}/healthz")).text == "ok\n"

        async def ready() -> bool:
            return (await http_get(f"{base}/readyz")).status_code == 200

        await eventually(ready)
        client = await Client(ws_url(gw.port)).connect()
        await client.subscribe("count:m")
        metrics = await http_get(f"{base}/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        for line in ("commentfeed_gateway_connections 1.0",
                     "commentfeed_gateway_subscriptions 1.0",
                     "commentfeed_gateway_consume_lag 0.0",
                     "commentfeed_gateway_slow_consumer_closes_total 0.0"):
            assert line in metrics.text
        assert "commentfeed_gateway_publish_to_send_seconds_bucket" in metrics.text
        assert (await http_get(f"{base}/elsewhere")).status_code == 404
        await client.close()


async def test_without_the_streams_api_hot_channels_are_served_ready_and_metrics_say_degraded(
        writer: FeedWriter) -> None:
    async with running_gateway(writer.settings) as gw:
        base = f"http://127.0.0.1:{gw.port}"
        client = await Client(ws_url(gw.port)).connect()
        await client.subscribe("count:hot")
        writer.stop_http()  # the one streams worker this gateway asks is gone
        cold = await client.subscribe("count:cold")
        assert (cold["op"], cold["code"]) == ("error", "unavailable")
        offset = await writer.count("hot", 5)
        assert (await client.until_offset("count:hot", offset)).count() == 5
        ready = await http_get(f"{base}/readyz")
        assert (ready.status_code, ready.text) == (200, "ready\n")
        assert "commentfeed_gateway_upstream_up 0.0" in (await http_get(f"{base}/metrics")).text
        await client.close()


# -- limits ------------------------------------------------------------------------------------


async def test_origins_outside_the_allowed_list_are_closed_with_4003(
        writer: FeedWriter) -> None:
    site = writer.settings.model_copy(update={"allowed_origins": ("https://news.example",)})
    async with running_gateway(site) as gw:
        url = ws_url(gw.port)
        async with connect(url, origin="https://evil.example") as ws:  # type: ignore[arg-type]
            assert await close_code(ws) == 4003
        for origin in ("https://news.example", None):
            async with connect(url, origin=origin) as ws:  # type: ignore[arg-type]
                await ws.send('{"op":"ping","id":1}')
                assert await ws.recv() == '{"op":"pong","id":1}'
        plain = await http_get(f"http://127.0.0.1:{gw.port}/ws")
        assert plain.status_code == 426  # not a websocket request; any origin may ask
        forbidden = await _get_with_origin(gw.port, "/ws", "https://evil.example")
        assert forbidden.startswith("HTTP/1.1 403")


async def _get_with_origin(port: int, path: str, origin: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\r\n".encode())
    await writer.drain()
    status = (await reader.readline()).decode()
    writer.close()
    await writer.wait_closed()
    return status


async def test_connection_limit_frame_size_rate_and_abuse(writer: FeedWriter) -> None:
    async with running_gateway(writer.settings, max_connections=2, max_errors=5,
                               ops_per_s=1.0, ops_burst=3) as gw:
        url = ws_url(gw.port)
        first, second = await connect(url), await connect(url)
        async with connect(url) as third:
            assert await close_code(third) == 4002
        await first.send("x" * 5000)  # over the 4 KiB frame limit
        assert await close_code(first) == 1009
        codes = []
        for _ in range(4):
            await second.send('{"op":"ping"}')
            codes.append(await second.recv())
        assert codes[:3] == ['{"op":"pong"}'] * 3
        assert '"code":"rate_limited"' in codes[3]
        for _ in range(10):  # errors: the fifth closes the connection
            try:
                await second.send("not json")
            except ConnectionClosed:
                break
        assert await close_code(second) == 4001


# -- coalesced writes: one frame per update, a connection's frames of a batch in one write --


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


# -- the slow consumer -------------------------------------------------------------------------


@pytest.mark.parametrize(("readers", "per_record"), [
    (100, 1),  # one update per record
    (20, 20),  # several per record: a connection's frames of a batch go in one joined write
])
async def test_a_client_that_stops_reading_is_closed_with_4000_and_others_get_every_update(
        writer: FeedWriter, readers: int, per_record: int) -> None:
    limit = 64 * 1024
    async with running_gateway(writer.settings, slow_consumer_bytes=limit,
                               close_timeout_s=30.0) as gw:
        url = ws_url(gw.port)
        clients = [await Client(url).connect() for _ in range(readers)]
        for r in clients:
            await r.subscribe("count:hot")
        # The stalled client: a tiny receive buffer and no reading, so the gateway's unsent
        # bytes for it grow instead of the kernel's buffers swallowing them.
        # (A frozen tab: no keepalive pings from it either.)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", gw.port))
        stalled = await Client(url).connect(sock=sock, max_queue=1, ping_interval=None)
        await stalled.subscribe("count:hot")

        published = 0
        target: int | None = None

        async def read_all(client: Client) -> None:
            while target is None or client.views["count:hot"].offset < target:
                await client.recv(within=60)

        reading = [asyncio.create_task(read_all(r)) for r in clients]
        async with asyncio.timeout(120):
            while metric(gw, "commentfeed_gateway_slow_consumer_closes_total") < 1:
                # 40 frames of ~2 KiB a round: more than the limit.
                published = await writer.count("hot", *range(published + 1, published + 41),
                                                pad=2000, per_record=per_record)
        target = published + 1
        assert await writer.count("hot", target) == target
        await asyncio.gather(*reading)
        for r in clients:
            view = r.views["count:hot"]
            assert [u["offset"] for u in view.updates] == list(range(1, target + 1))
            assert r.gaps == []
        assert published * 2000 > limit
        assert await stalled.closed(within=60) == 4000
        # What the stalled client got before the close frame is a gapless prefix, in order.
        got = [u["offset"] for u in stalled.views["count:hot"].updates]
        assert got == list(range(1, len(got) + 1))
        assert len(got) < target
        assert stalled.gaps == []
        assert metric(gw, "commentfeed_gateway_slow_consumer_closes_total") == 1
        for r in clients:
            await r.close()


async def test_compression_is_off_unless_turned_on(writer: FeedWriter) -> None:
    await writer.count("z", 3)
    for setting, expected in (("none", None), ("deflate", "permessage-deflate")):
        gateway = writer.settings.model_copy(update={"gateway_port": 0})
        async with running_gateway(gateway, compression=setting) as gw, connect(
                ws_url(gw.port), compression="deflate") as ws:
            assert ws.response is not None
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
            assert (extensions.split(";")[0] if extensions else None) == expected
            await ws.send('{"op":"subscribe","channel":"count:z","id":1}')
            assert '"snapshot":{"article_id":"z","count":3}' in await ws.recv()


async def test_connections_per_address_are_capped_with_4004(writer: FeedWriter) -> None:
    async with running_gateway(writer.settings, max_connections_per_address=2) as gw:
        url = ws_url(gw.port)
        held = [await connect(url), await connect(url)]
        async with connect(url) as third:
            assert await close_code(third) == 4004
        # Another address is not affected, and a freed slot is usable again.
        async with connect(url, local_addr=("127.0.0.2", 0)) as other:
            await other.send('{"op":"ping"}')
            assert await other.recv() == '{"op":"pong"}'
        await held.pop().close()

        async def slot_freed() -> bool:
            return metric(gw, "commentfeed_gateway_connections") == 1

        await eventually(slot_freed)
        async with connect(url) as again:
            await again.send('{"op":"ping"}')
            assert await again.recv() == '{"op":"pong"}'
        assert metric(gw, "commentfeed_gateway_address_limit_closes_total") == 1
        await held[0].close()


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_capped(
        writer: FeedWriter) -> None:
    async with running_gateway(writer.settings, max_connections_per_address=1,
                               trusted_proxies=["127.0.0.1"]) as gw:
        url = ws_url(gw.port)

        def via_proxy(client: str) -> dict[str, str]:
            return {"X-Forwarded-For": f"198.51.100.9, {client}"}

        first = await connect(url, additional_headers=via_proxy("203.0.113.1"))
        second = await connect(url, additional_headers=via_proxy("203.0.113.2"))
        for ws in (first, second):  # two clients behind one proxy address: both served
            await ws.send('{"op":"ping"}')
            assert await ws.recv() == '{"op":"pong"}'
        async with connect(url, additional_headers=via_proxy("203.0.113.1")) as again:
            assert await close_code(again) == 4004
        await first.close()
        await second.close()
