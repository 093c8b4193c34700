"""Child processes that do not outlive their parent (Linux ``PR_SET_PDEATHSIG``).

The broker, the dev stack's services, test workers and benchmark processes are started with
``preexec_fn=die_with_parent(...)``: if the parent is killed without cleaning up (``kill -9``,
a crashed test run), the kernel signals the child, so no orphan keeps a port or a broker.
"""

from __future__ import annotations

import ctypes
import functools
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _set_death_signal(sig: signal.Signals) -> None:
    # Runs in the child between fork and exec.
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, sig)


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` that has the child receive ``sig`` when its parent dies."""
    return functools.partial(_set_death_signal, sig)
