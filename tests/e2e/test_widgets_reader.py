"""The reader's side of the widgets in Chromium, against the scripted socket.

Styles that stay inside the widgets, light and dark themes, polite announcements and keyboard
reach, sort orders, permalinks, votes that survive a reload, and one thread whether it was seen
live or loaded from a snapshot. The socket is scripted (scripted_socket.js); the page is the
real demo page and the real widget modules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from commentfeed.demo_data import LEAD_ARTICLE_ID
from tests.e2e.conftest import TEST_ORIGIN, PageFactory, make_scripted
from tests.e2e.scripted import (
    comment,
    demo_snapshot,
    open_demo_page,
    push,
    start_demo_page,
    update,
)

pytestmark = pytest.mark.e2e

WIDGETS_CSS = f"{TEST_ORIGIN}/widgets.css"
LOGGED_IN = """sessionStorage.setItem("commentfeed.session", JSON.stringify(
    {token: "t", user: {id: "%s", name: "%s", role: "reader"}}));"""


def top_level(page: Page) -> list[str]:
    ids: list[str] = page.locator("#thread .cf-comments > .cf-comment").evaluate_all(
        "(items) => items.map((li) => li.dataset.commentId)")
    return ids


def thread_shape(page: Page) -> list[Any]:
    """The thread as nested [id, removed?, [replies…]]: what a reader sees, minus the words."""
    shape: list[Any] = page.evaluate("""() => {
      const walk = (list) => [...list.children].map((li) => [li.dataset.commentId,
          li.classList.contains("cf-tombstone"), walk(li.querySelector(":scope > .cf-replies"))]);
      return walk(document.querySelector("#thread .cf-comments"));
    }""")
    return shape


def accept_api_calls(page: Page) -> list[str]:
    """The ingest API as a stand-in answering 202 to every call; returns the writes called (a
    read, the reader's votes at load, gets an answer without votes: the cache stays)."""
    calls: list[str] = []

    def handle(route: Route) -> None:
        if route.request.method != "GET":
            calls.append(f"{route.request.method} {route.request.url.removeprefix(TEST_ORIGIN)}")
        route.fulfill(status=202, content_type="application/json", body='{"accepted": true}')

    page.route(f"{TEST_ORIGIN}/v1/**", handle)
    return calls


# -- styles that stay inside the widgets --------------------------------------------------------


def test_widget_styles_only_select_inside_a_widget_root(scripted_page: Page) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    # The host page's own look, measured before and after the widget stylesheet arrives.
    page.evaluate("""() => { document.body.insertAdjacentHTML("beforeend",
        '<p id="host-text">Host text <a id="host-link" href="/x">a link</a></p>'
        + '<button id="host-button">host</button><div id="host-box"></div>'); }""")
    probe = """() => {
      const style = (id) => getComputedStyle(document.getElementById(id));
      return {body: [getComputedStyle(document.body).margin, getComputedStyle(document.body).color,
                     getComputedStyle(document.body).fontFamily],
              link: style("host-link").color, button: style("host-button").font,
              box: style("host-box").boxSizing,
              root: getComputedStyle(document.documentElement).colorScheme};
    }"""
    before = page.evaluate(probe)
    selectors: list[str] = page.evaluate("""async (href) => {
      const link = Object.assign(document.createElement("link"), {rel: "stylesheet", href});
      await new Promise((ok, fail) => { link.onload = ok; link.onerror = fail;
                                        document.head.append(link); });
      const out = [];
      const walk = (rules) => { for (const rule of rules) {
        if (rule.selectorText) out.push(...rule.selectorText.split(",").map((s) => s.trim()));
        else if (rule.cssRules) walk(rule.cssRules);
      } };
      walk(link.sheet.cssRules);
      return out;
    }""", WIDGETS_CSS)
    assert page.evaluate(probe) == before
    assert len(selectors) > 40
    # Every selector is anchored at a widget root (keyframe steps are not selectors).
    unscoped = [s for s in selectors if ".cf-widget" not in s]
    assert unscoped == []


def theme_probe(page: Page, *, root_attr: str | None = None, html_attr: str | None = None) -> str:
    """The background a widget root paints under the given theme attributes."""
    colour: str = page.evaluate("""async ([href, rootAttr, htmlAttr]) => {
      if (!document.querySelector("link[data-probe]")) {
        const link = Object.assign(document.createElement("link"), {rel: "stylesheet", href});
        link.dataset.probe = "1";
        await new Promise((ok, fail) => { link.onload = ok; link.onerror = fail;
                                          document.head.append(link); });
      }
      if (htmlAttr) document.documentElement.dataset.cfTheme = htmlAttr;
      else delete document.documentElement.dataset.cfTheme;
      const root = document.createElement("div");
      root.className = "cf-widget cf-thread";
      if (rootAttr) root.dataset.cfTheme = rootAttr;
      document.body.append(root);
      const colour = getComputedStyle(root).backgroundColor;
      root.remove();
      return colour;
    }""", [WIDGETS_CSS, root_attr, html_attr])
    return colour


LIGHT_BG = "rgba(0, 0, 0, 0)"
DARK_BG = "rgb(23, 24, 27)"


def test_dark_theme_follows_the_preference_and_an_explicit_attribute_pins_one(
    scripted_page: Page,
) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    page.emulate_media(color_scheme="light")
    assert theme_probe(page) == LIGHT_BG
    assert theme_probe(page, html_attr="dark") == DARK_BG
    assert theme_probe(page, root_attr="dark") == DARK_BG
    page.emulate_media(color_scheme="dark")
    assert theme_probe(page) == DARK_BG
    assert theme_probe(page, html_attr="light") == LIGHT_BG
    # The root's own attribute is nearer than the page's, and wins.
    assert theme_probe(page, html_attr="dark", root_attr="light") == LIGHT_BG
    assert theme_probe(page, html_attr="light", root_attr="dark") == DARK_BG


def test_a_host_themes_the_widgets_through_custom_properties(scripted_page: Page) -> None:
    page = scripted_page
    page.add_init_script(script="""document.addEventListener("DOMContentLoaded", () => {
      const style = document.createElement("link");
      style.rel = "stylesheet"; style.href = "data:text/css,"
        + encodeURIComponent("#comments { --cf-link: rgb(1, 2, 3); --cf-ink: rgb(4, 5, 6); }");
      document.head.append(style);
    });""")
    open_demo_page(page)
    push(page, update(5, "comment.added", comment("c-9001", "New", minute=1)))
    expect(page.locator(".cf-new")).to_have_css("background-color", "rgb(1, 2, 3)")
    expect(page.locator("#comment-c-1001 > .cf-card .cf-author")).to_have_css(
        "color", "rgb(4, 5, 6)")


# -- accessibility ------------------------------------------------------------------------------


def test_new_comments_are_announced_politely_and_focus_moves_to_them(
    scripted_page: Page,
) -> None:
    page = scripted_page
    open_demo_page(page)
    announcer = page.locator("#thread .cf-announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")
    expect(announcer).to_have_attribute("role", "status")
    push(page, update(5, "comment.added", comment("c-9001", "First new one", minute=1)))
    expect(announcer).to_have_text("1 new comment")
    push(page, update(6, "comment.added", comment("c-9002", "Second new one", minute=2)))
    expect(announcer).to_have_text("2 new comments")
    # Keyboard only: the button is a real button, Enter shows the comments, and the focus
    # lands on the first of them instead of falling back to the page.
    page.locator(".cf-new").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#comment-c-9001 > .cf-card")).to_be_focused()
    expect(page.locator(".cf-new")).to_be_hidden()


def test_every_control_is_a_button_or_link_reached_with_tab_and_visibly_focused(
    scripted_page: Page,
) -> None:
    page = scripted_page
    page.add_init_script(script=LOGGED_IN % ("u-nadia", "Nadia"))
    open_demo_page(page)
    controls = page.locator("#thread button:visible, #thread a[href]:visible")
    expected = controls.evaluate_all("(nodes) => nodes.map((n) => n.className || n.tagName)")
    assert page.locator("#thread [onclick], #thread [tabindex='0']").count() == 0
    # Tab from the first sort button through the whole thread, in document order.
    page.locator("#thread .cf-sort button").first.focus()
    page.keyboard.press("Shift+Tab")
    reached: list[dict[str, str]] = []
    for _ in range(len(expected) + 1):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
          const node = document.activeElement;
          return {inThread: Boolean(node.closest("#thread")),
                  name: node.className || node.tagName,
                  outline: getComputedStyle(node).outlineStyle};
        }""")
        if not focused["inThread"]:
            break
        reached.append(focused)
    assert [r["name"] for r in reached] == expected
    assert {r["outline"] for r in reached} == {"solid"}
    assert "cf-vote-up" in expected
    assert "cf-action cf-reply" in expected
    assert "cf-permalink" in expected


def test_the_inline_editor_works_from_the_keyboard(scripted_page: Page) -> None:
    page = scripted_page
    calls = accept_api_calls(page)
    page.add_init_script(script=LOGGED_IN % ("u-petra", "Petra S."))
    open_demo_page(page)
    text = page.locator("#comment-c-1004 > .cf-card .cf-text")
    edit = page.locator("#comment-c-1004 > .cf-card .cf-edit")
    original = text.inner_text()
    edit.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#comment-c-1004 .cf-edit-body")).to_be_focused()
    page.keyboard.type(" And a second thought.")
    page.keyboard.press("Escape")
    expect(text).to_have_text(original)
    expect(edit).to_be_focused()
    # Again, and save with Tab + Enter: the edit goes to the API, the focus back to Edit.
    page.keyboard.press("Enter")
    page.keyboard.type(" Edited.")
    page.keyboard.press("Tab")
    expect(page.locator("#comment-c-1004 .cf-save")).to_be_focused()
    page.keyboard.press("Enter")
    expect(text).to_have_text(f"{original} Edited.")
    expect(edit).to_be_focused()
    assert calls == ["PATCH /v1/comments/c-1004"]


# -- sort orders --------------------------------------------------------------------------------


def scored(comment_id: str, minute: int, score: int,
           parent_id: str | None = None) -> dict[str, Any]:
    return {**comment(comment_id, f"comment {comment_id}", minute=minute, parent_id=parent_id),
            "score": score}


SORT_SNAPSHOT = {
    **demo_snapshot(),
    "count": 4,
    "comments": [scored("a", 1, 0), scored("b", 2, 5), scored("c", 3, 2),
                 scored("r", 4, 9, parent_id="a")],
    "cursor": "older-than-a",
}


def older_button_position(page: Page) -> str:
    where: str = page.evaluate("""() => {
      const older = document.querySelector("#thread .cf-older");
      return older.nextElementSibling?.classList.contains("cf-comments") ? "above" : "below";
    }""")
    return where


def test_sort_orders_reorder_top_level_comments_and_keep_replies_in_order(
    scripted_page: Page,
) -> None:
    page = scripted_page
    open_demo_page(page, SORT_SNAPSHOT)
    expect(page.locator("#thread .cf-sort [aria-pressed=true]")).to_have_text("Oldest")
    assert top_level(page) == ["a", "b", "c"]
    assert older_button_position(page) == "above"
    expect(page.locator("#thread .cf-older")).to_have_text("Load older comments")

    page.locator("#thread .cf-sort button", has_text="Newest").click()
    assert top_level(page) == ["c", "b", "a"]
    assert older_button_position(page) == "below"
    expect(page.locator("#thread .cf-older")).to_have_text("Load more comments")

    page.locator("#thread .cf-sort button", has_text="Best").click()
    expect(page.locator("#thread .cf-sort [aria-pressed=true]")).to_have_text("Best")
    assert top_level(page) == ["b", "c", "a"]
    # The reply keeps its place under its parent whatever the order (its 9 points do not lift it).
    expect(page.locator("#comment-a > .cf-replies > #comment-r")).to_have_count(1)


def test_best_asks_the_server_for_the_best_comments_beyond_the_loaded_pages(
    scripted_page: Page,
) -> None:
    page = scripted_page
    best = {"comments": [{**scored("far", 0, 8), "posted_at": "2026-03-14T08:00:00+00:00"},
                         scored("b", 2, 5), scored("c", 3, 2)],
            "cursor": None, "floor": 0}
    page.add_init_script(script=f"window.__best = {json.dumps(best)};")
    open_demo_page(page, SORT_SNAPSHOT)
    assert "far" not in top_level(page)  # Oldest: only the loaded pages
    page.locator("#thread .cf-sort button", has_text="Best").click()
    expect(page.locator("#thread .cf-thread")).to_have_attribute("data-best", "loaded")
    # Far older than the snapshot, it ranks first; the rest were loaded already.
    assert top_level(page) == ["far", "b", "c", "a"]
    expect(page.locator("#comment-far > .cf-card .cf-score")).to_have_text("8")
    best_asked = page.evaluate("window.__ws.sentOps('history').filter((f) => f.sort)")
    assert [{k: v for k, v in f.items() if k != "id"} for f in best_asked] == [
        {"op": "history", "channel": f"article:{LEAD_ARTICLE_ID}", "limit": 100, "sort": "best"}]


@pytest.mark.parametrize(("sort", "after"), [
    ("newest", ["n", "c", "b", "a"]),
    ("oldest", ["a", "b", "c", "n"]),
    ("best", ["b", "c", "n", "a"]),
])
def test_every_sort_holds_new_comments_behind_the_button_then_places_them(
    scripted_page: Page, sort: str, after: list[str],
) -> None:
    page = scripted_page
    open_demo_page(page, SORT_SNAPSHOT)
    page.locator("#thread .cf-sort button", has_text=sort.capitalize()).click()
    push(page, update(5, "comment.added", scored("n", 10, 0)))
    expect(page.locator(".cf-new")).to_have_text("1 new comment")
    assert "n" not in top_level(page)
    page.locator(".cf-new").click()
    expect(page.locator("#comment-n")).to_have_count(1)
    assert top_level(page) == after


def test_a_score_change_does_not_move_comments_until_the_reader_sorts_again(
    scripted_page: Page,
) -> None:
    page = scripted_page
    open_demo_page(page, SORT_SNAPSHOT)
    page.locator("#thread .cf-sort button", has_text="Best").click()
    push(page, update(5, "comment.score", {"comment_id": "a", "article_id": LEAD_ARTICLE_ID,
                                           "score": 7}))
    expect(page.locator("#comment-a > .cf-card .cf-score")).to_have_text("7")
    assert top_level(page) == ["b", "c", "a"]
    page.locator("#thread .cf-sort button", has_text="Best").click()
    assert top_level(page) == ["a", "b", "c"]


def test_the_chosen_sort_survives_a_reload_and_older_pages_join_in_order(
    scripted_page: Page,
) -> None:
    page = scripted_page
    older = [{**scored("z2", 0, 1), "posted_at": "2026-03-14T10:59:00+00:00"},
             {**scored("z1", 0, 3), "posted_at": "2026-03-14T10:58:00+00:00"}]
    history = {"comments": older, "cursor": None}
    open_demo_page(page, SORT_SNAPSHOT, history=history)
    page.locator("#thread .cf-sort button", has_text="Newest").click()
    page.reload()
    expect(page.locator("#thread .cf-comment")).to_have_count(4)
    expect(page.locator("#thread .cf-sort [aria-pressed=true]")).to_have_text("Newest")
    assert top_level(page) == ["c", "b", "a"]
    page.locator("#thread .cf-older").click()
    expect(page.locator("#thread .cf-older")).to_be_hidden()
    assert top_level(page) == ["c", "b", "a", "z2", "z1"]


# -- permalinks ---------------------------------------------------------------------------------


def long_thread() -> dict[str, Any]:
    """Forty comments, so that most of them start below the fold, and more before them."""
    comments = [{**comment(f"c-{n:04d}", f"Comment number {n}", minute=n % 60),
                 "posted_at": f"2026-03-14T1{n // 60 + 1}:{n % 60:02d}:00+00:00"}
                for n in range(40)]
    return {**demo_snapshot(), "count": 42, "comments": comments, "cursor": "before-c-0000"}


OLDER_PAGE = {"comments": [
    {**comment("c-old2", "An older comment", minute=5), "posted_at": "2026-03-14T09:05:00+00:00"},
    {**comment("c-old1", "The oldest comment", minute=1), "posted_at": "2026-03-14T09:01:00+00:00"},
], "cursor": None}


def test_permalink_fragments_name_a_comment_id_or_nothing(scripted_page: Page) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    ids = page.evaluate("""async (url) => {
      const { permalinkId } = await import(url);
      return ["#comment-c-1001", "#comment-a.b_c-9", "#comment-", "#comment-a b", "#c-1001",
              "#comment-" + "x".repeat(65), "#comment-x\\n", "", null].map(permalinkId);
    }""", f"{TEST_ORIGIN}/widgets.js")
    assert ids == ["c-1001", "a.b_c-9", None, None, None, None, None, None, None]


def test_a_permalink_pages_older_comments_in_scrolls_and_highlights(scripted_page: Page) -> None:
    page = scripted_page
    start_demo_page(page, long_thread(), history=OLDER_PAGE, path="/#comment-c-old1")
    target = page.locator("#comment-c-old1")
    expect(target).to_have_class("cf-comment cf-target")
    expect(target).to_be_in_viewport()
    expect(target.locator(":scope > .cf-card")).to_be_focused()
    sent = page.evaluate("window.__ws.last.sent.filter(f => f.op === 'history')")
    assert [f["before"] for f in sent] == ["before-c-0000"]

    # A link within the page (the time of each comment is its permalink) moves the highlight.
    page.locator("#comment-c-0002 .cf-permalink").click()
    expect(page.locator("#comment-c-0002")).to_have_class("cf-comment cf-target")
    expect(target).to_have_class("cf-comment")
    assert page.evaluate("location.hash") == "#comment-c-0002"
    page.evaluate("location.hash = '#comment-c-0039'")
    expect(page.locator("#comment-c-0039")).to_have_class("cf-comment cf-target")
    expect(page.locator("#comment-c-0039")).to_be_in_viewport()


def test_a_permalink_to_a_comment_that_is_gone_says_so(scripted_page: Page) -> None:
    page = scripted_page
    start_demo_page(page, long_thread(), history=OLDER_PAGE, path="/#comment-c-nowhere")
    expect(page.locator("#thread .cf-thread")).to_have_attribute("data-permalink", "missing")
    expect(page.locator("#thread .cf-announcer")).to_have_text(
        "The linked comment is not available.")
    expect(page.locator("#thread .cf-older")).to_be_hidden()  # it paged to the very start


def test_a_permalink_to_a_comment_behind_the_button_shows_it(scripted_page: Page) -> None:
    page = scripted_page
    open_demo_page(page)
    push(page, update(5, "comment.added", comment("c-9001", "Just arrived", minute=1)))
    expect(page.locator(".cf-new")).to_be_visible()
    page.evaluate("location.hash = '#comment-c-9001'")
    expect(page.locator("#comment-c-9001")).to_have_class("cf-comment cf-fresh cf-target")
    expect(page.locator(".cf-new")).to_be_hidden()


# -- the reader's own votes ---------------------------------------------------------------------


def test_the_readers_votes_survive_a_reload_and_belong_to_her(open_page: PageFactory) -> None:
    page = make_scripted(open_page())
    calls = accept_api_calls(page)
    page.add_init_script(script=LOGGED_IN % ("u-nadia", "Nadia"))
    open_demo_page(page)
    up = page.locator("#comment-c-1001 > .cf-card .cf-vote-up")
    down = page.locator("#comment-c-1004 > .cf-card .cf-vote-down")
    up.click()
    down.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-pressed", "true")
    assert calls == ["POST /v1/comments/c-1001/vote", "POST /v1/comments/c-1004/vote"]

    page.reload()
    expect(page.locator("#thread .cf-comment")).to_have_count(4)
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#comment-c-1001 > .cf-card .cf-vote-down")).to_have_attribute(
        "aria-pressed", "false")
    stored = json.loads(page.evaluate("localStorage.getItem('commentfeed.votes:u-nadia')"))
    assert stored == [["c-1001", 1], ["c-1004", -1]]

    # Pressed again, the vote is withdrawn, and that is remembered too.
    up.click()
    expect(up).to_have_attribute("aria-pressed", "false")
    page.reload()
    expect(page.locator("#thread .cf-comment")).to_have_count(4)
    expect(up).to_have_attribute("aria-pressed", "false")
    expect(down).to_have_attribute("aria-pressed", "true")

    # Another reader on the same browser does not inherit them.
    page.evaluate("""() => window.commentfeed.thread.setViewer(
        {id: "u-other", name: "Other", role: "reader"})""")
    expect(down).to_have_attribute("aria-pressed", "false")


def test_votes_the_site_knows_come_with_the_page(scripted_page: Page) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    pressed = page.evaluate("""async ([clientUrl, widgetsUrl, snapshot]) => {
      const { CommentFeed } = await import(clientUrl);
      const { LiveThread } = await import(widgetsUrl);
      window.__ws.onFrame = (socket, f) => {
        if (f.op === "subscribe") socket.push({op: "subscribed", id: f.id, channel: f.channel,
            epoch: "e1", offset: 1, recovered: false, snapshot});
      };
      const feed = new CommentFeed("ws://gateway.test/ws");
      const host = document.createElement("div");
      document.body.append(host);
      new LiveThread(host, feed, {articleId: snapshot.article.article_id, storage: null,
                                  viewer: {id: "u-nadia", name: "Nadia", role: "reader"},
                                  votes: {"c-1001": 1, "c-1004": -1}});
      const shown = new Promise((r) => feed.addEventListener("snapshot", r, { once: true }));
      feed.connect();
      await shown;
      const state = (sel) => host.querySelector(sel).getAttribute("aria-pressed");
      return [state("#comment-c-1001 > .cf-card .cf-vote-up"),
              state("#comment-c-1004 > .cf-card .cf-vote-down"),
              state("#comment-c-1002 > .cf-card .cf-vote-up"), localStorage.length];
    }""", [f"{TEST_ORIGIN}/commentfeed.js", f"{TEST_ORIGIN}/widgets.js", demo_snapshot()])
    assert pressed == ["true", "true", "false", 0]


MY_VOTES = """async ([clientUrl, widgetsUrl, snapshot]) => {
  const { CommentFeed } = await import(clientUrl);
  const { LiveThread } = await import(widgetsUrl);
  window.__ws.onFrame = (socket, f) => {
    if (f.op === "subscribe") socket.push({op: "subscribed", id: f.id, channel: f.channel,
        epoch: "e1", offset: 1, recovered: false, snapshot});
  };
  localStorage.setItem("commentfeed.votes:u-nadia",
                       JSON.stringify([["c-1002", 1], ["c-1003", -1]]));
  const asked = new Promise((r) => { window.__answerVotes = r; });
  const feed = new CommentFeed("ws://gateway.test/ws");
  const host = document.createElement("div");
  document.body.append(host);
  const thread = new LiveThread(host, feed, {articleId: snapshot.article.article_id,
      viewer: {id: "u-nadia", name: "Nadia", role: "reader"},
      actions: {vote: async () => ({}), myVotes: () => asked}});
  const shown = new Promise((r) => feed.addEventListener("snapshot", r, { once: true }));
  feed.connect();
  await shown;
  const pressed = (id, arrow) => host.querySelector(`#comment-${id} > .cf-card .cf-vote-${arrow}`)
      .getAttribute("aria-pressed") === "true";
  const state = () => Object.fromEntries(["c-1001", "c-1002", "c-1003", "c-1004"].map(
      (id) => [id, pressed(id, "up") ? 1 : pressed(id, "down") ? -1 : 0]));
  const cached = state();
  // A vote cast while the answer is on its way is newer than the answer.
  const until = (done) => new Promise((r) => {
    const poll = () => done() ? r() : setTimeout(poll, 10);
    poll();
  });
  host.querySelector("#comment-c-1001 > .cf-card .cf-vote-down").click();
  await until(() => pressed("c-1001", "down"));
  window.__answerVotes({"c-1001": 1, "c-1004": -1, "c-bad": 7});
  await until(() => host.querySelector(".cf-thread").dataset.votes === "loaded");
  return [cached, state(), JSON.parse(localStorage.getItem("commentfeed.votes:u-nadia"))];
}"""


def test_the_sites_answer_replaces_the_cached_votes(scripted_page: Page) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    cached, loaded, stored = page.evaluate(MY_VOTES, [
        f"{TEST_ORIGIN}/commentfeed.js", f"{TEST_ORIGIN}/widgets.js", demo_snapshot()])
    # Shown at once from the cache...
    assert cached == {"c-1001": 0, "c-1002": 1, "c-1003": -1, "c-1004": 0}
    # ...then the site's answer replaces it: c-1002 and c-1003 were withdrawn elsewhere; the
    # vote cast meanwhile on c-1001 (-1) wins over the older answer (+1); nonsense is dropped.
    assert loaded == {"c-1001": -1, "c-1002": 0, "c-1003": 0, "c-1004": -1}
    assert sorted(stored) == [["c-1001", -1], ["c-1004", -1]]


def test_when_the_site_cannot_answer_the_cached_votes_stay(scripted_page: Page) -> None:
    page = scripted_page
    page.goto(f"{TEST_ORIGIN}/blank")
    kept = page.evaluate("""async ([clientUrl, widgetsUrl, snapshot]) => {
      const { CommentFeed } = await import(clientUrl);
      const { LiveThread } = await import(widgetsUrl);
      window.__ws.onFrame = (socket, f) => {
        if (f.op === "subscribe") socket.push({op: "subscribed", id: f.id, channel: f.channel,
            epoch: "e1", offset: 1, recovered: false, snapshot});
      };
      localStorage.setItem("commentfeed.votes:u-nadia", JSON.stringify([["c-1002", 1]]));
      const feed = new CommentFeed("ws://gateway.test/ws");
      const host = document.createElement("div");
      document.body.append(host);
      const thread = new LiveThread(host, feed, {articleId: snapshot.article.article_id,
          viewer: {id: "u-nadia", name: "Nadia", role: "reader"},
          actions: {myVotes: async () => { throw new Error("503"); }}});
      const shown = new Promise((r) => feed.addEventListener("snapshot", r, { once: true }));
      feed.connect();
      await shown;
      return [await thread.loadVotes(),
              host.querySelector("#comment-c-1002 > .cf-card .cf-vote-up")
                  .getAttribute("aria-pressed"),
              localStorage.getItem("commentfeed.votes:u-nadia")];
    }""", [f"{TEST_ORIGIN}/commentfeed.js", f"{TEST_ORIGIN}/widgets.js", demo_snapshot()])
    assert kept == [False, "true", '[["c-1002",1]]']


def test_a_failed_vote_is_not_remembered(scripted_page: Page) -> None:
    page = scripted_page
    page.route(f"{TEST_ORIGIN}/v1/**", lambda route: route.fulfill(
        status=429, content_type="application/json", body='{"detail": "slow down"}'))
    page.add_init_script(script=LOGGED_IN % ("u-nadia", "Nadia"))
    open_demo_page(page)
    up = page.locator("#comment-c-1001 > .cf-card .cf-vote-up")
    up.click()
    expect(up).to_be_enabled()
    expect(up).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#thread .cf-announcer")).to_have_text(
        "Your vote was not counted: Slow down a little and try again in a moment.")
    assert page.evaluate("localStorage.getItem('commentfeed.votes:u-nadia')") is None


# -- one thread, live or reloaded ---------------------------------------------------------------


def test_a_snapshot_keeps_a_placeholder_for_a_removed_parent_as_the_live_view_does(
    open_page: PageFactory,
) -> None:
    # Live: the page saw c-1002 removed while c-1003 hung off it.
    live = make_scripted(open_page())
    open_demo_page(live)
    push(live, update(5, "comment.removed",
                      {"comment_id": "c-1002", "article_id": LEAD_ARTICLE_ID, "reason": "hidden"}))
    expect(live.locator("#comment-c-1002")).to_have_class("cf-comment cf-tombstone")
    seen_live = thread_shape(live)

    # Reloaded: the streams' snapshot marks the removed comment as a placeholder.
    snapshot = demo_snapshot()
    snapshot["comments"][1] = {"comment_id": "c-1002", "article_id": LEAD_ARTICLE_ID,
                               "parent_id": "c-1001", "posted_at": "2026-03-14T09:42:00+00:00",
                               "removed": True}
    snapshot["count"] = 3
    reloaded = make_scripted(open_page())
    open_demo_page(reloaded, snapshot)
    assert thread_shape(reloaded) == seen_live == [
        ["c-1001", False, [["c-1002", True, [["c-1003", False, []]]]]],
        ["c-1004", False, []],
    ]
    card = reloaded.locator("#comment-c-1002 > .cf-card")
    expect(card.locator(".cf-text")).to_have_text("This comment was removed.")
    expect(card.locator(".cf-author")).to_be_hidden()
    expect(card.locator(".cf-vote-up")).to_be_hidden()


def test_without_a_placeholder_a_complete_snapshot_still_keeps_replies_together(
    scripted_page: Page,
) -> None:
    page = scripted_page
    snapshot = demo_snapshot()
    del snapshot["comments"][1]  # c-1002 removed; the snapshot just leaves it out
    snapshot["count"] = 3
    open_demo_page(page, snapshot, expect_count=4)
    placeholder = page.locator("#thread .cf-comments > #comment-c-1002")
    expect(placeholder).to_have_class("cf-comment cf-tombstone")
    expect(placeholder.locator(":scope > .cf-replies > #comment-c-1003")).to_have_count(1)
    expect(page.locator("#comment-c-1003 .cf-orphan-note")).to_be_hidden()
    # When the last reply goes, so does the placeholder, as live.
    push(page, update(5, "comment.removed",
                      {"comment_id": "c-1003", "article_id": LEAD_ARTICLE_ID, "reason": "deleted"}))
    expect(page.locator("#comment-c-1002")).to_have_count(0)


def test_a_reply_waits_as_in_reply_to_an_earlier_comment_until_the_history_ends(
    scripted_page: Page,
) -> None:
    page = scripted_page
    snapshot = demo_snapshot()
    snapshot["comments"] = snapshot["comments"][2:]  # c-1003 (reply to c-1002) and c-1004
    snapshot["cursor"] = "before-c-1003"
    # The older page has c-1001 but not c-1002, which was removed.
    history = {"comments": [demo_snapshot()["comments"][0]], "cursor": None}
    open_demo_page(page, snapshot, history=history)
    expect(page.locator("#comment-c-1003 > .cf-card .cf-orphan-note")).to_be_visible()
    page.locator(".cf-older").click()
    expect(page.locator("#comment-c-1002")).to_have_class("cf-comment cf-tombstone")
    expect(page.locator("#comment-c-1002 > .cf-replies > #comment-c-1003")).to_have_count(1)
    expect(page.locator("#comment-c-1003 > .cf-card .cf-orphan-note")).to_be_hidden()


def test_a_reply_that_waited_while_its_parent_was_removed_goes_under_a_placeholder(
    scripted_page: Page,
) -> None:
    page = scripted_page
    open_demo_page(page)
    push(page, update(5, "comment.added",
                      comment("c-9001", "Replying to Petra", parent_id="c-1004", minute=1)))
    push(page, update(6, "comment.removed",
                      {"comment_id": "c-1004", "article_id": LEAD_ARTICLE_ID, "reason": "deleted"}))
    expect(page.locator("#comment-c-1004")).to_have_count(0)  # nothing shown hung off it
    page.locator(".cf-new").click()
    expect(page.locator("#comment-c-1004")).to_have_class("cf-comment cf-tombstone")
    expect(page.locator("#comment-c-1004 > .cf-replies > #comment-c-9001")).to_have_count(1)


def test_a_placeholder_without_replies_is_not_shown(scripted_page: Page) -> None:
    page = scripted_page
    snapshot = demo_snapshot()
    snapshot["comments"].append({"comment_id": "c-gone", "article_id": LEAD_ARTICLE_ID,
                                 "parent_id": None, "posted_at": "2026-03-14T10:30:00+00:00",
                                 "removed": True})
    open_demo_page(page, snapshot, expect_count=4)
    expect(page.locator("#comment-c-gone")).to_have_count(0)


# -- screenshots --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshot_of_the_article_page_in_each_theme(
    open_page: PageFactory, scheme: str, screenshot_dir: Path,
) -> None:
    page = make_scripted(open_page(color_scheme=scheme))
    accept_api_calls(page)
    page.add_init_script(script=LOGGED_IN % ("u-nadia", "Nadia"))
    page.add_init_script(script="""localStorage.setItem("commentfeed.votes:u-nadia",
        JSON.stringify([["c-1001", 1]]));""")
    snapshot = demo_snapshot()
    for item, score in zip(snapshot["comments"], (4, 2, 3, 1), strict=True):
        item["score"] = score
    open_demo_page(page, snapshot)
    push(page, update(5, "comment.added", comment("c-9001", "Is the cycle lane open too?",
                                                  minute=20)))
    expect(page.locator(".cf-new")).to_have_text("1 new comment")
    dark = scheme == "dark"
    expect(page.locator("#thread .cf-thread")).to_have_css(
        "background-color", DARK_BG if dark else LIGHT_BG)
    path = screenshot_dir / f"widgets-{scheme}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
