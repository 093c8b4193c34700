"""Process-level guards of the gateway's I/O shell: connections per address, open files.

``AddressCounter`` caps the websocket connections one client address holds, so one host cannot
take the whole connection budget. ``raise_open_files_limit`` lifts the soft ``RLIMIT_NOFILE``
to the hard one at start: the common soft default (1,024) caps a gateway at about 1,000
connections although the hard limit allows far more.

Out of open files, accept fails. asyncio then pauses the listening socket for a second, but
its accept loop goes on trying the rest of the backlog in the same pass, scheduling one more
resume and one more logged traceback per attempt: thousands of failed accepts a second, and
issue 12's 413,597 log lines in 50 s. :class:`BackoffSocket` is the listening socket with an
``accept`` that, after one such failure, answers "nothing to accept" until a short back-off has
passed, so a pass ends at the first failure and the socket is tried about once a second.
``accept_error_handler`` turns the loop's report of each failure into a counter and one log
line per interval.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: How often an accept failure is written to the log, at most.
ACCEPT_LOG_INTERVAL_S = 10.0
#: After a failed accept, no new one for this long; under asyncio's own pause (1 s), so the
#: listening socket is never watched while accept is refused (that would spin).
ACCEPT_BACKOFF_S = 0.5
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class BackoffSocket(socket.socket):
    """A listening socket whose ``accept`` backs off after running out of resources."""

    __slots__ = ("accept_errors", "retry_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_at = 0.0
        self.accept_errors = 0

    def accept(self) -> tuple[socket.socket, Any]:
        now = time.monotonic()
        if now < self.retry_at:
            # Ends the event loop's accept pass: the one failure already paused the socket.
            raise BlockingIOError(errno.EAGAIN, "accept backing off: out of open files")
        try:
            return super().accept()
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                self.retry_at = now + ACCEPT_BACKOFF_S
                self.accept_errors += 1
            raise


def listening_socket(host: str | None, port: int) -> BackoffSocket:
    """A bound :class:`BackoffSocket` for ``host:port``.

    One socket (the event loop serves one per server): for a name with several addresses,
    like ``localhost``, the IPv4 one, which is what clients given that name mostly try first.
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, kind, proto, _, address = infos[0]
    sock = BackoffSocket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


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


#: Files a gateway holds besides its websocket connections: the listening socket, the broker
#: and streams API connections, logs, the event loop's own; with room to spare.
FILES_BESIDES_CONNECTIONS = 64


def connection_room(soft_limit: int, upstream_in_flight: int | None) -> int:
    """How many websocket connections the open-files limit leaves room for."""
    return max(1, soft_limit - FILES_BESIDES_CONNECTIONS - (upstream_in_flight or 100))


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
