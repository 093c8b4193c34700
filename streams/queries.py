"""Pure read side of the streams state: snapshots, thread pages, counts, recent lists.

Each function takes a record reader (``key -> record | None``) and returns plain JSON-able
values in the shapes of docs/streams-api.md and the websocket ``subscribed.snapshot``. Reads
happen without awaiting in between, so a snapshot is the state at exactly its offset.
"""

from __future__ import annotations

from typing import Any, Final

from commentfeed.channels import (
    ID_REGEX,
    Channel,
    article_channel,
    count_channel,
    is_id,
    moderation_channel,
    recent_channel,
)
from commentfeed.channels import parse_channel as _parse_channel
from commentfeed.errors import HttpError
from streams import modqueue
from streams.fold import article_view, channel_epoch, comment_view, placeholder_view
from streams.recent import read_site, recent_items
from streams.shapes import Reader, Record, article_key, comment_key, top_key, voter_key

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 100
MAX_COUNT_IDS: Final = 200
SORTS: Final = ("newest", "best")


class QueryError(HttpError):
    """A malformed request; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(status, "bad_request", message)
        self.message = message


def check_id(value: str, what: str) -> str:
    if not is_id(value):
        raise QueryError(f"{what} must match {ID_REGEX}")
    return value


def parse_channel(name: str, default_site: str) -> Channel:
    try:
        return _parse_channel(name, default_site)
    except ValueError:
        raise QueryError(
            f"unknown channel {name!r}: use article:<id>, count:<id>, presence:<id>, "
            "recent[:<site>], moderation:<site>") from None


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT) -> int:
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise QueryError("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def parse_ids(raw: str | None) -> list[str]:
    ids = [i for i in (raw or "").split(",") if i]
    if not ids:
        raise QueryError("ids is required: ids=a,b,c")
    if len(ids) > MAX_COUNT_IDS:
        raise QueryError(f"at most {MAX_COUNT_IDS} ids")
    for i in ids:
        check_id(i, "ids")
    return list(dict.fromkeys(ids))


def _fields(record: Record | None) -> Record | None:
    return None if record is None else {k: v for k, v in record.items() if k[0] != "_"}


def _walk(article_id: str, start: str | None, read: Reader,
          limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Comments from ``start`` backwards, newest first, and the cursor past them: visible ones,
    and placeholders of removed ones whose replies still show (``CommentRecord.ph``)."""
    out: list[dict[str, Any]] = []
    cid = start
    while cid is not None:
        c = read(comment_key(article_id, cid))
        if c is None:
            break
        if c["status"] == "visible" or c.get("ph"):
            if len(out) == limit:
                return out, out[-1]["comment_id"]
            out.append(comment_view(c) if c["status"] == "visible" else placeholder_view(c))
        cid = c["prev"]
    return out, None


def article_snapshot(article_id: str, read: Reader, *, limit: int,
                     namespace: str) -> tuple[str, int, dict[str, Any]]:
    """(epoch, offset, snapshot) of ``article:<id>``; comments oldest first."""
    a = _fields(read(article_key(article_id)))
    if a is None:
        empty: dict[str, Any] = {"article": None, "count": 0, "comments": [], "cursor": None}
        return channel_epoch(namespace, article_channel(article_id)), 0, empty
    newest_first, cursor = _walk(article_id, a["head"], read, limit)
    snapshot = {"article": article_view(a), "count": a["count"],
                "comments": newest_first[::-1], "cursor": cursor}
    return a["ea"], a["oa"], snapshot


def count_snapshot(article_id: str, read: Reader, *,
                   namespace: str) -> tuple[str, int, dict[str, Any]]:
    a = read(article_key(article_id))
    if a is None:
        return (channel_epoch(namespace, count_channel(article_id)), 0,
                {"article_id": article_id, "count": 0})
    return a["ec"], a["oc"], {"article_id": article_id, "count": a["count"]}


def recent_snapshot(site: str, read: Reader, *,
                    namespace: str) -> tuple[str, int, dict[str, Any]]:
    s = read_site(read, site)
    if s is None:
        return channel_epoch(namespace, recent_channel(site)), 0, {"site": site, "items": []}
    return s["e"], s["o"], {"site": site, "items": list(recent_items(s))}


def parse_sort(raw: str | None) -> str:
    if raw is None or raw == "":
        return "newest"
    if raw not in SORTS:
        raise QueryError(f"sort must be one of {', '.join(SORTS)}")
    return raw


def best_page(article_id: str, read: Reader, *, before: str | None,
              limit: int) -> dict[str, Any]:
    """Top-level comments by score (then newest), from the article's ``best`` index: only
    those that certainly rank above every comment it does not list (at most
    ``streams.fold.TOP_COMMENTS``); ``cursor`` (``b<n>``) pages on through them, ``null`` after
    the last. Every other top-level comment scores at most ``floor``."""
    start = 0
    if before is not None:
        if not (before[:1] == "b" and before[1:].isdigit() and len(before) <= 8):
            raise QueryError("before is not a cursor of a best page")
        start = int(before[1:])
    a = read(article_key(article_id))
    index = read(top_key(article_id))
    if a is None or a["head"] is None or index is None:
        return {"comments": [], "cursor": None, "floor": None}
    floor = index["floor"]
    ranked = [e for e in index["top"] if floor is None or e[0] > floor]
    comments = []
    for _score, _seq, cid in ranked[start:start + limit]:
        c = read(comment_key(article_id, cid))
        if c is not None and c["status"] == "visible":
            comments.append(comment_view(c))
    end = start + limit
    return {"comments": comments, "cursor": f"b{end}" if end < len(ranked) else None,
            "floor": floor}


def moderation_snapshot(site: str, read: Reader, *,
                        namespace: str) -> tuple[str, int, dict[str, Any]]:
    """(epoch, offset, snapshot) of ``moderation:<site>``: the queue, oldest post first, with
    its depth and decision times."""
    q = modqueue.read_queue(read, site)
    if q is None:
        return (channel_epoch(namespace, moderation_channel(site)), 0,
                modqueue.snapshot(None, site))
    return q["e"], q["o"], modqueue.snapshot(q, site)


def history(article_id: str, read: Reader, *, before: str | None,
            limit: int, sort: str = "newest") -> dict[str, Any]:
    """Comments older than the ``before`` cursor, newest first (placeholders included, as in
    snapshots), and the next cursor; ``sort="best"``: :func:`best_page`."""
    if sort == "best":
        return best_page(article_id, read, before=before, limit=limit)
    if before is None:
        a = read(article_key(article_id))
        start = a["head"] if a is not None else None
    else:
        check_id(before, "before")
        anchor = read(comment_key(article_id, before))
        if anchor is None:
            raise QueryError("before is not a cursor of this article")
        start = anchor["prev"]
    comments, cursor = _walk(article_id, start, read, limit)
    return {"comments": comments, "cursor": cursor}


def voter_votes(article_id: str, voter_id: str, read: Reader) -> dict[str, Any]:
    """One voter's votes in an article: comment id -> +1 or -1 (none withdrawn, at most
    ``streams.fold.MAX_VOTES_PER_VOTER``, the most recently changed ones)."""
    m = read(voter_key(article_id, voter_id))
    votes: dict[str, int] = dict(m["votes"]) if m is not None else {}
    return {"article_id": article_id, "voter_id": voter_id, "votes": votes}


def article_info(article_id: str, read: Reader) -> dict[str, Any]:
    a = read(article_key(article_id))
    if a is None:
        return {"article": None, "count": 0}
    return {"article": article_view(a), "count": a["count"]}


def counts(ids: list[str], read: Reader) -> dict[str, int]:
    out = {}
    for article_id in ids:
        a = read(article_key(article_id))
        out[article_id] = a["count"] if a is not None else 0
    return out
