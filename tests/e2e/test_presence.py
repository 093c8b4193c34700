""""N reading now" in Chromium against the whole stack: readers open the demo article, each page's
thread shows how many read it, through the gateway's reports, the broker and the streams worker.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageFactory
from tests.e2e.stack import StackProcesses, demo_stack, missing_services

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(missing_services()),
                       reason=f"the stack is incomplete in this tree: {missing_services()}"),
]

#: Reports every 2 s, sums every 2 s, and a shared machine: generous.
WITHIN_MS = 30_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcesses]:
    with demo_stack(tmp_path_factory.mktemp("presence-up")) as processes:
        yield processes


def open_article(open_page: PageFactory, stack: StackProcesses) -> Page:
    page = open_page()
    page.goto(stack.page_url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(page.locator("#thread .cf-loading")).to_be_hidden(timeout=15_000)
    return page


def test_readers_see_how_many_read_the_article_and_the_number_follows_them(
    stack: StackProcesses, open_page: PageFactory,
) -> None:
    first = open_article(open_page, stack)
    reading = first.locator("#thread .cf-toolbar .cf-reading")
    # Alone: counted, but "1 reading now" would only be the reader herself.
    expect(reading).to_have_attribute("data-reading", "1", timeout=WITHIN_MS)
    expect(reading).to_be_hidden()

    second = open_article(open_page, stack)
    third = open_article(open_page, stack)
    for page in (first, second, third):
        shown = page.locator("#thread .cf-reading")
        expect(shown).to_have_text("3 reading now", timeout=WITHIN_MS)
        expect(shown).to_be_visible()
        # Not a live region: the number is shown, never announced.
        assert shown.evaluate("e => e.closest('[aria-live]') === null")
        assert "reading" not in (page.locator("#thread .cf-announcer").text_content() or "")

    third.context.close()  # a reader leaves: the others' number follows
    expect(first.locator("#thread .cf-reading")).to_have_text("2 reading now", timeout=WITHIN_MS)
    expect(second.locator("#thread .cf-reading")).to_have_text("2 reading now",
                                                               timeout=WITHIN_MS)
    second.context.close()
    expect(reading).to_have_attribute("data-reading", "1", timeout=WITHIN_MS)
    expect(reading).to_be_hidden()
