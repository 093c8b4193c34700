"""The interactive API docs at ``/docs``, served whole from this process: no CDN, no network.

FastAPI's own ``/docs`` and ``/redoc`` fetch Swagger UI / ReDoc from a CDN and start it with an
inline script, so they are blank offline and need a looser CSP. Here the Swagger UI files
(Swagger UI 5, which reads the OpenAPI 3.1 that FastAPI writes) come from the static folder of
the ``fastapi-offline`` package (pinned in requirements.lock; only its files are used) at
``/docs/assets/``, and the page starts Swagger UI from a script file of its own, so no inline
script runs.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.staticfiles import StaticFiles

#: Pages that run Swagger UI (the security headers give them their own policy).
PAGES = frozenset({"/docs"})
ASSETS = "/docs/assets"

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>commentfeed ingest API</title>
  <link rel="icon" type="image/png" href="{ASSETS}/favicon.png">
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
  <script src="{ASSETS}/swagger-ui-bundle.js" defer></script>
  <script src="{ASSETS}/start.js" defer></script>
</head>
<body>
  <div id="swagger-ui"></div>
  <noscript>The interactive docs need JavaScript; the API's description is at
    <a href="/openapi.json">/openapi.json</a>.</noscript>
</body>
</html>
"""

# validatorUrl null: Swagger UI would otherwise send the document to an online validator.
_START = """// Starts Swagger UI on this API's own OpenAPI document; everything is served locally.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""


def mount(app: FastAPI) -> None:
    """``/docs`` and its assets; the app is made with ``docs_url=None, redoc_url=None``."""

    @app.get("/docs", include_in_schema=False)
    async def docs_page() -> Response:
        return Response(_PAGE, media_type="text/html; charset=utf-8")

    @app.get(f"{ASSETS}/start.js", include_in_schema=False)
    async def docs_start() -> Response:
        return Response(_START, media_type="text/javascript; charset=utf-8")

    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]),
              name="api-docs-assets")
