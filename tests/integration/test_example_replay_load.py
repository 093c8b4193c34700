"""The example's view agrees with the streams after a demo replay and a load run.

Everything is real: a streams worker process, the producers' `demo` and `load` commands as
processes, the example consuming `comments` and `feed.counts` in its own consumer group, and the
worker's query API (`GET /v1/counts`) as the streams' own word.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from commentfeed.broker import EmbeddedBroker, free_port
from commentfeed.demo_data import demo_events
from commentfeed.events import ArticlePublished, CommentPosted
from commentfeed.kafka import ensure_topics
from commentfeed.settings import Settings
from examples.most_discussed.consumer import Config, MostDiscussed
from examples.most_discussed.view import counts
from streams.process import WorkerProcess, settings_env
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LOAD_EVENTS_PER_S = 250
LOAD_SECONDS = 4


async def _run(settings: Settings, *args: str) -> None:
    """``commentfeed <args>`` as a process with exactly these settings."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "commentfeed", *args, cwd=ROOT, env=settings_env(settings),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        _, err = await process.communicate()
    assert process.returncode == 0, f"commentfeed {' '.join(args)}: {err.decode()[-2000:]}"


@contextlib.asynccontextmanager
async def worker(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    """A streams worker process, as the streams tests run it; yields its query API's URL."""
    process = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        await asyncio.to_thread(process.wait_ready, 90)
        yield process.url
    finally:
        assert process.stop() == 0, (tmp_path / "worker.log").read_text()[-3000:]


async def test_example_counts_match_the_streams_after_demo_and_load(
    broker: EmbeddedBroker, tmp_path: Path,
) -> None:
    settings = make_settings(broker.bootstrap, streams_port=free_port(),
                             data_dir=str(tmp_path / "data"))
    await ensure_topics(settings)
    demo = demo_events()
    demo_articles = [e.data.article_id for e in demo if isinstance(e, ArticlePublished)]
    demo_posts: dict[str, int] = {}
    for event in demo:
        if isinstance(event, CommentPosted):
            demo_posts[event.data.article_id] = demo_posts.get(event.data.article_id, 0) + 1

    service = MostDiscussed(Config(
        bootstrap=settings.kafka_bootstrap, topic_prefix=settings.topic_prefix,
        group_id=f"{settings.topic_prefix}most-discussed",
        fetch_wait_ms=settings.fetch_wait_ms,
        rebalance_timeout_ms=settings.rebalance_timeout_ms,
    ))
    stats_file = tmp_path / "load.json"
    example = asyncio.create_task(service.run())
    try:
        async with worker(settings, tmp_path) as streams_url:
            await _run(settings, "demo")
            await _run(settings, "demo")  # a replay: same event ids, nothing may change
            await _run(settings, "load", "--rate", str(LOAD_EVENTS_PER_S),
                       "--duration", str(LOAD_SECONDS), "--articles", "8", "--seed", "7",
                       "--json-out", str(stats_file))
            stats = json.loads(stats_file.read_text())
            load_articles: list[str] = stats["articles"]
            load_posts = stats["by_type"]["comment.posted"]
            assert stats["failed"] == 0
            ids = demo_articles + load_articles

            async def both_sides(
                client: httpx.AsyncClient,
            ) -> tuple[dict[str, int], dict[str, int]]:
                reply = await client.get("/v1/counts", params={"ids": ",".join(ids)})
                reply.raise_for_status()
                theirs: dict[str, int] = reply.json()["counts"]
                ours = counts(service.view)
                return {a: ours.get(a, 0) for a in ids}, theirs

            async with httpx.AsyncClient(base_url=streams_url, timeout=5) as client:
                ours, theirs = await both_sides(client)
                try:
                    async with asyncio.timeout(120):
                        # Both sides converge once the worker and the example caught up.
                        while ours != theirs or sum(theirs[a] for a in load_articles) < load_posts:
                            assert not example.done(), "the example stopped"
                            await asyncio.sleep(0.2)
                            ours, theirs = await both_sides(client)
                except TimeoutError:
                    raise AssertionError(
                        f"the example's counts {ours} never matched the streams' {theirs}"
                    ) from None

        assert ours == theirs
        assert {a: theirs[a] for a in demo_articles} == {
            a: demo_posts.get(a, 0) for a in demo_articles}
        # Load posts only visible comments and deletes none: every post counts exactly once.
        assert sum(theirs[a] for a in load_articles) == load_posts
        assert {a: len(service.view.posts.get(a, {})) for a in ids} == ours
        assert service.rejected == 0
    finally:
        example.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await example
