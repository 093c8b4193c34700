"""``commentfeed gateway`` as its own process: protocol fuzzing against it, and SIGTERM.

Fuzzing sends arbitrary frames over real websockets; after each, a ``ping`` probe must be
answered, so a stuck connection fails the test, not just a crashed one. Every frame the gateway
sends must be a documented one, and a connection may only end with a documented close code.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

from commentfeed.settings import Settings
from gateway.protocol import ErrorCode
from tests.integration.gateway_harness import Client, FeedWriter, close_code, gateway_settings

pytestmark = pytest.mark.integration

SERVER_OPS = {"subscribed", "unsubscribed", "update", "history", "pong", "error"}
ERROR_CODES = {code.value for code in ErrorCode}
#: What fuzzed input may end a connection with: too big a frame, too many errors.
FUZZ_CLOSES = {1009, 4001}


def gateway_env(s: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMENTFEED_")}
    env.update({
        "COMMENTFEED_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "COMMENTFEED_TOPIC_PREFIX": s.topic_prefix,
        "COMMENTFEED_FETCH_WAIT_MS": str(s.fetch_wait_ms),
        "COMMENTFEED_GATEWAY_PORT": str(s.gateway_port),
        "COMMENTFEED_STREAMS_PORT": str(s.streams_port),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def start_gateway(s: Settings, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "commentfeed", "gateway"],
                            env=gateway_env(s, **extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_ready(s: Settings, exit_code: Callable[[], int | None], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        assert exit_code() is None, f"gateway exited with {exit_code()}"
        try:
            if httpx.get(f"http://127.0.0.1:{s.gateway_port}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "gateway not ready"
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


@pytest.fixture
async def feed(kafka_settings: Settings) -> AsyncIterator[FeedWriter]:
    async with FeedWriter(gateway_settings(kafka_settings)) as writer:
        yield writer


@pytest.fixture
def fuzz_gateway(feed: FeedWriter) -> Iterator[str]:
    process = start_gateway(feed.settings, COMMENTFEED_GATEWAY_MAX_ERRORS="6")
    try:
        wait_ready(feed.settings, process.poll)
        yield f"ws://127.0.0.1:{feed.settings.gateway_port}/ws"
        assert process.poll() is None, "the gateway died"
    finally:
        stop(process)


json_leaf = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(
    allow_nan=False) | st.text(max_size=20)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=10)
frame_docs = st.fixed_dictionaries(
    {"op": st.sampled_from(["subscribe", "unsubscribe", "history", "ping", "update"])
     | json_value},
    optional={
        "channel": st.sampled_from(["article:42", "count:42", "recent", "recent:demo", "x:1",
                                    "count:", "article:a/b"]) | json_value,
        "id": st.integers(-5, 5) | st.text(max_size=70) | json_value,
        "since": st.fixed_dictionaries({"epoch": st.sampled_from(["e1", ""]) | json_value,
                                        "offset": st.integers(-2, 5) | json_value}),
        "before": st.text(max_size=10) | json_value,
        "limit": st.integers(-1, 120) | json_value,
    },
)
frames = (frame_docs.map(lambda d: orjson.dumps(d).decode())
          | st.text(max_size=40)
          | st.binary(max_size=40)
          | st.text(min_size=4097, max_size=4200, alphabet="ab"))


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=1, max_size=8))
def test_arbitrary_frames_get_documented_answers_and_never_a_crash_or_a_hang(
        fuzz_gateway: str, batch: list[str | bytes]) -> None:
    with sync_connect(fuzz_gateway, compression=None, max_size=None) as ws:
        for n, frame in enumerate(batch):
            probe = f"probe-{n}"
            try:
                ws.send(frame)
                ws.send(orjson.dumps({"op": "ping", "id": probe}).decode())
                while True:
                    answer = orjson.loads(ws.recv(timeout=10))  # a hang fails here
                    assert answer["op"] in SERVER_OPS, answer
                    if answer["op"] == "error":
                        assert answer["code"] in ERROR_CODES, answer
                    if answer.get("id") == probe:
                        break
            except ConnectionClosed:
                assert ws.close_code in FUZZ_CLOSES, ws.close_code
                return


async def test_sigterm_closes_clients_with_1001_and_exits_cleanly(feed: FeedWriter) -> None:
    s = feed.settings
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "commentfeed", "gateway", env=gateway_env(s),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.to_thread(wait_ready, s, lambda: process.returncode)
        client = await Client(f"ws://127.0.0.1:{s.gateway_port}/ws").connect()
        assert (await client.subscribe("count:t"))["op"] == "subscribed"
        process.send_signal(signal.SIGTERM)
        assert client.ws is not None
        assert await close_code(client.ws) == 1001
        async with asyncio.timeout(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

