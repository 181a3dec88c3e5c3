"""The API of the list's search, filters and counts; registration, merge, split; the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from inbox.core.db import unit_of_work
from inbox.core.models import Role
from inbox.staff.tokens import create_token
from inbox.web.app import create_app
from tests.conftest import SECRET_KEY, Clock, Database
from tests.factories import mail, take


@pytest.fixture
async def admin_token(db: Database, clock: Clock) -> str:
    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(
            session, name="admin", now=clock(), role=Role.ADMIN, all_units=True
        )
    return token


@pytest.fixture
async def api(db: Database, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(session, name="test", now=clock(), all_units=True)
    app = create_app(secret_key=SECRET_KEY, sessions=db.sessions, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


@pytest.mark.parametrize("number", ["19811218-9876", "811218-9876", "198112189876", "8112189876"])
async def test_list_masks_every_form_of_personnummer(
    api: httpx.AsyncClient, db: Database, clock: Clock, number: str
) -> None:
    await take(db, mail(1, subject=f"Om {number}", text=f"Mitt nummer är {number}."), clock)
    [item] = (await api.get("/api/cases")).json()["items"]
    assert "9876" not in item["subject"] + item["preview"]
    assert item["preview"].startswith("Mitt nummer är ") and "****" in item["preview"]


async def test_list_search_filters_and_counts(
    api: httpx.AsyncClient, db: Database, clock: Clock
) -> None:
    await take(db, mail(1, subject="Hemtjänsten", text="Kom aldrig."), clock)
    clock.advance(minutes=1)
    await take(db, mail(2, sender="b@example.se", subject="Beröm", text="Bra bemötande."), clock)
    found = (await api.get("/api/cases", params={"q": "bemötande"})).json()["items"]
    assert [i["reference"] for i in found] == ["SP-2026-0002"]
    unassigned = (await api.get("/api/cases", params={"assignee": "unassigned"})).json()
    assert len(unassigned["items"]) == 2
    flagged = await api.get("/api/cases", params=[("flag", "lex_sarah"), ("flag", "automated")])
    assert flagged.json()["items"] == []
    counts = (await api.get("/api/counts", params={"q": "hemtjänsten"})).json()
    assert counts == {"new": 1, "open": 0, "waiting": 0, "closed": 0}
    for params in ({"status": "öppen"}, {"flag": "vip"}, {"kind": "x"}):
        bad = await api.get("/api/cases", params=params)
        assert bad.status_code == 400 and "unknown" in bad.json()["detail"]
    assert (await api.get("/api/counts", params={"flag": "vip"})).status_code == 400


async def test_register_merge_split_and_audit(
    api: httpx.AsyncClient, db: Database, clock: Clock, admin_token: str
) -> None:
    created = await api.post(
        "/api/cases",
        json={"channel": "phone", "subject": "Samtal", "text": "Om färdtjänsten", "unit": "vuxen"},
    )
    assert created.status_code == 201 and created.json()["reference"] == "SP-2026-0001"
    assert created.headers["location"] == "/api/cases/SP-2026-0001"
    refused = await api.post("/api/cases", json={"channel": "fax", "subject": "x", "text": "y"})
    assert refused.status_code == 422 and "Okänd kanal" in refused.json()["detail"]

    await take(db, mail(1, subject="Färdtjänst", text="Bilen kom inte."), clock)
    second = await take(db, mail(2, subject="Re: [SP-2026-0002] x", text="Ny sak."), clock)
    split = await api.post(f"/api/cases/SP-2026-0002/messages/{second.message_id}/split")
    assert split.status_code == 201 and split.json()["reference"] == "SP-2026-0003"
    again = await api.post(f"/api/cases/SP-2026-0002/messages/{second.message_id}/split")
    assert again.status_code == 409

    merged = await api.post("/api/cases/sp-2026-0003/merge", json={"into": "SP-2026-0002"})
    assert merged.json() == {
        "reference": "SP-2026-0003",
        "merged_into": "SP-2026-0002",
        "messages_moved": 1,
        "move_id": split.json()["move_id"] + 1,
    }
    into_self = await api.post("/api/cases/SP-2026-0002/merge", json={"into": "SP-2026-0002"})
    assert into_self.status_code == 409 and "sig självt" in into_self.json()["detail"]
    missing = await api.post("/api/cases/SP-2026-0002/merge", json={"into": "SP-2026-9999"})
    assert missing.status_code == 404

    assert (await api.get("/api/audit", params={"case": "SP-2026-0003"})).status_code == 403
    admin = {"Authorization": f"Bearer {admin_token}"}
    page = await api.get("/api/audit", params={"case": "sp-2026-0003", "limit": 1}, headers=admin)
    body = page.json()
    assert [e["action"] for e in body["items"]] == ["case.merged"]
    rest = await api.get(
        "/api/audit",
        params={"case": "SP-2026-0003", "cursor": body["next_cursor"]},
        headers=admin,
    )
    assert [e["action"] for e in rest.json()["items"]] == ["case.created"]
    assert rest.json()["next_cursor"] is None


async def test_a_merge_and_a_split_are_undone_through_the_api(
    api: httpx.AsyncClient, db: Database, clock: Clock
) -> None:
    """The move's id comes with the merge or split; either case undoes it, once, within the
    window and while neither changed: as on the case page (tests/inbox/cases/test_undo_moves.py
    has every rule of the undo itself)."""
    await take(db, mail(1, subject="Färdtjänst", text="Bilen kom inte."), clock)
    second = await take(db, mail(2, subject="Re: [SP-2026-0001] x", text="Ny sak."), clock)
    split = await api.post(f"/api/cases/SP-2026-0001/messages/{second.message_id}/split")
    assert split.status_code == 201, split.text
    move = split.json()["move_id"]
    # From the new case, as from the old: back on SP-2026-0001, and the new case removed.
    undone = await api.post(f"/api/cases/SP-2026-0002/moves/{move}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json() == {"kind": "split", "reference": "SP-2026-0001", "other": None}
    assert (await api.get("/api/cases/SP-2026-0002")).status_code == 404
    again = await api.post(f"/api/cases/SP-2026-0001/moves/{move}/undo")
    assert again.status_code == 409 and "redan ångrad" in again.json()["detail"]

    await take(db, mail(3, subject="Något annat", text="Hej."), clock)
    merged = await api.post("/api/cases/SP-2026-0003/merge", json={"into": "SP-2026-0001"})
    move = merged.json()["move_id"]
    assert (await api.post(f"/api/cases/SP-2026-0001/moves/{move + 1}/undo")).status_code == 404
    clock.advance(minutes=16)  # past the window
    late = await api.post(f"/api/cases/SP-2026-0001/moves/{move}/undo")
    assert late.status_code == 409 and "inte ångras längre" in late.json()["detail"]
    kept = (await api.get("/api/cases/SP-2026-0001")).json()
    assert "Något annat" in [m["subject"] for m in kept["messages"]]  # still merged
