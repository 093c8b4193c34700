"""Helpers for browser tests against the scripted socket: a gateway's frames, made by hand.

The demo page's snapshot built from the demo data, comments and updates as the gateway sends
them, and an auto-responder that answers the page's subscribe and history requests.
"""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page, expect

from commentfeed.demo_data import LEAD_ARTICLE_ID, demo_events
from commentfeed.events import ArticlePublished, CommentPosted
from tests.e2e.conftest import TEST_ORIGIN

ARTICLE = f"article:{LEAD_ARTICLE_ID}"


def demo_snapshot() -> dict[str, Any]:
    """The lead article's snapshot as the gateway would send it, built from the demo data."""
    events = demo_events()
    article = next(e.data for e in events
                   if isinstance(e, ArticlePublished) and e.data.article_id == LEAD_ARTICLE_ID)
    depth: dict[str, int] = {}
    comments = []
    for event in events:
        if isinstance(event, CommentPosted) and event.data.article_id == LEAD_ARTICLE_ID:
            c = event.data
            depth[c.comment_id] = depth[c.parent_id] + 1 if c.parent_id else 0
            comments.append({
                "comment_id": c.comment_id, "article_id": c.article_id, "parent_id": c.parent_id,
                "author": {"id": c.author.id, "name": c.author.name}, "body": c.body,
                "posted_at": c.posted_at.isoformat(), "edited_at": None,
                "score": 0, "depth": depth[c.comment_id],
            })
    return {
        "article": {**article.model_dump(mode="json"), "closed": False, "deleted": False},
        "count": len(comments), "comments": comments, "cursor": None,
    }


def comment(comment_id: str, body: str, *, parent_id: str | None = None,
            author: tuple[str, str] = ("u-zed", "Zed"), minute: int = 0) -> dict[str, Any]:
    return {
        "comment_id": comment_id, "article_id": LEAD_ARTICLE_ID, "parent_id": parent_id,
        "author": {"id": author[0], "name": author[1]}, "body": body,
        "posted_at": f"2026-03-14T11:{minute:02d}:00+00:00", "edited_at": None, "score": 0,
        "depth": 0,
    }


RECENT = {"site": "demo", "items": [
    {"comment_id": "c-3001", "article_id": "night-market-returns", "author_name": "Amara_T",
     "excerpt": "The dumpling stall by the east steps is back…",
     "posted_at": "2026-03-14T10:35:00Z"},
]}

# Installed before any page script runs: answers every subscribe with the snapshot in
# window.__snapshots at epoch "e1" offset 4 (or with window.__resume when the test set one).
AUTO_RESPONDER = """
window.__ws.onFrame = (socket, frame) => {
  if (frame.op === "history" && frame.sort === "best") {
    socket.push({op: "history", id: frame.id, channel: frame.channel, sort: "best",
                 ...(window.__best || {comments: [], cursor: null, floor: null})});
    return;
  }
  if (frame.op === "history" && window.__history) {
    socket.push({op: "history", id: frame.id, channel: frame.channel, ...window.__history});
    return;
  }
  if (frame.op !== "subscribe") return;
  const resume = window.__resume && window.__resume[frame.channel];
  if (frame.since && resume) {
    socket.push({op: "subscribed", id: frame.id, channel: frame.channel, recovered: true,
                 ...resume});
    return;
  }
  socket.push({op: "subscribed", id: frame.id, channel: frame.channel, epoch: "e1", offset: 4,
               recovered: false, snapshot: window.__snapshots[frame.channel]});
};
"""


def start_demo_page(page: Page, article_snapshot: dict[str, Any] | None = None,
                    history: dict[str, Any] | None = None, path: str = "/") -> None:
    """Open the demo page at ``path``; the scripted gateway answers with these frames."""
    snapshots = {ARTICLE: article_snapshot or demo_snapshot(), "recent:demo": RECENT}
    page.add_init_script(script=f"window.__snapshots = {json.dumps(snapshots)};"
                                f"window.__history = {json.dumps(history)};" + AUTO_RESPONDER)
    page.goto(f"{TEST_ORIGIN}{path}")


def open_demo_page(page: Page, article_snapshot: dict[str, Any] | None = None,
                   history: dict[str, Any] | None = None, expect_count: int | None = None) -> None:
    """Open the demo page and wait until the thread shows the snapshot's comments."""
    start_demo_page(page, article_snapshot, history)
    if expect_count is None:
        expect_count = len((article_snapshot or demo_snapshot())["comments"])
    expect(page.locator("#thread .cf-comment")).to_have_count(expect_count)


def push(page: Page, frame: dict[str, Any]) -> None:
    page.evaluate("(frame) => window.__ws.last.push(frame)", frame)


def position(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate("(c) => window.commentfeed.feed.position(c)", ARTICLE)
    return found


def update(offset: int, kind: str, data: dict[str, Any], channel: str = ARTICLE,
           epoch: str = "e1") -> dict[str, Any]:
    return {"op": "update", "channel": channel, "epoch": epoch, "offset": offset, "type": kind,
            "data": data}


