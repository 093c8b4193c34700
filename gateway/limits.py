"""Process-level guards of the gateway's I/O shell: connections per address, open files.

``AddressCounter`` caps the websocket connections one client address holds, so one host cannot
take the whole connection budget. ``raise_open_files_limit`` lifts the soft ``RLIMIT_NOFILE``
to the hard one at start: the common soft default (1,024) caps a gateway at about 1,000
connections although the hard limit allows far more. ``accept_error_handler`` turns the event
loop's "socket.accept() out of system resource" reports (asyncio retries accept a second later,
but on Linux reports every queued attempt, with a traceback each) into a counter and one log line
per interval.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: How often an accept failure is written to the log, at most.
ACCEPT_LOG_INTERVAL_S = 10.0


class AddressCounter:
    """Open connections per client address, with a cap (``None``: no cap)."""

    __slots__ = ("_counts", "limit")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def acquire(self, address: str) -> bool:
        """Count one more connection from ``address``; ``False`` (not counted) if at the cap."""
        held = self._counts.get(address, 0)
        if self.limit is not None and held >= self.limit:
            return False
        self._counts[address] = held + 1
        return True

    def release(self, address: str) -> None:
        held = self._counts.get(address, 0) - 1
        if held > 0:
            self._counts[address] = held
        else:
            self._counts.pop(address, None)

    def __len__(self) -> int:
        return len(self._counts)


def raise_open_files_limit() -> tuple[int, int]:
    """Lift the soft open-files limit to the hard one; the (soft, hard) limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-files limit from %d to %d: %s", soft, target, exc)
    return soft, hard


class _Counts(Protocol):
    accept_errors: int


LoopHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def accept_error_handler(metrics: _Counts, fallback: LoopHandler | None,
                         clock: Callable[[], float] = time.monotonic) -> LoopHandler:
    """An event-loop exception handler that counts accept failures and logs them rarely.

    Every other report goes to ``fallback`` (or the loop's default handler).
    """
    last = [-ACCEPT_LOG_INTERVAL_S]
    held = [0]

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            metrics.accept_errors += 1
            now = clock()
            if now - last[0] >= ACCEPT_LOG_INTERVAL_S:
                log.error("cannot accept connections: %s (the open-files limit; retrying every "
                          "second; %d more failures since the last line)",
                          context.get("exception"), held[0])
                last[0], held[0] = now, 0
            else:
                held[0] += 1
            return
        if fallback is not None:
            fallback(loop, context)
        else:
            loop.default_exception_handler(context)

    return handle
