"""Request and response bodies of the HTTP ingest API (the OpenAPI document is built from them).

Bodies reuse the event contract's field types, so whatever passes here also passes the event
models; unknown fields are refused. Ids and names of authors are not accepted from bodies at
all: they come from the caller's token.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from commentfeed.events import (
    Body,
    CommentStatus,
    Id,
    Name,
    Reason,
    ReportReason,
    Timestamp,
    Title,
    Url,
)
from producers.auth import Role


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NewArticle(_Body):
    """``POST /v1/articles``: publishes ``article.published``."""

    article_id: Id
    #: Defaults to the ingest's ``COMMENTFEED_DEFAULT_SITE``.
    site: Id | None = None
    title: Title
    url: Url
    author: Name
    #: Defaults to now.
    published_at: Timestamp | None = None


class ArticlePatch(_Body):
    """``PATCH /v1/articles/{id}``: the fields to change; publishes a whole ``article.updated``."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    title: Title | None = None
    url: Url | None = None
    author: Name | None = None
    published_at: Timestamp | None = None


class NewComment(_Body):
    """``POST /v1/articles/{id}/comments``: the author is the token's user."""

    body: Body
    #: The comment this one replies to (same article); null or absent for a top-level comment.
    parent_id: Id | None = None


class CommentPatch(_Body):
    body: Body


class Vote(_Body):
    #: +1, -1, or 0 to withdraw an earlier vote.
    value: Literal[-1, 0, 1]


class Moderation(_Body):
    action: Literal["hide", "approve"]
    reason: Reason | None = None


class Report(_Body):
    """``POST /v1/comments/{id}/reports``: the reporter is the token's user."""

    reason: ReportReason
    #: What the reader wants the moderators to know, beyond the reason.
    text: Reason | None = None


class Ban(_Body):
    """``POST /v1/sites/{site}/bans``: the moderator is the token's user."""

    user_id: Id
    #: When the ban ends; must be in the future.
    until: Timestamp
    #: Also hide the user's visible comments on the site (one ``comment.moderated`` each).
    hide_comments: bool = False
    reason: Reason | None = None


class DemoLogin(_Body):
    name: Name
    role: Role = "reader"


class Accepted(BaseModel):
    """The answer to every accepted write (202): where the event went."""

    event_id: str
    event_type: str
    #: The event's key: the article id, or ``site:<site>`` for a ban.
    article_id: str
    #: The comment concerned; for a new comment, the id the API gave it.
    comment_id: str | None = None
    #: For a new comment: ``visible``, or ``pending`` when it waits for a moderator (the
    #: author's page shows it as "awaiting moderation"); null for every other write.
    status: CommentStatus | None = None
    topic: str
    partition: int
    offset: int


class ErrorBody(BaseModel):
    """Every error except 422 (which lists field errors in FastAPI's format)."""

    code: str = Field(description="machine-readable reason, e.g. comments_closed")
    detail: str = Field(description="what went wrong, for people")


def error_response(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry whose body is an :class:`ErrorBody`."""
    return {"model": ErrorBody, "description": description}


#: Refusals of the body limit (:mod:`producers.middleware`), before any route runs.
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_response("The body could not be read as JSON text (e.g. not UTF-8)"),
    413: error_response("Body too large"),
}


class DemoUser(BaseModel):
    id: str
    name: str
    role: Role


class DemoSession(BaseModel):
    token: str
    user: DemoUser
    expires_at: Timestamp


class PageConfig(BaseModel):
    """``GET /config.json``: what the demo page needs to find the gateway and the API."""

    #: From COMMENTFEED_PUBLIC_GATEWAY_URL (default ``ws://HOST:GATEWAY_PORT/ws``).
    gateway_url: str
    #: From COMMENTFEED_PUBLIC_INGEST_URL; empty means the page's own origin.
    ingest_url: str
    site: str
    article_id: str
    demo_mode: bool


class ActiveBan(BaseModel):
    """A ban in force, as ``GET /v1/sites/{site}/bans`` lists it."""

    user_id: str
    #: The name on the user's latest comment this process has seen; null if it saw none.
    name: str | None
    #: When the ban ends (always in the future).
    until: Timestamp
    #: The moderator's reason, if they gave one.
    reason: str | None
    #: Who banned: the moderator's user id, and their name if they ever commented.
    moderator: str
    moderator_name: str | None
    #: When the moderator decided (the ``user.banned`` event's time).
    banned_at: Timestamp


class BanList(BaseModel):
    """``GET /v1/sites/{site}/bans``: the site's bans in force, newest first."""

    site: str
    #: At most ``limit`` bans, the newest decisions first.
    bans: list[ActiveBan]
    #: Every ban in force on the site, also those past the limit.
    total: int
    limit: int


class MyVotes(BaseModel):
    """``GET /v1/articles/{id}/votes/mine``: the caller's votes that count in the article."""

    article_id: Id
    #: Comment id -> +1 or -1; withdrawn votes are not listed. At most the 1,000 most recently
    #: changed per reader and article (docs/ingest-api.md).
    votes: dict[str, Literal[1, -1]]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    publisher: bool
    directory: bool
    articles: int
    comments: int
