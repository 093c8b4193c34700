"""The site-wide recent list: fold recent-list facts into one record per site.

Pure. The fold of articles and comments (:mod:`streams.fold`) sends each batch's facts of a
site as one record of an internal topic keyed by site; :func:`fold_facts` folds consecutive
fact records of one site into its :class:`~streams.shapes.SiteRecord`, which holds the list
and its items, so a batch writes one record and emits at most one ``recent`` update per site.

Exactly right after a crash: the site record is one record, written whole, and keeps the
highest fact-record offset it took (``seen``); a replayed fact record at or below it changes
nothing. The ``recent`` update of a batch carries a channel offset, and a replay may cut the
facts into batches differently, so the caller queues the update only once the site record is
acknowledged (a landed update then implies a landed record); the record keeps the offset of
the fact record whose batch emitted (``emit``), and a replay of that record re-emits the very
same update from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, cast

from commentfeed.channels import ChannelUpdate
from streams.fold import channel_epoch, micros
from streams.shapes import Position, Reader, RecentItem, SiteRecord, site_key

KEEP_RECENT: Final = 50
SERVE_RECENT: Final = 10
#: Tombstones kept in a site list so a replayed older fact cannot resurrect a removed comment.
KEEP_TOMBSTONES: Final = 50
#: Fields every fact has (upserts also carry ``author_name`` and ``excerpt``).
FACT_FIELDS: Final = ("op", "site", "article_id", "comment_id", "posted_at", "version")


@dataclass(slots=True)
class _SiteList:
    """Entries newest first: ``[sort key, entry id, version, live, item or None]``.

    The sort key is the posting time in fixed-width microseconds plus the entry id, so plain
    string order is time order and ties break the same way on every worker. ``ids`` and
    ``live`` follow ``entries``: most facts are new comments, which then cost no walk of the
    list to be looked for or to learn whether it is full.
    """

    entries: list[list[Any]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    live: int = 0

    @classmethod
    def of(cls, entries: Sequence[Sequence[Any]]) -> _SiteList:
        rows = [list(e) for e in entries]
        return cls(rows, {e[1] for e in rows}, sum(1 for e in rows if e[3]))

    def find(self, entry: str) -> int:
        if entry not in self.ids:
            return -1
        for i, e in enumerate(self.entries):
            if e[1] == entry:
                return i
        return -1

    def top(self, n: int) -> list[tuple[str, int]]:
        return [(e[1], e[2]) for e in self.entries if e[3]][:n]

    def full_and_older(self, sort: str) -> bool:
        return self.live >= KEEP_RECENT and sort < self.entries[-1][0]

    def insert(self, row: list[Any]) -> None:
        entries = self.entries
        if not entries or entries[-1][0] >= row[0]:
            at = len(entries)  # older than every entry (or none yet)
        elif entries[0][0] < row[0]:
            at = 0  # the newest: the usual case
        else:
            at = next(i for i, e in enumerate(entries) if e[0] < row[0])
        entries.insert(at, row)
        self.ids.add(row[1])
        self.live += 1 if row[3] else 0

    def remove(self, at: int) -> None:
        row = self.entries.pop(at)
        self.ids.discard(row[1])
        self.live -= 1 if row[3] else 0

    def prune(self) -> None:
        """Drop entries past the newest ``KEEP_RECENT`` live ones (and surplus tombstones)."""
        kept: list[list[Any]] = []
        live = tombs = 0
        for e in self.entries:
            if e[3]:
                if live < KEEP_RECENT:
                    kept.append(e)
                    live += 1
                    continue
            elif live < KEEP_RECENT and tombs < KEEP_TOMBSTONES:
                kept.append(e)
                tombs += 1
                continue
            self.ids.discard(e[1])
        self.entries = kept
        self.live = live


def sort_key(posted_at: str, entry: str) -> str:
    return f"{max(0, micros(datetime.fromisoformat(posted_at))):020d}|{entry}"


def new_site(site: str, namespace: str) -> SiteRecord:
    return {"site": site, "e": channel_epoch(namespace, f"recent:{site}"), "o": 0,
            "entries": [], "seen": -1, "emit": None}


def recent_items(s: SiteRecord) -> list[RecentItem]:
    """The served recent list, newest first."""
    items: list[RecentItem] = [e[4] for e in s["entries"] if e[3]][:SERVE_RECENT]
    return items


def read_site(read: Reader, site: str) -> SiteRecord | None:
    return cast(SiteRecord | None, read(site_key(site)))


@dataclass(frozen=True, slots=True)
class SiteOutcome:
    #: The site record to write (``None``: nothing new).
    write: SiteRecord | None
    #: ``recent`` updates to queue once the write is acknowledged, oldest first.
    emits: list[ChannelUpdate]
    #: Fact records at or below what the stored record had already taken.
    replayed: int = 0


def fold_facts(batches: Sequence[tuple[Sequence[Mapping[str, Any]], Position]], read: Reader,
               *, namespace: str) -> SiteOutcome:
    """Fold consecutive fact records of one site (offsets ascending) into its record at once.

    One site record write and at most one new ``recent`` update for the whole batch: the
    update carries the list after the last fact.
    """
    site = str(batches[0][0][0]["site"])
    stored = read_site(read, site)
    seen = stored["seen"] if stored is not None else -1
    emits: list[ChannelUpdate] = []
    replayed = 0
    for facts, pos in batches:
        if pos.offset > seen:
            break
        assert stored is not None
        replayed += 1
        if stored["emit"] == pos.offset:
            emits.append(_recent_update(stored, facts[-1].get("time")))
    fresh = [(facts, pos) for facts, pos in batches if pos.offset > seen]
    if not fresh:
        return SiteOutcome(None, emits, replayed)
    s: SiteRecord = dict(stored) if stored is not None else new_site(site, namespace)  # type: ignore[assignment]
    lst = _SiteList.of(s["entries"])
    before = lst.top(SERVE_RECENT)
    for facts, _pos in fresh:
        for fact in facts:
            _apply(lst, fact)
    last_facts, last = fresh[-1]
    new: SiteRecord = {**s, "entries": lst.entries, "seen": last.offset, "emit": None}
    if lst.top(SERVE_RECENT) != before:
        new["o"] += 1
        new["emit"] = last.offset
        emits.append(_recent_update(new, last_facts[-1].get("time")))
    return SiteOutcome(new, emits, replayed)


def _apply(lst: _SiteList, fact: Mapping[str, Any]) -> None:
    entry = f"{fact['article_id']}/{fact['comment_id']}"
    version = int(fact["version"])
    sort = sort_key(fact["posted_at"], entry)
    at = lst.find(entry)
    if at >= 0 and lst.entries[at][2] >= version:
        return
    if at >= 0:
        lst.remove(at)
    elif lst.full_and_older(sort):
        return
    item: RecentItem | None = None
    if fact["op"] == "upsert":
        item = {"comment_id": fact["comment_id"], "article_id": fact["article_id"],
                "author_name": fact["author_name"], "excerpt": fact["excerpt"],
                "posted_at": fact["posted_at"]}
    lst.insert([sort, entry, version, item is not None, item])
    lst.prune()


def _recent_update(s: SiteRecord, source_time: str | None) -> ChannelUpdate:
    payload = {"site": s["site"], "items": recent_items(s)}
    return ChannelUpdate(f"recent:{s['site']}", s["e"], s["o"], "recent", payload, source_time)
