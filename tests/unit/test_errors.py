"""One exception tree: every error the project raises on purpose descends from CommentfeedError,
and the tree drawn in commentfeed/errors.py names each of them."""

from __future__ import annotations

import importlib
import inspect

from commentfeed import errors
from commentfeed.errors import CommentfeedError, HttpError

#: Every module that defines exceptions callers may catch.
MODULES = [
    "commentfeed.errors", "commentfeed.stack", "producers.app", "producers.auth",
    "producers.event_input", "producers.idempotency", "producers.publisher", "producers.rules",
    "streams.queries", "streams.views", "gateway.exceptions",
]


def _public_errors() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == name and not attr.startswith("_")):
                found[attr] = value
    return found


def test_every_public_error_joins_the_one_tree() -> None:
    found = _public_errors()
    assert len(found) >= 15
    outside = [name for name, cls in found.items() if not issubclass(cls, CommentfeedError)]
    assert outside == []


def test_the_tree_in_the_docstring_names_every_public_error() -> None:
    drawn = errors.__doc__ or ""
    missing = [name for name in _public_errors() if name not in drawn]
    assert missing == []


def test_an_http_error_carries_what_the_response_needs() -> None:
    exc = HttpError(503, "not_ready", "catching up", {"Retry-After": "1"})
    assert (exc.status, exc.code, exc.detail, exc.headers) == (
        503, "not_ready", "catching up", {"Retry-After": "1"})
    assert HttpError(404, "unknown", "no such thing").headers == {}
