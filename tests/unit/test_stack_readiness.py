"""`commentfeed up` says "up" only once the demo data is visible, or fails clearly."""

from __future__ import annotations

import asyncio

import httpx

from commentfeed.demo_data import ARTICLES, COMMENT_COUNTS
from commentfeed.settings import Settings
from commentfeed.stack import DataCheck, Supervisor, demo_data_check


def run(supervisor: Supervisor) -> tuple[int, list[str]]:
    said: list[str] = []

    def on_ready() -> None:
        said.append("commentfeed is up")
        supervisor._stopping.set()  # as Ctrl-C would, once up

    return asyncio.run(supervisor.run(on_ready)), said


def test_up_is_said_only_after_the_data_check_holds() -> None:
    calls: list[int] = []

    async def check() -> tuple[bool, str]:
        calls.append(1)
        return len(calls) >= 3, "not yet"

    lines: list[str] = []
    code, said = run(Supervisor([], {}, lines.append, data_check=check))
    assert (code, said, len(calls)) == (0, ["commentfeed is up"], 3)


def test_demo_data_not_visible_in_time_is_a_clear_nonzero_exit() -> None:
    async def never() -> tuple[bool, str]:
        return False, "demo comment counts so far: {'harbour-bridge-reopens': '2/4'}"

    lines: list[str] = []
    code, said = run(Supervisor([], {}, lines.append, data_check=never, data_timeout_s=0.3))
    assert (code, said) == (1, [])
    assert lines == ["up: the demo data was not visible within 0.3s (demo comment counts so "
                     "far: {'harbour-bridge-reopens': '2/4'})"]


def fake_stack(counts: dict[str, int], articles: int) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/counts":
            ids = request.url.params["ids"].split(",")
            return httpx.Response(200, json={"counts": {i: counts.get(i, 0) for i in ids}})
        assert request.url.path == "/readyz"
        ready = articles >= len(ARTICLES)
        return httpx.Response(200 if ready else 503, json={"ready": ready, "articles": articles})

    return httpx.MockTransport(answer)


def check_with(counts: dict[str, int], articles: int) -> tuple[bool, str]:
    check: DataCheck = demo_data_check(Settings.explicit(), transport=fake_stack(counts, articles))

    async def once() -> tuple[bool, str]:
        return await check()

    return asyncio.run(once())


def test_the_demo_check_wants_every_demo_count_and_every_article_in_the_ingest() -> None:
    assert check_with({}, 0) == (False, "demo comment counts so far: "
                                 + str({a: f"0/{n}" for a, n in COMMENT_COUNTS.items() if n}))
    partial = dict(COMMENT_COUNTS) | {"harbour-bridge-reopens": 3}
    assert check_with(partial, len(ARTICLES)) == (
        False, "demo comment counts so far: {'harbour-bridge-reopens': '3/4'}")
    assert check_with(dict(COMMENT_COUNTS), 2) == (
        False, f"the ingest API knows 2 of {len(ARTICLES)} demo articles")
    assert check_with(dict(COMMENT_COUNTS), len(ARTICLES)) == (True, "")
    # Comments kept from an earlier run do not hold "up" back.
    more = {a: n + 2 for a, n in COMMENT_COUNTS.items()}
    assert check_with(more, len(ARTICLES) + 1) == (True, "")
