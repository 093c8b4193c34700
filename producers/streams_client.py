"""Reads the ingest API answers from the streams worker's query API (docs/streams-api.md).

One pooled ``httpx`` client per ingest process, with a short timeout: the streams API is on the
same network, and a reader's page asks once per load. Anything but a well-formed 200 (the
worker down, recovering, slow, or answering nonsense) is :class:`StreamsUnavailable`, which the
route turns into a 503.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

import httpx

from commentfeed.errors import HttpError

#: Seconds for the whole request (connect, send, answer).
STREAMS_TIMEOUT_S: Final = 3.0


class StreamsUnavailable(HttpError):
    """The streams API did not answer usefully: retry shortly."""

    def __init__(self, detail: str) -> None:
        super().__init__(503, "streams_unavailable", detail, {"Retry-After": "1"})


class StreamsClient:
    def __init__(self, base_url: str, *, timeout_s: float = STREAMS_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def voter_votes(self, article_id: str, voter_id: str) -> dict[str, int]:
        """The voter's non-zero votes in the article: comment id -> +1 or -1."""
        path = f"/v1/articles/{quote(article_id, safe='')}/votes/{quote(voter_id, safe='')}"
        try:
            response = await self._client().get(path)
        except httpx.HTTPError as exc:
            raise StreamsUnavailable(
                f"the streams API did not answer: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise StreamsUnavailable(f"the streams API answered {response.status_code}")
        try:
            votes = response.json()["votes"]
            return {str(k): int(v) for k, v in votes.items() if v in (1, -1)}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise StreamsUnavailable("the streams API answered something unreadable") from None
