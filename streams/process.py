"""Run a streams worker as a child process from a Settings object (tests, benchmarks, tools).

The child is ``python -m commentfeed worker`` with the settings passed as ``COMMENTFEED_*``
variables and nothing else of the parent's ``COMMENTFEED_*`` environment, so what it runs with
is exactly the object given. It dies with its parent (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from commentfeed.children import die_with_parent
from commentfeed.settings import Settings


def settings_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """``COMMENTFEED_*`` variables that reproduce ``settings`` in a child process."""
    env = {k: v for k, v in (base if base is not None else os.environ).items()
           if not k.startswith("COMMENTFEED_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"COMMENTFEED_{name.upper()}"] = str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class WorkerProcess:
    """One ``commentfeed worker`` child; output goes to ``log_path``."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.streams_port}"

    def start(self) -> WorkerProcess:
        with open(self.log_path, "ab") as log:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "commentfeed", "worker"],
                env=settings_env(self.settings), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(signal.SIGKILL),
            )
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Block until ``/readyz`` answers 200; return seconds since :meth:`start`."""
        deadline = self.started_at + timeout_s
        with httpx.Client(timeout=1.0) as client:
            while True:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"worker exited; see {self.log_path}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return time.monotonic() - self.started_at
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker not ready within {timeout_s}s; see {self.log_path}")
                time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no flush, no commit."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; the exit status (killed after ``timeout_s``)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
