"""The demo site: the page at ``/``, its ``/config.json`` and the demo login; demo mode only.

The page and the widget scripts are package data of the gateway (``gateway/static``); they are
found through the package, so an installed wheel serves the same files as a checkout. Outside
demo mode the ingest API still serves the widget scripts and styles for sites that embed them,
but no page at ``/``, no ``/config.json`` and no demo login (``/v1/demo/login`` answers 404
``demo_disabled`` so an operator sees why).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from commentfeed.demo_data import LEAD_ARTICLE_ID
from commentfeed.errors import HttpError
from commentfeed.settings import Settings
from producers.api_models import BODY_ERRORS, DemoLogin, DemoSession, DemoUser, PageConfig
from producers.auth import Reader, demo_user_id, mint_reader_token, new_demo_nonce

#: The package and folder that hold the page and the widget assets.
STATIC = ("gateway", "static")


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

    @app.get("/config.json", tags=["page"], response_model=PageConfig)
    async def page_config() -> PageConfig:
        # From settings only: the request's Host header is the client's to choose.
        return PageConfig(
            gateway_url=settings.gateway_public_url,
            ingest_url=settings.public_ingest_url or "",
            site=settings.default_site, article_id=LEAD_ARTICLE_ID,
            demo_mode=settings.demo_mode,
        )
