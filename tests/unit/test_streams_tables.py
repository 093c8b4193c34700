"""streams.tables.RecordTable: records kept decoded only while the store holds their bytes, and
writes that reach the store and the changelog in order."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from commentfeed import codec
from streams.tables import RecordTable


class Store(dict[bytes, bytes]):
    """A Faust table and its store, as far as RecordTable uses them."""

    name = "state"
    changelog_topic = SimpleNamespace(get_topic_name=lambda: "app-state-changelog")

    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict[Any, int] = {}

    @property
    def data(self) -> Store:
        return self

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted[tp] = offset


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, int | None]] = []
        self.pending: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   partition: int | None, timestamp: float | None,
                   headers: Any) -> asyncio.Future[Any]:
        self.sent.append((topic, key, value, partition))
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append(acked)
        return acked


async def test_a_record_is_decoded_once_while_its_bytes_stay() -> None:
    store = Store()
    table = RecordTable(store, Producer(), cache=10)
    store[b"a/1"] = codec.dumps({"count": 1})
    first = table.get("a/1")
    assert first == {"count": 1}
    assert table.get("a/1") is first
    # Recovery (or another writer) replaced the bytes: the new record is read.
    store[b"a/1"] = codec.dumps({"count": 2})
    assert table.get("a/1") == {"count": 2}
    assert table.get("missing") is None


async def test_without_a_cache_every_read_decodes() -> None:
    store = Store()
    table = RecordTable(store, Producer())
    store[b"a/1"] = codec.dumps({"count": 1})
    assert table.get("a/1") == table.get("a/1")
    assert table.get("a/1") is not table.get("a/1")


async def test_the_cache_holds_at_most_its_bound() -> None:
    store = Store()
    table = RecordTable(store, Producer(), cache=2)
    for n in range(5):
        store[f"c/{n}".encode()] = codec.dumps({"n": n})
        assert table.get(f"c/{n}") == {"n": n}
    assert len(table._decoded) == 2
    assert set(table._decoded) == {b"c/3", b"c/4"}


async def test_writes_reach_store_and_changelog_in_order_and_refresh_held_records() -> None:
    store = Store()
    producer = Producer()
    table = RecordTable(store, producer, cache=10)
    store[b"a/1"] = codec.dumps({"count": 1})
    table.get("a/1")  # held decoded
    last = await table.write(3, {"a/1": {"count": 2}, "c/9": {"body": "hi"}, "gone": None,
                                 "b/3": {"hi": {"comments": 7}}})
    assert [(t, k, p) for t, k, _, p in producer.sent] == [
        ("app-state-changelog", b"a/1", 3), ("app-state-changelog", b"c/9", 3),
        ("app-state-changelog", b"b/3", 3)]  # deleting an absent key sends nothing
    assert codec.loads(store[b"c/9"]) == {"body": "hi"}
    assert table.get("a/1") == {"count": 2}
    assert last is producer.pending[-1]
    # The acknowledgement of the last record is what a local store remembers.
    last.set_result(SimpleNamespace(topic_partition=("app-state-changelog", 3), offset=41))
    await asyncio.sleep(0)
    assert store.persisted == {("app-state-changelog", 3): 41}


async def test_a_delete_sends_a_tombstone_and_forgets_the_decoded_record() -> None:
    store = Store()
    producer = Producer()
    table = RecordTable(store, producer, cache=10)
    store[b"p/1"] = codec.dumps({"parked": True})
    table.get("p/1")
    await table.write(0, {"p/1": None})
    assert producer.sent == [("app-state-changelog", b"p/1", None, 0)]
    assert b"p/1" not in store
    assert table.get("p/1") is None
    assert await table.write(0, {}) is None
