"""The raw baseline server: plain ``websockets`` doing nothing but hold and broadcast.

``python -m bench.raw_server --port P`` serves ``/ws`` with the gateway's defaults that
matter for the comparison (no compression, 20 s pings) and nothing else: no protocol, no
subscriptions, no limits. Commands (JSON lines, see :mod:`bench.control`):

- ``{"cmd": "wait_clients", "n": C}`` -> ``{"event": "clients", "n": ...}`` once C are open;
- ``{"cmd": "blast", "updates": M, "yield_every": K}`` -> ``{"event": "blasted", ...}``:
  ``websockets.broadcast`` of M synthetic update frames (:mod:`bench.updates`) to every
  connection, yielding to the event loop every K frames, timed with wall and CPU clocks;
- ``{"cmd": "rss"}`` -> ``{"event": "rss", "kib": ...}`` (this process's VmRSS);
- ``trace_start`` / ``trace_diff``: allocation sites that grew (:mod:`bench.memtrace`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench import memtrace
from bench.control import commands, emit
from bench.procinfo import rss_kib
from bench.updates import synthetic_updates, update_frames
from bench.wsclient import raise_nofile_limit


class Clients:
    """The open connections, and a way to wait until there are enough of them."""

    def __init__(self) -> None:
        self.open: set[ServerConnection] = set()
        self._target = 0
        self._enough = asyncio.Event()

    def add(self, ws: ServerConnection) -> None:
        self.open.add(ws)
        if len(self.open) >= self._target:
            self._enough.set()

    async def wait_for(self, n: int, timeout_s: float) -> int:
        self._target = n
        self._enough.clear()
        if len(self.open) >= n:
            return len(self.open)
        async with asyncio.timeout(timeout_s):
            await self._enough.wait()
        return len(self.open)


async def main_async(args: argparse.Namespace) -> None:
    raise_nofile_limit()
    registry = Clients()
    clients = registry.open

    async def handler(ws: ServerConnection) -> None:
        registry.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async with serve(handler, args.host, args.port, compression=None, backlog=1024,
                     max_size=4096) as server:
        port = server.sockets[0].getsockname()[1]
        emit({"event": "listening", "port": port})
        async for command in commands():
            cmd = command.get("cmd")
            if cmd == "wait_clients":
                n = await registry.wait_for(int(command["n"]), float(command.get("timeout", 120)))
                emit({"event": "clients", "n": n})
            elif cmd == "blast":
                frames = update_frames(synthetic_updates(
                    "bench", "raw", int(command["updates"])))
                every = int(command.get("yield_every", 1))
                targets = tuple(clients)
                gc.collect()
                cpu0, t0 = time.process_time(), time.time_ns()
                for i, frame in enumerate(frames, 1):
                    broadcast(targets, frame, text=True)
                    if i % every == 0:
                        await asyncio.sleep(0)
                t1, cpu1 = time.time_ns(), time.process_time()
                emit({"event": "blasted", "t0_ns": t0, "t1_ns": t1, "cpu_s": cpu1 - cpu0,
                      "clients": len(targets), "frames": len(frames),
                      "frame_bytes": sum(len(f) for f in frames)})
            elif cmd == "trace_start":
                memtrace.start()
                emit({"event": "traced"})
            elif cmd == "trace_diff":
                gc.collect()
                emit(memtrace.diff(int(command.get("top", 15))))
            elif cmd == "rss":
                gc.collect()
                emit({"event": "rss", "kib": rss_kib(), "clients": len(clients)})


def main() -> None:
    parser = argparse.ArgumentParser(description="raw websockets baseline server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
