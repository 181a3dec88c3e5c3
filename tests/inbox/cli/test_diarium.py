"""`synpunkt diarium --from --to`: the public registry extract lists reference, date, kind, unit and
ärendemening, and never a name, an address, a personnummer or a word the sender wrote."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from inbox.cases.access import EVERYTHING
from inbox.cases.registry import mark_secrecy
from inbox.cases.triage import update_case
from inbox.core.audit import Actor
from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.core.models import AuditEvent, Case
from inbox.intake.receive import receive
from inbox.intake.registration import Registration, register_case
from tests.factories import POLICY, mail, synpunkt

ACTOR = Actor("user:1")
MARCH = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
PERSONAL = (
    "Karl Karlsson",
    "karl.karlsson@example.se",
    "19811218-9876",
    "811218-9876",
    "Storgatan 12",
    "070-123 45 67",
    "Kalle",
    "slagen",
    "Lisa Lind",
    "lisa@example.se",
    "Hemlig",
)


@pytest.fixture
def cli_db(tmp_path: Path) -> Path:
    result = synpunkt(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return tmp_path


async def _cases(tmp_path: Path) -> None:
    """A mail with a name, address, personnummer and story; a call written down with contact
    details; a case staff titled with words that must not reach the registry, marked secret; and
    one from April, outside the extract."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    sessions = session_factory(engine)
    try:
        async with unit_of_work(sessions) as session:
            await receive(
                session,
                mail(
                    1,
                    sender="karl.karlsson@example.se",
                    sender_name="Karl Karlsson",
                    subject="Min son Kalle 19811218-9876",
                    text="Kalle blir slagen. Vi bor på Storgatan 12, ring 070-123 45 67.",
                ),
                policy=POLICY,
                now=MARCH,
            )
            await register_case(
                session,
                registration=Registration(
                    channel="letter",
                    subject="Brev från Lisa Lind",
                    text="Lisa Lind, 811218-9876, Storgatan 12.",
                    kind="complaint",
                    unit="ekonomiskt-bistand",
                    contact_name="Lisa Lind",
                    contact_email="lisa@example.se",
                    contact_phone="070-123 45 67",
                ),
                scope=EVERYTHING,
                actor=ACTOR,
                policy=POLICY,
                now=MARCH,
            )
            secret = (
                await session.execute(select(Case).where(col(Case.reference) == "SP-2026-0002"))
            ).scalar_one()
            await update_case(
                session,
                oidc=False,
                case=secret,
                changes={"registry_title": "Hemlig rubrik"},
                actor=ACTOR,
                now=MARCH,
            )
            await mark_secrecy(
                session,
                case=secret,
                marked=True,
                reason="26 kap. 1 § OSL",
                scope=EVERYTHING,
                actor=ACTOR,
                now=MARCH,
            )
            await receive(
                session,
                mail(3, subject="I april"),
                policy=POLICY,
                now=datetime(2026, 4, 2, 9, 0, tzinfo=UTC),
            )
    finally:
        await engine.dispose()


async def test_the_csv_extract_holds_the_registry_and_no_personal_data(cli_db: Path) -> None:
    await _cases(cli_db)
    result = synpunkt(
        cli_db, "diarium", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "csv"
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows == [
        ["Ärende", "Inkom", "Typ", "Verksamhet", "Ärendemening"],
        ["SP-2026-0001", "2026-03-10", "Övrigt", "Ej fördelad", "Synpunkt"],
        [
            "SP-2026-0002",
            "2026-03-10",
            "Klagomål",
            "Ekonomiskt bistånd",
            "Klagomål – ekonomiskt bistånd",
        ],
    ]
    for personal in PERSONAL:
        assert personal not in result.stdout, personal
    engine = create_engine(f"sqlite+aiosqlite:///{cli_db}/cli.db")
    try:
        async with session_factory(engine)() as session:
            event = (
                await session.execute(
                    select(AuditEvent).where(col(AuditEvent.action) == "diarium.extracted")
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert event.actor == "cli" and event.detail == {
        "start": "2026-03-01",
        "end": "2026-03-31",
        "cases": 2,
    }


async def test_the_text_extract_is_a_table_with_the_same_lines(cli_db: Path) -> None:
    await _cases(cli_db)
    result = synpunkt(cli_db, "diarium", "--from", "2026-03-01", "--to", "2026-04-30")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Diarium 2026-03-01 – 2026-04-30: 3 ärenden"
    assert lines[2].split() == ["Ärende", "Inkom", "Typ", "Verksamhet", "Ärendemening"]
    assert lines[3].split()[:3] == ["SP-2026-0001", "2026-03-10", "Övrigt"]
    assert lines[4].endswith("Klagomål – ekonomiskt bistånd")
    assert lines[5].startswith("SP-2026-0003  2026-04-02")
    for personal in PERSONAL:
        assert personal not in result.stdout, personal


def test_a_period_that_ends_before_it_starts_or_is_no_date_is_refused(cli_db: Path) -> None:
    backwards = synpunkt(cli_db, "diarium", "--from", "2026-03-31", "--to", "2026-03-01")
    assert backwards.returncode == 2 and "--to is before --from" in backwards.stderr
    nonsense = synpunkt(cli_db, "diarium", "--from", "mars", "--to", "2026-03-01")
    assert nonsense.returncode == 2 and "not a date" in nonsense.stderr
    wrong = synpunkt(cli_db, "diarium", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "pdf")  # fmt: skip
    assert wrong.returncode == 2
