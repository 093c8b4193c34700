"""Faust tables holding the fold's records: JSON values under string keys; output partitions.

Keys and values travel as raw bytes (keys UTF-8, values orjson), so a recovered table and a
live one hold the same types. Writes must happen inside an agent (or
:func:`streams.faust_compat.writing_for`): Faust sends each key's changelog record to the
partition of the event being processed, which keeps the state co-partitioned with its input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.partitioner import murmur2

from commentfeed import codec
from streams.shapes import Record


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

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """The keys this process holds that start with ``prefix`` (its standbys' too)."""
        raw = prefix.encode()
        return [k.decode() for k in list(self.table.keys()) if k.startswith(raw)]

    def apply(self, writes: Mapping[str, Record | None]) -> None:
        """Write in order; ``None`` deletes."""
        for key, value in writes.items():
            raw_key = key.encode()
            if value is None:
                if self.table.get(raw_key) is not None:
                    del self.table[raw_key]
            else:
                self.table[raw_key] = codec.dumps(value)


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (how producers key records)."""
    raw = key.encode() if isinstance(key, str) else key
    return int(murmur2(raw) & 0x7FFFFFFF) % partitions


class PartitionCache:
    """Output partitions per key, computed once: the pure-Python ``murmur2`` and the metadata
    lookup aiokafka would otherwise do for every record were a few % of the worker's CPU.

    ``counts`` are the partition counts the stack creates its topics with; a topic not in it
    (``None``) is left to the producer.
    """

    LIMIT = 100_000

    def __init__(self, counts: Mapping[str, int]) -> None:
        self._counts = dict(counts)
        self._cache: dict[tuple[str, bytes], int] = {}

    def partition(self, topic: str, key: bytes | None) -> int | None:
        count = self._counts.get(topic)
        if key is None or count is None:
            return None
        found = self._cache.get((topic, key))
        if found is None:
            if len(self._cache) >= self.LIMIT:
                self._cache.clear()  # channels come and go; a bound, not an LRU
            found = self._cache[(topic, key)] = partition_for(key, count)
        return found
