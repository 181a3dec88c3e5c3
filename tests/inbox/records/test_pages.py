"""The records pages: legal hold and rights requests on the case page, and the register extract
at /admin/subject-access (complete for an admin of every unit, that admin's units otherwise)."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
from sqlalchemy import select

from inbox.core.models import AuditEvent
from tests.conftest import Clock, Database
from tests.inbox.web.conftest import build_world, csrf_of, sign_in


async def _client(app: object, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")  # type: ignore[arg-type]
    assert (await sign_in(client, username)).status_code == 303
    return client


async def _post(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    csrf = csrf_of((await client.get("/")).text)
    return await client.post(path, data={**data, "csrf_token": csrf})


async def test_a_registrar_puts_a_case_on_hold_and_takes_it_off(db: Database, clock: Clock) -> None:
    world = await build_world(db, clock)
    client = await _client(world.app, "alma")
    try:
        page = await client.get(f"/cases/{world.barn}")
        assert "Bevara ärendet" in page.text
        done = await _post(client, f"/cases/{world.barn}/hold", {"reason": "Tvist hos IVO"})
        assert done.status_code == 303
        page = await client.get(f"/cases/{world.barn}")
        assert "Bevaras" in page.text and "Tvist hos IVO" in page.text
        empty = await _post(client, f"/cases/{world.vuxen}/hold", {"reason": "  "})
        assert empty.status_code == 422 and "Ange skälet" in empty.text
        off = await _post(client, f"/cases/{world.barn}/hold", {"action": "remove"})
        assert off.status_code == 303
    finally:
        await client.aclose()
    case = await world.case(world.barn)
    assert case.hold_reason is None
    async with db.sessions() as session:
        actions = (
            (await session.execute(select(AuditEvent.action).where(AuditEvent.case_id == case.id)))
            .scalars()
            .all()
        )
    assert "case.hold" in actions and "case.hold_removed" in actions


async def test_a_rights_request_is_recorded_on_the_case(db: Database, clock: Clock) -> None:
    world = await build_world(db, clock)
    client = await _client(world.app, "karin")
    try:
        done = await _post(
            client,
            f"/cases/{world.barn}/rights-requests",
            {
                "kind": "erasure",
                "requested_by": "Avsändaren",
                "requested_on": "2026-03-09",
                "request": "Ta bort mitt mejl.",
                "response": "",
            },
        )
        assert done.status_code == 303
        page = await client.get(f"/cases/{world.barn}")
        assert "Ta bort mitt mejl." in page.text and "artikel 17.3 b" in page.text
    finally:
        await client.aclose()


def _zip(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text[:200]
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        assert "sammanfattning.html" in z.namelist()
        data: dict[str, object] = json.loads(z.read("data.json"))
    return data


async def test_the_admin_page_gives_the_extract_as_a_zip(db: Database, clock: Clock) -> None:
    world = await build_world(db, clock)
    form = {"kind": "email", "address": "Person1@example.se", "requested_by": "Brev 2026-03-01"}
    alma, ada = await _client(world.app, "alma"), await _client(world.app, "ada")
    try:
        assert "Registerutdrag" in (await alma.get("/admin/subject-access")).text
        whole = _zip(await _post(alma, "/admin/subject-access", form))
        partial = _zip(await _post(ada, "/admin/subject-access", form))  # mottagning only
        bad = await _post(alma, "/admin/subject-access", {**form, "address": "person1"})
    finally:
        await alma.aclose()
        await ada.aclose()
    assert whole["complete"] is True
    assert [c["reference"] for c in whole["cases"]] == [world.barn]  # type: ignore[index,union-attr]
    assert partial["complete"] is False and partial["cases"] == []
    assert bad.status_code == 422 and "giltig e-postadress" in bad.text
    async with db.sessions() as session:
        events = (
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.action == "subject_access.produced")
                )
            )
            .scalars()
            .all()
        )
    assert len(events) == 2
    assert {e.detail["requested_by"] for e in events} == {"Brev 2026-03-01"}
