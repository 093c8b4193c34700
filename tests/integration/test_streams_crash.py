"""The streams worker under failure and scale-out, on the real broker, as real processes:
``kill -9`` in the middle of a stream, and two workers sharing the partitions."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from commentfeed.broker import EmbeddedBroker, free_port
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from streams.process import WorkerProcess
from tests.conftest import make_settings
from tests.integration.test_streams_support import (
    FeedIndex,
    Tail,
    as_record,
    comment_stream,
    counts_via,
    last_counts,
    publish,
)

pytestmark = pytest.mark.integration


def worker_settings(base: Settings, tmp: Path, name: str) -> Settings:
    return base.model_copy(update={"streams_port": free_port(),
                                   "data_dir": str(tmp / f"data-{name}")})


async def wait_for_counts(base_url: str, truth: dict[str, int], timeout_s: float) -> None:
    ids = sorted(truth)
    seen: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    response = await client.get(f"{base_url}/readyz")
                    if response.status_code == 200:
                        try:
                            seen = await counts_via(client, base_url, ids)
                        except httpx.HTTPStatusError as exc:
                            # A rebalance may start between the two requests, or the worker
                            # owning a key may still be recovering: ask again.
                            if exc.response.status_code != 503:
                                raise
                        else:
                            if seen == truth:
                                return
                    await asyncio.sleep(0.2)
        except TimeoutError:
            wrong = {a: (seen.get(a), c) for a, c in truth.items() if seen.get(a) != c}
            raise AssertionError(f"counts (seen, truth) that differ: {wrong}") from None


# Until streams.faust_compat.FlowControl, about one run in five failed here: the restarted
# worker lost the events its consumer delivered while table recovery sought the inputs (counts
# stayed short, or one low when Faust's commit stepped over a single lost event).
async def test_kill_9_mid_stream_then_restart_keeps_every_count_exact(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    settings = worker_settings(make_settings(broker.bootstrap), tmp_path, "crash")
    stream = comment_stream(site="crash", n_articles=50, n_events=5000, seed=11)
    first = WorkerProcess(settings, tmp_path / "worker-1.log").start()
    second: WorkerProcess | None = None
    counts = feed = None
    try:
        await asyncio.to_thread(first.wait_ready, 60)
        counts = await Tail(settings, topic_name(settings, Topic.FEED_COUNTS)).start()
        feed = await Tail(settings, topic_name(settings, Topic.FEED_UPDATES)).start()
        await publish(settings, [as_record(settings, e) for e in stream.articles])
        started = time.monotonic()
        publishing = asyncio.create_task(publish(
            settings, [as_record(settings, e) for e in stream.comments], per_second=2500))
        # Kill once the worker is visibly in the middle of the stream: a fifth of the visible
        # comments counted (feed.counts has one record per article and batch, so its record
        # count says little about progress).
        truth = sum(stream.counts.values())
        await counts.wait_for(lambda: sum(last_counts(counts).values()) >= truth // 5,
                              timeout_s=60)
        first.kill()
        counted_before_kill = sum(last_counts(counts).values())
        await publishing
        publish_s = time.monotonic() - started

        second = WorkerProcess(settings, tmp_path / "worker-2.log").start()
        # A liveness deadline, not a timing: under load the interpreter's start alone took 8 s
        # (the restart-to-ready figure is printed below).
        ready_s = await asyncio.to_thread(second.wait_ready, 60)
        catch_up = time.monotonic()
        await wait_for_counts(second.url, stream.counts, timeout_s=120)
        catch_up_s = time.monotonic() - catch_up

        # The latest-value topic agrees, and every channel is gapless with no offset re-used
        # for a different update (FeedIndex asserts that as it reads).
        index = FeedIndex(feed)

        def feed_final() -> bool:
            index.refresh()
            return all(index.last_count(a) == c for a, c in stream.counts.items())

        await feed.wait_for(feed_final, timeout_s=60)
        await counts.wait_for(lambda: all(
            last_counts(counts).get(a, 0) == c for a, c in stream.counts.items()), timeout_s=60)
        for aid in stream.counts:
            assert index.gapless(f"article:{aid}"), aid
            assert index.gapless(f"count:{aid}"), aid
        async with httpx.AsyncClient(timeout=10) as client:
            stats = (await client.get(f"{second.url}/readyz")).json()
        with capsys.disabled():
            print(f"\n[streams kill -9] published 5000 comment events in {publish_s:.1f}s; "
                  f"killed with {counted_before_kill} comments counted; restart-to-ready "
                  f"{ready_s:.2f}s; caught up {catch_up_s:.2f}s later; after restart: "
                  f"{stats['processed']} records processed, {stats['replayed']} replayed, "
                  f"{stats['superseded']} skipped as already applied; "
                  f"total visible {sum(stream.counts.values())} = ground truth")
        assert second.stop() == 0
    finally:
        for tail in (counts, feed):
            if tail is not None:
                await tail.stop()
        first.kill()
        if second is not None:
            second.kill()


async def test_two_workers_share_the_partitions_and_totals_stay_exact(
    broker: EmbeddedBroker, tmp_path: Path,
) -> None:
    base = make_settings(broker.bootstrap)
    one = WorkerProcess(worker_settings(base, tmp_path, "one"), tmp_path / "one.log").start()
    two = WorkerProcess(worker_settings(base, tmp_path, "two"), tmp_path / "two.log").start()
    stream = comment_stream(site="pair", n_articles=20, n_events=2000, seed=5)
    counts: Tail | None = None
    try:
        await asyncio.gather(asyncio.to_thread(one.wait_ready, 60),
                             asyncio.to_thread(two.wait_ready, 60))
        owned: list[list[int]] = []
        async with httpx.AsyncClient(timeout=10) as client:
            async with asyncio.timeout(60):
                while True:
                    answers = [await client.get(f"{w.url}/readyz") for w in (one, two)]
                    owned = [a.json()["partitions"] for a in answers]
                    split = (all(a.status_code == 200 for a in answers) and all(owned)
                             and sorted(owned[0] + owned[1]) == list(range(base.partitions)))
                    if split:
                        break
                    await asyncio.sleep(0.2)
        assert not set(owned[0]) & set(owned[1])

        counts = await Tail(base, topic_name(base, Topic.FEED_COUNTS)).start()
        await publish(base, [as_record(base, e) for e in [*stream.articles, *stream.comments]])
        # Either worker answers for every article, whichever owns it.
        await wait_for_counts(one.url, stream.counts, timeout_s=90)
        await wait_for_counts(two.url, stream.counts, timeout_s=30)
        async with httpx.AsyncClient(timeout=10) as client:
            for aid in list(stream.counts)[:5]:
                url = f"/v1/channels/article:{aid}/snapshot"
                a, b = [(await client.get(w.url + url)).json() for w in (one, two)]
                assert a == b
                assert a["snapshot"]["count"] == stream.counts[aid]
        await counts.wait_for(lambda: all(
            last_counts(counts).get(a, 0) == c for a, c in stream.counts.items()), timeout_s=60)
        assert one.stop() == 0
        assert two.stop() == 0
    finally:
        if counts is not None:
            await counts.stop()
        one.kill()
        two.kill()
