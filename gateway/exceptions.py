"""Errors the gateway raises on purpose.

    CommentfeedError                 (commentfeed.errors)
    └── GatewayError
        ├── FrameError        a client frame the protocol refuses; ``code`` is the error code
        │                     sent back, ``request_id`` the request's ``id`` when it had one
        ├── BadUpdateError    a ``feed.updates`` record the gateway cannot use (skipped, counted)
        └── UpstreamError     the streams query API gave no usable answer; ``retriable``,
                              ``status`` (its HTTP status, when it answered)

Callers branch on attributes (``code``, ``retriable``), never on message text. None of these
ever reaches a client as an exception: the core turns a :class:`FrameError` into an error frame,
the server logs and counts the others.
"""

from __future__ import annotations

from commentfeed.errors import CommentfeedError


class GatewayError(CommentfeedError):
    """Root of the gateway's own errors."""


class FrameError(GatewayError):
    """A client frame refused by the protocol.

    ``code`` is one of the error codes of docs/protocol.md (``bad_json``, ``bad_request``,
    ``bad_channel``); ``request_id`` is the frame's valid ``id`` or ``None``.
    """

    def __init__(self, code: str, message: str, *, request_id: int | str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


class BadUpdateError(GatewayError):
    """A ``feed.updates`` record that is not a usable channel update."""


class UpstreamError(GatewayError):
    """The streams query API did not answer usefully; ``retriable`` says whether to try again.

    ``status`` is the HTTP status it answered with (``None``: it answered 200 with a body the
    gateway cannot use).
    """

    def __init__(self, message: str, *, retriable: bool = True,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.status = status
