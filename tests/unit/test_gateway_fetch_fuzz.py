"""Fuzzing the core's upstream bookkeeping: whatever clients do, the fetch counts stay exact.

Clients subscribe, unsubscribe, page history and disconnect in any order while fetches succeed
or fail in any order. After every step the requests counted in flight are exactly those the
shell was asked to make and has not finished, within the bounds; once upstream answers
everything, nothing is left waiting and every subscription is served.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core import Action, Config, Core, FetchHistory, FetchSnapshot, Limits
from gateway.frames import Snapshot

CONNS = ("a", "b", "c")
CHANNELS = ("count:1", "count:2", "article:1")
PER_CONN, GLOBAL = 1, 2

subscribes = st.tuples(st.just("subscribe"), st.sampled_from(CONNS), st.sampled_from(CHANNELS))
steps = st.one_of(
    subscribes, subscribes, subscribes,
    st.tuples(st.just("unsubscribe"), st.sampled_from(CONNS), st.sampled_from(CHANNELS)),
    st.tuples(st.just("history"), st.sampled_from(CONNS), st.just("article:1")),
    st.tuples(st.just("reconnect"), st.sampled_from(CONNS), st.none()),
    st.tuples(st.just("finish"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("sweep"), st.none(), st.none()),
)


class World:
    def __init__(self) -> None:
        self.gw: Core[str] = Core(Config(
            limits=Limits(ops_per_s=None, max_errors=None,
                          upstream_in_flight_per_connection=PER_CONN, history_pending=2),
            upstream_in_flight=GLOBAL, channel_idle_s=5.0))
        self.now = 0.0
        self.running: list[FetchSnapshot | FetchHistory[str]] = []
        for conn in CONNS:
            self.gw.connect(conn, 0.0)

    def take(self, actions: list[Action[str]]) -> None:
        self.running += [a for a in actions if isinstance(a, FetchSnapshot | FetchHistory)]

    def send(self, conn: str, doc: dict[str, Any]) -> None:
        self.take(self.gw.receive(conn, orjson.dumps(doc).decode(), self.now))

    def finish(self, index: int, ok: bool) -> None:
        fetch = self.running.pop(index % len(self.running))
        if isinstance(fetch, FetchHistory):
            self.take(self.gw.history_fetched(fetch, [], None) if ok
                      else self.gw.history_failed(fetch, self.now))
        elif ok:
            state: dict[str, Any] = ({"article_id": "1", "count": 0}
                                     if fetch.channel.startswith("count:") else
                                     {"article": None, "count": 0, "comments": [],
                                      "cursor": None})
            self.take(self.gw.snapshot_fetched(fetch.channel, Snapshot("e1", 0, state),
                                               self.now))
        else:
            self.take(self.gw.snapshot_failed(fetch.channel, self.now))

    def check(self) -> None:
        fetches = self.gw.fetches
        assert fetches.in_flight == len(self.running)
        assert fetches.in_flight <= GLOBAL
        for conn in CONNS:
            assert fetches.owner_in_flight(conn) <= PER_CONN
        snapshots = [f.channel for f in self.running if isinstance(f, FetchSnapshot)]
        assert len(snapshots) == len(set(snapshots))  # coalesced: one per channel


@settings(max_examples=1000, deadline=None, database=None)
@given(st.lists(steps, min_size=4, max_size=60))
def test_fetch_counts_stay_exact_and_every_subscription_is_served_in_the_end(
        script: list[tuple[str, Any, Any]]) -> None:
    world, gw = World(), None
    gw = world.gw
    for op, who, what in script:
        world.now += 0.5
        if op in ("subscribe", "unsubscribe"):
            world.send(who, {"op": op, "channel": what})
        elif op == "history":
            world.send(who, {"op": "history", "channel": what})
        elif op == "reconnect":
            gw.disconnect(who, world.now)
            gw.connect(who, world.now)
        elif op == "finish" and world.running:
            world.finish(who, what)
        elif op == "sweep":
            world.take(gw.sweep(world.now))
        world.check()
    while world.running:  # upstream answers everything from here on
        world.finish(0, True)
        world.check()
    assert gw.fetches.queued() == 0
    for conn in CONNS:
        for name in gw.connections[conn].subs:
            channel = gw.channels[name]
            assert conn in channel.subscribers
            assert not channel.waiters
    world.take(gw.sweep(world.now + 100.0))
    assert gw.fetches.in_flight == 0
