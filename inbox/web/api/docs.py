"""`/docs`: the API's Swagger UI, served from our own origin under the same CSP as every page.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script, which our CSP
(rightly) refuses. Here the Swagger UI files come from the `fastapi-offline` package (Swagger UI
5.x, Apache-2.0) under `/static/swagger-ui/`, and `static/docs.js` starts it. ReDoc is not
offered: it injects `<style>` elements, which the CSP refuses too.
"""

from __future__ import annotations

import html
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"
ASSETS = "/static/swagger-ui"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<main id="swagger-ui" data-openapi-url="{openapi_url}"></main>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""


def add_api_docs(app: FastAPI) -> None:
    """Serves Swagger UI at `/docs` for the app's OpenAPI document; call before mounting /static."""
    assert app.openapi_url, "the API documentation needs the OpenAPI document"
    page = _PAGE.format(
        title=html.escape(f"{app.title} API"),
        assets=ASSETS,
        openapi_url=html.escape(app.openapi_url),
    )
    # Mounted ahead of /static, which would otherwise take the whole path.
    app.mount(ASSETS, StaticFiles(directory=SWAGGER_UI), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)
