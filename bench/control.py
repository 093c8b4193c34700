"""The line protocol between a benchmark and its child processes: JSON lines both ways.

Children print ``{"event": ...}`` lines on stdout and read ``{"cmd": ...}`` lines on stdin;
:class:`Child` is the parent's side, :func:`commands` and :func:`emit` the child's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from commentfeed.children import die_with_parent


def emit(doc: Mapping[str, Any]) -> None:
    """Child side: one event line on stdout."""
    sys.stdout.write(orjson.dumps(doc).decode() + "\n")
    sys.stdout.flush()


async def commands() -> AsyncIterator[dict[str, Any]]:
    """Child side: the command lines on stdin, until the parent closes it."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        doc = orjson.loads(line)
        if isinstance(doc, dict):
            yield doc



def prepare_child() -> None:
    """Runs in each child before exec: die with the benchmark, and allow many open files."""
    die_with_parent(signal.SIGKILL)()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class ChildError(RuntimeError):
    """A benchmark child process failed or answered out of turn."""


class Child:
    """Parent side of one child process speaking the line protocol."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path,
                 speaks: bool = True) -> None:
        self.name = name
        self.process = process
        self.log = log
        self.speaks = speaks

    @classmethod
    async def start(cls, name: str, argv: Sequence[str], *, log_dir: Path,
                    env: Mapping[str, str] | None = None, speaks: bool = True) -> Child:
        """Start ``argv``; a child that does not ``speaks`` the protocol logs stdout too."""
        log = log_dir / f"{name}.log"
        err = log.open("ab")  # the child writes its stderr here
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE if speaks else err,
                stderr=err, env=dict(env) if env is not None else None,
                limit=1 << 24, preexec_fn=prepare_child)
        finally:
            err.close()
        return cls(name, process, log, speaks)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def read(self, event: str, timeout_s: float = 120.0) -> dict[str, Any]:
        """The next event line; it must be ``event``."""
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(timeout_s):
                line = await self.process.stdout.readline()
        except TimeoutError:
            raise ChildError(f"{self.name}: no {event!r} within {timeout_s}s "
                             f"(see {self.log})") from None
        if not line:
            code = await self.process.wait()
            raise ChildError(f"{self.name} exited with {code} before {event!r}; "
                             f"its log: {self.log}\n{self.tail()}")
        doc = orjson.loads(line)
        if not isinstance(doc, dict) or doc.get("event") != event:
            raise ChildError(f"{self.name}: expected {event!r}, got {line[:300]!r}")
        return doc

    def send(self, cmd: str, **fields: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(orjson.dumps({"cmd": cmd, **fields}) + b"\n")

    async def ask(self, cmd: str, event: str, timeout_s: float = 120.0,
                  **fields: Any) -> dict[str, Any]:
        self.send(cmd, **fields)
        return await self.read(event, timeout_s)

    async def stop(self, timeout_s: float = 10.0) -> int | None:
        """Stop the child; its exit status.

        A child speaking the protocol exits when its stdin closes; a service gets SIGTERM.
        Either way SIGKILL follows if it does not exit in time.
        """
        process = self.process
        if process.returncode is not None:
            return process.returncode
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        steps = (None, signal.SIGTERM, signal.SIGKILL) if self.speaks else (
            signal.SIGTERM, signal.SIGKILL)
        for sig in steps:
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
            try:
                async with asyncio.timeout(timeout_s / 2):
                    return await process.wait()
            except TimeoutError:
                continue
        return process.returncode

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def python_argv(module: str, *args: str) -> list[str]:
    """Run ``module`` with this interpreter (the venv's)."""
    return [sys.executable, "-m", module, *args]


def bench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
