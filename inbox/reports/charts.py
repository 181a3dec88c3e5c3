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
from matplotlib.ticker import MaxNLocator

from inbox.reports.report import Chart

# Colours with at least 3:1 contrast against white and each other's neighbours distinguishable.
COLOURS = ["#1f5fa8", "#b3541e", "#2e7d32", "#6a3d9a", "#8a6d00"]
WIDTH_IN = 6.4


def draw(chart: Chart, key: str) -> str:
    """The chart as an SVG document's root element (no XML declaration), ids prefixed by `key`."""
    height = 3.2 if chart.kind != "barh" else max(2.2, 0.42 * len(chart.categories) + 1.0)
    with rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": key, "font.size": 9, "font.family": "sans-serif"}
    ):
        figure = Figure(figsize=(WIDTH_IN, height), layout="constrained")
        axes = figure.subplots()
        _plot(axes, chart)
        axes.spines[["top", "right"]].set_visible(False)
        axes.set_axisbelow(True)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return _accessible(buffer.getvalue(), chart, key)


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
