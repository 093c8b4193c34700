"""Idle consumers back off: the fetch wait doubles per empty fetch and resets on data."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from commentfeed.kafka import backoff_idle_fetches


class FakeFetcher:
    def __init__(self, answers: list[bool]) -> None:
        self._fetch_max_wait_ms = 5
        self.answers = answers
        self.waits: list[int] = []

    async def _proc_fetch_request(self, assignment: Any, node_id: int, request: Any) -> bool:
        self.waits.append(self._fetch_max_wait_ms)
        return self.answers.pop(0)


async def test_the_wait_doubles_while_fetches_are_empty_and_drops_back_on_data() -> None:
    fetcher = FakeFetcher([False] * 7 + [True, False])
    backoff_idle_fetches(SimpleNamespace(_fetcher=fetcher), 100)
    for _ in range(9):
        await fetcher._proc_fetch_request(None, 0, None)
    assert fetcher.waits == [5, 10, 20, 40, 80, 100, 100, 100, 5]
    assert fetcher._fetch_max_wait_ms == 10


async def test_an_idle_wait_at_or_below_the_base_changes_nothing() -> None:
    fetcher = FakeFetcher([False, False])
    backoff_idle_fetches(SimpleNamespace(_fetcher=fetcher), 5)
    await fetcher._proc_fetch_request(None, 0, None)
    await fetcher._proc_fetch_request(None, 0, None)
    assert fetcher.waits == [5, 5]


def test_a_consumer_without_the_fetcher_internals_is_refused() -> None:
    with pytest.raises(RuntimeError, match="aiokafka changed"):
        backoff_idle_fetches(SimpleNamespace(_fetcher=None), 100)
