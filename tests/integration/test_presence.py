""""N reading now" across gateways: a real broker, a real streams worker and two real gateway
processes, with real websocket clients.

Readers subscribe ``article:<id>`` on either gateway; a probe subscribed to ``presence:<id>``
sees their total. The gateways run with a 6 s report ttl (heartbeats every 2 s), so a killed
gateway's readers vanish within seconds rather than the default 30.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import itertools
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from commentfeed import codec
from commentfeed.broker import EmbeddedBroker, free_port
from commentfeed.events import GatewayPresence, GatewayPresenceData, utc_now
from commentfeed.kafka import ensure_topics, make_producer
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from tests.conftest import make_settings
from tests.integration.gateway_harness import Client, View, eventually, http_get
from tests.integration.test_gateway_process import start_gateway, stop, wait_ready
from tests.integration.test_gateway_worker import running_worker, start_worker
from tests.integration.test_streams_support import Tail

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("streams") is None,
                       reason="the streams worker is not in this tree"),
]

TTL_S = 6
_article_ids = (f"pr{os.getpid()}-{n}" for n in itertools.count(1))


def reading(view: View) -> int:
    """The reader count a client shows: the latest ``presence`` update, else the snapshot's."""
    values = [u["data"]["reading"] for u in view.updates if u["type"] == "presence"]
    return int(values[-1] if values else view.snapshot["reading"])


async def until_reading(probe: Client, article_id: str, n: int, within: float = 45) -> View:
    return await probe.until_view(f"presence:{article_id}", lambda v: reading(v) == n, within)


class Gateways:
    """Gateway processes on one stack, each on its own port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes: dict[str, tuple[Settings, subprocess.Popen[bytes]]] = {}

    def start(self, name: str, ttl_s: float = TTL_S) -> str:
        s = self.settings.model_copy(update={"gateway_port": free_port()})
        process = start_gateway(s, COMMENTFEED_GATEWAY_PRESENCE_TTL_S=str(ttl_s))
        self.processes[name] = (s, process)
        wait_ready(s, process.poll, within=60)
        return f"ws://127.0.0.1:{s.gateway_port}/ws"

    def kill(self, name: str) -> None:
        stop(self.processes.pop(name)[1])  # SIGKILL: no goodbye report

    def terminate(self, name: str) -> subprocess.Popen[bytes]:
        process = self.processes.pop(name)[1]
        process.send_signal(signal.SIGTERM)
        return process

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.kill(name)


@pytest.fixture(scope="module")
async def stack(broker: EmbeddedBroker,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    workdir = tmp_path_factory.mktemp("presence")
    settings = make_settings(broker.bootstrap, streams_port=free_port(),
                             data_dir=str(workdir / "streams"))
    await ensure_topics(settings)
    async with running_worker(settings, workdir / "worker.log"):
        yield settings


@pytest.fixture
def gateways(stack: Settings) -> Iterator[Gateways]:
    running = Gateways(stack)
    try:
        yield running
    finally:
        running.stop_all()


@contextlib.asynccontextmanager
async def clients(*urls: str) -> AsyncIterator[list[Client]]:
    opened = [await Client(url).connect() for url in urls]
    try:
        yield opened
    finally:
        for client in opened:
            await client.close()


async def test_readers_on_two_gateways_add_up_and_leave_and_a_killed_gateway_expires(
        gateways: Gateways) -> None:
    a, b = gateways.start("a"), gateways.start("b")
    article_id = next(_article_ids)
    channel = f"article:{article_id}"
    async with clients(a, b) as (probe, other_probe):
        subscribed = await probe.subscribe(f"presence:{article_id}")
        assert subscribed["snapshot"] == {"article_id": article_id, "reading": 0}
        await other_probe.subscribe(f"presence:{article_id}")
        # Probes count for nothing: only article readers do.
        async with clients(a, a, b) as readers:
            for reader in readers:
                assert (await reader.subscribe(channel))["op"] == "subscribed"
            await until_reading(probe, article_id, 3)
            await until_reading(other_probe, article_id, 3)
            # A second subscribe of the same connection is still one reader.
            await readers[0].subscribe(channel)
            async with clients(b) as (late,):
                await late.subscribe(channel)
                await until_reading(probe, article_id, 4)
            await until_reading(probe, article_id, 3)  # the late reader closed its socket
            await readers[1].request({"op": "unsubscribe", "channel": channel})
            await until_reading(probe, article_id, 2)
            # Gateway b dies without a word: its reader counts until its ttl ran out.
            gateways.kill("b")
            view = await until_reading(probe, article_id, 1, within=TTL_S + 30)
            assert [reading(view)] == [1]
            assert probe.gaps == []
            # The hot snapshot a new subscriber of gateway a gets is current.
            async with clients(a) as (fresh,):
                answer = await fresh.subscribe(f"presence:{article_id}")
                assert answer["snapshot"] == {"article_id": article_id, "reading": 1}


async def test_a_gateway_stopped_gracefully_takes_its_readers_away_at_once(
        gateways: Gateways) -> None:
    a = gateways.start("a")
    b = gateways.start("b", ttl_s=300)  # were its readers left to expire, it would take 5 min
    article_id = next(_article_ids)
    async with clients(a, b, b) as (probe, r1, r2):
        await probe.subscribe(f"presence:{article_id}")
        await r1.subscribe(f"article:{article_id}")
        await r2.subscribe(f"article:{article_id}")
        await until_reading(probe, article_id, 2)
        process = gateways.terminate("b")
        await until_reading(probe, article_id, 0, within=30)
        assert await asyncio.wait_for(asyncio.to_thread(process.wait), 30) == 0


async def test_the_streams_snapshot_answers_presence_and_zero_for_an_unknown_article(
        stack: Settings) -> None:
    answer = await http_get(f"{stack.streams_base_url}/v1/channels/presence:nobody-here/snapshot")
    assert answer.status_code == 200
    body = answer.json()
    assert body["snapshot"] == {"article_id": "nobody-here", "reading": 0}
    assert body["offset"] == 0
    assert body["channel"] == "presence:nobody-here"


async def test_bad_reports_go_to_the_dlq_with_their_reason_and_good_ones_count(
        stack: Settings) -> None:
    article_id = next(_article_ids)
    topic = topic_name(stack, Topic.GATEWAY_PRESENCE)
    good = codec.encode(GatewayPresence(subject=article_id, data=GatewayPresenceData(
        gateway="gw-test", article_id=article_id, viewers=5, at=utc_now(), ttl_s=30)))
    bad = [
        (article_id.encode(), b"{not json", "invalid_json"),
        (article_id.encode(), good.replace(b'"viewers":5', b'"viewers":-1'), "invalid_event"),
        (b"another-article", good, "key_mismatch"),
    ]
    dlq = await Tail(stack, topic_name(stack, Topic.DLQ)).start()
    producer = make_producer(stack)
    await producer.start()
    try:
        for key, value, _ in bad:
            await producer.send_and_wait(topic, value, key=key)
        await producer.send_and_wait(topic, good, key=article_id.encode())

        def letters() -> dict[bytes, str]:
            found = (codec.decode_dead_letter(v) for _, v in dlq.records)
            return {base64.b64decode(d.original_b64): d.reason
                    for d in found if d.topic == topic}

        await dlq.wait_for(lambda: len(letters()) == len(bad))
        assert letters() == {value: reason for _, value, reason in bad}

        async def counted() -> bool:
            answer = await http_get(
                f"{stack.streams_base_url}/v1/channels/presence:{article_id}/snapshot")
            return answer.status_code == 200 and answer.json()["snapshot"]["reading"] == 5

        await eventually(counted, within=30)
    finally:
        await producer.stop()
        await dlq.stop()


async def test_a_worker_restart_is_a_new_epoch_the_gateway_resyncs_subscribers_to(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = make_settings(broker.bootstrap, streams_port=free_port(),
                             data_dir=str(tmp_path / "streams"))
    await ensure_topics(settings)
    gateways = Gateways(settings)
    log = tmp_path / "worker.log"

    async def worker_ready(worker: subprocess.Popen[bytes]) -> None:
        async def ready() -> bool:
            assert worker.poll() is None, log.read_text()[-3000:]
            try:
                return (await http_get(f"{settings.streams_base_url}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, within=90)

    worker = start_worker(settings, log)
    try:
        await worker_ready(worker)
        a = gateways.start("a")
        article_id = next(_article_ids)
        async with clients(a, a, a) as (probe, r1, r2):
            await probe.subscribe(f"presence:{article_id}")
            await r1.subscribe(f"article:{article_id}")
            await r2.subscribe(f"article:{article_id}")
            before = await until_reading(probe, article_id, 2)
            worker.terminate()
            await asyncio.to_thread(worker.wait, 30)
            worker = start_worker(settings, log)
            await worker_ready(worker)
            # The gateway's next heartbeat (within ttl/3) reaches the new worker, whose first
            # update has a new epoch: the gateway fetches a snapshot and pushes it unprompted.
            after = await probe.until_view(
                f"presence:{article_id}", lambda v: v.epoch != before.epoch and reading(v) == 2,
                within=60)
            assert after.snapshots >= 2
            resync = [f for f in probe.frames if f.get("op") == "subscribed" and "id" not in f]
            assert resync
            assert resync[-1]["epoch"] == after.epoch
    finally:
        gateways.stop_all()
        worker.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(worker.wait), 30)
        except TimeoutError:
            worker.kill()
            worker.wait()
