"""The demo site, demo mode only: a small newspaper around the widgets.

``/`` lists the demo articles with live comment counts, ``/sections/<name>`` the articles of
one section, ``/articles/<id>`` is an article page with its live comment section,
``/moderate`` the moderators' desk (the live moderation queue of the demo site).
``/site/articles.json`` holds the site's own content (sections, standfirsts, body text: what a
CMS would serve); ``/config.json`` and the demo login are what the pages need to reach
commentfeed.

The page and the widget scripts are package data of the gateway (``gateway/static``); they are
found through the package, so an installed wheel serves the same files as a checkout. Outside
demo mode the ingest API still serves the widget scripts and styles for sites that embed them,
but no page at ``/``, no ``/config.json`` and no demo login (``/v1/demo/login`` answers 404
``demo_disabled`` so an operator sees why).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, Path
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.staticfiles import StaticFiles

from commentfeed.channels import ID_MAX_CHARS, ID_REGEX
from commentfeed.demo_data import ARTICLES, LEAD_ARTICLE_ID, SECTIONS, DemoArticle
from commentfeed.errors import HttpError
from commentfeed.settings import Settings
from producers.api_models import BODY_ERRORS, DemoLogin, DemoSession, DemoUser, PageConfig
from producers.auth import Reader, demo_user_id, mint_reader_token, new_demo_nonce

#: The package and folder that hold the page and the widget assets.
STATIC = ("gateway", "static")


class SiteArticle(BaseModel):
    """One article as the demo site's CMS knows it."""

    article_id: str
    section: str
    #: The path of its section page (``/sections/<slug>``).
    section_url: str
    url: str
    title: str
    author: str
    standfirst: str
    body: list[str]
    published_at: datetime


class SiteContent(BaseModel):
    """``GET /site/articles.json``: the sections in masthead order and every article: the lead
    story first, then the others newest first."""

    sections: list[dict[str, str]]
    articles: list[SiteArticle]


def section_slug(name: str) -> str:
    return name.lower()


def front_page_order() -> list[DemoArticle]:
    """The lead story first, then the others newest first."""
    rest = sorted((a for a in ARTICLES if a.article_id != LEAD_ARTICLE_ID),
                  key=lambda a: a.published_at, reverse=True)
    return [a for a in ARTICLES if a.article_id == LEAD_ARTICLE_ID] + rest


def site_content() -> SiteContent:
    return SiteContent(
        sections=[{"name": name, "url": f"/sections/{section_slug(name)}"} for name in SECTIONS],
        articles=[
            SiteArticle(
                article_id=a.article_id, section=a.section,
                section_url=f"/sections/{section_slug(a.section)}",
                url=f"/articles/{a.article_id}", title=a.title, author=a.author,
                standfirst=a.standfirst, body=list(a.body), published_at=a.published_at,
            )
            for a in front_page_order()
        ],
    )


def _page(name: str) -> Response:
    """An HTML page of the package data, read per request (a checkout serves edits at once)."""
    html = resources.files(STATIC[0]).joinpath(STATIC[1], name).read_bytes()
    return Response(html, media_type="text/html; charset=utf-8")


def static_files(*, page: bool) -> StaticFiles:
    """The widget assets; with ``page``, ``/`` is the demo page (``index.html``)."""
    return StaticFiles(packages=[STATIC], html=page)


def mount(app: FastAPI, settings: Settings, *, jwt_secret: str, token_ttl_s: int) -> None:
    """Add the demo routes to the ingest ``app`` in demo mode; outside it, say they are off."""
    if not settings.demo_mode:
        @app.post("/v1/demo/login", include_in_schema=False)
        async def no_demo_login() -> None:
            raise HttpError(404, "demo_disabled", "demo login is off (COMMENTFEED_DEMO_MODE)")
        return

    @app.post("/v1/demo/login", tags=["demo"], response_model=DemoSession,
              summary="Demo only: a reader token for a display name", responses=BODY_ERRORS)
    async def demo_login(body: DemoLogin) -> DemoSession:
        # A new user per login (two people may type the same name), for the default site,
        # marked as a demo token so that no ingest outside demo mode accepts it.
        user = Reader(id=demo_user_id(body.name, new_demo_nonce()), name=body.name,
                      role=body.role, site=settings.default_site, demo=True)
        now = datetime.now(UTC)
        ttl = timedelta(seconds=token_ttl_s)
        token = mint_reader_token(user, jwt_secret, ttl=ttl, now=now,
                                  issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        return DemoSession(token=token, user=DemoUser(id=user.id, name=user.name, role=user.role),
                           expires_at=now + ttl)

    @app.get("/", include_in_schema=False)
    async def front_page() -> Response:
        return _page("front.html")

    slugs = {section_slug(name) for name in SECTIONS}

    @app.get("/sections/{slug}", include_in_schema=False)
    async def section_page(slug: str) -> Response:
        if slug not in slugs:
            raise HttpError(404, "not_found", f"no section {slug!r}")
        return _page("front.html")

    @app.get("/articles/{article_id}", include_in_schema=False)
    async def article_page(
        article_id: Annotated[str, Path(pattern=ID_REGEX, max_length=ID_MAX_CHARS)],
    ) -> Response:
        # Any article the stream knows gets its comment section; the demo articles their text.
        return _page("index.html")

    @app.get("/moderate", include_in_schema=False)
    async def moderation_desk() -> Response:
        # The page is public; the queue is not: the gateway serves it to moderators only.
        return _page("moderate.html")

    content = site_content()

    @app.get("/site/articles.json", tags=["page"], response_model=SiteContent,
             summary="Demo only: the demo site's sections and articles")
    async def site_articles() -> SiteContent:
        return content

    @app.get("/config.json", tags=["page"], response_model=PageConfig)
    async def page_config() -> PageConfig:
        # From settings only: the request's Host header is the client's to choose.
        return PageConfig(
            gateway_url=settings.gateway_public_url,
            ingest_url=settings.public_ingest_url or "",
            site=settings.default_site, article_id=LEAD_ARTICLE_ID,
            demo_mode=settings.demo_mode,
        )
