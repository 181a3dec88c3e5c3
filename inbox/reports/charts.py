"""A section's chart as an accessible SVG, drawn by matplotlib (the Agg/SVG backends, no
display): the SVG carries a <title> and a <desc> and is labelled by them, text stays text, and
nothing in it depends on the time it was drawn (no date, ids from the chart's own key).
"""

from __future__ import annotations

import io
import re
from html import escape

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path
from matplotlib.ticker import MaxNLocator, PercentFormatter

from inbox.reports.report import Chart

# Colours with at least 3:1 contrast against white and each other's neighbours distinguishable.
COLOURS = ["#1f5fa8", "#b3541e", "#2e7d32", "#6a3d9a", "#8a6d00"]
WIDTH_IN = 6.4


FONT_PT = 9
# Margins in inches: around the plot, and between a tick label and the axis (tick and padding).
EDGE_IN = 0.12
TICK_IN = 0.12
LINE_IN = 1.6 * FONT_PT / 72
_FONT = FontProperties(family="sans-serif", size=FONT_PT)


def draw(chart: Chart, key: str) -> str:
    """The chart as an SVG document's root element (no XML declaration), ids prefixed by `key`."""
    height = 3.2 if chart.kind != "barh" else max(2.2, 0.42 * len(chart.categories) + 1.0)
    with rc_context(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": key,
            "font.size": FONT_PT,
            "font.family": "sans-serif",
        }
    ):
        figure = Figure(figsize=(WIDTH_IN, height))
        axes = figure.subplots()
        _plot(axes, chart)
        axes.spines[["top", "right"]].set_visible(False)
        axes.set_axisbelow(True)
        _fit(figure, axes, chart, height)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return _accessible(buffer.getvalue(), chart, key)


def _fit(figure: Figure, axes: Axes, chart: Chart, height: float) -> None:
    """Places the plot so that its tick labels just fit, measured from their text: what a layout
    engine finds by drawing the chart twice, at about half the cost of drawing."""
    counts = axes.xaxis if chart.kind == "barh" else axes.yaxis
    low, high = axes.get_xlim() if chart.kind == "barh" else axes.get_ylim()
    ticks = [t for t in counts.get_major_locator().tick_values(low, high) if low <= t <= high]
    numbers = counts.get_major_formatter().format_ticks(ticks)
    left_labels = chart.categories if chart.kind == "barh" else numbers
    left = EDGE_IN + TICK_IN + max((_text_width_in(t) for t in left_labels), default=0.0)
    # The last number or category may reach past the plot's right edge by half its width.
    bottom_labels = numbers if chart.kind == "barh" else chart.categories
    right = EDGE_IN + (_text_width_in(bottom_labels[-1]) / 2 if bottom_labels else 0.0)
    bottom = EDGE_IN + TICK_IN + LINE_IN
    top = EDGE_IN + LINE_IN / 2  # half of the topmost number stands above the plot
    figure.subplots_adjust(
        left=min(left / WIDTH_IN, 0.6),
        right=1 - right / WIDTH_IN,
        bottom=bottom / height,
        top=1 - top / height,
    )


def _text_width_in(label: str) -> float:
    """The width in inches of a label in the charts' font."""
    width, _, _ = text_to_path.get_text_width_height_descent(label, _FONT, ismath=False)
    return float(width) / 72


def _plot(ax: Axes, chart: Chart) -> None:
    positions = list(range(len(chart.categories)))
    count = max(1, len(chart.series))
    if chart.kind == "line":
        for index, (name, values) in enumerate(chart.series):
            ax.plot(
                positions[: len(values)],
                values,
                marker="o",
                color=COLOURS[index % len(COLOURS)],
                label=name,
                linestyle=("-", "--", ":")[index % 3],
            )
        ax.set_xticks(positions, chart.categories)
        ax.grid(axis="y", color="#dddddd")
    elif chart.kind == "barh":
        name, values = chart.series[0]
        ax.barh(positions, values, color=COLOURS[0], label=name)
        ax.set_yticks(positions, chart.categories)
        ax.invert_yaxis()
        ax.grid(axis="x", color="#dddddd")
    else:
        width = 0.8 / count
        for index, (name, values) in enumerate(chart.series):
            offset = (index - (count - 1) / 2) * width
            ax.bar(
                [p + offset for p in positions],
                values,
                width,
                color=COLOURS[index % len(COLOURS)],
                label=name,
                hatch=("", "//", "..")[index % 3],
                edgecolor="white",
            )
        ax.set_xticks(positions, chart.categories)
        ax.grid(axis="y", color="#dddddd")
    counts = ax.xaxis if chart.kind == "barh" else ax.yaxis
    counts.set_major_locator(MaxNLocator(integer=not chart.percent))
    if chart.percent:
        counts.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
        (ax.set_xlim if chart.kind == "barh" else ax.set_ylim)(0, 100)
    if len(chart.series) > 1:
        ax.legend(frameon=False)


def _accessible(svg: str, chart: Chart, key: str) -> str:
    """Drops the XML prologue, labels the root by a <title> and a <desc>, and keeps ids unique
    when several charts share a page."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r'id="([^"]+)"', lambda m: f'id="{key}-{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{key}-{m.group(1)})", svg)
    svg = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{key}-{m.group(1)}"', svg)
    head_end = svg.index(">") + 1
    head = svg[:head_end].replace(
        "<svg ",
        f'<svg role="img" aria-labelledby="{key}-title {key}-desc" ',
        1,
    )
    labels = (
        f'<title id="{key}-title">{escape(chart.title)}</title>'
        f'<desc id="{key}-desc">{escape(chart.description)}</desc>'
    )
    return head + labels + svg[head_end:]
