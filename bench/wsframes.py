"""RFC 6455 for a cheap benchmark client: the handshake and frames, as pure functions.

The benchmarks open thousands of viewer connections from one or two processes; a full client
library per connection would make the load generator, not the server, the bottleneck. This
module knows nothing of sockets: the client in :mod:`bench.wsclient` feeds it bytes.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: Refuse frames bigger than this: a benchmark frame is a few hundred bytes.
MAX_FRAME_BYTES = 16 * 1024 * 1024


class WebSocketProtocolError(Exception):
    """The peer broke RFC 6455 (or the handshake failed)."""


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` the server must answer to ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()  # noqa: S324


def handshake_request(host: str, port: int, path: str, key: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    ).encode()


def check_handshake_response(head: bytes, key: str) -> None:
    """Raise :class:`WebSocketProtocolError` unless ``head`` is a valid 101 for ``key``.

    ``head`` is the response up to (not including) the blank line.
    """
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        raise WebSocketProtocolError(f"handshake refused: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if headers.get("sec-websocket-accept") != accept_key(key):
        raise WebSocketProtocolError("handshake answer has a wrong Sec-WebSocket-Accept")


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` repeated (masking is its own inverse)."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, mask_key: bytes | None = None) -> bytes:
    """One final frame; clients must pass a 4-byte ``mask_key``, servers ``None``."""
    n = len(payload)
    head = bytearray([0x80 | opcode])
    mask_bit = 0x80 if mask_key is not None else 0
    if n < 126:
        head.append(mask_bit | n)
    elif n < 1 << 16:
        head.append(mask_bit | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(mask_bit | 127)
        head += n.to_bytes(8, "big")
    if mask_key is None:
        return bytes(head) + payload
    if len(mask_key) != 4:
        raise ValueError("a mask key has 4 bytes")
    return bytes(head) + mask_key + mask(payload, mask_key)


@dataclass
class FrameParser:
    """Bytes in, whole messages out: ``(opcode, payload)`` with fragments joined.

    Control frames (ping, pong, close) come out as they arrive, even between the fragments of
    a data message, as RFC 6455 allows.
    """

    max_frame_bytes: int = MAX_FRAME_BYTES
    _buffer: bytearray = field(default_factory=bytearray)
    _fragments: list[bytes] = field(default_factory=list)
    _fragment_opcode: int | None = None

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buffer
        buf += data
        out: list[tuple[int, bytes]] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            at = pos + 2
            if n == 126:
                if end - at < 2:
                    break
                n = int.from_bytes(buf[at:at + 2], "big")
                at += 2
            elif n == 127:
                if end - at < 8:
                    break
                n = int.from_bytes(buf[at:at + 8], "big")
                at += 8
            if n > self.max_frame_bytes:
                raise WebSocketProtocolError(f"frame of {n} bytes is over the limit")
            key = None
            if b1 & 0x80:
                if end - at < 4:
                    break
                key = bytes(buf[at:at + 4])
                at += 4
            if end - at < n:
                break
            payload = bytes(buf[at:at + n])
            if key is not None:
                payload = mask(payload, key)
            pos = at + n
            self._take(b0, payload, out)
        del buf[:pos]
        return out

    def _take(self, b0: int, payload: bytes, out: list[tuple[int, bytes]]) -> None:
        if b0 & 0x70:
            raise WebSocketProtocolError("reserved bits set (no extension was negotiated)")
        fin, opcode = b0 & 0x80, b0 & 0x0F
        if opcode >= OP_CLOSE:
            if not fin:
                raise WebSocketProtocolError("fragmented control frame")
            out.append((opcode, payload))
            return
        if opcode == OP_CONTINUATION:
            if self._fragment_opcode is None:
                raise WebSocketProtocolError("continuation frame without a message")
            self._fragments.append(payload)
            if fin:
                out.append((self._fragment_opcode, b"".join(self._fragments)))
                self._fragments, self._fragment_opcode = [], None
            return
        if opcode not in (OP_TEXT, OP_BINARY):
            raise WebSocketProtocolError(f"unknown opcode {opcode}")
        if self._fragment_opcode is not None:
            raise WebSocketProtocolError("new message before the last one ended")
        if fin:
            out.append((opcode, payload))
        else:
            self._fragment_opcode, self._fragments = opcode, [payload]


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """The code and reason of a close frame (``None`` when it carries no code)."""
    if len(payload) < 2:
        return None, ""
    return int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8", "replace")
