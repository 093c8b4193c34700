"""The JS client's `auth` (commentfeed.js setToken) against a scripted socket, in Chromium:
the login goes first on every connection, private channels wait for `authed`, a refused token
leaves public channels working and private ones unsent."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import TEST_ORIGIN

pytestmark = pytest.mark.e2e

CLIENT_URL = f"{TEST_ORIGIN}/commentfeed.js"

SETUP = """async (url) => {
  const { CommentFeed } = await import(url);
  // Subscribes are answered at once; auth only when the test says so.
  window.__ws.onFrame = (socket, frame) => {
    if (frame.op === "subscribe") {
      socket.push({op: "subscribed", id: frame.id, channel: frame.channel, epoch: "e1",
                   offset: 3, recovered: Boolean(frame.since), missed: [],
                   snapshot: {site: "demo", queue: [], items: []}});
    }
  };
  const feed = new CommentFeed("ws://gateway.test/ws", {initialBackoffMs: 20, maxBackoffMs: 40});
  window.__events = [];
  feed.addEventListener("auth", (e) => window.__events.push(["auth", e.detail]));
  feed.addEventListener("error", (e) => window.__events.push(["error", e.detail]));
  window.__feed = feed;
  feed.setToken("tok-1");
  feed.subscribe("recent:demo");
  feed.subscribe("moderation:demo");
  feed.connect();
}"""


def frames(page: Page, socket: int) -> list[list[Any]]:
    sent: list[list[Any]] = page.evaluate(
        "(i) => window.__ws.sockets[i].sent.map(f => [f.op, f.channel ?? f.token ?? null,"
        " Boolean(f.since)])", socket)
    return sent


def answer_auth(page: Page, socket: int, **frame: Any) -> None:
    page.evaluate("""([i, extra]) => {
      const s = window.__ws.sockets[i];
      const auth = s.sent.filter(f => f.op === "auth").at(-1);
      s.push({id: auth.id, ...extra});
    }""", [socket, frame])


USER = {"id": "u-mo", "name": "Mo", "roles": ["moderator"], "site": "demo"}


def test_auth_goes_first_and_private_channels_wait_for_it_on_every_connection(
    scripted_page: Page,
) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    page.evaluate(SETUP, CLIENT_URL)
    page.wait_for_function("window.__ws.sockets.length === 1 && window.__ws.last.sent.length >= 2")
    # The login and the public channel; the private one waits for the answer.
    assert frames(page, 0) == [["auth", "tok-1", False], ["subscribe", "recent:demo", False]]
    answer_auth(page, 0, op="authed", user=USER)
    page.wait_for_function("window.__ws.last.sent.length === 3")
    assert frames(page, 0)[2] == ["subscribe", "moderation:demo", False]
    assert page.evaluate("window.__feed.user") == USER
    assert page.evaluate("window.__events") == [["auth", {"user": USER}]]
    page.wait_for_function("window.__feed.position('moderation:demo') !== null")

    # A reconnect: auth first again, public channels resume at once, the private one after.
    page.evaluate("window.__ws.last.drop(1006)")
    page.wait_for_function("window.__ws.sockets.length === 2 && window.__ws.last.sent.length >= 2")
    assert frames(page, 1) == [["auth", "tok-1", False], ["subscribe", "recent:demo", True]]
    answer_auth(page, 1, op="authed", user=USER)
    page.wait_for_function("window.__ws.last.sent.length === 3")
    assert frames(page, 1)[2] == ["subscribe", "moderation:demo", True]


def test_a_refused_token_leaves_public_channels_and_never_sends_the_private_one(
    scripted_page: Page,
) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    page.evaluate(SETUP, CLIENT_URL)
    page.wait_for_function("window.__ws.sockets.length === 1 && window.__ws.last.sent.length >= 2")
    answer_auth(page, 0, op="error", code="bad_token", message="token expired")
    page.wait_for_function("window.__events.length >= 2")
    events = page.evaluate("window.__events")
    # The error frame, then the client's own verdict on the login.
    assert [kind for kind, _ in events] == ["error", "auth"]
    assert events[0][1]["code"] == "bad_token"
    assert events[1][1] == {"user": None, "code": "bad_token"}
    assert page.evaluate("window.__feed.user") is None
    page.wait_for_function("window.__feed.position('recent:demo') !== null")
    assert [f for f in frames(page, 0) if f[1] == "moderation:demo"] == []

    # The gateway ends a private subscription (login expired): it is wanted still, and sent
    # again after the next successful auth.
    page.evaluate("() => { window.__feed.setToken('tok-2').catch(() => {}); }")
    answer_auth(page, 0, op="authed", user=USER)
    page.wait_for_function("window.__feed.position('moderation:demo') !== null")
    page.evaluate("window.__ws.last.push({op: 'unsubscribed', channel: 'moderation:demo'})")
    assert page.evaluate("window.__feed.position('moderation:demo')") is None
    assert page.evaluate("window.__events.at(-1)[1].code") == "unsubscribed"
    page.evaluate("() => { window.__feed.setToken('tok-3').catch(() => {}); }")
    answer_auth(page, 0, op="authed", user=USER)
    page.wait_for_function("window.__feed.position('moderation:demo') !== null")
    subscribes = [f for f in frames(page, 0) if f[1] == "moderation:demo"]
    assert len(subscribes) == 2
