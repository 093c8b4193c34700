"""A cheap websocket client connection on a bare asyncio protocol (see :mod:`bench.wsframes`).

One :class:`WsClient` per connection: it does the opening handshake, answers pings and close
frames, and hands each text or binary message with the time it arrived (``time.time_ns``,
the clock the producers stamp events with) to ``on_message``. No task, no queue and no
parsing beyond the frame headers per connection, so thousands fit in one process and the
server, not the client, is what a benchmark measures.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable

from bench.wsframes import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    WebSocketProtocolError,
    check_handshake_response,
    close_payload,
    encode_frame,
    handshake_request,
    parse_close,
)

MessageHandler = Callable[["WsClient", bytes, int], None]


class WsClient(asyncio.Protocol):
    """One client connection; ``opened`` resolves after the handshake, ``closed`` at the end."""

    __slots__ = ("_head", "_key", "closed", "code", "host", "on_message", "opened", "parser",
                 "path", "port", "tag", "transport")

    def __init__(self, host: str, port: int, path: str, on_message: MessageHandler,
                 tag: object = None) -> None:
        loop = asyncio.get_running_loop()
        self.host, self.port, self.path = host, port, path
        self.on_message = on_message
        #: Whatever the owner wants to find again from a connection.
        self.tag = tag
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int | None] = loop.create_future()
        self.code: int | None = None
        self.transport: asyncio.Transport | None = None
        self.parser: FrameParser | None = None
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._head = bytearray()

    # -- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(handshake_request(self.host, self.port, self.path, self._key))

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        if self.parser is None:
            self._head += data
            head, sep, rest = bytes(self._head).partition(b"\r\n\r\n")
            if not sep:
                return
            self._head = bytearray()
            try:
                check_handshake_response(head, self._key)
            except WebSocketProtocolError as exc:
                self._fail(exc)
                return
            self.parser = FrameParser()
            if not self.opened.done():
                self.opened.set_result(None)
            data = rest
            if not data:
                return
        try:
            messages = self.parser.feed(data)
        except WebSocketProtocolError as exc:
            self._fail(exc)
            return
        for opcode, payload in messages:
            if opcode < OP_CLOSE:
                self.on_message(self, payload, now)
            elif opcode == OP_PING:
                self._write(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                self.code = parse_close(payload)[0]
                self._write(OP_CLOSE, payload[:2])
                if self.transport is not None:
                    self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.code)

    # -- sending -------------------------------------------------------------------------------

    def send_text(self, payload: bytes) -> None:
        self._write(OP_TEXT, payload)

    def close(self, code: int = 1000) -> None:
        """Start the closing handshake; the server's answer closes the transport."""
        self._write(OP_CLOSE, close_payload(code))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _write(self, opcode: int, payload: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(encode_frame(opcode, payload, os.urandom(4)))

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


async def connect(host: str, port: int, path: str, on_message: MessageHandler, *,
                  tag: object = None, local_host: str | None = None,
                  timeout_s: float = 30.0) -> WsClient:
    """Open one connection and wait for its handshake (from ``local_host`` if given)."""
    loop = asyncio.get_running_loop()
    local_addr = (local_host, 0) if local_host is not None else None
    async with asyncio.timeout(timeout_s):
        _, client = await loop.create_connection(
            lambda: WsClient(host, port, path, on_message, tag), host, port,
            local_addr=local_addr)
        await client.opened
    return client


def raise_nofile_limit() -> int:
    """Raise this process's open-file soft limit to the hard limit; return the new limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft
