"""The register extract (GDPR art. 15): one person's contacts, cases, own messages with their
attachments, notes and answers on their cases, and the audit trail of their cases — and nothing
of anyone else's, even where cases were merged across the two of them."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.cases.merging import merge_cases
from inbox.cases.replies import add_note, add_reply
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case, RightsRequest
from inbox.records.subject_access import (
    EXTRACT_ACTION,
    Subject,
    SubjectError,
    extract_zip,
    gather,
    phone_key,
    record_extract,
    record_rights_request,
)
from inbox.web.pages.records import summary_html
from tests.conftest import Clock, Database
from tests.factories import synpunkt
from tests.inbox.records.conftest import make_case

ANNA, BERTIL = "anna@example.se", "bertil@example.se"
STAFF = Actor(name="user:1")  # no staff row: the messages name no author


async def _history(db: Database, clock: Clock) -> dict[str, Case]:
    """Anna's and Bertil's cases, with one message of each merged into a case of the other."""
    at = datetime(2026, 2, 2, 9, tzinfo=UTC)
    cases = {
        "anna": await make_case(db, clock, 1, sender=ANNA, at=at),
        "bertil": await make_case(db, clock, 2, sender=BERTIL, at=at),
        "bertil_host": await make_case(db, clock, 3, sender=BERTIL, at=at),
        "anna_guest": await make_case(db, clock, 4, sender="Anna@Example.se", at=at),
        "anna_host": await make_case(db, clock, 5, sender=ANNA, at=at),
        "bertil_guest": await make_case(db, clock, 6, sender=BERTIL, at=at),
    }
    async with unit_of_work(db.sessions) as session:
        loaded = {k: await session.get(Case, c.id) for k, c in cases.items()}
        for source, target in (("anna_guest", "bertil_host"), ("bertil_guest", "anna_host")):
            s, t = loaded[source], loaded[target]
            assert s is not None and t is not None
            await merge_cases(session, source=s, target=t, actor=STAFF, now=clock())
        anna = loaded["anna"]
        assert anna is not None
        await add_note(
            session, case=anna, text="Ringde Anna om hennes klagomål.", actor=STAFF, now=clock()
        )
        await add_reply(
            session,
            case=anna,
            text="Tack för ditt klagomål, vi återkommer.",
            actor=STAFF,
            now=clock(),
            mail_domain="synpunkt.example",
        )
    return cases


async def test_the_extract_holds_all_of_hers_and_none_of_anyone_elses(
    db: Database, clock: Clock
) -> None:
    cases = await _history(db, clock)
    async with unit_of_work(db.sessions) as session:
        extract = await gather(session, Subject.of("email", " ANNA@example.se "), now=clock())
        record_extract(session, extract, requested_by="Anna själv, brev", actor=STAFF)
    data = json.loads(json.dumps(extract.data, default=str))
    html = summary_html(extract, organisation="Socialnämnden i Exempelby")
    blob = extract_zip(extract, html)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        names = set(z.namelist())
        in_zip = json.loads(z.read("data.json"))
        summary = z.read("sammanfattning.html").decode()

    assert [c["address"] for c in data["contacts"]] == [ANNA]
    by_ref = {c["reference"]: c["role"] for c in data["cases"]}
    assert by_ref == {
        cases["anna"].reference: "contact",
        cases["anna_host"].reference: "contact",
        cases["anna_guest"].reference: "contact",  # merged away: still her case, now empty
        cases["bertil_host"].reference: "wrote a message",  # her message merged into his case
    }
    texts = [(m["case"], m["direction"], m["subject"]) for m in data["messages"]]
    assert (cases["anna"].reference, "inbound", "Synpunkt 1") in texts
    assert (cases["anna_host"].reference, "inbound", "Synpunkt 5") in texts
    assert (cases["bertil_host"].reference, "inbound", "Synpunkt 4") in texts
    assert (cases["anna"].reference, "note", "") in texts
    assert any(m["direction"] == "outbound" and m["recipient"] == ANNA for m in data["messages"])
    subjects = {m["subject"] for m in data["messages"]}
    assert not subjects & {"Synpunkt 2", "Synpunkt 3", "Synpunkt 6"}  # Bertil's, merged or not
    attachments = {n for n in names if n.startswith("bilagor/")}
    assert {n.rsplit("-", 1)[-1] for n in attachments} == {f"bilaga_{n}.pdf" for n in (1, 4, 5)}
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        for name in attachments:
            assert z.read(name) in {b"%PDF-\x01", b"%PDF-\x04", b"%PDF-\x05"}
    assert BERTIL not in json.dumps(in_zip) and BERTIL not in summary
    assert cases["bertil"].reference not in json.dumps(in_zip)
    assert {e["case"] for e in data["audit_events"]} <= {
        cases["anna"].reference,
        cases["anna_host"].reference,
        cases["anna_guest"].reference,
    }
    assert "Registerutdrag enligt artikel 15" in summary and "Socialnämnden i Exempelby" in summary
    assert "Ringde Anna om hennes klagomål." in summary
    async with db.sessions() as session:
        [event] = (
            (await session.execute(select(AuditEvent).where(AuditEvent.action == EXTRACT_ACTION)))
            .scalars()
            .all()
        )
    assert event.actor == "user:1" and event.detail["requested_by"] == "Anna själv, brev"
    assert event.detail["subject"] == {"kind": "email", "value": ANNA}
    assert event.detail["counts"]["messages"] == len(data["messages"])


async def test_an_extract_about_someone_unknown_is_empty(db: Database, clock: Clock) -> None:
    await _history(db, clock)
    async with db.sessions() as session:
        extract = await gather(session, Subject.of("email", "cecilia@example.se"), now=clock())
    assert extract.counts() == dict.fromkeys(extract.counts(), 0)
    assert extract.files == {}


def test_addresses_are_normalised_and_bad_ones_refused() -> None:
    assert Subject.of("email", " Anna@Example.SE").value == ANNA
    assert phone_key("+46 70-123 45 67") == phone_key("070 123 45 67") == "0701234567"
    assert phone_key("0046701234567") == "0701234567"
    assert Subject.of("telegram", " 12345 ").value == "12345"
    for kind, value in (("email", "anna"), ("telegram", "@anna"), ("phone", "12"), ("fax", "1")):
        with pytest.raises(SubjectError):
            Subject.of(kind, value)


async def test_erasure_is_refused_with_the_reason_and_the_appeal(
    db: Database, clock: Clock
) -> None:
    cases = await _history(db, clock)
    async with unit_of_work(db.sessions) as session:
        case = await session.get(Case, cases["anna"].id)
        assert case is not None
        row = await record_rights_request(
            session,
            case=case,
            kind="erasure",
            requested_by="Anna",
            requested_on=clock().date(),
            request="Radera allt om mig.",
            response=None,
            organisation="Socialnämnden i Exempelby",
            actor=STAFF,
            now=clock(),
        )
        with pytest.raises(SubjectError):
            await record_rights_request(
                session,
                case=case,
                kind="rectification",
                requested_by="Anna",
                requested_on=clock().date(),
                request="Fel namn.",
                response="",
                organisation="x",
                actor=STAFF,
                now=clock(),
            )
    for phrase in (
        "allmänna handlingar",
        "arkivlagen (1990:782)",
        "artikel 17.3 b",
        "förvaltningsrätten",
        "tre veckor",
        "Socialnämnden i Exempelby",
    ):
        assert phrase in row.response
    async with db.sessions() as session:
        rows = (await session.execute(select(RightsRequest))).scalars().all()
        trail = (
            (
                await session.execute(
                    select(AuditEvent.action).where(AuditEvent.case_id == cases["anna"].id)
                )
            )
            .scalars()
            .all()
        )
    assert [r.kind for r in rows] == ["erasure"]
    assert "case.rights_request" in trail


def test_subject_access_on_the_command_line_writes_the_zip_and_audits(tmp_path: Path) -> None:
    assert synpunkt(tmp_path, "db", "upgrade").returncode == 0
    out = tmp_path / "utdrag.zip"
    done = synpunkt(
        tmp_path, "subject-access", "--email", ANNA, "--out", str(out), "--actor", "registrator"
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as z:
        assert {"data.json", "sammanfattning.html"} <= set(z.namelist())
        assert json.loads(z.read("data.json"))["subject"] == {"kind": "email", "value": ANNA}
    again = synpunkt(tmp_path, "subject-access", "--email", ANNA, "--out", str(out))
    assert again.returncode == 2 and "exists" in again.stderr
    bad = synpunkt(tmp_path, "subject-access", "--email", "anna", "--out", str(tmp_path / "b.zip"))
    assert bad.returncode == 2
