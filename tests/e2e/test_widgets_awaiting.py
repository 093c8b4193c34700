"""The author's own comment awaiting moderation, in the demo page against a scripted socket and a
stand-in ingest API that answers a post with status "pending": shown only to its author, kept
across a reload, an ordinary comment once it arrives approved, gone if it is removed."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, Route, expect

from commentfeed.demo_data import LEAD_ARTICLE_ID
from tests.e2e.conftest import TEST_ORIGIN, PageFactory, make_scripted
from tests.e2e.scripted import comment, open_demo_page, push, update

pytestmark = pytest.mark.e2e

LOGGED_IN = """sessionStorage.setItem("commentfeed.session", JSON.stringify(
    {token: "t", user: {id: "%s", name: "%s", role: "reader"}}));"""
AWAITING = "#thread .cf-comment.cf-awaiting"


def pending_answers(page: Page, *ids: str) -> None:
    """The ingest API's 202 for new comments, each held for a moderator, with these ids."""
    left = list(ids)

    def handle(route: Route) -> None:
        if route.request.method == "GET":  # the reader's votes at load: none
            route.fulfill(status=200, content_type="application/json", body=json.dumps(
                {"article_id": LEAD_ARTICLE_ID, "votes": {}}))
            return
        route.fulfill(status=202, content_type="application/json", body=json.dumps({
            "event_id": "e", "event_type": "comment.posted", "article_id": LEAD_ARTICLE_ID,
            "comment_id": left.pop(0), "status": "pending", "topic": "comments",
            "partition": 0, "offset": 1}))

    page.route(f"{TEST_ORIGIN}/v1/articles/**", handle)


def post(page: Page, body: str) -> None:
    page.locator("#comment-body").fill(body)
    page.locator("#post-comment").click()


def test_a_held_comment_shows_to_its_author_only_until_approved(open_page: PageFactory) -> None:
    page = make_scripted(open_page())
    pending_answers(page, "c-held")
    page.add_init_script(script=LOGGED_IN % ("u-ann", "Ann"))
    open_demo_page(page)
    post(page, "Held for a moderator")
    expect(page.locator("#post-status")).to_have_text(
        "Posted: your comment is awaiting moderation.")
    mine = page.locator("#comment-c-held")
    expect(mine).to_have_class(re.compile(r"\bcf-awaiting\b"))
    expect(mine.locator(".cf-awaiting-note")).to_have_text("awaiting moderation")
    expect(mine.locator(".cf-text")).to_have_text("Held for a moderator")
    # No votes, no reply on something readers cannot see; the count does not include it.
    expect(mine.locator(".cf-actions button")).to_have_count(0)
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", "4")

    page.reload()
    expect(page.locator("#thread .cf-comment")).to_have_count(5)
    expect(page.locator(AWAITING)).to_have_count(1)

    # Another user on the same tab does not see it.
    page.evaluate("""() => window.commentfeed.thread.setViewer(
        {id: "u-other", name: "Other", role: "reader"})""")
    expect(page.locator(AWAITING)).to_have_count(0)
    page.evaluate("""() => window.commentfeed.thread.setViewer(
        {id: "u-ann", name: "Ann", role: "reader"})""")
    expect(page.locator(AWAITING)).to_have_count(1)

    # Approved: it arrives as comment.added and stays, in place, as an ordinary comment.
    approved = comment("c-held", "Held for a moderator", author=("u-ann", "Ann"), minute=30)
    push(page, update(5, "comment.added", approved))
    expect(page.locator(AWAITING)).to_have_count(0)
    expect(page.locator("#comment-c-held .cf-awaiting-note")).to_be_hidden()
    expect(page.locator("#comment-c-held .cf-reply")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('commentfeed.awaiting:u-ann')") is None


def test_a_removed_held_comment_loses_its_mark_and_a_reader_never_sees_one(
    open_page: PageFactory,
) -> None:
    page = make_scripted(open_page())
    pending_answers(page, "c-held")
    page.add_init_script(script=LOGGED_IN % ("u-ann", "Ann"))
    open_demo_page(page)
    post(page, "Held, then rejected")
    expect(page.locator(AWAITING)).to_have_count(1)
    push(page, update(5, "comment.removed", {"comment_id": "c-held",
                                             "article_id": LEAD_ARTICLE_ID, "reason": "hidden"}))
    expect(page.locator("#comment-c-held")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('commentfeed.awaiting:u-ann')") is None

    reader = make_scripted(open_page())
    open_demo_page(reader)
    expect(reader.locator(AWAITING)).to_have_count(0)
