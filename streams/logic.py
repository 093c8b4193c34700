"""Pure state logic of the streams worker: fold one input event into small records.

Nothing here imports Faust or does I/O. :func:`fold_event` takes an ``articles``/``comments``
event, its input position and a function that reads records by key, and returns the records to
write and the updates to emit; :func:`fold_facts` does the same for the site-wide recent list.

Records (JSON-able dicts, kept small because each write is one changelog record):

- ``a/<article>``: article meta, visible count, comment counter, newest comment id (the head of a
  backwards chain through the comment records), epoch and offset of ``article:<id>`` and
  ``count:<id>``, recent article event ids;
- ``c/<article>/<comment>``: one comment (status, body, score, depth, ``prev`` link, event ids);
- ``v/<article>/<comment>/<voter>``: one voter's vote;
- ``s/<site>``: the site's recent list as sort keys and versions; ``i/<site>/<article>/<comment>``:
  one listed comment's excerpt.

Exactly right after a crash: Faust writes each key's changelog record on its own and commits input
offsets later, so after ``kill -9`` an event may be partly written and is then processed again.
Every main record therefore carries ``_last`` (the input position that last changed it),
``_seen`` (the highest offset per input topic that changed it) and ``_undo`` (the old values of
the fields that position changed). Replaying an event rewinds the records it already wrote to
their state before it, recomputes the same result (the fold is deterministic and epochs are
derived, not random), writes only what is missing and re-emits the same updates with the same
channel offsets; consumers drop offsets they already have. A record changed by a *later*
position proves the event was fully written and emitted before, so it is skipped. The site
record is a single state-bearing record over versioned facts, so it needs no undo; facts are
folded in batches (:func:`fold_facts`), and an item rewritten by a batch whose site record was
lost in a crash reads as it was before that batch (``_at``, ``_prev``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from commentfeed import codec
from commentfeed.events import (
    ArticleClosed,
    ArticleDeleted,
    ArticlePublished,
    ArticleUpdated,
    CommentDeleted,
    CommentEdited,
    CommentEvent,
    CommentPosted,
    CommentVoted,
    FeedUpdateType,
    InputEvent,
)

Record = dict[str, Any]
Reader = Callable[[str], Record | None]

#: Input topic tags used in positions: offsets of different topics are independent sequences.
ARTICLES: Final = "a"
COMMENTS: Final = "c"
FACTS: Final = "r"

KEEP_RECENT: Final = 50
SERVE_RECENT: Final = 10
EXCERPT_CHARS: Final = 100
#: Event ids remembered per record for duplicate detection (retries arrive close together).
REMEMBER_EVENT_IDS: Final = 16
REMEMBER_VOTE_IDS: Final = 16
#: Tombstones kept in a site list so a replayed older fact cannot resurrect a removed comment.
KEEP_TOMBSTONES: Final = 50
#: Comment events for an article not published yet wait this long for it (measured in record
#: timestamps of their partition), then go to the DLQ as ``unknown_article``. ``articles`` and
#: ``comments`` are separate topics, so a comment can be read before the article published
#: just before it.
PARK_GRACE: Final = timedelta(seconds=60)
MAX_PARKED: Final = 100

_EPOCH0 = datetime(1970, 1, 1, tzinfo=UTC)
_META = ("_last", "_seen", "_undo")


# -- positions, keys, small helpers ------------------------------------------------------------


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


def article_key(article_id: str) -> str:
    return f"a/{article_id}"


def comment_key(article_id: str, comment_id: str) -> str:
    return f"c/{article_id}/{comment_id}"


def vote_key(article_id: str, comment_id: str, voter_id: str) -> str:
    return f"v/{article_id}/{comment_id}/{voter_id}"


def park_key(partition: int) -> str:
    return f"k/{partition}"


def site_key(site: str) -> str:
    return f"s/{site}"


def item_key(site: str, entry: str) -> str:
    return f"i/{site}/{entry}"


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


def fields(record: Record | None) -> Record | None:
    """A stored record without its bookkeeping."""
    if record is None:
        return None
    return {k: v for k, v in record.items() if k not in _META}


# -- what a fold returns -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelUpdate:
    """One update of one channel, for ``feed.updates`` (key = channel)."""

    channel: str
    epoch: str
    offset: int
    kind: FeedUpdateType
    payload: dict[str, Any]
    source_time: str | None


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


Emit = ChannelUpdate | CountChanged | RecentFact | Rejected


@dataclass(frozen=True, slots=True)
class Outcome:
    #: Records to write, in order (the article record first); ``None`` deletes.
    writes: dict[str, Record | None]
    emits: list[Emit]
    #: The event had been processed before (partly or fully) and was recomputed.
    replayed: bool = False
    #: The event is older than the state: fully written and emitted before; nothing to do.
    superseded: bool = False


# -- replay-safe record access -----------------------------------------------------------------


class _Superseded(Exception):
    """A record was changed by a later position: this event was fully applied before."""


class _Tx:
    """Reads records as they were *before* the event, collects the new values."""

    def __init__(self, read: Reader, pos: Position, anchor: str) -> None:
        self._read = read
        self._pos = pos
        self._marker = pos.marker()
        self._anchor = anchor
        self._stored: dict[str, Record | None] = {}
        self._pre: dict[str, Record | None] = {}
        self._new: dict[str, Record] = {}
        self.replayed = False

    def get(self, key: str) -> Record | None:
        if key in self._new:
            return self._new[key]
        if key not in self._pre:
            stored = self._read(key)
            self._stored[key] = stored
            self._pre[key] = self._rewind(stored)
        return self._pre[key]

    def _rewind(self, stored: Record | None) -> Record | None:
        if stored is None:
            return None
        seen = stored.get("_seen", {}).get(self._pos.topic, -1)
        if seen < self._pos.offset:
            return fields(stored)
        if stored.get("_last") != self._marker:
            raise _Superseded
        self.replayed = True
        undo = stored.get("_undo")
        if undo is None:
            return None  # this very event created it
        pre = fields(stored)
        assert pre is not None
        pre.update({k: v for k, v in undo.items() if k not in _META})
        return pre

    def put(self, key: str, value: Record) -> None:
        self.get(key)
        self._new[key] = value

    def writes(self) -> dict[str, Record | None]:
        if not self._new:
            return {}
        # Every writing event also writes the anchor (article) record, so that record alone
        # tells a later replay whether this position was applied; it is written first.
        anchor = self.get(self._anchor)
        if anchor is not None and self._anchor not in self._new:
            self._new[self._anchor] = dict(anchor)
        order = sorted(self._new, key=lambda k: k != self._anchor)
        out: dict[str, Record | None] = {}
        for key in order:
            stored = self._stored[key]
            if stored is not None and stored.get("_last") == self._marker:
                continue  # written before the crash; identical by determinism
            out[key] = self._with_meta(self._new[key], self._pre[key], stored)
        return out

    def _with_meta(self, value: Record, pre: Record | None, stored: Record | None) -> Record:
        old_seen: dict[str, int] = dict(stored.get("_seen", {})) if stored else {}
        record = dict(value)
        record["_last"] = self._marker
        record["_seen"] = {**old_seen, self._pos.topic: self._pos.offset}
        if pre is None:
            record["_undo"] = None
        else:
            undo = {k: pre.get(k) for k in pre.keys() | value.keys() if pre.get(k) != value.get(k)}
            assert stored is not None
            undo["_last"] = stored.get("_last")
            undo["_seen"] = old_seen
            record["_undo"] = undo
        return record


# -- views built from records ------------------------------------------------------------------


def article_view(a: Record) -> dict[str, Any] | None:
    """``ArticleView`` of an article record (``None`` when only comments were seen)."""
    meta = a.get("meta")
    if meta is None:
        return None
    return {
        "article_id": a["id"], "site": a["site"], "title": meta["title"], "url": meta["url"],
        "author": meta["author"], "published_at": meta["published_at"],
        "closed": a["closed"], "deleted": a["deleted"],
    }


def comment_view(c: Record) -> dict[str, Any]:
    """``CommentView`` of a comment record."""
    return {
        "comment_id": c["id"], "article_id": c["aid"], "parent_id": c["parent"],
        "author": c["author"], "body": c["body"], "posted_at": c["posted_at"],
        "edited_at": c["edited_at"], "score": c["score"], "depth": c["depth"],
    }


def new_article(article_id: str, site: str, namespace: str) -> Record:
    return {
        "id": article_id, "site": site, "meta": None, "closed": False, "deleted": False,
        "count": 0, "n": 0, "head": None,
        "ea": channel_epoch(namespace, f"article:{article_id}"), "oa": 0,
        "ec": channel_epoch(namespace, f"count:{article_id}"), "oc": 0,
        "ev": [], "parked": [],
    }


class _Emitter:
    """Allocates channel offsets on the (new) article record as updates are emitted."""

    def __init__(self, a: Record, source_time: str) -> None:
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

    def fact(self, op: Literal["upsert", "remove"], c: Record, version: int) -> None:
        site = self.a["site"]
        fact: dict[str, Any] = {
            "op": op, "site": site, "article_id": c["aid"], "comment_id": c["id"],
            "posted_at": c["posted_at"], "version": version, "time": self.source_time,
        }
        if op == "upsert":
            fact["author_name"] = c["author"]["name"]
            fact["excerpt"] = excerpt(c["body"])
        self.out.append(RecentFact(site, fact))


# -- the main fold -----------------------------------------------------------------------------


def fold_event(event: InputEvent, pos: Position, read: Reader, *, namespace: str,
               raw: bytes = b"") -> Outcome:
    """Fold one ``articles``/``comments`` event at ``pos`` into the records ``read`` returns.

    ``raw`` is the record as received: a comment parked for its article keeps it, so that it
    reaches the DLQ byte for byte if the article never comes.
    """
    article_id = event.data.article_id
    tx = _Tx(read, pos, article_key(article_id))
    try:
        publishing = isinstance(event, ArticlePublished | ArticleUpdated)
        emits = _expire_parked(tx, pos, keep=article_id if publishing else None)
        if isinstance(event, ArticlePublished | ArticleUpdated | ArticleClosed | ArticleDeleted):
            emits += _fold_article(event, tx, namespace, pos)
        else:
            a = tx.get(article_key(article_id))
            if a is None or a["meta"] is None:
                emits += _park(event, a, tx, pos, raw, namespace)
            else:
                emits += _fold_comment(event, tx, pos)
        writes = tx.writes()
    except _Superseded:
        return Outcome({}, [], superseded=True)
    return Outcome(writes, emits, replayed=tx.replayed)


def _park(event: CommentEvent, a: Record | None, tx: _Tx, pos: Position, raw: bytes,
          namespace: str) -> list[Emit]:
    data = event.data
    base = a if a is not None else new_article(data.article_id, data.site, namespace)
    if len(base["parked"]) >= MAX_PARKED:
        return [Rejected("unknown_article", f"article {data.article_id!r} was never published",
                         "data.article_id")]
    at = pos.arrived_ms
    entry = [pos.offset, base64.b64encode(raw).decode("ascii"), at]
    tx.put(article_key(data.article_id), {**base, "parked": [*base["parked"], entry]})
    index = tx.get(park_key(pos.partition)) or {"articles": {}}
    if data.article_id not in index["articles"]:
        tx.put(park_key(pos.partition),
               {"articles": {**index["articles"], data.article_id: at}})
    return []


def _expire_parked(tx: _Tx, pos: Position, *, keep: str | None) -> list[Emit]:
    """Send comments that waited too long for their article to the DLQ."""
    index = tx.get(park_key(pos.partition))
    if not index or not index["articles"]:
        return []
    cutoff = pos.arrived_ms - PARK_GRACE // timedelta(milliseconds=1)
    due = [aid for aid, since in index["articles"].items() if since < cutoff and aid != keep]
    emits: list[Emit] = []
    for aid in due:
        a = tx.get(article_key(aid))
        if a is None:
            continue
        for offset, raw_b64, _at in a["parked"]:
            emits.append(Rejected("unknown_article", f"article {aid!r} was not published within "
                                  f"{PARK_GRACE.total_seconds():.0f} s", "data.article_id",
                                  offset, raw_b64, aid))
        tx.put(article_key(aid), {**a, "parked": []})
    if due:
        left = {k: v for k, v in index["articles"].items() if k not in due}
        tx.put(park_key(pos.partition), {"articles": left})
    return emits


def _release_parked(a: Record, tx: _Tx, pos: Position) -> list[Emit]:
    """Fold the comment events that arrived before their article, in their order."""
    emits: list[Emit] = []
    for offset, raw_b64, _at in a["parked"]:
        comment = codec.decode_comment_event(base64.b64decode(raw_b64))
        for emit in _fold_comment(comment, tx, Position(COMMENTS, offset, pos.partition)):
            if isinstance(emit, Rejected):
                emit = Rejected(emit.reason, emit.detail, emit.field, offset, raw_b64, a["id"])
            emits.append(emit)
    index = tx.get(park_key(pos.partition))
    if index is not None and a["id"] in index["articles"]:
        left = {k: v for k, v in index["articles"].items() if k != a["id"]}
        tx.put(park_key(pos.partition), {"articles": left})
    return emits


def _fold_article(
    event: ArticlePublished | ArticleUpdated | ArticleClosed | ArticleDeleted,
    tx: _Tx, namespace: str, pos: Position,
) -> list[Emit]:
    data = event.data
    key = article_key(data.article_id)
    a = tx.get(key)
    if isinstance(event, ArticlePublished | ArticleUpdated):
        base = a if a is not None else new_article(data.article_id, data.site, namespace)
        meta = {"title": event.data.title, "url": event.data.url, "author": event.data.author,
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
    tx.put(key, new)
    if a is not None and a["parked"] and new["meta"] is not None:
        return emitter.out + _release_parked(a, tx, pos)
    return emitter.out


def _fold_comment(event: CommentEvent, tx: _Tx, pos: Position) -> list[Emit]:
    data = event.data
    a = tx.get(article_key(data.article_id))
    assert a is not None
    if data.site != a["site"]:
        return [Rejected("site_mismatch", f"article {a['id']!r} belongs to site {a['site']!r}",
                         "data.site")]
    if isinstance(event, CommentPosted):
        return _posted(event, a, tx, pos)
    key = comment_key(data.article_id, data.comment_id)
    c = tx.get(key)
    if c is None:
        return [Rejected("unknown_comment", f"comment {data.comment_id!r} was never posted",
                         "data.comment_id")]
    if isinstance(event, CommentVoted):
        return _voted(event, a, c, tx)
    if event.id in c["ev"] or c["status"] == "deleted":
        return []
    new_a = dict(a)
    emitter = _Emitter(new_a, iso(event.time))
    # An event that changes nothing is still remembered: delivered again later, when the
    # comment has changed, it must still change nothing.
    new_c = dict(c)
    if isinstance(event, CommentEdited):
        edited_at = iso(event.data.edited_at)
        stale = c["edited_at"] is not None and (
            micros(event.data.edited_at) <= _micros_of(c["edited_at"]))
        if not stale and event.data.body != c["body"]:
            new_c = {**c, "body": event.data.body, "edited_at": edited_at}
            if c["status"] == "visible":
                emitter.article("comment.updated", comment_view(new_c))
                emitter.fact("upsert", new_c, pos.offset)
    elif isinstance(event, CommentDeleted):
        new_c = {**c, "status": "deleted"}
        if c["status"] == "visible":
            _became_invisible(emitter, new_c, "deleted", pos)
    elif event.data.status != c["status"]:
        status = event.data.status
        new_c = {**c, "status": status}
        if status == "visible":
            _became_visible(emitter, new_c, pos)
        elif c["status"] == "visible":
            _became_invisible(emitter, new_c, "hidden", pos)
    new_c["ev"] = _remember(c["ev"], event.id, REMEMBER_EVENT_IDS)
    tx.put(key, new_c)
    tx.put(article_key(a["id"]), new_a)
    return emitter.out


def _micros_of(stamp: str) -> int:
    return micros(datetime.fromisoformat(stamp))


def _became_visible(emitter: _Emitter, c: Record, pos: Position) -> None:
    emitter.a["count"] += 1
    emitter.article("comment.added", comment_view(c))
    emitter.counts()
    emitter.fact("upsert", c, pos.offset)


def _became_invisible(emitter: _Emitter, c: Record, reason: Literal["deleted", "hidden"],
                      pos: Position) -> None:
    emitter.a["count"] -= 1
    emitter.article("comment.removed",
                    {"comment_id": c["id"], "article_id": c["aid"], "reason": reason})
    emitter.counts()
    emitter.fact("remove", c, pos.offset)


def _posted(event: CommentPosted, a: Record, tx: _Tx, pos: Position) -> list[Emit]:
    data = event.data
    if a["deleted"]:
        return [Rejected("article_deleted", f"article {a['id']!r} is deleted", "data.article_id")]
    if a["closed"]:
        return [Rejected("article_closed", f"comments on {a['id']!r} are closed",
                         "data.article_id")]
    key = comment_key(data.article_id, data.comment_id)
    if tx.get(key) is not None:
        return []  # the same comment id again: a duplicate
    depth = 0
    if data.parent_id is not None:
        parent = tx.get(comment_key(data.article_id, data.parent_id))
        if parent is None:
            return [Rejected("unknown_parent", f"parent {data.parent_id!r} is not a comment of "
                             f"{data.article_id!r}", "data.parent_id")]
        depth = parent["depth"] + 1
    c: Record = {
        "id": data.comment_id, "aid": data.article_id, "parent": data.parent_id,
        "author": {"id": data.author.id, "name": data.author.name}, "body": data.body,
        "posted_at": iso(data.posted_at), "edited_at": None, "status": data.status,
        "score": 0, "depth": depth, "seq": a["n"], "prev": a["head"], "ev": [event.id],
    }
    new_a = {**a, "n": a["n"] + 1, "head": data.comment_id}
    emitter = _Emitter(new_a, iso(event.time))
    if data.status == "visible":
        _became_visible(emitter, c, pos)
    tx.put(key, c)
    tx.put(article_key(a["id"]), new_a)
    return emitter.out


def _voted(event: CommentVoted, a: Record, c: Record, tx: _Tx) -> list[Emit]:
    data = event.data
    if c["status"] == "deleted":
        return []
    key = vote_key(data.article_id, data.comment_id, data.voter_id)
    v = tx.get(key) or {"value": 0, "ev": []}
    if event.id in v["ev"]:
        return []
    new_a = dict(a)
    emitter = _Emitter(new_a, iso(event.time))
    # Remembered even when it changes nothing (see _fold_comment).
    tx.put(key, {"value": data.value, "ev": _remember(v["ev"], event.id, REMEMBER_VOTE_IDS)})
    if v["value"] != data.value:
        new_c = {**c, "score": c["score"] + data.value - v["value"]}
        if c["status"] == "visible":
            emitter.article("comment.score", {"comment_id": c["id"], "article_id": c["aid"],
                                              "score": new_c["score"]})
        tx.put(comment_key(data.article_id, data.comment_id), new_c)
    tx.put(article_key(a["id"]), new_a)
    return emitter.out


# -- the site-wide recent list -----------------------------------------------------------------


@dataclass(slots=True)
class _SiteList:
    """Entries newest first: ``[sort key, entry id, version, live]``.

    The sort key is the posting time in fixed-width microseconds plus the entry id, so plain
    string order is time order and ties break the same way on every worker.
    """

    entries: list[list[Any]] = field(default_factory=list)

    def find(self, entry: str) -> int:
        for i, e in enumerate(self.entries):
            if e[1] == entry:
                return i
        return -1

    def was_live(self, entry: str) -> bool:
        return any(e[1] == entry and e[3] for e in self.entries)

    def top(self, n: int) -> list[tuple[str, int]]:
        return [(e[1], e[2]) for e in self.entries if e[3]][:n]

    def full_and_older(self, sort: str) -> bool:
        live = sum(1 for e in self.entries if e[3])
        return live >= KEEP_RECENT and sort < self.entries[-1][0]

    def insert(self, row: list[Any]) -> None:
        at = next((i for i, e in enumerate(self.entries) if e[0] < row[0]), len(self.entries))
        self.entries.insert(at, row)

    def prune(self) -> list[str]:
        """Drop entries past the newest ``KEEP_RECENT`` live ones; return dropped live entries."""
        kept: list[list[Any]] = []
        dropped: list[str] = []
        live = tombs = 0
        for e in self.entries:
            if e[3]:
                if live < KEEP_RECENT:
                    kept.append(e)
                    live += 1
                else:
                    dropped.append(e[1])
            elif live < KEEP_RECENT and tombs < KEEP_TOMBSTONES:
                kept.append(e)
                tombs += 1
        self.entries = kept
        return dropped


def sort_key(posted_at: str, entry: str) -> str:
    return f"{max(0, micros(datetime.fromisoformat(posted_at))):020d}|{entry}"


def new_site(site: str, namespace: str) -> Record:
    return {"site": site, "e": channel_epoch(namespace, f"recent:{site}"), "o": 0,
            "entries": [], "emit": None}


def site_seen(s: Record) -> int:
    """The highest fact offset a stored site record has taken (-1 for none)."""
    seen: int = s.get("_seen", {}).get(FACTS, -1)
    return seen


def item_as_of(stored: Record | None, seen: int) -> Record | None:
    """A stored item as the site record that took facts up to ``seen`` knows it.

    A batch writes its items before its site record; after a crash between the two, an item
    rewritten by the lost batch reads as it was before that batch (``_prev``), so replayed
    facts see exactly what they saw the first time.
    """
    if stored is None:
        return None
    if stored.get("_at", -1) > seen:
        prev: Record | None = stored.get("_prev")
        return prev
    return {k: v for k, v in stored.items() if k not in _ITEM_META}


_ITEM_META = ("_at", "_prev")


def recent_items(s: Record, read: Reader) -> list[dict[str, Any]]:
    """The served recent list (``RecentItem`` dicts, newest first) of a site record."""
    seen = site_seen(s)
    items = []
    for entry, _version in _SiteList(s["entries"]).top(SERVE_RECENT):
        item = item_as_of(read(item_key(s["site"], entry)), seen)
        if item is not None:
            items.append(item)
    return items


def fold_fact(fact: Mapping[str, Any], pos: Position, read: Reader, *,
              namespace: str) -> Outcome:
    """Fold one recent-list fact (from :class:`RecentFact`) into its site's records."""
    return fold_facts([(fact, pos)], read, namespace=namespace)


def fold_facts(facts: Sequence[tuple[Mapping[str, Any], Position]], read: Reader, *,
               namespace: str) -> Outcome:
    """Fold consecutive facts of one site (offsets ascending) into its records at once.

    One site record write and at most one ``recent`` update for the whole batch: the update
    carries the list after the last fact. Writes come in order: item deletions left over from
    the previous batch, this batch's items (each with ``_at`` and its pre-batch ``_prev``),
    the site record last. The caller must queue the update only after these writes, so that a
    landed update implies a landed site record; a replay then re-emits it from the record.
    """
    site = facts[0][0]["site"]
    key = site_key(site)
    stored = read(key)
    seen = site_seen(stored) if stored is not None else -1
    emits: list[Emit] = []
    replayed = superseded = False
    for fact, pos in facts:
        if pos.offset > seen:
            break
        assert stored is not None
        # Taken by a batch whose site record landed, so that batch's writes all landed too.
        if stored["_last"] != pos.marker():
            superseded = True
            continue
        replayed = True
        if stored["emit"] == pos.offset:
            emits.append(_recent_update(stored, read, fact.get("time")))
    fresh = [(f, p) for f, p in facts if p.offset > seen]
    if not fresh:
        return Outcome({}, emits, replayed=replayed, superseded=superseded and not replayed)
    s = fields(stored) or new_site(site, namespace)
    lst = _SiteList([list(e) for e in s["entries"]])
    before = lst.top(SERVE_RECENT)
    changed: dict[str, Record | None] = {}  # entry -> new item (None: left the list)
    for fact, _pos in fresh:
        entry = f"{fact['article_id']}/{fact['comment_id']}"
        version = int(fact["version"])
        sort = sort_key(fact["posted_at"], entry)
        at = lst.find(entry)
        if at >= 0 and lst.entries[at][2] >= version:
            continue
        was_live = at >= 0 and bool(lst.entries[at][3])
        if at >= 0:
            del lst.entries[at]
        elif lst.full_and_older(sort):
            continue
        live = fact["op"] == "upsert"
        lst.insert([sort, entry, version, live])
        if live:
            changed[entry] = {
                "comment_id": fact["comment_id"], "article_id": fact["article_id"],
                "author_name": fact["author_name"], "excerpt": fact["excerpt"],
                "posted_at": fact["posted_at"],
            }
        elif was_live or entry in changed:
            changed[entry] = None
        for dropped in lst.prune():
            changed[dropped] = None
    last = fresh[-1][1]
    writes: dict[str, Record | None] = {}
    # Items that left the list are deleted one batch later, once the site record that no
    # longer lists them has landed: a replay of their batch may still need them.
    for entry in s.get("drop", []):
        if changed.get(entry) is None:
            writes[item_key(site, entry)] = None
    for entry, item in changed.items():
        if item is not None:
            ikey = item_key(site, entry)
            writes[ikey] = {**item, "_at": last.offset, "_prev": item_as_of(read(ikey), seen)}
    new = {**s, "entries": lst.entries, "emit": None,
           "drop": [entry for entry, item in changed.items() if item is None]}
    if lst.top(SERVE_RECENT) != before:
        new["o"] += 1
        new["emit"] = last.offset

        def overlay(k: str) -> Record | None:
            entry = k.removeprefix(item_key(site, ""))
            if entry in changed:
                return changed[entry]
            return item_as_of(read(k), seen)

        emits.append(_recent_update(new, overlay, fresh[-1][0].get("time")))
    new["_last"] = last.marker()
    new["_seen"] = {**(stored["_seen"] if stored else {}), FACTS: last.offset}
    # The site record goes last: once it is written, everything it lists is written too.
    writes[key] = new
    return Outcome(writes, emits, replayed=replayed)


def _recent_update(s: Record, read: Reader, source_time: str | None) -> ChannelUpdate:
    payload = {"site": s["site"], "items": recent_items(s, read)}
    return ChannelUpdate(f"recent:{s['site']}", s["e"], s["o"], "recent", payload, source_time)
