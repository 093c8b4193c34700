"""A site's moderation queue: fold queue facts into one record per site (``q/<site>``).

Pure, and replay-safe the way the recent list is (:mod:`streams.recent`): the fold of comments
sends each batch's queue facts of a site as records of the internal facts topic keyed by site;
:func:`fold_queue` folds consecutive ones into the site's :class:`QueueRecord`. The record
keeps the highest fact-record offset it took (``seen``): a replayed fact record at or below it
changes nothing. Each fact carries its comment's version (the offset of the ``comments`` event
that made it; one comment's events are in one partition, in order), and the record keeps the
version per entry and tombstones of entries that left, so a fact sent again by a replayed fold
batch changes nothing either.

Unlike ``recent`` (one whole-list update per batch), the queue emits one ``queue.item`` or
``queue.removed`` per change, so a replay must re-emit the very same updates: the fold cuts
its work into chunks of at most :data:`CHUNK_UPDATES` updates, each chunk's record keeps its
updates (``last``) and the offset of its last fact record (``emit``), and the caller writes a
chunk's record, waits for the broker's acknowledgement, and only then queues its updates.

Bounds (no record may exceed the broker's 1 MiB): at most :data:`MAX_OPEN` pending or reported
items are held, oldest post first. Past that a new item is not held: its entry is kept in
``more`` (ids only) and counted in ``depth``; it stays pending or reported in the comment
state, can be decided through the API, and is shown once it changes again with room in the
queue (past :data:`MAX_MORE` such entries the oldest are forgotten and ``depth`` undercounts).
At most :data:`MAX_HIDDEN` recently hidden items are held: hiding one more sends the one
hidden longest ago out with ``queue.removed`` (status ``hidden``).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypedDict, cast

from commentfeed.channels import ChannelUpdate, moderation_channel
from streams.fold import channel_epoch, micros
from streams.shapes import Position, Reader, queue_key

MAX_OPEN: Final = 200
MAX_HIDDEN: Final = 100
MAX_MORE: Final = 1_000
KEEP_TOMBSTONES: Final = 200
#: Decision times kept for the median.
KEEP_DECISIONS: Final = 100
#: A chunk closes once it emitted this many updates (a fact makes at most two, a record holds
#: at most FACTS_PER_RECORD facts, so a chunk keeps fewer than 48 in the record for replays).
CHUNK_UPDATES: Final = 16
#: Queue facts per internal record at most (the sender cuts longer lists).
FACTS_PER_RECORD: Final = 16
#: Fields every queue fact has.
QUEUE_FACT_FIELDS: Final = ("op", "site", "article_id", "comment_id", "posted_at", "version")


class QueueRecord(TypedDict):
    site: str
    #: Epoch and offset of ``moderation:<site>``.
    e: str
    o: int
    #: Held items oldest post first: ``[sort key, entry, version, item, hidden at (µs) or 0]``.
    items: list[list[Any]]
    #: Entries that left (tombstones), newest last: ``[entry, version]``.
    gone: list[list[Any]]
    #: Open entries past :data:`MAX_OPEN`, not held: ``[entry, version]``, newest last.
    more: list[list[Any]]
    #: Decisions ever, and the newest decision times in ms (newest last).
    decided: int
    dt: list[int]
    seen: int
    #: Offset of the fact record whose chunk emitted ``last`` (its updates, for a replay).
    emit: int | None
    last: list[dict[str, Any]]


def new_queue(site: str, namespace: str) -> QueueRecord:
    return {"site": site, "e": channel_epoch(namespace, moderation_channel(site)), "o": 0,
            "items": [], "gone": [], "more": [], "decided": 0, "dt": [],
            "seen": -1, "emit": None, "last": []}


def read_queue(read: Reader, site: str) -> QueueRecord | None:
    record = read(queue_key(site))
    if record is None:
        return None
    return cast(QueueRecord, {k: v for k, v in record.items() if k[0] != "_"})


def depth(q: QueueRecord) -> int:
    """Pending and reported comments waiting for a decision (held or not)."""
    held = sum(1 for row in q["items"] if row[3]["status"] != "hidden")
    return held + len(q["more"])


def stats(q: QueueRecord) -> dict[str, Any]:
    """``depth`` and decision times: the extra fields of the snapshot and of ``/metrics``."""
    return {
        "depth": depth(q), "hidden": sum(1 for row in q["items"] if row[3]["status"] == "hidden"),
        "not_shown": len(q["more"]), "decisions": q["decided"],
        "last_decision_ms": q["dt"][-1] if q["dt"] else None,
        "median_decision_ms": round(statistics.median(q["dt"])) if q["dt"] else None,
    }


def snapshot(q: QueueRecord | None, site: str) -> dict[str, Any]:
    """The ``ModerationSnapshot`` of a site: its queue, oldest post first, and its stats."""
    if q is None:
        q = new_queue(site, "")
    return {"site": site, "queue": [row[3] for row in q["items"]], **stats(q)}


@dataclass(slots=True)
class Chunk:
    """One record write and the updates to queue once it is acknowledged."""

    write: QueueRecord
    emits: list[ChannelUpdate]


@dataclass(slots=True)
class QueueOutcome:
    #: In order: write each chunk's record, wait for it, then queue its updates.
    chunks: list[Chunk] = field(default_factory=list)
    #: Updates re-emitted for replayed fact records (queue them before the chunks).
    replay: list[ChannelUpdate] = field(default_factory=list)
    replayed: int = 0


def fold_queue(batches: Sequence[tuple[Sequence[Mapping[str, Any]], Position]], read: Reader,
               *, namespace: str) -> QueueOutcome:
    """Fold consecutive queue-fact records of one site (offsets ascending)."""
    site = str(batches[0][0][0]["site"])
    stored = read_queue(read, site)
    seen = stored["seen"] if stored is not None else -1
    out = QueueOutcome()
    for _facts, pos in batches:
        if pos.offset > seen:
            break
        assert stored is not None
        out.replayed += 1
        if stored["emit"] == pos.offset:
            out.replay += [_update(stored, u) for u in stored["last"]]
    q: QueueRecord = (_copy(stored) if stored is not None else new_queue(site, namespace))
    pending: list[dict[str, Any]] = []
    for facts, pos in batches:
        if pos.offset <= seen:
            continue
        for fact in facts:
            pending += _apply(q, fact)
        q["seen"] = pos.offset
        if len(pending) >= CHUNK_UPDATES:
            out.chunks.append(_close(q, pending, pos.offset))
            q = _copy(q)
            pending = []
    if q["seen"] != seen and (not out.chunks or out.chunks[-1].write["seen"] != q["seen"]):
        out.chunks.append(_close(q, pending, q["seen"]))
    return out


def _copy(q: QueueRecord) -> QueueRecord:
    return cast(QueueRecord, {**q, "items": [list(r) for r in q["items"]],
                              "gone": list(q["gone"]), "more": list(q["more"]),
                              "dt": list(q["dt"])})


def _close(q: QueueRecord, updates: list[dict[str, Any]], offset: int) -> Chunk:
    if updates:
        q["emit"], q["last"] = offset, updates
    else:
        q["emit"], q["last"] = None, []
    return Chunk(q, [_update(q, u) for u in updates])


def _update(q: QueueRecord, u: Mapping[str, Any]) -> ChannelUpdate:
    return ChannelUpdate(moderation_channel(q["site"]), q["e"], u["offset"], u["kind"],
                         dict(u["payload"]), u.get("time"))


def _sort(posted_at: str, entry: str) -> str:
    return f"{max(0, micros(datetime.fromisoformat(posted_at))):020d}|{entry}"


def _version(q: QueueRecord, entry: str) -> int | None:
    """The version the record knows of ``entry`` (held, not held or gone)."""
    for row in q["items"]:
        if row[1] == entry:
            return int(row[2])
    for rows in (q["more"], q["gone"]):
        for e, v in rows:
            if e == entry:
                return int(v)
    return None


def _drop(q: QueueRecord, entry: str) -> bool:
    """Forget ``entry`` wherever it is; whether it was held."""
    q["more"] = [r for r in q["more"] if r[0] != entry]
    q["gone"] = [r for r in q["gone"] if r[0] != entry]
    before = len(q["items"])
    q["items"] = [r for r in q["items"] if r[1] != entry]
    return len(q["items"]) != before


def _emit(q: QueueRecord, kind: str, payload: dict[str, Any], time: Any) -> dict[str, Any]:
    q["o"] += 1
    return {"offset": q["o"], "kind": kind, "payload": payload, "time": time}


def _tombstone(q: QueueRecord, entry: str, version: int) -> None:
    q["gone"] = [*q["gone"], [entry, version]][-KEEP_TOMBSTONES:]


def _apply(q: QueueRecord, fact: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One fact: the updates it makes (dicts of offset, kind, payload, time)."""
    entry = f"{fact['article_id']}/{fact['comment_id']}"
    version = int(fact["version"])
    known = _version(q, entry)
    if known is not None and known >= version:
        return []  # sent again by a replayed fold batch
    time = fact.get("time")
    if "decided_ms" in fact:
        q["decided"] += 1
        q["dt"] = [*q["dt"], int(fact["decided_ms"])][-KEEP_DECISIONS:]
    held = _drop(q, entry)
    ids = {"comment_id": fact["comment_id"], "article_id": fact["article_id"]}
    if fact["op"] == "removed":
        _tombstone(q, entry, version)
        if not held:
            return []  # it was never shown (or not any more): nothing to take away
        return [_emit(q, "queue.removed", {**ids, "status": fact["status"]}, time)]
    item: dict[str, Any] = dict(fact["item"])
    out: list[dict[str, Any]] = []
    at = 0
    if item["status"] == "hidden":
        hidden = [r for r in q["items"] if r[3]["status"] == "hidden"]
        if len(hidden) >= MAX_HIDDEN:
            oldest = min(hidden, key=lambda r: (r[4], r[1]))
            _drop(q, oldest[1])
            _tombstone(q, oldest[1], int(oldest[2]))
            out.append(_emit(q, "queue.removed", {"comment_id": oldest[3]["comment_id"],
                                                  "article_id": oldest[3]["article_id"],
                                                  "status": "hidden"}, time))
        at = micros(datetime.fromisoformat(time)) if time else 0
    elif not held and sum(1 for r in q["items"] if r[3]["status"] != "hidden") >= MAX_OPEN:
        # Full: not held, only counted (the oldest of ``more`` are forgotten past its bound).
        q["more"] = [*q["more"], [entry, version]][-MAX_MORE:]
        return out
    row = [_sort(item["posted_at"], entry), entry, version, item, at]
    where = next((i for i, r in enumerate(q["items"]) if r[0] > row[0]), len(q["items"]))
    q["items"].insert(where, row)
    out.append(_emit(q, "queue.item", item, time))
    return out
