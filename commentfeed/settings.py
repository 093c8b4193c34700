"""Process settings: one frozen object read from ``COMMENTFEED_*`` environment variables.

Defaults suit the embedded broker (Tansu) on one machine; docker-compose.yml shows the values
for Apache Kafka. Every service reads the same object, so one environment configures a stack.
There is one way to read it: ``Settings()`` at a process's entry point (its CLI command), then
passed down; ``Settings.explicit(...)`` builds one from code alone (tests, generators).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob an operator can turn. Durations carry their unit in the name."""

    model_config = SettingsConfigDict(env_prefix="COMMENTFEED_", frozen=True, extra="ignore")

    # -- message bus -------------------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    #: Partitions of the keyed topics. ``articles`` and ``comments`` must share it (co-partitioned).
    partitions: int = Field(default=4, ge=1, le=1024)
    #: Consumer fetch wait. Tansu holds every Fetch for the full wait even when data is ready, so
    #: the embedded default is tiny; on Apache Kafka 100-500 ms costs nothing and saves requests.
    fetch_wait_ms: int = Field(default=5, ge=0, le=60_000)
    #: After fetches that return nothing, each consumer doubles its fetch wait up to this, and
    #: drops back to ``fetch_wait_ms`` on the first record: an idle consumer then asks a few
    #: times a second instead of every ``fetch_wait_ms``. The first record after a quiet spell
    #: waits up to this long; under load nothing changes. 0 (or <= fetch_wait_ms) disables it.
    fetch_wait_idle_ms: int = Field(default=100, ge=0, le=60_000)
    #: Consumer-group rebalance timeout. Tansu waits all of it on every join.
    rebalance_timeout_ms: int = Field(default=3_000, ge=500)
    #: Idempotent producers need InitProducerId, which Tansu does not implement: on for Kafka.
    idempotent_producer: bool = False
    producer_linger_ms: int = Field(default=1, ge=0)
    #: How long one produce request may wait for the broker (aiokafka's default is 40 s).
    producer_request_timeout_ms: int = Field(default=3_000, ge=100)
    #: How long the ingest API waits for a write's ack (and its directory catch-up) before it
    #: answers 503; under 5 s so a hung broker is reported promptly.
    publish_timeout_ms: int = Field(default=4_000, ge=100)

    # -- ports -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    gateway_port: int = 8765
    ingest_port: int = 8000
    streams_port: int = 6066
    #: Where gateways and the ingest API reach the streams query API; defaults to host:streams_port.
    streams_url: str | None = None
    #: The gateway's websocket URL as browsers reach it (``/config.json`` and the page's CSP).
    #: Defaults to ``ws://HOST:GATEWAY_PORT/ws`` (``localhost`` when HOST is a wildcard). Never
    #: taken from a request's Host header.
    public_gateway_url: str | None = Field(default=None, pattern=r"^wss?://[^\s/?#]+(/\S*)?$")
    #: The ingest API's origin as browsers reach it; empty means the page's own origin.
    public_ingest_url: str | None = Field(default=None, pattern=r"^https?://[^\s/?#]+$")

    # -- security ----------------------------------------------------------------------------
    #: HS256 key the site signs reader tokens with. Required by the ingest API.
    jwt_secret: SecretStr | None = None
    #: Bearer token the CMS uses for article endpoints. Required by the ingest API.
    service_token: SecretStr | None = None
    #: Demo mode turns on the demo login endpoint (and accepts its tokens). Never in production.
    demo_mode: bool = False
    #: When set, reader tokens must carry this ``iss`` / ``aud``.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    #: The longest a reader token may live (``exp`` minus ``iat``, or minus now without ``iat``).
    jwt_max_lifetime_s: int = Field(default=86_400, ge=60)
    #: Origins of the sites that embed the widgets (comma-separated in the environment): the
    #: ingest API and the widget assets answer CORS for them. Unset: any origin.
    allowed_origins: Annotated[tuple[str, ...] | None, NoDecode] = None

    # -- moderation (read by the ingest API: docs/ingest-api.md "Moderation") ------------------
    #: Sites whose every new comment waits for a moderator (``status: "pending"``).
    premoderated_sites: list[str] = Field(default_factory=list)
    #: Articles whose new comments wait for a moderator, whatever their site.
    premoderated_articles: list[str] = Field(default_factory=list)
    #: Site -> words or phrases: a new comment that contains one (whole words, any case) waits
    #: for a moderator. JSON in the environment: ``{"demo": ["spam", "buy now"]}``.
    banned_words: dict[str, list[str]] = Field(default_factory=dict)
    #: Reports (distinct readers) that send a visible comment to its site's moderation queue
    #: (read by the streams worker: docs/protocol.md "Moderation queue").
    report_threshold: int = Field(default=3, ge=1, le=1_000)

    # -- streams -----------------------------------------------------------------------------
    #: Faust table store: ``memory://`` for tests and the demo, ``rocksdb://`` in production.
    table_store: str = "memory://"
    data_dir: str = "./var/streams"
    #: Site served on the bare ``recent`` channel.
    default_site: str = "demo"
    #: How long comment events for an article not published yet wait for it before they go to
    #: ``comments.dlq`` as ``unknown_article`` (docs/operations.md, "Limits of the worker").
    park_grace_s: float = Field(default=60.0, gt=0, le=86_400)
    #: How often the worker looks for parked comments that waited too long, also on partitions
    #: no record reaches any more.
    park_sweep_s: float = Field(default=5.0, gt=0, le=3_600)

    log_level: str = "INFO"

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return comma_list(value)

    @property
    def streams_base_url(self) -> str:
        return self.streams_url or f"http://{self.host}:{self.streams_port}"

    @property
    def gateway_public_url(self) -> str:
        if self.public_gateway_url:
            return self.public_gateway_url
        # A wildcard listen address is no place a browser can connect to.
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"ws://{host}:{self.gateway_port}/ws"

    @classmethod
    def explicit(cls, **values: Any) -> Settings:
        """Settings from ``values`` and the defaults only, whatever the environment holds.

        For tests and generators that must not pick up an operator's ``COMMENTFEED_*``.
        """
        return from_code(cls, **values)


def comma_list(value: object) -> object:
    """A comma-separated environment value as a tuple (lists too); anything else as it is."""
    if isinstance(value, str):
        return tuple(o.strip() for o in value.split(",") if o.strip())
    if isinstance(value, list):
        return tuple(value)
    return value


S = TypeVar("S", bound=BaseSettings)


def from_code(cls: type[S], **values: Any) -> S:
    """A ``cls`` from ``values`` over its defaults, never from the environment.

    Every field is passed to the constructor, so no environment variable fills one in. An
    unknown name is a :class:`TypeError`, as a wrong keyword argument is.
    """
    unknown = sorted(set(values) - set(cls.model_fields))
    if unknown:
        raise TypeError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
    defaults = {name: field.get_default(call_default_factory=True)
                for name, field in cls.model_fields.items()}
    return cls(**{**defaults, **values})
