"""The JS client and widgets on their own, in a real browser, against a scripted socket.

These prove the client's logic that the whole stack cannot provoke on demand: dropping replayed
offsets, resyncing on a gap or a new epoch, backoff, giving up on final close codes, dead
connection detection, and the thread's rendering rules. The socket is scripted (see
scripted_socket.js); everything else is the real page code in Chromium.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from commentfeed.demo_data import LEAD_ARTICLE_ID
from tests.e2e.conftest import TEST_ORIGIN
from tests.e2e.scripted import (
    ARTICLE,
    comment,
    demo_snapshot,
    open_demo_page,
    position,
    push,
    update,
)

pytestmark = pytest.mark.e2e

CLIENT_URL = f"{TEST_ORIGIN}/commentfeed.js"


# -- pure functions ---------------------------------------------------------------------------


def test_backoff_starts_at_half_a_second_doubles_and_caps_at_thirty(scripted_page: Page) -> None:
    scripted_page.goto(f"{TEST_ORIGIN}/blank")
    delays = scripted_page.evaluate("""async (url) => {
      const { backoffDelay } = await import(url);
      const at = (attempt, r) => backoffDelay(attempt, { random: () => r });
      return [at(0, 1), at(0, 0), at(1, 1), at(3, 1), at(6, 1), at(20, 1), at(20, 0)];
    }""", CLIENT_URL)
    assert delays == [500, 250, 1000, 4000, 30000, 30000, 15000]


def test_classify_update_applies_the_next_offset_only(scripted_page: Page) -> None:
    scripted_page.goto(f"{TEST_ORIGIN}/blank")
    verdicts = scripted_page.evaluate("""async (url) => {
      const { classifyUpdate } = await import(url);
      const at = { epoch: "e1", offset: 5 };
      return [
        classifyUpdate(at, { epoch: "e1", offset: 6 }),
        classifyUpdate(at, { epoch: "e1", offset: 5 }),
        classifyUpdate(at, { epoch: "e1", offset: 2 }),
        classifyUpdate(at, { epoch: "e1", offset: 8 }),
        classifyUpdate(at, { epoch: "e2", offset: 6 }),
        classifyUpdate(null, { epoch: "e1", offset: 1 }),
      ];
    }""", CLIENT_URL)
    assert verdicts == ["apply", "drop", "drop", "resync", "resync", "drop"]


# -- the client against a scripted socket -------------------------------------------------------


def test_resume_sends_since_and_drops_replayed_offsets(scripted_page: Page) -> None:
    page = scripted_page
    open_demo_page(page)
    push(page, update(5, "count", {"article_id": LEAD_ARTICLE_ID, "count": 5}))
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", "5")

    # The gateway goes away; the resume replays offset 5 again (a duplicate) and then 6.
    page.evaluate("""(channel) => {
      window.__resume = {[channel]: {epoch: "e1", offset: 6, missed: [
        {op: "update", channel, epoch: "e1", offset: 5, type: "count", data: {count: 99}},
        {op: "update", channel, epoch: "e1", offset: 6, type: "count", data: {count: 6}}]}};
      window.__ws.last.drop(1006);
    }""", ARTICLE)
    page.wait_for_function(
        "window.__ws.sockets.length === 2 && window.commentfeed.feed.state === 'live'",
        timeout=5000)
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", "6")
    resumed = page.evaluate(
        "(c) => window.__ws.sockets[1].sent.filter(f => f.op === 'subscribe' && f.channel === c)",
        ARTICLE)
    assert [f["since"] for f in resumed] == [{"epoch": "e1", "offset": 5}]
    # A late duplicate of 6 changes nothing; 7 applies.
    push(page, update(6, "count", {"article_id": LEAD_ARTICLE_ID, "count": 42}))
    push(page, update(7, "count", {"article_id": LEAD_ARTICLE_ID, "count": 7}))
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", "7")
    assert position(page) == {"epoch": "e1", "offset": 7}


def test_a_gap_or_a_new_epoch_asks_the_gateway_to_resync(scripted_page: Page) -> None:
    page = scripted_page
    open_demo_page(page)
    push(page, update(9, "count", {"article_id": LEAD_ARTICLE_ID, "count": 50}))  # 5..8 missing
    page.wait_for_function("window.__ws.last.sent.filter(f => f.op === 'subscribe' && f.since)"
                           ".length === 1", timeout=5000)
    since = page.evaluate("window.__ws.last.sent.filter(f => f.since)[0].since")
    assert since == {"epoch": "e1", "offset": 4}
    # The gap was not applied: the heading still shows the snapshot's count.
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", "4")

    push(page, update(5, "count", {"article_id": LEAD_ARTICLE_ID, "count": 1}, epoch="e2"))
    page.wait_for_function("window.__ws.last.sent.filter(f => f.op === 'subscribe' && f.since)"
                           ".length === 2", timeout=5000)
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", "4")


def test_an_unsolicited_fresh_snapshot_replaces_the_state(scripted_page: Page) -> None:
    page = scripted_page
    open_demo_page(page)
    snapshot = demo_snapshot()
    snapshot["comments"] = snapshot["comments"][:1]
    snapshot["count"] = 1
    push(page, {"op": "subscribed", "channel": ARTICLE, "epoch": "e9", "offset": 1,
                "recovered": False, "snapshot": snapshot})
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", "1")
    assert position(page) == {"epoch": "e9", "offset": 1}
    # Comments gone from the fresh state are gone from the page.
    expect(page.locator("#thread .cf-comment")).to_have_count(1)


def test_final_close_codes_stop_reconnecting(scripted_page: Page) -> None:
    page = scripted_page
    open_demo_page(page)
    page.evaluate("window.__ws.last.drop(4003)")
    expect(page.locator("#connection")).to_have_attribute("data-state", "stopped")
    assert page.evaluate("window.__ws.sockets.length") == 1


def test_a_silent_connection_is_declared_dead_and_replaced(scripted_page: Page) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    states = page.evaluate("""async (url) => {
      const { CommentFeed } = await import(url);
      const feed = new CommentFeed("ws://gateway.test/ws",
                                   {pingIntervalMs: 50, pongTimeoutMs: 100, initialBackoffMs: 20});
      const seen = [];
      feed.addEventListener("state", (e) => seen.push(e.detail.state));
      feed.connect();
      // The scripted server never answers the ping; wait for the second socket to open.
      const deadline = Date.now() + 5000;
      while (window.__ws.sockets.length < 2 || feed.state !== "live") {
        if (Date.now() > deadline) throw new Error("no reconnect: " + seen.join(","));
        await new Promise((r) => setTimeout(r, 10));
      }
      feed.close();
      return { seen, pings: window.__ws.sockets[0].sent.filter((f) => f.op === "ping").length };
    }""", CLIENT_URL)
    assert states["pings"] == 1
    assert states["seen"][:4] == ["connecting", "live", "reconnecting", "reconnecting"]
    assert states["seen"][-2:] == ["live", "stopped"]


def test_history_resolves_with_the_page_and_errors_reject(scripted_page: Page) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    result = page.evaluate("""async (url) => {
      const { CommentFeed } = await import(url);
      window.__ws.onFrame = (socket, f) => {
        if (f.op === "subscribe") socket.push({op: "subscribed", id: f.id, channel: f.channel,
            epoch: "e1", offset: 0, recovered: false, snapshot: {article: null, count: 0,
            comments: [], cursor: "k1"}});
        if (f.op === "history" && f.before === "k1") socket.push({op: "history", id: f.id,
            channel: f.channel, comments: [{comment_id: "old"}], cursor: null});
        if (f.op === "history" && f.before !== "k1") socket.push({op: "error", id: f.id,
            code: "bad_request", message: "bad cursor"});
      };
      const feed = new CommentFeed("ws://gateway.test/ws");
      const snap = new Promise((r) => feed.addEventListener("snapshot", r, { once: true }));
      feed.subscribe("article:a1");
      feed.connect();
      await snap;
      const page = await feed.history("article:a1", { before: "k1", limit: 10 });
      let error = null;
      try { await feed.history("article:a1", { before: "zz" }); } catch (e) { error = e.code; }
      const sent = window.__ws.last.sent.filter((f) => f.op === "history")[0];
      feed.close();
      return { page, error, sent };
    }""", CLIENT_URL)
    assert result["page"] == {"comments": [{"comment_id": "old"}], "cursor": None}
    assert result["error"] == "bad_request"
    assert {k: result["sent"][k] for k in ("channel", "before", "limit")} == {
        "channel": "article:a1", "before": "k1", "limit": 10}


# -- the widgets against a scripted socket ------------------------------------------------------


def test_thread_nests_three_deep_and_heading_and_sidebar_render(scripted_page: Page) -> None:
    page = scripted_page
    open_demo_page(page)
    expect(page.locator("#comments-heading")).to_have_text(
        "4 Comments on “Harbour Bridge Reopens After Two-Year Rebuild; Tolls Stay Frozen”")
    deepest = page.locator(
        "#thread .cf-comments > #comment-c-1001 > .cf-replies > #comment-c-1002"
        " > .cf-replies > #comment-c-1003")
    expect(deepest).to_have_count(1)
    expect(page.locator("#recent li")).to_have_text(
        ["Amara_T: The dumpling stall by the east steps is back…"])
    expect(page.locator("#login-required")).to_have_text("You must be logged in to post a comment.")


def test_new_comments_wait_behind_the_button_and_apply_in_order(scripted_page: Page) -> None:
    page = scripted_page
    open_demo_page(page)
    push(page, update(5, "comment.added", comment("c-9001", "First new one", minute=1)))
    push(page, update(6, "comment.added",
                      comment("c-9002", "A reply to it", parent_id="c-9001", minute=2)))
    expect(page.locator(".cf-new")).to_have_text("2 new comments")
    expect(page.locator("#comment-c-9001")).to_have_count(0)
    # Removed while still waiting: it leaves the queue.
    push(page, update(7, "comment.removed",
                      {"comment_id": "c-9002", "article_id": LEAD_ARTICLE_ID, "reason": "hidden"}))
    expect(page.locator(".cf-new")).to_have_text("1 new comment")
    page.locator(".cf-new").click()
    expect(page.locator(".cf-new")).to_be_hidden()
    expect(page.locator("#thread .cf-comments > li").last).to_have_id("comment-c-9001")
    # Scores and edits apply in place; a removal takes the comment away.
    push(page, update(8, "comment.score",
                      {"comment_id": "c-1004", "article_id": LEAD_ARTICLE_ID, "score": 3}))
    edited = {**comment("c-1004", "Edited: the cycle lane is great",
                        author=("u-petra", "Petra S.")),
              "edited_at": "2026-03-14T12:00:00Z", "score": 3}
    push(page, update(9, "comment.updated", edited))
    expect(page.locator("#comment-c-1004 .cf-score")).to_have_text("3")
    expect(page.locator("#comment-c-1004 .cf-text")).to_have_text("Edited: the cycle lane is great")
    expect(page.locator("#comment-c-1004 .cf-edited")).to_be_visible()
    push(page, update(10, "comment.removed",
                      {"comment_id": "c-1004", "article_id": LEAD_ARTICLE_ID, "reason": "deleted"}))
    expect(page.locator("#comment-c-1004")).to_have_count(0)


def test_a_removed_parent_keeps_a_placeholder_for_its_replies(scripted_page: Page) -> None:
    page = scripted_page
    open_demo_page(page)
    push(page, update(5, "comment.removed",
                      {"comment_id": "c-1002", "article_id": LEAD_ARTICLE_ID, "reason": "hidden"}))
    expect(page.locator("#comment-c-1002")).to_have_class("cf-comment cf-tombstone")
    expect(page.locator("#comment-c-1002 > .cf-card .cf-text")).to_have_text(
        "This comment was removed.")
    expect(page.locator("#comment-c-1002 #comment-c-1003")).to_have_count(1)
    # Once the last reply goes, the placeholder goes too.
    push(page, update(6, "comment.removed",
                      {"comment_id": "c-1003", "article_id": LEAD_ARTICLE_ID, "reason": "deleted"}))
    expect(page.locator("#comment-c-1002")).to_have_count(0)
    expect(page.locator("#comment-c-1001")).to_have_count(1)


def test_load_older_pages_back_and_rehomes_orphaned_replies(scripted_page: Page) -> None:
    page = scripted_page
    snapshot = demo_snapshot()
    first, *rest = snapshot["comments"]
    snapshot["comments"] = rest  # c-1001 is older than the snapshot window
    snapshot["cursor"] = "before-c-1002"
    open_demo_page(page, snapshot, history={"comments": [first], "cursor": None})
    expect(page.locator("#comment-c-1002 > .cf-card .cf-orphan-note")).to_be_visible()
    page.locator(".cf-older").click()
    expect(page.locator("#comment-c-1001 > .cf-replies > #comment-c-1002")).to_have_count(1)
    expect(page.locator("#comment-c-1002 > .cf-card .cf-orphan-note")).to_be_hidden()
    expect(page.locator(".cf-older")).to_be_hidden()
    sent = page.evaluate("window.__ws.last.sent.filter(f => f.op === 'history')")
    assert [(f["before"], f["channel"]) for f in sent] == [("before-c-1002", ARTICLE)]


def test_comment_text_is_text_even_when_it_looks_like_html(scripted_page: Page) -> None:
    page = scripted_page
    open_demo_page(page)
    body = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> <b>bold</b>'
    hostile = comment("c-6666", body, author=("u-evil", "<i>Mallory</i>"))
    push(page, update(5, "comment.added", hostile))
    push(page, update(5, "recent", {"site": "demo", "items": [{
        "comment_id": "c-6666", "article_id": LEAD_ARTICLE_ID, "author_name": "<i>Mallory</i>",
        "excerpt": body, "posted_at": "2026-03-14T11:00:00Z"}]}, channel="recent:demo"))
    page.locator(".cf-new").click()
    expect(page.locator("#comment-c-6666 .cf-text")).to_have_text(body)
    expect(page.locator("#comment-c-6666 .cf-author")).to_have_text("<i>Mallory</i>")
    expect(page.locator("#recent li").first).to_have_text(f"<i>Mallory</i>: {body}")
    assert page.evaluate("window.__pwned === undefined")
    injected = "#thread img, #thread script, #thread b, #recent img, #recent i"
    assert page.locator(injected).count() == 0


def test_a_closed_article_takes_the_reply_box_away(scripted_page: Page) -> None:
    page = scripted_page
    open_demo_page(page)
    expect(page.locator("#login-area")).to_be_visible()
    article = {**demo_snapshot()["article"], "closed": True}
    push(page, update(5, "article", article))
    expect(page.locator("#closed-notice")).to_be_visible()
    expect(page.locator("#login-area")).to_be_hidden()


def test_the_reply_form_returns_when_its_comment_is_removed(scripted_page: Page) -> None:
    page = scripted_page
    page.add_init_script(script="""sessionStorage.setItem("commentfeed.session", JSON.stringify(
        {token: "t", user: {id: "u-nadia", name: "Nadia", role: "moderator"}}));""")
    open_demo_page(page)
    expect(page.locator("#comment-c-1004 .cf-hide")).to_be_visible()  # moderator controls
    page.locator("#comment-c-1003 > .cf-card .cf-reply").click()
    expect(page.locator("#comment-c-1003 > .cf-reply-slot #comment-form")).to_be_visible()
    push(page, update(5, "comment.removed",
                      {"comment_id": "c-1003", "article_id": LEAD_ARTICLE_ID, "reason": "hidden"}))
    expect(page.locator("#respond > #comment-form")).to_be_visible()
    expect(page.locator("#replying")).to_be_hidden()


def test_the_reply_form_stays_under_its_comment_across_a_fresh_snapshot(
    scripted_page: Page,
) -> None:
    page = scripted_page
    page.add_init_script(script="""sessionStorage.setItem("commentfeed.session", JSON.stringify(
        {token: "t", user: {id: "u-nadia", name: "Nadia", role: "reader"}}));""")
    open_demo_page(page)
    page.locator("#comment-c-1004 > .cf-card .cf-reply").click()
    page.locator("#comment-body").fill("half-written reply")
    push(page, {"op": "subscribed", "channel": ARTICLE, "epoch": "e2", "offset": 1,
                "recovered": False, "snapshot": demo_snapshot()})
    expect(page.locator("#comment-c-1004 > .cf-reply-slot #comment-form")).to_be_visible()
    expect(page.locator("#comment-body")).to_have_value("half-written reply")


def test_count_only_heading_uses_the_light_count_channel(scripted_page: Page) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    result = page.evaluate("""async ([clientUrl, widgetsUrl]) => {
      const { CommentFeed } = await import(clientUrl);
      const { CommentCount } = await import(widgetsUrl);
      window.__ws.onFrame = (socket, f) => {
        if (f.op === "subscribe") socket.push({op: "subscribed", id: f.id, channel: f.channel,
            epoch: "e1", offset: 7, recovered: false, snapshot: {article_id: "a1", count: 1}});
      };
      const heading = document.createElement("h2");
      const feed = new CommentFeed("ws://gateway.test/ws");
      new CommentCount(heading, feed, { articleId: "a1", title: "Night buses", countOnly: true });
      const snap = new Promise((r) => feed.addEventListener("snapshot", r, { once: true }));
      feed.connect();
      await snap;
      const first = heading.textContent;
      window.__ws.last.push({op: "update", channel: "count:a1", epoch: "e1", offset: 8,
                             type: "count", data: {article_id: "a1", count: 2}});
      const channels = window.__ws.last.sent.map((f) => f.channel);
      feed.close();
      return { first, second: heading.textContent, channels };
    }""", [CLIENT_URL, f"{TEST_ORIGIN}/widgets.js"])
    assert result == {"first": "1 Comment on “Night buses”",
                      "second": "2 Comments on “Night buses”", "channels": ["count:a1"]}
