"""Websocket protocol v1, owned by the gateway: codes, limits and every frame as a model.

docs/protocol.md is the contract. This module restates it in a form a machine can read: the
error and close codes, the limits on request fields, and a pydantic model for each frame. The
gateway's fast path (:mod:`gateway.frames`) parses requests into these models without running
their validation (``model_construct``, after its own checks) and writes frames with orjson; the
AsyncAPI generator (``contract.asyncapi``) turns the models into payload schemas, and tests
check the code tables here against the tables in the doc, so the three cannot drift apart.

Frames ignore fields they do not know (``extra="ignore"``): the protocol lets the server add
fields without a new version, and clients must ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Annotated, Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from websockets.frames import CloseCode as WebsocketCloseCode

from commentfeed.channels import ARTICLE_CHANNEL_PATTERN, CHANNEL_PATTERN
from commentfeed.events import (
    ArticleView,
    CommentRemovedPayload,
    CommentView,
    CountPayload,
    ModerationSnapshot,
    PresencePayload,
    QueueItem,
    QueueRemovedPayload,
    RecentPayload,
    ScorePayload,
)


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BAD_REQUEST = "bad_request"
    BAD_CHANNEL = "bad_channel"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    NOT_SUBSCRIBED = "not_subscribed"
    BAD_TOKEN = "bad_token"  # noqa: S105 (an error code, not a secret)
    FORBIDDEN = "forbidden"


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    SLOW_CONSUMER = 4000
    TOO_MANY_ERRORS = 4001
    SERVER_FULL = 4002
    ORIGIN_FORBIDDEN = 4003
    TOO_MANY_CONNECTIONS = 4004


# -- limits on request fields ------------------------------------------------------------------

MAX_REQUEST_ID_CHARS = 64
MAX_EPOCH_CHARS = 128
MAX_CURSOR_CHARS = 512
HISTORY_LIMIT_MAX = 100
HISTORY_LIMIT_DEFAULT = 50
#: A reader token in an ``auth`` frame; the site's JWTs are a few hundred characters.
MAX_TOKEN_CHARS = 2048

ChannelName = Annotated[str, StringConstraints(pattern=CHANNEL_PATTERN)]
ArticleChannelName = Annotated[str, StringConstraints(pattern=ARTICLE_CHANNEL_PATTERN)]
HistorySort: TypeAlias = Literal["newest", "best"]
HISTORY_SORTS: tuple[str, ...] = get_args(HistorySort)
#: Echoed in the reply; an integer or a short string.
RequestId: TypeAlias = int | Annotated[str, StringConstraints(max_length=MAX_REQUEST_ID_CHARS)]

#: error code -> meaning, as in docs/protocol.md "error".
ERROR_CODES: dict[ErrorCode, str] = {
    ErrorCode.BAD_JSON: "the frame is not JSON, not an object, or is a binary frame",
    ErrorCode.BAD_REQUEST: "unknown `op`, missing or wrongly typed field, or a `history` "
                           "cursor the streams do not know",
    ErrorCode.BAD_CHANNEL: "channel name not in the channel table",
    ErrorCode.TOO_MANY_SUBSCRIPTIONS:
        "over the per-connection subscription limit (default 200)",
    ErrorCode.RATE_LIMITED:
        "over the request rate (default 20 ops/s, burst 250 so that a listing page or a "
        "resuming client can subscribe its 200 channels at once), or over the `history` "
        "requests a connection may have waiting (default 4); the op was dropped",
    ErrorCode.UNAVAILABLE:
        "the snapshot or history page could not be fetched (streams API down); retry later",
    ErrorCode.NOT_SUBSCRIBED: "`history` on a channel the connection has not subscribed",
    ErrorCode.BAD_TOKEN: "`auth` with a token that is not valid (bad signature, expired, wrong "
                         "issuer or audience, over 2048 characters); the connection is "
                         "anonymous afterwards",
    ErrorCode.FORBIDDEN: "a private channel (`moderation:<site>`) without an `auth` as a "
                         "moderator of that site",
}


@dataclass(frozen=True, slots=True)
class CloseDoc:
    """One row of the close-code table: the code(s), and what a client should do."""

    codes: tuple[int, ...]
    name: str
    reconnect: str
    when: str

    @property
    def label(self) -> str:
        return " / ".join(str(int(code)) for code in self.codes)


#: Every close code a client can see, as in docs/protocol.md "Close codes": the gateway's own
#: and those the websocket library sends for protocol-level faults.
CLOSE_CODES: tuple[CloseDoc, ...] = (
    CloseDoc((CloseCode.NORMAL,), "normal", "no", "the client closed"),
    CloseDoc((CloseCode.GOING_AWAY,), "going away", "yes, with backoff",
             "gateway shutting down"),
    CloseDoc((WebsocketCloseCode.PROTOCOL_ERROR, WebsocketCloseCode.INVALID_DATA),
             "protocol error / invalid data", "fix the client",
             "the client broke the websocket protocol itself (e.g. a text frame that is not "
             "UTF-8)"),
    CloseDoc((CloseCode.MESSAGE_TOO_BIG,), "message too big", "fix the client",
             "a frame over 4 KiB"),
    CloseDoc((WebsocketCloseCode.INTERNAL_ERROR,), "internal error", "yes, with backoff",
             "no pong to the server's ping within 20 s"),
    CloseDoc((CloseCode.SLOW_CONSUMER,), "slow_consumer", "yes, resume with `since`",
             "unsent bytes over the limit (default 1 MiB)"),
    CloseDoc((CloseCode.TOO_MANY_ERRORS,), "too_many_errors", "no (fix the client)",
             "20 error frames within 10 s"),
    CloseDoc((CloseCode.SERVER_FULL,), "server_full", "yes, with backoff",
             "connection limit of the process reached"),
    CloseDoc((CloseCode.ORIGIN_FORBIDDEN,), "origin_forbidden", "no",
             "`Origin` not allowed (setting `ALLOWED_ORIGINS`)"),
    CloseDoc((CloseCode.TOO_MANY_CONNECTIONS,), "too_many_connections", "yes, with backoff",
             "connection limit of one client address reached (default 500)"),
)


class _Frame(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Position(_Frame):
    """A place in a channel's stream: the epoch and the offset of the last update applied."""

    epoch: Annotated[str, StringConstraints(min_length=1, max_length=MAX_EPOCH_CHARS)]
    offset: Annotated[int, Field(ge=0)]


# -- client -> server --------------------------------------------------------------------------


class Subscribe(_Frame):
    """Subscribe to a channel; with ``since``, resume from a position the client has."""

    op: Literal["subscribe"]
    channel: ChannelName
    id: RequestId | None = None
    since: Position | None = None


class Unsubscribe(_Frame):
    """Stop a subscription; idempotent."""

    op: Literal["unsubscribe"]
    channel: ChannelName
    id: RequestId | None = None


class HistoryRequest(_Frame):
    """Older comments of an ``article:`` channel the connection subscribed, paged."""

    op: Literal["history"]
    channel: ArticleChannelName
    #: The cursor of a snapshot or an earlier page; omitted: start from the newest.
    before: Annotated[str, StringConstraints(max_length=MAX_CURSOR_CHARS)] | None = None
    limit: Annotated[int, Field(ge=1, le=HISTORY_LIMIT_MAX)] = HISTORY_LIMIT_DEFAULT
    #: ``newest``: older comments, newest first. ``best``: top-level comments by score, then
    #: newest, across the whole article (pages of its own cursors, which start without
    #: ``before``); served by the streams, never from the gateway's hot state.
    sort: HistorySort = "newest"
    id: RequestId | None = None


class Auth(_Frame):
    """Log the connection in with a reader token (the same JWT the ingest API takes)."""

    op: Literal["auth"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_CHARS)]
    id: RequestId | None = None


class Ping(_Frame):
    """Application-level ping, answered by ``pong``."""

    op: Literal["ping"]
    id: RequestId | None = None


# -- server -> client --------------------------------------------------------------------------


class AuthedUser(_Frame):
    """Who the connection is, as the token says."""

    id: str
    name: str
    #: ``["reader"]`` or ``["moderator"]``.
    roles: list[str]
    #: The site the token is good for; ``null``: any site (readers only).
    site: str | None


class Authed(_Frame):
    """The answer to ``auth``: the connection now acts as ``user``."""

    op: Literal["authed"]
    id: RequestId | None = None
    user: AuthedUser


class _UpdateFrame(_Frame):
    op: Literal["update"]
    channel: ChannelName
    epoch: str
    offset: int


class CommentAddedUpdate(_UpdateFrame):
    """A comment became visible (posted visible, approved or un-hidden)."""

    type: Literal["comment.added"]
    data: CommentView


class CommentUpdatedUpdate(_UpdateFrame):
    """The whole comment after an edit."""

    type: Literal["comment.updated"]
    data: CommentView


class CommentRemovedUpdate(_UpdateFrame):
    type: Literal["comment.removed"]
    data: CommentRemovedPayload


class CommentScoreUpdate(_UpdateFrame):
    type: Literal["comment.score"]
    data: ScorePayload


class CountUpdate(_UpdateFrame):
    """Always the full count, never a delta."""

    type: Literal["count"]
    data: CountPayload


class PresenceUpdate(_UpdateFrame):
    """How many read the article now, across every gateway: the full value, never a delta."""

    type: Literal["presence"]
    data: PresencePayload


class ArticleUpdate(_UpdateFrame):
    """The article meta after it was published, updated, closed or deleted."""

    type: Literal["article"]
    data: ArticleView


class RecentUpdate(_UpdateFrame):
    """The whole Recent Comments list of a site, latest value."""

    type: Literal["recent"]
    data: RecentPayload


class QueueItemUpdate(_UpdateFrame):
    """A comment entered a ``moderation:`` queue, or its entry changed (the whole item)."""

    type: Literal["queue.item"]
    data: QueueItem


class QueueRemovedUpdate(_UpdateFrame):
    """A comment left a ``moderation:`` queue."""

    type: Literal["queue.removed"]
    data: QueueRemovedPayload


UPDATE_FRAMES: tuple[type[_UpdateFrame], ...] = (
    CommentAddedUpdate,
    CommentUpdatedUpdate,
    CommentRemovedUpdate,
    CommentScoreUpdate,
    CountUpdate,
    ArticleUpdate,
    RecentUpdate,
    QueueItemUpdate,
    QueueRemovedUpdate,
    PresenceUpdate,
)

Update: TypeAlias = Annotated[
    CommentAddedUpdate
    | CommentUpdatedUpdate
    | CommentRemovedUpdate
    | CommentScoreUpdate
    | CountUpdate
    | ArticleUpdate
    | RecentUpdate
    | QueueItemUpdate
    | QueueRemovedUpdate
    | PresenceUpdate,
    Field(discriminator="type"),
]


def update_type(frame: type[_UpdateFrame]) -> str:
    """The ``type`` tag of an update frame class."""
    (tag,) = get_args(frame.model_fields["type"].annotation)
    assert isinstance(tag, str)
    return tag


def update_payload(frame: type[_UpdateFrame]) -> type[BaseModel]:
    """The model of an update frame's ``data``."""
    data = frame.model_fields["data"].annotation
    assert isinstance(data, type)
    assert issubclass(data, BaseModel)
    return data


class ArticleSnapshot(_Frame):
    """The snapshot of an ``article:`` channel."""

    #: ``null`` for an article the streams have not seen.
    article: ArticleView | None
    count: int
    #: The newest visible comments, oldest first (at most 50).
    comments: list[CommentView]
    #: Pages further back with ``history``; ``null``: nothing older.
    cursor: str | None


class Subscribed(_Frame):
    """The answer to ``subscribe``: a fresh snapshot, or (``recovered``) the updates missed.

    ``snapshot`` is present when ``recovered`` is false: an :class:`ArticleSnapshot` for
    ``article:`` channels, a count for ``count:``, the readers for ``presence:``, the site's
    list for ``recent`` and the queue for ``moderation:``.
    ``missed`` is present when ``recovered`` is true: every update after ``since.offset``.
    Without ``id`` it is unsolicited: the gateway resynced the channel (it saw a gap or a new
    epoch) and this fresh snapshot replaces the client's state and position.
    """

    op: Literal["subscribed"]
    id: RequestId | None = None
    channel: ChannelName
    epoch: str
    offset: int
    recovered: bool
    snapshot: (ArticleSnapshot | CountPayload | PresencePayload | RecentPayload
               | ModerationSnapshot | None) = None
    missed: list[Update] | None = None


class HistoryPage(_Frame):
    """The answer to ``history``: comments older than ``before``, newest first (or, for
    ``sort: best``, the next best top-level comments)."""

    op: Literal["history"]
    id: RequestId | None = None
    channel: ChannelName
    comments: list[CommentView]
    #: Pass as ``before`` for the next page; ``null`` when there is nothing older.
    cursor: str | None
    #: Only in the answer to ``sort: best``: every top-level comment not listed in its pages
    #: scores at most this (``null``: they list every top-level comment).
    floor: int | None = None
    #: Present (``best``) only in the answer to ``sort: best``.
    sort: HistorySort | None = None


class Pong(_Frame):
    op: Literal["pong"]
    id: RequestId | None = None


class Unsubscribed(_Frame):
    op: Literal["unsubscribed"]
    channel: ChannelName
    id: RequestId | None = None


class ErrorFrame(_Frame):
    """A request failed; the connection stays open. ``id`` is the failed request's, if any."""

    op: Literal["error"]
    id: RequestId | None = None
    code: ErrorCode
    message: str


CLIENT_FRAMES: tuple[type[_Frame], ...] = (Subscribe, Unsubscribe, HistoryRequest, Auth, Ping)
#: A client request, as :func:`gateway.frames.parse_request` returns it.
Request: TypeAlias = Subscribe | Unsubscribe | HistoryRequest | Auth | Ping
SERVER_FRAMES: tuple[type[_Frame], ...] = (
    Subscribed, HistoryPage, Authed, Pong, Unsubscribed, ErrorFrame,
)

assert set(ERROR_CODES) == set(ErrorCode)
assert {c for row in CLOSE_CODES for c in row.codes} >= set(CloseCode)
