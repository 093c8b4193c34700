"""The worker's limits on a real worker process: parked comments never make a record past the
broker's limit, and they expire by the worker's clock on a partition no record reaches."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from commentfeed import codec
from commentfeed.broker import EmbeddedBroker, free_port
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from streams.process import WorkerProcess
from tests.conftest import make_settings
from tests.integration.test_streams_support import (
    Tail,
    article,
    as_record,
    poll_json,
    post,
    publish,
)

pytestmark = pytest.mark.integration

#: Short, so the test waits seconds for expiry rather than the default minute.
PARK_GRACE_S = 3.0


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("streams-limits")
    settings = make_settings(broker.bootstrap, streams_port=free_port(),
                             data_dir=str(tmp / "data"), park_grace_s=PARK_GRACE_S,
                             park_sweep_s=0.5)
    process = WorkerProcess(settings, tmp / "worker.log").start()
    try:
        process.wait_ready(60)
        yield process
    finally:
        assert process.stop() == 0, Path(process.log_path).read_text()[-3000:]


@pytest.fixture
async def api(worker: WorkerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=worker.url, timeout=10) as client:
        yield client


async def test_large_comments_for_a_never_published_article_expire_to_the_dlq_under_its_key(
    worker: WorkerProcess, api: httpx.AsyncClient,
) -> None:
    settings: Settings = worker.settings
    site, aid = "s-park", "never-published"
    body = "\U0001F600" * 5_000  # the longest body: 20 KB of UTF-8
    # 60 of them are ~1.6 MB of base64 together: one record holding them all cannot be sent.
    ghosts = [as_record(settings, post(aid, f"p{i:02d}", site, minute=i, body=body))
              for i in range(60)]
    dlq = await Tail(settings, topic_name(settings, Topic.DLQ)).start()
    try:
        await publish(settings, ghosts)
        # Nothing else reaches their partition: only the worker's own clock can expire them.
        await dlq.wait_for(lambda: sum(1 for k, _ in dlq.records if k == aid.encode()) >= 60,
                           timeout_s=90)
        letters = [codec.decode_dead_letter(v) for k, v in dlq.records if k == aid.encode()]
    finally:
        await dlq.stop()
    # Each one exactly once, byte for byte.
    assert sorted(d.original_b64 for d in letters) == sorted(
        base64.b64encode(r[2]).decode() for r in ghosts)
    assert {(d.reason, d.key, d.topic, d.truncated) for d in letters} == {
        ("unknown_article", aid, topic_name(settings, Topic.COMMENTS), False)}
    assert worker.process is not None
    assert worker.process.poll() is None
    # Still folding: an article and its comment after all that.
    later = "published-later"
    await publish(settings, [as_record(settings, article(later, site)),
                             as_record(settings, post(later, "ok", site, minute=0))])
    await poll_json(api, f"/v1/articles/{later}", lambda b: b["count"] == 1)
