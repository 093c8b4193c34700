"""A real gateway whose fan-out path a benchmark drives: ``python -m bench.gateway_server``.

Runs :func:`gateway.server.serve` (the same object ``commentfeed gateway`` runs, with its
defaults) in this process, with a stub streams API for the one snapshot fetch
(:mod:`bench.stub_streams`) and a real broker for its ``feed.updates`` consumer. On
``{"cmd": "blast", ...}`` it hands pre-encoded ``feed.updates`` record values to the code its
consumer loop runs for each fetched batch (:meth:`gateway.server.Gateway.deliver`: channel
check, ``parse_updates``, ``Core.receive_update``, one coalesced write per connection), so the
fan-out is measured without Kafka's pacing.
Commands and answers match :mod:`bench.raw_server`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from dataclasses import dataclass

from bench import memtrace
from bench.control import commands, emit
from bench.procinfo import rss_kib
from bench.stub_streams import start_stub
from bench.updates import feed_updates, synthetic_updates
from bench.wsclient import raise_nofile_limit
from commentfeed.settings import Settings
from gateway.server import Gateway, serve

CHANNEL = "article:bench"
EPOCH = "bench"


async def wait_subscribers(gateway: Gateway, n: int, timeout_s: float, *,
                           subscribed: bool = True) -> int:
    """Poll the core until ``n`` connections are subscribed to the bench channel (or open)."""
    def count() -> int:
        if not subscribed:
            return len(gateway.core.connections)
        channel = gateway.core.channels.get(CHANNEL)
        return len(channel.subscribers) if channel is not None else 0

    async with asyncio.timeout(timeout_s):
        while count() < n:  # noqa: ASYNC110 - the core has no event to wait on
            await asyncio.sleep(0.05)
    return count()


@dataclass(frozen=True, slots=True)
class Record:
    """A ``feed.updates`` record as the gateway's consumer reads it."""

    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


async def blast(gateway: Gateway, records: list[tuple[bytes, bytes]], every: int) -> None:
    """What ``Gateway._consume`` does with fetched batches: ``every`` records make a batch
    (:meth:`Gateway.deliver`: channel check, ``parse_updates``, ``Core.receive_update``, then
    one coalesced write per connection), and the loop yields between batches."""
    batch = [Record(key, value, 0, i) for i, (key, value) in enumerate(records)]
    for start in range(0, len(batch), every):
        gateway.deliver(batch[start:start + every], time.monotonic())
        await asyncio.sleep(0)


async def main_async(args: argparse.Namespace) -> None:
    raise_nofile_limit()
    stub, stub_url = await start_stub(args.host, EPOCH)
    settings = Settings.explicit(kafka_bootstrap=args.bootstrap, host=args.host,
                                 gateway_port=args.port, streams_url=stub_url)
    next_offset = 1
    # Thousands of connections per loopback source address: no per-address cap here.
    async with stub, serve(settings, max_connections_per_address=None) as gateway:
        emit({"event": "listening", "port": gateway.port})
        async for command in commands():
            cmd = command.get("cmd")
            if cmd == "wait_clients":
                n = await wait_subscribers(gateway, int(command["n"]),
                                           float(command.get("timeout", 120)),
                                           subscribed=bool(command.get("subscribed", True)))
                emit({"event": "clients", "n": n})
            elif cmd == "blast":
                count = int(command["updates"])
                records = feed_updates(synthetic_updates(
                    "bench", EPOCH, count, first_offset=next_offset))
                next_offset += count
                channel = gateway.core.channels.get(CHANNEL)
                clients = len(channel.subscribers) if channel is not None else 0
                gc.collect()
                cpu0, t0 = time.process_time(), time.time_ns()
                await blast(gateway, records, int(command.get("yield_every", 1)))
                t1, cpu1 = time.time_ns(), time.process_time()
                emit({"event": "blasted", "t0_ns": t0, "t1_ns": t1, "cpu_s": cpu1 - cpu0,
                      "clients": clients, "frames": count,
                      "frames_sent": gateway.metrics.frames_sent})
            elif cmd == "trace_start":
                memtrace.start()
                emit({"event": "traced"})
            elif cmd == "trace_diff":
                gc.collect()
                emit(memtrace.diff(int(command.get("top", 15))))
            elif cmd == "rss":
                gc.collect()
                emit({"event": "rss", "kib": rss_kib(),
                      "clients": len(gateway.core.connections)})


def main() -> None:
    parser = argparse.ArgumentParser(description="gateway with a directly driven fan-out path")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bootstrap", required=True, help="the broker for feed.updates")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
