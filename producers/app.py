"""The HTTP ingest API (FastAPI): CMS and readers in, typed events to Kafka out.

``create_app(settings)`` wires the pieces: auth (:mod:`producers.auth`), the per-user rate limit
(:mod:`producers.ratelimit`), ``Idempotency-Key`` (:mod:`producers.idempotency`), the rules
that turn a request into an event or a refusal (:mod:`producers.rules`), the directory that
knows which articles and comments exist (:mod:`producers.directory_feed`) and the publisher.
It also serves the widget assets at ``/``, and in demo mode the demo site
(:mod:`producers.demo_site`).

Order of checks for a write: body size (413) -> credentials (401) -> rate limit (429) -> body
and parameters (422) -> directory ready and caught up with the topics' end offsets (503) -> a
keyed write that already landed (202, its first answer) -> rules (403/404/409/410) -> publish
(503 if the broker fails). Catching up and publishing share one deadline (503 broker_timeout).
Nothing is published unless every check passed. docs/ingest-api.md is the user-facing
description, including the guarantee a 202 gives.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from commentfeed.channels import ID_MAX_CHARS, ID_REGEX, is_id
from commentfeed.errors import CommentfeedError, HttpError, PublishError
from commentfeed.events import (
    ARTICLE_EVENT_TYPES,
    AnyInputEvent,
    CommentDeleted,
    CommentModerated,
    CommentPosted,
    UserBanned,
)
from commentfeed.settings import Settings
from producers import api_docs, cors, demo_site, rules
from producers.api_models import (
    BODY_ERRORS,
    Accepted,
    ArticlePatch,
    Ban,
    BanList,
    CommentPatch,
    ErrorBody,
    Health,
    Moderation,
    MyVotes,
    NewArticle,
    NewComment,
    Readiness,
    Report,
    Vote,
    error_response,
)
from producers.auth import (
    AuthError,
    Reader,
    bearer_token,
    check_service_token,
    policy_from_settings,
    verify_reader_token,
)
from producers.directory import Directory
from producers.directory_feed import DirectoryFeed, NotFollowing
from producers.idempotency import (
    KEYED_EVENT_PREFIX,
    IdempotencyCache,
    IdempotencyKeyReused,
    WriteIds,
    write_ids,
)
from producers.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from producers.moderation import ModerationPolicy
from producers.publisher import Delivery, Publisher
from producers.ratelimit import RateLimiter, retry_after_header
from producers.streams_client import StreamsClient

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
#: ``GET /v1/sites/{site}/bans`` lists at most this many (the newest decisions).
MAX_LISTED_BANS = 200


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


_COMMON: dict[int | str, dict[str, Any]] = {
    **BODY_ERRORS,
    503: error_response("Directory catching up, or the broker failed or did not answer in "
                        "time (see Retry-After)"),
}
_Responses = dict[int | str, dict[str, Any]]
_AUTH: _Responses = {401: error_response("Missing, expired or forged token")}
_READER: _Responses = {
    **_AUTH, 429: error_response("Over the per-user rate limit (see Retry-After)"),
}
_NOT_FOUND: _Responses = {404: error_response("Unknown article or comment")}
_CONFLICT: _Responses = {
    409: error_response("Comments closed, the article exists, or the comment is not visible"),
}
_FORBIDDEN: _Responses = {
    403: error_response("Not the author, not a moderator, or another site"),
}
_STREAMS: _Responses = {
    503: error_response("The streams API is down, recovering or slow: retry (Retry-After)"),
}
_GONE: _Responses = {410: error_response("The article was deleted, and its comments with it")}
_REUSED: _Responses = {
    422: {"description": "Field errors, or an Idempotency-Key reused with another body"},
}


def _responses(*groups: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    merged: dict[int | str, dict[str, Any]] = {**_COMMON}
    for group in groups:
        merged.update(group)
    return merged


def _publish_failed(exc: PublishError) -> HttpError:
    log.warning("publish failed: %s", exc)
    if not exc.retriable:
        return HttpError(503, "publish_failed", f"the broker refused the event: {exc}")
    # A timed-out request may still be stored once the broker answers again.
    return HttpError(503, "publish_failed",
                     f"the broker did not confirm the event ({exc}); it may still land: retry "
                     "with the same Idempotency-Key", {"Retry-After": "1"})


#: A write's rule: the event to publish, from a caught-up directory and the write's ids.
Rule = Callable[[Directory, WriteIds], AnyInputEvent]


class EventPublisher(Protocol):
    """What the ingest needs of a publisher: :class:`producers.Publisher`, or a fake in tests."""

    @property
    def started(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, event: AnyInputEvent) -> Delivery: ...

    async def publish_many(self, events: Iterable[AnyInputEvent]) -> list[Delivery]: ...


class DirectorySource(Protocol):
    """What the ingest needs of a directory feed: :class:`DirectoryFeed`, or a fake in tests."""

    @property
    def directory(self) -> Directory: ...

    @property
    def ready(self) -> asyncio.Event: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def sync(self) -> None:
        """Return once the directory holds every record the topics held when called; raise
        :class:`~producers.directory_feed.NotFollowing` if it cannot tell."""
        ...


class Ingest:
    """What the routes share: publisher, directory, limits. One per app."""

    def __init__(
        self, settings: Settings, limits: IngestLimits, publisher: EventPublisher,
        feed: DirectorySource, clock: Callable[[], float],
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        streams: StreamsClient | None = None,
    ) -> None:
        self.settings = settings
        #: The streams worker's query API, for reads the directory cannot answer.
        self.streams = streams or StreamsClient(settings.streams_base_url)
        self.limits = limits
        self.jwt_secret, self.service_token = require_secrets(settings)
        self.token_policy = policy_from_settings(settings, leeway_s=limits.jwt_leeway_s)
        self.publisher = publisher
        self.feed = feed
        #: Event times (``posted_at``, ``edited_at``, ``time``): each process has its own.
        self.now = wall_clock
        self.moderation = ModerationPolicy.from_settings(settings)
        self.limiter = RateLimiter(rate_per_s=limits.rate_per_s, burst=limits.burst, clock=clock)
        self.idempotency: IdempotencyCache[Accepted] = IdempotencyCache(
            ttl_s=limits.idempotency_ttl_s, max_keys=limits.idempotency_max_keys, clock=clock,
        )

    @property
    def directory(self) -> Directory:
        return self.feed.directory

    def require_ready(self) -> Directory:
        if not self.feed.ready.is_set():
            raise HttpError(503, "not_ready", "the directory is still catching up",
                            {"Retry-After": "1"})
        return self.directory

    async def accept(self, event: AnyInputEvent, ids: WriteIds, *,
                     before: Sequence[CommentDeleted | CommentModerated] = ()) -> Accepted:
        """Publish an accepted event (with the write's event id) and fold it in at once.

        ``before`` are published first and acknowledged before ``event`` is sent, each with an
        id derived from the write's, so a retry republishes them as the same events.
        """
        if before:
            await self._publish_first([
                e.model_copy(update={"id": f"{ids.event_id}.{e.data.comment_id}"})
                for e in before
            ])
        event = event.model_copy(update={"id": ids.event_id})
        try:
            delivery = await self.publisher.publish(event)
        except PublishError as exc:
            raise _publish_failed(exc) from exc
        self.directory.apply(event, delivery.offset, topic=delivery.topic,
                             partition=delivery.partition, keyed_prefix=KEYED_EVENT_PREFIX)
        comment_id = (None if isinstance(event, (*ARTICLE_EVENT_TYPES, UserBanned))
                      else event.data.comment_id)
        status = event.data.status if isinstance(event, CommentPosted) else None
        return Accepted(
            event_id=delivery.event_id, event_type=delivery.event_type,
            article_id=delivery.key, comment_id=comment_id, status=status, topic=delivery.topic,
            partition=delivery.partition, offset=delivery.offset,
        )

    async def _publish_first(self, events: list[CommentDeleted | CommentModerated]) -> None:
        try:
            deliveries = await self.publisher.publish_many(events)
        except PublishError as exc:
            raise _publish_failed(exc) from exc
        for event, delivery in zip(events, deliveries, strict=True):
            self.directory.apply(event, delivery.offset, topic=delivery.topic,
                                 partition=delivery.partition, keyed_prefix=KEYED_EVENT_PREFIX)

    async def _caught_up(self) -> Directory:
        """The directory, once ready and holding every record the topics held when called.

        Read-your-writes across processes: whatever any process acknowledged before now is in
        it before the rules look at it. Unbounded: the caller sets the deadline.
        """
        directory = self.require_ready()
        try:
            await self.feed.sync()
        except NotFollowing:
            raise HttpError(503, "not_ready", "the directory is reconnecting",
                            {"Retry-After": "1"}) from None
        return directory

    async def read(self) -> Directory:
        """The directory for a read that must see every acknowledged write (a moderator's
        list after their own ban), caught up within the publish deadline or 503."""
        deadline_s = self.settings.publish_timeout_ms / 1000
        try:
            async with asyncio.timeout(deadline_s):
                return await self._caught_up()
        except TimeoutError:
            log.warning("read not caught up within %.1fs: broker unavailable", deadline_s)
            raise HttpError(503, "broker_timeout",
                            f"the broker did not answer within {deadline_s:g}s: retry",
                            {"Retry-After": "1"}) from None

    async def _settled(self, response: Response, ids: WriteIds, rule: Rule) -> Accepted:
        """Catch up with the topics, then answer a landed retry or apply the rule; bounded."""
        deadline_s = self.settings.publish_timeout_ms / 1000
        try:
            async with asyncio.timeout(deadline_s):
                directory = await self._caught_up()
                landed = directory.landed(ids.event_id) if ids.keyed else None
                if landed is not None:
                    response.headers["Idempotent-Replayed"] = "true"
                    posted = (directory.comment(landed.comment_id)
                              if landed.event_type == "comment.posted" and landed.comment_id
                              else None)
                    return Accepted(
                        event_id=ids.event_id, event_type=landed.event_type,
                        article_id=landed.article_id, comment_id=landed.comment_id,
                        status=posted.status if posted is not None else None,
                        topic=landed.topic, partition=landed.partition, offset=landed.offset,
                    )
                event = rule(directory, ids)
                return await self.accept(event, ids, before=rules.cascade(directory, event))
        except TimeoutError:
            log.warning("write not settled within %.1fs: broker unavailable", deadline_s)
            raise HttpError(
                503, "broker_timeout",
                f"the broker did not answer within {deadline_s:g}s; the write may or may not "
                "land: retry it with the same Idempotency-Key", {"Retry-After": "1"},
            ) from None

    async def once(
        self, request: Request, response: Response, caller: str, key: str | None,
        work: Callable[[], Awaitable[Accepted]],
    ) -> Accepted:
        """Run ``work`` at most once per (caller, method, path, Idempotency-Key) in this
        process; a retry that reaches it gets the stored answer."""
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

    async def write(
        self, request: Request, response: Response, caller: str, key: str | None, rule: Rule,
    ) -> Accepted:
        """Every write's one path: once per Idempotency-Key, with ids derived from it (the same
        in every process: see producers.idempotency), the rule applied to a directory caught
        up with the topics, the event it returns published and folded into the directory."""
        ids = write_ids(caller, request.method, request.url.path, key)
        return await self.once(request, response, caller, key,
                               lambda: self._settled(response, ids, rule))


def create_app(
    settings: Settings,
    *,
    limits: IngestLimits | None = None,
    publisher: EventPublisher | None = None,
    feed: DirectorySource | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    streams: StreamsClient | None = None,
) -> FastAPI:
    """The ingest ASGI app. Its lifespan starts the publisher and the directory feed.

    Raises :class:`IngestConfigError` without a JWT secret and a service token.
    """
    limits = limits or IngestLimits()
    ingest = Ingest(settings, limits, publisher or Publisher(settings),
                    feed or DirectoryFeed(settings), clock, wall_clock,
                    streams or StreamsClient(settings.streams_base_url))

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
            await ingest.streams.close()
            if owns_publisher:
                await ingest.publisher.stop()

    app = FastAPI(
        title="commentfeed ingest API",
        version="1",
        summary="Articles from the CMS; comments, edits, deletes, votes and moderation from "
                "logged-in readers. Every accepted write is one event on Kafka.",
        lifespan=lifespan, docs_url=None, redoc_url=None,  # producers.api_docs serves /docs
    )
    app.state.ingest = ingest

    @app.exception_handler(HttpError)
    async def http_error(_: Request, exc: HttpError) -> JSONResponse:
        return JSONResponse(
            ErrorBody(code=exc.code, detail=exc.detail).model_dump(), status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own handler echoes the input as UTF-8 and fails (a 500) on a lone
        # surrogate sent as a JSON escape; ASCII-escaped JSON carries any input.
        content = {"detail": jsonable_encoder(exc.errors())}
        return Response(json.dumps(content, ensure_ascii=True, separators=(",", ":")),
                        status_code=422, media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def starlette_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own refusals (unknown route, unreadable body) in the same shape.
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        return JSONResponse(
            ErrorBody(code=code, detail=str(exc.detail)).model_dump(),
            status_code=exc.status_code, headers=exc.headers,
        )

    _routes(app, ingest)
    _operations(app, ingest)
    demo_site.mount(app, settings, jwt_secret=ingest.jwt_secret,
                    token_ttl_s=limits.demo_token_ttl_s)
    cors.mount_widgets(app, demo_site.STATIC)
    api_docs.mount(app)
    # Last: it answers every path the routes above do not.
    app.mount("/", demo_site.static_files(page=settings.demo_mode), name="static")

    app.add_middleware(SecurityHeadersMiddleware, gateway_url=settings.gateway_public_url,
                       api_docs_paths=api_docs.PAGES)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    # Outermost: a preflight is answered before any other layer looks at the request.
    cors.add_cors(app, settings.allowed_origins)
    return app


# -- dependencies ------------------------------------------------------------------------------

_service_scheme = HTTPBearer(
    auto_error=False, scheme_name="serviceToken",
    description="The CMS's service token (COMMENTFEED_SERVICE_TOKEN).",
)
_reader_scheme = HTTPBearer(
    auto_error=False, scheme_name="readerToken", bearerFormat="JWT",
    description="HS256 JWT signed by the site with COMMENTFEED_JWT_SECRET: exp and sub "
                "required; name, role (reader or moderator) and site (required for "
                "moderators) claims; iss and aud when configured.",
)
PathId = Annotated[str, Path(pattern=ID_REGEX, min_length=1, max_length=ID_MAX_CHARS)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN,
           description="Makes a retried write land once, through any ingest process: the "
                       "event id (and a new comment's id) derive from caller, method, path "
                       "and key."),
]


def _unauthorized(exc: AuthError) -> HttpError:
    return HttpError(401, exc.code, exc.message, {"WWW-Authenticate": "Bearer"})


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
            _credentials(credentials), ingest.jwt_secret, policy=ingest.token_policy
        )
    except AuthError as exc:
        raise _unauthorized(exc) from None
    wait = ingest.limiter.take(user.id)
    if wait is not None:
        raise HttpError(429, "rate_limited", f"too many writes; retry in {wait:.1f}s",
                        {"Retry-After": retry_after_header(wait)})
    return user


async def reading_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_reader_scheme)],
) -> Reader:
    """The reader behind the token, for a read: it spends nothing of the write rate limit."""
    ingest = _ingest(request)
    try:
        return verify_reader_token(
            _credentials(credentials), ingest.jwt_secret, policy=ingest.token_policy
        )
    except AuthError as exc:
        raise _unauthorized(exc) from None


Cms = Annotated[str, Depends(cms)]
ReaderDep = Annotated[Reader, Depends(reader)]
ReadingReaderDep = Annotated[Reader, Depends(reading_reader)]


def _as_reader(caller: Reader) -> str:
    """The idempotency scope of a reader's writes."""
    return f"reader:{caller.id}"


# -- routes ------------------------------------------------------------------------------------

def _routes(app: FastAPI, ingest: Ingest) -> None:
    @app.post("/v1/articles", tags=["articles"], summary="Publish an article",
              responses=_responses(_AUTH, _CONFLICT, _REUSED),
              status_code=202, response_model=Accepted)
    async def publish_article(
        body: NewArticle, request: Request, response: Response, caller: Cms,
        key: IdempotencyKey = None,
    ) -> Accepted:
        site = ingest.settings.default_site
        return await ingest.write(
            request, response, caller, key, lambda d, _: rules.publish_article(
                d, body, default_site=site, now=ingest.now()))

    @app.patch("/v1/articles/{article_id}", tags=["articles"], summary="Update an article",
               responses=_responses(_AUTH, _NOT_FOUND, _GONE, _CONFLICT, _REUSED),
               status_code=202, response_model=Accepted)
    async def update_article(
        article_id: PathId, patch: ArticlePatch, request: Request, response: Response,
        caller: Cms, key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, caller, key, lambda d, _: rules.update_article(
                d, article_id, patch, now=ingest.now()))

    @app.post("/v1/articles/{article_id}/close", tags=["articles"],
              summary="Close an article's comments",
              responses=_responses(_AUTH, _NOT_FOUND, _GONE, _REUSED),
              status_code=202, response_model=Accepted)
    async def close_article(
        article_id: PathId, request: Request, response: Response, caller: Cms,
        key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, caller, key, lambda d, _: rules.close_article(
                d, article_id, now=ingest.now()))

    @app.delete("/v1/articles/{article_id}", tags=["articles"], summary="Delete an article",
                responses=_responses(_AUTH, _NOT_FOUND, _GONE, _REUSED),
                status_code=202, response_model=Accepted)
    async def delete_article(
        article_id: PathId, request: Request, response: Response, caller: Cms,
        key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, caller, key, lambda d, _: rules.delete_article(
                d, article_id, now=ingest.now()))

    @app.post("/v1/articles/{article_id}/comments", tags=["comments"],
              summary="Post a comment or a reply (parent_id)",
              responses=_responses(_READER, _FORBIDDEN, _NOT_FOUND, _GONE, _CONFLICT, _REUSED),
              status_code=202, response_model=Accepted)
    async def post_comment(
        article_id: PathId, body: NewComment, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, _as_reader(caller), key, lambda d, ids: rules.post_comment(
                d, article_id, body, caller, comment_id=ids.comment_id, now=ingest.now(),
                policy=ingest.moderation))

    @app.patch("/v1/comments/{comment_id}", tags=["comments"],
               summary="Edit a comment (author or moderator)",
               responses=_responses(_READER, _FORBIDDEN, _NOT_FOUND, _GONE, _CONFLICT,
                                    _REUSED),
               status_code=202, response_model=Accepted)
    async def edit_comment(
        comment_id: PathId, patch: CommentPatch, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, _as_reader(caller), key, lambda d, _: rules.edit_comment(
                d, comment_id, patch, caller, now=ingest.now()))

    @app.delete("/v1/comments/{comment_id}", tags=["comments"],
                summary="Delete a comment (author or moderator)",
                responses=_responses(_READER, _FORBIDDEN, _NOT_FOUND, _GONE, _REUSED),
                status_code=202, response_model=Accepted)
    async def delete_comment(
        comment_id: PathId, request: Request, response: Response, caller: ReaderDep,
        reason: Annotated[str | None, Query(max_length=500)] = None,
        key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, _as_reader(caller), key, lambda d, _: rules.delete_comment(
                d, comment_id, caller, reason=reason, now=ingest.now()))

    @app.post("/v1/comments/{comment_id}/vote", tags=["comments"],
              summary="Vote on a comment (+1, -1, 0 withdraws)",
              responses=_responses(_READER, _FORBIDDEN, _NOT_FOUND, _GONE, _CONFLICT, _REUSED),
              status_code=202, response_model=Accepted)
    async def vote(
        comment_id: PathId, ballot: Vote, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, _as_reader(caller), key, lambda d, _: rules.vote(
                d, comment_id, ballot, caller, now=ingest.now()))

    @app.get("/v1/articles/{article_id}/votes/mine", tags=["comments"],
             summary="The caller's own votes in an article (from the streams' state)",
             responses=_responses(_AUTH, _STREAMS), response_model=MyVotes)
    async def my_votes(article_id: PathId, caller: ReadingReaderDep) -> MyVotes:
        votes = await ingest.streams.voter_votes(article_id, caller.id)
        return MyVotes(article_id=article_id, votes=votes)

    @app.post("/v1/comments/{comment_id}/moderation", tags=["moderation"],
              summary="Hide or approve a comment (moderators only)",
              responses=_responses(_READER, _FORBIDDEN, _NOT_FOUND, _GONE, _REUSED),
              status_code=202, response_model=Accepted)
    async def moderate(
        comment_id: PathId, decision: Moderation, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, _as_reader(caller), key, lambda d, _: rules.moderate(
                d, comment_id, decision, caller, now=ingest.now()))

    @app.post("/v1/comments/{comment_id}/reports", tags=["moderation"],
              summary="Report a comment to the site's moderators (once per reader)",
              responses=_responses(_READER, _FORBIDDEN, _NOT_FOUND, _GONE, _CONFLICT, _REUSED),
              status_code=202, response_model=Accepted)
    async def report(
        comment_id: PathId, body: Report, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, _as_reader(caller), key, lambda d, _: rules.report_comment(
                d, comment_id, body, caller, now=ingest.now()))

    @app.post("/v1/sites/{site}/bans", tags=["moderation"],
              summary="Ban a user from writing on the site until a time (moderators only)",
              responses=_responses(_READER, _FORBIDDEN, _CONFLICT, _REUSED),
              status_code=202, response_model=Accepted)
    async def ban(
        site: PathId, body: Ban, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, _as_reader(caller), key, lambda d, _: rules.ban_user(
                d, site, body, caller, now=ingest.now()))

    @app.delete("/v1/sites/{site}/bans/{user_id}", tags=["moderation"],
                summary="Lift a user's ban now (moderators only)",
                responses=_responses(_READER, _FORBIDDEN, _CONFLICT, _REUSED),
                status_code=202, response_model=Accepted)
    async def lift_ban(
        site: PathId, user_id: PathId, request: Request, response: Response,
        caller: ReaderDep, key: IdempotencyKey = None,
    ) -> Accepted:
        return await ingest.write(
            request, response, _as_reader(caller), key, lambda d, _: rules.lift_ban(
                d, site, user_id, caller, now=ingest.now()))


    @app.get("/v1/sites/{site}/bans", tags=["moderation"],
             summary="The bans in force on the site, newest first (moderators only)",
             responses=_responses(_AUTH, _FORBIDDEN), response_model=BanList)
    async def list_bans(site: PathId, caller: ReadingReaderDep) -> BanList:
        rules.moderator_of(caller, site, "list bans")
        directory = await ingest.read()
        return rules.bans_in_force(directory, site, now=ingest.now(), limit=MAX_LISTED_BANS)


def _operations(app: FastAPI, ingest: Ingest) -> None:
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
