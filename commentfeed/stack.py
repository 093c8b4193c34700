"""The dev stack supervisor behind ``commentfeed up``.

Starts each service as its own process (``python -m commentfeed <service>``), in dependency
order, waiting for each to listen before the next starts; with the demo data, "up" is printed
only once the streams answer with every demo article's comment count (what the demo pages
show), and a stack whose demo data does not show up within a deadline exits non-zero. Every
output line is prefixed with the service name. If any long-running child exits, the others are
stopped and ``up`` exits non-zero; Ctrl-C (or SIGTERM) stops them all. Children die with the
supervisor (``PR_SET_PDEATHSIG``) even if it is killed outright.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx

from commentfeed.children import die_with_parent
from commentfeed.cli import available
from commentfeed.demo_data import ARTICLES, COMMENT_COUNTS
from commentfeed.errors import CommentfeedError
from commentfeed.settings import Settings


@dataclass(frozen=True)
class Service:
    name: str
    #: (host, port) that answers once the service is ready; None for one-shot jobs.
    ready_port: tuple[str, int] | None
    one_shot: bool = False
    args: tuple[str, ...] = ()


@dataclass
class Child:
    service: Service
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None] | None = field(default=None)


def plan(settings: Settings, *, with_demo: bool = True) -> list[Service]:
    """The services of the stack in start order; parts not installed yet are left out."""
    host, _, port = settings.kafka_bootstrap.rpartition(":")
    services = [
        Service("broker", (host or "127.0.0.1", int(port))),
        Service("worker", (settings.host, settings.streams_port)),
        Service("gateway", (settings.host, settings.gateway_port)),
        Service("ingest", (settings.host, settings.ingest_port)),
    ]
    if with_demo:
        services.append(Service("demo", None, one_shot=True))
    return [s for s in services if available(s.name)]


def stack_environment(base: Mapping[str, str]) -> dict[str, str]:
    """Environment for the children: secrets made up for this run when none were given."""
    env = dict(base)
    env.setdefault("COMMENTFEED_JWT_SECRET", secrets.token_urlsafe(32))
    env.setdefault("COMMENTFEED_SERVICE_TOKEN", secrets.token_urlsafe(24))
    env.setdefault("COMMENTFEED_DEMO_MODE", "true")
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _port_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 0.5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) == 0


#: A check that the stack shows what it should: (holds, what is missing if it does not).
DataCheck = Callable[[], Awaitable[tuple[bool, str]]]


def demo_data_check(settings: Settings, *,
                    transport: httpx.AsyncBaseTransport | None = None) -> DataCheck:
    """Holds once the streams count every demo comment and the ingest knows every demo article.

    The streams API is what the gateway snapshots pages from, so the demo pages show the demo
    data from then on; the ingest's directory is what lets a reader post on the articles. At
    least the demo counts: comments posted in an earlier run (kept state) do not block.
    """
    ids = ",".join(COMMENT_COUNTS)
    counts_url = f"{settings.streams_base_url.rstrip('/')}/v1/counts?ids={ids}"
    ingest_url = f"http://{settings.host}:{settings.ingest_port}/readyz"

    async def check() -> tuple[bool, str]:
        try:
            async with httpx.AsyncClient(timeout=2.0, transport=transport) as client:
                answer = await client.get(counts_url)
                if answer.status_code != 200:
                    return False, f"the streams API answered {answer.status_code}"
                counts: dict[str, int] = answer.json()["counts"]
                short = {a: f"{counts.get(a, 0)}/{n}" for a, n in COMMENT_COUNTS.items()
                         if counts.get(a, 0) < n}
                if short:
                    return False, f"demo comment counts so far: {short}"
                ready = await client.get(ingest_url)
                articles = int(ready.json().get("articles", 0))
                if ready.status_code != 200 or articles < len(ARTICLES):
                    return False, (f"the ingest API knows {articles} of {len(ARTICLES)} "
                                   "demo articles")
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return False, f"no answer yet ({type(exc).__name__})"
        return True, ""

    return check


class Supervisor:
    def __init__(self, services: list[Service], env: Mapping[str, str],
                 echo: Callable[[str], None], *, ready_timeout_s: float = 60.0,
                 data_check: DataCheck | None = None, data_timeout_s: float = 90.0) -> None:
        self.services = services
        self.env = dict(env)
        self.echo = echo
        self.ready_timeout_s = ready_timeout_s
        self.data_check = data_check
        self.data_timeout_s = data_timeout_s
        self.children: list[Child] = []
        self._stopping = asyncio.Event()

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        width = max(len(s.name) for s in self.services)
        while line := await stream.readline():
            self.echo(f"{name:<{width}} | {line.decode(errors='replace').rstrip()}")

    async def _spawn(self, service: Service) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "commentfeed", service.name, *service.args,
            env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL, preexec_fn=die_with_parent(signal.SIGTERM),
            # Own process group: a terminal's Ctrl-C reaches only the supervisor, which then
            # stops the children in reverse order (the broker last), not all at once.
            start_new_session=True,
        )
        assert process.stdout is not None
        child = Child(service, process)
        child.pump = asyncio.create_task(self._pump(service.name, process.stdout))
        self.children.append(child)
        return child

    async def _wait_ready(self, child: Child) -> None:
        assert child.service.ready_port is not None
        host, port = child.service.ready_port
        deadline = time.monotonic() + self.ready_timeout_s
        while not await _port_open(host, port):
            if child.process.returncode is not None:
                raise StackError(f"{child.service.name} exited with {child.process.returncode}")
            if time.monotonic() > deadline:
                raise StackError(f"{child.service.name} not listening on {host}:{port}")
            await asyncio.sleep(0.1)  # polling interval of a deadline loop

    async def _wait_for_data(self, check: DataCheck) -> None:
        """Poll ``check`` until it holds; fail if a child failed or the deadline passed."""
        deadline = time.monotonic() + self.data_timeout_s
        while True:
            holds, missing = await check()
            if holds:
                return
            if self._stopping.is_set():
                raise StackError("stopped before the demo data was visible")
            for child in self.children:
                code = child.process.returncode
                if code is not None and (code != 0 or not child.service.one_shot):
                    raise StackError(f"{child.service.name} exited with {code} before the demo "
                                     "data was visible")
            if time.monotonic() > deadline:
                raise StackError(f"the demo data was not visible within {self.data_timeout_s:g}s "
                                 f"({missing})")
            await asyncio.sleep(0.2)  # polling interval of a deadline loop

    async def run(self, on_ready: Callable[[], None]) -> int:
        """Start everything, then wait until a child dies or a stop is asked; exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        try:
            for service in self.services:
                if service.ready_port and port_in_use(*service.ready_port):
                    raise StackError(f"{service.ready_port[0]}:{service.ready_port[1]} is taken; "
                                     f"is another stack running?")
                child = await self._spawn(service)
                if service.one_shot:
                    continue
                await self._wait_ready(child)
            if self.data_check is not None:
                await self._wait_for_data(self.data_check)
            on_ready()
            return await self._watch()
        except StackError as exc:
            self.echo(f"up: {exc}")
            return 1
        finally:
            await self.stop()

    async def _watch(self) -> int:
        stop = asyncio.create_task(self._stopping.wait())
        waits = {asyncio.create_task(c.process.wait()): c for c in self.children}
        try:
            while True:
                done, _ = await asyncio.wait([stop, *waits], return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    self.echo("up: stopping")
                    return 0
                for task in done:
                    child = waits.pop(task)
                    code = task.result()
                    if child.service.one_shot and code == 0:
                        continue
                    self.echo(f"up: {child.service.name} exited with {code}; stopping the stack")
                    return 1
        finally:
            stop.cancel()
            for task in waits:
                task.cancel()

    async def stop(self, timeout_s: float = 10.0) -> None:
        # Reverse start order: the broker goes last so others can shut down cleanly.
        for child in reversed(self.children):
            if child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(child.process.wait(), timeout_s)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        child.process.kill()
                    await child.process.wait()
            if child.pump is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await child.pump


class StackError(CommentfeedError):
    """A service of the stack failed to start."""


def banner(settings: Settings) -> str:
    lines = ["", "commentfeed is up:"]
    if available("ingest"):
        lines.append(f"  demo site        http://{settings.host}:{settings.ingest_port}/")
        lines.append(f"  ingest API       http://{settings.host}:{settings.ingest_port}/docs")
    if available("gateway"):
        lines.append(f"  websocket        ws://{settings.host}:{settings.gateway_port}/ws")
    if available("worker"):
        lines.append(f"  streams API      {settings.streams_base_url}")
    lines.append(f"  kafka            {settings.kafka_bootstrap} (embedded Tansu, memory only)")
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


def current_env() -> dict[str, str]:
    return dict(os.environ)
