"""Regression tests for the holes a black-box review found in the JSON API: each one a token
reaching into a unit it was not given, or a role doing what it may not. The route matrix
(`test_route_matrix.py`) holds every route to the rules; these name the holes one by one."""

from __future__ import annotations

from sqlalchemy import select

from inbox.core.db import unit_of_work
from inbox.core.models import Case, IntakeRecord, Message
from tests.inbox.web.conftest import DECISION, ApiFor, World, decision_in


async def _barn_intake_id(world: World) -> int:
    async with unit_of_work(world.db.sessions) as session:
        case = (
            await session.execute(select(Case).where(Case.reference == world.barn))
        ).scalar_one()
        record = (
            await session.execute(select(IntakeRecord).where(IntakeRecord.case_id == case.id))
        ).scalar_one()
        record.raw = b"From: person1@example.se\r\n\r\nOm min son"
        assert record.id is not None
        return record.id


async def _barn_decision(world: World) -> int:
    return await decision_in(world, DECISION)


async def test_the_intake_ledger_is_for_registrars_and_only_of_their_units(
    world: World, api_for: ApiFor
) -> None:
    record_id = await _barn_intake_id(world)
    viewer = await api_for("viewer", ["barn-och-familj"])
    assert (await viewer.get("/api/intake", params={"status": "done"})).status_code == 403
    assert (await viewer.get(f"/api/intake/{record_id}/raw")).status_code == 403
    vuxen = await api_for("registrar", ["vuxen"])
    listed = (await vuxen.get("/api/intake", params={"status": "done"})).json()["items"]
    assert world.barn not in {row["case_reference"] for row in listed}
    assert world.vuxen in {row["case_reference"] for row in listed}
    assert (await vuxen.get(f"/api/intake/{record_id}/raw")).status_code == 404
    barn = await api_for("registrar", ["barn-och-familj"])
    raw = await barn.get(f"/api/intake/{record_id}/raw")
    assert raw.status_code == 200 and b"Om min son" in raw.content


async def test_decisions_of_another_unit_cannot_be_read_registered_or_withdrawn(
    world: World, api_for: ApiFor
) -> None:
    decision_id = await _barn_decision(world)
    vuxen = await api_for("caseworker", ["vuxen"])
    assert (await vuxen.get(f"/api/decisions/{decision_id}")).status_code == 404
    assert (await vuxen.post(f"/api/decisions/{decision_id}/withdraw")).status_code == 404
    other = DECISION | {"reference": "BOF-2026-18", "address": "annan@example.se"}
    assert (await vuxen.post("/api/decisions", json=other)).status_code == 403
    duplicate = await vuxen.post("/api/decisions", json=DECISION)
    assert duplicate.status_code == 403 and str(decision_id) not in duplicate.text
    viewer = await api_for("viewer", ["barn-och-familj"])
    assert (await viewer.post("/api/decisions", json=other)).status_code == 403
    barn = await api_for("caseworker", ["barn-och-familj"])
    shown = await barn.get(f"/api/decisions/{decision_id}")
    assert shown.status_code == 200 and shown.json()["address"] == "klient@example.se"
    assert (await barn.post(f"/api/decisions/{decision_id}/withdraw")).status_code == 200


async def test_a_viewer_token_cannot_register_merge_or_split(world: World, api_for: ApiFor) -> None:
    viewer = await api_for("viewer", ["barn-och-familj"])
    registration = {"channel": "phone", "subject": "Samtal", "text": "Hej", "unit": "vuxen"}
    assert (await viewer.post("/api/cases", json=registration)).status_code == 403
    merge = await viewer.post(f"/api/cases/{world.barn}/merge", json={"into": world.barn})
    assert merge.status_code == 403
    async with world.db.sessions() as session:
        message_id = (
            await session.execute(
                select(Message.id).join(Case).where(Case.reference == world.barn).limit(1)  # type: ignore[arg-type]
            )
        ).scalar_one()
    split = await viewer.post(f"/api/cases/{world.barn}/messages/{message_id}/split")
    assert split.status_code == 403
    async with world.db.sessions() as session:
        assert len((await session.execute(select(Case))).scalars().all()) == 3


async def test_a_unit_limited_caseworker_registers_only_into_their_units(
    world: World, api_for: ApiFor
) -> None:
    karin = await api_for("caseworker", ["barn-och-familj"])
    body = {"channel": "phone", "subject": "Samtal", "text": "Om boendet", "unit": "vuxen"}
    assert (await karin.post("/api/cases", json=body)).status_code == 403
    nowhere = await karin.post("/api/cases", json=body | {"unit": None})
    assert nowhere.status_code == 422  # a case nobody in her units could find again
    ok = await karin.post("/api/cases", json=body | {"unit": "barn-och-familj"})
    assert ok.status_code == 201


async def test_checkin_statistics_and_the_audit_trail_keep_to_the_tokens_units(
    world: World, api_for: ApiFor
) -> None:
    await _barn_decision(world)
    reader = await api_for("admin", ["barn-och-familj"])
    assert (await reader.get(f"/api/cases/{world.barn}")).status_code == 200
    vuxen_admin = await api_for("admin", ["vuxen"])
    stats = (await vuxen_admin.get("/api/checkins/stats")).json()
    assert all(group["unit"] == "vuxen" for group in stats["groups"])
    trail = (await vuxen_admin.get("/api/audit")).json()["items"]
    # Her unit's cases and, as an admin, the cases with no unit yet: never barn-och-familj's.
    assert trail and {e["case"] for e in trail} <= {world.vuxen, world.loose}
    assert (await vuxen_admin.get("/api/audit", params={"case": world.barn})).json()["items"] == []
    barn_admin = await api_for("admin", ["barn-och-familj"])
    barn_stats = (await barn_admin.get("/api/checkins/stats")).json()
    assert {g["unit"] for g in barn_stats["groups"]} == {"barn-och-familj"}
    barn_trail = (await barn_admin.get("/api/audit", params={"case": world.barn})).json()
    assert {"case.read"} <= {e["action"] for e in barn_trail["items"]}
