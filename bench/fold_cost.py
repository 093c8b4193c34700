"""CPU per event of the streams worker's own path, without Kafka or Faust around it.

Runs :class:`streams.agents.Handlers` on the load generator's events (``producers/load.py``:
20 articles of one site, ``--mix posts`` or ``mixed``) the way the worker does, in batches:
decode and validate each record, fold, pack the output records, encode and write the table
records (into an in-memory table whose "changelog" producer only counts). The baseline, timed
in the same run, is the least any consumer of these records does: ``orjson`` decoding each
input record and encoding it again. Prints both, their ratio, and how much of the path was
the cyclic garbage collector (with CPython's default thresholds and with the services' own,
:mod:`commentfeed.gc_tuning`).

    .venv/bin/python -m bench.fold_cost [--events 20000] [--batch 50] [--mix posts]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson

from commentfeed import codec
from commentfeed.gc_tuning import tune_gc
from producers.load import LoadPlan, LoadScript
from streams.agents import Handlers, Outputs
from streams.tables import PartitionCache, RecordTable, partition_for

PARTITIONS = 4
ARTICLES = "articles"
COMMENTS = "comments"


class MemoryStore(dict[bytes, bytes]):
    """What :class:`RecordTable` needs of a Faust table and its store."""

    name = "bench"
    changelog_topic = SimpleNamespace(get_topic_name=lambda: "bench-changelog")

    @property
    def data(self) -> MemoryStore:
        return self

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        pass


class CountingProducer:
    """Takes records as the worker's producer would, and only counts them."""

    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   partition: int | None, timestamp: float | None,
                   headers: Any) -> asyncio.Future[Any]:
        self.records += 1
        self.bytes += len(value or b"")
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        acked.set_result(SimpleNamespace(topic_partition=(topic, partition),
                                         offset=self.records))
        return acked


def input_records(events: int, mix: str, seed: int = 1) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) of the articles and then ``events`` comment events."""
    plan = LoadPlan(rate=1000, duration_s=events / 1000, articles=20, seed=seed,
                    vote_share=0.10 if mix == "mixed" else 0.0,
                    edit_share=0.05 if mix == "mixed" else 0.0)
    script = LoadScript(plan)
    now = datetime.now(UTC)
    out = [(ARTICLES, a.data.article_id.encode(), codec.encode(a)) for a in script.articles(now)]
    for _ in range(events):
        event = script.next_event(now)
        out.append((COMMENTS, event.data.article_id.encode(), codec.encode(event)))
    return out


class FetchedEvent:
    """Stands for a Faust event: its ``message`` (and weak-referenceable, as Faust's are)."""

    def __init__(self, message: SimpleNamespace) -> None:
        self.message = message


def as_events(records: list[tuple[str, bytes, bytes]]) -> list[Any]:
    """Faust-like events (``event.message``) with per-partition offsets."""
    offsets: dict[tuple[str, int], int] = {}
    out: list[Any] = []
    for topic, key, value in records:
        partition = partition_for(key, PARTITIONS)
        offset = offsets[(topic, partition)] = offsets.get((topic, partition), -1) + 1
        out.append(FetchedEvent(SimpleNamespace(
            topic=topic, key=key, value=value, partition=partition, offset=offset,
            timestamp=time.time())))
    return out


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for at in range(0, len(items), size):
        yield items[at:at + size]


@dataclass(frozen=True)
class Run:
    cpu_s: float
    gc_s: float
    events: int
    records: int

    @property
    def us_per_event(self) -> float:
        return self.cpu_s / self.events * 1e6


class GcTimer:
    """Sums the time the cyclic collector runs (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started


def fold_run(records: list[tuple[str, bytes, bytes]], batch: int) -> Run:
    producer = CountingProducer()
    outputs = Outputs(producer=producer, partitions=PartitionCache({}), feed_updates="u",
                      feed_counts="c", facts="f", dlq="d")
    handlers = Handlers(
        state=RecordTable(MemoryStore(), producer, cache=10_000),
        sites=RecordTable(MemoryStore(), producer), outputs=outputs,
        articles_topic=ARTICLES, comments_topic=COMMENTS, namespace="bench")
    events = as_events(records)

    async def fold_all() -> None:
        for chunk in batches(events, batch):
            await handlers.on_inputs(chunk)

    timer = GcTimer()
    gc.collect()
    gc.callbacks.append(timer)
    try:
        started = time.process_time()
        asyncio.run(fold_all())
        cpu = time.process_time() - started
    finally:
        gc.callbacks.remove(timer)
    return Run(cpu, timer.total, len(events), producer.records)


def raw_run(records: list[tuple[str, bytes, bytes]]) -> float:
    started = time.process_time()
    for _, _, value in records:
        orjson.dumps(orjson.loads(value))
    return (time.process_time() - started) / len(records) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=50, help="events per fetched batch")
    parser.add_argument("--mix", choices=("posts", "mixed"), default="posts")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    records = input_records(args.events, args.mix)
    raw = min(raw_run(records) for _ in range(args.rounds))
    default = min((fold_run(records, args.batch) for _ in range(args.rounds)),
                  key=lambda r: r.cpu_s)
    tune_gc()
    tuned = min((fold_run(records, args.batch) for _ in range(args.rounds)),
                key=lambda r: r.cpu_s)
    print(f"{args.events:,} {args.mix} events in batches of {args.batch}, best of "
          f"{args.rounds} (CPU time):")
    print(f"  raw orjson decode + encode      {raw:7.1f} us/event")
    for name, run in (("default GC thresholds", default), ("services' GC settings", tuned)):
        print(f"  worker path, {name}  {run.us_per_event:7.1f} us/event "
              f"({run.us_per_event / raw:.0f}x raw), GC {run.gc_s / run.events * 1e6:.1f} "
              f"us/event, {run.records / run.events:.2f} records written per event")


if __name__ == "__main__":
    main()
