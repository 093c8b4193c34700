"""The ingest API without a broker: a fake publisher and an always-ready directory.

:class:`FakePublisher` plays the broker's part the way ``httpx.MockTransport`` plays a server's:
each event is stored where the real broker would put it (the topic and key of
:func:`producers.publisher.route`, one partition, offsets from 0), or refused with the
:class:`~commentfeed.errors.PublishError` that ``fail`` returns. What the real broker adds is
tested in tests/integration/test_ingest_api.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from commentfeed.errors import PublishError
from commentfeed.events import InputEvent
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_name
from producers.app import IngestLimits, create_app
from producers.directory import Directory
from producers.publisher import Delivery, route
from tests import ingest_client
from tests.ingest_client import JWT_SECRET, SERVICE_TOKEN, Stored


class FakePublisher:
    """Stores events in memory instead of on a broker; see the module docstring."""

    def __init__(self, settings: Settings,
                 fail: Callable[[InputEvent], PublishError | None] | None = None) -> None:
        self.settings = settings
        self.fail = fail
        self.topics: dict[str, list[Stored]] = {}
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    async def publish(self, event: InputEvent) -> Delivery:
        assert self._started, "publish before start"
        refusal = self.fail(event) if self.fail is not None else None
        if refusal is not None:
            raise refusal
        topic, key = route(self.settings, event)
        stored = self.topics.setdefault(topic, [])
        stored.append(Stored(key, 0, len(stored), event))
        return Delivery(topic=topic, partition=0, offset=len(stored) - 1, event_id=event.id,
                        event_type=event.type, key=key)

    async def publish_many(self, events: Iterable[InputEvent]) -> list[Delivery]:
        return [await self.publish(event) for event in events]

    @property
    def count(self) -> int:
        """Events stored on every topic together."""
        return sum(len(records) for records in self.topics.values())


@dataclass
class ReadyFeed:
    """A directory feed with nothing to catch up on: ready at once (or never, if told so)."""

    directory: Directory = field(default_factory=Directory)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    catch_up: bool = True

    def start(self) -> None:
        if self.catch_up:
            self.ready.set()

    async def stop(self) -> None:
        return None

    async def sync(self) -> None:
        # Everything published went through this process's own directory: nothing to wait for.
        return None


@dataclass
class Api(ingest_client.Api):
    """The ingest app on a :class:`FakePublisher`; records come from the fake."""

    publisher: FakePublisher = field(kw_only=True)

    async def records(self, topic: Topic) -> list[Stored]:
        return list(self.publisher.topics.get(topic_name(self.settings, topic), []))


def ingest_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"jwt_secret": JWT_SECRET, "service_token": SERVICE_TOKEN,
                              "demo_mode": True, "topic_prefix": "unit."}
    values.update(overrides)
    return Settings.explicit(**values)


@asynccontextmanager
async def start_api(*, settings: Settings | None = None,
                    fail: Callable[[InputEvent], PublishError | None] | None = None,
                    catch_up: bool = True, **limits: Any) -> AsyncIterator[Api]:
    """An ingest app on a fake publisher, its lifespan running, and a client for it."""
    settings = settings or ingest_settings()
    publisher = FakePublisher(settings, fail)
    app = create_app(settings, limits=IngestLimits(**limits), publisher=publisher,
                     feed=ReadyFeed(catch_up=catch_up))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://news.test") as client:
            yield Api(client, settings, app, publisher=publisher)


async def unchanged(api: Api, request: Callable[[], Awaitable[httpx.Response]],
                    status: int) -> dict[str, Any]:
    """Run a request that must be refused with ``status``; assert nothing was published."""
    before = api.publisher.count
    r = await request()
    assert r.status_code == status, r.text
    assert api.publisher.count == before
    body = r.json()
    assert isinstance(body, dict)
    return body
