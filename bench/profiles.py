"""Reading py-spy profiles: where a process spent its samples, by function and by package.

``py-spy record --format raw`` writes collapsed stacks, one per line:
``outer (file.py:10);inner (pkg/mod.py:42) 17``. :func:`summarize_profile` turns them into the
functions with the most samples on top of the stack (self) or anywhere in it (inclusive), and
the share of self samples per top-level package. ``python -m bench.profiles FILE...`` prints it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.control import Child

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


@dataclass(frozen=True)
class ProfileSummary:
    samples: int
    self_by_function: Counter[str]
    inclusive_by_function: Counter[str]
    self_by_package: Counter[str]

    def share(self, count: int) -> float:
        return count / self.samples if self.samples else 0.0


def frame_name(frame: str) -> str:
    """``func (path/file.py)``: a frame without its line number."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['func']} ({match['file']})"


def package_of(frame: str) -> str:
    """The top-level package of a frame's file (``asyncio/events.py`` -> ``asyncio``)."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return "?"
    path = match["file"]
    if path.startswith("<"):
        return path  # <frozen runpy> and friends
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")


def parse_collapsed(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    stacks = []
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            raise ValueError(f"not a collapsed stack line: {line[:80]!r}")
        # py-spy writes an empty stack for a sample it could not unwind.
        stacks.append((stack.split(";") if stack else ["<unknown>"], int(count)))
    return stacks


def summarize_profile(stacks: list[tuple[list[str], int]]) -> ProfileSummary:
    self_fn: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    self_pkg: Counter[str] = Counter()
    total = 0
    for frames, count in stacks:
        total += count
        leaf = frames[-1]
        self_fn[frame_name(leaf)] += count
        self_pkg[package_of(leaf)] += count
        for name in {frame_name(f) for f in frames}:
            incl[name] += count
    return ProfileSummary(total, self_fn, incl, self_pkg)


def render_summary(name: str, summary: ProfileSummary, top: int = 12) -> str:
    lines = [f"{name}: {summary.samples} samples"]
    lines.append("  self time by package: " + ", ".join(
        f"{pkg} {summary.share(n):.0%}" for pkg, n in summary.self_by_package.most_common(8)))
    lines.append("  self time by function:")
    lines += [f"    {summary.share(n):6.1%}  {fn}"
              for fn, n in summary.self_by_function.most_common(top)]
    lines.append("  inclusive (project and library frames, no event-loop plumbing):")
    plumbing = ("<frozen", "asyncio/", "click/", "mode/worker", "runpy")
    shown = [(fn, n) for fn, n in summary.inclusive_by_function.most_common()
             if not any(p in fn for p in plumbing)][:top]
    lines += [f"    {summary.share(n):6.1%}  {fn}" for fn, n in shown]
    return "\n".join(lines)


def py_spy() -> str | None:
    """py-spy beside this interpreter (the venv's) or on PATH; it is not a dependency."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def start_profile(pid: int, name: str, out: Path,
                        seconds: float | None = None) -> Child | None:
    """``py-spy record`` of ``pid`` into ``out/profile-<name>.txt`` (collapsed stacks).

    Runs ``seconds`` or until :func:`stop_profile`; ``None`` (and a note) without py-spy.
    """
    spy = py_spy()
    if spy is None:
        print("py-spy is not installed (.venv/bin/pip install py-spy): no profile")
        return None
    return await Child.start(f"py-spy-{name}", [
        spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--nonblocking",
        "--output", str(out / f"profile-{name}.txt"),
        *(["--duration", f"{seconds:.0f}"] if seconds else [])], log_dir=out, speaks=False)


async def stop_profile(spy: Child) -> None:
    """Stop a recording like Ctrl-C does, so py-spy writes what it has."""
    if spy.process.returncode is None:
        spy.process.send_signal(signal.SIGINT)
    await spy.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="summarize py-spy raw (collapsed) profiles")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    for path in args.files:
        with path.open() as lines:
            summary = summarize_profile(parse_collapsed(lines))
        print(render_summary(path.stem, summary, args.top))


if __name__ == "__main__":
    main()
