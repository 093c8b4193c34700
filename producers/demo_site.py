"""The demo site: the page at ``/``, its ``/config.json`` and the demo login; demo mode only.

The page and the widget scripts are package data of the gateway (``gateway/static``); they are
found through the package, so an installed wheel serves the same files as a checkout. Outside
demo mode the ingest API still serves the widget scripts and styles for sites that embed them,
but no page at ``/``, no ``/config.json`` and no demo login (``/v1/demo/login`` answers 404
``demo_disabled`` so an operator sees why).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Request
from starlette.staticfiles import StaticFiles

from commentfeed.demo_data import LEAD_ARTICLE_ID
from commentfeed.errors import HttpError
from commentfeed.settings import Settings
from producers.api_models import BODY_ERRORS, DemoLogin, DemoSession, DemoUser, PageConfig
from producers.auth import Reader, demo_user_id, mint_reader_token
from producers.middleware import page_host

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
        user = Reader(id=demo_user_id(body.name), name=body.name, role=body.role)
        now = datetime.now(UTC)
        ttl = timedelta(seconds=token_ttl_s)
        token = mint_reader_token(user, jwt_secret, ttl=ttl, now=now)
        return DemoSession(token=token, user=DemoUser(id=user.id, name=user.name, role=user.role),
                           expires_at=now + ttl)

    @app.get("/config.json", tags=["page"], response_model=PageConfig)
    async def page_config(request: Request) -> PageConfig:
        host = page_host(request.headers.get("host"), settings.host)
        # No port in the Host header means the scheme's default port: keep it implicit.
        port = f":{request.url.port}" if request.url.port else ""
        return PageConfig(
            gateway_url=f"ws://{host}:{settings.gateway_port}/ws",
            ingest_url=f"{request.url.scheme}://{host}{port}",
            site=settings.default_site, article_id=LEAD_ARTICLE_ID,
            demo_mode=settings.demo_mode,
        )
