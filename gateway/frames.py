"""Protocol v1 on the wire, fast: client requests parsed, server frames built.

Pure functions over bytes and dicts, no I/O. The frames, codes and limits are those of
:mod:`gateway.protocol`; this module checks requests by hand (cheaper than validating the
models) and hands back the protocol's models built without a second validation. Frames are
built with the project codec (orjson); pre-encoded parts (an update frame, a snapshot) are
embedded with :class:`orjson.Fragment`, so each is encoded once however many frames carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson

from commentfeed.channels import UPDATE_KINDS, ChannelUpdate, channel_kind, check_channel
from commentfeed.codec import dumps, loads
from gateway.exceptions import BadUpdateError, FrameError, UpstreamError
from gateway.protocol import (
    HISTORY_LIMIT_DEFAULT,
    HISTORY_LIMIT_MAX,
    HISTORY_SORTS,
    MAX_CURSOR_CHARS,
    MAX_EPOCH_CHARS,
    MAX_REQUEST_ID_CHARS,
    MAX_TOKEN_CHARS,
    Auth,
    ErrorCode,
    HistoryRequest,
    Ping,
    Position,
    Request,
    RequestId,
    Subscribe,
    Unsubscribe,
)

# -- client requests ---------------------------------------------------------------------------


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
    return Position.model_construct(epoch=epoch, offset=offset)


def _history(doc: dict[str, Any], rid: RequestId | None) -> HistoryRequest:
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
    sort = doc.get("sort", "newest")
    if sort is None:
        sort = "newest"
    if sort not in HISTORY_SORTS:
        raise FrameError(ErrorCode.BAD_REQUEST,
                         f"'sort' must be one of {', '.join(HISTORY_SORTS)}", request_id=rid)
    return HistoryRequest.model_construct(op="history", channel=channel, before=before,
                                          limit=limit, sort=sort, id=rid)


def parse_request(raw: str | bytes) -> Request:
    """A client frame as a request model; raises :class:`FrameError` with the documented code.

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
        return Subscribe.model_construct(op="subscribe", channel=channel, id=rid,
                                         since=_since(doc, rid))
    if op == "unsubscribe":
        return Unsubscribe.model_construct(op="unsubscribe", channel=_channel(doc, rid), id=rid)
    if op == "history":
        return _history(doc, rid)
    if op == "ping":
        return Ping.model_construct(op="ping", id=rid)
    if op == "auth":
        token = doc.get("token")
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
            # A token the gateway will not even try to verify: still the client's bad token.
            raise FrameError(ErrorCode.BAD_TOKEN, f"'token' must be a string of 1 to "
                             f"{MAX_TOKEN_CHARS} characters", request_id=rid)
        return Auth.model_construct(op="auth", token=token, id=rid)
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


def authed_frame(rid: RequestId | None, user: dict[str, Any]) -> bytes:
    frame = _with_id({"op": "authed"}, rid)
    frame["user"] = user
    return dumps(frame)


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
                  cursor: str | None, *, sort: str = "newest",
                  floor: int | None = None) -> bytes:
    frame = _with_id({"op": "history"}, rid)
    frame.update(channel=channel, comments=comments, cursor=cursor)
    if sort != "newest":
        frame.update(floor=floor, sort=sort)
    return dumps(frame)


# -- what the gateway reads from upstream ------------------------------------------------------

def parse_updates(raw: bytes) -> list[ChannelUpdate]:
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
    out: list[ChannelUpdate] = []
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
        out.append(ChannelUpdate(channel, epoch, offset, kind, payload, source_time))
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


def check_moderation_snapshot(snap: Snapshot) -> Snapshot:
    """A ``moderation:`` snapshot must hold the queue; anything else is not one.

    Until the streams serve the queue, their snapshot route may answer a ``moderation:`` name
    with another channel's shape: that must not reach moderators as a queue.
    """
    queue = snap.state.get("queue")
    if not isinstance(queue, list) or not all(isinstance(i, dict) for i in queue):
        raise UpstreamError("moderation snapshot lacks a 'queue' list")
    return snap


def parse_history(doc: object) -> tuple[list[Any], str | None]:
    """The body of ``GET /v1/articles/{id}/comments``; raises :class:`UpstreamError`."""
    if not isinstance(doc, dict):
        raise UpstreamError("history answer is not an object")
    comments, cursor = doc.get("comments"), doc.get("cursor")
    if not isinstance(comments, list) or not (cursor is None or isinstance(cursor, str)):
        raise UpstreamError("history answer lacks 'comments' or a valid 'cursor'")
    return comments, cursor


def history_floor(doc: object) -> int | None:
    """The ``floor`` of a best page from the streams API (``None`` if absent or not a number)."""
    floor = doc.get("floor") if isinstance(doc, dict) else None
    return floor if isinstance(floor, int) and not isinstance(floor, bool) else None
