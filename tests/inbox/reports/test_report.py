"""The report over a known history (`history.py`): every figure of every section against the
value worked out by hand, a removed case counted from its statistics row, and each format."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook

from inbox.cases.access import EVERYTHING, granted
from inbox.reports.figures import Request, compute, median, stockholm_month
from inbox.reports.render import cell_text, to_csv, to_html, to_xlsx
from inbox.reports.report import Report, Section, Share, build
from inbox.web.render import LABELS
from tests.conftest import Database
from tests.inbox.reports.history import (
    EXAMPLE_HANDLING,
    EXAMPLE_SUMMARY,
    TODAY,
    History,
    build_history,
)

YEAR = Request(date(2026, 1, 1), date(2026, 12, 31))


@pytest.fixture
async def history(db: Database) -> History:
    return await build_history(db)


async def _report(db: Database, request: Request = YEAR, lang: str = "sv") -> Report:
    async with db.sessions() as session:
        return await build(
            session, request, scope=EVERYTHING, today=TODAY, lang=lang, swedish=LABELS
        )


def _section(report: Report, key: str) -> Section:
    return next(s for s in report.sections if s.key == key)


def _rows(report: Report, key: str) -> list[list[Any]]:
    table = _section(report, key).table
    assert table is not None
    return [[round(v, 3) if isinstance(v, float) else v for v in row] for row in table.rows]


async def test_the_figures_of_the_year(db: Database, history: History) -> None:
    async with db.sessions() as session:
        f = await compute(session, YEAR, scope=EVERYTHING, today=TODAY)
    assert [p.label for p in f.periods] == ["2026", "2025", "2024"]
    # c7 arrived on New Year's Eve in UTC but New Year's Day in Stockholm: January 2026.
    assert f.months[0] == {
        "2026-01": 2, "2026-02": 1, "2026-03": 1, "2026-04": 1, "2026-05": 1, "2026-06": 1,
        "2026-07": 0, "2026-08": 0, "2026-09": 0, "2026-10": 0, "2026-11": 0, "2026-12": 0,
    }  # fmt: skip
    assert sum(f.months[1].values()) == 4 and f.months[1]["2025-02"] == 2
    assert sum(f.months[2].values()) == 2
    assert dict(f.kinds[0]) == {"complaint": 4, "praise": 1, "suggestion": 1, "question": 1}
    assert dict(f.kinds[1]) == {"complaint": 3, "question": 1}
    assert dict(f.kinds[2]) == {"complaint": 1, "praise": 1}
    assert dict(f.roles) == {"client": 2, "relative": 2, "via-ivo": 1, "citizen": 1, "unknown": 1}
    assert dict(f.channels) == {"email": 3, "telegram": 1, "ivo": 1, "phone": 1, "letter": 1}
    assert dict(f.units) == {history.unit_a: 4, history.unit_b: 3}
    assert dict(f.outcomes) == {
        "remedied": 1,
        "partly-remedied": 1,
        "answered": 1,
        "deviation-reported": 1,
        "anonymous": 1,
        None: 2,
    }
    # In time: c1, c3, c4, c5 (closed within the target) and c7; c2 late, c6 never answered.
    assert f.in_time == {None: (5, 7), history.unit_a: (3, 4), history.unit_b: (2, 3)}
    # Hours to the first answer: 24, 24, 48, 72, 120, 720; c6 has none.
    assert f.median_hours == 60.0
    assert dict(f.topics) == {"treatment": 2, "information": 1, "accessibility": 1}
    assert dict(f.measures) == {
        ("apology", "done"): 1,
        ("training", "planned"): 1,
        ("changed-routine", "done"): 1,
        ("changed-routine", "ongoing"): 1,
    }
    assert (f.ivo, f.lex_sarah_flagged, f.deviations, f.not_executed) == (1, 1, 1, 1)
    assert (f.lex_sarah_assessed, dict(f.lex_sarah_outcomes)) == (1, {"not-serious": 1})
    assert f.checkins == {
        "asked": 10,
        "answered": 8,
        "suppressed": False,
        "response_rate": 0.8,
        "understood": {"yes": 6, "partly": 1, "no": 1},
        "knows_appeal": {"yes": 7, "no": 1},
        "ratings": {"1": 1, "2": 1, "3": 1, "4": 2, "5": 3},
        "contact": {"yes": 1, "no": 7},
    }
    assert f.examples == [(EXAMPLE_SUMMARY, EXAMPLE_HANDLING)]


async def test_every_section_in_words(db: Database, history: History) -> None:
    report = await _report(db)
    assert [s.key for s in report.sections] == [
        "volumes", "kinds", "roles", "channels", "units", "topics", "response", "outcomes",
        "measures", "ivo", "flags", "checkins", "examples",
    ]  # fmt: skip
    assert (report.period, report.units) == ("2026", "Alla verksamheter")
    volumes = _rows(report, "volumes")
    assert volumes[0] == ["jan", 2, 0, 1] and volumes[1] == ["feb", 1, 2, 0]
    assert volumes[-1] == ["Totalt", 7, 4, 2]
    assert _section(report, "volumes").note == "Totalt +75 % jämfört med 2025."
    assert _rows(report, "kinds") == [
        ["Klagomål", 4, 3, 1, 0.571],
        ["Beröm", 1, 0, 1, 0.143],
        ["Fråga", 1, 1, 0, 0.143],
        ["Förbättringsförslag", 1, 0, 0, 0.143],
        ["Andel klagomål (kritik)", 0.571, 0.75, 0.5, None],
    ]
    assert _section(report, "kinds").note == (
        "Andelen klagomål var 57 % mot 75 % 2025 (−18 procentenheter)."
    )
    assert _rows(report, "roles") == [
        ["Brukare", 2, 0.286],
        ["Anhörig eller närstående", 2, 0.286],
        ["Invånare", 1, 0.143],
        ["Okänd", 1, 0.143],
        ["Via IVO", 1, 0.143],
    ]
    assert _rows(report, "channels")[0] == ["E-post", 3, 0.429]
    assert {r[0] for r in _rows(report, "channels")} == {
        "E-post", "Telegram", "Via IVO", "Telefon", "Brev"
    }  # fmt: skip
    assert _rows(report, "units") == [["Enhet A", 4, 0.571, 0.75], ["Enhet B", 3, 0.429, 0.667]]
    assert _rows(report, "topics") == [
        ["Bemötande", 2, 0.286],
        ["Tillgänglighet och kontakt", 1, 0.143],
        ["Information", 1, 0.143],
    ]
    assert _rows(report, "response") == [
        ["Ärenden med svarsmål (besvarade eller förfallna)", 7],
        ["Besvarade inom verksamhetens svarstid", 5],
        ["Andel besvarade i tid", 0.714],
        ["Mediantid till första svar (timmar)", 60.0],
    ]
    assert _rows(report, "outcomes")[0] == ["Inte angivet", 2, 0.286]
    assert _rows(report, "measures") == [
        ["Ursäkt", 0, 0, 1, 1],
        ["Ändrad rutin", 0, 1, 1, 2],
        ["Utbildning", 1, 0, 0, 1],
    ]
    assert _rows(report, "ivo") == [["Vidarebefordrade av IVO", 1, 0.143]]
    assert _rows(report, "flags") == [
        ["Markerade som möjlig lex Sarah", 1],
        ["Lex Sarah-bedömningar gjorda", 1],
        ["– Allvarligt missförhållande", 0],
        ["– Påtaglig risk för allvarligt missförhållande", 0],
        ["– Missförhållande, inte allvarligt", 1],
        ["– Inget missförhållande", 0],
        ["– Bedömning pågår", 0],
        ["Avvikelse upprättad", 1],
        ["Beslut som inte verkställts", 1],
    ]
    assert _rows(report, "checkins") == [
        ["Tillfrågade", 10],
        ["Svarande", 8],
        ["Svarsfrekvens", 0.8],
        ["Förstod beslutet", 0.75],
        ["Förstod beslutet delvis", 0.125],
        ["Förstod inte beslutet", 0.125],
        ["Vet hur man överklagar", 0.875],
        ["Betyg 1", 1],
        ["Betyg 2", 1],
        ["Betyg 3", 1],
        ["Betyg 4", 2],
        ["Betyg 5", 3],
        ["Vill bli kontaktade", 1],
    ]
    assert _section(report, "examples").texts == [(EXAMPLE_SUMMARY, EXAMPLE_HANDLING)]


async def test_one_unit_and_a_unit_lead_see_only_their_unit(db: Database, history: History) -> None:
    only_b = Request(date(2026, 1, 1), date(2026, 12, 31), frozenset({history.unit_b}), 1)
    report = await _report(db, only_b)
    assert report.units == "Enhet B"
    assert _rows(report, "kinds") == [
        ["Klagomål", 1, 0.333],
        ["Fråga", 1, 0.333],
        ["Förbättringsförslag", 1, 0.333],
        ["Andel klagomål (kritik)", 0.333, None],
    ]
    # Two of unit B's check-ins were answered: fewer than five, so only how many were asked.
    assert _rows(report, "checkins") == [["Tillfrågade", 3]]
    assert "Färre än 5 svarade" in (_section(report, "checkins").note or "")
    lead = granted(role="caseworker", all_units=False, unit_ids={history.unit_a})
    async with db.sessions() as session:
        f = await compute(session, YEAR, scope=lead, today=TODAY)
    assert f.total == 4 and set(f.units) == {history.unit_a}
    assert f.checkins["answered"] == 6


async def test_english_headings(db: Database, history: History) -> None:
    report = await _report(db, lang="en")
    assert report.title == "Feedback and complaints – report"
    assert _rows(report, "kinds")[0] == ["Complaint", 4, 3, 1, 0.571]
    assert _rows(report, "measures")[0] == ["Apology", 0, 0, 1, 1]


def test_the_median_of_counted_values() -> None:
    assert median([]) is None
    assert median([(5, 1)]) == 5
    assert median([(1, 2), (3, 1), (10, 1)]) == 2.0
    assert median([(24, 2), (48, 1), (72, 1), (120, 1), (720, 1)]) == 60.0


def test_cells_read_the_swedish_way() -> None:
    assert cell_text(Share(0.571), "sv") == "57 %"
    assert cell_text(12345, "sv") == "12\u00a0345"
    assert cell_text(2.5, "sv") == "2,5"
    assert cell_text(2.5, "en") == "2.5"
    assert cell_text(None, "sv") == "–"


async def test_each_format_holds_the_figures(db: Database, history: History) -> None:
    report = await _report(db)
    html = to_html(report)
    assert html.count("<svg") == 10  # every section but IVO, the flags and the examples
    assert html.count("<title id=") == 10 and html.count("<desc id=") == 10
    assert "@page { size: A4" in html
    assert EXAMPLE_SUMMARY in html and "57 %" in html
    book = load_workbook(io.BytesIO(to_xlsx(report)))
    assert len(book.sheetnames) == 1 + len(report.sections)
    kinds = book["Typ av synpunkt"]
    assert [c.value for c in kinds[2]] == ["Typ", "2026", "2025", "2024", "Andel"]
    assert [c.value for c in kinds[3]] == ["Klagomål", 4, 3, 1, pytest.approx(0.571)]
    assert kinds["E3"].number_format == "0%"
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    start = rows.index(["section", "response", "Svarstid"])
    assert rows[start + 1 : start + 4] == [
        ["Mått", "2026"],
        ["Ärenden med svarsmål (besvarade eller förfallna)", "7"],
        ["Besvarade inom verksamhetens svarstid", "5"],
    ]
    assert rows[start + 4] == ["Andel besvarade i tid", "0.714"]


def test_the_stockholm_month_of_a_late_utc_hour() -> None:
    # Only 22:xx and 23:xx UTC on the 28th or later can be the next month in Stockholm.
    assert stockholm_month("2026-01") == "2026-01"
    assert stockholm_month("2026-01-31 22") == "2026-01"  # winter: 23:xx in Stockholm
    assert stockholm_month("2026-01-31 23") == "2026-02"
    assert stockholm_month("2026-06-30 22") == "2026-07"  # summer: 00:xx in Stockholm
    assert stockholm_month("2026-02-28 23") == "2026-03"
    assert stockholm_month("2024-02-28 23") == "2024-02"  # a leap year: the 29th follows
    assert stockholm_month(date(2026, 7, 1)) == "2026-07"


async def test_a_period_shorter_than_a_year(db: Database, history: History) -> None:
    # January and February compared with the same months of two years before: what arrived
    # between the compared periods counts in none; c7 (23:30 UTC on New Year's Eve) is January.
    request = Request(date(2026, 1, 1), date(2026, 2, 28))
    async with db.sessions() as session:
        f = await compute(session, request, scope=EVERYTHING, today=TODAY)
    assert [p.label for p in f.periods] == [
        "2026-01-01–2026-02-28",
        "2025-01-01–2025-02-28",
        "2024-01-01–2024-02-28",
    ]
    assert f.months == [
        {"2026-01": 2, "2026-02": 1},
        {"2025-01": 0, "2025-02": 2},
        {"2024-01": 1, "2024-02": 0},
    ]
    assert [dict(k) for k in f.kinds] == [
        {"complaint": 2, "question": 1},
        {"complaint": 2},
        {"complaint": 1},
    ]
    assert dict(f.roles) == {"client": 1, "relative": 1, "unknown": 1}
    assert dict(f.units) == {history.unit_a: 2, history.unit_b: 1}
    # c1 answered after a day, c7 after a day, c2 after thirty days (late).
    assert f.in_time == {None: (2, 3), history.unit_a: (1, 2), history.unit_b: (1, 1)}
    assert f.median_hours == 24.0
    assert dict(f.topics) == {"treatment": 2, "information": 1}
