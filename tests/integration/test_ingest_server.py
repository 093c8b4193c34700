"""``commentfeed ingest`` as a real process: refuses to start without its secrets, stops cleanly
on SIGTERM, and schemathesis finds no server error and no schema violation in its OpenAPI
document."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from commentfeed.broker import free_port
from commentfeed.settings import Settings
from tests.ingest_client import SERVICE_TOKEN, bearer, token
from tests.integration.producers_support import IngestProcess, ingest_processes, spawn_ingest

pytestmark = pytest.mark.integration

_HOUR = timedelta(hours=1)
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance,
    response_schema_conformance, response_headers_conformance, negative_data_rejection,
]


Server = IngestProcess


@asynccontextmanager
async def stand_in_streams() -> AsyncIterator[str]:
    """A real HTTP server answering the streams API's votes query (no votes); its URL."""
    async def votes(request: web.Request) -> web.Response:
        return web.json_response({"article_id": request.match_info["article_id"],
                                  "voter_id": request.match_info["voter_id"], "votes": {}})

    app = web.Application()
    app.router.add_get("/v1/articles/{article_id}/votes/{voter_id}", votes)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def server(kafka_settings: Settings) -> AsyncIterator[Server]:
    # GET votes/mine reads the streams API: a stand-in, so its answers are the ingest's own.
    async with stand_in_streams() as streams_url, ingest_processes(
            kafka_settings, 1, COMMENTFEED_DEMO_MODE="true",
            COMMENTFEED_STREAMS_URL=streams_url) as (running,):
        yield running


async def test_ingest_refuses_to_start_without_its_secrets(kafka_settings: Settings) -> None:
    process = spawn_ingest(kafka_settings, COMMENTFEED_JWT_SECRET="",
                           COMMENTFEED_SERVICE_TOKEN="").process
    out, _ = await asyncio.to_thread(process.communicate, timeout=60)
    assert process.returncode == 1
    text = out.decode()
    assert "COMMENTFEED_JWT_SECRET and COMMENTFEED_SERVICE_TOKEN" in text
    assert "Traceback" not in text


async def test_sigterm_stops_the_ingest_cleanly(server: Server) -> None:
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    out, _ = await asyncio.to_thread(server.process.communicate, timeout=30)
    assert server.process.returncode == 0, out.decode()
    assert "Application shutdown complete" in out.decode()
    assert time.monotonic() - started < 30


def _seed(base_url: str) -> tuple[str, str]:
    """An article and a comment, so some generated requests reach real resources."""
    with httpx.Client(base_url=base_url) as client:
        r = client.post("/v1/articles", headers=bearer(SERVICE_TOKEN), json={
            "article_id": "fuzzed", "title": "Fuzzed", "url": "https://news.example/fuzzed",
            "author": "Fuzz"})
        assert r.status_code == 202, r.text
        r = client.post("/v1/articles/fuzzed/comments", headers=bearer(token("u-seed")),
                        json={"body": "A comment to fuzz."})
        assert r.status_code == 202, r.text
        return "fuzzed", str(r.json()["comment_id"])


def _fuzz(base_url: str) -> tuple[list[str], Counter[int]]:
    article_id, comment_id = _seed(base_url)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    credentials = {
        "articles": bearer(SERVICE_TOKEN),
        "comments": bearer(token("u-seed", "Seed", ttl=_HOUR)),
        "moderation": bearer(token("u-mod", "Mod", "moderator", ttl=_HOUR)),
    }
    known = {"article_id": article_id, "comment_id": comment_id}
    tested = []
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        headers = credentials.get((operation.tags or [""])[0], {})
        params = {p.name for p in operation.path_parameters}
        fixed = {name: value for name, value in known.items() if name in params}
        strategies = [
            operation.as_strategy(generation_mode=mode)
            for mode in (schemathesis.GenerationMode.POSITIVE,
                         schemathesis.GenerationMode.NEGATIVE)
        ]
        if fixed:
            strategies.append(operation.as_strategy(path_parameters=fixed))

        def check_case(case: Any, headers: dict[str, str] = headers) -> None:
            # requests would drop "." and ".." path segments, sending the case elsewhere.
            for value in (case.path_parameters or {}).values():
                if isinstance(value, str) and not value.strip("."):
                    return
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
            statuses[response.status_code] += 1

        @settings(max_examples=25, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=st.one_of(strategies))
        def check(case: Any) -> None:
            check_case(case)

        check()
        tested.append(operation.label)
    return tested, statuses


async def test_schemathesis_finds_no_server_errors_or_schema_violations(server: Server) -> None:
    tested, statuses = await asyncio.to_thread(_fuzz, server.base_url)
    assert sorted(tested) == sorted([
        "POST /v1/articles", "PATCH /v1/articles/{article_id}",
        "DELETE /v1/articles/{article_id}", "POST /v1/articles/{article_id}/close",
        "POST /v1/articles/{article_id}/comments", "PATCH /v1/comments/{comment_id}",
        "DELETE /v1/comments/{comment_id}", "POST /v1/comments/{comment_id}/vote",
        "POST /v1/comments/{comment_id}/moderation", "POST /v1/demo/login",
        "POST /v1/comments/{comment_id}/reports", "POST /v1/sites/{site}/bans",
        "DELETE /v1/sites/{site}/bans/{user_id}", "GET /v1/sites/{site}/bans",
        "GET /v1/articles/{article_id}/votes/mine",
        "GET /healthz", "GET /readyz", "GET /config.json", "GET /site/articles.json",
    ])
    # The fuzzing got past validation into accepted writes, not only refusals.
    assert statuses[202] > 0, statuses
    assert statuses[422] > 0, statuses
    print("schemathesis statuses:", dict(sorted(statuses.items())))
    # The server is still healthy after the fuzzing.
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{server.base_url}/healthz")).status_code == 200

