"""The gateway's own knobs, their defaults and their documentation: one frozen object.

Ports, the broker, topic names, the streams API URL and the allowed origins (one list for
the gateway's ``Origin`` check and the ingest API's CORS) come from the shared
:class:`commentfeed.settings.Settings`; this class holds what only a gateway has: websocket
options, limits, resume history. Each field is written once, here: :func:`gateway.server.serve`
takes the same names as keyword arguments, and the limits the pure core enforces take their
defaults from :class:`gateway.core.Limits` and :class:`gateway.core.Config`.

``GatewaySettings()`` reads ``COMMENTFEED_GATEWAY_*`` environment variables; a limit set to
``none`` there is disabled (``COMMENTFEED_GATEWAY_MAX_CONNECTIONS=none``), as ``None`` is in
code. :meth:`GatewaySettings.of` takes values from code only.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from commentfeed.settings import comma_list, from_code
from gateway.core import Config, Limits

_LIMITS = Limits()
_CONFIG = Config()


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMENTFEED_GATEWAY_", frozen=True,
                                      extra="ignore", env_parse_none_str="none")

    # -- websocket ---------------------------------------------------------------------------
    #: ``deflate`` turns permessage-deflate on; it costs memory and CPU per connection.
    compression: Literal["none", "deflate"] = "none"
    #: Protocol pings, and how long a pong may take.
    ping_interval_s: float | None = Field(default=20.0, gt=0)
    ping_timeout_s: float | None = Field(default=20.0, gt=0)
    #: How long a closing handshake may take before the TCP connection is dropped.
    close_timeout_s: float = Field(default=5.0, gt=0)

    # -- limits ------------------------------------------------------------------------------
    #: Connections of this process; more are closed with 4002.
    max_connections: int | None = Field(default=20_000, ge=1)
    #: Connections from one client address (see ``trusted_proxies``); more are closed with
    #: 4004. Behind a balancer that forwards no client address, set none.
    max_connections_per_address: int | None = Field(default=500, ge=1)
    #: Peer addresses (load balancers; comma-separated in the environment) whose last
    #: ``X-Forwarded-For`` entry is taken as the client's address.
    trusted_proxies: Annotated[tuple[str, ...] | None, NoDecode] = None
    #: Larger client frames close the connection with 1009.
    max_frame_bytes: int | None = Field(default=4096, ge=64)
    #: Subscriptions per connection.
    max_subscriptions: int | None = Field(default=_LIMITS.max_subscriptions, ge=1)
    #: A token bucket per connection: sustained requests per second...
    ops_per_s: float | None = Field(default=_LIMITS.ops_per_s, gt=0)
    #: ...and the burst on top: above max_subscriptions, so a listing page or a resuming
    #: client can (re)subscribe at once.
    ops_burst: int = Field(default=_LIMITS.ops_burst, ge=1)
    #: This many error frames within ``error_window_s`` close the connection with 4001.
    max_errors: int | None = Field(default=_LIMITS.max_errors, ge=1)
    error_window_s: float = Field(default=_LIMITS.error_window_s, gt=0)
    #: Unsent bytes to one client above which it is closed with 4000 (it resumes later).
    slow_consumer_bytes: int | None = Field(default=1 << 20, ge=1024)
    #: Streams API requests (cold subscribes, history pages) one connection may have
    #: running; more wait their turn, connections taking turns.
    upstream_in_flight_per_connection: int | None = Field(
        default=_LIMITS.upstream_in_flight_per_connection, ge=1)
    #: ``history`` requests one connection may have waiting or running; more get
    #: ``rate_limited``.
    history_pending: int | None = Field(default=_LIMITS.history_pending, ge=1)

    # -- resume history and channels ---------------------------------------------------------
    #: Resume history per channel: at most this many updates, each at most this old.
    history_size: int = Field(default=_CONFIG.history_size, ge=0)
    history_ttl_s: float | None = Field(default=_CONFIG.history_ttl_s, gt=0)
    #: A channel nobody subscribes to is forgotten after this long...
    channel_idle_s: float = Field(default=_CONFIG.channel_idle_s, ge=0)
    #: ...and at most this many such channels are kept (the longest idle goes first).
    max_idle_channels: int | None = Field(default=_CONFIG.max_idle_channels, ge=0)

    # -- upstream ----------------------------------------------------------------------------
    #: Newest comments in an article snapshot (the streams API's ``limit``).
    snapshot_comments: int = Field(default=_CONFIG.snapshot_comments, ge=1, le=100)
    #: Streams API request timeout.
    upstream_timeout_s: float = Field(default=5.0, gt=0)
    #: Streams API requests running at once in the process; more wait their turn. Keep it:
    #: unbounded, thousands of cold subscribes queue in the HTTP pool and wedge the loop.
    upstream_in_flight: int | None = Field(default=_CONFIG.upstream_in_flight, ge=1)
    #: ``/readyz`` fails while the ``feed.updates`` consumer is more records behind.
    ready_max_lag: int = Field(default=1000, ge=0)

    # -- presence ("N reading now") ----------------------------------------------------------
    #: A changed viewer count of an article is reported at most this often (``gateway.presence``).
    presence_interval_s: float = Field(default=2.0, gt=0)
    #: How long the streams count a report; every article with viewers is reported again each
    #: third of it, so a killed gateway's viewers vanish within it.
    presence_ttl_s: float = Field(default=30.0, ge=3, le=3600)
    #: Reports sent per second at most; the others wait their turn (changes first).
    presence_max_reports: int = Field(default=1000, ge=1)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        return comma_list(value)

    @classmethod
    def of(cls, **values: Any) -> GatewaySettings:
        """The defaults with ``values`` over them, whatever the environment holds."""
        return from_code(cls, **values)

    def core_config(self, default_site: str) -> Config:
        """The pure core's configuration: each of its knobs that is a field here."""
        values = self.model_dump()
        limits = Limits(**{f.name: values[f.name] for f in fields(Limits)})
        return Config(default_site=default_site, limits=limits,
                      **{f.name: values[f.name] for f in fields(Config) if f.name in values})
