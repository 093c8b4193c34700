"""The demo site in Chromium against the whole stack (``commentfeed up`` with the demo data):
the front page, section pages and article pages.

Comments go in through the real ingest API, through Kafka and the streams worker, and out
through the gateway to the page. One stack serves the module; tests read the state they start
from (counts) instead of assuming they run first, except the first, which checks the pristine
demo data and saves the screenshot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from commentfeed.demo_data import ARTICLES, LEAD_ARTICLE_ID, SECTIONS, SITE, demo_events
from commentfeed.events import ArticlePublished, CommentPosted
from producers.demo_site import front_page_order
from tests.e2e.conftest import PageFactory
from tests.e2e.stack import StackProcesses, demo_stack, missing_services

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(missing_services()),
                       reason=f"the stack is incomplete in this tree: {missing_services()}"),
]

LEAD_TITLE = next(e.data.title for e in demo_events()
                  if isinstance(e, ArticlePublished) and e.data.article_id == LEAD_ARTICLE_ID)
DEMO_COMMENTS = [e.data for e in demo_events() if isinstance(e, CommentPosted)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcesses]:
    with demo_stack(tmp_path_factory.mktemp("up")) as processes:
        yield processes


def open_article(open_page: PageFactory, stack: StackProcesses, **options: object) -> Page:
    page = open_page(**options)
    page.goto(stack.page_url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(page.locator("#thread .cf-loading")).to_be_hidden(timeout=15_000)
    return page


def shown_count(page: Page) -> int:
    return int(page.locator("#comments-heading").get_attribute("data-count") or "-1")


def log_in(page: Page, name: str, role: str = "reader") -> None:
    page.locator("#login-name").fill(name)
    page.locator("#login-role").select_option(role)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator("#viewer-name")).to_have_text(name)
    expect(page.locator("#comment-form")).to_be_visible()


def test_the_page_shows_the_demo_thread_count_and_sidebar(
    stack: StackProcesses, open_page: PageFactory, screenshot_dir: Path,
) -> None:
    page = open_article(open_page, stack)
    expect(page.locator("#comments-heading")).to_have_text(f"4 Comments on “{LEAD_TITLE}”")
    expect(page.locator("#article-title")).to_have_text(LEAD_TITLE)
    expect(page.locator("#thread .cf-comment")).to_have_count(4)
    # Nested three deep: c-1001 > c-1002 > c-1003; c-1004 is a second top-level comment.
    expect(page.locator("#thread .cf-comments > #comment-c-1001 > .cf-replies > #comment-c-1002"
                        " > .cf-replies > #comment-c-1003")).to_have_count(1)
    expect(page.locator("#thread .cf-comments > #comment-c-1004")).to_have_count(1)
    for comment in DEMO_COMMENTS:
        if comment.article_id == LEAD_ARTICLE_ID:
            card = page.locator(f"#comment-{comment.comment_id} > .cf-card")
            expect(card.locator(".cf-text")).to_have_text(comment.body)
            expect(card.locator(".cf-score")).to_have_text("0")

    # Recent Comments: the five newest of the site, newest first, as `author: excerpt…`.
    newest = sorted((c for c in DEMO_COMMENTS if c.site == SITE), key=lambda c: c.posted_at,
                    reverse=True)[:5]
    lines = page.locator("#recent li")
    expect(lines).to_have_count(5)
    for line, comment in zip(lines.all_inner_texts(), newest, strict=True):
        author, _, excerpt = line.partition(": ")
        assert author == comment.author.name
        assert comment.body.startswith(excerpt.removesuffix("…").rstrip()), (excerpt, comment.body)

    expect(page.locator("#login-required")).to_have_text("You must be logged in to post a comment.")
    expect(page.locator("#comment-form")).to_be_hidden()
    shot = screenshot_dir / "demo-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def open_listing(open_page: PageFactory, url: str) -> Page:
    page = open_page()
    page.goto(url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    return page


def teaser_count(page: Page, article_id: str) -> int:
    count = page.locator(f".teaser[data-article-id='{article_id}'] .teaser-count")
    return int(count.get_attribute("data-count") or "-1")


def test_the_front_page_lists_every_article_with_a_live_count(
    stack: StackProcesses, open_page: PageFactory, screenshot_dir: Path,
) -> None:
    page = open_listing(open_page, stack.front_url)
    expect(page.locator("#listing-title")).to_have_text("Latest news")
    teasers = page.locator("#articles .teaser")
    expect(teasers).to_have_count(len(ARTICLES))
    # The lead story on top, then the rest newest first.
    assert teasers.evaluate_all("ts => ts.map(t => t.dataset.articleId)") == [
        a.article_id for a in front_page_order()]
    for article in ARTICLES:
        teaser = page.locator(f".teaser[data-article-id='{article.article_id}']")
        title = teaser.locator(".teaser-title a")
        expect(title).to_have_text(article.title)
        expect(title).to_have_attribute("href", f"/articles/{article.article_id}")
        expect(teaser.locator(".kicker")).to_have_text(article.section)
        count = stack.article_count(article.article_id)
        noun = "Comment" if count == 1 else "Comments"
        expect(teaser.locator(".teaser-count")).to_have_text(f"{count} {noun}")
        expect(teaser.locator(".teaser-count")).to_have_attribute("data-count", str(count))
    expect(page.locator("#recent li")).to_have_count(5)
    shot = screenshot_dir / "demo-front-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # A comment on a non-lead article changes its count on the open front page, live.
    other = next(a for a in ARTICLES if a.article_id != LEAD_ARTICLE_ID)
    before = teaser_count(page, other.article_id)
    lead_before = teaser_count(page, LEAD_ARTICLE_ID)
    token = stack.login("Vera Lind")
    posted = stack.post_comment(token, other.article_id, "Counted on the front page, I hope.")
    counter = page.locator(f".teaser[data-article-id='{other.article_id}'] .teaser-count")
    expect(counter).to_have_attribute("data-count", str(before + 1))
    expect(page.locator("#recent li").first).to_have_attribute(
        "data-comment-id", posted["comment_id"])
    assert teaser_count(page, LEAD_ARTICLE_ID) == lead_before


def test_every_section_link_leads_to_a_page_listing_its_articles(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    page = open_listing(open_page, stack.front_url)
    links = page.locator(".sections a")
    expect(links).to_have_text(list(SECTIONS))
    for name in SECTIONS:
        page.locator(".sections a", has_text=name).click()
        expect(page).to_have_url(f"{stack.front_url}sections/{name.lower()}")
        expect(page.locator("#listing-title")).to_have_text(name)
        expect(page.locator(".sections a[aria-current=page]")).to_have_text(name)
        mine = [a for a in ARTICLES if a.section == name]
        assert mine, f"section {name} has no demo article"
        expect(page.locator("#articles .teaser")).to_have_count(len(mine))
        for article in mine:
            expect(page.locator(f".teaser[data-article-id='{article.article_id}'] "
                                ".teaser-count")).to_have_attribute(
                "data-count", str(stack.article_count(article.article_id)))
    # No dead links: every link of every page of the site answers 200.
    for url in (stack.front_url, stack.page_url):
        page.goto(url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live",
                                                              timeout=15_000)
        hrefs = page.locator(".masthead a, .teaser a, .kicker a").evaluate_all(
            "links => links.map(a => a.href)")
        for href in set(hrefs):
            assert httpx.get(href.split("#")[0], timeout=5).status_code == 200, href
    assert httpx.get(f"{stack.front_url}sections/sport", timeout=5).status_code == 404


def test_a_non_lead_article_page_shows_its_story_thread_and_takes_comments(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    article = next(a for a in ARTICLES if a.section == "Opinion")
    page = open_listing(open_page, stack.front_url)
    page.locator(f".teaser[data-article-id='{article.article_id}'] .teaser-title a").click()
    expect(page).to_have_url(stack.article_url(article.article_id))
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(page.locator("#thread .cf-loading")).to_be_hidden(timeout=15_000)
    expect(page.locator("#article-title")).to_have_text(article.title)
    expect(page.locator("#article-author")).to_have_text(article.author)
    expect(page.locator("#article-section")).to_have_text(article.section)
    expect(page.locator("#article-standfirst")).to_have_text(article.standfirst)
    expect(page.locator("#article-body p")).to_have_text(list(article.body))
    expect(page.locator("#article-placeholder")).to_be_hidden()
    count = stack.article_count(article.article_id)
    expect(page.locator("#comments-heading")).to_have_text(f"{count} Comments on “{article.title}”")
    ours = [c for c in DEMO_COMMENTS if c.article_id == article.article_id]
    for comment in ours:
        expect(page.locator(f"#comment-{comment.comment_id} > .cf-card .cf-text")).to_have_text(
            comment.body)
    reply = next(c for c in ours if c.parent_id)
    expect(page.locator(f"#comment-{reply.parent_id} > .cf-replies > "
                        f"#comment-{reply.comment_id}")).to_have_count(1)

    log_in(page, "Otto Rask")
    body = "A parking space I do not need still shows up in my rent."
    page.locator("#comment-body").fill(body)
    page.locator("#post-comment").click()
    expect(page.locator("#thread .cf-comments > .cf-comment", has_text=body)).to_have_count(1)
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", str(count + 1))
    assert stack.article_count(article.article_id) == count + 1


def test_a_comment_posted_through_the_api_reaches_the_page_within_a_second(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    page = open_article(open_page, stack)
    before = shown_count(page)
    token = stack.login("Rafa Ortiz")
    body = "Does the separated lane continue past the east ramp, or stop at the toll booths?"
    accepted = stack.post_comment(token, LEAD_ARTICLE_ID, body, parent_id="c-1004")
    answered = time.monotonic()
    comment_id = accepted["comment_id"]
    # From the 202 to the DOM: count, sidebar and the "new comments" button, within 1 s.
    page.wait_for_function(
        """([id, count]) =>
             document.querySelector("#comments-heading").dataset.count === String(count)
             && document.querySelector("#recent li")?.dataset.commentId === id
             && document.querySelector("#thread .cf-new")?.dataset.count === "1" """,
        arg=[comment_id, before + 1], timeout=1_000,
    )
    latency = time.monotonic() - answered
    assert latency < 1.0
    print(f"202 -> page: {latency * 1000:.0f} ms")
    expect(page.locator("#recent li").first).to_have_text(f"Rafa Ortiz: {body}")
    # It waits behind the button, then shows under the comment it replies to.
    expect(page.locator(f"#comment-{comment_id}")).to_have_count(0)
    page.locator("#thread .cf-new").click()
    reply = page.locator(f"#comment-c-1004 > .cf-replies > #comment-{comment_id}")
    expect(reply.locator(".cf-text")).to_have_text(body)
    expect(reply.locator(".cf-author")).to_have_text("Rafa Ortiz")
    expect(page.locator("#thread .cf-new")).to_be_hidden()


def test_a_logged_in_reader_posts_replies_and_votes_from_the_page(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    page = open_article(open_page, stack)
    expect(page.locator("#thread .cf-vote-up").first).to_be_hidden()
    log_in(page, "Nadia Brook")
    expect(page.locator("#login-required")).to_be_hidden()
    before = shown_count(page)

    # Her own comment shows at once, not behind the button.
    body = "Walked across at sunrise. The new railings are lower, and the view is better for it."
    page.locator("#comment-body").fill(body)
    page.locator("#post-comment").click()
    mine = page.locator("#thread .cf-comments > .cf-comment", has_text=body)
    expect(mine).to_have_count(1)
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", str(before + 1))
    expect(page.locator("#thread .cf-new")).to_be_hidden()
    expect(mine.locator(".cf-edit")).to_be_visible()  # her own comment: she may edit it

    # A reply goes under the comment it answers (below the third level of the demo thread).
    page.locator("#comment-c-1003 > .cf-card .cf-reply").click()
    expect(page.locator("#replying-to")).to_have_text("Oduya Works")
    reply = "Thanks for the inside view; the steel story explains a lot."
    page.locator("#comment-body").fill(reply)
    page.locator("#post-comment").click()
    nested = page.locator("#comment-c-1003 > .cf-replies > .cf-comment", has_text=reply)
    expect(nested).to_have_count(1)
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", str(before + 2))

    # A vote changes the score beside the comment, live.
    score = page.locator("#comment-c-1001 > .cf-card .cf-score")
    start = int(score.inner_text())
    page.locator("#comment-c-1001 > .cf-card .cf-vote-up").click()
    expect(score).to_have_text(str(start + 1))
    expect(page.locator("#comment-c-1001 > .cf-card .cf-vote-up")).to_have_attribute(
        "aria-pressed", "true")


def test_the_readers_votes_come_back_from_the_server_after_a_reload(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    page = open_article(open_page, stack)
    log_in(page, "Vera Holm")
    up = page.locator("#comment-c-1004 > .cf-card .cf-vote-up")
    down = page.locator("#comment-c-1002 > .cf-card .cf-vote-down")
    up.click()
    down.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-pressed", "true")
    token = page.evaluate("JSON.parse(sessionStorage.getItem('commentfeed.session')).token")

    def mine() -> dict[str, int]:
        answer = httpx.get(f"{stack.ingest_url}/v1/articles/{LEAD_ARTICLE_ID}/votes/mine",
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        votes: dict[str, int] = answer.json()["votes"]
        return votes

    stack.wait_until("her votes in the streams",
                     lambda: mine() == {"c-1004": 1, "c-1002": -1}, timeout_s=30)
    # The browser forgets them: after the reload they come from the server alone.
    page.evaluate("localStorage.clear()")
    page.reload()
    expect(page.locator("#thread .cf-widget")).to_have_attribute("data-votes", "loaded")
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#comment-c-1004 > .cf-card .cf-vote-down")).to_have_attribute(
        "aria-pressed", "false")
    stored = page.evaluate("JSON.parse(localStorage.getItem(`commentfeed.votes:${JSON.parse("
                           "sessionStorage.getItem('commentfeed.session')).user.id}`))")
    assert sorted(stored) == [["c-1002", -1], ["c-1004", 1]]


def test_a_reloaded_page_keeps_a_removed_comment_s_replies_under_its_placeholder(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    article_id = ARTICLES[-1].article_id
    token = stack.login("Pia Sund")
    parent = stack.post_comment(token, article_id, "Which ferry runs on Sundays?")["comment_id"]
    reply = stack.post_comment(token, article_id, "The 9:40, every week.",
                               parent_id=parent)["comment_id"]
    gone = httpx.delete(f"{stack.ingest_url}/v1/comments/{parent}",
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert gone.status_code == 202, gone.text

    def placeholder_served() -> bool:
        answer = httpx.get(f"{stack.streams_url}/v1/channels/article:{article_id}/snapshot",
                           timeout=5)
        shown = {c["comment_id"]: c for c in answer.json()["snapshot"]["comments"]}
        return shown.get(parent, {}).get("removed") is True and reply in shown

    stack.wait_until("the placeholder in the streams' snapshot", placeholder_served,
                     timeout_s=30)
    page = open_page()
    page.goto(stack.article_url(article_id))
    expect(page.locator("#thread .cf-loading")).to_be_hidden(timeout=15_000)
    placeholder = page.locator(f"#comment-{parent}")
    expect(placeholder).to_have_class("cf-comment cf-tombstone")
    expect(placeholder.locator(":scope > .cf-card .cf-text")).to_have_text(
        "This comment was removed.")
    expect(placeholder.locator(f":scope > .cf-replies > #comment-{reply} .cf-text")).to_have_text(
        "The 9:40, every week.")


def test_best_ranks_a_comment_far_back_in_a_long_thread_first(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    article_id = ARTICLES[-2].article_id
    writers = [stack.login(f"Writer {n}") for n in range(3)]  # 18 posts each: under the burst
    posted = [stack.post_comment(writers[n // 18], article_id, f"Long thread, comment {n}.")
              for n in range(54)]
    first = posted[0]["comment_id"]
    voter = stack.login("Una Vote")
    answer = httpx.post(f"{stack.ingest_url}/v1/comments/{first}/vote", json={"value": 1},
                        headers={"Authorization": f"Bearer {voter}"}, timeout=10)
    assert answer.status_code == 202, answer.text

    def ranked() -> bool:
        page = httpx.get(f"{stack.streams_url}/v1/articles/{article_id}/comments",
                         params={"sort": "best", "limit": 1}, timeout=5).json()
        return [c["comment_id"] for c in page["comments"]] == [first]

    stack.wait_until("the vote in the best index", ranked, timeout_s=30)
    page = open_page()
    page.goto(stack.article_url(article_id))
    expect(page.locator("#thread .cf-loading")).to_be_hidden(timeout=15_000)
    expect(page.locator(f"#comment-{first}")).to_have_count(0)  # older than the snapshot
    page.locator("#thread .cf-sort button", has_text="Best").click()
    expect(page.locator("#thread .cf-thread")).to_have_attribute("data-best", "loaded")
    top = page.locator("#thread .cf-comments > .cf-comment").first
    expect(top).to_have_attribute("data-comment-id", first)
    expect(top.locator(":scope > .cf-card .cf-score")).to_have_text("1")


def test_a_reader_edits_and_deletes_her_own_comment_in_place(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    author = open_article(open_page, stack)
    reader = open_article(open_page, stack)
    log_in(author, "Ines Marlow")
    author.locator("#comment-body").fill("The walking day is on a Sunday, I think.")
    author.locator("#post-comment").click()
    posted = author.locator("#thread .cf-comments > .cf-comment", has_text="walking day")
    expect(posted).to_have_count(1)
    comment_id = posted.get_attribute("data-comment-id")
    mine = author.locator(f"#comment-{comment_id}")
    reader.locator("#thread .cf-new").click()
    theirs = reader.locator(f"#comment-{comment_id}")
    expect(theirs.locator(".cf-edit")).to_have_count(0)  # not hers: no edit button
    before = shown_count(reader)

    mine.locator(".cf-edit").click()
    mine.locator(".cf-edit-body").fill("The walking day is on the Saturday before the festival.")
    mine.locator(".cf-save").click()
    for comment in (mine, theirs):
        expect(comment.locator(".cf-text")).to_have_text(
            "The walking day is on the Saturday before the festival.")
        expect(comment.locator(".cf-edited")).to_be_visible()

    mine.locator(".cf-delete").click()
    expect(theirs).to_have_count(0)
    expect(mine).to_have_count(0)
    expect(reader.locator("#comments-heading")).to_have_attribute("data-count", str(before - 1))


def test_a_comment_hidden_by_a_moderator_disappears_from_every_page(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    reader = open_article(open_page, stack)
    moderator = open_article(open_page, stack)
    log_in(moderator, "Maya Lund", role="moderator")
    token = stack.login("Quinn Vale")
    body = "Spam spam spam: cheap ferry tickets at a website I will not name."
    comment_id = stack.post_comment(token, LEAD_ARTICLE_ID, body)["comment_id"]
    for page in (reader, moderator):
        page.locator("#thread .cf-new").click()
        expect(page.locator(f"#comment-{comment_id} .cf-text")).to_have_text(body)
    expect(reader.locator("#recent li").first).to_have_attribute("data-comment-id", comment_id)
    before = shown_count(reader)
    expect(reader.locator(f"#comment-{comment_id} .cf-hide")).to_have_count(0)  # readers cannot

    moderator.locator(f"#comment-{comment_id} .cf-hide").click()
    for page in (reader, moderator):
        expect(page.locator(f"#comment-{comment_id}")).to_have_count(0)
        expect(page.locator("#comments-heading")).to_have_attribute("data-count", str(before - 1))
        expect(page.locator(f"#recent li[data-comment-id='{comment_id}']")).to_have_count(0)
    expect(reader.locator("#recent li")).to_have_count(5)  # the next one moved up


def test_a_hostile_body_shows_as_text_and_runs_nothing(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    # CSP off, so the page itself is the only defence and the flag below could really be set.
    page = open_article(open_page, stack, bypass_csp=True)
    token = stack.login("<b>Mallory</b>")
    body = ('<script>window.__xss = "script"</script>'
            '<img src=x onerror="window.__xss = \'img\'"> nice bridge')
    comment_id = stack.post_comment(token, LEAD_ARTICLE_ID, body)["comment_id"]
    page.locator("#thread .cf-new").click()
    expect(page.locator(f"#comment-{comment_id} .cf-text")).to_have_text(body)
    expect(page.locator(f"#comment-{comment_id} .cf-author")).to_have_text("<b>Mallory</b>")
    expect(page.locator("#recent li").first).to_have_attribute("data-comment-id", comment_id)
    assert page.locator("#recent li").first.inner_text().startswith("<b>Mallory</b>: <script>")
    injected = ", ".join(f"{where} {tag}" for where in ("#thread", "#recent", "#comments-heading")
                         for tag in ("script", "img", "b"))
    assert page.locator(injected).count() == 0
    assert page.evaluate("window.__xss") is None

    # The probe that proves the assertion above could fail: the same markup, parsed as HTML
    # outside the widgets, does run on this page.
    page.evaluate("""() => document.body.insertAdjacentHTML(
        "beforeend", '<div id="probe"><img src=x onerror="window.__xss = \\'img\\'"></div>')""")
    page.wait_for_function("window.__xss === 'img'", timeout=5_000)



def test_the_api_docs_render_with_no_network_beyond_the_stack(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    page = open_page()
    outside: list[str] = []
    refused: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{stack.ingest_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("commentfeed ingest API")
    expect(page.locator(".opblock-summary-path",
                        has_text="/v1/articles/{article_id}/comments").first).to_be_visible()
    assert outside == []
    assert refused == []
