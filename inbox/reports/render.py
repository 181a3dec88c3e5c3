"""The report in each format: HTML (printable on A4, every chart an SVG with its table beside
it), an xlsx workbook with one sheet per section, and CSV (one block per section).

Numbers stay numbers in the workbook and the CSV (a share as a decimal fraction); the HTML writes
shares as percentages and numbers the Swedish way.
"""

from __future__ import annotations

import csv
import io
from base64 import b64encode
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from openpyxl import Workbook
from openpyxl.styles import Font

from inbox.reports.charts import draw
from inbox.reports.report import Cell, Report, Share

FORMATS = ("html", "xlsx", "csv")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
TEMPLATES = Path(__file__).parent / "templates"
STYLE = (TEMPLATES / "report.css").read_text(encoding="utf-8")

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def cell_text(value: Cell, lang: str) -> str:
    """A cell as the HTML shows it: "59 %", "1 234", "2,5" (Swedish) or "2.5" (English)."""
    if value is None:
        return "–"
    if isinstance(value, Share):
        number = f"{value * 100:.0f}"
        return f"{number} %"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        text = f"{value:,}".replace(",", "\u00a0" if lang == "sv" else ",")
        return text
    if isinstance(value, float):
        text = f"{value:.1f}"
        return text.replace(".", ",") if lang == "sv" else text
    return str(value)


def body(report: Report, *, inline_charts: bool) -> Markup:
    """The report's content (headings, tables, charts, examples) without a page around it:
    `inline_charts` puts each SVG in the page, else as an image (a page whose CSP forbids the
    style attributes an SVG draws with)."""
    charts = {}
    for section in report.sections:
        if section.chart is not None:
            svg = draw(section.chart, f"chart-{section.key}")
            charts[section.key] = (
                Markup(svg)
                if inline_charts
                else Markup('<img src="data:image/svg+xml;base64,{}" alt="{}">').format(
                    b64encode(svg.encode()).decode(),
                    f"{section.chart.title}. {section.chart.description}",
                )
            )
    return Markup(
        _env.get_template("_report_body.html").render(
            report=report, w=report.words, charts=charts, cell=cell_text
        )
    )


def to_html(report: Report) -> str:
    """A standalone HTML document, its style inside, for printing and filing."""
    return _env.get_template("report.html").render(
        report=report,
        w=report.words,
        style=Markup(STYLE),
        content=body(report, inline_charts=True),
    )


def _sheet_title(heading: str, used: set[str]) -> str:
    title = "".join(ch for ch in heading if ch not in "[]:*?/\\")[:31]
    while title in used:
        title = title[:28] + f" {len(used)}"
    used.add(title)
    return title


def to_xlsx(report: Report) -> bytes:
    """A workbook: a first sheet naming the report, then one sheet per section."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = report.words["title"][:31]
    w = report.words
    for row in (
        [report.title],
        [w["period"], report.period],
        [w["units_label"], report.units],
        [w["made_on"], report.made_on.isoformat()],
    ):
        sheet.append(row)
    sheet["A1"].font = Font(bold=True, size=14)
    used = {sheet.title}
    for section in report.sections:
        page = book.create_sheet(_sheet_title(section.heading, used))
        page.append([section.heading])
        page["A1"].font = Font(bold=True, size=12)
        if section.table is not None:
            page.append(section.table.columns)
            for cell in page[2]:
                cell.font = Font(bold=True)
            for values in section.table.rows:
                page.append([float(v) if isinstance(v, Share) else v for v in values])
                for value, cell in zip(values, page[page.max_row], strict=False):
                    if isinstance(value, Share):
                        cell.number_format = "0%"
        for summary, handling in section.texts:
            page.append([w["example_summary"], summary])
            page.append([w["example_handling"], handling])
        if section.note:
            page.append([])
            page.append([section.note])
        page.column_dimensions["A"].width = 48
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_csv(report: Report) -> str:
    """Every section as a block: `section`, heading; the table's header and rows; a blank
    line. Shares are decimal fractions."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([report.title, report.period, report.units, report.made_on.isoformat()])
    for section in report.sections:
        writer.writerow([])
        writer.writerow(["section", section.key, section.heading])
        if section.table is not None:
            writer.writerow(section.table.columns)
            for values in section.table.rows:
                writer.writerow(["" if v is None else v for v in values])
        for summary, handling in section.texts:
            writer.writerow([summary, handling])
    return out.getvalue()


def rendered(report: Report, fmt: str) -> bytes:
    """The report in `fmt` (one of `FORMATS`) as bytes."""
    if fmt == "html":
        return to_html(report).encode()
    if fmt == "xlsx":
        return to_xlsx(report)
    if fmt == "csv":
        return to_csv(report).encode()
    raise ValueError(f"unknown format {fmt!r}")
