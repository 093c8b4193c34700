"""The HTTP ingest API (FastAPI): CMS and readers in, typed events to Kafka out.

``create_app(settings)`` wires the pieces: auth (:mod:`producers.auth`), the per-user rate limit
(:mod:`producers.ratelimit`), ``Idempotency-Key`` (:mod:`producers.idempotency`), the rules
that turn a request into an event or a refusal (:mod:`producers.rules`), the directory that
knows which articles and comments exist (:mod:`producers.directory_feed`) and the publisher.
It also serves the demo page and widget assets from ``gateway/static/`` at ``/``.

Order of checks for a write: body size (413) -> credentials (401) -> rate limit (429) -> body
and parameters (422) -> directory ready (503) -> rules (403/404/409) -> publish (503 if the
broker fails). Nothing is published unless every check passed. docs/ingest-api.md is the
user-facing description.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from commentfeed.channels import ID_MAX_CHARS, ID_REGEX, is_id
from commentfeed.demo_data import LEAD_ARTICLE_ID
from commentfeed.errors import CommentfeedError, PublishError
from commentfeed.events import InputEvent
from commentfeed.settings import Settings
from producers import rules
from producers.api_models import (
    Accepted,
    ArticlePatch,
    CommentPatch,
    DemoLogin,
    DemoSession,
    DemoUser,
    ErrorBody,
    Health,
    Moderation,
    NewArticle,
    NewComment,
    PageConfig,
    Readiness,
    Vote,
)
from producers.auth import (
    AuthError,
    Reader,
    bearer_token,
    check_service_token,
    demo_user_id,
    mint_reader_token,
    verify_reader_token,
)
from producers.directory import Directory
from producers.directory_feed import DirectoryFeed
from producers.idempotency import IdempotencyCache, IdempotencyKeyReused
from producers.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware, page_host
from producers.publisher import Publisher
from producers.ratelimit import RateLimiter, retry_after_header

log = logging.getLogger(__name__)

#: gateway/static/ of this checkout: the demo page and the widgets.
STATIC_DIR = FsPath(__file__).resolve().parent.parent / "gateway" / "static"
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


class IngestConfigError(CommentfeedError):
    """The ingest API cannot run with these settings."""


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """Limits of one ingest process (all per process)."""

    #: The largest legal comment (5,000 characters of 4-byte UTF-8) is about 20 KB of JSON.
    max_body_bytes: int = 32 * 1024
    #: Per reader: a burst of ``burst`` writes, refilled at ``rate_per_s``.
    rate_per_s: float = 1.0
    burst: int = 20
    idempotency_ttl_s: float = 3600.0
    idempotency_max_keys: int = 10_000
    jwt_leeway_s: float = 5.0
    demo_token_ttl_s: int = 3600


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def require_secrets(settings: Settings) -> tuple[str, str]:
    """The JWT secret and the service token; the ingest refuses to run without them."""
    missing = [
        f"COMMENTFEED_{name.upper()}"
        for name in ("jwt_secret", "service_token")
        if getattr(settings, name) is None or not getattr(settings, name).get_secret_value()
    ]
    if missing:
        raise IngestConfigError(
            f"the ingest API needs {' and '.join(missing)}: set "
            f"{'them' if len(missing) > 1 else 'it'} in the environment "
            "(the site signs reader tokens with the JWT secret; the CMS sends the service token)"
        )
    assert settings.jwt_secret is not None
    assert settings.service_token is not None
    if not is_id(settings.default_site):
        raise IngestConfigError(
            f"COMMENTFEED_DEFAULT_SITE {settings.default_site!r} is not a valid site id")
    secret = settings.jwt_secret.get_secret_value()
    if len(secret.encode()) < 32:
        log.warning("COMMENTFEED_JWT_SECRET is shorter than 32 bytes: HS256 tokens signed "
                    "with it are easier to forge")
    return secret, settings.service_token.get_secret_value()


def _error(detail: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": detail}


_COMMON: dict[int | str, dict[str, Any]] = {
    400: _error("The body could not be read as JSON text (e.g. not UTF-8)"),
    413: _error("Body too large"),
    503: _error("Directory catching up, or the broker failed (see Retry-After)"),
}
_Responses = dict[int | str, dict[str, Any]]
_AUTH: _Responses = {401: _error("Missing, expired or forged token")}
_READER: _Responses = {**_AUTH, 429: _error("Over the per-user rate limit (see Retry-After)")}
_NOT_FOUND: _Responses = {404: _error("Unknown article or comment")}
_CONFLICT: _Responses = {409: _error("Comments closed, or the article exists")}
_FORBIDDEN: _Responses = {403: _error("Not the author, or not a moderator")}
_REUSED: _Responses = {
    422: {"description": "Field errors, or an Idempotency-Key reused with another body"},
}


def _responses(*groups: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    merged: dict[int | str, dict[str, Any]] = {**_COMMON}
    for group in groups:
        merged.update(group)
    return merged


class Ingest:
    """What the routes share: publisher, directory, limits. One per app."""

    def __init__(
        self, settings: Settings, limits: IngestLimits, publisher: Publisher,
        feed: DirectoryFeed, clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.limits = limits
        self.jwt_secret, self.service_token = require_secrets(settings)
        self.publisher = publisher
        self.feed = feed
        self.limiter = RateLimiter(rate_per_s=limits.rate_per_s, burst=limits.burst, clock=clock)
        self.idempotency: IdempotencyCache[Accepted] = IdempotencyCache(
            ttl_s=limits.idempotency_ttl_s, max_keys=limits.idempotency_max_keys, clock=clock,
        )

    @property
    def directory(self) -> Directory:
        return self.feed.directory

    def require_ready(self) -> Directory:
        if not self.feed.ready.is_set():
            raise ApiError(503, "not_ready", "the directory is still catching up",
                           {"Retry-After": "1"})
        return self.directory

    async def accept(self, event: InputEvent, *, comment_id: str | None = None) -> Accepted:
        """Publish an accepted event and fold it into the directory at once."""
        try:
            delivery = await self.publisher.publish(event)
        except PublishError as exc:
            log.warning("publish failed: %s", exc)
            headers = {"Retry-After": "1"} if exc.retriable else {}
            raise ApiError(503, "publish_failed", f"the broker did not take the event: {exc}",
                           headers) from exc
        self.directory.apply(event, delivery.offset)
        return Accepted(
            event_id=delivery.event_id, event_type=delivery.event_type,
            article_id=delivery.key, comment_id=comment_id, topic=delivery.topic,
            partition=delivery.partition, offset=delivery.offset,
        )

    async def once(
        self, request: Request, response: Response, caller: str, key: str | None,
        work: Callable[[], Awaitable[Accepted]],
    ) -> Accepted:
        """Run ``work`` at most once per (caller, method, path, Idempotency-Key)."""
        if key is None:
            return await work()
        body = await request.body()
        fingerprint = hashlib.sha256(
            request.url.query.encode() + b"\0" + body
        ).hexdigest()
        scope: Hashable = (caller, request.method, request.url.path, key)
        try:
            value, replayed = await self.idempotency.run(scope, fingerprint, work)
        except IdempotencyKeyReused:
            # Shaped like any other 422, so clients handle one format for field errors.
            raise RequestValidationError([{
                "type": "idempotency_key_reused", "loc": ("header", "Idempotency-Key"),
                "msg": "this Idempotency-Key was used with a different request",
                "input": key,
            }]) from None
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return value


def _now() -> datetime:
    return datetime.now(UTC)


def new_comment_id() -> str:
    return "c-" + uuid.uuid4().hex


def create_app(
    settings: Settings,
    *,
    limits: IngestLimits | None = None,
    publisher: Publisher | None = None,
    feed: DirectoryFeed | None = None,
    static_dir: FsPath | None = STATIC_DIR,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The ingest ASGI app. Its lifespan starts the publisher and the directory feed.

    Raises :class:`IngestConfigError` without a JWT secret and a service token.
    """
    limits = limits or IngestLimits()
    ingest = Ingest(settings, limits, publisher or Publisher(settings),
                    feed or DirectoryFeed(settings), clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        owns_publisher = not ingest.publisher.started
        if owns_publisher:
            await ingest.publisher.start()
        ingest.feed.start()
        try:
            yield
        finally:
            await ingest.feed.stop()
            if owns_publisher:
                await ingest.publisher.stop()

    app = FastAPI(
        title="commentfeed ingest API",
        version="1",
        summary="Articles from the CMS; comments, edits, deletes, votes and moderation from "
                "logged-in readers. Every accepted write is one event on Kafka.",
        lifespan=lifespan,
    )
    app.state.ingest = ingest

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            ErrorBody(code=exc.code, detail=exc.detail).model_dump(), status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own refusals (unknown route, unreadable body) in the same shape.
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        return JSONResponse(
            ErrorBody(code=code, detail=str(exc.detail)).model_dump(),
            status_code=exc.status_code, headers=exc.headers,
        )

    @app.exception_handler(rules.Refusal)
    async def refusal(_: Request, exc: rules.Refusal) -> JSONResponse:
        return JSONResponse(
            ErrorBody(code=exc.code, detail=exc.detail).model_dump(), status_code=exc.status
        )

    _routes(app, ingest)
    _demo_routes(app, ingest)
    _page_routes(app, ingest, static_dir)

    def gateway_for_host(host: str | None) -> str:
        return f"{page_host(host, settings.host)}:{settings.gateway_port}"

    docs = frozenset(p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
                     if p)
    app.add_middleware(SecurityHeadersMiddleware, gateway_for_host=gateway_for_host,
                       api_docs_paths=docs)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    return app


# -- dependencies ------------------------------------------------------------------------------

_service_scheme = HTTPBearer(
    auto_error=False, scheme_name="serviceToken",
    description="The CMS's service token (COMMENTFEED_SERVICE_TOKEN).",
)
_reader_scheme = HTTPBearer(
    auto_error=False, scheme_name="readerToken", bearerFormat="JWT",
    description="HS256 JWT signed by the site with COMMENTFEED_JWT_SECRET: exp and sub "
                "required; name and role (reader or moderator) claims.",
)
PathId = Annotated[str, Path(pattern=ID_REGEX, min_length=1, max_length=ID_MAX_CHARS)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN,
           description="Makes a retried write publish once (per caller, per process)."),
]


def _unauthorized(exc: AuthError) -> ApiError:
    return ApiError(401, exc.code, exc.message, {"WWW-Authenticate": "Bearer"})


def _ingest(request: Request) -> Ingest:
    ingest = request.app.state.ingest
    assert isinstance(ingest, Ingest)
    return ingest


def _credentials(credentials: HTTPAuthorizationCredentials | None) -> str:
    return bearer_token(f"Bearer {credentials.credentials}" if credentials else None)


async def cms(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_service_scheme)],
) -> str:
    ingest = _ingest(request)
    try:
        check_service_token(_credentials(credentials), ingest.service_token)
    except AuthError as exc:
        raise _unauthorized(exc) from None
    return "cms"


async def reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_reader_scheme)],
) -> Reader:
    """The reader behind the token, after spending one token of their rate limit."""
    ingest = _ingest(request)
    try:
        user = verify_reader_token(
            _credentials(credentials), ingest.jwt_secret, leeway_s=ingest.limits.jwt_leeway_s
        )
    except AuthError as exc:
        raise _unauthorized(exc) from None
    wait = ingest.limiter.take(user.id)
    if wait is not None:
        raise ApiError(429, "rate_limited", f"too many writes; retry in {wait:.1f}s",
                       {"Retry-After": retry_after_header(wait)})
    return user


Cms = Annotated[str, Depends(cms)]
ReaderDep = Annotated[Reader, Depends(reader)]


# -- routes ------------------------------------------------------------------------------------

def _routes(app: FastAPI, ingest: Ingest) -> None:
    @app.post("/v1/articles", tags=["articles"], summary="Publish an article",
              responses=_responses(_AUTH, _CONFLICT, _REUSED),
              status_code=202, response_model=Accepted)
    async def publish_article(
        body: NewArticle, request: Request, response: Response, caller: Cms,
        key: IdempotencyKey = None,
    ) -> Accepted:
        async def work() -> Accepted:
            event = rules.publish_article(ingest.require_ready(), body,
                                          default_site=ingest.settings.default_site, now=_now())
            return await ingest.accept(event)
        return await ingest.once(request, response, caller, key, work)

    @app.patch("/v1/articles/{article_id}", tags=["articles"], summary="Update an article",
               responses=_responses(_AUTH, _NOT_FOUND, _CONFLICT, _REUSED),
               status_code=202, response_model=Accepted)
    async def update_article(
        article_id: PathId, patch: ArticlePatch, request: Request, response: Response,
        caller: Cms, key: IdempotencyKey = None,
    ) -> Accepted:
        async def work() -> Accepted:
            event = rules.update_article(ingest.require_ready(), article_id, patch, now=_now())
            return await ingest.accept(event)
        return await ingest.once(request, response, caller, key, work)

    @app.post("/v1/articles/{article_id}/close", tags=["articles"],
              summary="Close an article's comments",
              responses=_responses(_AUTH, _NOT_FOUND, _REUSED),
              status_code=202, response_model=Accepted)
    async def close_article(
        article_id: PathId, request: Request, response: Response, caller: Cms,
        key: IdempotencyKey = None,
    ) -> Accepted:
        async def work() -> Accepted:
            event = rules.close_article(ingest.require_ready(), article_id, now=_now())
            return await ingest.accept(event)
        return await ingest.once(request, response, caller, key, work)

    @app.delete("/v1/articles/{article_id}", tags=["articles"], summary="Delete an article",
                responses=_responses(_AUTH, _NOT_FOUND, _REUSED),
                status_code=202, response_model=Accepted)
    async def delete_article(
        article_id: PathId, request: Request, response: Response, caller: Cms,
        key: IdempotencyKey = None,
    ) -> Accepted:
        async def work() -> Accepted:
            event = rules.delete_article(ingest.require_ready(), article_id, now=_now())
            return await ingest.accept(event)
        return await ingest.once(request, response, caller, key, work)

    @app.post("/v1/articles/{article_id}/comments", tags=["comments"],
              summary="Post a comment or a reply (parent_id)",
              responses=_responses(_READER, _NOT_FOUND, _CONFLICT, _REUSED),
              status_code=202, response_model=Accepted)
    async def post_comment(
        article_id: PathId, body: NewComment, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        async def work() -> Accepted:
            event = rules.post_comment(ingest.require_ready(), article_id, body, caller,
                                       comment_id=new_comment_id(), now=_now())
            return await ingest.accept(event, comment_id=event.data.comment_id)
        return await ingest.once(request, response, f"reader:{caller.id}", key, work)

    @app.patch("/v1/comments/{comment_id}", tags=["comments"],
               summary="Edit a comment (author or moderator)",
               responses=_responses(_READER, _FORBIDDEN, _NOT_FOUND, _CONFLICT, _REUSED),
               status_code=202, response_model=Accepted)
    async def edit_comment(
        comment_id: PathId, patch: CommentPatch, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        async def work() -> Accepted:
            event = rules.edit_comment(ingest.require_ready(), comment_id, patch, caller,
                                       now=_now())
            return await ingest.accept(event, comment_id=comment_id)
        return await ingest.once(request, response, f"reader:{caller.id}", key, work)

    @app.delete("/v1/comments/{comment_id}", tags=["comments"],
                summary="Delete a comment (author or moderator)",
                responses=_responses(_READER, _FORBIDDEN, _NOT_FOUND, _REUSED),
                status_code=202, response_model=Accepted)
    async def delete_comment(
        comment_id: PathId, request: Request, response: Response, caller: ReaderDep,
        reason: Annotated[str | None, Query(max_length=500)] = None,
        key: IdempotencyKey = None,
    ) -> Accepted:
        async def work() -> Accepted:
            event = rules.delete_comment(ingest.require_ready(), comment_id, caller,
                                         reason=reason, now=_now())
            return await ingest.accept(event, comment_id=comment_id)
        return await ingest.once(request, response, f"reader:{caller.id}", key, work)

    @app.post("/v1/comments/{comment_id}/vote", tags=["comments"],
              summary="Vote on a comment (+1, -1, 0 withdraws)",
              responses=_responses(_READER, _NOT_FOUND, _CONFLICT, _REUSED),
              status_code=202, response_model=Accepted)
    async def vote(
        comment_id: PathId, ballot: Vote, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        async def work() -> Accepted:
            event = rules.vote(ingest.require_ready(), comment_id, ballot, caller, now=_now())
            return await ingest.accept(event, comment_id=comment_id)
        return await ingest.once(request, response, f"reader:{caller.id}", key, work)

    @app.post("/v1/comments/{comment_id}/moderation", tags=["moderation"],
              summary="Hide or approve a comment (moderators only)",
              responses=_responses(_READER, _FORBIDDEN, _NOT_FOUND, _REUSED),
              status_code=202, response_model=Accepted)
    async def moderate(
        comment_id: PathId, decision: Moderation, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        async def work() -> Accepted:
            event = rules.moderate(ingest.require_ready(), comment_id, decision, caller,
                                   now=_now())
            return await ingest.accept(event, comment_id=comment_id)
        return await ingest.once(request, response, f"reader:{caller.id}", key, work)


def _demo_routes(app: FastAPI, ingest: Ingest) -> None:
    if not ingest.settings.demo_mode:
        @app.post("/v1/demo/login", include_in_schema=False)
        async def no_demo_login() -> None:
            raise ApiError(404, "demo_disabled", "demo login is off (COMMENTFEED_DEMO_MODE)")
        return

    @app.post("/v1/demo/login", tags=["demo"], response_model=DemoSession,
              summary="Demo only: a reader token for a display name",
              responses={400: _COMMON[400], 413: _COMMON[413]})
    async def demo_login(body: DemoLogin) -> DemoSession:
        user = Reader(id=demo_user_id(body.name), name=body.name, role=body.role)
        now = _now()
        ttl = timedelta(seconds=ingest.limits.demo_token_ttl_s)
        token = mint_reader_token(user, ingest.jwt_secret, ttl=ttl, now=now)
        return DemoSession(token=token, user=DemoUser(id=user.id, name=user.name, role=user.role),
                           expires_at=now + ttl)


def _page_routes(app: FastAPI, ingest: Ingest, static_dir: FsPath | None) -> None:
    settings = ingest.settings

    @app.get("/healthz", tags=["operations"], response_model=Health)
    async def healthz() -> Health:
        return Health()

    @app.get("/readyz", tags=["operations"], response_model=Readiness,
             responses={503: {"model": Readiness, "description": "Not ready yet"}})
    async def readyz() -> JSONResponse:
        state = Readiness(
            ready=ingest.publisher.started and ingest.feed.ready.is_set(),
            publisher=ingest.publisher.started, directory=ingest.feed.ready.is_set(),
            articles=len(ingest.directory.articles), comments=ingest.directory.comment_count,
        )
        return JSONResponse(state.model_dump(), status_code=200 if state.ready else 503)

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

    if static_dir is not None and static_dir.is_dir():
        app.mount("/", StaticFiles(directory=static_dir, html=True), name="static")
    else:
        log.warning("no static directory at %s: the demo page is not served", static_dir)
