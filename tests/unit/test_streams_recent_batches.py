"""Recent-list facts folded in batches: same list as one by one, exact across crashes.

A batch writes its site record (the list with its items), then queues its one ``recent``
update. A crash keeps a prefix of that sequence; the replay starts at a committed offset and
may cut the fact records into different batches.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from commentfeed.channels import ChannelUpdate
from commentfeed.events import InputEvent
from streams import queries
from streams.recent import fold_facts
from streams.shapes import FACTS, Position, Record, site_key
from tests.unit.test_streams_logic import (
    NS,
    SITE,
    build,
    edited,
    facts_of,
    moderated,
    op,
    posted,
    published,
    run,
)

Fact = dict[str, Any]


def cut(facts: list[Fact], sizes: list[int], start: int = 0) -> list[list[tuple[Fact, int]]]:
    """Consecutive batches of ``(fact, offset)`` from ``start``, sizes cycling through ``sizes``."""
    out: list[list[tuple[Fact, int]]] = []
    at, i = start, 0
    while at < len(facts):
        size = max(1, sizes[i % len(sizes)])
        out.append([(facts[o], o) for o in range(at, min(len(facts), at + size))])
        at += size
        i += 1
    return out


class Site:
    def __init__(self) -> None:
        self.store: dict[str, Record] = {}
        #: Per batch: its writes in order, its updates, its last offset.
        self.batches: list[tuple[list[tuple[str, Record | None]], list[ChannelUpdate], int]] = []

    def feed(self, batch: list[tuple[Fact, int]]) -> None:
        # Each fact record here holds one fact; the agent packs a batch's facts per site.
        out = fold_facts([([f], Position(FACTS, o)) for f, o in batch], self.store.get,
                         namespace=NS)
        writes: list[tuple[str, Record | None]] = []
        if out.write is not None:
            writes.append((site_key(out.write["site"]), dict(out.write)))
            self.store.update(writes)  # type: ignore[arg-type]
        self.batches.append((writes, list(out.emits), batch[-1][1]))

    def served(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = queries.recent_snapshot(
            SITE, self.store.get, namespace=NS)[2]["items"]
        return items


def many_posts(n: int) -> list[InputEvent]:
    events: list[InputEvent] = [published("a1"), published("a2")]
    events += [posted("a1" if i % 2 else "a2", f"m{i:02d}", minute=i, body=f"post {i}")
               for i in range(n)]
    if n > 3:
        events += [moderated("a1", "m01", "hidden", "h1"), edited("a2", "m02", "new", 99, "e1"),
                   moderated("a1", "m01", "visible", "h2")]
    return events


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=30), st.integers(0, 70), st.data())
def test_batched_facts_match_one_by_one_and_survive_crashes(
    ops: list[tuple[Any, ...]], posts: int, data: st.DataObject,
) -> None:
    facts = facts_of(run(many_posts(posts) + build(ops)[2:]))
    one_by_one = Site()
    for batch in cut(facts, [1]):
        one_by_one.feed(batch)

    sizes = data.draw(st.lists(st.integers(1, 12), min_size=1, max_size=4))
    crashed = Site()
    crash_at = data.draw(st.integers(0, len(facts)))
    for batch in cut(facts[:crash_at], sizes):
        crashed.feed(batch)
    assert crash_at < len(facts) or crashed.served() == one_by_one.served()

    # The producer appends each batch's writes, then its update, in that order: a crash keeps
    # a prefix of that sequence.
    log: list[tuple[int, tuple[str, Record | None] | ChannelUpdate]] = []
    for n, (ws, updates, _) in enumerate(crashed.batches):
        log += [(n, w) for w in ws]
        log += [(n, u) for u in updates]
    kept = data.draw(st.integers(0, len(log)))
    survivor = Site()
    landed: list[ChannelUpdate] = []
    for _, item in log[:kept]:
        if isinstance(item, ChannelUpdate):
            landed.append(item)
        elif item[1] is None:
            survivor.store.pop(item[0], None)
        else:
            survivor.store[item[0]] = item[1]
    complete = [n for n, (ws, updates, _) in enumerate(crashed.batches)
                if sum(1 for m, _ in log[:kept] if m == n) == len(ws) + len(updates)]
    # Faust flushes the producer before committing: the commit covers only batches whose
    # writes and update all landed.
    done = 0
    while done in complete:
        done += 1
    committed = crashed.batches[done - 1][2] + 1 if done else 0
    commit = data.draw(st.integers(0, committed))
    replay_sizes = data.draw(st.lists(st.integers(1, 12), min_size=1, max_size=4))
    for batch in cut(facts, replay_sizes, commit):
        survivor.feed(batch)

    assert survivor.served() == one_by_one.served()
    seen: dict[int, ChannelUpdate] = {}
    replayed = [u for _, updates, _ in survivor.batches for u in updates]
    for update in [*landed, *replayed]:
        first = seen.setdefault(update.offset, update)
        assert first == update, "a replay re-used an offset for a different update"
    if seen:
        newest = seen[max(seen)]
        assert newest.payload["items"] == survivor.served()
        # No gaps: every offset up to the newest was emitted (before or after the crash).
        assert sorted(seen) == list(range(1, max(seen) + 1))
