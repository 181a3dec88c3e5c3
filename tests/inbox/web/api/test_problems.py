"""Every refusal of the API is problem details (RFC 9457), as the OpenAPI document declares; the
staff pages keep their HTML error page."""

from __future__ import annotations

from typing import Any

import httpx

from inbox.web.api.problems import MEDIA_TYPE
from tests.inbox.web.conftest import ApiFor, SignIn, World

KEYS = {"type", "title", "status", "detail", "instance"}


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert KEYS <= set(body) <= KEYS | {"errors"}, body
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["instance"] == response.request.url.path
    return body


async def test_refusals_of_the_api_are_problem_details(world: World, api_for: ApiFor) -> None:
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app), base_url="http://t")
    async with anonymous:
        unauthorized = await anonymous.get("/api/cases")
        assert _problem(unauthorized, 401)["title"] == "Unauthorized"
        assert unauthorized.headers["www-authenticate"] == "Bearer"
        too_large = await anonymous.post(
            "/api/cases", content=b"{}", headers={"Content-Length": str(10**9)}
        )
        assert _problem(too_large, 413)["title"] == "Content Too Large"
    viewer = await api_for("viewer", [])
    forbidden = await viewer.post(f"/api/cases/{world.barn}/replies", json={"text": "Hej"})
    assert _problem(forbidden, 403)["title"] == "Forbidden"
    assert _problem(await viewer.get("/api/cases/SP-2026-9999"), 404)["detail"] == "No such case"
    assert _problem(await viewer.get("/api/no-such-thing"), 404)["title"] == "Not Found"
    assert _problem(await viewer.get("/api/cases", params={"status": "x"}), 400)["detail"] == (
        "unknown status 'x'"
    )
    assert _problem(await viewer.get("/api/cases", params={"channel": "fax"}), 400)["detail"] == (
        "unknown channel 'fax'"
    )


async def test_malformed_input_names_each_field_in_errors(world: World, api_for: ApiFor) -> None:
    api = await api_for("admin", [])
    malformed = _problem(await api.get("/api/cases", params={"limit": 0, "q": "x" * 501}), 422)
    assert sorted(e["loc"] for e in malformed["errors"]) == [["query", "limit"], ["query", "q"]]
    assert malformed["detail"].startswith("query.") and malformed["detail"].endswith("(and 1 more)")
    # A value the core refuses is named the same way as one FastAPI refuses.
    triage = _problem(await api.patch(f"/api/cases/{world.barn}", json={"kind": "bogus"}), 422)
    assert [e["loc"] for e in triage["errors"]] == [["body", "kind"]]
    # A refusal the core explains in a sentence has no `errors`.
    refused = await api.post("/api/cases", json={"channel": "fax", "subject": "S", "text": "T"})
    assert "errors" not in _problem(refused, 422)


async def test_the_staff_pages_keep_their_html_error_page(world: World, as_user: SignIn) -> None:
    alma = await as_user("alma")
    missing = await alma.get("/cases/SP-2026-9999", headers={"Accept": "text/html"})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "<h1>Finns inte</h1>" in missing.text and "Ärendet finns inte." in missing.text
    # A client of the page that does not take HTML gets the same refusal as problem details.
    _problem(await alma.get("/cases/SP-2026-9999", headers={"Accept": "application/json"}), 404)


def test_the_openapi_document_declares_the_refusals_as_problems(world: World) -> None:
    document = world.app.openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document["paths"].items():
        if not path.startswith("/api"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"401", "403", "413", "422"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status.startswith("4"):
                    assert response["content"] == problem, (method, path, status)
                else:  # every answer is typed: a model, or a download's media types
                    assert response["content"], (method, path, status)
            if "{" in path:
                assert "404" in responses, (method, path)
    original = document["paths"]["/api/cases/{reference}/messages/{message_id}/original"]["get"]
    assert set(original["responses"]["200"]["content"]) == {"message/rfc822", "application/json"}
    for operation in document["paths"]["/api/decisions/{decision_id}"].values():
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/DecisionOut"}
