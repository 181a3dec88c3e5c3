"""`synpunkt report`: the report over a known history written as HTML, xlsx and CSV files, each
holding the figures worked out by hand (`tests/inbox/reports/history.py`); a unit narrows it, an
unknown unit is refused, and making it is audited."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import col

from inbox.core.db import create_engine, session_factory
from inbox.core.models import AuditEvent
from tests.conftest import Database
from tests.factories import synpunkt
from tests.inbox.reports.history import EXAMPLE_SUMMARY, build_history

YEAR = ("--from", "2026-01-01", "--to", "2026-12-31")


@pytest.fixture
async def cli_db(tmp_path: Path) -> Path:
    result = synpunkt(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    engine = create_engine(url)
    try:
        await build_history(Database(url, engine, session_factory(engine)))
    finally:
        await engine.dispose()
    return tmp_path


async def test_the_report_in_each_format(cli_db: Path) -> None:
    for fmt in ("html", "xlsx", "csv"):
        result = synpunkt(cli_db, "report", *YEAR, "--format", fmt, "--out", f"rapport.{fmt}")
        assert result.returncode == 0, result.stderr
    html = (cli_db / "rapport.html").read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and html.count("<svg") == 10
    assert EXAMPLE_SUMMARY in html and "Andelen klagomål var 57 % mot 75 % 2025" in html
    book = load_workbook(cli_db / "rapport.xlsx")
    response = book["Svarstid"]
    assert [[c.value for c in row] for row in response.iter_rows(min_row=3, max_row=6)] == [
        ["Ärenden med svarsmål (besvarade eller förfallna)", 7],
        ["Besvarade inom verksamhetens svarstid", 5],
        ["Andel besvarade i tid", pytest.approx(0.714)],
        ["Mediantid till första svar (timmar)", 60.0],
    ]
    assert response["B5"].number_format == "0%"
    volumes = book["Antal per månad"]
    assert [c.value for c in volumes[15]] == ["Totalt", 7, 4, 2]
    rows = list(csv.reader(io.StringIO((cli_db / "rapport.csv").read_text(encoding="utf-8"))))
    start = rows.index(["section", "units", "Verksamhet"])
    assert rows[start + 2 : start + 4] == [
        ["Enhet A", "4", "0.571", "0.75"],
        ["Enhet B", "3", "0.429", "0.667"],
    ]
    async_engine = create_engine(f"sqlite+aiosqlite:///{cli_db}/cli.db")
    try:
        async with session_factory(async_engine)() as session:
            made = (
                (
                    await session.execute(
                        select(AuditEvent).where(col(AuditEvent.action) == "report.made")
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await async_engine.dispose()
    assert [e.detail["format"] for e in made] == ["html", "xlsx", "csv"]


async def test_one_unit_in_english_and_an_unknown_unit(cli_db: Path) -> None:
    result = synpunkt(
        cli_db, "report", *YEAR, "--unit", "B", "--compare-years", "1", "--lang", "en",
        "--format", "csv", "--out", "b.csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO((cli_db / "b.csv").read_text(encoding="utf-8"))))
    assert rows[0] == ["Feedback and complaints – report", "2026", "Enhet B", rows[0][3]]
    start = rows.index(["section", "kinds", "Kind of feedback"])
    assert rows[start + 1] == ["Kind", "2026", "Share"]
    assert rows[start + 2] == ["Complaint", "1", "0.333"]
    unknown = synpunkt(cli_db, "report", *YEAR, "--unit", "X", "--format", "csv", "--out", "x")
    assert unknown.returncode == 2 and "no such unit: X" in unknown.stderr
    backwards = synpunkt(
        cli_db, "report", "--from", "2026-12-31", "--to", "2026-01-01", "--format", "csv",
        "--out", "y",
    )  # fmt: skip
    assert backwards.returncode == 2


def test_the_organisation_changes_its_topics(tmp_path: Path) -> None:
    assert synpunkt(tmp_path, "db", "upgrade").returncode == 0
    added = synpunkt(tmp_path, "topics", "add", "housing", "Boende", "Housing")
    assert added.returncode == 0, added.stderr
    again = synpunkt(tmp_path, "topics", "add", "housing", "Boende", "Housing")
    assert again.returncode == 2 and "already a topic housing" in again.stderr
    assert synpunkt(tmp_path, "topics", "deactivate", "other").returncode == 0
    listed = synpunkt(tmp_path, "topics", "list").stdout.splitlines()
    assert listed[0] == "investigation  Utredning / Investigation"
    assert "other  Annat / Other  (inactive)" in listed
    assert listed[-1] == "housing  Boende / Housing"
