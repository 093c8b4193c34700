"""Gateway settings: the environment, ``none`` for a disabled limit, serve()'s defaults and
keywords, and the core's limits, all from one definition."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from commentfeed.settings import Settings
from gateway.core import Config, Limits
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


def test_serve_takes_the_documented_defaults_and_keyword_overrides(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMENTFEED_GATEWAY_HISTORY_SIZE", "7")  # serve() does not read it
    plain = serve(Settings.explicit())
    assert plain.options == GatewaySettings.of()
    assert plain.options.history_size == 500
    tuned = serve(Settings.explicit(), max_connections=None, history_size=9, ops_burst=3)
    assert tuned.options.max_connections is None
    assert (tuned.core.config.history_size, tuned.core.config.limits.ops_burst) == (9, 3)
    from_env = serve(Settings.explicit(), GatewaySettings(), max_errors=None)
    assert (from_env.options.history_size, from_env.options.max_errors) == (7, None)
    with pytest.raises(TypeError, match="max_conections"):
        serve(Settings.explicit(), max_conections=1)
    with pytest.raises(ValidationError):
        serve(Settings.explicit(), ops_burst=0)


def test_the_core_limits_take_their_defaults_from_one_place() -> None:
    assert GatewaySettings.of().core_config("news") == Config(default_site="news")
    custom = GatewaySettings.of(max_subscriptions=3, channel_idle_s=1.0).core_config("news")
    assert custom == Config(default_site="news", limits=Limits(max_subscriptions=3),
                            channel_idle_s=1.0)
