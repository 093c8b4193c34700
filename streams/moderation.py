"""The moderation side of the comment fold: reports on a comment, and queue facts.

Pure. A comment's place in its site's moderation queue is a function of its record
(:func:`queue_status`); after each change of a comment the fold compares the place before and
after (:func:`queue_facts`) and sends a fact for the site's queue (:mod:`streams.modqueue`)
when the comment entered, changed in or left the queue. The rules are in docs/protocol.md,
"Moderation queue".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal, TypeAlias

from commentfeed import codec
from commentfeed.errors import EventDecodeError
from commentfeed.events import (
    ARTICLE_EVENT_TYPES,
    CommentEvent,
    CommentReported,
    UserBanned,
    partition_key,
)
from streams.shapes import CommentRecord, ReportState

#: Reporter ids remembered per comment: a repeat by one of them changes nothing. Past this,
#: reports still count (ingest accepts one report per reader and comment).
KEEP_REPORTERS: Final = 50
#: Reasons kept per comment (reports and moderators', newest last), each cut to this length.
KEEP_REASONS: Final = 3
REASON_CHARS: Final = 60

QueueStatus = Literal["pending", "reported", "hidden"]
#: What the ``comments`` topic carries for the fold: comment events and moderation facts.
CommentsEvent: TypeAlias = CommentEvent | CommentReported | UserBanned


def decode_comments_record(raw: bytes, key: bytes | None) -> CommentsEvent:
    """A record of ``comments``: a comment event, ``comment.reported`` or ``user.banned``,
    keyed as :func:`commentfeed.events.partition_key` says (article id, or ``site:<site>``)."""
    event = codec.decode_any_input(raw)
    if isinstance(event, ARTICLE_EVENT_TYPES):
        raise EventDecodeError("unknown_type", f"{event.type} does not belong on comments",
                               field="type", raw=raw)
    expected = partition_key(event)
    if key is None or key.decode("utf-8", "replace") != expected:
        # State is partitioned by the record key; a record keyed otherwise would land in
        # the wrong partition's state.
        what = "site:<data.site>" if isinstance(event, UserBanned) else "data.article_id"
        raise EventDecodeError("key_mismatch", f"the record key must be {what}",
                               field="data.site" if isinstance(event, UserBanned)
                               else "data.article_id", raw=raw)
    return event


def _cut(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


def add_reason(c: CommentRecord, reason: str | None) -> list[str]:
    why = list(c.get("why", []))
    if reason:
        # A reason given again moves to the end instead of taking a second slot: three readers
        # all saying "abuse" is one reason (report_count says how many).
        line = _cut(reason)
        why = [*(r for r in why if r != line), line][-KEEP_REASONS:]
    return why


def report(c: CommentRecord, event: CommentReported) -> CommentRecord | None:
    """The comment with ``event``'s report recorded; ``None`` when it changes nothing (a
    repeat by a remembered reporter)."""
    data = event.data
    rp: ReportState = c.get("rp") or {"by": [], "n": 0, "ok": 0}
    if data.reporter_id in rp["by"]:
        return None
    new_rp: ReportState = {"by": [*rp["by"], data.reporter_id][-KEEP_REPORTERS:],
                           "n": rp["n"] + 1, "ok": rp["ok"]}
    text = data.reason if data.text is None else f"{data.reason}: {data.text}"
    return {**c, "rp": new_rp, "why": add_reason(c, text)}


def approved(c: CommentRecord) -> CommentRecord:
    """A moderator made the comment visible: the reports so far are answered, and it comes
    back to the queue only when ``threshold`` more readers report it."""
    rp = c.get("rp")
    if rp is None or rp["ok"] == rp["n"]:
        return c
    return {**c, "rp": {**rp, "ok": rp["n"]}}


def report_count(c: CommentRecord) -> int:
    rp = c.get("rp")
    return rp["n"] if rp is not None else 0


def queue_status(c: CommentRecord | None, threshold: int) -> QueueStatus | None:
    """Where the comment stands in its site's queue (``None``: not in it)."""
    if c is None:
        return None
    status = c["status"]
    if status == "pending":
        return "pending"
    if status == "hidden":
        return "hidden"
    if status == "visible":
        rp = c.get("rp")
        if rp is not None and rp["n"] - rp["ok"] >= threshold:
            return "reported"
    return None


def queue_item(c: CommentRecord, status: QueueStatus, excerpt: str) -> dict[str, Any]:
    """The ``QueueItem`` of a comment."""
    return {
        "comment_id": c["id"], "article_id": c["aid"],
        "author": {"id": c["author"]["id"], "name": c["author"]["name"]},
        "excerpt": excerpt, "status": status, "reasons": list(c.get("why", [])),
        "report_count": report_count(c), "posted_at": c["posted_at"],
    }


def decision_ms(c: CommentRecord, decided_at: datetime) -> int:
    """Milliseconds from the comment's post to a moderator's decision (never negative)."""
    posted = datetime.fromisoformat(c["posted_at"])
    return max(0, round((decided_at - posted).total_seconds() * 1000))


def queue_facts(before: CommentRecord | None, after: CommentRecord, *, site: str, version: int,
                time: str, threshold: int, excerpt: str,
                decided_at: datetime | None = None) -> list[dict[str, Any]]:
    """The site-queue facts of one change of a comment (none, or one).

    ``decided_at``: the change is a moderator's decision (``comment.moderated``); when it takes
    a pending or reported comment out of that state, the fact carries the decision time.
    """
    was, now = queue_status(before, threshold), queue_status(after, threshold)
    base: dict[str, Any] = {"site": site, "article_id": after["aid"], "comment_id": after["id"],
                            "posted_at": after["posted_at"], "version": version, "time": time}
    if decided_at is not None and was in ("pending", "reported") and now != was:
        base["decided_ms"] = decision_ms(after, decided_at)
    if now is None:
        if was is None:
            return []
        status = after["status"]
        return [{**base, "op": "removed",
                 "status": "visible" if status == "pending" else status}]
    item = queue_item(after, now, excerpt)
    if was == now and before is not None and (
            queue_item(before, was, excerpt) == item and before["body"] == after["body"]):
        return []
    return [{**base, "op": "item", "item": item}]
