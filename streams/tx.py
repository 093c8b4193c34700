"""The replay-safe transaction of one fetched batch: read each key once, write it once.

Exactly right after a crash (DESIGN.md): the worker writes each key's changelog record on its own
and commits input offsets later, so after ``kill -9`` a batch may be partly written and its
events are then processed again, possibly cut into batches differently. What makes the replay
exact:

- the worker's producer appends records in order and the broker keeps a prefix of them (one
  request in flight, no linger), and a batch sends its output records first, then its state
  records, then per partition a mark (``b/<partition>``, :class:`~streams.shapes.BatchMark`)
  holding the highest input offset per topic folded so far. A landed mark therefore proves
  that every record and output of its batch landed, and at most one batch after it (per
  partition) can be partly written;
- an event at or below its partition's mark is skipped: it was fully applied and emitted;
- every state record keeps ``_last``, the position of the last event that changed it,
  ``_undo``, the fields it had before its batch (``None``: the batch created it), and
  ``_added``, the fields its batch added (absent before it, so a rewind drops them rather than
  reading them as ``None``). A record
  whose ``_last`` lies past the mark was written by a batch whose mark did not land, so it is
  read as it was before that batch. A replayed batch that reaches a record's ``_last`` folds
  that very event again and so rewrites the record; one that stops short leaves it to be read
  as before until a later batch does;
- the fold is deterministic and channel offsets live in the records, so a replay re-emits the
  updates it emitted before with the same offsets; consumers drop offsets they already have.

Events of one batch are applied one after the other on an in-memory overlay; an event that
fails leaves the overlay as it was (:class:`EventTx`).

Deletes (a parked comment once folded or dead-lettered) come after the batch mark: a record
deleted by a batch whose mark did not land is still there for the replay, and a delete lost
in a crash after the mark leaves a record nothing points at any more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from streams.shapes import BatchMark, Position, Reader, Record, fields, mark_key


class BatchTx:
    """The state as one batch sees it, and the writes that batch makes."""

    def __init__(self, read: Reader) -> None:
        self._read = read
        self._marks: dict[int, dict[str, int]] = {}
        #: Key -> its value before this batch (rewound), read once.
        self._pre: dict[str, Record | None] = {}
        #: Key -> its value after the events applied so far (changed keys only).
        self._cur: dict[str, Record] = {}
        self._last: dict[str, list[Any]] = {}
        self._partition: dict[str, int] = {}
        #: Per partition, the highest offset per topic this batch folded.
        self._hi: dict[int, dict[str, int]] = {}
        #: Keys to delete after the marks, with their partition.
        self._gone: dict[str, int] = {}

    def mark(self, partition: int) -> dict[str, int]:
        """How far the batches fully written for ``partition`` reached (stored, read once)."""
        hi = self._marks.get(partition)
        if hi is None:
            stored = cast(BatchMark | None, self._read(mark_key(partition)))
            hi = self._marks[partition] = dict(stored["hi"]) if stored is not None else {}
        return hi

    def landed(self, pos: Position) -> bool:
        """The event at ``pos`` was fully applied and emitted by an earlier batch."""
        return pos.offset <= self.mark(pos.partition).get(pos.topic, -1)

    def folded(self, pos: Position) -> None:
        """Count ``pos`` in this batch's mark (also events that wrote nothing)."""
        hi = self._hi.setdefault(pos.partition, {})
        hi[pos.topic] = max(pos.offset, hi.get(pos.topic, -1))

    def get(self, key: str, partition: int) -> Record | None:
        if key in self._gone:
            return None
        if key in self._cur:
            return self._cur[key]
        if key not in self._pre:
            self._pre[key] = self._rewind(self._read(key), partition)
        return self._pre[key]

    def _rewind(self, stored: Record | None, partition: int) -> Record | None:
        if stored is None:
            return None
        last = stored.get("_last")
        if last is None or last[1] <= self.mark(partition).get(last[0], -1):
            return fields(stored)
        # Written by a batch whose mark did not land: read it as before that batch.
        undo = stored.get("_undo")
        if undo is None:
            return None
        pre = fields(stored)
        assert pre is not None
        pre.update(undo)
        for key in stored.get("_added") or ():
            pre.pop(key, None)
        return pre

    def commit(self, pos: Position, news: Mapping[str, Record | None]) -> None:
        for key, value in news.items():
            if value is None:
                self._cur.pop(key, None)
                self._gone[key] = pos.partition
                continue
            self._gone.pop(key, None)
            if key not in self._pre:  # written without being read (a new parked comment)
                self._pre[key] = self._rewind(self._read(key), pos.partition)
            self._cur[key] = value
            self._last[key] = pos.marker()
            self._partition[key] = pos.partition

    def writes(self) -> dict[int, dict[str, Record | None]]:
        """Per partition, the records to write in order: changed keys, the mark, then deletes
        (``None``)."""
        out: dict[int, dict[str, Record | None]] = {}
        for key, value in self._cur.items():
            pre = self._pre[key]
            record = dict(value)
            record["_last"] = self._last[key]
            changed = set() if pre is None else {
                k for k in pre.keys() | value.keys()
                if (k in pre) != (k in value) or pre.get(k) != value.get(k)}
            record["_undo"] = None if pre is None else {k: pre[k] for k in changed if k in pre}
            if pre is not None and (added := sorted(k for k in changed if k not in pre)):
                record["_added"] = added
            out.setdefault(self._partition[key], {})[key] = record
        for partition in self._gone.values():
            out.setdefault(partition, {})
        for partition, batch in out.items():
            mark: BatchMark = {"hi": {**self.mark(partition), **self._hi.get(partition, {})}}
            batch[mark_key(partition)] = cast(Record, mark)
        for key, partition in self._gone.items():
            out.setdefault(partition, {})[key] = None
        return out


class EventTx:
    """One event's reads and writes on top of its batch; applied only by :meth:`commit`."""

    def __init__(self, batch: BatchTx, pos: Position) -> None:
        self._batch = batch
        self.pos = pos
        self._new: dict[str, Record | None] = {}

    def get(self, key: str) -> Record | None:
        if key in self._new:
            return self._new[key]
        return self._batch.get(key, self.pos.partition)

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        self._new[key] = dict(value)

    def delete(self, key: str) -> None:
        self._new[key] = None

    def commit(self) -> None:
        self._batch.commit(self.pos, self._new)
