"""Odd input gets a 4xx with a reason, never a 5xx (issue 11): ids beyond the INTEGER columns,
digits of other scripts, NUL and lone surrogates — in the API and on the staff pages, on both
database backends. The last test gives every parameter of every API operation each odd value."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from inbox.core.models import Message
from inbox.web.api.paging import encode_cursor
from inbox.web.inputs import MAX_ID
from tests.inbox.web.conftest import DECISION, ApiFor, SignIn, World, decision_in, form_post

BIG = (2**31, 2**63)  # past PostgreSQL's INTEGER; past SQLite's
ODD = (str(2**31), str(2**63), "³", "٣", "a\x00b", "\ud800")


def _refused(response: httpx.Response, status: int = 422) -> str:
    """The reason a refusal gives, after checking it is one."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    return response.text


async def _messages(world: World) -> int:
    async with world.db.sessions() as session:
        return (await session.execute(select(func.count()).select_from(Message))).scalar_one()


async def test_ids_past_the_integer_columns_are_refused_in_the_api(
    world: World, api_for: ApiFor
) -> None:
    api = await api_for("admin", [])
    for big in BIG:
        for method, url in [
            ("GET", f"/api/cases/{world.barn}/messages/{big}/original"),
            ("GET", f"/api/cases/{world.barn}/attachments/{big}"),
            ("POST", f"/api/cases/{world.barn}/messages/{big}/split"),
            ("GET", f"/api/intake/{big}/raw"),
            ("GET", f"/api/decisions/{big}"),
            ("POST", f"/api/decisions/{big}/withdraw"),
        ]:
            reason = _refused(await api.request(method, url))
            assert f"less than or equal to {MAX_ID}" in reason, url
        # A cursor naming such an id is no cursor of ours.
        for path in ("/api/audit", "/api/intake", "/api/tasks"):
            forged = encode_cursor(big) if path != "/api/tasks" else encode_cursor("", 0, "", big)
            assert "invalid cursor" in _refused(await api.get(path, params={"cursor": forged}), 400)
    # The largest id is still asked for, and simply not found.
    assert (await api.get(f"/api/decisions/{MAX_ID}")).status_code == 404


async def test_ids_past_the_integer_columns_are_refused_on_the_staff_pages(
    world: World, as_user: SignIn
) -> None:
    alma = await as_user("alma")
    for big in BIG:
        for url in [
            f"/cases/{world.barn}/messages/{big}/original",
            f"/cases/{world.barn}/attachments/{big}",
            f"/intake/{big}/raw",
            f"/audit?before={big}",
        ]:
            assert f"less than or equal to {MAX_ID}" in _refused(await alma.get(url)), url
        for url in [f"/cases/{world.barn}/messages/{big}/split", f"/templates/{big}/delete"]:
            _refused(await form_post(alma, url, {}))
    # A template id the form carries is a template that exists, or the form is shown again.
    for odd in ("³", "٣", str(2**31), str(2**63), "x"):
        saved = await form_post(alma, "/templates", {"id": odd, "name": "Mall", "body": "Hej"})
        assert "Mallen finns inte." in _refused(saved), odd


@pytest.mark.parametrize("assignee", ["³", "٣", "0", str(2**31), str(2**63)])
async def test_an_assignee_that_is_no_user_id_is_refused_with_400(
    world: World, api_for: ApiFor, as_user: SignIn, assignee: str
) -> None:
    api = await api_for("admin", [])
    for path in ("/api/cases", "/api/counts"):
        reason = _refused(await api.get(path, params={"assignee": assignee}), 400)
        assert "ASCII digits" in reason, path
    page = await (await as_user("alma")).get("/", params={"assignee": assignee})
    assert "Ogiltigt filter" in _refused(page, 400)


async def test_an_assignee_id_in_ascii_digits_still_filters(world: World, api_for: ApiFor) -> None:
    api = await api_for("admin", [])
    karin = await world.user_id("karin")
    patched = await api.patch(f"/api/cases/{world.barn}", json={"assignee": "karin"})
    assert patched.status_code == 200
    listed = (await api.get("/api/cases", params={"assignee": str(karin)})).json()["items"]
    assert [row["reference"] for row in listed] == [world.barn]


async def test_nul_in_a_reply_or_a_note_is_refused_and_nothing_is_stored(
    world: World, api_for: ApiFor, as_user: SignIn
) -> None:
    before = await _messages(world)
    api = await api_for("admin", [])
    reply = await api.post(f"/api/cases/{world.barn}/replies", json={"text": "Hej\x00då"})
    assert '"loc":["body","text"]' in _refused(reply)
    alma = await as_user("alma")
    for action in ("reply", "note"):
        posted = await form_post(alma, f"/cases/{world.barn}/{action}", {"text": "Hej\x00då"})
        assert '"loc":["body","text"]' in _refused(posted), action
    assert await _messages(world) == before


async def test_nul_in_a_path_or_a_query_is_refused_with_422(
    world: World, api_for: ApiFor, as_user: SignIn
) -> None:
    api = await api_for("admin", [])
    assert '"loc":["path","reference"]' in _refused(await api.get("/api/cases/SP%00-2026-1"))
    for path, name in [("/api/cases", "q"), ("/api/cases", "unit"), ("/api/intake", "status")]:
        reason = _refused(await api.get(path, params={name: "a\x00b"}))
        assert f'"loc":["query","{name}"]' in reason, (path, name)
    alma = await as_user("alma")
    assert '"loc":["query","q"]' in _refused(await alma.get("/", params={"q": "a\x00b"}))
    assert '"loc":["body","username"]' in _refused(
        await alma.post("/signin", data={"username": "a\x00", "password": "x"})
    )


async def test_a_lone_surrogate_in_json_is_refused_with_422(world: World, api_for: ApiFor) -> None:
    api = await api_for("admin", [])
    body = json.dumps({"text": "Hej \ud800", "\udc00": 1}).encode()  # escaped: valid JSON
    reply = await api.post(
        f"/api/cases/{world.barn}/replies",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    reason = _refused(reply)
    assert '"loc":["body","text"]' in reason and '"loc":["body","\ufffd"]' in reason


# Every parameter and body field of every API operation, given each odd value in turn ------------

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/cases"): {
        "channel": "phone",
        "subject": "Samtal",
        "text": "Ringde om bemötandet.",
        "kind": "complaint",
        "unit": "vuxen",
        "submitter_role": "client",
        "contact_name": "Anna",
        "contact_email": "anna@example.se",
        "contact_phone": "070-1234567",
        "received_at": "2026-03-10T08:00:00+00:00",
        "acknowledge": False,
    },
    ("PATCH", "/api/cases/{reference}"): {"priority": "high", "assignee": None},
    ("POST", "/api/cases/{reference}/replies"): {"text": "Tack för ditt meddelande."},
    ("POST", "/api/cases/{reference}/merge"): {"into": "{vuxen}"},
    ("POST", "/api/decisions"): {**DECISION, "reference": "BOF-2026-99"},
    ("PUT", "/api/cases/{reference}/secrecy"): {"marked": True, "reason": "26 kap. 1 § OSL"},
    ("PUT", "/api/cases/{reference}/identity"): {"protected": True, "reason": "Orosanmälan"},
    ("POST", "/api/cases/{reference}/consents"): {
        "given_by": "Brukaren",
        "given_to": "Dottern",
        "scope": "Handläggningen",
        "given_on": "2026-03-02",
        "form": "oral",
    },
    ("POST", "/api/cases/{reference}/consents/{consent_id}/revoke"): {"revoked_on": "2026-03-09"},
    ("POST", "/api/cases/{reference}/document-requests"): {
        "requested_by": "Journalist",
        "requested_on": "2026-03-09",
        "documents": "Klagomålet",
        "outcome": "refused",
        "grounds": "26 kap. 1 § OSL",
        "reasoning": "Uppgifter om enskildas personliga förhållanden.",
        "decided_on": "2026-03-10",
        "decided_by": "Registratorn",
    },
}


def _url(world: World, path: str, decision: int, odd: tuple[str, str] | None = None) -> str:
    """`path` naming the `barn` case and the decision (1 for any other id), or `odd`'s value."""
    values = {"reference": world.barn, "decision_id": str(decision)}
    if odd is not None:
        values[odd[0]] = quote(odd[1], safe="")
    url = path
    for name in re.findall(r"{(\w+)}", path):
        url = url.replace("{" + name + "}", values.get(name, "1"))
    return url


def _body(world: World, method: str, path: str, operation: dict[str, Any]) -> dict[str, Any]:
    """A JSON body the operation would take (empty when it takes none)."""
    if "requestBody" not in operation:
        return {}
    assert (method, path) in BODIES, f"add a body for {method} {path} to BODIES"
    return {
        k: v.format(vuxen=world.vuxen) if isinstance(v, str) else v
        for k, v in BODIES[(method, path)].items()
    }


async def test_every_api_parameter_takes_odd_values_without_a_server_error(
    world: World, api_for: ApiFor
) -> None:
    api = await api_for("admin", [])
    decision = await decision_in(world, DECISION)
    sent = 0
    for path, operations in world.app.openapi()["paths"].items():
        for method, operation in operations.items():
            method = method.upper()
            base = _body(world, method, path, operation)
            slots = [(p["in"], p["name"]) for p in operation.get("parameters", [])]
            slots += [("body", name) for name in base]
            for (where, name), odd in itertools.product(slots, ODD):
                if where != "body" and odd == "\ud800":
                    continue  # a URL carries UTF-8, which has no lone surrogates
                url = _url(world, path, decision, (name, odd) if where == "path" else None)
                query = {name: odd} if where == "query" else {}
                body = {**base, name: odd} if where == "body" else base
                response = await api.request(
                    method,
                    url,
                    params=query,
                    # Escaped, so a lone surrogate is sent as valid JSON.
                    content=json.dumps(body).encode() if "requestBody" in operation else None,
                    headers={"Content-Type": "application/json"},
                )
                sent += 1
                assert response.status_code < 500, (method, url, query, body)
                if odd in ("a\x00b", "\ud800"):
                    assert response.status_code == 422, (method, url, query, body)
    assert sent > 300  # every operation was reached
