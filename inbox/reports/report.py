"""The annual report as sections of tables and charts, in words: what `figures` counted, with
headings and labels in Swedish (or English), ready for any format (`inbox.reports.render`).

A table cell is a number, a text, or a `Share` (a proportion, written as a percentage); each
section may have one chart drawn from its table and a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.access import Scope
from inbox.cases.measures import LEX_SARAH_OUTCOMES, MEASURE_STATUSES, MEASURE_TYPES
from inbox.checkins.reports import MIN_GROUP
from inbox.core.models import Topic, Unit
from inbox.reports.figures import CRITICISM, Figures, Request, compute, share
from inbox.reports.labels import ENGLISH, HEADINGS, MONTHS

Labels = Mapping[str, Mapping[str, str]]


class Share(float):
    """A proportion (0–1), shown as a percentage."""


Cell = int | float | str | None


@dataclass(frozen=True, slots=True)
class Chart:
    kind: str  # bar, barh, line
    title: str
    description: str
    categories: list[str]
    series: list[tuple[str, list[float]]]
    percent: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    columns: list[str]
    rows: list[list[Cell]]


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    heading: str
    table: Table | None
    chart: Chart | None = None
    note: str | None = None
    texts: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    period: str
    units: str
    made_on: date
    lang: str
    sections: list[Section]
    words: Mapping[str, str]


def _row(*cells: Cell) -> list[Cell]:
    return list(cells)


def _share(part: int, whole: int) -> Share | None:
    value = share(part, whole)
    return None if value is None else Share(value)


async def build(
    session: AsyncSession,
    request: Request,
    *,
    scope: Scope,
    today: date,
    lang: str = "sv",
    swedish: Labels,
) -> Report:
    """The report for `request` within `scope`; `swedish` holds the Swedish labels of kinds,
    roles, channels and outcomes (the staff pages' own)."""
    figures = await compute(session, request, scope=scope, today=today)
    words = HEADINGS[lang]
    labels: Labels = ENGLISH
    if lang == "sv":
        labels = {
            **swedish,
            "measure_type": MEASURE_TYPES,
            "measure_status": MEASURE_STATUSES,
            "lex_sarah": LEX_SARAH_OUTCOMES,
        }
    units = {u.id: u.name for u in (await session.execute(select(Unit))).scalars()}
    topics = {
        t.code: (t.label_sv if lang == "sv" else t.label_en)
        for t in (await session.execute(select(Topic))).scalars()
    }
    shown = request.unit_ids if request.unit_ids is not None else scope.unit_ids
    chosen = (
        words["all_units"]
        if shown is None
        else ", ".join(sorted(units.get(u, str(u)) for u in shown))
    )
    builder = _Builder(figures, words, labels, lang)
    return Report(
        title=words["title"],
        period=figures.periods[0].label,
        units=chosen,
        made_on=today,
        lang=lang,
        words=words,
        sections=[
            builder.volumes(),
            builder.kinds(),
            builder.counted("roles", figures.roles, "submitter_role"),
            builder.counted("channels", figures.channels, "channel"),
            builder.units(units),
            builder.topics(topics),
            builder.response(),
            builder.counted("outcomes", figures.outcomes, "outcome"),
            builder.measures(),
            builder.ivo(),
            builder.flags(),
            builder.checkins(),
            builder.examples(),
        ],
    )


@dataclass
class _Builder:
    figures: Figures
    words: Mapping[str, str]
    labels: Labels
    lang: str

    def label(self, group: str, code: object) -> str:
        if code is None:
            return self.words["none"]
        return self.labels.get(group, {}).get(str(code), str(code))

    def periods(self) -> list[str]:
        return [p.label for p in self.figures.periods]

    def volumes(self) -> Section:
        w, f = self.words, self.figures
        names = MONTHS[self.lang]
        months: list[list[int]] = [list(m.values()) for m in f.months]
        totals: list[Cell] = [sum(m) for m in months]
        rows: list[list[Cell]] = []
        for position, (month, _, _) in enumerate(f.periods[0].months()):
            row: list[Cell] = [names[int(month[5:]) - 1]]
            row += [m[position] if position < len(m) else None for m in months]
            rows.append(row)
        rows.append([w["total"], *totals])
        note = None
        now_total = sum(months[0])
        before_total = sum(months[1]) if len(months) > 1 else 0
        if before_total:
            change = (now_total - before_total) / before_total
            note = w["change_note"].format(
                change=f"{change * 100:+.0f}".replace("-", "−"), before=f.periods[1].label
            )
        return Section(
            "volumes",
            w["volumes"],
            Table([w["month"], *self.periods()], rows),
            Chart(
                "line",
                w["volumes"],
                w["volumes_desc"],
                [str(r[0]) for r in rows[:-1]],
                [
                    (p, [float(m[i]) for i in range(len(m))])
                    for p, m in zip(self.periods(), months, strict=True)
                ],
            ),
            note,
        )

    def kinds(self) -> Section:
        w, f = self.words, self.figures
        codes = sorted({k for c in f.kinds for k in c}, key=lambda k: (-f.kinds[0][k], k))
        rows: list[list[Cell]] = [
            [self.label("kind", k), *(c[k] for c in f.kinds), _share(f.kinds[0][k], f.total)]
            for k in codes
        ]
        shares = [_share(c[CRITICISM], sum(c.values())) for c in f.kinds]
        rows.append([w["criticism_share"], *shares, None])
        note = None
        if len(shares) > 1 and shares[0] is not None and shares[1] is not None:
            points = (shares[0] - shares[1]) * 100
            note = w["criticism_note"].format(
                now=f"{shares[0] * 100:.0f}",
                before=f"{shares[1] * 100:.0f}",
                year=f.periods[1].label,
                points=f"{points:+.0f}".replace("-", "−"),
            )
        return Section(
            "kinds",
            w["kinds"],
            Table([w["kind"], *self.periods(), w["share"]], rows),
            Chart(
                "bar",
                w["kinds"],
                w["kinds_desc"],
                [self.label("kind", k) for k in codes],
                [
                    (p, [float(c[k]) for k in codes])
                    for p, c in zip(self.periods(), f.kinds, strict=True)
                ],
            ),
            note,
        )

    def counted(self, key: str, counts: Mapping[Any, int], group: str) -> Section:
        w = self.words
        total = sum(counts.values())
        codes = sorted(counts, key=lambda c: (-counts[c], str(c)))
        rows: list[list[Cell]] = [
            [self.label(group, c), counts[c], _share(counts[c], total)] for c in codes
        ]
        return Section(
            key,
            w[key],
            Table([w[f"{key}_column"], w["count"], w["share"]], rows),
            self._bars(key, [str(r[0]) for r in rows], [float(counts[c]) for c in codes]),
        )

    def _bars(self, key: str, categories: list[str], values: list[float]) -> Chart | None:
        if not categories:
            return None
        return Chart(
            "barh",
            self.words[key],
            self.words[f"{key}_desc"],
            categories,
            [(self.periods()[0], values)],
        )

    def units(self, names: Mapping[int | None, str]) -> Section:
        w, f = self.words, self.figures
        counts = f.units
        codes = sorted(counts, key=lambda c: (-counts[c], str(c)))
        rows: list[list[Cell]] = []
        for unit in codes:
            timely, known = f.in_time.get(unit, (0, 0)) if unit is not None else (0, 0)
            name = names.get(unit, w["no_unit"]) if unit is not None else w["no_unit"]
            rows.append([name, counts[unit], _share(counts[unit], f.total), _share(timely, known)])
        return Section(
            "units",
            w["units"],
            Table([w["units_column"], w["count"], w["share"], w["in_time_share"]], rows),
            self._bars("units", [str(r[0]) for r in rows], [float(counts[u]) for u in codes]),
        )

    def topics(self, names: Mapping[str, str]) -> Section:
        w, f = self.words, self.figures
        codes = sorted(f.topics, key=lambda c: (-f.topics[c], c))
        rows: list[list[Cell]] = [
            [names.get(c, c), f.topics[c], _share(f.topics[c], f.total)] for c in codes
        ]
        return Section(
            "topics",
            w["topics"],
            Table([w["topics_column"], w["cases"], w["share_of_cases"]], rows),
            self._bars("topics", [str(r[0]) for r in rows], [float(f.topics[c]) for c in codes]),
            w["topics_note"],
        )

    def response(self) -> Section:
        w, f = self.words, self.figures
        timely, known = f.in_time.get(None, (0, 0))
        medians = [None if m is None else round(m, 1) for m in f.median_hours]
        rows: list[list[Cell]] = [
            [w["with_target"], known],
            [w["in_time"], timely],
            [w["in_time_share"], _share(timely, known)],
            [w["median_hours"], medians[0]],
        ]
        return Section(
            "response",
            w["response"],
            Table([w["measure"], f.periods[0].label], rows),
            Chart(
                "bar",
                w["median_hours"],
                w["response_desc"],
                self.periods(),
                [(w["median_hours"], [m or 0.0 for m in medians])],
            ),
            w["response_note"],
        )

    def measures(self) -> Section:
        w, f = self.words, self.figures
        types = [t for t in MEASURE_TYPES if any(f.measures[(t, s)] for s in MEASURE_STATUSES)]
        rows: list[list[Cell]] = []
        for t in types:
            counts = [f.measures[(t, s)] for s in MEASURE_STATUSES]
            rows.append([self.label("measure_type", t), *counts, sum(counts)])
        statuses = [self.label("measure_status", s) for s in MEASURE_STATUSES]
        return Section(
            "measures",
            w["measures"],
            Table([w["measures_column"], *statuses, w["total"]], rows),
            self._bars("measures", [str(r[0]) for r in rows], [float(r[-1] or 0) for r in rows]),
        )

    def ivo(self) -> Section:
        w, f = self.words, self.figures
        return Section(
            "ivo",
            w["ivo"],
            Table(
                [w["measure"], w["count"], w["share"]],
                [[w["via_ivo"], f.ivo, _share(f.ivo, f.total)]],
            ),
        )

    def flags(self) -> Section:
        w, f = self.words, self.figures
        rows: list[list[Cell]] = [
            [w["lex_sarah_flagged"], f.lex_sarah_flagged],
            [w["lex_sarah_assessed"], f.lex_sarah_assessed],
            *(
                _row("– " + self.label("lex_sarah", o), f.lex_sarah_outcomes[o])
                for o in LEX_SARAH_OUTCOMES
            ),
            ["– " + w["lex_sarah_pending"], f.lex_sarah_outcomes[None]],
            [w["deviations"], f.deviations],
            [w["not_executed"], f.not_executed],
        ]
        return Section("flags", w["flags"], Table([w["measure"], w["count"]], rows))

    def checkins(self) -> Section:
        w, c = self.words, self.figures.checkins
        rows: list[list[Cell]] = [[w["asked"], c["asked"]]]
        if c["suppressed"]:
            return Section(
                "checkins",
                w["checkins"],
                Table([w["measure"], w["count"]], rows),
                note=w["suppressed_note"].format(min=MIN_GROUP),
            )
        understood = c["understood"]
        u_total = sum(understood.values())
        appeal = c["knows_appeal"]
        ratings = c["ratings"]
        contact = c["contact"]
        rows += [
            [w["answered"], c["answered"]],
            [w["response_rate"], None if c["response_rate"] is None else Share(c["response_rate"])],
            *(
                _row(w[f"understood_{v}"], _share(understood[v], u_total))
                for v in ("yes", "partly", "no")
            ),
            [w["knows_appeal"], _share(appeal["yes"], appeal["yes"] + appeal["no"])],
            *(_row(w["rating"].format(n=n), ratings[n]) for n in ("1", "2", "3", "4", "5")),
            [w["wants_contact"], contact["yes"]],
        ]
        return Section(
            "checkins",
            w["checkins"],
            Table([w["measure"], w["value"]], rows),
            Chart(
                "bar",
                w["ratings"],
                w["ratings_desc"],
                ["1", "2", "3", "4", "5"],
                [(w["answers"], [float(ratings[n]) for n in ("1", "2", "3", "4", "5")])],
            ),
        )

    def examples(self) -> Section:
        w = self.words
        return Section(
            "examples",
            w["examples"],
            None,
            note=None if self.figures.examples else w["no_examples"],
            texts=self.figures.examples,
        )
