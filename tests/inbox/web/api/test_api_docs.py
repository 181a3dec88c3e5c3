"""`/docs`: Swagger UI from our own origin under the same CSP as every page, or off by a setting."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from inbox.web.app import create_app
from inbox.web.security import CSP
from tests.conftest import SECRET_KEY, Clock, Database

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


@pytest.fixture
async def client(db: Database, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(sessions=db.sessions, clock=clock, secret_key=SECRET_KEY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


async def test_docs_page_loads_only_our_own_files_and_has_our_csp(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CSP
    page = response.text
    assert "<script>" not in page and "<style" not in page and " on" not in page.lower()
    urls = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert urls and all(url.startswith("/static/") for url in urls), urls
    assert not re.search(r"https?://|//[a-z]", page, re.IGNORECASE)
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200 and asset.content, url
        assert asset.headers["content-security-policy"] == CSP
    scripts = re.findall(r'<script src="([^"]*)"', page)
    assert [s.rsplit("/", 1)[1] for s in scripts] == ["swagger-ui-bundle.js", "docs.js"]
    # The init file names no other origin either (no validator, no CDN).
    init = (await client.get(scripts[-1])).text
    assert "SwaggerUIBundle" in init and not re.search(r"https?://", init)


async def test_openapi_document_describes_the_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/cases" in paths and "/healthz" in paths


async def test_fastapi_own_cdn_pages_are_gone(client: httpx.AsyncClient) -> None:
    assert (await client.get("/redoc")).status_code == 404
    assert (await client.get("/docs/oauth2-redirect")).status_code == 404


async def test_the_setting_turns_docs_and_the_openapi_document_off(
    db: Database, clock: Clock
) -> None:
    app = create_app(sessions=db.sessions, clock=clock, secret_key=SECRET_KEY, api_docs=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404
        assert (await client.get("/static/swagger-ui/swagger-ui-bundle.js")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
