"""Where a server's memory per connection goes: tracemalloc differences, by allocation site.

A server process answers ``{"cmd": "trace_start"}`` (start tracing, remember a snapshot) and
``{"cmd": "trace_diff", "top": N}`` (the N allocation sites that grew most since then) with
:func:`start` and :func:`diff`. Tracing slows allocation and adds its own memory, so the
connection benchmark only uses it in its ``--breakdown`` run, never for the RSS figures.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

_base: list[tracemalloc.Snapshot] = []


def start() -> None:
    if not tracemalloc.is_tracing():
        tracemalloc.start(1)
    _base[:] = [tracemalloc.take_snapshot()]


def site(filename: str, lineno: int) -> str:
    """``package/module.py:line`` from a full path (site-packages and stdlib prefixes cut)."""
    parts = filename.replace("\\", "/").split("/")
    for anchor in ("site-packages", "python3.11"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1:]
            break
    else:
        parts = parts[-2:]
    return f"{'/'.join(parts)}:{lineno}"


def diff(top: int) -> dict[str, Any]:
    if not _base:
        raise RuntimeError("trace_start first")
    now = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    stats = now.compare_to(_base[0], "lineno")
    grown = sorted((s for s in stats if s.size_diff > 0), key=lambda s: -s.size_diff)
    return {
        "event": "trace",
        "total_kib": sum(s.size_diff for s in stats) / 1024,
        "top": [{"where": site(s.traceback[0].filename, s.traceback[0].lineno),
                 "kib": s.size_diff / 1024, "count": s.count_diff} for s in grown[:top]],
    }
