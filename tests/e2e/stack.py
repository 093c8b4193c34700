"""The whole commentfeed stack as real processes on free ports, for the browser tests.

Either ``python -m commentfeed up`` (the supervisor starts everything, with the demo data) or
each service as its own ``python -m commentfeed <service>`` process, so one of them (the
gateway) can be killed and started again while the others keep running. Output goes to one log
file per process; failures quote the tail of it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from commentfeed.broker import free_port, wait_for_port
from commentfeed.children import die_with_parent
from commentfeed.cli import available
from commentfeed.demo_data import LEAD_ARTICLE_ID
from commentfeed.stack import stack_environment

#: Commands that finish by design; every other process exiting means the stack is broken.
ONE_SHOT = frozenset({"demo", "publish"})


SERVICES = ("broker", "worker", "gateway", "ingest", "demo")


def missing_services() -> list[str]:
    """Services not in this tree (on a branch before every part is merged)."""
    return [name for name in SERVICES if not available(name)]


class StackProcesses:
    """Processes of one stack, sharing one environment and one set of ports."""

    def __init__(self, workdir: Path, **extra_env: str) -> None:
        self.workdir = workdir
        self.ports = {name: free_port() for name in ("kafka", "gateway", "ingest", "streams")}
        base = {k: v for k, v in os.environ.items() if not k.startswith("COMMENTFEED_")}
        base.update({
            "COMMENTFEED_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.ports['kafka']}",
            "COMMENTFEED_GATEWAY_PORT": str(self.ports["gateway"]),
            "COMMENTFEED_INGEST_PORT": str(self.ports["ingest"]),
            "COMMENTFEED_STREAMS_PORT": str(self.ports["streams"]),
            "COMMENTFEED_DATA_DIR": str(workdir / "streams"),
            "COMMENTFEED_DEMO_MODE": "true",
            **extra_env,
        })
        self.env = stack_environment(base)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    # -- addresses --

    @property
    def front_url(self) -> str:
        """The demo site's front page: every article with its live count."""
        return f"http://127.0.0.1:{self.ports['ingest']}/"

    @property
    def page_url(self) -> str:
        """The lead demo article's page."""
        return self.article_url(LEAD_ARTICLE_ID)

    def article_url(self, article_id: str) -> str:
        return f"http://127.0.0.1:{self.ports['ingest']}/articles/{article_id}"

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ingest']}"

    @property
    def gateway_http(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def streams_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['streams']}"

    # -- processes --

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start ``python -m commentfeed <name> <args>``; a restart appends to the same log."""
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "commentfeed", name, *args], env=self.env,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent(signal.SIGKILL),
            )
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL one process and reap it: no goodbye frames, as in a crash."""
        # Forgotten as well: a process the test killed on purpose is not a crashed stack, so
        # wait_until must not fail on it (it did when the first check came after the kill).
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=30)

    def run_once(self, name: str, *args: str, timeout_s: float = 120) -> None:
        process = self.start(name, *args)
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            msg = f"{name} did not finish in {timeout_s}s\n{self.tail(name)}"
            raise AssertionError(msg) from None
        assert code == 0, f"{name} exited with {code}\n{self.tail(name)}"

    def stop_all(self) -> None:
        # Reverse start order: the broker goes last so the others can shut down cleanly.
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(list(self.processes.values())):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def tail(self, name: str, lines: int = 40) -> str:
        log = self.logs.get(name)
        if log is None or not log.exists():
            return f"(no log for {name})"
        text = log.read_text(errors="replace").splitlines()
        return f"--- last lines of {name}.log ---\n" + "\n".join(text[-lines:])

    def all_tails(self) -> str:
        return "\n".join(self.tail(name) for name in self.logs)

    # -- readiness --

    def wait_until(self, what: str, check: Callable[[], bool], timeout_s: float = 90) -> None:
        """Poll ``check`` until it holds; fail with the logs if a process died or time ran out."""
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if check():
                    return
            dead = [n for n, p in self.processes.items()
                    if n not in ONE_SHOT and p.poll() is not None]
            if dead or time.monotonic() > deadline:
                reason = f"exited: {dead}" if dead else f"not within {timeout_s}s"
                raise AssertionError(f"{what}: {reason}\n{self.all_tails()}")
            time.sleep(0.2)  # polling interval of a deadline loop, not a synchronisation sleep

    def ready(self, url: str) -> bool:
        return httpx.get(url, timeout=2).status_code == 200

    def wait_ready(self, service: str, timeout_s: float = 90) -> None:
        if service == "broker":
            wait_for_port("127.0.0.1", self.ports["kafka"], timeout_s)
            return
        url = {"worker": f"{self.streams_url}/readyz", "gateway": f"{self.gateway_http}/readyz",
               "ingest": f"{self.ingest_url}/readyz"}[service]
        self.wait_until(f"{service} ready", lambda: self.ready(url), timeout_s)

    def start_services(self) -> None:
        """Broker, worker, gateway, ingest as separate processes, each ready before the next."""
        for service in ("broker", "worker", "gateway", "ingest"):
            self.start(service)
            self.wait_ready(service)

    def start_up(self) -> None:
        """The supervisor: ``commentfeed up`` with the demo data; ready when every API is."""
        self.start("up")
        for service in ("worker", "gateway", "ingest"):
            self.wait_ready(service, timeout_s=120)

    # -- the ingest API as a site's users --

    def login(self, name: str, role: str = "reader") -> str:
        answer = httpx.post(f"{self.ingest_url}/v1/demo/login", json={"name": name, "role": role},
                            timeout=10)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["token"]
        return token

    def post_comment(self, token: str, article_id: str, body: str,
                     parent_id: str | None = None) -> dict[str, Any]:
        answer = httpx.post(f"{self.ingest_url}/v1/articles/{article_id}/comments",
                            json={"body": body, "parent_id": parent_id},
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 202, answer.text
        accepted: dict[str, Any] = answer.json()
        return accepted

    def article_count(self, article_id: str) -> int:
        answer = httpx.get(f"{self.streams_url}/v1/articles/{article_id}", timeout=5)
        answer.raise_for_status()
        count: int = answer.json()["count"]
        return count


@contextlib.contextmanager
def demo_stack(workdir: Path, **extra_env: str) -> Iterator[StackProcesses]:
    """The whole stack (``commentfeed up``), once the demo thread is in the streams."""
    processes = StackProcesses(workdir, **extra_env)
    try:
        processes.start_up()
        processes.wait_until("the demo thread in the streams",
                             lambda: processes.article_count(LEAD_ARTICLE_ID) == 4)
        yield processes
    finally:
        processes.stop_all()
