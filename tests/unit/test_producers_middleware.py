"""Body limit and security headers as plain ASGI middleware (no broker, no FastAPI)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from producers.middleware import (
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    content_security_policy,
)


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app),  # type: ignore[arg-type]
                             base_url="http://news.test")


async def test_bodies_up_to_the_limit_pass_through_whole() -> None:
    async with client(BodyLimitMiddleware(echo_length, max_bytes=100)) as c:
        r = await c.post("/", content=b"x" * 100)
    assert (r.status_code, r.text) == (200, "100")


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_body_over_the_limit_is_413_before_the_app_runs(streamed: bool) -> None:
    reached = False

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal reached
        reached = True
        await echo_length(scope, receive, send)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 30

    content = chunks() if streamed else b"x" * 150
    async with client(BodyLimitMiddleware(app, max_bytes=100)) as c:
        r = await c.post("/", content=content)
    assert r.status_code == 413
    assert r.json()["code"] == "body_too_large"
    assert reached is False


async def test_a_bad_content_length_is_400() -> None:
    async with client(BodyLimitMiddleware(echo_length, max_bytes=100)) as c:
        r = await c.post("/", content=b"x", headers={"content-length": "many"})
    assert r.status_code == 400


async def test_security_headers_name_the_configured_gateway_whatever_the_host() -> None:
    app = SecurityHeadersMiddleware(echo_length, gateway_url="wss://live.news.example/ws")
    async with client(app) as c:
        r = await c.get("/", headers={"Host": "evil.example"})
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "connect-src 'self' wss://live.news.example;" in csp
    assert "evil" not in csp


def test_the_csp_allows_no_inline_code() -> None:
    csp = content_security_policy("ws://h:1/ws")
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "unsafe" not in csp
    assert "object-src 'none'" in csp
    assert "connect-src 'self' ws://h:1;" in csp
