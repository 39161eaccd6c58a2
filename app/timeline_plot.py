"""The recovery timeline as a picture: one small plot per finding, drawn in memory.

    png = timeline_png(series, thresholds)                 # the app's tab and the provider report
    png = timeline_png(series, thresholds, compact=True)   # one line per patient in the pre-sort worklist

Each plot shows the calibrated probability by day, the model's threshold (dashed), and,
shaded, the window in which the chosen treatment makes the finding expected (taken from
the Series, which read it from guidance.json). A day whose photo could not be assessed is
a grey dotted line marked "?": a gap, never drawn as "no finding". The picture is an
illustration; its text alternative is the verdicts table (``verdicts_table``) next to it.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass

from matplotlib.figure import Figure

from skinfindings.app import trends
from skinfindings.app.trends import Series, Trend
from skinfindings.findings import FINDING_INFO, FINDINGS


@dataclass(frozen=True)
class PlotStyle:
    width: float  # inches
    height_per_finding: float
    dpi: int
    titles: bool


FULL = PlotStyle(width=7.0, height_per_finding=1.45, dpi=90, titles=True)
COMPACT = PlotStyle(width=7.5, height_per_finding=1.1, dpi=60, titles=False)
WINDOW_COLOUR = "#bfdbfe"  # light blue: readable under the dark line and the threshold
LINE_COLOUR = "#1e3a8a"
THRESHOLD_COLOUR = "#b45309"
GAP_COLOUR = "#6b7280"


def _draw(axes, trend: Trend, threshold: float | None, last_day: int, titles: bool) -> None:
    window = trend.window
    if window is not None and window.expected:
        end = window.last_day if window.last_day is not None else last_day + 1
        axes.axvspan(window.first_day - 0.5, end + 0.5, color=WINDOW_COLOUR, label="expected window")
    if threshold is not None:
        axes.axhline(threshold, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1, label="threshold")
    days = [p.day for p in trend.points]
    values = [math.nan if p.probability is None else p.probability for p in trend.points]  # NaN breaks the line
    axes.plot(days, values, color=LINE_COLOUR, marker="o", markersize=2 if not titles else 4,
              linewidth=1 if not titles else 1.5, label="probability")
    for point in trend.points:
        if point.probability is None:
            axes.axvline(point.day, color=GAP_COLOUR, linestyle=":", linewidth=1)
            axes.text(point.day, 0.5, "?", color=GAP_COLOUR, ha="center", va="center", fontsize=9)
    axes.set_ylim(0, 1)
    axes.set_xlim(-0.5, last_day + 1.5)
    axes.set_yticks([0, 0.5, 1], ["0%", "50%", "100%"], fontsize=7)
    axes.tick_params(axis="x", labelsize=7)
    label = FINDING_INFO[trend.finding].label
    if titles:
        axes.set_title(f"{label}: {trend.verdict.label.lower()}", fontsize=9, loc="left")
    else:
        axes.set_title(trend.finding.capitalize(), fontsize=8, loc="left")


def timeline_png(series: Series, thresholds: dict[str, float] | None = None, compact: bool = False) -> bytes:
    """The timeline of every finding as one PNG; 30 photos or more fit (days are the x axis, not slots)."""
    style = COMPACT if compact else FULL
    thresholds = thresholds or {}
    rows, cols = (1, len(FINDINGS)) if compact else (len(FINDINGS), 1)
    height = style.height_per_finding * (1.3 if compact else len(FINDINGS))
    figure = Figure(figsize=(style.width, height), dpi=style.dpi, layout="constrained")
    grid = figure.subplots(rows, cols, sharex=True, squeeze=False).ravel()
    last_day = max(series.days)
    for axes, finding in zip(grid, FINDINGS):
        _draw(axes, series.trends[finding], thresholds.get(finding), last_day, style.titles)
    if not compact:
        grid[-1].set_xlabel("days since the treatment (? = photo could not be assessed)", fontsize=8)
        legend = {}  # one entry per label, from whichever plot has it (a window is not drawn for every finding)
        for axes in grid:
            for handle, label in zip(*axes.get_legend_handles_labels()):
                legend.setdefault(label, handle)
        figure.legend(list(legend.values()), list(legend), loc="outside upper right", ncols=3, fontsize=7,
                      frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def verdicts_table(series: trends.Series, caption: str = "Trend per finding") -> str:
    """The verdicts as a table: the text alternative of the plot, shared by the app and the report."""
    rows = "".join(
        f'<tr data-finding="{f}" data-verdict="{t.verdict.kind}"><th scope="row">{html.escape(FINDING_INFO[f].label)}'
        f"</th><td>{html.escape(t.verdict.label)}</td><td>{html.escape(t.verdict.text)}</td>"
        f"<td>{html.escape(trends.window_words(t.window, series.procedure))}</td></tr>"
        for f, t in series.trends.items()
    )
    return (
        f'<table class="sf-verdicts"><caption>{html.escape(caption)}</caption><thead><tr><th scope="col">Finding'
        '</th><th scope="col">Trend</th><th scope="col">In words</th><th scope="col">When it is expected</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
    )
