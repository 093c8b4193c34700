"""Events typed by a person: from ``commentfeed publish`` flags or a JSON document (pure).

A JSON document is either a whole CloudEvent or just ``{"type": ..., "data": {...}}``, in which
case the envelope is filled in (``subject`` = the article id). Flags name the fields of the
event's ``data``; unset times default to now and a new comment gets a generated id. Either way
the contract models validate the result, and errors name the bad field (or flag).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from commentfeed.errors import CommentfeedError
from commentfeed.events import InputEvent

_INPUT = TypeAdapter[InputEvent](InputEvent)

_ARTICLE = ("article_id", "site", "title", "url", "author", "published_at")
_REF = ("article_id", "site")
#: The data fields each event type takes (``author_id``/``author_name`` become ``author``).
FIELDS: dict[str, tuple[str, ...]] = {
    "article.published": _ARTICLE,
    "article.updated": _ARTICLE,
    "article.closed": _REF,
    "article.deleted": _REF,
    "comment.posted": ("comment_id", "article_id", "site", "parent_id", "author_id",
                       "author_name", "body", "posted_at", "status"),
    "comment.edited": ("comment_id", "article_id", "site", "body", "edited_at"),
    "comment.deleted": ("comment_id", "article_id", "site", "deleted_by", "reason"),
    "comment.moderated": ("comment_id", "article_id", "site", "status", "moderator", "reason"),
    "comment.voted": ("comment_id", "article_id", "site", "voter_id", "value"),
}
EVENT_TYPES = tuple(FIELDS)
_TIMES = {"article.published": "published_at", "article.updated": "published_at",
          "comment.posted": "posted_at", "comment.edited": "edited_at"}


class EventInputError(CommentfeedError):
    """The input does not make a valid event; the message names each bad field."""


def _describe(exc: ValidationError, *, flags: bool) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        # The discriminated union puts the event type in the path; it is not a field.
        loc = [str(p) for p in err["loc"] if not (isinstance(p, str) and p in FIELDS)]
        if flags and loc[:1] == ["data"]:
            loc = loc[1:]
            if loc[:1] == ["author"]:
                loc = [f"author_{loc[1]}"] if len(loc) > 1 else ["author_id"]
            where = "--" + "-".join(loc[:1]).replace("_", "-")
        else:
            where = ".".join(loc) or "(event)"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def event_from_flags(
    event_type: str, values: dict[str, Any], *, default_site: str, now: datetime,
    event_id: str | None = None,
) -> InputEvent:
    """Build one event from flag values (``None`` = not given)."""
    if event_type not in FIELDS:
        raise EventInputError(f"unknown event type {event_type!r}; one of {', '.join(FIELDS)}")
    allowed = FIELDS[event_type]
    given = {k: v for k, v in values.items() if v is not None}
    stray = sorted(set(given) - set(allowed))
    if stray:
        flags = ", ".join("--" + s.replace("_", "-") for s in stray)
        raise EventInputError(f"{flags}: not a field of {event_type}")
    data: dict[str, Any] = {"site": default_site, **given}
    if event_type in _TIMES:
        data.setdefault(_TIMES[event_type], now)
    if event_type == "comment.posted":
        data.setdefault("comment_id", "c-" + uuid.uuid4().hex)
        author_id, author_name = data.pop("author_id", None), data.pop("author_name", None)
        if author_id is not None or author_name is not None:
            data["author"] = {"id": author_id, "name": author_name or author_id}
    envelope: dict[str, Any] = {
        "type": event_type, "subject": data.get("article_id") or "-", "time": now,
        "source": "commentfeed/cli", "data": data,
    }
    if event_id:
        envelope["id"] = event_id
    try:
        return _INPUT.validate_python(envelope)
    except ValidationError as exc:
        raise EventInputError(_describe(exc, flags=True)) from None


def event_from_json(doc: Any) -> InputEvent:
    """Build one event from a JSON document (a whole CloudEvent, or ``type`` + ``data``)."""
    if not isinstance(doc, dict):
        raise EventInputError("expected a JSON object")
    envelope = dict(doc)
    data = envelope.get("data")
    if "subject" not in envelope and isinstance(data, dict) and "article_id" in data:
        envelope["subject"] = data["article_id"]
    envelope.setdefault("source", "commentfeed/cli")
    try:
        return _INPUT.validate_python(envelope)
    except ValidationError as exc:
        raise EventInputError(_describe(exc, flags=False)) from None
