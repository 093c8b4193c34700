"""The one exception tree of commentfeed: every error raised on purpose descends from
:class:`CommentfeedError`. The classes defined here are shared; the services add their own
beside the code that raises them (module in brackets).

    CommentfeedError
    ├── EventDecodeError        bytes that are not a valid event (``field``)
    ├── PublishError            a produce that failed (``retriable``)
    │   └── PublishBatchError   some events of a batch failed          [producers.publisher]
    ├── BrokerError             the embedded broker could not start or be reached
    ├── StackError              a service of the dev stack did not start   [commentfeed.stack]
    ├── HttpError               a refused HTTP request (``status``, ``code``, ``headers``)
    │   └── QueryError          a malformed streams query API request      [streams.queries]
    ├── AuthError               a credential that proves nothing (``code``)   [producers.auth]
    ├── IdempotencyKeyReused    a key reused with another body       [producers.idempotency]
    ├── EventInputError         CLI input that makes no valid event  [producers.event_input]
    ├── IngestConfigError       settings the ingest API cannot run with      [producers.app]
    ├── NotReady                streams tables recovering or moving           [streams.views]
    └── GatewayError            the gateway's own                        [gateway.exceptions]
        ├── FrameError          a client frame the protocol refuses (``code``)
        ├── BadUpdateError      a ``feed.updates`` record the gateway cannot use
        └── UpstreamError       no usable answer from the streams query API (``retriable``)

Callers branch on attributes (``retriable``, ``field``, ``status``, ``code``), never on message
text.
"""

from __future__ import annotations


class CommentfeedError(Exception):
    """Root of every error commentfeed raises on purpose."""


class EventDecodeError(CommentfeedError):
    """Raised when bytes do not decode to a valid event.

    ``reason`` is a short machine-friendly code (``invalid_json``, ``invalid_event``,
    ``unknown_type``, ``too_large``), ``field`` the dotted path of the first bad field
    (``None`` when the problem is not a field), ``raw`` the original bytes.
    """

    def __init__(self, reason: str, message: str, *, field: str | None, raw: bytes) -> None:
        where = f" at {field!r}" if field else ""
        super().__init__(f"{reason}{where}: {message}")
        self.reason = reason
        self.field = field
        self.raw = raw
        self.detail = message


class PublishError(CommentfeedError):
    """A publish that did not reach the broker; ``retriable`` says whether retrying is safe."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class BrokerError(CommentfeedError):
    """The embedded broker failed to start, answer or create topics."""


class HttpError(CommentfeedError):
    """A request an HTTP service refuses: ``status`` to answer with, ``code`` the reason.

    ``detail`` is for people; ``headers`` go on the response (``Retry-After``,
    ``WWW-Authenticate``). The body is ``{"code": ..., "detail": ...}``.
    """

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
