"""Keeping a hot channel's snapshot current by folding its updates into it (pure).

A gateway serves a hot channel's snapshot from its own state. ``count``, ``presence`` and
``recent`` updates carry the whole value, so folding them is a replacement. A ``moderation``
snapshot is never folded: its order (oldest post first) and its figures (depth, decision times)
are the streams' to compute, so after an update it is fetched again when next asked (a few
moderators per site).
An article snapshot holds the newest comments, oldest first, and a ``cursor`` the streams API
made for the comments before them; the gateway cannot make such cursors, so it never drops a
comment from the list. A comment that comes back (restored, or approved after waiting) goes
where the streams' cold snapshot lists it, its place in the thread's order: the streams list
comments in log order, which ``comment.added`` does not carry, so the fold goes by what it
does carry, ``posted_at`` and then the id (the widgets' order too; the same as log order unless
ingest clocks disagree). A new comment lands last, as before. When a fold would need to drop a
comment (the list outgrows its limit), when a returning comment's place is before the listed
ones while older pages exist (it may belong to them or not: only the streams know), or when an
update does not fit (a malformed payload), the fold answers ``None``: "no usable snapshot", and
the caller fetches a fresh one when next asked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commentfeed.channels import ChannelKind, ChannelUpdate


def _index(comments: list[dict[str, Any]], comment_id: object) -> int | None:
    for i, comment in enumerate(comments):
        if comment.get("comment_id") == comment_id:
            return i
    return None


def thread_order(comment: dict[str, Any]) -> tuple[datetime, str]:
    """A comment's place in its thread: ``posted_at``, then the id (as widgets.js orders)."""
    return datetime.fromisoformat(comment["posted_at"]), str(comment["comment_id"])


def _add_comment(state: dict[str, Any], comment: dict[str, Any], limit: int) -> bool:
    comments: list[dict[str, Any]] = state["comments"]
    at = _index(comments, comment["comment_id"])
    if at is not None:
        comments[at] = comment  # a placeholder's comment restored, in its place
        return True
    # From the end: a new comment stays last; a returning one goes back to its place.
    key = thread_order(comment)
    at = len(comments)
    while at > 0 and thread_order(comments[at - 1]) > key:
        at -= 1
    if at == 0 and comments and state.get("cursor") is not None:
        return False
    comments.insert(at, comment)
    return len(comments) <= limit


def placeholder(comment: dict[str, Any]) -> dict[str, Any]:
    """What stays of a removed comment while replies hang off it: its place, nothing it said."""
    return {"comment_id": comment["comment_id"], "article_id": comment["article_id"],
            "parent_id": comment.get("parent_id"), "posted_at": comment.get("posted_at"),
            "removed": True}


def _remove(comments: list[dict[str, Any]], comment_id: object) -> None:
    """Drop a removed comment, or keep a placeholder while replies hang off it, as the live
    thread does; a placeholder whose last reply goes is dropped in turn, up the chain."""
    while comment_id is not None:
        at = _index(comments, comment_id)
        if at is None:
            return
        gone = comments[at]
        if any(c.get("parent_id") == comment_id for c in comments):
            comments[at] = placeholder(gone)
            return
        del comments[at]
        parent = _index(comments, gone.get("parent_id"))
        if parent is None or not comments[parent].get("removed"):
            return
        comment_id = comments[parent]["comment_id"]


def _fold_article(state: dict[str, Any], update: ChannelUpdate, limit: int) -> bool:
    payload = update.payload
    kind = update.kind
    if kind == "comment.added":
        return _add_comment(state, payload, limit)
    comments: list[dict[str, Any]] = state["comments"]
    if kind == "comment.updated":
        at = _index(comments, payload["comment_id"])
        if at is not None:
            comments[at] = payload
    elif kind == "comment.removed":
        _remove(comments, payload["comment_id"])
    elif kind == "comment.score":
        at = _index(comments, payload["comment_id"])
        if at is not None and not comments[at].get("removed"):
            comments[at] = {**comments[at], "score": payload["score"]}
    elif kind == "count":
        state["count"] = payload["count"]
    elif kind == "article":
        state["article"] = payload
    return True


def fold(kind: ChannelKind, state: dict[str, Any], update: ChannelUpdate,
         comment_limit: int) -> dict[str, Any] | None:
    """``state`` with ``update`` applied (in place), or ``None`` if it can no longer be served.

    Never raises: a payload that does not fit the snapshot's shape makes it unusable instead.
    """
    try:
        if kind == "article":
            return state if _fold_article(state, update, comment_limit) else None
        if kind == "count":
            if update.kind == "count":
                return {"article_id": update.payload["article_id"],
                        "count": update.payload["count"]}
            return state
        if kind == "presence":
            if update.kind == "presence":
                return {"article_id": update.payload["article_id"],
                        "reading": update.payload["reading"]}
            return state
        if kind == "moderation":
            return None
        if update.kind == "recent":
            return {"site": update.payload["site"], "items": update.payload["items"]}
        return state
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
