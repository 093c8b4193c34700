"""Faust tables holding the fold's records: JSON values under string keys.

Keys and values travel as raw bytes (keys UTF-8, values orjson), so a recovered table and a
live one hold the same types. Writes must happen inside an agent: Faust sends each key's
changelog record to the partition of the event being processed, which keeps the state
co-partitioned with its input.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiokafka.partitioner import murmur2
from faust.streams import _current_event

from commentfeed import codec
from streams.logic import Record


class RecordTable:
    """Typed access to one Faust table."""

    def __init__(self, table: Any) -> None:
        self.table = table

    @property
    def name(self) -> str:
        return str(self.table.name)

    @property
    def changelog_topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())

    def get(self, key: str) -> Record | None:
        raw = self.table.get(key.encode())
        if raw is None:
            return None
        record: Record = codec.loads(raw)
        return record

    def apply(self, writes: dict[str, Record | None]) -> None:
        """Write in order; ``None`` deletes."""
        for key, value in writes.items():
            raw_key = key.encode()
            if value is None:
                if self.table.get(raw_key) is not None:
                    del self.table[raw_key]
            else:
                self.table[raw_key] = codec.dumps(value)


@contextmanager
def writing_for(event: Any) -> Iterator[None]:
    """Table writes inside this block go to the changelog partition of ``event``.

    A batch handed out by ``Stream.take_events`` is processed outside Faust's per-event
    context, and one batch may hold events of several partitions.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (how producers key records)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions
