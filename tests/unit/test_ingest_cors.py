"""CORS for the sites that embed the widgets: the ingest API and the versioned widget assets
answer cross-origin requests from ``COMMENTFEED_ALLOWED_ORIGINS`` (any origin when unset), and
nobody else's. The browser side of the same recipe: tests/e2e/test_cross_origin.py."""

from __future__ import annotations

import pytest

from commentfeed import __version__
from commentfeed.settings import Settings
from producers.cors import IMMUTABLE, WIDGETS_PATH
from tests.ingest_client import ANN
from tests.unit.ingest_support import ingest_settings, start_api

SITE = "https://news.example"
OTHER = "https://evil.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"}


async def test_a_preflight_from_an_embedding_site_allows_posting_with_a_token() -> None:
    async with start_api(settings=ingest_settings(allowed_origins=(SITE,))) as api:
        r = await api.client.options("/v1/articles/a1/comments",
                                     headers={"Origin": SITE, **PREFLIGHT})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == SITE
    assert {m.strip() for m in r.headers["access-control-allow-methods"].split(",")} >= {
        "POST", "PATCH", "DELETE"}
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert allowed >= {"authorization", "content-type", "idempotency-key"}
    assert "access-control-allow-credentials" not in r.headers


async def test_a_preflight_from_another_origin_is_refused() -> None:
    async with start_api(settings=ingest_settings(allowed_origins=(SITE,))) as api:
        r = await api.client.options("/v1/articles/a1/comments",
                                     headers={"Origin": OTHER, **PREFLIGHT})
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers


async def test_a_cross_origin_post_is_readable_by_the_embedding_site_only() -> None:
    async with start_api(settings=ingest_settings(allowed_origins=(SITE,))) as api:
        await api.article("a1")
        ok = await api.client.post("/v1/articles/a1/comments", json={"body": "From afar"},
                                   headers={**ANN, "Origin": SITE})
        other = await api.client.post("/v1/articles/a1/comments", json={"body": "Sneaky"},
                                      headers={**ANN, "Origin": OTHER})
    assert ok.status_code == 202
    assert ok.headers["access-control-allow-origin"] == SITE
    assert "Origin" in ok.headers["vary"]
    assert ok.headers["access-control-expose-headers"] == "Retry-After"
    # The server cannot stop a request a browser sends without a preflight; it withholds the
    # header, so the page on the other origin cannot read the answer.
    assert "access-control-allow-origin" not in other.headers


async def test_without_a_list_any_origin_may_embed() -> None:
    async with start_api() as api:
        r = await api.client.options("/v1/articles/a1/comments",
                                     headers={"Origin": OTHER, **PREFLIGHT})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("name", ["commentfeed.js", "widgets.js", "widgets.css"])
async def test_widget_assets_are_served_versioned_immutable_and_cross_origin(name: str) -> None:
    async with start_api(settings=ingest_settings(allowed_origins=(SITE,),
                                                  demo_mode=False)) as api:
        r = await api.client.get(f"{WIDGETS_PATH}/{name}", headers={"Origin": SITE})
        stale = await api.client.get(f"/widgets/0.0.0-not-this/{name}", headers={"Origin": SITE})
    assert f"/widgets/{__version__}" == WIDGETS_PATH
    assert r.status_code == 200
    assert r.headers["cache-control"] == IMMUTABLE
    assert r.headers["access-control-allow-origin"] == SITE
    kind = "text/css" if name.endswith(".css") else "javascript"
    assert kind in r.headers["content-type"]
    assert stale.status_code == 404


def test_the_list_is_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMMENTFEED_ALLOWED_ORIGINS", f"{SITE}, https://m.news.example")
    assert Settings().allowed_origins == (SITE, "https://m.news.example")
    monkeypatch.delenv("COMMENTFEED_ALLOWED_ORIGINS")
    assert Settings().allowed_origins is None
