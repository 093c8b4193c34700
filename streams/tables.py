"""Faust tables holding the fold's records: JSON values under string keys; output partitions.

Keys and values travel as raw bytes (keys UTF-8, values orjson), so a recovered table and a
live one hold the same types. Faust recovers the tables from their changelogs, but the worker
writes them itself (:meth:`RecordTable.write`): each record into the table's store and, in the
same order, straight to the producer on the changelog partition of the input partition it
belongs to (state stays co-partitioned with its input). Faust's own path put every write
through its changelog buffer, a future and callbacks: about a tenth of the worker's CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiokafka.partitioner import murmur2

from commentfeed import codec
from streams.faust_compat import writing_to
from streams.shapes import Record


class RecordTable:
    """Typed access to one Faust table.

    Records read are kept decoded (up to ``cache`` keys, oldest dropped first) beside the bytes
    they came from, and served again while the table still holds those bytes: the hot records
    (an article, its best index, the batch marks) are read by every batch, and decoding them
    was 7% of the worker's samples. Callers never change a record they
    read in place (the fold copies what it changes; its property tests share stored records
    the same way), so one decoded object can be handed out many times.
    """

    def __init__(self, table: Any, producer: Any, *, cache: int = 0) -> None:
        self.table = table
        self.producer = producer
        self.cache = cache
        self._decoded: dict[bytes, tuple[bytes, Record]] = {}

    @property
    def name(self) -> str:
        return str(self.table.name)

    @property
    def changelog_topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())

    def get(self, key: str) -> Record | None:
        raw_key = key.encode()
        raw = self.table.data.get(raw_key)
        if raw is None:
            return None
        held = self._decoded.get(raw_key)
        if held is not None and held[0] == raw:
            return held[1]
        record: Record = codec.loads(raw)
        self._keep(raw_key, raw, record)
        return record

    def _keep(self, raw_key: bytes, raw: bytes, record: Record) -> None:
        if not self.cache:
            return
        decoded = self._decoded
        if raw_key not in decoded and len(decoded) >= self.cache:
            del decoded[next(iter(decoded))]
        decoded[raw_key] = (raw, record)

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """The keys this process holds that start with ``prefix`` (its standbys' too)."""
        raw = prefix.encode()
        return [k.decode() for k in list(self.table.keys()) if k.startswith(raw)]

    async def write(self, partition: int, writes: Mapping[str, Record | None]
                    ) -> asyncio.Future[Any] | None:
        """Write in order into the store and the changelog partition ``partition``; ``None``
        deletes. Returns the future of the last changelog record's acknowledgement (``None``
        when nothing was written). Awaiting it proves every record before it landed.

        A written record already held decoded is held in its new version (records written but
        never read are not: most are read at most once)."""
        decoded = self._decoded
        data = self.table.data
        topic = self.changelog_topic
        last: asyncio.Future[Any] | None = None
        # The rocksdb store files a key under the partition of the current event.
        with writing_to(topic, partition):
            for key, value in writes.items():
                raw_key = key.encode()
                raw: bytes | None
                if value is None:
                    decoded.pop(raw_key, None)
                    if data.get(raw_key) is None:
                        continue
                    del data[raw_key]
                    raw = None
                else:
                    raw = codec.dumps(value)
                    data[raw_key] = raw
                    if raw_key in decoded:
                        decoded[raw_key] = (raw, value)
                last = await self.producer.send(topic, raw_key, raw, partition, None, None)
        if last is not None:
            last.add_done_callback(self._persisted)
        return last

    def _persisted(self, acked: asyncio.Future[Any]) -> None:
        # What Faust does on each changelog acknowledgement: a local store (rocksdb) remembers
        # how far it holds the changelog, so a clean restart reads only what came after.
        if not acked.cancelled() and acked.exception() is None:
            meta = acked.result()
            self.table.data.set_persisted_offset(meta.topic_partition, meta.offset)


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
