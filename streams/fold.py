"""The article and comment fold: a fetched batch of input events into records and updates.

Pure: nothing here imports Faust or does I/O. :func:`fold_batch` takes the decoded events of one
fetch with their positions and a function that reads records by key; it returns, per
partition, the records to write (each key once) and, in event order, the updates to emit.
The replay-safe bookkeeping lives in :mod:`streams.tx`; this module is the semantics.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, cast

from commentfeed.channels import ChannelUpdate
from commentfeed.events import (
    ArticleClosed,
    ArticleDeleted,
    ArticlePublished,
    ArticleUpdated,
    CommentDeleted,
    CommentEdited,
    CommentEvent,
    CommentPosted,
    CommentReported,
    CommentVoted,
    FeedUpdateType,
    InputEvent,
    UserBanned,
)
from streams import moderation
from streams.moderation import CommentsEvent
from streams.shapes import (
    COMMENTS,
    ArticleMeta,
    ArticleRecord,
    CommentRecord,
    ParkedRecord,
    ParkIndex,
    Position,
    Reader,
    Record,
    TopIndex,
    VoteRecord,
    VoterRecord,
    article_key,
    comment_key,
    park_key,
    parked_key,
    top_key,
    vote_key,
    voter_key,
)
from streams.tx import BatchTx, EventTx

EXCERPT_CHARS: Final = 100
#: Event ids remembered per record for duplicate detection (retries arrive close together).
REMEMBER_EVENT_IDS: Final = 16
REMEMBER_VOTE_IDS: Final = 16
#: Comment events for an article not published yet wait this long for it (measured in record
#: timestamps of their partition), then go to the DLQ as ``unknown_article``. ``articles`` and
#: ``comments`` are separate topics, so a comment can be read before the article published
#: just before it.
PARK_GRACE: Final = timedelta(seconds=60)
#: Comments parked per article; more are refused at once (``unknown_article``).
MAX_PARKED: Final = 100
#: Articles with parked comments per partition; a comment for one more is refused at once.
#: Bounds the park index: 1,000 x (64-character id + arrival) is about 85 KB, twice that with
#: its undo copy, well under the broker's 1 MiB record limit. Each parked comment is a record
#: of its own (at most one 64 KiB input event, base64), so no record the fold writes can grow
#: with the number of comments waiting.
MAX_PARKED_ARTICLES: Final = 1_000
#: Votes kept per voter and article for ``votes/mine`` (:class:`~streams.shapes.VoterRecord`):
#: past it the least recently changed vote is forgotten there (it still counts in the score).
#: 1,000 x (64-character id + value) is about 70 KB, twice that with its undo copy.
MAX_VOTES_PER_VOTER: Final = 1_000
#: Top-level comments ranked for ``best`` per article (:class:`~streams.shapes.TopIndex`):
#: about 9 KB, written only when a listed comment or one that joins the list changes.
TOP_COMMENTS: Final = 100
#: The ``floor`` of a best index started on an article older than the index: its comments were
#: never listed, so nothing is certainly best (best pages are empty; rebuild the state to rank).
UNRANKED_FLOOR: Final = 2**31 - 1

_EPOCH0 = datetime(1970, 1, 1, tzinfo=UTC)


# -- small helpers -----------------------------------------------------------------------------


def channel_epoch(namespace: str, channel: str) -> str:
    """The epoch of a channel: derived from the deployment and the channel name.

    Derived rather than random so a replay after a crash emits the very same epoch, and an
    empty snapshot of a channel that has no state yet already carries the epoch its first
    update will have. A new namespace (app id, which includes the topic prefix and the table
    version) means state rebuilt from nothing, and so a new epoch.
    """
    return hashlib.blake2b(f"{namespace}|{channel}".encode(), digest_size=6).hexdigest()


def iso(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z``, as the codec writes it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def micros(moment: datetime) -> int:
    return (moment - _EPOCH0) // timedelta(microseconds=1)


def excerpt(body: str, limit: int = EXCERPT_CHARS) -> str:
    """The body on one line, cut at a word boundary with an ellipsis when longer than ``limit``."""
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    # One character past the limit: a word that ends exactly at the limit is kept whole.
    window = text[: limit + 1]
    space = window.rfind(" ")
    head = window[:space] if space > 0 else text[:limit]
    return head.rstrip(" ,;:-") + "…"


def _remember(ids: list[str], event_id: str, keep: int) -> list[str]:
    return [*ids, event_id][-keep:]


# -- what a fold returns -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountChanged:
    """The latest count of an article, for ``feed.counts`` (key = article id)."""

    article_id: str
    site: str
    count: int
    #: Epoch and offset of the ``article:<id>`` channel this count belongs to.
    epoch: str
    offset: int
    source_time: str | None


@dataclass(frozen=True, slots=True)
class RecentFact:
    """A change to a site's recent list, re-keyed by site for the recent-list agent."""

    site: str
    fact: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A well-formed event the state cannot take (unknown article, ...): it goes to the DLQ.

    ``offset`` and ``raw_b64`` name an earlier ``comments`` record (a parked one) when the
    rejected event is not the one being processed.
    """

    reason: str
    detail: str
    field: str | None = None
    offset: int | None = None
    raw_b64: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class QueueFact:
    """A change to a site's moderation queue (:func:`streams.moderation.queue_facts`),
    re-keyed by site for the site-queue fold (:mod:`streams.modqueue`)."""

    site: str
    fact: dict[str, Any]


#: ``ChannelUpdate`` (commentfeed.channels): one update of one channel, for ``feed.updates``.
Emit = ChannelUpdate | CountChanged | RecentFact | QueueFact | Rejected

#: Reports that send a visible comment to the queue unless the caller says otherwise
#: (``COMMENTFEED_REPORT_THRESHOLD``).
REPORT_THRESHOLD: Final = 3


@dataclass(frozen=True, slots=True)
class Failed:
    """The event could not be decoded, or folding it raised (a bug, not bad input): it goes to
    the DLQ as it is, with the error as the reason."""

    error: Exception


@dataclass(frozen=True, slots=True)
class Expired:
    """A parked comment that waited for its article in vain (found by the worker's sweep)."""

    partition: int
    rejected: Rejected


@dataclass(slots=True)
class BatchOutcome:
    #: Per partition, records to write in order (the partition's batch mark, then deletes).
    writes: dict[int, dict[str, Record | None]]
    #: Per folded event, in input order: its position and what it emitted.
    emits: list[tuple[Position, list[Emit] | Failed]] = field(default_factory=list)
    #: Events skipped because an earlier batch fully applied and emitted them.
    landed: list[Position] = field(default_factory=list)


@dataclass(slots=True)
class SweepOutcome:
    #: Per partition, records to write in order (as :attr:`BatchOutcome.writes`).
    writes: dict[int, dict[str, Record | None]]
    expired: list[Expired]


# -- views built from records ------------------------------------------------------------------


def article_view(a: Record | ArticleRecord) -> dict[str, Any] | None:
    """``ArticleView`` of an article record (``None`` when only comments were seen)."""
    meta = a.get("meta")
    if meta is None:
        return None
    return {
        "article_id": a["id"], "site": a["site"], "title": meta["title"], "url": meta["url"],
        "author": meta["author"], "published_at": meta["published_at"],
        "closed": a["closed"], "deleted": a["deleted"],
    }


def placeholder_view(c: Record | CommentRecord) -> dict[str, Any]:
    """What a snapshot shows of a removed comment that still has replies: its place, nothing
    it said (the shape the gateway's hot snapshots and the widgets keep)."""
    return {"comment_id": c["id"], "article_id": c["aid"], "parent_id": c["parent"],
            "posted_at": c["posted_at"], "removed": True}


def shows(c: Record | CommentRecord) -> bool:
    """Whether a snapshot lists the comment: visible, or a placeholder."""
    return c["status"] == "visible" or bool(c.get("ph"))


def comment_view(c: Record | CommentRecord) -> dict[str, Any]:
    """``CommentView`` of a comment record."""
    return {
        "comment_id": c["id"], "article_id": c["aid"], "parent_id": c["parent"],
        "author": c["author"], "body": c["body"], "posted_at": c["posted_at"],
        "edited_at": c["edited_at"], "score": c["score"], "depth": c["depth"],
    }


def new_article(article_id: str, site: str, namespace: str) -> ArticleRecord:
    return {
        "id": article_id, "site": site, "meta": None, "closed": False, "deleted": False,
        "count": 0, "n": 0, "head": None,
        "ea": channel_epoch(namespace, f"article:{article_id}"), "oa": 0,
        "ec": channel_epoch(namespace, f"count:{article_id}"), "oc": 0,
        "ev": [], "parked": [], "ranked": True,
    }


# -- typed access to one event's transaction ---------------------------------------------------


class _State:
    """The records one event reads and writes, typed by key kind."""

    def __init__(self, tx: EventTx, threshold: int = REPORT_THRESHOLD) -> None:
        self.tx = tx
        self.pos = tx.pos
        self.threshold = threshold

    def article(self, article_id: str) -> ArticleRecord | None:
        return cast(ArticleRecord | None, self.tx.get(article_key(article_id)))

    def put_article(self, a: ArticleRecord) -> None:
        self.tx.put(article_key(a["id"]), a)

    def comment(self, article_id: str, comment_id: str) -> CommentRecord | None:
        return cast(CommentRecord | None, self.tx.get(comment_key(article_id, comment_id)))

    def put_comment(self, c: CommentRecord) -> None:
        self.tx.put(comment_key(c["aid"], c["id"]), c)

    def vote(self, article_id: str, comment_id: str, voter_id: str) -> VoteRecord | None:
        return cast(VoteRecord | None, self.tx.get(vote_key(article_id, comment_id, voter_id)))

    def put_vote(self, article_id: str, comment_id: str, voter_id: str, v: VoteRecord) -> None:
        self.tx.put(vote_key(article_id, comment_id, voter_id), v)

    def voter(self, article_id: str, voter_id: str) -> VoterRecord | None:
        return cast(VoterRecord | None, self.tx.get(voter_key(article_id, voter_id)))

    def put_voter(self, article_id: str, voter_id: str, m: VoterRecord) -> None:
        self.tx.put(voter_key(article_id, voter_id), m)

    def top(self, article_id: str) -> TopIndex | None:
        return cast(TopIndex | None, self.tx.get(top_key(article_id)))

    def put_top(self, article_id: str, t: TopIndex) -> None:
        self.tx.put(top_key(article_id), t)

    def parked(self, article_id: str, offset: int) -> ParkedRecord | None:
        return cast(ParkedRecord | None, self.tx.get(parked_key(article_id, offset)))

    def put_parked(self, article_id: str, offset: int, p: ParkedRecord) -> None:
        self.tx.put(parked_key(article_id, offset), p)

    def drop_parked(self, article_id: str, offset: int) -> None:
        self.tx.delete(parked_key(article_id, offset))

    def park_index(self) -> ParkIndex | None:
        return cast(ParkIndex | None, self.tx.get(park_key(self.pos.partition)))

    def put_park_index(self, index: ParkIndex) -> None:
        self.tx.put(park_key(self.pos.partition), index)


class _Emitter:
    """Allocates channel offsets on the (new) article record as updates are emitted."""

    def __init__(self, a: ArticleRecord, source_time: str) -> None:
        self.a = a
        self.source_time = source_time
        self.out: list[Emit] = []

    def article(self, kind: FeedUpdateType, payload: dict[str, Any]) -> None:
        self.a["oa"] += 1
        self.out.append(ChannelUpdate(f"article:{self.a['id']}", self.a["ea"], self.a["oa"],
                                      kind, payload, self.source_time))

    def counts(self) -> None:
        payload = {"article_id": self.a["id"], "count": self.a["count"]}
        self.article("count", payload)
        self.a["oc"] += 1
        self.out.append(ChannelUpdate(f"count:{self.a['id']}", self.a["ec"], self.a["oc"],
                                      "count", dict(payload), self.source_time))
        self.out.append(CountChanged(self.a["id"], self.a["site"], self.a["count"],
                                     self.a["ea"], self.a["oa"], self.source_time))

    def fact(self, op: Literal["upsert", "remove"], c: CommentRecord, version: int) -> None:
        site = self.a["site"]
        fact: dict[str, Any] = {
            "op": op, "site": site, "article_id": c["aid"], "comment_id": c["id"],
            "posted_at": c["posted_at"], "version": version, "time": self.source_time,
        }
        if op == "upsert":
            fact["author_name"] = c["author"]["name"]
            fact["excerpt"] = excerpt(c["body"])
        self.out.append(RecentFact(site, fact))

    def queue(self, before: CommentRecord | None, after: CommentRecord, st: _State,
              version: int, decided_at: datetime | None = None) -> None:
        """A fact for the site's moderation queue if the comment entered, changed in or left
        it."""
        site = self.a["site"]
        for fact in moderation.queue_facts(
                before, after, site=site, version=version, time=self.source_time,
                threshold=st.threshold, excerpt=excerpt(after["body"]), decided_at=decided_at):
            self.out.append(QueueFact(site, fact))


# -- the batch ---------------------------------------------------------------------------------


def fold_batch(events: Sequence[tuple[InputEvent | CommentsEvent | Exception, Position, bytes]],
               read: Reader, *, namespace: str, park_grace: timedelta = PARK_GRACE,
               report_threshold: int = REPORT_THRESHOLD) -> BatchOutcome:
    """Fold the events of one fetch, in order, reading each key once.

    An event that could not be decoded comes as its exception and leaves as :class:`Failed`
    (unless an earlier batch already dead-lettered it). ``bytes`` is each record as received:
    a comment parked for its article keeps it, so that it reaches the DLQ byte for byte if the
    article never comes.
    """
    batch = BatchTx(read)
    outcome = BatchOutcome({})
    for event, pos, raw in events:
        if batch.landed(pos):
            outcome.landed.append(pos)
            continue
        batch.folded(pos)
        if isinstance(event, Exception):
            outcome.emits.append((pos, Failed(event)))
            continue
        tx = EventTx(batch, pos)
        try:
            emits = fold_event(event, _State(tx, report_threshold), namespace=namespace,
                               raw=raw, park_grace=park_grace)
        except Exception as exc:  # a bug must not stop the worker; the event goes to the DLQ
            outcome.emits.append((pos, Failed(exc)))
            continue
        tx.commit()
        outcome.emits.append((pos, emits))
    outcome.writes = batch.writes()
    return outcome


def sweep_parked(partitions: Sequence[int], now_ms: int, read: Reader, *,
                 park_grace: timedelta = PARK_GRACE) -> SweepOutcome:
    """Parked comments of ``partitions`` that waited longer than the grace by ``now_ms`` (the
    worker's clock), for partitions no newer record reaches.

    Not an input event: its writes are stamped with the partition's current mark, so they
    count as landed with the batches before them (the worker sweeps between batches and sends
    after them, so they reach the broker after those batches' records). A sweep lost in a crash
    is simply done again; a dead letter may then be sent twice.
    """
    batch = BatchTx(read)
    expired: list[Expired] = []
    for partition in partitions:
        hi = batch.mark(partition).get(COMMENTS)
        if hi is None:
            continue  # nothing of ``comments`` folded here, so nothing parked
        tx = EventTx(batch, Position(COMMENTS, hi, partition, now_ms))
        emits = _expire_parked(_State(tx), keep=None, grace=park_grace)
        tx.commit()
        expired += [Expired(partition, e) for e in emits if isinstance(e, Rejected)]
    writes = batch.writes() if expired else {}
    return SweepOutcome(writes, expired)


# -- one event ---------------------------------------------------------------------------------


def fold_event(event: InputEvent | CommentsEvent, st: _State, *, namespace: str,
               raw: bytes = b"", park_grace: timedelta = PARK_GRACE) -> list[Emit]:
    """Fold one ``articles``/``comments`` event into the records ``st`` holds."""
    pos = st.pos
    if isinstance(event, UserBanned):
        # Site-scoped (key ``site:<site>``): no article, no per-article state. Ingest refuses
        # the user's writes and publishes the hiding of their comments as comment events.
        return _expire_parked(st, keep=None, grace=park_grace)
    article_id = event.data.article_id
    publishing = isinstance(event, ArticlePublished | ArticleUpdated)
    emits = _expire_parked(st, keep=article_id if publishing else None, grace=park_grace)
    if isinstance(event, ArticlePublished | ArticleUpdated | ArticleClosed | ArticleDeleted):
        emits += _fold_article(event, st, namespace)
    else:
        a = st.article(article_id)
        if a is None or a["meta"] is None:
            emits += _park(event, a, st, raw, namespace, pos)
        else:
            emits += _fold_comment(event, a, st, pos)
    return emits


def _park(event: CommentEvent | CommentReported, a: ArticleRecord | None, st: _State, raw: bytes,
          namespace: str, pos: Position) -> list[Emit]:
    data = event.data
    base = a if a is not None else new_article(data.article_id, data.site, namespace)
    if len(base["parked"]) >= MAX_PARKED:
        return [Rejected("unknown_article", f"article {data.article_id!r} is not published and "
                         f"already has {MAX_PARKED} comments waiting for it", "data.article_id")]
    index = st.park_index() or {"articles": {}}
    waiting = index["articles"]
    if data.article_id not in waiting and len(waiting) >= MAX_PARKED_ARTICLES:
        return [Rejected("unknown_article", f"article {data.article_id!r} is not published and "
                         f"{MAX_PARKED_ARTICLES} other articles of its partition already have "
                         "comments waiting", "data.article_id")]
    at = pos.arrived_ms
    st.put_parked(data.article_id, pos.offset,
                  {"raw": base64.b64encode(raw).decode("ascii"), "at": at})
    st.put_article({**base, "parked": [*base["parked"], [pos.offset, at]]})
    if data.article_id not in waiting:
        st.put_park_index({"articles": {**waiting, data.article_id: at}})
    return []


def _expire_parked(st: _State, *, keep: str | None, grace: timedelta) -> list[Emit]:
    """Send comments that waited too long for their article to the DLQ, under its key."""
    index = st.park_index()
    if not index or not index["articles"]:
        return []
    cutoff = st.pos.arrived_ms - grace // timedelta(milliseconds=1)
    due = [aid for aid, since in index["articles"].items() if since < cutoff and aid != keep]
    emits: list[Emit] = []
    for aid in due:
        a = st.article(aid)
        if a is None:
            continue
        for offset, _at in a["parked"]:
            p = st.parked(aid, offset)
            if p is None:
                continue
            emits.append(Rejected("unknown_article", f"article {aid!r} was not published within "
                                  f"{grace.total_seconds():g} s", "data.article_id",
                                  offset, p["raw"], aid))
            st.drop_parked(aid, offset)
        st.put_article({**a, "parked": []})
    if due:
        left = {k: v for k, v in index["articles"].items() if k not in due}
        st.put_park_index({"articles": left})
    return emits


def _release_parked(a: ArticleRecord, st: _State) -> list[Emit]:
    """Fold the comment events that arrived before their article, in their order."""
    emits: list[Emit] = []
    for offset, _at in a["parked"]:
        p = st.parked(a["id"], offset)
        if p is None:
            continue
        st.drop_parked(a["id"], offset)
        comment = moderation.decode_comments_record(base64.b64decode(p["raw"]),
                                                    a["id"].encode())
        assert not isinstance(comment, UserBanned)  # keyed by site: never parked
        current = st.article(a["id"])
        assert current is not None
        for emit in _fold_comment(comment, current, st,
                                  Position(COMMENTS, offset, st.pos.partition)):
            if isinstance(emit, Rejected):
                emit = Rejected(emit.reason, emit.detail, emit.field, offset, p["raw"], a["id"])
            emits.append(emit)
    index = st.park_index()
    if index is not None and a["id"] in index["articles"]:
        left = {k: v for k, v in index["articles"].items() if k != a["id"]}
        st.put_park_index({"articles": left})
    return emits


def _fold_article(
    event: ArticlePublished | ArticleUpdated | ArticleClosed | ArticleDeleted,
    st: _State, namespace: str,
) -> list[Emit]:
    data = event.data
    a = st.article(data.article_id)
    new: ArticleRecord
    if isinstance(event, ArticlePublished | ArticleUpdated):
        base = a if a is not None else new_article(data.article_id, data.site, namespace)
        meta: ArticleMeta = {"title": event.data.title, "url": event.data.url,
                             "author": event.data.author,
                             "published_at": iso(event.data.published_at)}
        if event.id in base["ev"] or base["meta"] == meta:
            return []
        # An article record made for parked comments takes the article's site.
        site = base["site"] if base["meta"] is not None else event.data.site
        new = {**base, "meta": meta, "site": site, "parked": []}
    elif a is None:
        return [Rejected("unknown_article", f"{event.type} for an article never published",
                         "data.article_id")]
    elif event.id in a["ev"]:
        return []
    elif isinstance(event, ArticleClosed):
        if a["closed"]:
            return []
        new = {**a, "closed": True}
    else:
        if a["deleted"]:
            return []
        new = {**a, "deleted": True}
    new["ev"] = _remember(new["ev"], event.id, REMEMBER_EVENT_IDS)
    emitter = _Emitter(new, iso(event.time))
    view = article_view(new)
    if view is not None:
        emitter.article("article", view)
    if isinstance(event, ArticleDeleted):
        _delete_comments(new, emitter, st)
    st.put_article(new)
    if a is not None and a["parked"] and new["meta"] is not None:
        return emitter.out + _release_parked(a, st)
    return emitter.out


#: The recent-list version of a removal that nothing can undo (an article's deletion): it
#: is an ``articles`` offset, not comparable with the ``comments`` offsets of other facts.
FINAL_VERSION: Final = 2**53 - 1


def _delete_comments(a: ArticleRecord, emitter: _Emitter, st: _State) -> None:
    """An article's deletion deletes its comments, as a ``comment.deleted`` of each would: they
    leave snapshots, history, counts and the recent list. Ingest publishes those deletions
    first; this catches comments posted through another process at the same moment."""
    removed = 0
    cid = a["head"]
    while cid is not None:
        c = st.comment(a["id"], cid)
        if c is None:
            break
        if c["status"] != "deleted":
            if c["status"] == "visible":
                removed += 1
                a["count"] -= 1
                emitter.article("comment.removed", {"comment_id": c["id"], "article_id": c["aid"],
                                                    "reason": "deleted"})
                emitter.fact("remove", c, FINAL_VERSION)
            gone: CommentRecord = {**c, "status": "deleted", "next": None, "ph": False}
            emitter.queue(c, gone, st, FINAL_VERSION)
            st.put_comment(gone)
        cid = c["prev"]
    # Every comment is deleted now: the chain is empty (see CommentRecord.prev).
    a["head"] = None
    if removed:
        emitter.counts()


def _fold_comment(event: CommentEvent | CommentReported, a: ArticleRecord, st: _State,
                  pos: Position) -> list[Emit]:
    data = event.data
    if data.site != a["site"]:
        return [Rejected("site_mismatch", f"article {a['id']!r} belongs to site {a['site']!r}",
                         "data.site")]
    if isinstance(event, CommentPosted):
        return _posted(event, a, st, pos)
    c = st.comment(data.article_id, data.comment_id)
    if c is None:
        return [Rejected("unknown_comment", f"comment {data.comment_id!r} was never posted",
                         "data.comment_id")]
    if isinstance(event, CommentVoted):
        return _voted(event, a, c, st)
    if event.id in c["ev"] or c["status"] == "deleted":
        return []
    new_a: ArticleRecord = {**a}
    emitter = _Emitter(new_a, iso(event.time))
    # An event that changes nothing is still remembered: delivered again later, when the
    # comment has changed, it must still change nothing.
    new_c: CommentRecord = {**c}
    decided_at: datetime | None = None
    if isinstance(event, CommentReported):
        new_c = moderation.report(c, event) or new_c
    elif isinstance(event, CommentEdited):
        # Edits apply in log order, not by their clocks: two ingest processes may disagree
        # on the time, and a replay is already caught by the event id above.
        if event.data.body != c["body"]:
            new_c = {**c, "body": event.data.body, "edited_at": iso(event.data.edited_at)}
            if c["status"] == "visible":
                emitter.article("comment.updated", comment_view(new_c))
                emitter.fact("upsert", new_c, pos.offset)
    elif isinstance(event, CommentDeleted):
        new_c = {**c, "status": "deleted"}
        if c["status"] == "visible":
            _became_invisible(emitter, new_c, "deleted", pos)
            new_c["ph"] = (c.get("kids") or 0) > 0
        elif c["status"] == "pending":
            _withdrawn(emitter, new_c, "deleted")
        # A placeholder (replies still show) stays in the chain until its last reply goes.
        if not new_c.get("ph"):
            _unlink(new_c, new_a, st)
    else:
        status = event.data.status
        decided_at = event.time
        if status == "visible":
            new_c = moderation.approved(c)
        if status != c["status"]:
            new_c = {**new_c, "status": status, "why": moderation.add_reason(c, event.data.reason)}
            if status == "visible":
                _became_visible(emitter, new_c, pos)
                new_c["ph"] = False
            elif c["status"] == "visible":
                _became_invisible(emitter, new_c, "hidden", pos)
                new_c["ph"] = (c.get("kids") or 0) > 0
            elif c["status"] == "pending":
                _withdrawn(emitter, new_c, "hidden")
    emitter.queue(c, new_c, st, pos.offset, decided_at)
    new_c["ev"] = _remember(c["ev"], event.id, REMEMBER_EVENT_IDS)
    st.put_comment(new_c)
    _settle(new_c, shows(c), new_a, st)
    _rank(new_c, c["status"] == "visible", st)
    st.put_article(new_a)
    return emitter.out


def _settle(c: CommentRecord, showed: bool, a: ArticleRecord, st: _State) -> None:
    """Carry a change of whether ``c`` shows (stored already) up its ancestors' reply counts.

    A placeholder whose last showing reply went stops showing (a deleted one leaves the chain
    then), which its own parent counts in turn, as the live view drops placeholders up the
    chain. Only losing a placeholder climbs further, so the cost is bounded by the
    placeholders that go.
    """
    now = shows(c)
    parent_id = c["parent"]
    while showed != now and parent_id is not None:
        p = st.comment(c["aid"], parent_id)
        if p is None:
            return
        # ``or 0``: absent in records older than placeholders, ``None`` when rewound to them.
        new_p: CommentRecord = {**p, "kids": max((p.get("kids") or 0) + (1 if now else -1), 0)}
        if new_p.get("ph") and new_p["kids"] == 0:
            new_p["ph"] = False
            if new_p["status"] == "deleted":
                _unlink(new_p, a, st)
        st.put_comment(new_p)
        showed, now, parent_id = shows(p), shows(new_p), p["parent"]


def _unlink(c: CommentRecord, a: ArticleRecord, st: _State) -> None:
    """Take a deleted comment out of its article's chain: snapshots and history pages walk
    the chain, and a deleted comment never shows again."""
    before, after = c["prev"], c.get("next")
    if after is None:
        if a["head"] == c["id"]:
            a["head"] = before
    else:
        newer = st.comment(c["aid"], after)
        if newer is not None:
            st.put_comment({**newer, "prev": before})
    if before is not None:
        older = st.comment(c["aid"], before)
        if older is not None:
            st.put_comment({**older, "next": after})
    c["next"] = None


def _became_visible(emitter: _Emitter, c: CommentRecord, pos: Position) -> None:
    emitter.a["count"] += 1
    emitter.article("comment.added", comment_view(c))
    emitter.counts()
    emitter.fact("upsert", c, pos.offset)


def _became_invisible(emitter: _Emitter, c: CommentRecord,
                      reason: Literal["deleted", "hidden"], pos: Position) -> None:
    emitter.a["count"] -= 1
    emitter.article("comment.removed",
                    {"comment_id": c["id"], "article_id": c["aid"], "reason": reason})
    emitter.counts()
    emitter.fact("remove", c, pos.offset)


def _withdrawn(emitter: _Emitter, c: CommentRecord,
               reason: Literal["deleted", "hidden"]) -> None:
    """A pending comment rejected or deleted: readers never saw it and no count changes, but
    its author's page shows it as awaiting moderation and must learn that it went."""
    emitter.article("comment.removed",
                    {"comment_id": c["id"], "article_id": c["aid"], "reason": reason})


def _posted(event: CommentPosted, a: ArticleRecord, st: _State, pos: Position) -> list[Emit]:
    data = event.data
    if a["deleted"]:
        return [Rejected("article_deleted", f"article {a['id']!r} is deleted", "data.article_id")]
    if a["closed"]:
        return [Rejected("article_closed", f"comments on {a['id']!r} are closed",
                         "data.article_id")]
    if st.comment(data.article_id, data.comment_id) is not None:
        return []  # the same comment id again: a duplicate
    depth = 0
    if data.parent_id is not None:
        parent = st.comment(data.article_id, data.parent_id)
        if parent is None:
            return [Rejected("unknown_parent", f"parent {data.parent_id!r} is not a comment of "
                             f"{data.article_id!r}", "data.parent_id")]
        depth = parent["depth"] + 1
    c: CommentRecord = {
        "id": data.comment_id, "aid": data.article_id, "parent": data.parent_id,
        "author": {"id": data.author.id, "name": data.author.name}, "body": data.body,
        "posted_at": iso(data.posted_at), "edited_at": None, "status": data.status,
        "score": 0, "depth": depth, "seq": a["n"], "prev": a["head"], "next": None,
        "ev": [event.id], "kids": 0, "ph": False,
    }
    if data.held_for:
        c["why"] = list(data.held_for)  # the desk shows why it waits
    if a["head"] is not None:
        older = st.comment(data.article_id, a["head"])
        if older is not None:
            st.put_comment({**older, "next": data.comment_id})
    new_a: ArticleRecord = {**a, "n": a["n"] + 1, "head": data.comment_id}
    emitter = _Emitter(new_a, iso(event.time))
    if data.status == "visible":
        _became_visible(emitter, c, pos)
    emitter.queue(None, c, st, pos.offset)
    st.put_comment(c)
    _settle(c, False, new_a, st)
    _rank(c, False, st)
    st.put_article(new_a)
    return emitter.out


def _voted(event: CommentVoted, a: ArticleRecord, c: CommentRecord,
           st: _State) -> list[Emit]:
    data = event.data
    if c["status"] == "deleted":
        return []
    v = st.vote(data.article_id, data.comment_id, data.voter_id) or {"value": 0, "ev": []}
    if event.id in v["ev"]:
        return []
    new_a: ArticleRecord = {**a}
    emitter = _Emitter(new_a, iso(event.time))
    # Remembered even when it changes nothing (see _fold_comment).
    st.put_vote(data.article_id, data.comment_id, data.voter_id,
                {"value": data.value, "ev": _remember(v["ev"], event.id, REMEMBER_VOTE_IDS)})
    if v["value"] != data.value:
        _remember_vote(st, data.article_id, data.voter_id, data.comment_id, data.value)
        new_c: CommentRecord = {**c, "score": c["score"] + data.value - v["value"]}
        if c["status"] == "visible":
            emitter.article("comment.score", {"comment_id": c["id"], "article_id": c["aid"],
                                              "score": new_c["score"]})
        st.put_comment(new_c)
        _rank(new_c, c["status"] == "visible", st)
    st.put_article(new_a)
    return emitter.out


def _remember_vote(st: _State, article_id: str, voter_id: str, comment_id: str,
                   value: int) -> None:
    """Keep the voter's per-article list (``votes/mine``) in step: a 0 withdraws; past
    :data:`MAX_VOTES_PER_VOTER` the least recently changed vote is forgotten there."""
    m = st.voter(article_id, voter_id)
    votes = dict(m["votes"]) if m is not None else {}
    votes.pop(comment_id, None)
    if value != 0:
        votes[comment_id] = value
        while len(votes) > MAX_VOTES_PER_VOTER:
            del votes[next(iter(votes))]
    st.put_voter(article_id, voter_id, {"votes": votes})


def _rank(c: CommentRecord, was_visible: bool, st: _State) -> None:
    """Keep the article's ``best`` index (:class:`~streams.shapes.TopIndex`) in step with a
    top-level comment that was or is visible, after its status or score changed.

    A comment that does not make the list raises ``floor`` to its score, and so does one pushed
    off it: ``floor`` bounds every unlisted score from above, so the listed comments scoring
    above it are exactly the best ones, whatever was never listed.
    """
    visible = c["status"] == "visible"
    if c["parent"] is not None or not (was_visible or visible):
        return
    index = st.top(c["aid"])
    if index is None:
        a = st.article(c["aid"])
        index = {"top": [], "floor": None if a is not None and a.get("ranked") else UNRANKED_FLOOR}
    cid = c["id"]
    # A copy: the stored list stays as read. Only visible comments are listed, so one that was
    # not visible (a new post) need not be looked for.
    top = [e for e in index["top"] if e[2] != cid] if was_visible else list(index["top"])
    listed = len(top) != len(index["top"])
    floor = index["floor"]
    if visible:
        entry = [c["score"], c["seq"], cid]
        if listed or len(top) < TOP_COMMENTS or (entry[0], entry[1]) > (top[-1][0], top[-1][1]):
            # Kept sorted by score, then seq, both descending: insert, do not re-sort.
            bisect.insort(top, entry, key=_best_first)
        else:
            floor = c["score"] if floor is None else max(floor, c["score"])
        if len(top) > TOP_COMMENTS:
            pushed = top.pop()
            floor = pushed[0] if floor is None else max(floor, pushed[0])
    if floor != index["floor"] or top != index["top"]:
        st.put_top(c["aid"], {"top": top, "floor": floor})


def _best_first(entry: list[Any]) -> tuple[int, int]:
    return -entry[0], -entry[1]
