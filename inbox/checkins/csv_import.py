"""`synpunkt decisions import FILE.csv`: many decisions at once, all or nothing.

Every row is checked first (the same checks as the API, plus unknown units and references repeated
in the file or already registered); if any row is refused, nothing is stored and the report names
each refused row and why. Comma- or semicolon-separated UTF-8 (a BOM is fine), with a header row
naming the columns `unit, channel, address, language, decided_on, reference` in any order.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.checkins.bulk import register_many
from inbox.checkins.decisions import (
    FIELDS,
    DecisionError,
    DecisionInput,
    check_input,
    units_by_code,
)
from inbox.checkins.plan import CheckinPolicy
from inbox.core.models import Decision

MAX_ROWS = 1_000_000


@dataclass
class ImportReport:
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, why)
    imported: int = 0
    scheduled: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.refused

    def lines(self) -> list[str]:
        if self.refused:
            return [
                *(f"row {line}: refused: {why}" for line, why in self.refused),
                f"{len(self.refused)} row(s) refused; nothing was imported",
            ]
        summary = f"imported {self.imported} decision(s); {self.scheduled} check-in(s) scheduled"
        extra = [
            f"{count} without a check-in: {why}" for why, count in sorted(self.skipped.items())
        ]
        return [summary, *extra]


def read_rows(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[tuple[int, str]]]:
    """(line number, row) pairs, and problems with the file as a whole."""
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in FIELDS if name not in header]
    if missing:
        return [], [(1, f"the header lacks the column(s) {', '.join(missing)}")]
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[tuple[int, str]] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append((line, "more fields than the header has"))
            continue
        if not any((value or "").strip() for value in row.values()):
            continue  # a blank line
        rows.append((line, {k: v or "" for k, v in row.items()}))
        if len(rows) > MAX_ROWS:
            return [], [(line, f"more than {MAX_ROWS} rows; split the file")]
    return rows, problems


async def import_decisions(
    session: AsyncSession, *, text: str, policy: CheckinPolicy, registered_by: str, now: datetime
) -> ImportReport:
    """Checks every row, then registers all of them, or none (flushes, never commits)."""
    report = ImportReport()
    rows, problems = read_rows(text)
    report.refused.extend(problems)
    units = await units_by_code(session)
    checked: list[tuple[int, DecisionInput]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in rows:
        try:
            data = check_input(row, now=now)
        except DecisionError as exc:
            report.refused.append((line, str(exc)))
            continue
        if data.unit not in units:
            report.refused.append((line, f"unknown unit {data.unit!r}"))
            continue
        key = (data.unit, data.reference)
        if key in seen:
            report.refused.append((line, f"reference {data.reference} repeats row {seen[key]}"))
            continue
        seen[key] = line
        checked.append((line, data))
    for line, data in await _already_registered(session, checked, units):
        report.refused.append((line, f"{data.unit} already has decision {data.reference}"))
    if not rows and not report.refused:
        report.refused.append((1, "the file has no rows"))
    if report.refused:
        report.refused.sort()
        return report
    checkins = await register_many(
        session,
        items=[data for _line, data in checked],
        units=units,
        policy=policy,
        registered_by=registered_by,
        now=now,
    )
    for checkin in checkins:
        report.imported += 1
        if checkin.status == "scheduled":
            report.scheduled += 1
        else:
            why = checkin.skip_reason or checkin.status
            report.skipped[why] = report.skipped.get(why, 0) + 1
    return report


async def _already_registered(
    session: AsyncSession, checked: list[tuple[int, DecisionInput]], units: dict
) -> list[tuple[int, DecisionInput]]:
    found: list[tuple[int, DecisionInput]] = []
    for start in range(0, len(checked), 500):
        chunk = checked[start : start + 500]
        keys = {(units[d.unit].id, d.reference): (line, d) for line, d in chunk}
        rows = await session.execute(
            select(col(Decision.unit_id), col(Decision.reference)).where(
                tuple_(col(Decision.unit_id), col(Decision.reference)).in_(list(keys))
            )
        )
        found += [keys[(unit_id, ref)] for unit_id, ref in rows.all()]
    return found
