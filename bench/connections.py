"""Idle connections one gateway process holds, and its RSS per connection, against raw websockets.

    .venv/bin/python -m bench.connections [--connections 19000] [--clients 4] [--hold-s 25]

Starts a real broker, then for each server in turn — a real gateway process (``python -m
commentfeed gateway``, default settings) and the raw baseline (:mod:`bench.raw_server`: plain
``websockets.serve``, no compression) — reads its VmRSS with no client, opens the connections
from ``--clients`` separate client processes (:mod:`bench.viewers`, idle mode, each from its own
loopback source address 127.0.0.2, .3, ...), checks the server counts them all, holds them
``--hold-s`` seconds (past a 20 s protocol ping round), and reads VmRSS again. Prints each
server's figures, then the ratio of the gateway's RSS per connection to the raw one, last.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.control import Child, python_argv
from bench.harness import fresh_broker, load_average, run_dir, service_env, wait_http
from bench.procinfo import machine, rss_kib
from bench.stats import ratio
from bench.stub_streams import start_stub
from commentfeed.broker import free_port
from commentfeed.settings import Settings

GOAL_CONNECTIONS = 19_000
GOAL_KIB = 16.0


@dataclass(frozen=True)
class Held:
    server: str
    requested: int
    held: int
    rss_before_kib: int
    rss_after_kib: int
    connect_s: float
    still_open: int

    @property
    def per_connection_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(1, self.held)


async def _gateway_count(port: int) -> int:
    async with httpx.AsyncClient(timeout=5.0) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    match = re.search(r"^commentfeed_gateway_connections\s+([0-9.e+]+)$", text, re.M)
    return int(float(match.group(1))) if match else -1


async def _settled_rss(pid: int) -> int:
    """VmRSS once it stops moving (two readings 0.5 s apart within 64 KiB)."""
    last = rss_kib(pid)
    for _ in range(20):
        await asyncio.sleep(0.5)
        now = rss_kib(pid)
        if abs(now - last) <= 64:
            return now
        last = now
    return last


async def hold(server: str, connections: int, clients: int, hold_s: float, out: Path,
               settings: Settings) -> Held:
    stub, stub_url = await start_stub("127.0.0.1", "bench")
    children: list[Child] = []
    try:
        if server == "gateway":
            port = free_port()
            proc = await Child.start(
                "gateway", python_argv("commentfeed", "gateway", "--port", str(port)),
                log_dir=out, speaks=False,
                # Holders connect from four loopback addresses: the per-address cap (500) is a
                # limit for the internet, not for this measurement.
                env=service_env(settings, COMMENTFEED_STREAMS_URL=stub_url,
                                COMMENTFEED_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS="none"))
            children.append(proc)
            await wait_http(f"http://127.0.0.1:{port}/readyz", 60, what="gateway")
        else:
            proc = await Child.start("raw", python_argv("bench.raw_server"), log_dir=out)
            children.append(proc)
            port = int((await proc.read("listening"))["port"])
        before = await _settled_rss(proc.pid)
        started = time.monotonic()
        share = [connections // clients + (1 if i < connections % clients else 0)
                 for i in range(clients)]
        for i, n in enumerate(share):
            children.append(await Child.start(
                f"{server}-holder{i}",
                python_argv("bench.viewers", "--port", str(port), "--connections", str(n),
                            "--mode", "idle", "--local", f"127.0.0.{2 + i}"),
                log_dir=out))
        opened = 0
        for child in children[1:]:
            opened += int((await child.read("ready", timeout_s=240))["connections"])
        connect_s = time.monotonic() - started
        if server == "gateway":
            held = await _gateway_count(port)
        else:
            held = int((await proc.ask("wait_clients", "clients", n=opened))["n"])
        print(f"{server}: {held:,} connections open after {connect_s:.1f}s; "
              f"holding {hold_s:.0f}s", flush=True)
        await asyncio.sleep(hold_s)
        after = await _settled_rss(proc.pid)
        still = 0
        for child in children[1:]:
            still += int((await child.ask("report", "report"))["open"])
        return Held(server, connections, held, before, after, connect_s, still)
    finally:
        for child in reversed(children):
            await child.stop()
        stub.close()


async def breakdown(server: str, connections: int, out: Path, settings: Settings,
                    top: int) -> dict[str, Any]:
    """Allocation sites that grew while ``connections`` idle clients connected (tracemalloc)."""
    argv = (python_argv("bench.gateway_server", "--bootstrap", settings.kafka_bootstrap)
            if server == "gateway" else python_argv("bench.raw_server"))
    proc = await Child.start(f"{server}-traced", argv, log_dir=out)
    holder: Child | None = None
    try:
        port = int((await proc.read("listening", 60))["port"])
        await proc.ask("trace_start", "traced")
        holder = await Child.start(f"{server}-traced-holder", python_argv(
            "bench.viewers", "--port", str(port), "--connections", str(connections),
            "--mode", "idle"), log_dir=out)
        await holder.read("ready", 120)
        await proc.ask("wait_clients", "clients", n=connections, subscribed=False)
        return await proc.ask("trace_diff", "trace", top=top)
    finally:
        if holder is not None:
            await holder.stop()
        await proc.stop()


def render_breakdown(traces: dict[str, dict[str, Any]], connections: int) -> str:
    parts = [f"Python allocations per idle connection (tracemalloc, {connections:,} "
             f"connections, allocation sites that grew most; tracing is off for the RSS "
             f"figures above):", ""]
    for server, trace in traces.items():
        rows = [[f"`{t['where']}`", f"{t['kib'] * 1024 / connections:,.0f} B",
                 f"{t['count'] / connections:.1f}"] for t in trace["top"]]
        parts += [f"{server}: {trace['total_kib'] * 1024 / connections:,.0f} B of Python "
                  f"objects per connection in all.", "",
                  report.table(["allocated at", "bytes per connection", "blocks per connection"],
                               rows), ""]
    return "\n".join(parts)


def render(results: list[Held], args: argparse.Namespace, load: tuple[str, str]) -> str:
    gw, raw = results
    r = ratio(gw.per_connection_kib, raw.per_connection_kib)
    met = gw.held >= GOAL_CONNECTIONS and gw.per_connection_kib <= GOAL_KIB
    rows = [[h.server, f"{h.held:,} / {h.requested:,}", f"{h.still_open:,}",
             f"{h.connect_s:.1f} s", f"{h.rss_before_kib / 1024:,.1f} MiB",
             f"{h.rss_after_kib / 1024:,.1f} MiB", report.kib(h.per_connection_kib)]
            for h in results]
    return "\n".join([
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.connections "
        f"--connections {args.connections} --clients {args.clients} --hold-s {args.hold_s:g}` "
        f"(load average {load[0]} at the start, {load[1]} at the end).",
        "",
        report.table(["server", "held / asked", "open after hold", "connect time",
                      "RSS idle", "RSS holding", "RSS per connection"], rows),
        "",
        f"Gateway RSS per connection is **{report.times(r)}** the raw websockets server's. "
        f"Goal ({GOAL_CONNECTIONS:,} connections at <= {GOAL_KIB:g} KiB each): "
        f"{report.verdict(met)} ({gw.held:,} held at {report.kib(gw.per_connection_kib)}).",
        "",
        report.machine_line(machine()),
    ])


async def main_async(args: argparse.Namespace) -> None:
    out = run_dir("connections")
    load_start = load_average()
    results = []
    async with fresh_broker(out) as run:
        for server in ("gateway", "raw"):
            results.append(await hold(server, args.connections, args.clients, args.hold_s,
                                      out, run.settings))
        traces = {}
        if args.breakdown:
            for server in ("gateway", "raw"):
                traces[server] = await breakdown(server, args.breakdown, out, run.settings,
                                                 args.top)
    load_end = load_average()
    for server, trace in traces.items():
        print(f"{server}: {trace['total_kib'] * 1024 / args.breakdown:,.0f} B of Python "
              f"objects per connection; largest sites:")
        for t in trace["top"]:
            print(f"  {t['kib'] * 1024 / args.breakdown:8,.0f} B {t['count'] / args.breakdown:5.1f}"
                  f"  {t['where']}")
    for h in results:
        print(f"{h.server:8} held {h.held:,}/{h.requested:,} (open after hold {h.still_open:,})"
              f" RSS {h.rss_before_kib / 1024:.1f} -> {h.rss_after_kib / 1024:.1f} MiB: "
              f"{h.per_connection_kib:.2f} KiB per connection")
    if not args.no_doc:
        body = render(results, args, (load_start, load_end))
        if traces:
            body += "\n\n" + render_breakdown(traces, args.breakdown)
        print(f"updated {report.update_doc('connections', body)}")
    gw, raw = results
    print(f"ratio gateway/raw RSS per connection: "
          f"{ratio(gw.per_connection_kib, raw.per_connection_kib):.2f}x "
          f"({gw.per_connection_kib:.2f} vs {raw.per_connection_kib:.2f} KiB; "
          f"{gw.held:,} connections held)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=GOAL_CONNECTIONS)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--hold-s", type=float, default=25.0)
    parser.add_argument("--breakdown", type=int, default=2000, metavar="N",
                        help="also trace Python allocations of N connections (0: skip)")
    parser.add_argument("--top", type=int, default=10, help="allocation sites to show")
    parser.add_argument("--no-doc", action="store_true", help="leave docs/benchmarks.md alone")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
