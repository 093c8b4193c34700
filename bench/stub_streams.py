"""A stand-in for the streams query API, answering only what a gateway asks while subscribing.

The fan-out benchmark feeds a gateway synthetic updates without a streams worker; a gateway
still fetches each channel's snapshot once when the first client subscribes. This answers
``GET /v1/channels/{channel}/snapshot`` with the empty state at offset 0 of a fixed epoch, and
``/healthz`` with 200, over HTTP/1.1 keep-alive. Nothing here is on a measured path.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import unquote, urlsplit

import orjson

EMPTY_ARTICLE: dict[str, object] = {"article": None, "count": 0, "comments": [], "cursor": None}


def snapshot_body(channel: str, epoch: str) -> bytes:
    kind = channel.partition(":")[0]
    if kind == "article":
        state: dict[str, object] = dict(EMPTY_ARTICLE)
    elif kind == "count":
        state = {"article_id": channel.partition(":")[2], "count": 0}
    else:
        state = {"site": channel.partition(":")[2], "items": []}
    return orjson.dumps({"channel": channel, "epoch": epoch, "offset": 0, "snapshot": state})


def answer(target: str, epoch: str) -> tuple[int, bytes]:
    path = unquote(urlsplit(target).path)
    prefix, suffix = "/v1/channels/", "/snapshot"
    if path.startswith(prefix) and path.endswith(suffix):
        return 200, snapshot_body(path[len(prefix):-len(suffix)], epoch)
    if path in ("/healthz", "/readyz"):
        return 200, b"ok"
    return 404, b'{"detail":"not found"}'


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     epoch: str) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while head := await reader.readuntil(b"\r\n\r\n"):
            target = head.split(b" ", 2)[1].decode()
            status, body = answer(target, epoch)
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
    writer.close()


async def start_stub(host: str, epoch: str) -> tuple[asyncio.Server, str]:
    """Start the stub on a free port; returns the server and its base URL."""
    server = await asyncio.start_server(lambda r, w: _serve_one(r, w, epoch), host, 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://{host}:{port}"
