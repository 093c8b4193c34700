"""The page across a gateway crash: it reconnects, resumes, and shows what it missed.

``commentfeed up`` stops the whole stack when a child dies, so here each service runs as its
own ``python -m commentfeed <service>`` process and only the gateway is killed and restarted.
The gateway's snapshots hold only the newest three comments here, so the demo thread's oldest
comment is reached through "load older" (the history op), as on a long thread.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from commentfeed.demo_data import LEAD_ARTICLE_ID
from tests.e2e.conftest import PageFactory
from tests.e2e.stack import StackProcesses, missing_services

SNAPSHOT_COMMENTS = 3

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(missing_services()),
                       reason=f"the stack is incomplete in this tree: {missing_services()}"),
]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcesses]:
    processes = StackProcesses(tmp_path_factory.mktemp("services"),
                               COMMENTFEED_GATEWAY_SNAPSHOT_COMMENTS=str(SNAPSHOT_COMMENTS))
    try:
        processes.start_services()
        processes.run_once("demo")
        processes.wait_until("the demo thread in the streams",
                             lambda: processes.article_count(LEAD_ARTICLE_ID) == 4)
        yield processes
    finally:
        processes.stop_all()


def test_load_older_pages_back_through_the_gateway(
    services: StackProcesses, open_page: PageFactory,
) -> None:
    page = open_page()
    page.goto(services.page_url)
    expect(page.locator("#comments-heading")).to_have_attribute("data-count", "4")
    expect(page.locator("#thread .cf-comment")).to_have_count(SNAPSHOT_COMMENTS)
    # c-1002 answers c-1001, which is older than the snapshot: shown at the top level for now.
    orphan_note = page.locator("#comment-c-1002 > .cf-card .cf-orphan-note")
    expect(orphan_note).to_be_visible()
    page.locator("#thread .cf-older").click()
    expect(page.locator("#thread .cf-comments > #comment-c-1001 > .cf-replies > #comment-c-1002"
                        " > .cf-replies > #comment-c-1003")).to_have_count(1)
    expect(orphan_note).to_be_hidden()
    expect(page.locator("#thread .cf-older")).to_be_hidden()  # nothing older than c-1001
    expect(page.locator("#thread .cf-comment")).to_have_count(4)


def test_after_a_gateway_restart_the_page_shows_every_comment_posted_during_the_outage(
    services: StackProcesses, open_page: PageFactory,
) -> None:
    page = open_page()
    page.goto(services.page_url)
    connection = page.locator("#connection")
    heading = page.locator("#comments-heading")
    expect(connection).to_have_attribute("data-state", "live", timeout=15_000)
    expect(heading).to_have_attribute("data-count", "4")
    page.locator("#thread .cf-older").click()
    expect(page.locator("#thread .cf-comment")).to_have_count(4)

    services.kill("gateway")
    expect(connection).to_have_attribute("data-state", "reconnecting", timeout=10_000)

    token = services.login("Olu Outage")
    bodies = [f"Posted while the live feed was down, message {n} of 3." for n in (1, 2, 3)]
    ids = [services.post_comment(token, LEAD_ARTICLE_ID, body)["comment_id"] for body in bodies]
    services.wait_until("the outage comments in the streams",
                        lambda: services.article_count(LEAD_ARTICLE_ID) == 7)
    expect(heading).to_have_attribute("data-count", "4")  # nothing reached the page meanwhile

    services.start("gateway")
    services.wait_ready("gateway")
    # Backoff may be a few seconds into its schedule by now; generous, but a real deadline.
    expect(connection).to_have_attribute("data-state", "live", timeout=45_000)
    expect(heading).to_have_attribute("data-count", "7", timeout=15_000)
    # The fresh snapshot holds only the three outage comments; the page pages back through the
    # history op to keep the four it showed, and holds the new three behind the button.
    expect(page.locator("#thread .cf-comments > #comment-c-1001 > .cf-replies > #comment-c-1002"
                        " > .cf-replies > #comment-c-1003")).to_have_count(1)
    expect(page.locator("#thread .cf-comment")).to_have_count(4)
    new_button = page.locator("#thread .cf-new")
    expect(new_button).to_have_text("3 new comments")
    new_button.click()
    for comment_id, body in zip(ids, bodies, strict=True):
        expect(page.locator(f"#comment-{comment_id} .cf-text")).to_have_text(body)
    expect(page.locator("#thread .cf-comment")).to_have_count(7)
    expect(page.locator("#recent li").first).to_have_attribute("data-comment-id", ids[-1])

    # And the feed is live again, not just caught up.
    after = services.post_comment(token, LEAD_ARTICLE_ID, "Back to normal, it seems.")
    expect(heading).to_have_attribute("data-count", "8", timeout=10_000)
    expect(page.locator("#recent li").first).to_have_attribute(
        "data-comment-id", after["comment_id"])
