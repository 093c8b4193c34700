"""Browser fixtures: Debian's Chromium driven by Playwright, one browser per test module.

Playwright's own browser download does not run here; ``make browser`` installs ``chromium``
from Debian and the tests launch that binary. Each test gets a fresh browser context (no shared
storage) and fails if the page threw an uncaught JavaScript error.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from producers.demo_site import site_content

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
#: Set to 1 (``make screenshots``) to have the browser tests save their screenshots in docs/.
UPDATE_SCREENSHOTS = "COMMENTFEED_UPDATE_SCREENSHOTS"
STATIC = ROOT / "gateway" / "static"
SCRIPTED_SOCKET = Path(__file__).with_name("scripted_socket.js")
#: An origin that only exists inside the browser: requests to it are answered by page.route.
TEST_ORIGIN = "http://widgets.test"
BLANK_PAGE = "<!doctype html><title>blank</title>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class PageFactory:
    """New pages in fresh contexts (own storage); each page's uncaught JS errors are collected."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    def __call__(self, **context_options: Any) -> Page:
        options: dict[str, Any] = {
            # Fixed locale and zone: the comment times in the screenshot do not depend on the host.
            "viewport": {"width": 1200, "height": 900}, "locale": "en-US", "timezone_id": "UTC",
            **context_options,
        }
        context = self.browser.new_context(**options)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[PageFactory]:
    factory = PageFactory(browser)
    yield factory
    factory.close()
    assert factory.errors == [], f"uncaught JavaScript errors: {factory.errors}"


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where a test saves its screenshots: docs/ when COMMENTFEED_UPDATE_SCREENSHOTS=1
    (``make screenshots``), else the test's own tmp dir, so a test run leaves the clone clean."""
    return ROOT / "docs" if os.environ.get(UPDATE_SCREENSHOTS) == "1" else tmp_path


@pytest.fixture
def page(open_page: PageFactory) -> Page:
    return open_page()


def serve_static(page: Page, config: dict[str, Any]) -> None:
    """Answer TEST_ORIGIN from gateway/static, plus a canned /config.json and the demo site's
    /site/articles.json, inside the browser."""

    def handle(route: Route) -> None:
        path = route.request.url.removeprefix(TEST_ORIGIN).split("?")[0].split("#")[0]
        if path == "/config.json":
            route.fulfill(status=200, content_type="application/json", body=json.dumps(config))
            return
        if path == "/site/articles.json":
            route.fulfill(status=200, content_type="application/json",
                          body=site_content().model_dump_json())
            return
        if path == "/blank":
            route.fulfill(status=200, content_type="text/html", body=BLANK_PAGE)
            return
        file = STATIC / ("index.html" if path in ("", "/") else path.lstrip("/"))
        if STATIC not in file.resolve().parents or not file.is_file():
            route.fulfill(status=404, body="not found")
            return
        kind = "text/javascript" if file.suffix == ".js" else mimetypes.guess_type(file.name)[0]
        route.fulfill(status=200, content_type=kind or "application/octet-stream",
                      body=file.read_bytes())

    page.route(f"{TEST_ORIGIN}/**", handle)


#: The demo page's /config.json on TEST_ORIGIN, pointing at the scripted socket.
SCRIPTED_CONFIG: dict[str, Any] = {
    "gateway_url": "ws://gateway.test/ws",
    "ingest_url": TEST_ORIGIN,
    "site": "demo",
    "article_id": "harbour-bridge-reopens",
    "demo_mode": True,
}


def make_scripted(page: Page) -> Page:
    """Give a page the scripted stand-in for WebSocket (window.__ws) and the static files."""
    page.add_init_script(path=str(SCRIPTED_SOCKET))
    serve_static(page, SCRIPTED_CONFIG)
    return page


@pytest.fixture
def scripted_page(page: Page) -> Page:
    """A page whose WebSocket is the scripted stand-in (window.__ws), static files served."""
    return make_scripted(page)
