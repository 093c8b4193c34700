"""Presence, the pure parts: what a gateway reports when, and how the streams sum the reports."""

from __future__ import annotations

from datetime import UTC, datetime

from commentfeed.channels import ChannelUpdate
from gateway.core import Core
from gateway.presence import PresenceReporter, Report
from gateway.snapshots import fold
from streams.presence import PresenceBoard

T0 = 1_800_000_000.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# -- the gateway's reporter ---------------------------------------------------------------------


def reporter(**overrides: float) -> PresenceReporter:
    options = {"interval_s": 2.0, "ttl_s": 30.0, "max_per_tick": 100} | overrides
    return PresenceReporter(interval_s=options["interval_s"], ttl_s=options["ttl_s"],
                            max_per_tick=int(options["max_per_tick"]))


def test_a_new_article_is_reported_at_once_and_changes_at_most_once_per_interval() -> None:
    r = reporter()
    assert r.tick({"a": 1}, 0.0) == [Report("a", 1)]
    assert r.tick({"a": 2}, 1.0) == []  # within the interval: held back
    assert r.tick({"a": 5}, 1.5) == []
    assert r.tick({"a": 4}, 2.0) == [Report("a", 4)]  # one report for the whole burst
    assert r.tick({"a": 4}, 3.0) == []  # unchanged: nothing until the heartbeat


def test_articles_with_viewers_are_repeated_every_third_of_the_ttl() -> None:
    r = reporter()
    r.tick({"a": 3}, 0.0)
    assert r.tick({"a": 3}, 9.9) == []
    assert r.tick({"a": 3}, 10.0) == [Report("a", 3)]
    assert r.tick({"a": 3}, 19.0) == []
    assert r.tick({"a": 3}, 20.0) == [Report("a", 3)]


def test_the_last_viewer_leaving_reports_zero_once_then_the_article_is_forgotten() -> None:
    r = reporter()
    r.tick({"a": 1, "b": 2}, 0.0)
    assert r.articles == 2
    assert r.tick({"b": 2}, 1.0) == []  # a left within the interval: 0 waits for it
    assert r.tick({"b": 2}, 2.0) == [Report("a", 0)]
    assert r.articles == 1
    assert r.tick({"b": 2}, 40.0) == [Report("b", 2)]  # a is never reported again
    assert r.tick({"a": 0, "b": 2}, 45.0) == []


def test_reports_per_tick_are_capped_changes_first_and_the_rest_follow() -> None:
    r = reporter(max_per_tick=3)
    first = r.tick({f"a{i}": 1 for i in range(7)}, 0.0)
    assert len(first) == 3
    second = r.tick({f"a{i}": 1 for i in range(7)}, 1.0)
    third = r.tick({f"a{i}": 1 for i in range(7)}, 2.0)
    assert len(second) == 3
    assert len(third) == 1
    assert {x.article_id for x in first + second + third} == {f"a{i}" for i in range(7)}
    # A heartbeat waits behind a change.
    r2 = reporter(max_per_tick=1)
    r2.tick({"old": 1}, 0.0)
    assert r2.tick({"old": 1, "new": 1}, 10.0) == [Report("new", 1)]
    assert r2.tick({"old": 1, "new": 1}, 11.0) == [Report("old", 1)]


def test_farewell_zeroes_every_reported_article() -> None:
    r = reporter()
    r.tick({"a": 1, "b": 4}, 0.0)
    assert sorted(r.farewell(), key=lambda x: x.article_id) == [Report("a", 0), Report("b", 0)]
    assert r.articles == 0


def test_the_core_counts_distinct_connections_per_article_channel() -> None:
    core: Core[str] = Core()
    for handle in ("c1", "c2", "c3"):
        core.connect(handle, 0.0)
    core.receive("c1", '{"op":"subscribe","channel":"article:x","id":1}', 0.0)
    core.receive("c1", '{"op":"subscribe","channel":"article:x","id":2}', 0.0)  # again: once
    core.receive("c2", '{"op":"subscribe","channel":"article:x","id":1}', 0.0)
    core.receive("c2", '{"op":"subscribe","channel":"presence:x","id":2}', 0.0)
    core.receive("c3", '{"op":"subscribe","channel":"count:y","id":1}', 0.0)
    assert core.article_viewers() == {"x": 2}
    core.disconnect("c1", 1.0)
    assert core.article_viewers() == {"x": 1}
    core.receive("c2", '{"op":"unsubscribe","channel":"article:x","id":3}', 1.0)
    assert core.article_viewers() == {}


def test_a_hot_presence_snapshot_takes_the_full_value_of_each_update() -> None:
    state = {"article_id": "x", "reading": 2}
    update = ChannelUpdate("presence:x", "e", 4, "presence", {"article_id": "x", "reading": 7})
    assert fold("presence", state, update, 50) == {"article_id": "x", "reading": 7}
    bad = ChannelUpdate("presence:x", "e", 5, "presence", {"article_id": "x"})
    assert fold("presence", state, bad, 50) is None


# -- the streams' board -------------------------------------------------------------------------


def board(**options: float) -> PresenceBoard:
    return PresenceBoard("ns", "run1", interval_s=options.get("interval_s", 2.0),
                         forget_s=options.get("forget_s", 300.0),
                         max_articles=int(options.get("max_articles", 100)))


def readings(updates: list[ChannelUpdate]) -> list[tuple[str, int, int]]:
    return [(u.channel, u.offset, u.payload["reading"]) for u in updates]


def test_reports_of_several_gateways_add_up_and_each_gateway_counts_once() -> None:
    b = board()
    b.report("g1", "x", 3, at(T0), 30, T0)
    b.report("g2", "x", 4, at(T0), 30, T0)
    b.report("g1", "x", 2, at(T0), 30, T0)  # g1's newer report replaces its older one
    (update,) = b.tick(T0)
    assert (update.kind, update.payload) == ("presence", {"article_id": "x", "reading": 6})
    assert update.channel == "presence:x"
    assert update.offset == 1
    b.report("g2", "x", 0, at(T0 + 3), 30, T0 + 3)  # g2's last viewer left
    assert readings(b.tick(T0 + 3)) == [("presence:x", 2, 2)]


def test_updates_come_at_most_once_per_interval_and_only_on_change() -> None:
    b = board()
    b.report("g1", "x", 1, at(T0), 30, T0)
    assert readings(b.tick(T0)) == [("presence:x", 1, 1)]
    b.report("g1", "x", 5, at(T0 + 0.5), 30, T0 + 0.5)
    assert b.tick(T0 + 0.5) == []
    assert b.tick(T0 + 1.5) == []
    assert readings(b.tick(T0 + 2.0)) == [("presence:x", 2, 5)]
    b.report("g1", "x", 5, at(T0 + 10), 30, T0 + 10)  # a heartbeat: same total, no update
    assert b.tick(T0 + 12) == []


def test_a_gateway_that_stops_reporting_expires_after_its_ttl_by_the_workers_clock() -> None:
    b = board()
    b.report("g1", "x", 3, at(T0), 30, T0)
    b.report("g2", "x", 1, at(T0), 30, T0)
    b.tick(T0)
    b.report("g2", "x", 1, at(T0 + 20), 30, T0 + 20)  # g2 heartbeats, g1 was killed
    assert b.tick(T0 + 29.9) == []
    assert readings(b.tick(T0 + 30)) == [("presence:x", 2, 1)]
    assert readings(b.tick(T0 + 50)) == [("presence:x", 3, 0)]


def test_a_report_already_expired_when_read_is_ignored() -> None:
    b = board()
    b.report("g1", "x", 3, at(T0 - 31), 30, T0)  # replayed after a restart
    assert b.tick(T0) == []
    assert b.stale == 1
    assert b.snapshot("x", T0).reading == 0


def test_a_snapshot_holds_the_position_the_next_update_continues() -> None:
    b = board()
    first = b.snapshot("x", T0)
    assert (first.offset, first.reading) == (0, 0)
    b.report("g1", "x", 2, at(T0), 30, T0)
    (update,) = b.tick(T0)
    assert (update.epoch, update.offset) == (first.epoch, 1)
    again = b.snapshot("x", T0 + 1)
    assert (again.epoch, again.offset, again.reading) == (first.epoch, 1, 2)


def test_a_new_run_or_a_forgotten_article_starts_a_new_epoch() -> None:
    b = board(forget_s=60)
    epoch = b.snapshot("x", T0).epoch
    assert PresenceBoard("ns", "run2").snapshot("x", T0).epoch != epoch
    assert PresenceBoard("ns", "run1").snapshot("x", T0).epoch == epoch  # derived, not random
    b.report("g1", "x", 1, at(T0), 30, T0)
    b.tick(T0)
    b.report("g1", "x", 0, at(T0 + 5), 30, T0 + 5)
    assert readings(b.tick(T0 + 5)) == [("presence:x", 2, 0)]
    assert b.tick(T0 + 64) == []
    assert len(b) == 1
    assert b.tick(T0 + 65) == []
    assert len(b) == 0
    b.report("g1", "x", 1, at(T0 + 70), 30, T0 + 70)
    (update,) = b.tick(T0 + 70)
    assert update.epoch != epoch
    assert update.offset == 1


def test_the_board_is_bounded_and_articles_of_partitions_gone_elsewhere_are_dropped() -> None:
    b = board(max_articles=2)
    for article_id in ("a", "b", "c"):
        b.report("g1", article_id, 1, at(T0), 30, T0)
    assert len(b) == 2
    assert b.snapshot("c", T0).reading == 0
    assert len(b) == 2
    assert sorted(u.channel for u in b.tick(T0)) == ["presence:a", "presence:b"]
    assert b.tick(T0 + 5, keep=lambda article_id: article_id == "a") == []
    assert len(b) == 1
    assert b.snapshot("a", T0 + 5).reading == 1
