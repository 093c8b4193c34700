"""A client process holding many websocket connections: ``python -m bench.viewers``.

Benchmarks start one or two of these, separate from the server they measure. Each opens
``--connections`` cheap connections (:mod:`bench.wsclient`), optionally subscribes each to a
channel, and then obeys one-line JSON commands on stdin, answering with JSON lines on stdout:

- at start: ``{"event": "ready", "connections": n, "subscribed": n, "failed": k}``
- ``{"cmd": "expect", "frames": N}`` -> ``{"event": "done", ...}`` once N update frames arrived
  (counted over every connection since the last reset); ``"samples": N`` waits for N
  ``comment.added`` latency samples instead
- ``{"cmd": "reset"}`` -> ``{"event": "reset"}``: counters and samples start again
- ``{"cmd": "report", "samples": PATH}`` -> ``{"event": "report", ...}``; with ``--mode latency``
  the (publish, arrival) nanosecond pairs of every ``comment.added`` go to ``PATH`` as two
  int64 arrays back to back (:func:`bench.samples.read_samples`)
- ``{"cmd": "close"}`` -> closes every connection and exits.

Modes: ``count`` counts update frames and bytes (fan-out), ``latency`` also decodes each frame
to check the channel offsets and time every ``comment.added`` from its ``posted_at`` (the
event's own time) to its arrival, ``idle`` only holds connections (connection count).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.control import commands, emit
from bench.samples import iso_to_ns, write_samples
from bench.wsclient import WsClient, connect, raise_nofile_limit

_UPDATE = b'{"op":"update"'
_SUBSCRIBED = b'{"op":"subscribed"'
_ERROR = b'{"op":"error"'


class Conn:
    """What one connection has seen."""

    __slots__ = ("channel", "dups", "frames", "gaps", "last_offset", "subscribed")

    def __init__(self, channel: str | None) -> None:
        self.channel = channel
        self.last_offset: int | None = None
        self.frames = 0
        self.gaps = 0
        self.dups = 0
        self.subscribed: asyncio.Future[None] | None = None


@dataclass
class Tally:
    """Totals of this process since the last reset."""

    frames: int = 0
    bytes: int = 0
    first_ns: int = 0
    last_ns: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    published_ns: array[int] = field(default_factory=lambda: array("q"))
    arrived_ns: array[int] = field(default_factory=lambda: array("q"))
    by_type: dict[str, int] = field(default_factory=dict)


class Viewers:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.tally = Tally()
        self.clients: list[WsClient] = []
        #: (target, future, count samples rather than frames) of a pending ``expect``.
        self._expect: tuple[int, asyncio.Future[None], bool] | None = None
        self._times: dict[str, int] = {}

    def reset(self) -> None:
        self.tally = Tally()
        for client in self.clients:
            conn = client.tag
            assert isinstance(conn, Conn)
            conn.frames = conn.gaps = conn.dups = 0

    # The per-frame path: kept flat, it runs for every frame every viewer receives.
    def on_message(self, client: WsClient, payload: bytes, now: int) -> None:
        conn: Conn = client.tag  # type: ignore[assignment]
        tally = self.tally
        if payload.startswith(_UPDATE):
            conn.frames += 1
            tally.frames += 1
            tally.bytes += len(payload)
            if not tally.first_ns:
                tally.first_ns = now
            tally.last_ns = now
            if self.mode == "latency":
                self._inspect(conn, orjson.loads(payload), now)
            expect = self._expect
            if (expect is not None and self._count(expect[2]) >= expect[0]
                    and not expect[1].done()):
                expect[1].set_result(None)
        elif payload.startswith(_SUBSCRIBED):
            doc = orjson.loads(payload)
            conn.last_offset = doc.get("offset")
            if conn.subscribed is not None and not conn.subscribed.done():
                conn.subscribed.set_result(None)
        elif payload.startswith(_ERROR):
            tally.errors += 1
            if len(tally.error_samples) < 5:
                tally.error_samples.append(payload[:300].decode("utf-8", "replace"))
            if conn.subscribed is not None and not conn.subscribed.done():
                conn.subscribed.set_exception(RuntimeError(payload[:300].decode()))

    def subscribed(self) -> int:
        """Connections whose subscribe was answered with a snapshot."""
        count = 0
        for client in self.clients:
            future = client.tag.subscribed if isinstance(client.tag, Conn) else None
            if future is not None and future.done() and future.exception() is None:
                count += 1
        return count

    def _count(self, samples: bool) -> int:
        return len(self.tally.published_ns) if samples else self.tally.frames

    def _inspect(self, conn: Conn, doc: dict[str, Any], now: int) -> None:
        offset = doc["offset"]
        last = conn.last_offset
        if last is not None:
            if offset <= last:
                conn.dups += 1
                return
            if offset != last + 1:
                conn.gaps += 1
        conn.last_offset = offset
        kind = doc["type"]
        by_type = self.tally.by_type
        by_type[kind] = by_type.get(kind, 0) + 1
        if kind == "comment.added":
            posted = doc["data"]["posted_at"]
            sent = self._times.get(posted)
            if sent is None:
                if len(self._times) > 100_000:
                    self._times.clear()
                sent = self._times[posted] = iso_to_ns(posted)
            self.tally.published_ns.append(sent)
            self.tally.arrived_ns.append(now)

    # -- connections ---------------------------------------------------------------------------

    async def open(self, host: str, port: int, path: str, channels: list[str | None],
                   locals_: list[str], concurrency: int) -> int:
        gate = asyncio.Semaphore(concurrency)
        failed = 0

        async def one(index: int, channel: str | None) -> None:
            nonlocal failed
            local = locals_[index % len(locals_)] if locals_ else None
            conn = Conn(channel)
            async with gate:
                for attempt in range(3):
                    try:
                        client = await connect(host, port, path, self.on_message, tag=conn,
                                               local_host=local)
                        break
                    except (OSError, TimeoutError) as exc:
                        if attempt == 2:
                            failed += 1
                            print(f"connect failed: {exc!r}", file=sys.stderr)
                            return
                self.clients.append(client)
                if channel is not None:
                    conn.subscribed = asyncio.get_running_loop().create_future()
                    client.send_text(orjson.dumps(
                        {"op": "subscribe", "channel": channel, "id": index}))
                    try:
                        async with asyncio.timeout(60):
                            await conn.subscribed
                    except (TimeoutError, RuntimeError) as exc:
                        failed += 1
                        print(f"subscribe {channel} failed: {exc!r}", file=sys.stderr)

        await asyncio.gather(*(one(i, ch) for i, ch in enumerate(channels)))
        return failed

    async def expect(self, frames: int, timeout_s: float, *, samples: bool = False) -> bool:
        """Wait until ``frames`` update frames (or latency samples) arrived since the reset."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._count(samples) >= frames:
            return True
        self._expect = (frames, future, samples)
        try:
            async with asyncio.timeout(timeout_s):
                await future
            return True
        except TimeoutError:
            return False
        finally:
            self._expect = None

    def report(self, samples: str | None) -> dict[str, Any]:
        tally = self.tally
        if samples:
            write_samples(samples, tally.published_ns, tally.arrived_ns)
        conns = [c.tag for c in self.clients if isinstance(c.tag, Conn)]
        open_now = sum(1 for c in self.clients if not c.closed.done())
        return {
            "event": "report", "frames": tally.frames, "bytes": tally.bytes,
            "first_ns": tally.first_ns, "last_ns": tally.last_ns, "errors": tally.errors,
            "error_samples": tally.error_samples, "samples": len(tally.published_ns),
            "by_type": tally.by_type, "gaps": sum(c.gaps for c in conns),
            "dups": sum(c.dups for c in conns), "open": open_now,
            "closed_codes": sorted({c.code for c in self.clients
                                    if c.closed.done() and c.code is not None}),
            "per_channel_frames": _per_channel(conns),
        }

    async def close(self) -> None:
        for client in self.clients:
            client.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.gather(*(c.closed for c in self.clients))
        for client in self.clients:
            client.abort()


def _per_channel(conns: list[Conn]) -> dict[str, int]:
    """Frames of the least-served connection of each channel (every viewer should match)."""
    out: dict[str, int] = {}
    for conn in conns:
        if conn.channel is not None:
            out[conn.channel] = min(out.get(conn.channel, conn.frames), conn.frames)
    return out


async def main_async(args: argparse.Namespace) -> None:
    limit = raise_nofile_limit()
    if args.connections + 64 > limit:
        raise SystemExit(f"open-file limit {limit} is too low for {args.connections} connections")
    channels: list[str | None]
    if args.channels:
        names = args.channels.split(",")
        # Connection i watches channel i % len(names): viewers spread evenly over channels.
        channels = [names[i % len(names)] for i in range(args.connections)]
    else:
        channels = [None] * args.connections
    viewers = Viewers(args.mode)
    started = time.monotonic()
    failed = await viewers.open(args.host, args.port, args.path, channels,
                                [a for a in args.local.split(",") if a], args.concurrency)
    emit({"event": "ready", "connections": len(viewers.clients),
          "subscribed": viewers.subscribed(),
          "failed": failed, "seconds": round(time.monotonic() - started, 3)})
    async for command in commands():
        cmd = command.get("cmd")
        if cmd == "expect":
            samples = "samples" in command
            target = int(command["samples"] if samples else command["frames"])
            ok = await viewers.expect(target, float(command.get("timeout", 120)),
                                      samples=samples)
            emit({"event": "done", "ok": ok, "frames": viewers.tally.frames,
                  "samples": len(viewers.tally.published_ns),
                  "last_ns": viewers.tally.last_ns, "first_ns": viewers.tally.first_ns})
        elif cmd == "reset":
            viewers.reset()
            emit({"event": "reset"})
        elif cmd == "report":
            emit(viewers.report(command.get("samples")))
        elif cmd == "close":
            break
    await viewers.close()
    emit({"event": "closed"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/ws")
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--channels", default="", help="comma-separated; empty: no subscribe")
    parser.add_argument("--mode", choices=("count", "latency", "idle"), default="count")
    parser.add_argument("--local", default="", help="comma-separated source addresses")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="handshakes in flight at once")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
