"""Gateway fan-out deliveries per second against raw ``websockets.broadcast``, in one run.

    .venv/bin/python -m bench.fanout [--clients 1000] [--updates 300] [--trials 12] [--profile]

Two server processes run side by side, each with the same number of clients from its own two
client processes (:mod:`bench.viewers`, counting mode):

- the gateway (:mod:`bench.gateway_server`): :func:`gateway.server.serve` with its defaults,
  every client subscribed to one article channel; updates go through the code the gateway's
  ``feed.updates`` loop runs per fetched batch (``Gateway.deliver``: ``parse_updates``,
  ``Core.receive_update``, one coalesced write per connection), ``--yield-every`` records a
  batch, from pre-encoded ``feed.updates`` record values;
- the raw baseline (:mod:`bench.raw_server`): ``websockets.serve`` doing nothing but
  ``websockets.broadcast`` of the same update frames, byte for byte.

Each trial sends ``--updates`` updates to every client of one server, then of the other
(alternating which goes first), and times from the first update handed to the server to the
last frame counted by the last client; every client must receive every frame. The figure is
the median over trials; the ratio is the median of the per-trial ratios (neighbouring runs
share whatever else the machine was doing). Prints the ratio last and rewrites the fan-out
block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import report
from bench.control import Child, python_argv
from bench.harness import fresh_broker, load_average, run_dir
from bench.procinfo import machine
from bench.profiles import start_profile, stop_profile
from bench.stats import median, ratio

GOAL_RATIO = 0.9
SERVERS = ("gateway", "raw")


@dataclass(frozen=True)
class Trial:
    server: str
    deliveries: int
    #: Seconds from the first update handed over to the last frame received.
    seconds: float
    #: Seconds the server spent handing the updates to its sockets, and its CPU time.
    push_seconds: float
    cpu_seconds: float
    complete: bool
    frame_bytes: float

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds

    @property
    def push_rate(self) -> float:
        return self.deliveries / self.push_seconds

    @property
    def cpu_rate(self) -> float:
        return self.deliveries / self.cpu_seconds if self.cpu_seconds else float("nan")


@dataclass
class Side:
    server: Child
    clients: list[Child]


async def start_side(name: str, bootstrap: str, clients: int, processes: int,
                     out: Path) -> Side:
    argv = (python_argv("bench.gateway_server", "--bootstrap", bootstrap) if name == "gateway"
            else python_argv("bench.raw_server"))
    server = await Child.start(name, argv, log_dir=out)
    port = int((await server.read("listening", 60))["port"])
    subscribe = ["--channels", "article:bench"] if name == "gateway" else []
    side = Side(server, [])
    for i in range(processes):
        side.clients.append(await Child.start(f"{name}-clients{i}", python_argv(
            "bench.viewers", "--port", str(port), "--connections", str(clients // processes),
            "--mode", "count", *subscribe), log_dir=out))
    for child in side.clients:
        ready = await child.read("ready", 120)
        if ready["failed"]:
            raise RuntimeError(f"{name}: {ready['failed']} clients failed; see {child.log}")
    got = int((await server.ask("wait_clients", "clients", n=clients, timeout=60))["n"])
    if got != clients:
        raise RuntimeError(f"{name} has {got} clients, not {clients}")
    return side


async def _run(name: str, side: Side, updates: int, yield_every: int) -> Trial:
    counts = []
    for child in side.clients:
        await child.ask("reset", "reset")
        counts.append(int((await child.ask("report", "report"))["open"]))
    for child, open_ in zip(side.clients, counts, strict=True):
        child.send("expect", frames=open_ * updates, timeout=120)
    blasted = await side.server.ask("blast", "blasted", updates=updates,
                                    yield_every=yield_every, timeout=300)
    done = [await child.read("done", 180) for child in side.clients]
    reports = [await child.ask("report", "report") for child in side.clients]
    last = max(int(d["last_ns"]) for d in done)
    frames = sum(int(r["frames"]) for r in reports)
    byte_count = sum(int(r["bytes"]) for r in reports)
    deliveries = int(blasted["clients"]) * updates
    t0 = int(blasted["t0_ns"])
    return Trial(
        server=name, deliveries=deliveries, seconds=(last - t0) / 1e9,
        push_seconds=(int(blasted["t1_ns"]) - t0) / 1e9, cpu_seconds=float(blasted["cpu_s"]),
        complete=all(d["ok"] for d in done) and frames == deliveries,
        frame_bytes=byte_count / frames if frames else 0.0)


def render(trials: list[Trial], args: argparse.Namespace, load: tuple[str, str]) -> str:
    by = {s: [t for t in trials if t.server == s] for s in SERVERS}
    pair_ratios = [ratio(g.rate, r.rate) for g, r in zip(by["gateway"], by["raw"], strict=True)]
    cpu_ratio = ratio(median([t.cpu_rate for t in by["gateway"]]),
                      median([t.cpu_rate for t in by["raw"]]))
    headline = median(pair_ratios)
    rows = []
    for server in SERVERS:
        ts = by[server]
        rows.append([
            "gateway (serve(), fan-out path)" if server == "gateway" else
            "raw websockets.broadcast", f"{args.clients:,}", f"{ts[0].frame_bytes:,.0f} B",
            report.rate(median([t.rate for t in ts])),
            f"{report.rate(min(t.rate for t in ts))} – {report.rate(max(t.rate for t in ts))}",
            report.rate(median([t.cpu_rate for t in ts])),
            f"{sum(t.complete for t in ts)}/{len(ts)}"])
    return "\n".join([
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.fanout --clients "
        f"{args.clients} --updates {args.updates} --trials {args.trials}` (load average "
        f"{load[0]} at the start, {load[1]} at the end).",
        "",
        report.table(["server", "clients", "frame", "deliveries/s (median)", "range",
                      "per server CPU-second", "complete trials"], rows),
        "",
        f"Gateway fan-out is **{report.times(headline)}** raw `websockets.broadcast` "
        f"(median of {len(pair_ratios)} paired trials; per server CPU-second "
        f"{report.times(cpu_ratio)}). Goal (>= {GOAL_RATIO:g}x): "
        f"{report.verdict(headline >= GOAL_RATIO)}.",
        "",
        report.machine_line(machine()),
    ])


async def main_async(args: argparse.Namespace) -> None:
    out = run_dir("fanout")
    load_start = load_average()
    started = time.monotonic()
    trials: list[Trial] = []
    async with fresh_broker(out) as run:
        sides: dict[str, Side] = {}
        spies: list[Child] = []
        try:
            for name in SERVERS:
                sides[name] = await start_side(name, run.settings.kafka_bootstrap,
                                               args.clients, args.client_processes, out)
            for name in SERVERS:  # warm-up, not counted
                await _run(name, sides[name], args.updates, args.yield_every)
            if args.profile:
                spies = [s for s in [await start_profile(side.server.pid, name, out)
                                     for name, side in sides.items()] if s is not None]
            for i in range(args.trials):
                order = SERVERS if i % 2 == 0 else SERVERS[::-1]
                for name in order:
                    t = await _run(name, sides[name], args.updates, args.yield_every)
                    trials.append(t)
                    print(f"trial {i + 1} {name:8} {t.rate:>10,.0f} deliveries/s "
                          f"(push {t.push_rate:,.0f}/s, {t.cpu_rate:,.0f} per CPU-s)"
                          f"{'' if t.complete else '  INCOMPLETE'}", flush=True)
            for spy in spies:
                await stop_profile(spy)
        finally:
            for side in sides.values():
                for child in side.clients:
                    await child.stop()
                await side.server.stop()
    load_end = load_average()
    print(f"took {time.monotonic() - started:.0f}s; logs in {out}")
    if not all(t.complete for t in trials):
        raise SystemExit("some trials lost frames: see the logs")
    if not args.no_doc:
        body = render(trials, args, (load_start, load_end))
        print(f"updated {report.update_doc('fanout', body)}")
    gw = [t for t in trials if t.server == "gateway"]
    raw = [t for t in trials if t.server == "raw"]
    pair = median([ratio(g.rate, r.rate) for g, r in zip(gw, raw, strict=True)])
    print(f"ratio gateway/raw fan-out: {pair:.2f}x ({median([t.rate for t in gw]):,.0f} vs "
          f"{median([t.rate for t in raw]):,.0f} deliveries/s to {args.clients:,} clients)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--updates", type=int, default=300, help="updates per trial")
    parser.add_argument("--trials", type=int, default=12, help="trials per server")
    parser.add_argument("--yield-every", type=int, default=10,
                        help="updates between yields to the event loop (both servers)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy both servers during the trials (var/bench/fanout/)")
    parser.add_argument("--no-doc", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.clients % args.client_processes:
        parser.error("--clients must split evenly over --client-processes")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
