"""Gateway settings: the environment, ``none`` for a disabled limit, and serve()'s defaults."""

from __future__ import annotations

import inspect

import pytest
from pydantic import ValidationError

from gateway.server import serve
from gateway.settings import GatewaySettings


def test_gateway_knobs_come_from_their_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMENTFEED_GATEWAY_HISTORY_SIZE", "7")
    monkeypatch.setenv("COMMENTFEED_GATEWAY_ALLOWED_ORIGINS", "https://a.example, http://b")
    monkeypatch.setenv("COMMENTFEED_GATEWAY_MAX_CONNECTIONS", "none")
    monkeypatch.setenv("COMMENTFEED_GATEWAY_COMPRESSION", "deflate")
    monkeypatch.setenv("HISTORY_SIZE", "99")  # unprefixed: ignored
    s = GatewaySettings()
    assert s.history_size == 7
    assert s.allowed_origins == ("https://a.example", "http://b")
    assert s.max_connections is None
    assert s.compression == "deflate"


def test_bad_values_are_refused_and_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(compression="brotli")
    with pytest.raises(ValidationError):
        GatewaySettings(ops_burst=0)
    with pytest.raises(ValidationError):
        GatewaySettings().history_size = 1  # type: ignore[misc]


def test_serve_documents_the_same_defaults_as_the_settings() -> None:
    params = inspect.signature(serve).parameters
    defaults = GatewaySettings.model_validate({}).model_dump()
    assert {name: params[name].default for name in defaults} == defaults
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY for name in defaults)
