"""Websocket protocol v1 frames as pydantic models, with the protocol's error and close codes.

docs/protocol.md is the contract. This module restates it in a form a machine can read: the
AsyncAPI generator (:mod:`commentfeed.asyncapi`) turns these models into payload schemas, and
tests check the code tables here against the tables in the doc, so the two cannot drift apart.

Frames ignore fields they do not know (``extra="ignore"``): the protocol lets the server add
fields without a new version, and clients must ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from commentfeed.events import (
    ArticleView,
    CommentRemovedPayload,
    CommentView,
    CountPayload,
    RecentPayload,
    ScorePayload,
)

#: Ids inside channel names, as in the event contract (``events.Id``).
ID_PATTERN = r"[A-Za-z0-9_.\-]{1,64}"
#: ``article:<id>``, ``count:<id>``, ``recent`` or ``recent:<site>``.
CHANNEL_PATTERN = rf"^(article:{ID_PATTERN}|count:{ID_PATTERN}|recent(:{ID_PATTERN})?)$"

ChannelName = Annotated[str, StringConstraints(pattern=CHANNEL_PATTERN)]
#: Echoed in the reply; an integer or a string of up to 64 characters.
RequestId: TypeAlias = int | Annotated[str, StringConstraints(max_length=64)]

ErrorCode = Literal[
    "bad_json",
    "bad_request",
    "bad_channel",
    "too_many_subscriptions",
    "rate_limited",
    "unavailable",
    "not_subscribed",
]

#: error code -> meaning, as in docs/protocol.md "error".
ERROR_CODES: dict[str, str] = {
    "bad_json": "the frame is not JSON, not an object, or is a binary frame",
    "bad_request": "unknown `op`, missing or wrongly typed field",
    "bad_channel": "channel name not in the channel table",
    "too_many_subscriptions": "over the per-connection subscription limit (default 200)",
    "rate_limited": "over the request rate (default 20 ops/s, burst 40); the op was dropped",
    "unavailable": "the snapshot could not be fetched (streams API down); retry later",
    "not_subscribed": "`history` on a channel the connection has not subscribed",
}


@dataclass(frozen=True, slots=True)
class CloseCode:
    code: int
    name: str
    reconnect: str
    when: str


#: The websocket close codes the gateway uses, as in docs/protocol.md "Close codes".
CLOSE_CODES: tuple[CloseCode, ...] = (
    CloseCode(1000, "normal", "no", "the client closed"),
    CloseCode(1001, "going away", "yes, with backoff", "gateway shutting down"),
    CloseCode(1009, "message too big", "fix the client", "a frame over 4 KiB"),
    CloseCode(4000, "slow_consumer", "yes, resume with `since`",
              "unsent bytes over the limit (default 1 MiB)"),
    CloseCode(4001, "too_many_errors", "no (fix the client)", "20 error frames within 10 s"),
    CloseCode(4002, "server_full", "yes, with backoff", "connection limit of the process reached"),
    CloseCode(4003, "origin_forbidden", "no",
              "`Origin` not allowed (setting `GATEWAY_ALLOWED_ORIGINS`)"),
)


class _Frame(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Position(_Frame):
    """A place in a channel's stream: the epoch and the offset of the last update applied."""

    epoch: str
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
    channel: ChannelName
    #: The cursor of a snapshot or an earlier page; omitted: start from the newest.
    before: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    id: RequestId | None = None


class Ping(_Frame):
    """Application-level ping, answered by ``pong``."""

    op: Literal["ping"]
    id: RequestId | None = None


# -- server -> client --------------------------------------------------------------------------


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


class ArticleUpdate(_UpdateFrame):
    """The article meta after it was published, updated, closed or deleted."""

    type: Literal["article"]
    data: ArticleView


class RecentUpdate(_UpdateFrame):
    """The whole Recent Comments list of a site, latest value."""

    type: Literal["recent"]
    data: RecentPayload


UPDATE_FRAMES: tuple[type[_UpdateFrame], ...] = (
    CommentAddedUpdate,
    CommentUpdatedUpdate,
    CommentRemovedUpdate,
    CommentScoreUpdate,
    CountUpdate,
    ArticleUpdate,
    RecentUpdate,
)

Update: TypeAlias = Annotated[
    CommentAddedUpdate
    | CommentUpdatedUpdate
    | CommentRemovedUpdate
    | CommentScoreUpdate
    | CountUpdate
    | ArticleUpdate
    | RecentUpdate,
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
    ``article:`` channels, a count for ``count:`` and the site's list for ``recent``.
    ``missed`` is present when ``recovered`` is true: every update after ``since.offset``.
    """

    op: Literal["subscribed"]
    id: RequestId | None = None
    channel: ChannelName
    epoch: str
    offset: int
    recovered: bool
    snapshot: ArticleSnapshot | CountPayload | RecentPayload | None = None
    missed: list[Update] | None = None


class HistoryPage(_Frame):
    """The answer to ``history``: comments older than ``before``, newest first."""

    op: Literal["history"]
    id: RequestId | None = None
    channel: ChannelName
    comments: list[CommentView]
    #: Pass as ``before`` for the next page; ``null`` when there is nothing older.
    cursor: str | None


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


CLIENT_FRAMES: tuple[type[_Frame], ...] = (Subscribe, Unsubscribe, HistoryRequest, Ping)
SERVER_FRAMES: tuple[type[_Frame], ...] = (
    Subscribed, HistoryPage, Pong, Unsubscribed, ErrorFrame,
)

assert set(ERROR_CODES) == set(get_args(ErrorCode))
