"""The shapes of the records the streams worker keeps, their keys, and input positions.

Records are JSON objects in Faust tables, kept small because each write is one changelog
record. Their shapes are ``TypedDict`` so ``mypy --strict`` checks every field the fold reads
and writes. Stored records also carry the bookkeeping of :mod:`streams.tx` (``_last``,
``_undo``, ``_added``), which :func:`fields` strips.

- ``a/<article>`` :class:`ArticleRecord`: article meta, visible count, comment counter, newest
  comment id (the head of a backwards chain through the comment records), epoch and offset of
  ``article:<id>`` and ``count:<id>``, recent article event ids, the comments parked for it
  (offsets and arrival times only: at most ``MAX_PARKED``);
- ``p/<article>/<offset>`` :class:`ParkedRecord`: one parked comment event, as received (at
  most one input event, so far below the broker's record limit);
- ``c/<article>/<comment>`` :class:`CommentRecord`: one comment, linked to its article's
  previous and next (not deleted) comments;
- ``v/<article>/<comment>/<voter>`` :class:`VoteRecord`: one voter's vote;
- ``m/<article>/<voter>`` :class:`VoterRecord`: one voter's votes in the article (bounded);
- ``t/<article>`` :class:`TopIndex`: the article's best top-level comments (bounded);
- ``k/<partition>`` :class:`ParkIndex`: articles with parked comments, and since when;
- ``b/<partition>`` :class:`BatchMark`: how far the last fully written batch reached;
- ``s/<site>`` :class:`SiteRecord` (in the ``sites`` table): the site's recent list, items
  included;
- ``q/<site>`` (in the ``sites`` table): the site's moderation queue (:mod:`streams.modqueue`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, NotRequired, TypedDict

Record = dict[str, Any]
Reader = Callable[[str], Record | None]

#: Input topic tags used in positions: offsets of different topics are independent sequences.
ARTICLES: Final = "a"
COMMENTS: Final = "c"
FACTS: Final = "r"

Status = Literal["visible", "pending", "hidden", "deleted"]


@dataclass(frozen=True, slots=True)
class Position:
    """Where an input record sits: topic tag, offset, the partition (its key's), and when it
    arrived (the record's Kafka timestamp in ms: part of the record, so replays see it too)."""

    topic: str
    offset: int
    partition: int = 0
    arrived_ms: int = 0

    def marker(self) -> list[Any]:
        return [self.topic, self.offset]


class ArticleMeta(TypedDict):
    title: str
    url: str
    author: str
    published_at: str


class ArticleRecord(TypedDict):
    id: str
    site: str
    meta: ArticleMeta | None
    closed: bool
    deleted: bool
    #: Visible comments, replies included.
    count: int
    #: Comments ever posted (the next comment's ``seq``).
    n: int
    #: The newest comment id.
    head: str | None
    #: Epoch and offset of ``article:<id>`` (``ea``, ``oa``) and ``count:<id>`` (``ec``, ``oc``).
    ea: str
    oa: int
    ec: str
    oc: int
    #: Recent article event ids (duplicate detection).
    ev: list[str]
    #: Comment events waiting for the article, oldest first: ``[offset, arrived ms]`` (each
    #: one's bytes in its own :class:`ParkedRecord`).
    parked: list[list[int]]
    #: Made by a worker that keeps the ``best`` index (:class:`TopIndex`) from the start;
    #: absent on older records, whose comments the index never saw.
    ranked: NotRequired[bool]


class AuthorRef(TypedDict):
    id: str
    name: str


class CommentRecord(TypedDict):
    id: str
    aid: str
    parent: str | None
    author: AuthorRef
    body: str
    posted_at: str
    edited_at: str | None
    status: Status
    score: int
    depth: int
    seq: int
    #: The previous and the next comment of the article: a chain from ``ArticleRecord.head``
    #: backwards. A deleted comment is unlinked from it (its neighbours point past it), so
    #: walking the chain costs the same however many comments were deleted; it keeps its own
    #: ``prev``, so a cursor naming it still pages on to older comments.
    prev: str | None
    next: NotRequired[str | None]
    ev: list[str]
    #: Direct replies that show (visible ones and placeholders); absent means 0.
    kids: NotRequired[int]
    #: A removed comment that shows as a placeholder (``removed: true``): it had replies that
    #: showed when it was removed, and keeps it until the last of them goes, as the live view
    #: does. A deleted placeholder stays in the chain until then, and is unlinked after.
    ph: NotRequired[bool]
    #: Reader reports (streams.moderation), absent until the first.
    rp: NotRequired[ReportState]
    #: Report and moderator reasons, newest last (bounded).
    why: NotRequired[list[str]]


class ReportState(TypedDict):
    #: Reporter ids (the newest ``KEEP_REPORTERS``).
    by: list[str]
    #: Reports ever; ``ok``: how many of them a moderator's approval answered.
    n: int
    ok: int


class VoteRecord(TypedDict):
    value: int
    ev: list[str]


class VoterRecord(TypedDict):
    #: This voter's non-zero votes in one article, comment id -> +1 or -1, the most recently
    #: changed last; at most ``streams.fold.MAX_VOTES_PER_VOTER`` (the oldest go first).
    votes: dict[str, int]


class TopIndex(TypedDict):
    #: Top-level visible comments ranked for ``best``: ``[score, seq, comment id]``, highest
    #: score first, then newest; at most ``streams.fold.TOP_COMMENTS``.
    top: list[list[Any]]
    #: An upper bound of the score of every top-level visible comment not listed (``None``:
    #: every one is listed). Entries scoring above it are exactly the best comments.
    floor: int | None


class ParkedRecord(TypedDict):
    #: The comment event as received, base64.
    raw: str
    #: Its arrival (the record's Kafka timestamp, ms).
    at: int


class ParkIndex(TypedDict):
    #: Article id -> arrival (ms) of its first parked comment.
    articles: dict[str, int]


class BatchMark(TypedDict):
    #: Highest input offset per topic tag of the batches fully written for this partition.
    hi: dict[str, int]


class RecentItem(TypedDict):
    comment_id: str
    article_id: str
    author_name: str
    excerpt: str
    posted_at: str


class SiteRecord(TypedDict):
    site: str
    #: Epoch and offset of ``recent:<site>``.
    e: str
    o: int
    #: Newest first: ``[sort key, entry id, version, live, item or None]``.
    entries: list[list[Any]]
    #: The highest fact-record offset folded in, and the one whose batch last emitted.
    seen: int
    emit: int | None


def article_key(article_id: str) -> str:
    return f"a/{article_id}"


def comment_key(article_id: str, comment_id: str) -> str:
    return f"c/{article_id}/{comment_id}"


def vote_key(article_id: str, comment_id: str, voter_id: str) -> str:
    return f"v/{article_id}/{comment_id}/{voter_id}"


def voter_key(article_id: str, voter_id: str) -> str:
    return f"m/{article_id}/{voter_id}"


def top_key(article_id: str) -> str:
    return f"t/{article_id}"


def parked_key(article_id: str, offset: int) -> str:
    return f"p/{article_id}/{offset}"


def park_key(partition: int) -> str:
    return f"k/{partition}"


def mark_key(partition: int) -> str:
    return f"b/{partition}"


def site_key(site: str) -> str:
    return f"s/{site}"


def queue_key(site: str) -> str:
    return f"q/{site}"


_META: Final = ("_last", "_undo", "_added")


def fields(record: Record | None) -> Record | None:
    """A stored record without its bookkeeping."""
    if record is None:
        return None
    return {k: v for k, v in record.items() if k not in _META}
