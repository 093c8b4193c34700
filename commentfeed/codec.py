"""The one place bytes become events and events become bytes (orjson on the wire).

Decoding never lets a library exception escape: bad bytes raise :class:`EventDecodeError`
with a reason code and the dotted path of the first bad field.
"""

from __future__ import annotations

import base64
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from commentfeed.errors import EventDecodeError
from commentfeed.events import (
    AnyInputEvent,
    ArticleEvent,
    CommentEvent,
    DeadLetter,
    FeedCount,
    FeedUpdate,
    GatewayPresence,
    InputEvent,
)

#: Larger input records are refused before parsing. Bodies are capped at 5,000 characters, so
#: a legitimate event is far below this even with multi-byte text.
MAX_EVENT_BYTES = 64 * 1024

_OPTS = orjson.OPT_UTC_Z

_input = TypeAdapter[InputEvent](InputEvent)
_any_input = TypeAdapter[AnyInputEvent](AnyInputEvent)
_article = TypeAdapter[ArticleEvent](ArticleEvent)
_comment = TypeAdapter[CommentEvent](CommentEvent)
_feed_update = TypeAdapter(FeedUpdate)
_feed_count = TypeAdapter(FeedCount)
_dead_letter = TypeAdapter(DeadLetter)
_presence = TypeAdapter(GatewayPresence)

T = TypeVar("T")


def dumps(value: Any) -> bytes:
    """orjson with the project's options (UTC times end in ``Z``)."""
    return orjson.dumps(value, option=_OPTS)


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(raw)


def encode(event: BaseModel) -> bytes:
    """Serialise any contract model to wire bytes."""
    return dumps(event.model_dump(mode="python", exclude_none=False))


def _field_path(loc: tuple[int | str, ...]) -> str:
    # Discriminated unions put the tag in the path ("comment.posted"); it is not a field.
    parts = [str(p) for p in loc if not (isinstance(p, str) and "." in p and p[0].islower())]
    return ".".join(parts)


def _validate(adapter: TypeAdapter[T], raw: bytes, max_bytes: int) -> T:
    if len(raw) > max_bytes:
        raise EventDecodeError(
            "too_large", f"{len(raw)} bytes, limit {max_bytes}", field=None, raw=raw
        )
    try:
        # Parsing and validating in one pass (pydantic-core reads the bytes itself) is the fast
        # path; an error takes the slow path below, which names it as the DLQ reasons do.
        return adapter.validate_json(raw)
    except ValidationError:
        pass
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventDecodeError("invalid_json", str(exc), field=None, raw=raw) from None
    if not isinstance(doc, dict):
        raise EventDecodeError("invalid_event", "expected a JSON object", field=None, raw=raw)
    try:
        return adapter.validate_python(doc)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field: str | None
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            reason, field = "unknown_type", "type"
        else:
            reason, field = "invalid_event", _field_path(first["loc"]) or None
        raise EventDecodeError(reason, first["msg"], field=field, raw=raw) from None


def decode_input(raw: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> InputEvent:
    """Any article or comment event."""
    return _validate(_input, raw, max_bytes)


def decode_any_input(raw: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> AnyInputEvent:
    """Any event a producer may publish, moderation facts (``comment.reported``,
    ``user.banned``) included."""
    return _validate(_any_input, raw, max_bytes)


def decode_article_event(raw: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> ArticleEvent:
    return _validate(_article, raw, max_bytes)


def decode_comment_event(raw: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> CommentEvent:
    return _validate(_comment, raw, max_bytes)


def decode_feed_update(raw: bytes) -> FeedUpdate:
    return _validate(_feed_update, raw, 16 * MAX_EVENT_BYTES)


def decode_feed_count(raw: bytes) -> FeedCount:
    return _validate(_feed_count, raw, MAX_EVENT_BYTES)


def decode_gateway_presence(raw: bytes) -> GatewayPresence:
    return _validate(_presence, raw, MAX_EVENT_BYTES)


def decode_dead_letter(raw: bytes) -> DeadLetter:
    return _validate(_dead_letter, raw, 16 * MAX_EVENT_BYTES)


#: A dead letter keeps at most this much of the original value and of its key: a record of
#: any size, up to the consumer's fetch limit, still yields a letter the broker accepts.
MAX_DEAD_LETTER_ORIGINAL = MAX_EVENT_BYTES
MAX_DEAD_LETTER_KEY = 1024
MAX_DEAD_LETTER_DETAIL = 1000


def dead_letter(
    error: EventDecodeError | Exception,
    *,
    raw: bytes,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
) -> DeadLetter:
    """Wrap a failed record for ``comments.dlq`` with its reason and (a bounded prefix of) its
    original bytes."""
    field: str | None
    if isinstance(error, EventDecodeError):
        reason, field, detail = error.reason, error.field, error.detail
    else:
        reason, field, detail = "processing_failed", None, f"{type(error).__name__}: {error}"
    return refused_letter(reason, field, detail, raw=raw, topic=topic, partition=partition,
                          offset=offset, key=key)


def refused_letter(
    reason: str,
    field: str | None,
    detail: str,
    *,
    raw: bytes,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
) -> DeadLetter:
    """A dead letter for a record refused with ``reason``; every field is bounded."""
    kept = raw[:MAX_DEAD_LETTER_ORIGINAL]
    return DeadLetter(
        reason=reason,
        field=field,
        detail=detail[:MAX_DEAD_LETTER_DETAIL],
        topic=topic,
        partition=partition,
        offset=offset,
        key=(key[:MAX_DEAD_LETTER_KEY].decode("utf-8", "replace")
             if key is not None else None),
        original_b64=base64.b64encode(kept).decode("ascii"),
        original_size=len(raw),
        truncated=len(kept) < len(raw),
    )
