"""The sans-I/O gateway core, driven with plain calls: subscriptions, positions, resume, limits."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from commentfeed.channels import ChannelUpdate
from gateway.core import (
    Action,
    Broadcast,
    Close,
    Config,
    Core,
    FetchHistory,
    FetchSnapshot,
    Limits,
    Send,
)
from gateway.frames import Snapshot
from gateway.protocol import CloseCode

A = "article:42"
C = "count:42"


def core(**overrides: Any) -> Core[str]:
    gw: Core[str] = Core(Config(**overrides))
    for handle in ("alice", "bob", "carol"):
        gw.connect(handle, 0.0)
    return gw


def send(gw: Core[str], handle: str, doc: Any, now: float = 0.0) -> list[Action[str]]:
    return gw.receive(handle, orjson.dumps(doc).decode(), now)


def frames_to(actions: list[Action[str]], handle: str) -> list[dict[str, Any]]:
    """Every frame the actions deliver to ``handle``, decoded, in order."""
    out = []
    for a in actions:
        if (isinstance(a, Send) and a.handle == handle) or (
                isinstance(a, Broadcast) and handle in a.handles):
            out.append(orjson.loads(a.frame))
    return out


def only(actions: list[Action[str]], handle: str) -> dict[str, Any]:
    frames = frames_to(actions, handle)
    assert len(frames) == 1, frames
    return frames[0]


def count_update(offset: int, count: int | None = None, epoch: str = "e1",
                 channel: str = C) -> ChannelUpdate:
    return ChannelUpdate(channel, epoch, offset, "count",
                  {"article_id": "42", "count": offset if count is None else count},
                  "2026-01-01T00:00:00Z")


def count_snapshot(offset: int, epoch: str = "e1") -> Snapshot:
    return Snapshot(epoch, offset, {"article_id": "42", "count": offset})


def hot(gw: Core[str], offset: int = 10, channel: str = C, *handles: str) -> None:
    """Make ``channel`` hot at ``offset`` with ``handles`` (default alice) subscribed."""
    for h in handles or ("alice",):
        send(gw, h, {"op": "subscribe", "channel": channel})
    gw.snapshot_fetched(channel, count_snapshot(offset), 0.0)


# -- subscribe and snapshots -------------------------------------------------------------------


def test_a_cold_channel_is_fetched_once_for_every_client_waiting() -> None:
    gw = core()
    first = send(gw, "alice", {"op": "subscribe", "channel": C, "id": 1})
    second = send(gw, "bob", {"op": "subscribe", "channel": C, "id": 2})
    assert first == [FetchSnapshot(C, C)]
    assert second == []
    replies = gw.snapshot_fetched(C, count_snapshot(20), 0.1)
    assert only(replies, "alice") == {
        "op": "subscribed", "id": 1, "channel": C, "epoch": "e1", "offset": 20,
        "recovered": False, "snapshot": {"article_id": "42", "count": 20}}
    assert only(replies, "bob")["id"] == 2


def test_updates_held_during_the_fetch_resume_right_after_the_snapshot() -> None:
    gw = core()
    send(gw, "alice", {"op": "subscribe", "channel": C})
    for offset in (19, 20, 21, 22):
        assert gw.receive_update(count_update(offset), 0.0) == []
    frames = frames_to(gw.snapshot_fetched(C, count_snapshot(20), 0.1), "alice")
    assert [(f["op"], f["offset"]) for f in frames] == [
        ("subscribed", 20), ("update", 21), ("update", 22)]


def test_the_next_update_is_one_frame_broadcast_to_the_live_subscriber_set() -> None:
    gw = core()
    hot(gw, 10, C, "alice", "bob")
    [action] = gw.receive_update(count_update(11), 1.0)
    assert isinstance(action, Broadcast)
    assert action.handles is gw.channels[C].subscribers
    assert set(action.handles) == {"alice", "bob"}
    assert action.source_time == "2026-01-01T00:00:00Z"
    assert orjson.loads(action.frame) == {"op": "update", "channel": C, "epoch": "e1",
                                          "offset": 11, "type": "count",
                                          "data": {"article_id": "42", "count": 11}}


def test_a_hot_channel_serves_new_subscribers_from_its_own_state() -> None:
    gw = core()
    hot(gw, 10)
    gw.receive_update(count_update(11, count=99), 1.0)
    reply = send(gw, "bob", {"op": "subscribe", "channel": C, "id": 5})
    frame = only(reply, "bob")
    assert (frame["offset"], frame["snapshot"]) == (11, {"article_id": "42", "count": 99})
    assert not any(isinstance(a, FetchSnapshot) for a in reply)


def test_replays_are_dropped_and_a_gap_resyncs_with_an_unsolicited_snapshot() -> None:
    gw = core()
    hot(gw, 10)
    assert gw.receive_update(count_update(10), 1.0) == []  # replay
    assert gw.receive_update(count_update(13), 1.0) == [FetchSnapshot(C, C)]  # 11, 12 missing
    assert gw.receive_update(count_update(14), 1.0) == []  # held
    frames = frames_to(gw.snapshot_fetched(C, count_snapshot(13), 2.0), "alice")
    assert frames[0] == {"op": "subscribed", "channel": C, "epoch": "e1", "offset": 13,
                         "recovered": False, "snapshot": {"article_id": "42", "count": 13}}
    assert [f["offset"] for f in frames[1:]] == [14]


def test_a_new_epoch_resyncs_the_channel() -> None:
    gw = core()
    hot(gw, 10)
    assert gw.receive_update(count_update(1, epoch="e2"), 1.0) == [FetchSnapshot(C, C)]
    frames = frames_to(gw.snapshot_fetched(C, count_snapshot(1, epoch="e2"), 2.0), "alice")
    assert [(f["op"], f["epoch"], f["offset"]) for f in frames] == [("subscribed", "e2", 1)]
    [b] = gw.receive_update(count_update(2, epoch="e2"), 3.0)
    assert isinstance(b, Broadcast)


def test_updates_of_untracked_channels_are_ignored() -> None:
    gw = core()
    assert not gw.tracks("count:other")
    assert gw.receive_update(count_update(1, channel="count:other"), 0.0) == []


# -- resume ------------------------------------------------------------------------------------


def resume(gw: Core[str], handle: str, epoch: str, offset: int,
           now: float = 5.0) -> dict[str, Any]:
    return only(send(gw, handle, {"op": "subscribe", "channel": C, "id": 7,
                                  "since": {"epoch": epoch, "offset": offset}}, now), handle)


def test_a_resume_replays_exactly_the_missed_updates() -> None:
    gw = core()
    hot(gw, 10)
    for offset in range(11, 41):
        gw.receive_update(count_update(offset), 1.0)
    frame = resume(gw, "bob", "e1", 20)
    assert frame["recovered"] is True
    assert (frame["id"], frame["epoch"], frame["offset"]) == (7, "e1", 40)
    assert [u["offset"] for u in frame["missed"]] == list(range(21, 41))
    assert all(u["op"] == "update" and u["channel"] == C for u in frame["missed"])
    assert resume(gw, "carol", "e1", 40)["missed"] == []


@pytest.mark.parametrize(("epoch", "offset", "why"), [
    ("e1", 5, "older than the history holds"),
    ("e0", 38, "another epoch"),
    ("e1", 41, "ahead of the channel"),
])
def test_an_impossible_resume_gets_a_fresh_snapshot(epoch: str, offset: int, why: str) -> None:
    gw = core(history_size=25)
    hot(gw, 10)
    for n in range(11, 41):
        gw.receive_update(count_update(n), 1.0)
    frame = resume(gw, "bob", epoch, offset)
    assert frame["recovered"] is False, why
    assert (frame["offset"], frame["snapshot"]["count"]) == (40, 40)
    assert "missed" not in frame


def test_history_older_than_its_ttl_is_not_replayed() -> None:
    gw = core(history_ttl_s=60.0)
    hot(gw, 10)
    gw.receive_update(count_update(11), 1.0)
    gw.receive_update(count_update(12), 100.0)
    assert resume(gw, "bob", "e1", 11, now=100.0)["missed"][0]["offset"] == 12
    assert resume(gw, "carol", "e1", 10, now=100.0)["recovered"] is False


def test_a_cold_channel_resumes_when_the_client_is_already_current() -> None:
    gw = core()
    send(gw, "alice", {"op": "subscribe", "channel": C, "since": {"epoch": "e1", "offset": 20}})
    send(gw, "bob", {"op": "subscribe", "channel": C, "since": {"epoch": "e1", "offset": 19}})
    replies = gw.snapshot_fetched(C, count_snapshot(20), 0.0)
    assert only(replies, "alice")["recovered"] is True
    assert only(replies, "bob")["recovered"] is False


# -- article snapshots the gateway cannot keep -------------------------------------------------


def comment(cid: str, minute: int) -> dict[str, Any]:
    return {"comment_id": cid, "article_id": "42", "parent_id": None,
            "author": {"id": "u", "name": "U"}, "body": cid,
            "posted_at": f"2026-03-14T09:{minute:02d}:00Z", "edited_at": None, "score": 0,
            "depth": 0}


def article_state(n: int) -> dict[str, Any]:
    return {"article": None, "count": n, "comments": [comment(f"c{i}", i) for i in range(n)],
            "cursor": "older"}


def added(offset: int, minute: int) -> ChannelUpdate:
    return ChannelUpdate(A, "e1", offset, "comment.added", comment(f"c{minute}", minute))


def stale_article(gw: Core[str]) -> None:
    send(gw, "alice", {"op": "subscribe", "channel": A})
    gw.snapshot_fetched(A, Snapshot("e1", 3, article_state(3)), 0.0)
    gw.receive_update(added(4, 3), 1.0)  # a fourth comment: over the limit of 3


def test_an_outgrown_article_snapshot_is_fetched_again_and_adopted() -> None:
    gw = core(snapshot_comments=3)
    stale_article(gw)
    assert send(gw, "bob", {"op": "subscribe", "channel": A}) == [FetchSnapshot(A, A)]
    frame = only(gw.snapshot_fetched(A, Snapshot("e1", 4, article_state(3)), 2.0), "bob")
    assert (frame["offset"], len(frame["snapshot"]["comments"])) == (4, 3)
    assert only(send(gw, "carol", {"op": "subscribe", "channel": A}), "carol")["offset"] == 4


def test_a_snapshot_ahead_of_the_live_position_waits_for_it() -> None:
    gw = core(snapshot_comments=3)
    stale_article(gw)
    send(gw, "bob", {"op": "subscribe", "channel": A})
    assert gw.snapshot_fetched(A, Snapshot("e1", 5, article_state(3)), 2.0) == []
    actions = gw.receive_update(added(5, 4), 3.0)
    assert [f["offset"] for f in frames_to(actions, "alice")] == [5]
    bob = frames_to(actions, "bob")
    assert [(f["op"], f["offset"]) for f in bob] == [("subscribed", 5)]
    assert [f["offset"] for f in frames_to(gw.receive_update(added(6, 5), 3.0), "bob")] == [6]


def test_a_snapshot_behind_the_live_position_is_rolled_forward_from_history() -> None:
    gw = core(snapshot_comments=3)
    stale_article(gw)
    gw.receive_update(ChannelUpdate(A, "e1", 5, "count", {"article_id": "42", "count": 7}), 1.0)
    send(gw, "bob", {"op": "subscribe", "channel": A})
    older = article_state(2)  # at offset 3; 4 adds a comment, 5 sets the count
    frame = only(gw.snapshot_fetched(A, Snapshot("e1", 3, older), 2.0), "bob")
    assert frame["offset"] == 5
    assert [c["comment_id"] for c in frame["snapshot"]["comments"]] == ["c0", "c1", "c3"]
    assert frame["snapshot"]["count"] == 7


# -- other ops ---------------------------------------------------------------------------------


def test_unsubscribe_stops_updates_and_is_idempotent() -> None:
    gw = core()
    hot(gw, 10, C, "alice", "bob")
    assert gw.subscription_count == 2
    reply = send(gw, "bob", {"op": "unsubscribe", "channel": C, "id": 3})
    assert only(reply, "bob") == {"op": "unsubscribed", "channel": C, "id": 3}
    assert only(send(gw, "bob", {"op": "unsubscribe", "channel": C}), "bob")["op"] == (
        "unsubscribed")
    assert gw.subscription_count == 1
    assert frames_to(gw.receive_update(count_update(11), 1.0), "bob") == []


def test_bare_recent_follows_the_default_site_under_its_own_name() -> None:
    gw = core(default_site="news")
    assert send(gw, "alice", {"op": "subscribe", "channel": "recent"}) == [
        FetchSnapshot("recent", "recent:news")]
    send(gw, "bob", {"op": "subscribe", "channel": "recent:news"})
    items = {"site": "news", "items": []}
    assert frames_to(gw.snapshot_fetched("recent", Snapshot("e1", 1, items), 0.0), "alice")[0][
        "channel"] == "recent"
    gw.snapshot_fetched("recent:news", Snapshot("e1", 1, items), 0.0)
    assert gw.tracks("recent:news")
    actions = gw.receive_update(ChannelUpdate("recent:news", "e1", 2, "recent", items), 1.0)
    assert [(f["channel"], f["offset"]) for f in frames_to(actions, "alice")] == [("recent", 2)]
    assert [(f["channel"], f["offset"]) for f in frames_to(actions, "bob")] == [
        ("recent:news", 2)]


def test_history_needs_a_subscription_and_is_fetched_for_the_article() -> None:
    gw = core()
    refused = only(send(gw, "alice", {"op": "history", "channel": A, "id": 1}), "alice")
    assert (refused["code"], refused["id"]) == ("not_subscribed", 1)
    send(gw, "alice", {"op": "subscribe", "channel": A})
    [fetch] = send(gw, "alice", {"op": "history", "channel": A, "before": "k", "limit": 5,
                                 "id": 2})
    assert fetch == FetchHistory("alice", 2, A, "42", "k", 5)
    page = only(gw.history_fetched(fetch, [comment("c0", 0)], None), "alice")
    assert page == {"op": "history", "id": 2, "channel": A, "comments": [comment("c0", 0)],
                    "cursor": None}
    failed = only(gw.history_failed(fetch, 1.0), "alice")
    assert (failed["code"], failed["id"]) == ("unavailable", 2)


def test_ping_answers_pong_with_the_id() -> None:
    assert only(send(core(), "alice", {"op": "ping", "id": "p"}), "alice") == {
        "op": "pong", "id": "p"}


def test_a_failed_fetch_answers_unavailable_and_drops_the_subscription() -> None:
    gw = core()
    send(gw, "alice", {"op": "subscribe", "channel": C, "id": 1})
    frame = only(gw.snapshot_failed(C, 1.0), "alice")
    assert (frame["op"], frame["code"], frame["id"]) == ("error", "unavailable", 1)
    assert gw.subscription_count == 0
    assert send(gw, "alice", {"op": "subscribe", "channel": C}) == [FetchSnapshot(C, C)]


def test_a_resync_that_cannot_fetch_retries_after_a_backoff() -> None:
    gw = core(refetch_backoff_s=5.0)
    hot(gw, 10)
    assert gw.receive_update(count_update(12), 1.0) == [FetchSnapshot(C, C)]
    gw.snapshot_failed(C, 1.0)
    assert gw.receive_update(count_update(13), 2.0) == []
    assert gw.sweep(3.0) == []
    assert gw.sweep(6.5) == [FetchSnapshot(C, C)]


# -- limits ------------------------------------------------------------------------------------


def codes(actions: list[Action[str]]) -> list[str]:
    return [f.get("code", f["op"]) for f in frames_to(actions, "alice")]


def test_subscriptions_per_connection_are_limited() -> None:
    gw = core(limits=Limits(max_subscriptions=2, ops_per_s=None))
    for n in range(2):
        send(gw, "alice", {"op": "subscribe", "channel": f"count:{n}"})
    assert codes(send(gw, "alice", {"op": "subscribe", "channel": "count:9"})) == [
        "too_many_subscriptions"]
    send(gw, "alice", {"op": "subscribe", "channel": "count:1"})  # already held: not counted
    assert gw.subscription_count == 2


def test_requests_over_the_rate_are_dropped_until_tokens_refill() -> None:
    gw = core(limits=Limits(ops_per_s=10.0, ops_burst=5, max_errors=None))
    ping = {"op": "ping"}
    assert [codes(send(gw, "alice", ping, 0.0))[0] for _ in range(6)] == ["pong"] * 5 + [
        "rate_limited"]
    assert codes(send(gw, "alice", ping, 0.25)) == ["pong"]  # 2.5 tokens came back


def test_default_limits_let_a_listing_page_subscribe_its_200_counts_at_once() -> None:
    gw = core()
    started: list[Action[str]] = []
    for n in range(200):
        started += send(gw, "alice", {"op": "subscribe", "channel": f"count:{n}", "id": n})
    assert gw.subscription_count == 200
    # Four at a time for one connection (upstream_in_flight_per_connection); each answer
    # starts the next.
    answered: list[dict[str, Any]] = []
    while started:
        fetch = started.pop(0)
        assert isinstance(fetch, FetchSnapshot)
        assert gw.fetches.in_flight <= 4
        actions = gw.snapshot_fetched(fetch.channel, count_snapshot(1), 0.0)
        answered += frames_to(actions, "alice")
        started += [a for a in actions if isinstance(a, FetchSnapshot)]
    assert sorted(f["id"] for f in answered if f["op"] == "subscribed") == list(range(200))


def test_repeated_errors_close_the_connection_with_4001() -> None:
    gw = core(limits=Limits(max_errors=3, error_window_s=10.0, ops_per_s=None))
    assert not any(isinstance(a, Close) for a in gw.receive("alice", "junk", 0.0))
    gw.receive("alice", "junk", 1.0)
    actions = gw.receive("alice", "junk", 2.0)
    assert Close("alice", CloseCode.TOO_MANY_ERRORS, "too_many_errors") in actions
    assert gw.receive("alice", '{"op":"ping"}', 2.5) == []  # closing: ignored


def test_errors_spread_over_time_are_tolerated() -> None:
    gw = core(limits=Limits(max_errors=3, error_window_s=10.0, ops_per_s=None))
    for t in (0.0, 6.0, 12.0, 18.0):
        assert not any(isinstance(a, Close) for a in gw.receive("alice", "junk", t))


# -- housekeeping ------------------------------------------------------------------------------


def test_disconnect_and_idle_channels_are_forgotten() -> None:
    gw = core(channel_idle_s=30.0)
    hot(gw, 10, C, "alice", "bob")
    send(gw, "carol", {"op": "subscribe", "channel": "count:7"})  # waiting for a fetch
    gw.disconnect("alice", 1.0)
    gw.disconnect("bob", 2.0)
    gw.disconnect("carol", 2.0)
    assert gw.subscription_count == 0
    assert gw.channels[C].subscribers == set()
    gw.sweep(20.0)
    assert C in gw.channels  # idle, but recently: a reconnecting client can still resume
    gw.sweep(40.0)
    assert C not in gw.channels
    assert "count:7" in gw.channels  # its fetch is still in flight
    gw.snapshot_fetched("count:7", count_snapshot(1), 41.0)
    gw.sweep(41.0)
    gw.sweep(80.0)
    assert gw.channels == {}


# -- upstream work one client can cause (issue 12) ---------------------------------------------


def test_channels_a_client_churns_through_are_never_fetched_and_never_kept() -> None:
    gw = core(limits=Limits(ops_per_s=None, upstream_in_flight_per_connection=1))
    started = send(gw, "alice", {"op": "subscribe", "channel": "count:0"})
    for n in range(1, 1000):  # subscribe a new cold channel, drop the previous one
        started += send(gw, "alice", {"op": "subscribe", "channel": f"count:{n}"})
        started += send(gw, "alice", {"op": "unsubscribe", "channel": f"count:{n - 1}"})
    fetches = [a for a in started if isinstance(a, FetchSnapshot)]
    assert fetches == [FetchSnapshot("count:0", "count:0")]  # the others waited, then left
    started = gw.snapshot_fetched("count:0", count_snapshot(1), 1.0)
    assert started == [FetchSnapshot("count:999", "count:999")]
    # The channels nobody waited for were forgotten at once; one fetched is kept while idle.
    assert sorted(gw.channels) == ["count:0", "count:999"]
    assert gw.fetches.queued() == 0


def test_a_history_burst_waits_its_turn_and_another_clients_cold_subscribe_goes_next() -> None:
    gw = core(limits=Limits(ops_per_s=None, max_errors=None, upstream_in_flight_per_connection=1,
                            history_pending=3))
    hot(gw, 1, A, "alice")
    burst = [send(gw, "alice", {"op": "history", "channel": A, "id": n}) for n in range(10)]
    [first] = burst[0]
    assert isinstance(first, FetchHistory)
    assert all(b == [] for b in burst[1:3])  # queued behind alice's running request
    assert all(codes(b) == ["rate_limited"] for b in burst[3:])
    assert send(gw, "bob", {"op": "subscribe", "channel": C}) == [FetchSnapshot(C, C)]


def test_a_history_the_streams_refuse_counts_toward_the_error_budget() -> None:
    gw = core(limits=Limits(ops_per_s=None, max_errors=3, error_window_s=10.0))
    hot(gw, 1, A, "alice")
    closes = []
    for n in range(3):
        [fetch] = send(gw, "alice", {"op": "history", "channel": A, "before": "junk", "id": n})
        assert isinstance(fetch, FetchHistory)
        actions = gw.history_failed(fetch, float(n), refused=True)
        assert frames_to(actions, "alice")[0]["code"] == "bad_request"
        closes += [a for a in actions if isinstance(a, Close)]
    assert closes == [Close("alice", CloseCode.TOO_MANY_ERRORS, "too_many_errors")]


def test_idle_channels_beyond_the_cap_are_forgotten_oldest_first() -> None:
    gw = core(max_idle_channels=2)
    for n in range(4):
        channel = f"count:{n}"
        hot(gw, 1, channel, "alice")
        send(gw, "alice", {"op": "unsubscribe", "channel": channel}, float(n))
    assert sorted(gw.channels) == ["count:2", "count:3"]
