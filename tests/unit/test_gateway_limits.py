"""Process-level guards: per-address counting, rate-limited log lines, accept failures."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway.limits import AddressCounter, accept_error_handler
from gateway.lograte import RateLimitFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, name: str = "gateway.server") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)


def test_an_address_at_its_cap_is_refused_until_one_of_its_connections_ends() -> None:
    counter = AddressCounter(2)
    assert [counter.acquire("10.0.0.1") for _ in range(3)] == [True, True, False]
    assert counter.acquire("10.0.0.2")
    counter.release("10.0.0.1")
    assert counter.acquire("10.0.0.1")
    for _ in range(2):
        counter.release("10.0.0.1")
    counter.release("10.0.0.2")
    assert len(counter) == 0  # nothing kept for addresses that left


def test_a_repeated_line_is_written_a_few_times_per_interval_then_counted() -> None:
    clock = Clock()
    limiter = RateLimitFilter(interval_s=10.0, burst=3, clock=clock)
    # One message template, many channels: one group.
    written = [limiter.filter(record("snapshot of %s failed", f"count:{n}")) for n in range(1000)]
    assert written.count(True) == 3
    assert limiter.filter(record("another line"))  # other lines are not held back
    clock.now = 10.0
    after = record("snapshot of %s failed", "count:x")
    assert limiter.filter(after)
    assert "997 similar lines held back" in after.getMessage()


def test_accept_failures_are_counted_and_logged_once_per_interval(caplog: Any) -> None:
    class Counts:
        accept_errors = 0

    counts, clock, others = Counts(), Clock(), []
    handler = accept_error_handler(counts, lambda loop, ctx: others.append(ctx), clock)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.limits"):
            for _ in range(500):
                handler(loop, {"message": "socket.accept() out of system resource",
                               "exception": OSError(24, "Too many open files")})
            handler(loop, {"message": "something else"})
    finally:
        loop.close()
    assert counts.accept_errors == 500
    assert len(caplog.records) == 1
    assert others == [{"message": "something else"}]
