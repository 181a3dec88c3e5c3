"""Registering decisions: what is refused and why (a personnummer in the reference above all), the
API's answers, and the CSV import, which stores every row or none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inbox.cases.contacts import find_or_create_contact
from inbox.checkins.csv_import import import_decisions
from inbox.checkins.decisions import DecisionError, check_input
from inbox.core.db import unit_of_work
from inbox.core.models import Contact, Decision, OutboxItem
from tests.inbox.checkins.checkin_env import CHECKINS, Env, at
from tests.inbox.checkins.checkin_env import env as env

NOW = at(2026, 3, 12, 14, 0)
GOOD = {
    "unit": "vuxen",
    "channel": "email",
    "address": "Klient@Example.se",
    "language": "sv",
    "decided_on": "2026-03-12",
    "reference": "VUX-2026/0042",
}


def test_good_input_is_cleaned() -> None:
    data = check_input(GOOD, now=NOW)
    assert data.address == "klient@example.se" and data.reference == "VUX-2026/0042"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"reference": "19850101-1236"}, "personnummer"),
        ({"reference": "BES-198501011236"}, "personnummer"),
        ({"reference": "850101-1236"}, "personnummer"),
        ({"reference": "Anna Andersson"}, "case system's id"),
        ({"reference": "ABC"}, "case system's id"),
        ({"channel": "sms"}, "channel"),
        ({"address": "not-an-address"}, "email address"),
        ({"channel": "telegram", "address": "@anna"}, "chat id"),
        ({"language": "de"}, "language"),
        ({"decided_on": "12/03/2026"}, "YYYY-MM-DD"),
        ({"decided_on": "2026-03-13"}, "future"),
        ({"unit": ""}, "missing unit"),
    ],
)
def test_bad_input_is_refused_with_the_reason(change: dict[str, str], why: str) -> None:
    with pytest.raises(DecisionError, match=why):
        check_input(GOOD | change, now=NOW)


@pytest.mark.parametrize(
    "reference",
    [
        "85-01-01-1236",
        "850101 1236",
        "19850101-1236",
        "1985-01-01-1236",
        "85.01.01-1236",
        "85/01/01/1236",
        "850101+1236",
        "VUX-85-01-01-1236",
        "BES_850101_1236",
        "V:85:01:01:1236",
        "12-850101-1236",
        "85-01-61-1001",  # a samordningsnummer
    ],
)
def test_a_personnummer_in_the_reference_is_refused_however_it_is_written(reference: str) -> None:
    with pytest.raises(DecisionError, match="personnummer"):
        check_input(GOOD | {"reference": reference}, now=NOW)


@pytest.mark.parametrize(
    "reference",
    [
        "VUX-2026/0042",
        "SP-2026-0042",
        "IFO-2026-03-0042",
        "BIST/2026/123456",
        "85-01-01-1237",  # the check digit does not add up
        "85-13-01-1236",  # no such month
        "2026.03.10",
    ],
)
def test_references_that_only_look_numeric_are_accepted(reference: str) -> None:
    assert check_input(GOOD | {"reference": reference}, now=NOW).reference == reference


async def test_the_api_refuses_clearly_and_stores_nothing(env: Env) -> None:
    bad = await env.api.post("/api/decisions", json=GOOD | {"reference": "19850101-1236"})
    assert bad.status_code == 422 and "personnummer" in bad.json()["detail"]
    unknown = await env.api.post("/api/decisions", json=GOOD | {"unit": "nope"})
    assert unknown.status_code == 422 and "unknown unit" in unknown.json()["detail"]
    assert (await env.api.post("/api/decisions", json=GOOD)).status_code == 201
    again = await env.api.post("/api/decisions", json=GOOD)
    assert again.status_code == 409
    assert (await env.api.get("/api/decisions/999999")).status_code == 404
    assert (await env.web.post("/api/decisions", json=GOOD)).status_code == 401
    async with env.db.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Decision))).scalar_one() == 1


CSV = """unit;channel;address;language;decided_on;reference
vuxen;email;a@example.se;sv;2026-03-10;V-1
ekonomiskt-bistand;telegram;12345;en;2026-03-11;E-2
"""


async def test_csv_import_all_or_nothing(env: Env) -> None:
    bad = (
        CSV
        + "vuxen;email;b@example.se;sv;2026-03-10;V-1\nnope;email;c@example.se;sv;2026-03-10;N-3\nvuxen;email;d@example.se;sv;2026-03-10;19850101-1236\n"
    )
    async with env.db.sessions() as session:
        report = await import_decisions(
            session, text=bad, policy=CHECKINS, registered_by="import:t", now=env.clock()
        )
        assert not report.ok
        await session.rollback()
    assert report.refused == [
        (4, "reference V-1 repeats row 2"),
        (5, "unknown unit 'nope'"),
        (6, "reference contains a personnummer; use the case system's id only"),
    ]
    assert report.lines()[-1] == "3 row(s) refused; nothing was imported"
    async with unit_of_work(env.db.sessions) as session:
        assert (await session.execute(select(func.count()).select_from(Decision))).scalar_one() == 0
        report = await import_decisions(
            session, text=CSV, policy=CHECKINS, registered_by="import:t", now=env.clock()
        )
    assert report.ok and report.imported == 2 and report.scheduled == 2
    async with env.db.sessions() as session:
        again = await import_decisions(
            session, text=CSV, policy=CHECKINS, registered_by="import:t", now=env.clock()
        )
        assert [why for _line, why in again.refused] == [
            "vuxen already has decision V-1",
            "ekonomiskt-bistand already has decision E-2",
        ]
        await session.rollback()
        outbox = (await session.execute(select(func.count()).select_from(OutboxItem))).scalar_one()
    assert outbox == 4  # ask and reminder for each


def test_the_command_reports_refused_rows_and_exits_non_zero(tmp_path: Path) -> None:
    env_vars = {**os.environ, "SYNPUNKT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}

    def synpunkt(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "inbox.cli", *args],
            capture_output=True,
            text=True,
            env=env_vars,
            cwd=tmp_path,
            check=False,
            timeout=120,
        )

    assert synpunkt("db", "upgrade").returncode == 0
    # The command runs on the real clock: a decision from 2020 is valid but too old for a check-in.
    good = tmp_path / "good.csv"
    good.write_text(
        "unit,channel,address,language,decided_on,reference\nvuxen,email,a@example.se,sv,2020-01-02,V-1\n",
        encoding="utf-8",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "unit,channel,address,language,decided_on,reference\nvuxen,email,a@example.se,sv,2020-01-02,V-2\nvuxen,fax,x,sv,2020-01-02,V-3\n",
        encoding="utf-8",
    )
    refused = synpunkt("decisions", "import", str(bad))
    assert refused.returncode == 1
    assert "row 3: refused: channel must be email or telegram, not 'fax'" in refused.stderr
    assert "nothing was imported" in refused.stderr
    imported = synpunkt("decisions", "import", str(good))
    assert imported.returncode == 0, imported.stderr
    assert "imported 1 decision(s); 0 check-in(s) scheduled" in imported.stdout
    assert "1 without a check-in: registered after the three-week appeal period" in imported.stdout


async def test_the_bulk_import_writes_what_registering_one_by_one_writes(env: Env) -> None:
    rows = [
        ("vuxen", "email", "Same@Example.se", "sv", "2026-03-10", "V-{n}"),
        ("vuxen", "email", "same@example.se", "en", "2026-03-02", "W-{n}"),  # the same contact
        ("ekonomiskt-bistand", "telegram", "12345", "en", "2026-03-11", "E-{n}"),
        ("mottagning", "email", "stopped@example.se", "sv", "2026-03-11", "M-{n}"),
        ("mottagning", "email", "late@example.se", "sv", "2026-02-01", "L-{n}"),  # too late
    ]
    async with unit_of_work(env.db.sessions) as session:
        contact, _ = await find_or_create_contact(
            session, channel="email", address="stopped@example.se", now=env.clock()
        )
        contact.opted_out = True
    for unit, channel, address, language, decided_on, ref in rows:
        await env.register(
            unit=unit,
            channel=channel,
            address=address,
            language=language,
            decided_on=decided_on,
            reference=ref.format(n=1),
        )
    text = "unit,channel,address,language,decided_on,reference\n" + "".join(
        ",".join((*r[:5], r[5].format(n=2))) + "\n" for r in rows
    )
    async with unit_of_work(env.db.sessions) as session:
        report = await import_decisions(
            session, text=text, policy=CHECKINS, registered_by="import:t", now=env.clock()
        )
    assert report.ok and report.imported == 5 and report.scheduled == 3

    def same(view: dict) -> dict:  # type: ignore[type-arg]
        checkin = {k: v for k, v in view["checkin"].items() if k != "id"}
        return {k: v for k, v in view.items() if k not in ("id", "reference")} | {
            "checkin": checkin
        }

    async with env.db.sessions() as session:
        items = list((await session.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars())
        contacts = (await session.execute(select(func.count()).select_from(Contact))).scalar_one()
    assert contacts == 4  # one per person, whichever way the decision came
    for n in range(1, 6):
        one, bulk = await env.decision(n), await env.decision(n + 5)
        assert same(one) == same(bulk), n
    by_checkin: dict[int, list[OutboxItem]] = {}
    for item in items:
        by_checkin.setdefault(item.payload["checkin_id"], []).append(item)
    shapes = [
        sorted((i.kind, i.run_at, i.channel, tuple(sorted(i.payload))) for i in group)
        for group in by_checkin.values()
    ]
    assert len(shapes) == 6 and shapes[:3] == shapes[3:]
    # …and what was imported goes out like the rest.
    await env.run_until(at(2026, 3, 20, 9, 0))
    asked = {i.payload["checkin_id"] for i in env.telegram.sent if i.kind == "checkin.ask"}
    assert len(asked) == 2  # the registered one and the imported one
    assert len({m["Message-ID"] for m in env.mails()}) >= 4
