"""Talking to an ingest app in tests: credentials, and a client that posts articles and comments.

Shared by the unit tests (fake publisher) and the integration tests (real broker); each says
where published events are read back by implementing :meth:`Api.records`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from commentfeed.events import InputEvent
from commentfeed.settings import Settings
from commentfeed.topics import Topic
from producers.auth import Reader, mint_reader_token

JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"
SERVICE_TOKEN = "test-service-token-0123456789"


@dataclass(frozen=True)
class Stored:
    key: str
    partition: int
    offset: int
    event: InputEvent


def token(
    user_id: str, name: str = "Reader", role: str = "reader", *,
    secret: str = JWT_SECRET, ttl: timedelta = timedelta(minutes=10),
    now: datetime | None = None, site: str | None = None,
) -> str:
    """A reader token; a moderator's is for the tests' default site unless ``site`` says."""
    assert role in ("reader", "moderator")
    if role == "moderator" and site is None:
        site = "demo"
    reader = Reader(id=user_id, name=name, role="moderator" if role == "moderator" else "reader",
                    site=site)
    return mint_reader_token(reader, secret, ttl=ttl, now=now or datetime.now(UTC))


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


CMS = bearer(SERVICE_TOKEN)
ANN = bearer(token("u-ann", "Ann"))
BOB = bearer(token("u-bob", "Bob"))
MOD = bearer(token("u-mod", "Mia", "moderator"))


@dataclass
class Api:
    client: httpx.AsyncClient
    settings: Settings
    app: FastAPI

    async def article(self, article_id: str = "a1", **fields: Any) -> dict[str, Any]:
        body = {"article_id": article_id, "title": "A title", "url": "https://news.example/a",
                "author": "Jo Writer", **fields}
        r = await self.client.post("/v1/articles", json=body, headers=CMS)
        assert r.status_code == 202, r.text
        return dict(r.json())

    async def comment(self, who: dict[str, str], article_id: str = "a1",
                      **fields: Any) -> dict[str, Any]:
        r = await self.client.post(f"/v1/articles/{article_id}/comments",
                                   json={"body": "A comment.", **fields}, headers=who)
        assert r.status_code == 202, r.text
        return dict(r.json())

    async def records(self, topic: Topic) -> list[Stored]:
        """Every event published to ``topic`` so far, in order."""
        raise NotImplementedError

    async def last(self, topic: Topic) -> Stored:
        return (await self.records(topic))[-1]
