"""The gateway's own knobs: ``COMMENTFEED_GATEWAY_*`` environment variables, one frozen object.

Ports, the broker, topic names and the streams API URL come from the shared
:class:`commentfeed.settings.Settings`; this class holds what only a gateway has: websocket
options, limits, resume history. A limit set to ``none`` in the environment is disabled
(``COMMENTFEED_GATEWAY_MAX_CONNECTIONS=none``). The field names are the keyword arguments of
:func:`gateway.server.serve`, which documents each one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMENTFEED_GATEWAY_", frozen=True,
                                      extra="ignore", env_parse_none_str="none")

    # -- websocket ---------------------------------------------------------------------------
    compression: Literal["none", "deflate"] = "none"
    #: Comma-separated in the environment; unset allows any Origin.
    allowed_origins: Annotated[tuple[str, ...] | None, NoDecode] = None
    ping_interval_s: float | None = Field(default=20.0, gt=0)
    ping_timeout_s: float | None = Field(default=20.0, gt=0)
    close_timeout_s: float = Field(default=5.0, gt=0)

    # -- limits ------------------------------------------------------------------------------
    max_connections: int | None = Field(default=20_000, ge=1)
    #: Per client address (see trusted_proxies); none: no cap.
    max_connections_per_address: int | None = Field(default=500, ge=1)
    #: Comma-separated in the environment: peers whose X-Forwarded-For names the client.
    trusted_proxies: Annotated[tuple[str, ...] | None, NoDecode] = None
    max_frame_bytes: int | None = Field(default=4096, ge=64)
    max_subscriptions: int | None = Field(default=200, ge=1)
    ops_per_s: float | None = Field(default=20.0, gt=0)
    #: Above max_subscriptions, so a listing page or a resuming client can (re)subscribe at once.
    ops_burst: int = Field(default=250, ge=1)
    max_errors: int | None = Field(default=20, ge=1)
    error_window_s: float = Field(default=10.0, gt=0)
    slow_consumer_bytes: int | None = Field(default=1 << 20, ge=1024)
    upstream_in_flight_per_connection: int | None = Field(default=4, ge=1)
    history_pending: int | None = Field(default=4, ge=1)

    # -- resume history and channels ---------------------------------------------------------
    history_size: int = Field(default=500, ge=0)
    history_ttl_s: float | None = Field(default=300.0, gt=0)
    channel_idle_s: float = Field(default=60.0, ge=0)
    max_idle_channels: int | None = Field(default=10_000, ge=0)

    # -- upstream ----------------------------------------------------------------------------
    snapshot_comments: int = Field(default=50, ge=1, le=100)
    upstream_timeout_s: float = Field(default=5.0, gt=0)
    upstream_in_flight: int | None = Field(default=16, ge=1)
    ready_max_lag: int = Field(default=1000, ge=0)

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(o.strip() for o in value.split(",") if o.strip())
        return value
