"""The public results over the known history (`history.py`): every published figure worked out
by hand, every group of fewer than five suppressed, and the CSV in its documented columns."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import pytest

from inbox.reports.results import CSV_COLUMNS, SCHEMA, _kinds, as_csv, results
from tests.conftest import Database
from tests.inbox.reports.history import PUBLIC_APOLOGY, PUBLIC_ROUTINE, TODAY, build_history

HIDDEN = {"value": None, "suppressed": True}


def _n(value: int) -> dict[str, Any]:
    return {"value": value, "suppressed": False}


@pytest.fixture
async def data(db: Database) -> dict[str, Any]:
    await build_history(db)
    async with db.sessions() as session:
        return await results(session, today=TODAY)


def _group(data: dict[str, Any], year: int, unit: str | None) -> dict[str, Any]:
    return next(
        g for g in data["groups"] if g["year"] == year and (g["unit"] or {}).get("code") == unit
    )


async def test_all_units_in_2026(data: dict[str, Any]) -> None:
    assert (data["schema"], data["min_group"], data["years"]) == (
        SCHEMA,
        5,
        [2024, 2025, 2026, 2027],
    )
    group = _group(data, 2026, None)
    assert group["unit"] is None
    assert group["cases"] == _n(7)
    # 4 complaints and one each of praise, suggestion and question: all fewer than five.
    assert group["kinds"] == {
        "complaint": HIDDEN,
        "praise": HIDDEN,
        "suggestion": HIDDEN,
        "question": HIDDEN,
        "other": _n(0),
    }
    assert group["response"] == {"cases_with_target": _n(7), "in_time_share": 0.714}
    assert group["checkins"] == {
        "asked": _n(10),
        "answered": _n(8),
        "response_rate": 0.8,
        "understood_share": 0.75,
        "knows_appeal_share": 0.875,
        "ratings": {"1": HIDDEN, "2": HIDDEN, "3": HIDDEN, "4": HIDDEN, "5": HIDDEN},
    }
    assert [(m["unit"], m["type"], m["status"], m["summary"]) for m in group["measures"]] == [
        ("A", "apology", "done", PUBLIC_APOLOGY),
        ("A", "changed-routine", "done", PUBLIC_ROUTINE),
    ]


async def test_each_unit_with_its_small_groups_suppressed(data: dict[str, Any]) -> None:
    a = _group(data, 2026, "A")
    assert a["unit"] == {"code": "A", "name": "Enhet A"}
    assert a["cases"] == HIDDEN  # four cases
    assert a["response"] == {"cases_with_target": HIDDEN, "in_time_share": None}
    assert a["checkins"] == {
        "asked": _n(7),
        "answered": _n(6),
        "response_rate": 0.857,
        "understood_share": 0.667,
        "knows_appeal_share": 0.833,
        "ratings": {"1": HIDDEN, "2": _n(0), "3": HIDDEN, "4": HIDDEN, "5": HIDDEN},
    }
    assert len(a["measures"]) == 2
    b = _group(data, 2026, "B")
    assert b["cases"] == HIDDEN and b["measures"] == []
    # Two of three answered: nothing of what they said, and the counts themselves hidden.
    assert b["checkins"] == {
        "asked": HIDDEN,
        "answered": HIDDEN,
        "response_rate": None,
        "understood_share": None,
        "knows_appeal_share": None,
        "ratings": None,
    }
    assert _group(data, 2025, None)["cases"] == HIDDEN
    assert _group(data, 2027, None)["cases"] == _n(0)


def test_one_hidden_kind_hides_the_next_smallest_too() -> None:
    counts = _kinds(Counter({"complaint": 9, "question": 6, "praise": 2}))
    assert counts["praise"].suppressed and counts["question"].suppressed
    assert counts["complaint"].value == 9 and counts["other"].value == 0
    two = _kinds(Counter({"complaint": 9, "question": 3, "praise": 2}))
    assert [k for k, c in two.items() if c.suppressed] == ["praise", "question"]


async def test_the_csv_has_the_documented_columns(data: dict[str, Any]) -> None:
    rows = list(csv.DictReader(io.StringIO(as_csv(data))))
    assert list(rows[0]) == CSV_COLUMNS
    everyone = next(r for r in rows if r["year"] == "2026" and r["unit_code"] == "")
    assert everyone["cases"] == "7" and everyone["kind_complaint"] == "<5"
    assert everyone["kind_other"] == "0" and everyone["in_time_share"] == "0.714"
    assert everyone["checkins_response_rate"] == "0.8" and everyone["rating_5"] == "<5"
    b = next(r for r in rows if r["year"] == "2026" and r["unit_code"] == "B")
    assert b["checkins_asked"] == "<5" and b["understood_share"] == "" and b["rating_1"] == ""
