"""``commentfeed up``: processes started in order, URLs printed, failures and Ctrl-C handled."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from commentfeed.broker import free_port, pid_exists
from commentfeed.demo_data import ARTICLES, COMMENT_COUNTS, LEAD_ARTICLE_ID

pytestmark = pytest.mark.integration


class Stack:
    """``commentfeed up`` in a subprocess, its output collected line by line."""

    def __init__(self, *, demo: bool = False, data_dir: str | None = None) -> None:
        self.ports = {name: free_port() for name in ("KAFKA", "GATEWAY", "INGEST", "STREAMS")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMENTFEED_")}
        env.update({
            "COMMENTFEED_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.ports['KAFKA']}",
            "COMMENTFEED_GATEWAY_PORT": str(self.ports["GATEWAY"]),
            "COMMENTFEED_INGEST_PORT": str(self.ports["INGEST"]),
            "COMMENTFEED_STREAMS_PORT": str(self.ports["STREAMS"]),
            "COMMENTFEED_DATA_DIR": data_dir or f"/tmp/commentfeed-test-{os.getpid()}",
        })
        self.process = subprocess.Popen(
            [sys.executable, "-m", "commentfeed", "up", *([] if demo else ["--no-demo"])],
            env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip())

    def wait_for(self, text: str, timeout_s: float = 120) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed; output:\n" + "\n".join(self.seen[-40:]))

    def tansu_pid(self) -> int:
        needle = f"127.0.0.1:{self.ports['KAFKA']}".encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if b"tansu" in cmdline and needle in cmdline:
                    return int(entry.name)
        raise AssertionError("no tansu process for this stack")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def test_up_prints_urls_and_ctrl_c_stops_every_process() -> None:
    stack = Stack()
    try:
        stack.wait_for("commentfeed is up")
        stack.wait_for("Ctrl-C stops everything")
        banner = "\n".join(stack.seen)
        assert f"127.0.0.1:{stack.ports['KAFKA']}" in banner
        assert any(line.startswith("broker") and "|" in line for line in stack.seen)
        tansu = stack.tansu_pid()
        stack.process.send_signal(signal.SIGINT)
        assert stack.process.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while pid_exists(tansu) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_exists(tansu)
    finally:
        stack.close()


def test_up_is_printed_only_once_the_demo_data_is_visible(tmp_path: Path) -> None:
    stack = Stack(demo=True, data_dir=str(tmp_path / "streams"))
    try:
        stack.wait_for("commentfeed is up", timeout_s=180)
        # At once, no polling: what the demo pages read is already there.
        counts = httpx.get(f"http://127.0.0.1:{stack.ports['STREAMS']}/v1/counts",
                           params={"ids": ",".join(COMMENT_COUNTS)}, timeout=5).json()["counts"]
        assert counts == COMMENT_COUNTS
        ingest = httpx.get(f"http://127.0.0.1:{stack.ports['INGEST']}/readyz", timeout=5).json()
        assert ingest["articles"] == len(ARTICLES)
        lead = httpx.get(f"http://127.0.0.1:{stack.ports['STREAMS']}/v1/channels/"
                         f"article:{LEAD_ARTICLE_ID}/snapshot", timeout=5).json()
        assert len(lead["snapshot"]["comments"]) == COMMENT_COUNTS[LEAD_ARTICLE_ID]
        stack.process.send_signal(signal.SIGINT)
        assert stack.process.wait(timeout=60) == 0
    finally:
        stack.close()


def test_a_dying_child_stops_the_stack_with_a_nonzero_exit() -> None:
    stack = Stack()
    try:
        stack.wait_for("commentfeed is up")
        os.kill(stack.tansu_pid(), signal.SIGKILL)
        line = stack.wait_for("stopping the stack", timeout_s=30)
        assert "broker exited with 1" in line
        assert stack.process.wait(timeout=60) == 1
    finally:
        stack.close()
