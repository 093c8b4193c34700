"""Protocol v1 on the wire: channel names, client requests parsed, server frames built.

Pure functions over bytes and dicts, no I/O. Everything here follows docs/protocol.md; the
error codes and close codes are the documented ones and nothing else. Frames are built with the
project codec (orjson); pre-encoded parts (an update frame, a snapshot) are embedded with
:class:`orjson.Fragment`, so each is encoded once however many frames carry it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Literal, TypeAlias, TypeGuard

import orjson

from commentfeed.codec import dumps, loads
from gateway.exceptions import BadUpdateError, FrameError, UpstreamError


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BAD_REQUEST = "bad_request"
    BAD_CHANNEL = "bad_channel"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    NOT_SUBSCRIBED = "not_subscribed"


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    SLOW_CONSUMER = 4000
    TOO_MANY_ERRORS = 4001
    SERVER_FULL = 4002
    ORIGIN_FORBIDDEN = 4003


ChannelKind = Literal["article", "count", "recent"]
RequestId: TypeAlias = int | str

_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_KINDS: frozenset[str] = frozenset({"article", "count", "recent"})
MAX_REQUEST_ID_CHARS = 64
MAX_EPOCH_CHARS = 128
MAX_CURSOR_CHARS = 512
HISTORY_LIMIT_MAX = 100
HISTORY_LIMIT_DEFAULT = 50


def check_channel(name: str) -> str:
    """``name`` if it is in the protocol's channel table, else :class:`ValueError`.

    Frames always carry the name the client subscribed with, ``recent`` included.
    """
    if name == "recent":
        return name
    kind, sep, key = name.partition(":")
    if not sep or kind not in _KINDS or _ID.fullmatch(key) is None:
        raise ValueError(name)
    return name


def upstream_channel(name: str, default_site: str) -> str:
    """The channel the streams write for ``name``: ``recent`` is ``recent:<default_site>``."""
    return f"recent:{default_site}" if name == "recent" else name


def channel_kind(channel: str) -> ChannelKind:
    """Kind of a canonical channel name."""
    kind = channel.partition(":")[0]
    if kind == "article":
        return "article"
    if kind == "count":
        return "count"
    return "recent"


# -- client requests ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    epoch: str
    offset: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    id: RequestId | None
    channel: str
    since: Position | None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    id: RequestId | None
    channel: str


@dataclass(frozen=True, slots=True)
class History:
    id: RequestId | None
    channel: str
    before: str | None
    limit: int


@dataclass(frozen=True, slots=True)
class Ping:
    id: RequestId | None


Request: TypeAlias = Subscribe | Unsubscribe | History | Ping


def _is_int(value: object) -> TypeGuard[int]:
    # JSON true/false arrive as bool, a subclass of int: they are not numbers here.
    return isinstance(value, int) and not isinstance(value, bool)


def _request_id(doc: dict[str, Any]) -> RequestId | None:
    value = doc.get("id")
    if value is None:
        return None
    if _is_int(value):
        return value
    if isinstance(value, str) and len(value) <= MAX_REQUEST_ID_CHARS:
        return value
    raise FrameError(
        ErrorCode.BAD_REQUEST, f"'id' must be an integer or a string of at most "
        f"{MAX_REQUEST_ID_CHARS} characters")


def _channel(doc: dict[str, Any], rid: RequestId | None) -> str:
    name = doc.get("channel")
    if not isinstance(name, str):
        raise FrameError(ErrorCode.BAD_REQUEST, "missing or non-string field 'channel'",
                         request_id=rid)
    try:
        return check_channel(name)
    except ValueError:
        shown = name if len(name) <= 80 else name[:80] + "…"
        raise FrameError(ErrorCode.BAD_CHANNEL, f"unknown channel {shown!r}",
                         request_id=rid) from None


def _since(doc: dict[str, Any], rid: RequestId | None) -> Position | None:
    since = doc.get("since")
    if since is None:
        return None
    if not isinstance(since, dict):
        raise FrameError(ErrorCode.BAD_REQUEST, "'since' must be an object", request_id=rid)
    epoch, offset = since.get("epoch"), since.get("offset")
    if not isinstance(epoch, str) or not 0 < len(epoch) <= MAX_EPOCH_CHARS:
        raise FrameError(ErrorCode.BAD_REQUEST, "'since.epoch' must be a non-empty string",
                         request_id=rid)
    if not _is_int(offset) or offset < 0:
        raise FrameError(ErrorCode.BAD_REQUEST, "'since.offset' must be an integer >= 0",
                         request_id=rid)
    return Position(epoch, offset)


def _history(doc: dict[str, Any], rid: RequestId | None) -> History:
    channel = _channel(doc, rid)
    if channel_kind(channel) != "article":
        raise FrameError(ErrorCode.BAD_REQUEST, "'history' is only for article channels",
                         request_id=rid)
    before = doc.get("before")
    if before is not None and (not isinstance(before, str) or len(before) > MAX_CURSOR_CHARS):
        raise FrameError(ErrorCode.BAD_REQUEST, "'before' must be a cursor string",
                         request_id=rid)
    limit = doc.get("limit", HISTORY_LIMIT_DEFAULT)
    if limit is None:
        limit = HISTORY_LIMIT_DEFAULT
    if not _is_int(limit) or not 1 <= limit <= HISTORY_LIMIT_MAX:
        raise FrameError(ErrorCode.BAD_REQUEST,
                         f"'limit' must be an integer from 1 to {HISTORY_LIMIT_MAX}",
                         request_id=rid)
    return History(rid, channel, before, limit)


def parse_request(raw: str | bytes) -> Request:
    """A client frame as a request; raises :class:`FrameError` with the documented code.

    ``raw`` is ``str`` for a text frame and ``bytes`` for a binary one (refused).
    """
    if not isinstance(raw, str):
        raise FrameError(ErrorCode.BAD_JSON, "binary frames are not accepted; send JSON text")
    try:
        doc = loads(raw)
    except orjson.JSONDecodeError:
        raise FrameError(ErrorCode.BAD_JSON, "frame is not valid JSON") from None
    if not isinstance(doc, dict):
        raise FrameError(ErrorCode.BAD_JSON, "frame must be a JSON object")
    rid = _request_id(doc)
    op = doc.get("op")
    if op == "subscribe":
        channel = _channel(doc, rid)
        return Subscribe(rid, channel, _since(doc, rid))
    if op == "unsubscribe":
        return Unsubscribe(rid, _channel(doc, rid))
    if op == "history":
        return _history(doc, rid)
    if op == "ping":
        return Ping(rid)
    if not isinstance(op, str):
        raise FrameError(ErrorCode.BAD_REQUEST, "missing or non-string field 'op'",
                         request_id=rid)
    shown = op if len(op) <= 40 else op[:40] + "…"
    raise FrameError(ErrorCode.BAD_REQUEST, f"unknown op {shown!r}", request_id=rid)


# -- server frames -----------------------------------------------------------------------------


def _with_id(frame: dict[str, Any], rid: RequestId | None) -> dict[str, Any]:
    if rid is not None:
        frame["id"] = rid
    return frame


def error_frame(code: ErrorCode, message: str, rid: RequestId | None = None) -> bytes:
    return dumps(_with_id({"op": "error", "code": code.value, "message": message}, rid))


def pong_frame(rid: RequestId | None) -> bytes:
    return dumps(_with_id({"op": "pong"}, rid))


def unsubscribed_frame(channel: str, rid: RequestId | None) -> bytes:
    return dumps(_with_id({"op": "unsubscribed", "channel": channel}, rid))


def update_frame(channel: str, epoch: str, offset: int, kind: str,
                 payload: dict[str, Any]) -> bytes:
    return dumps({"op": "update", "channel": channel, "epoch": epoch, "offset": offset,
                  "type": kind, "data": payload})


def snapshot_frame(channel: str, rid: RequestId | None, epoch: str, offset: int,
                   snapshot: bytes) -> bytes:
    """``subscribed`` with a fresh snapshot (already encoded); no ``id`` when unsolicited."""
    frame = _with_id({"op": "subscribed"}, rid)
    frame.update(channel=channel, epoch=epoch, offset=offset, recovered=False,
                 snapshot=orjson.Fragment(snapshot))
    return dumps(frame)


def resume_frame(channel: str, rid: RequestId | None, epoch: str, offset: int,
                 missed: list[bytes]) -> bytes:
    """``subscribed`` with ``recovered: true`` and the missed update frames, in order."""
    frame = _with_id({"op": "subscribed"}, rid)
    frame.update(channel=channel, epoch=epoch, offset=offset, recovered=True,
                 missed=[orjson.Fragment(f) for f in missed])
    return dumps(frame)


def history_frame(channel: str, rid: RequestId | None, comments: list[Any],
                  cursor: str | None) -> bytes:
    frame = _with_id({"op": "history"}, rid)
    frame.update(channel=channel, comments=comments, cursor=cursor)
    return dumps(frame)


# -- what the gateway reads from upstream ------------------------------------------------------

UPDATE_KINDS: frozenset[str] = frozenset({
    "comment.added", "comment.updated", "comment.removed", "comment.score", "count", "recent",
    "article",
})


@dataclass(frozen=True, slots=True)
class Update:
    """One channel update from ``feed.updates`` (an entry of a FeedUpdate's ``data.updates``)."""

    channel: str
    epoch: str
    offset: int
    kind: str
    payload: dict[str, Any]
    #: The input event's time (RFC 3339), for publish-to-send latency.
    source_time: str | None = None


def parse_updates(raw: bytes) -> list[Update]:
    """The channel updates in a ``feed.updates`` record value, in the record's order.

    A record carries one channel's updates of one worker batch. Checks only what the gateway
    relies on, with orjson alone: this runs once per record on the fan-out path, where a full
    pydantic validation of the envelope would cost more than the fan-out itself. Raises
    :class:`BadUpdateError`; a record with one unusable update is refused whole.
    """
    try:
        doc = loads(raw)
    except orjson.JSONDecodeError:
        raise BadUpdateError("record is not JSON") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise BadUpdateError("record has no 'data' object")
    channel, epoch, items = data.get("channel"), data.get("epoch"), data.get("updates")
    if not isinstance(channel, str) or not isinstance(epoch, str) or not epoch:
        raise BadUpdateError("'data.channel' and 'data.epoch' must be strings")
    if not isinstance(items, list) or not items:
        raise BadUpdateError("'data.updates' must be a non-empty list")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise BadUpdateError("each of 'data.updates' must be an object")
        offset, kind = item.get("offset"), item.get("kind")
        payload, source_time = item.get("payload"), item.get("source_time")
        if not _is_int(offset) or offset < 1:
            raise BadUpdateError("'offset' must be an integer >= 1")
        if kind not in UPDATE_KINDS:
            raise BadUpdateError(f"unknown update kind {kind!r}")
        if not isinstance(payload, dict):
            raise BadUpdateError("'payload' must be an object")
        if source_time is not None and not isinstance(source_time, str):
            source_time = None
        out.append(Update(channel, epoch, offset, kind, payload, source_time))
    return out


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A channel's state at a position, as the streams query API returns it."""

    epoch: str
    offset: int
    state: dict[str, Any]


def parse_snapshot(doc: object, channel: str) -> Snapshot:
    """The body of ``GET /v1/channels/{channel}/snapshot``; raises :class:`UpstreamError`."""
    if not isinstance(doc, dict):
        raise UpstreamError("snapshot answer is not an object")
    epoch, offset, state = doc.get("epoch"), doc.get("offset"), doc.get("snapshot")
    if doc.get("channel", channel) != channel:
        raise UpstreamError(f"snapshot answer is for {doc.get('channel')!r}, not {channel!r}")
    if not isinstance(epoch, str) or not epoch or not _is_int(offset) or offset < 0:
        raise UpstreamError("snapshot answer lacks a valid epoch and offset")
    if not isinstance(state, dict):
        raise UpstreamError("snapshot answer lacks a 'snapshot' object")
    return Snapshot(epoch, offset, state)


def parse_history(doc: object) -> tuple[list[Any], str | None]:
    """The body of ``GET /v1/articles/{id}/comments``; raises :class:`UpstreamError`."""
    if not isinstance(doc, dict):
        raise UpstreamError("history answer is not an object")
    comments, cursor = doc.get("comments"), doc.get("cursor")
    if not isinstance(comments, list) or not (cursor is None or isinstance(cursor, str)):
        raise UpstreamError("history answer lacks 'comments' or a valid 'cursor'")
    return comments, cursor
