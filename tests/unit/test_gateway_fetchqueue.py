"""The streams API request queue: in-flight bounds, owners taking turns, O(1) withdrawal."""

from __future__ import annotations

from gateway.fetchqueue import SYSTEM, FetchQueue


def drain(queue: FetchQueue[str]) -> list[str]:
    out = []
    while (taken := queue.take()) is not None:
        out.append(taken[1])
    return out


def test_owners_take_turns_so_one_backlog_does_not_delay_another_owner() -> None:
    queue: FetchQueue[str] = FetchQueue(max_in_flight=None, per_owner=None)
    for n in range(100):
        queue.push("abuser", n, f"a{n}")
    queue.push("victim", 0, "v0")
    assert drain(queue)[:3] == ["a0", "v0", "a1"]


def test_in_flight_is_bounded_per_owner_and_in_all() -> None:
    queue: FetchQueue[str] = FetchQueue(max_in_flight=3, per_owner=2)
    for n in range(5):
        queue.push("alice", n, f"a{n}")
    assert drain(queue) == ["a0", "a1"]  # alice's own bound
    queue.push("bob", 0, "b0")
    queue.push("bob", 1, "b1")
    assert drain(queue) == ["b0"]  # the process's bound
    queue.done("alice")
    assert drain(queue) == ["b1"]
    queue.done("bob")
    assert drain(queue) == ["a2"]
    assert (queue.in_flight, queue.queued("alice"), queue.queued()) == (3, 2, 2)


def test_withdrawn_requests_never_start() -> None:
    queue: FetchQueue[str] = FetchQueue(max_in_flight=None, per_owner=None)
    for n in range(3):
        queue.push("alice", n, f"a{n}")
        queue.push("bob", n, f"b{n}")
    queue.discard("alice", 1)
    queue.drop_owner("bob")
    assert drain(queue) == ["a0", "a2"]
    assert queue.queued() == 0


def test_a_key_is_queued_once_per_owner() -> None:
    queue: FetchQueue[str] = FetchQueue(max_in_flight=None, per_owner=None)
    assert queue.push("alice", "count:1", "first")
    assert not queue.push("alice", "count:1", "again")
    assert drain(queue) == ["first"]


def test_the_cores_own_resyncs_have_no_per_owner_bound() -> None:
    queue: FetchQueue[str] = FetchQueue(max_in_flight=10, per_owner=1)
    for n in range(3):
        queue.push(SYSTEM, n, f"s{n}")
    assert drain(queue) == ["s0", "s1", "s2"]
