"""Helpers for the gateway's integration tests: a running gateway, a client that keeps state the
way a browser client does, and a stand-in for the streams worker where a test must write
``feed.updates`` itself.

``FeedWriter`` publishes real ``FeedUpdate`` records to the real broker and answers the streams
API's snapshot endpoint for the channels it wrote (from a plain HTTP server in a thread, so it
also answers while a synchronous test blocks the event loop). Tests use it for what the real
worker cannot be made to do on demand: a gap, a new epoch, a flood of large updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from commentfeed.broker import free_port
from commentfeed.codec import encode
from commentfeed.events import FeedUpdate, FeedUpdateData, FeedUpdateItem, utc_now
from commentfeed.kafka import make_producer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from gateway.server import Gateway, serve

# -- a stand-in for the streams worker ---------------------------------------------------------


class _SnapshotHandler(http.server.BaseHTTPRequestHandler):
    writer: FeedWriter

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        if path == "/healthz":
            self._answer(200, {"ok": True})
            return
        prefix, suffix = "/v1/channels/", "/snapshot"
        if path.startswith(prefix) and path.endswith(suffix):
            channel = path[len(prefix):-len(suffix)]
            self._answer(200, self.writer.snapshot(channel))
            return
        self._answer(404, {"detail": "not found"})

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class _ChannelLog:
    epoch: str
    offset: int = 0
    state: dict[str, Any] = field(default_factory=dict)


class FeedWriter:
    """Writes channel updates to ``feed.updates`` and serves their snapshots on the streams port.

    ``state_of`` gives a channel's snapshot state at offset 0 (before any update).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = topic_name(settings, Topic.FEED_UPDATES)
        self.channels: dict[str, _ChannelLog] = {}
        self.snapshot_requests: list[str] = []
        self._lock = threading.Lock()
        self._producer: AIOKafkaProducer | None = None
        handler = type("Handler", (_SnapshotHandler,), {"writer": self})
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", settings.streams_port), handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    async def __aenter__(self) -> FeedWriter:
        self._producer = make_producer(self.settings)
        await self._producer.start()
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop_http()
        if self._producer is not None:
            await self._producer.stop()

    def stop_http(self) -> None:
        if self._thread.is_alive():
            self._http.shutdown()
            self._thread.join()
        self._http.server_close()

    def _log(self, channel: str) -> _ChannelLog:
        log = self.channels.get(channel)
        if log is None:
            log = self.channels[channel] = _ChannelLog("e1", 0, initial_state(channel))
        return log

    def snapshot(self, channel: str) -> dict[str, Any]:
        with self._lock:
            self.snapshot_requests.append(channel)
            log = self._log(channel)
            return {"channel": channel, "epoch": log.epoch, "offset": log.offset,
                    "snapshot": log.state}

    async def publish(self, channel: str, kind: str, payload: dict[str, Any], *,
                      state: dict[str, Any] | None = None, epoch: str | None = None,
                      skip: int = 0) -> int:
        """One update of ``channel`` (the next offset, ``skip`` ahead); returns its offset.

        ``state`` is the channel's snapshot after it (default: ``payload``, right for the
        latest-value channels). A new ``epoch`` restarts the offsets at 1.
        """
        return await self.publish_many(channel, kind, [payload], state=state, epoch=epoch,
                                       skip=skip)

    async def publish_many(self, channel: str, kind: str, payloads: list[dict[str, Any]], *,
                           state: dict[str, Any] | None = None, epoch: str | None = None,
                           skip: int = 0, per_record: int = 1) -> int:
        """Several updates in a row, sent in order and awaited together; the last offset.

        ``per_record`` updates share one ``feed.updates`` record (``data.updates``), as the
        worker packs a batch's updates of one channel.
        """
        assert self._producer is not None
        records = []
        with self._lock:
            log = self._log(channel)
            if epoch is not None and epoch != log.epoch:
                log.epoch, log.offset = epoch, 0
            log.offset += skip
            for start in range(0, len(payloads), per_record):
                items = []
                for payload in payloads[start:start + per_record]:
                    log.offset += 1
                    items.append(FeedUpdateItem(offset=log.offset, kind=kind, payload=payload,
                                                source_time=utc_now()))
                data = FeedUpdateData(channel=channel, epoch=log.epoch, updates=items)
                records.append(FeedUpdate(subject=channel, data=data))
            log.state = state if state is not None else payloads[-1]
            last = log.offset
        # send() only enqueues, in call order: the partition keeps this order.
        sent = [await self._producer.send(self.topic, encode(r), key=channel.encode())
                for r in records]
        await asyncio.gather(*sent)
        return last

    async def count(self, article_id: str, *counts: int, pad: int = 0, **options: Any) -> int:
        """``count`` updates on ``count:<article_id>``; ``pad`` makes each frame bigger."""
        payloads: list[dict[str, Any]] = []
        for count in counts:
            payload: dict[str, Any] = {"article_id": article_id, "count": count}
            if pad:
                payload["pad"] = "x" * pad
            payloads.append(payload)
        return await self.publish_many(f"count:{article_id}", "count", payloads, **options)


def initial_state(channel: str) -> dict[str, Any]:
    kind, _, key = channel.partition(":")
    if kind == "count":
        return {"article_id": key, "count": 0}
    if kind == "recent":
        return {"site": key, "items": []}
    if kind == "moderation":
        return {"site": key, "queue": []}
    return {"article": None, "count": 0, "comments": [], "cursor": None}


# -- a gateway in this process -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings, **knobs: Any) -> AsyncIterator[Gateway]:
    """A started gateway on ``settings.gateway_port`` whose consumer is at the topic's end."""
    async with serve(settings, **knobs) as gateway:
        async with asyncio.timeout(30):
            await gateway.consumer_ready.wait()
        yield gateway


def gateway_settings(base: Settings, **overrides: Any) -> Settings:
    """``base`` with fresh gateway and streams ports (a new ``gateway_port`` if not given)."""
    values: dict[str, Any] = {"gateway_port": free_port(), "streams_port": free_port()}
    values.update(overrides)
    return base.model_copy(update=values)


def metric(gateway: Gateway, name: str, **labels: str) -> float:
    value = gateway.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


async def close_code(ws: ClientConnection, within: float = 15.0) -> int | None:
    """Read until the server closes ``ws``; the close code it sent."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    return ws.close_code


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Poll ``check`` until it holds (for state only observable by asking, like HTTP)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - nothing to wait on but the answer
            await asyncio.sleep(0.05)


async def http_get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url)


# -- a client that keeps state like the widgets' client ----------------------------------------


@dataclass
class View:
    """What a client knows of one channel."""

    epoch: str
    offset: int
    snapshot: dict[str, Any]
    updates: list[dict[str, Any]] = field(default_factory=list)
    snapshots: int = 1
    recovered: int = 0

    def comment_ids(self) -> list[str]:
        """An article channel's visible comment ids, oldest first, after every update."""
        ids = [c["comment_id"] for c in self.snapshot.get("comments", [])]
        for update in self.updates:
            cid = update["data"].get("comment_id")
            if update["type"] == "comment.added" and cid not in ids:
                ids.append(cid)
            elif update["type"] == "comment.removed" and cid in ids:
                ids.remove(cid)
        return ids

    def count(self) -> int:
        counts = [u["data"]["count"] for u in self.updates if u["type"] == "count"]
        return int(counts[-1] if counts else self.snapshot["count"])


class Client:
    """A websocket client applying frames as the protocol says a client must."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: ClientConnection | None = None
        self.views: dict[str, View] = {}
        self.frames: list[dict[str, Any]] = []
        self.gaps: list[tuple[str, int, int]] = []
        self._ids = iter(range(1, 1_000_000))

    async def connect(self, **options: Any) -> Client:
        self.ws = await connect(self.url, compression=None, **options)
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def send(self, doc: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(orjson.dumps(doc).decode())

    async def recv(self, within: float = 15.0) -> dict[str, Any]:
        assert self.ws is not None
        async with asyncio.timeout(within):
            frame: dict[str, Any] = orjson.loads(await self.ws.recv())
        self.frames.append(frame)
        self._apply(frame)
        return frame

    def _apply(self, frame: dict[str, Any]) -> None:
        op, channel = frame.get("op"), frame.get("channel")
        if op == "subscribed" and channel is not None:
            if frame["recovered"]:
                view = self.views[channel]
                for update in frame["missed"]:
                    self._apply_update(view, channel, update)
                view.recovered += 1
                assert view.offset == frame["offset"], (view.offset, frame["offset"])
            else:
                old = self.views.get(channel)
                self.views[channel] = View(frame["epoch"], frame["offset"], frame["snapshot"],
                                           snapshots=(old.snapshots + 1) if old else 1)
        elif op == "update" and channel in self.views:
            self._apply_update(self.views[channel], channel, frame)

    def _apply_update(self, view: View, channel: str, update: dict[str, Any]) -> None:
        if update["epoch"] == view.epoch and update["offset"] <= view.offset:
            return  # already have it
        if update["epoch"] != view.epoch or update["offset"] != view.offset + 1:
            self.gaps.append((channel, view.offset, update["offset"]))
        view.epoch, view.offset = update["epoch"], update["offset"]
        view.updates.append(update)

    async def request(self, doc: dict[str, Any], within: float = 15.0) -> dict[str, Any]:
        """Send ``doc`` with a fresh id; the reply with that id (other frames applied meanwhile)."""
        rid = next(self._ids)
        await self.send({**doc, "id": rid})
        return await self.until(lambda f: f.get("id") == rid, within)

    async def subscribe(self, channel: str, *, resume: bool = False,
                        within: float = 15.0) -> dict[str, Any]:
        doc: dict[str, Any] = {"op": "subscribe", "channel": channel}
        view = self.views.get(channel)
        if resume and view is not None:
            doc["since"] = {"epoch": view.epoch, "offset": view.offset}
        return await self.request(doc, within)

    async def until(self, predicate: Callable[[dict[str, Any]], bool],
                    within: float = 15.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                frame = await self.recv(within)
                if predicate(frame):
                    return frame

    async def until_offset(self, channel: str, offset: int, within: float = 15.0) -> View:
        return await self.until_view(channel, lambda view: view.offset >= offset, within)

    async def until_view(self, channel: str, predicate: Callable[[View], bool],
                         within: float = 15.0) -> View:
        """Read until what the client knows of ``channel`` satisfies ``predicate``."""
        async with asyncio.timeout(within):
            while channel not in self.views or not predicate(self.views[channel]):
                await self.recv(within)
        return self.views[channel]

    async def closed(self, within: float = 15.0) -> int | None:
        """Read (and apply) until the server closes; the close code it sent."""
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(within):
                while True:
                    await self.recv(within)
        return self.ws.close_code
