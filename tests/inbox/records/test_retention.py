"""Gallring over a generated history: exactly what the rules make due goes (cases with all of
theirs, machine mail, check-ins, failed intake, raw mail, old audit events), held cases stay, a
run stopped between batches and run again ends where an unbroken run would, the report for the
years removed is the same after as before, and a removed case answers 410 "Gallrad enligt
beslut …" on its page and in the API."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from inbox.cases.access import EVERYTHING
from inbox.cases.measures import MeasureInput, add_measure, list_topics, set_topics
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import (
    Attachment,
    AuditEvent,
    Case,
    CaseTombstone,
    CheckIn,
    Contact,
    IntakeRecord,
    IntakeStatus,
    Message,
)
from inbox.intake import ledger
from inbox.records import retention
from inbox.records.hold import set_hold
from inbox.reports.figures import Figures, compute
from inbox.reports.figures import Request as ReportRequest
from tests.conftest import Clock, Database
from tests.factories import synpunkt
from tests.inbox.records.conftest import make_case
from tests.inbox.web.conftest import DECISION, World, build_world, decision_in, sign_in

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
CLOSED_DECISION = "Socialnämnden 2025-04-12 § 45, informationshanteringsplan 4.2"
RULES = f"""
[closed_cases]
keep = "3 years"
decision = "{CLOSED_DECISION}"

[machine_mail]
keep = "30 dagar"
decision = "Socialnämnden 2025-04-12 § 46"

[checkin_answers]
keep = "6 months"
decision = "Socialnämnden 2025-04-12 § 47"

[failed_intake]
keep = "90 days"
decision = "Socialnämnden 2025-04-12 § 48"

[intake_raw]
keep = "1 år"
decision = "Socialnämnden 2025-04-12 § 49"

[audit_events]
keep = "4 years"
decision = "Socialnämnden 2025-04-12 § 50"
"""
ACTOR = Actor(name="cli:arkivarie")


def _at(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, 10, tzinfo=UTC)


class History:
    """What was generated, and what the rules must remove of it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.removed: list[str] = []  # references of the cases that must go
        self.kept: list[str] = [world.barn, world.vuxen, world.loose]
        self.failed_old = 0
        self.failed_new = 0
        self.raw_kept: list[str] = []  # cases whose raw mail must stay
        self.raw_cleared: list[str] = []
        self.held = ""
        self.checkin_old = 0
        self.checkin_new = 0


async def _history(db: Database, clock: Clock) -> History:
    world = await build_world(db, clock)
    h = History(world)

    async def case(n: int, sender: str, at: datetime, closed: datetime | None) -> Case:
        return await make_case(db, clock, n, sender=sender, at=at, closed_at=closed)

    for n in range(11, 18):  # closed more than three years ago
        c = await case(n, f"gammal{n}@example.se", _at(2020, n - 10), _at(2021, n - 10))
        h.removed.append(c.reference)
    held = await case(18, "hallen@example.se", _at(2020, 9), _at(2021, 1))
    h.held = held.reference
    recent = await case(19, "ny@example.se", _at(2023, 6), _at(2024, 6))
    still_open = await case(20, "oppen@example.se", _at(2020, 1), None)
    h.removed.append((await case(21, "anna@example.se", _at(2020, 2), _at(2021, 2))).reference)
    annas = await case(22, "anna@example.se", _at(2026, 1, 20), None)
    machine_old = await case(23, "mailer-daemon@example.se", _at(2026, 1, 2), None)
    machine_new = await case(24, "mailer-daemon@example.se", _at(2026, 3, 1), None)
    h.removed.append(machine_old.reference)
    h.kept += [held.reference, recent.reference, still_open.reference, annas.reference]
    h.kept.append(machine_new.reference)
    h.raw_kept = [held.reference, annas.reference, still_open.reference]
    h.raw_cleared = [recent.reference]
    async with unit_of_work(db.sessions) as session:
        await session.execute(
            update(Case)
            .where(Case.id.in_([machine_old.id, machine_new.id]))  # type: ignore[union-attr]
            .values(flag_automated=True)
        )
        # The open case's intake row was processed long ago, but its case is not due: its raw
        # mail goes under `intake_raw` like any other processed row's.
        # Topics and a measure on the old cases, for the report to count before and after.
        topics = await list_topics(session)
        for n, reference in enumerate(h.removed):
            old = (
                await session.execute(select(Case).where(Case.reference == reference))
            ).scalar_one()
            await set_topics(
                session,
                case=old,
                topic_ids=[topics[n % len(topics)].id or 0],
                scope=EVERYTHING,
                actor=ACTOR,
                now=_at(2021, 1),
            )
            if n % 2:
                measure = MeasureInput(
                    type="apology", text="Ursäkt", status="done", dated_on=_at(2021, 1).date()
                )
                await add_measure(
                    session, case=old, data=measure, scope=EVERYTHING, actor=ACTOR, now=_at(2021, 1)
                )
        stored = await session.get(Case, held.id)
        assert stored is not None
        await set_hold(
            session,
            case=stored,
            on=True,
            reason="Tvist i förvaltningsrätten",
            scope=None,
            actor=ACTOR,
            now=_at(2025, 1),
        )
        for external, at in (("f-gammal", _at(2025, 10)), ("f-ny", _at(2026, 3, 1))):
            row_id = await ledger.record(
                session, channel="email", external_id=external, raw=b"x", now=at
            )
            await session.execute(
                update(IntakeRecord)
                .where(IntakeRecord.id == row_id)  # type: ignore[arg-type]
                .values(status=IntakeStatus.FAILED)
            )
            if external == "f-gammal":
                h.failed_old = row_id
            else:
                h.failed_new = row_id
    h.raw_kept.remove(still_open.reference)
    h.raw_cleared.append(still_open.reference)
    clock.now = NOW
    for n, closes in ((1, _at(2025, 6)), (2, None)):
        data = {**DECISION, "address": f"klient{n}@example.se", "reference": f"BOF-{n}"}
        decision = await decision_in(world, data)
        async with unit_of_work(db.sessions) as session:
            checkin = (
                await session.execute(select(CheckIn).where(CheckIn.decision_id == decision))
            ).scalar_one()
            if closes is not None:
                checkin.closes_at = closes
                h.checkin_old = checkin.id or 0
            else:
                h.checkin_new = checkin.id or 0
    return h


async def _report(db: Database) -> Figures:
    """The report for 2020 and 2021, the years of the cases the rules remove."""
    async with db.sessions() as session:
        return await compute(
            session,
            ReportRequest(first=date(2020, 1, 1), last=date(2021, 12, 31)),
            scope=EVERYTHING,
            today=NOW.date(),
        )


async def _references(db: Database) -> set[str]:
    async with db.sessions() as session:
        return set((await session.execute(select(Case.reference))).scalars())


async def _check_result(db: Database, h: History) -> None:
    rules = retention.parse_rules(RULES)
    assert set(h.removed).isdisjoint(await _references(db))
    assert await _references(db) == set(h.kept)
    async with db.sessions() as session:
        stones = {
            s.reference: (s.rule, s.decision)
            for s in (await session.execute(select(CaseTombstone))).scalars()
        }
        assert set(stones) == set(h.removed)
        assert {stones[r] for r in h.removed[:-1]} == {("closed_cases", CLOSED_DECISION)}
        assert stones[h.removed[-1]][0] == "machine_mail"
        ids = {s.case_id for s in (await session.execute(select(CaseTombstone))).scalars()}
        orphans = await session.execute(
            select(func.count()).select_from(Message).where(Message.case_id.in_(ids))  # type: ignore[attr-defined]
        )
        assert orphans.scalar_one() == 0
        attachments = (await session.execute(select(func.count(Attachment.id)))).scalar_one()  # type: ignore[arg-type]
        messages = (await session.execute(select(func.count(Message.id)))).scalar_one()  # type: ignore[arg-type]
        assert attachments == messages or attachments == len(h.kept)
        addresses = set((await session.execute(select(Contact.address))).scalars())
        assert "anna@example.se" in addresses and "hallen@example.se" in addresses
        assert not any(a.startswith("gammal") for a in addresses)
        rows = {
            r.case_reference: r
            for r in (await session.execute(select(IntakeRecord))).scalars()
            if r.case_reference
        }
        for reference in h.removed:  # the ledger row stays, to recognise a redelivery
            assert rows[reference].raw is None and rows[reference].status == "done"
        for reference in h.raw_kept:
            assert rows[reference].raw is not None, reference
        for reference in h.raw_cleared:
            assert rows[reference].raw is None, reference
        assert await session.get(IntakeRecord, h.failed_old) is None
        assert await session.get(IntakeRecord, h.failed_new) is not None
        checkins = set((await session.execute(select(CheckIn.id))).scalars())
        assert checkins == {h.checkin_new}
        old_events = (
            (
                await session.execute(
                    select(AuditEvent.case_reference).where(AuditEvent.at < _at(2022, 3, 10))
                )
            )
            .scalars()
            .all()
        )
        assert old_events and set(old_events) == {h.held}
        runs = (
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.action == "retention.removed")
                )
            )
            .scalars()
            .all()
        )
        assert {r.actor for r in runs} == {"cli:arkivarie"}
        removed_cases = [ref for r in runs for ref in r.detail["references"]]
        assert sorted(removed_cases) == sorted(h.removed)
        assert await retention.plan(session, rules, now=NOW) == dict.fromkeys(rules, 0)


async def test_a_run_removes_exactly_what_the_rules_say_and_survives_being_stopped(
    db: Database, clock: Clock
) -> None:
    h = await _history(db, clock)
    rules = retention.parse_rules(RULES)
    report_before = await _report(db)
    assert report_before.total == 10  # eight old closed cases, the held one and the old open one
    async with db.sessions() as session:
        planned = await retention.plan(session, rules, now=NOW)
    assert planned[retention.RecordClass.CLOSED_CASES] == 8
    assert planned[retention.RecordClass.MACHINE_MAIL] == 1
    assert planned[retention.RecordClass.CHECKIN_ANSWERS] == 1
    assert planned[retention.RecordClass.FAILED_INTAKE] == 1
    batches: list[retention.Batch] = []

    async def stop_after_two(batch: retention.Batch) -> None:
        batches.append(batch)
        if len(batches) == 2:
            raise KeyboardInterrupt  # as if the operator pressed Ctrl-C between batches

    with pytest.raises(KeyboardInterrupt):
        await retention.apply(
            db.sessions, rules, now=NOW, actor=ACTOR, batch=3, after_batch=stop_after_two
        )
    async with db.sessions() as session:
        stones = (await session.execute(select(func.count(CaseTombstone.id)))).scalar_one()  # type: ignore[arg-type]
    assert stones == 6 and [b.removed for b in batches] == [3, 3]
    assert len(await _references(db)) == len(h.kept) + len(h.removed) - 6

    removed = await retention.apply(db.sessions, rules, now=NOW, actor=ACTOR, batch=3)

    assert removed[retention.RecordClass.CLOSED_CASES] == 2
    await _check_result(db, h)
    again = await retention.apply(db.sessions, rules, now=NOW, actor=ACTOR, batch=3)
    assert again == dict.fromkeys(rules, 0)
    assert await _report(db) == report_before  # the statistics of removed cases count as before


async def test_a_removed_case_answers_410_with_the_decision_on_its_page_and_in_the_api(
    db: Database, clock: Clock
) -> None:
    h = await _history(db, clock)
    await retention.apply(db.sessions, retention.parse_rules(RULES), now=NOW, actor=ACTOR)
    gone = h.removed[0]
    transport = httpx.ASGITransport(app=h.world.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as page:
        assert (await sign_in(page, "alma")).status_code == 303
        response = await page.get(f"/cases/{gone}")
        assert response.status_code == 410
        assert f"Gallrad enligt beslut {CLOSED_DECISION}" in response.text
        assert (await page.get(f"/cases/{gone.lower()}")).status_code == 410
        held = await page.get(f"/cases/{h.held}")
        assert held.status_code == 200 and "Tvist i förvaltningsrätten" in held.text
    from inbox.staff.tokens import create_token

    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(
            session, name="läsare", role="viewer", unit_codes=["barn-och-familj"], now=NOW
        )
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as api:
        response = await api.get(f"/api/cases/{gone}")
        assert response.status_code == 410
        assert CLOSED_DECISION in response.json()["detail"]
        assert (await api.get(f"/api/cases/{gone}/messages/1/original")).status_code == 410
        assert (await api.get("/api/cases/SP-1999-0001")).status_code == 404


def test_bad_rules_are_one_line_errors() -> None:
    for text, said in (
        ('[old_cases]\nkeep = "1 year"\ndecision = "x"', "unknown record class [old_cases]"),
        ('[closed_cases]\nkeep = "ten years"\ndecision = "x"', "keep:"),
        ('[closed_cases]\nkeep = "0 days"\ndecision = "x"', "keep:"),
        ('[closed_cases]\nkeep = "2 years"', "needs decision"),
        ('[closed_cases]\nkeep = "2 years"\ndecision = "x"\nafter = 1', "unknown keys: after"),
        ("[closed_cases", "not TOML"),
    ):
        with pytest.raises(retention.RulesError, match=said.replace("[", r"\[")):
            retention.parse_rules(text)


@pytest.mark.parametrize(
    ("keep", "now", "cutoff"),
    [
        ("3 years", _at(2026, 3, 10), _at(2023, 3, 10)),
        ("1 month", datetime(2026, 3, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),
        ("2 år", datetime(2028, 2, 29, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),
        ("30 dagar", _at(2026, 3, 10), _at(2026, 2, 8)),
    ],
)
def test_periods_count_back_in_calendar_months_and_years(
    keep: str, now: datetime, cutoff: datetime
) -> None:
    assert retention.Period.parse(keep).before(now) == cutoff


def _run(tmp_path: Path, *args: str, **settings: str) -> tuple[int, str, str]:
    done = synpunkt(tmp_path, *args, **settings)
    return done.returncode, done.stdout, done.stderr


def test_the_command_line_plans_applies_and_refuses_a_bad_file(tmp_path: Path) -> None:
    assert _run(tmp_path, "db", "upgrade")[0] == 0
    code, out, _ = _run(tmp_path, "retention", "plan")
    assert code == 0 and "no retention rules" in out
    rules = tmp_path / "gallring.toml"
    rules.write_text(RULES, encoding="utf-8")
    setting = {"SYNPUNKT_RETENTION_FILE": str(rules)}
    code, out, _ = _run(tmp_path, "retention", "plan", **setting)
    assert code == 0 and f"closed_cases: 0 due (kept 3 years; {CLOSED_DECISION})" in out
    code, out, _ = _run(tmp_path, "retention", "apply", "--batch", "10", **setting)
    assert code == 0 and "closed_cases: 0 removed" in out
    rules.write_text('[closed_cases]\nkeep = "soon"\ndecision = "x"\n', encoding="utf-8")
    code, _, err = _run(tmp_path, "retention", "apply", **setting)
    assert code == 78
    assert err.strip().splitlines() == [
        "synpunkt: SYNPUNKT_RETENTION_FILE: [closed_cases] keep: 'soon' is not a period such as "
        "'30 days', '6 months', '10 years'"
    ]
