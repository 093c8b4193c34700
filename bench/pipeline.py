"""Publish-to-websocket latency of the whole pipeline, against a raw aiokafka hop, over rates.

    .venv/bin/python -m bench.pipeline [--rates 250,500,1000,2500,5000] [--duration 12]
                                       [--articles 20] [--viewers 10] [--profile]

For each rate, on a broker started fresh for that rate (Tansu's memory engine keeps every
record, and fetches slow down as a partition's history grows):

1. the raw baseline: :mod:`bench.rawkafka` produces comment-sized records at the rate from one
   process and a plain aiokafka consumer (fetch wait from settings) reads them in another;
   latency is the record's event time to its arrival;
2. the pipeline: a real streams worker (``commentfeed worker``) and a real gateway
   (``commentfeed gateway``) as their own processes, ``--viewers`` websocket viewers per article
   spread over two client processes (:mod:`bench.viewers`), and the producers' load core
   (:mod:`bench.loadgen`) publishing at the rate over ``--articles`` articles; latency is each
   ``comment.added`` frame's ``posted_at`` (the event's own time) to its arrival at every viewer.

The first ``--warmup`` seconds of each run are left out of the figures. Prints each rate, then
the ratio of the pipeline's latency to the raw hop's at the goal rate, last; rewrites the
pipeline block of docs/benchmarks.md and draws docs/bench-pipeline-latency.png.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.control import Child, python_argv
from bench.harness import (
    fresh_broker,
    load_average,
    run_dir,
    service_env,
    topic_sizes,
    wait_http,
)
from bench.procinfo import cpu_seconds, machine, machine_busy
from bench.profiles import start_profile
from bench.samples import latencies_ms, read_samples
from bench.stats import Backlog, LatencySummary, backlog, ratio, summarize
from commentfeed.broker import free_port, pid_exists
from commentfeed.settings import Settings
from producers.load import LoadPlan

GOAL_RATE = 2500.0
GOAL_P50_MS = 15.0
GOAL_P99_MS = 50.0
SUSTAINED_RATE = 5000.0
PLOT = report.DOC.parent / "bench-pipeline-latency.png"
#: Load mixes: ``mixed`` is the load generator's default (~85% posts, 10% votes, 5% edits);
#: ``posts`` publishes only ``comment.posted`` (30% of them replies).
MIXES: dict[str, list[str]] = {
    "mixed": [],
    "posts": ["--vote-share", "0", "--edit-share", "0"],
}


@dataclass
class Hop:
    """One measured path at one rate."""

    latency: LatencySummary | None
    #: Input events per second the publisher achieved (it paces to the target).
    published_rate: float
    #: Input events per second that reached the far end, over the publishing time.
    delivered_rate: float
    delivered_share: float
    backlog: Backlog | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RateResult:
    rate: float
    raw: Hop
    pipeline: Hop


def _hop(published: list[tuple[float, float]], share: float, elapsed_s: float,
         published_rate: float, delivered_events: float, warmup_s: float,
         extra: dict[str, Any]) -> Hop:
    steady = [(x, y) for x, y in published if x >= warmup_s]
    latency = summarize([y for _, y in steady]) if steady else None
    verdict = backlog(steady, share) if steady else None
    return Hop(latency, published_rate, delivered_events / elapsed_s if elapsed_s else 0.0,
               share, verdict, extra)


async def raw_hop(settings: Settings, rate: float, duration_s: float, articles: int,
                  out: Path, warmup_s: float) -> Hop:
    tag = f"{rate:g}"
    bootstrap = settings.kafka_bootstrap
    consumer = await Child.start(f"raw-consumer-{tag}", python_argv(
        "bench.rawkafka", "consume", "--bootstrap", bootstrap,
        "--fetch-wait-ms", str(settings.fetch_wait_ms)), log_dir=out)
    producer: Child | None = None
    try:
        await consumer.read("ready", 60)
        producer = await Child.start(f"raw-producer-{tag}", python_argv(
            "bench.rawkafka", "produce", "--bootstrap", bootstrap, "--rate", f"{rate:g}",
            "--duration", f"{duration_s:g}", "--articles", str(articles)), log_dir=out)
        done = await producer.read("done", duration_s + 120)
        sent = int(done["sent"]) - int(done["failed"])
        got = await consumer.ask("expect", "done", samples=sent, timeout=30)
        path = out / f"raw-{tag}.bin"
        await consumer.ask("report", "report", samples=str(path))
    finally:
        if producer is not None:
            await producer.stop()
        await consumer.stop()
    published, arrived = read_samples(path)
    start = min(published) if published else 0
    points = latencies_ms(published, arrived, since_ns=start)
    return _hop(points, int(got["samples"]) / max(1, sent), float(done["elapsed_s"]),
                float(done["achieved_rate"]), int(got["samples"]), warmup_s,
                {"sent": sent})


async def pipeline_hop(settings: Settings, rate: float, args: argparse.Namespace,
                       out: Path, profile: bool, broker_pid: int | None = None) -> Hop:
    tag = f"{rate:g}"
    streams_port, gateway_port = free_port(), free_port()
    env = service_env(
        settings, COMMENTFEED_STREAMS_PORT=str(streams_port),
        COMMENTFEED_STREAMS_URL=f"http://127.0.0.1:{streams_port}",
        COMMENTFEED_DATA_DIR=str(out / f"worker-{tag}"), COMMENTFEED_TABLE_STORE="memory://",
        COMMENTFEED_LOG_LEVEL=args.service_log_level)
    children: list[Child] = []
    extra: dict[str, Any] = {}
    try:
        started = time.monotonic()
        worker = await Child.start(f"worker-{tag}", python_argv("commentfeed", "worker"),
                                   log_dir=out, env=env, speaks=False)
        children.append(worker)
        await wait_http(f"http://127.0.0.1:{streams_port}/readyz", 120, what="streams worker")
        extra["worker_ready_s"] = time.monotonic() - started
        gateway = await Child.start(
            f"gateway-{tag}", python_argv("commentfeed", "gateway", "--port", str(gateway_port)),
            log_dir=out, env=env, speaks=False)
        children.append(gateway)
        await wait_http(f"http://127.0.0.1:{gateway_port}/readyz", 60, what="gateway")

        plan = LoadPlan(rate=rate, duration_s=args.duration, articles=args.articles,
                        viewers=args.viewers, run_id=uuid.uuid4().hex[:8])
        channels = ",".join(f"article:{a}" for a in plan.article_ids())
        per_process = args.viewers * args.articles // args.viewer_processes
        viewers = []
        for i in range(args.viewer_processes):
            viewer = await Child.start(f"viewers-{tag}-{i}", python_argv(
                "bench.viewers", "--port", str(gateway_port), "--connections", str(per_process),
                "--channels", channels, "--mode", "latency"), log_dir=out)
            children.append(viewer)
            viewers.append(viewer)
        for viewer in viewers:
            ready = await viewer.read("ready", 120)
            if ready["failed"]:
                raise RuntimeError(f"{ready['failed']} viewers could not subscribe: "
                                   f"see {viewer.log}")
        for viewer in viewers:
            await viewer.ask("reset", "reset")

        # The broker is a child of this process, not a Child: count it by pid.
        pids = {"worker": worker.pid, "gateway": gateway.pid}
        pids.update({f"viewers{i}": v.pid for i, v in enumerate(viewers)})
        if broker_pid is not None:
            pids["broker"] = broker_pid
        if args.idle_s > 0:
            # The standing cost: everything up, viewers subscribed, no load. Tansu holds each
            # Fetch for the full fetch wait, so every consumer polls it 200 times a second.
            idle_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            await asyncio.sleep(args.idle_s)
            extra["idle_cpu_per_s"] = {name: (cpu_seconds(pid) - idle_before[name]) / args.idle_s
                                       for name, pid in pids.items()}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        busy_before = machine_busy()
        load = await Child.start(f"load-{tag}", python_argv(
            "bench.loadgen", "--rate", f"{rate:g}", "--duration", f"{args.duration:g}",
            *MIXES[args.mix],
            "--articles", str(args.articles), "--viewers", str(args.viewers),
            "--run-id", plan.run_id), log_dir=out, env=env)
        children.append(load)
        spies = []
        if profile:
            for child, name in ((worker, "worker"), (gateway, "gateway"),
                                (viewers[0], "viewers"), (load, "load")):
                spy = await start_profile(child.pid, name, out, args.duration)
                if spy is not None:
                    spies.append(spy)
        done = await load.read("done", args.duration + 120)
        load_cpu = cpu_seconds(load.pid) if load.process.returncode is None else math.nan
        finished = time.monotonic()
        posts = int(done["by_type"].get("comment.posted", 0))
        want = posts * args.viewers // args.viewer_processes
        reports = []
        await asyncio.gather(*(viewer.ask("expect", "done", samples=want, timeout=args.drain_s)
                               for viewer in viewers))
        extra["drain_s"] = time.monotonic() - finished
        busy_after = machine_busy()
        cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()
                     if pid_exists(pid)}
        for i, viewer in enumerate(viewers):
            path = out / f"pipeline-{tag}-{i}.bin"
            reports.append((path, await viewer.ask("report", "report", samples=str(path))))
        for spy in spies:
            await spy.process.wait()
        extra["topic_records"] = await topic_sizes(settings)
    finally:
        for child in reversed(children):
            await child.stop()
    published_all: list[tuple[float, float]] = []
    samples = 0
    start_ns = min(min(read_samples(p)[0], default=2**62) for p, _ in reports)
    for path, _ in reports:
        published, arrived = read_samples(path)
        samples += len(published)
        published_all.extend(latencies_ms(published, arrived, since_ns=start_ns))
    by_type: dict[str, int] = {}
    for _, rep in reports:
        for kind, n in rep["by_type"].items():
            by_type[kind] = by_type.get(kind, 0) + n
    elapsed = float(done["elapsed_s"])
    share = samples / max(1, posts * args.viewers)
    # An input event "delivered" = its update reached the viewers; posts stand for all kinds.
    delivered_events = float(done["acked"]) * min(1.0, share)
    extra.update({
        "posts": posts, "acked": done["acked"], "failed": done["failed"],
        "frames": sum(r["frames"] for _, r in reports),
        "frames_per_s": sum(r["frames"] for _, r in reports) / elapsed,
        "gaps": sum(r["gaps"] for _, r in reports), "dups": sum(r["dups"] for _, r in reports),
        "errors": sum(r["errors"] for _, r in reports), "by_type": by_type,
        "closed_codes": sorted({c for _, r in reports for c in r["closed_codes"]}),
        "load_cpu_s": load_cpu,
        "machine_busy": ((busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1])
                         if busy_after[1] > busy_before[1] else math.nan),
        "cpu_s": {name: cpu_after[name] - cpu_before[name] for name in cpu_after},
    })
    return _hop(published_all, share, elapsed, float(done["achieved_rate"]), delivered_events,
                args.warmup, extra)


async def run_rate(rate: float, args: argparse.Namespace, out: Path) -> RateResult:
    async with fresh_broker(out, f"broker-{rate:g}", partitions=args.partitions) as run:
        raw = await raw_hop(run.settings, rate, args.raw_duration, args.articles, out,
                            args.warmup)
        profile = args.profile and rate == args.goal_rate
        pipe = await pipeline_hop(run.settings, rate, args, out, profile, run.broker.pid)
    return RateResult(rate, raw, pipe)


def describe(result: RateResult) -> str:
    def one(name: str, hop: Hop) -> str:
        lat = hop.latency
        figures = (f"p50 {lat.p50:.1f} p90 {lat.p90:.1f} p99 {lat.p99:.1f} max {lat.max:.0f} ms"
                   if lat else "no samples")
        kept = hop.backlog.kept_up() if hop.backlog else False
        return (f"  {name:8} {figures}; published {hop.published_rate:,.0f}/s, delivered "
                f"{hop.delivered_rate:,.0f}/s ({hop.delivered_share:.1%}), "
                f"latency trend {hop.backlog.growth_ms_per_s if hop.backlog else math.nan:+.2f}"
                f" ms/s ({'kept up' if kept else 'fell behind'})")
    extra = result.pipeline.extra
    return "\n".join([
        f"rate {result.rate:,.0f}/s:",
        one("raw", result.raw),
        one("pipeline", result.pipeline),
        f"  pipeline frames to viewers {extra.get('frames_per_s', 0):,.0f}/s, gaps "
        f"{extra.get('gaps')}, dups {extra.get('dups')}, errors {extra.get('errors')}, "
        f"closes {extra.get('closed_codes')}, worker ready in "
        f"{extra.get('worker_ready_s', math.nan):.1f}s, drained in "
        f"{extra.get('drain_s', math.nan):.1f}s",
        "  CPU seconds while loading and draining: " + ", ".join(
            f"{k} {v:.1f}" for k, v in extra.get("cpu_s", {}).items())
        + f", load generator {extra.get('load_cpu_s', math.nan):.1f} in all; machine busy "
          f"{extra.get('machine_busy', math.nan):.0%} of its CPUs",
        f"  broker records: {extra.get('topic_records')}",
        "  idle CPU, share of a core: " + ", ".join(
            f"{k} {v:.0%}" for k, v in extra.get("idle_cpu_per_s", {}).items()),
    ])


def _goal(results: list[RateResult], rate: float) -> RateResult | None:
    return next((r for r in results if r.rate == rate), None)


def render(results: list[RateResult], args: argparse.Namespace, load: tuple[str, str],
           plotted: bool) -> str:
    rows = []
    for r in results:
        for name, hop in (("raw aiokafka hop", r.raw), ("pipeline", r.pipeline)):
            lat = hop.latency
            cells = ([report.ms(lat.p50), report.ms(lat.p90), report.ms(lat.p99),
                      report.ms(lat.max)] if lat else ["n/a"] * 4)
            kept = hop.backlog is not None and hop.backlog.kept_up()
            rows.append([f"{r.rate:,.0f}/s", name, *cells, report.rate(hop.published_rate),
                         report.rate(hop.delivered_rate), f"{hop.delivered_share:.1%}",
                         f"{hop.backlog.growth_ms_per_s:+.2f} ms/s" if hop.backlog else "n/a",
                         "yes" if kept else "**no**"])
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.pipeline "
        f"--rates {','.join(f'{r:g}' for r in args.rates)} --duration {args.duration:g} "
        f"--mix {args.mix} "
        f"--articles {args.articles} --viewers {args.viewers}` (load average {load[0]} at the "
        f"start, {load[1]} at the end; the first {args.warmup:g} s of each run left out).",
        "",
        report.table(["rate", "path", "p50", "p90", "p99", "max", "published", "delivered",
                      "share", "latency trend", "kept up"], rows, "llrrrrrrrrl"),
        "",
    ]
    goal = _goal(results, args.goal_rate)
    if goal and goal.pipeline.latency and goal.raw.latency:
        lat, raw = goal.pipeline.latency, goal.raw.latency
        met = lat.p50 <= GOAL_P50_MS and lat.p99 <= GOAL_P99_MS
        lines.append(
            f"At {goal.rate:,.0f} events/s with {args.viewers} viewers per article the pipeline's "
            f"p50 is {report.ms(lat.p50)} and p99 {report.ms(lat.p99)}: "
            f"**{report.times(ratio(lat.p50, raw.p50))}** and "
            f"**{report.times(ratio(lat.p99, raw.p99))}** the raw hop's "
            f"({report.ms(raw.p50)}, {report.ms(raw.p99)}). Goal (p50 <= {GOAL_P50_MS:g} ms, "
            f"p99 <= {GOAL_P99_MS:g} ms): {report.verdict(met)}.")
    sustained = _goal(results, SUSTAINED_RATE)
    if sustained and sustained.pipeline.backlog:
        hop = sustained.pipeline
        assert hop.backlog is not None
        met = hop.backlog.kept_up() and hop.published_rate >= 0.98 * SUSTAINED_RATE
        lines.append("")
        lines.append(
            f"Sustained {SUSTAINED_RATE:,.0f} events/s without backlog growth: "
            f"{report.verdict(met)} (published {report.rate(hop.published_rate)}, delivered "
            f"{hop.delivered_share:.1%}, median latency {report.ms(hop.backlog.first_p50_ms)} "
            f"in the first second and {report.ms(hop.backlog.last_p50_ms)} in the last, trend "
            f"{hop.backlog.growth_ms_per_s:+.2f} ms/s).")
    costed = cost_run(results, args.goal_rate)
    if costed is not None:
        lines += ["", cpu_table(costed)]
    if plotted:
        lines += ["", f"![latency against rate]({PLOT.name})"]
    if costed is not None and costed.pipeline.extra.get("topic_records"):
        lines += ["", records_line(costed)]
    lines += ["", report.machine_line(machine())]
    return "\n".join(lines)


def records_line(result: RateResult) -> str:
    """How many records the broker stored per input event, by topic."""
    extra = result.pipeline.extra
    sizes: dict[str, int] = dict(extra["topic_records"])
    sizes.pop("bench.raw", None)  # the baseline's topic
    events = max(1, sizes.get("comments", 0) + sizes.get("articles", 0))
    parts = [f"`{topic}` {count / events:.2f}" for topic, count in
             sorted(sizes.items(), key=lambda kv: -kv[1]) if count]
    total = sum(sizes.values()) / events
    return (f"Records the broker stored per input event in the {result.rate:,.0f}/s run: "
            f"{total:.1f} in all ({', '.join(parts)}).")


def cost_run(results: list[RateResult], goal_rate: float) -> RateResult | None:
    """The run to cost per event: the fastest that kept up, else the goal rate's."""
    kept = [r for r in results if r.pipeline.extra.get("cpu_s") and r.pipeline.backlog
            and r.pipeline.backlog.kept_up()]
    if kept:
        return max(kept, key=lambda r: r.rate)
    return next((r for r in results if r.rate == goal_rate and r.pipeline.extra.get("cpu_s")),
                None)


def cpu_table(result: RateResult) -> str:
    """CPU each process spent per delivered input event while the load ran and drained.

    Per delivered event, not per published one: in a run that fell behind, work on the
    events still queued at the end was never done, so it must not be divided by them.
    """
    extra = result.pipeline.extra
    events = max(1, round(int(extra["acked"]) * min(1.0, result.pipeline.delivered_share)))
    cpu = dict(extra["cpu_s"])
    if not math.isnan(extra.get("load_cpu_s", math.nan)):
        cpu["load generator"] = extra["load_cpu_s"]
    total = sum(cpu.values())
    idle: dict[str, float] = extra.get("idle_cpu_per_s", {})
    rows = [[name, f"{seconds:.1f} s", f"{seconds * 1000 / events:.3f} ms",
             f"{idle[name]:.0%}" if name in idle else "n/a"]
            for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])]
    rows.append(["all of them", f"{total:.1f} s", f"{total * 1000 / events:.3f} ms",
                 f"{sum(idle.values()):.0%}" if idle else "n/a"])
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / (total * 1000 / events)
    return "\n".join([
        f"CPU per delivered input event at {result.rate:,.0f}/s ({events:,} events; the "
        f"machine was "
        f"{extra.get('machine_busy', math.nan):.0%} busy meanwhile):",
        "",
        report.table(["process", "CPU", "per event", "idle, share of a core"], rows),
        "",
        f"At that cost {cores} cores can carry at most about {ceiling:,.0f} events/s through "
        f"the whole pipeline, before any latency budget.",
    ])


def plot(results: list[RateResult], path: Path) -> bool:
    """Latency percentiles against rate, pipeline and raw hop; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8.5, 4.2), dpi=110)
    styles = {"p50": "-", "p99": "--"}
    paths: list[tuple[str, str, Callable[[RateResult], Hop]]] = [
        ("pipeline", "tab:blue", lambda r: r.pipeline),
        ("raw aiokafka hop", "tab:gray", lambda r: r.raw)]
    for name, color, pick in paths:
        for pct, style in styles.items():
            xs, ys = [], []
            for r in results:
                lat = pick(r).latency
                if lat is not None:
                    xs.append(r.rate)
                    ys.append(getattr(lat, pct))
            ax.plot(xs, ys, style, marker="o", color=color, label=f"{name} {pct}")
    ax.axhline(GOAL_P50_MS, color="tab:green", linewidth=0.8, linestyle=":",
               label=f"goal p50 {GOAL_P50_MS:g} ms")
    ax.axhline(GOAL_P99_MS, color="tab:red", linewidth=0.8, linestyle=":",
               label=f"goal p99 {GOAL_P99_MS:g} ms")
    ax.set_yscale("log")
    ax.set_xlabel("comment events published per second")
    ax.set_ylabel("publish -> client latency (ms)")
    ax.set_title("commentfeed pipeline latency against rate (2 cores, embedded broker)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


async def main_async(args: argparse.Namespace) -> None:
    out = run_dir("pipeline")
    started = time.monotonic()
    load_start = load_average()
    results = []
    for rate in args.rates:
        result = await run_rate(rate, args, out)
        results.append(result)
        print(describe(result), flush=True)
    load_end = load_average()
    print(f"took {time.monotonic() - started:.0f}s; logs and samples in {out}")
    if not args.no_doc:
        plotted = plot(results, PLOT)
        body = render(results, args, (load_start, load_end), plotted)
        print(f"updated {report.update_doc('pipeline', body)}"
              + (f" and {PLOT}" if plotted else ""))
    goal = _goal(results, args.goal_rate) or results[-1]
    lat, raw = goal.pipeline.latency, goal.raw.latency
    if lat is None or raw is None:
        print(f"ratio pipeline/raw at {goal.rate:,.0f}/s: n/a (no samples)")
        return
    print(f"ratio pipeline/raw at {goal.rate:,.0f}/s: p50 {ratio(lat.p50, raw.p50):.2f}x "
          f"({lat.p50:.1f} vs {raw.p50:.1f} ms), p99 {ratio(lat.p99, raw.p99):.2f}x "
          f"({lat.p99:.1f} vs {raw.p99:.1f} ms), delivered "
          f"{ratio(goal.pipeline.delivered_rate, goal.raw.delivered_rate):.2f}x "
          f"({goal.pipeline.delivered_rate:,.0f} vs {goal.raw.delivered_rate:,.0f} events/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")],
                        default=[250.0, 500.0, 1000.0, GOAL_RATE, SUSTAINED_RATE])
    parser.add_argument("--goal-rate", type=float, default=GOAL_RATE)
    parser.add_argument("--mix", choices=sorted(MIXES), default="mixed",
                        help="mixed: posts, votes and edits; posts: comment.posted only")
    parser.add_argument("--duration", type=float, default=12.0,
                        help="seconds of pipeline load per rate")
    parser.add_argument("--raw-duration", type=float, default=8.0,
                        help="seconds of raw baseline per rate")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds at the start of each run left out of the figures")
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--viewers", type=int, default=10, help="viewers per article")
    parser.add_argument("--viewer-processes", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--drain-s", type=float, default=10.0,
                        help="how long to wait for the last updates after the load ends")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the worker, gateway, viewers and load at the goal rate")
    parser.add_argument("--idle-s", type=float, default=3.0,
                        help="seconds to measure the idle CPU of each process before loading")
    parser.add_argument("--service-log-level", default="INFO",
                        help="COMMENTFEED_LOG_LEVEL of the worker and gateway (see the doc)")
    parser.add_argument("--no-doc", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.viewers % args.viewer_processes:
        parser.error("--viewers must split evenly over --viewer-processes")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
