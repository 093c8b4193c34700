"""Fixtures shared by every test: one real embedded broker per session, isolated topics per test.

There is no fake broker anywhere: integration and e2e tests talk to a real Tansu process.
Each test that asks for ``kafka_settings`` gets its own topic prefix, so tests never see each
other's records even though they share one broker.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from commentfeed.broker import EmbeddedBroker
from commentfeed.kafka import ensure_topics
from commentfeed.settings import Settings

_prefix_counter = itertools.count(1)


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """A real Tansu broker on a free loopback port for the whole test session."""
    with EmbeddedBroker() as embedded:
        yield embedded


def make_settings(bootstrap: str, **overrides: object) -> Settings:
    """Settings for a test: the test broker, a fresh topic prefix, no inherited environment."""
    base: dict[str, object] = {
        "kafka_bootstrap": bootstrap,
        "topic_prefix": f"t{os.getpid()}-{next(_prefix_counter)}.",
        "fetch_wait_ms": 5,
        "rebalance_timeout_ms": 2000,
        "idempotent_producer": False,
    }
    base.update(overrides)
    return Settings.explicit(**base)


@pytest.fixture
async def kafka_settings(broker: EmbeddedBroker) -> Settings:
    """Settings with their own freshly created topics on the session broker."""
    settings = make_settings(broker.bootstrap)
    await ensure_topics(settings)
    return settings
