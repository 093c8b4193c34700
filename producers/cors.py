"""Cross-origin access for the sites that embed the widgets.

Two things a page on another origin needs from this server: the widget modules and styles
(module scripts are fetched in CORS mode, so without CORS headers they never load), and the
ingest API (posting, voting, editing: JSON bodies and a bearer token, so every call is
preflighted). Both answer CORS for ``COMMENTFEED_ALLOWED_ORIGINS``; unset, for any origin.
Credentials (cookies) are never involved: readers authenticate with a bearer token.

The widget assets are also served at a versioned path, ``/widgets/<version>/``, with
long-lived immutable caching: a release changes the version, so a cached copy is never stale.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from commentfeed import __version__

#: Where the widget assets live for embedding sites: immutable, so the version is in the path.
WIDGETS_PATH = f"/widgets/{__version__}"
#: One year: the longest lifetime caches honour.
IMMUTABLE = "public, max-age=31536000, immutable"
#: What a cross-origin page may send to the ingest API.
METHODS = ("GET", "POST", "PATCH", "DELETE")
HEADERS = ("Authorization", "Content-Type", "Idempotency-Key")
#: What it may read back: rate-limit answers say when to retry.
EXPOSED = ("Retry-After",)
#: How long a browser may reuse a preflight answer, in seconds.
PREFLIGHT_MAX_AGE = 600


class ImmutableFiles(StaticFiles):
    """Static files that never change under their URL."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = IMMUTABLE
        return response


def mount_widgets(app: FastAPI, package: tuple[str, str]) -> None:
    """Serve the widget assets of ``package`` (a package and folder) at ``WIDGETS_PATH``."""
    app.mount(WIDGETS_PATH, ImmutableFiles(packages=[package]), name="widgets")


def add_cors(app: FastAPI, allowed_origins: tuple[str, ...] | None) -> None:
    """CORS on every response of ``app`` for ``allowed_origins`` (``None``: any origin)."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(allowed_origins) if allowed_origins is not None else ["*"],
        allow_methods=list(METHODS),
        allow_headers=list(HEADERS),
        expose_headers=list(EXPOSED),
        allow_credentials=False,
        max_age=PREFLIGHT_MAX_AGE,
    )
