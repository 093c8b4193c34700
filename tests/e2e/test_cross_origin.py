"""The embedding recipe of docs/widgets.md, proved in Chromium: an article page on one origin,
commentfeed (ingest API, widget assets, gateway) on others, and everything a reader does works.

The host page is examples/embed/ served by a plain HTTP server on its own port; the stack runs
with that origin in ``COMMENTFEED_ALLOWED_ORIGINS`` (ingest CORS and the gateway's Origin
check alike). A second origin, not in
the lists, shows what the lists keep out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from commentfeed.broker import free_port
from commentfeed.demo_data import LEAD_ARTICLE_ID, SITE
from producers.cors import WIDGETS_PATH
from tests.e2e.conftest import ROOT, PageFactory
from tests.e2e.stack import StackProcesses, demo_stack, missing_services

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(missing_services()),
                       reason=f"the stack is incomplete in this tree: {missing_services()}"),
]

EMBED = ROOT / "examples" / "embed"
HOST_PORT = free_port()
#: The news site's origin; the same server under another host name is a foreign origin.
SITE_ORIGIN = f"http://127.0.0.1:{HOST_PORT}"
FOREIGN_ORIGIN = f"http://localhost:{HOST_PORT}"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcesses]:
    with demo_stack(tmp_path_factory.mktemp("cross"),
                    COMMENTFEED_ALLOWED_ORIGINS=SITE_ORIGIN) as processes:
        yield processes


def login(stack: StackProcesses, name: str) -> dict[str, Any]:
    """A reader session as the news site would render it into its page."""
    answer = httpx.post(f"{stack.ingest_url}/v1/demo/login", json={"name": name, "role": "reader"},
                        timeout=10)
    assert answer.status_code == 200, answer.text
    session: dict[str, Any] = answer.json()
    return {"token": session["token"], "user": session["user"]}


@pytest.fixture(scope="module")
def site(stack: StackProcesses, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The news site: examples/embed with its config filled in, on its own origin."""
    root = tmp_path_factory.mktemp("news-site")
    (root / "comments.js").write_text((EMBED / "comments.js").read_text())
    template = (EMBED / "article.html").read_text()
    assets = f"{stack.ingest_url}{WIDGETS_PATH}"
    for name, reader in (("article.html", login(stack, "Rafa Ortiz")), ("anonymous.html", None)):
        config = {"assets": assets, "api": stack.ingest_url,
                  "gateway": f"ws://127.0.0.1:{stack.ports['gateway']}/ws", "site": SITE,
                  "articleId": LEAD_ARTICLE_ID, "reader": reader}
        page = template.replace("{{assets}}", assets).replace(
            "{{config}}", json.dumps(config).replace("</", "<\\/"))
        (root / name).write_text(page)
    server = ThreadingHTTPServer(("127.0.0.1", HOST_PORT), partial(QuietHandler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root
    finally:
        server.shutdown()
        server.server_close()


def shown_count(page: Page) -> int:
    return int(page.locator("#comments-heading").get_attribute("data-count") or "-1")


def test_an_article_on_another_origin_loads_posts_replies_votes_and_goes_live(
    stack: StackProcesses, site: Path, open_page: PageFactory,
) -> None:
    page = open_page()
    page.goto(f"{SITE_ORIGIN}/article.html")
    # Loading: the widget modules came from the commentfeed origin, and the snapshot arrived.
    expect(page.locator("#thread .cf-comment")).to_have_count(4, timeout=15_000)
    loaded = page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    assert f"{stack.ingest_url}{WIDGETS_PATH}/widgets.js" in loaded
    before = shown_count(page)
    assert before >= 4

    # Posting: a cross-origin POST with a bearer token and an Idempotency-Key (preflighted).
    body = "Read from the paper's own site: does the cycle lane open on Saturday too?"
    page.locator("#comment-body").fill(body)
    page.locator("#comment-form button[type=submit]").click()
    expect(page.locator("#post-status")).to_have_text("Posted.")
    mine = page.locator("#thread .cf-comments > .cf-comment", has_text=body)
    expect(mine).to_have_count(1)
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", str(before + 1))

    # Replying: the form moves under the comment, and the reply nests there.
    page.locator("#comment-c-1004 > .cf-card .cf-reply").click()
    expect(page.locator("#comment-c-1004 > .cf-reply-slot #comment-form")).to_be_visible()
    reply = "Agreed, and it is wider than the old footpath."
    page.locator("#comment-body").fill(reply)
    page.locator("#comment-form button[type=submit]").click()
    expect(page.locator("#comment-c-1004 > .cf-replies > .cf-comment", has_text=reply)
           ).to_have_count(1)

    # Voting: the score comes back through the stream.
    score = page.locator("#comment-c-1001 > .cf-card .cf-score")
    start = int(score.inner_text())
    page.locator("#comment-c-1001 > .cf-card .cf-vote-up").click()
    expect(score).to_have_text(str(start + 1))
    expect(page.locator("#comment-c-1001 > .cf-card .cf-vote-up")).to_have_attribute(
        "aria-pressed", "true")

    # Live: a comment someone else posts reaches this page through the gateway.
    other = login(stack, "Ines Marlow")
    posted = stack.post_comment(other["token"], LEAD_ARTICLE_ID, "Saw it from the ferry, too.")
    expect(page.locator("#thread .cf-new")).to_have_text("1 new comment")
    page.locator("#thread .cf-new").click()
    expect(page.locator(f"#comment-{posted['comment_id']} .cf-text")).to_have_text(
        "Saw it from the ferry, too.")
    expect(page.locator("#recent li").first).to_have_attribute(
        "data-comment-id", posted["comment_id"])


def test_an_origin_outside_the_lists_gets_neither_the_api_nor_the_socket(
    stack: StackProcesses, site: Path, open_page: PageFactory,
) -> None:
    page = open_page()
    page.goto(f"{FOREIGN_ORIGIN}/anonymous.html")
    outcome = page.evaluate("""async ([assets, gateway]) => {
      const api = await fetch(`${assets}/widgets.js`).then(() => "read", () => "blocked");
      const socket = await new Promise((done) => {
        const ws = new WebSocket(gateway);
        ws.onclose = (event) => done(event.code);
      });
      return {api, socket};
    }""", [f"{stack.ingest_url}{WIDGETS_PATH}", f"ws://127.0.0.1:{stack.ports['gateway']}/ws"])
    assert outcome == {"api": "blocked", "socket": 4003}
    expect(page.locator("#thread .cf-comment")).to_have_count(0)
    # The page's own import of the widgets failed the same way; that error is the point here.
    refused = [e for e in open_page.errors if "Failed to fetch dynamically imported module" in e]
    assert len(refused) == 1
    assert f"{WIDGETS_PATH}/commentfeed.js" in refused[0]
    open_page.errors.remove(refused[0])
