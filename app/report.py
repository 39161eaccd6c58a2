"""The report for the provider: one self-contained HTML file, built in memory.

    from skinfindings.app.report import tracked_photo, build_report
    photos = [tracked_photo(prediction, day) for day, prediction in series_input]
    page = build_report(photos, procedure="microneedling", red_flags={"fever"}, model_note="...")  # bytes

It carries the treatment, the days, metadata-free thumbnails, every photo's findings and
probabilities (or why it could not be assessed), the trend verdicts from ``app/trends.py``,
the plot, the red-flag answers, the model's status and the "not a diagnosis" wording.
Everything is inline (styles, pictures as ``data:`` URIs): the file opens offline and
makes no request. No date is written, only days since the treatment: the photo's own
capture date never reaches the report, and neither does any other metadata, because
the thumbnails are rebuilt from the pixels the model saw.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

from skinfindings.app import guidance, trends
from skinfindings.app.presort import make_thumbnail
from skinfindings.app.presort_html import data_uri
from skinfindings.app.priority import RED_FLAGS
from skinfindings.app.timeline_plot import png_uri, timeline_png, verdicts_table
from skinfindings.findings import FINDING_INFO, FINDINGS

NOT_A_DIAGNOSIS = (
    "Not a diagnosis. These results come from an automated model that points to possible findings only and can "
    "be wrong in both directions; the photos were taken by the patient. Please assess the patient yourself."
)
REPORT_NAME = "skinfindings-recovery-report.html"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2937;max-width:64rem}
.notice{border:2px solid #b45309;background:#fffbeb;padding:.75rem 1rem;border-radius:6px}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
th,td{border-bottom:1px solid #d1d5db;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f4f6}
.present{font-weight:bold}
.why{color:#4b5563;font-size:.9em}
img.plot{max-width:100%;height:auto}
"""


@dataclass(frozen=True)
class TrackedPhoto:
    """One photo of a series, as kept after reading it: numbers, a note and a rebuilt thumbnail, never the file."""

    day: int
    name: str
    probabilities: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    present: list[str] = field(default_factory=list)
    note: str | None = None  # why it could not be read or assessed, with the retake tip
    thumbnail: str | None = None  # data URI, rebuilt from the model's pixels (no metadata)

    @property
    def assessed(self) -> bool:
        return self.note is None


def tracked_photo(prediction, day: int, name: str | None = None) -> TrackedPhoto:
    """From a Predictor result: the same abstention as everywhere (no numbers for a photo that was refused)."""
    note = prediction.error
    if prediction.abstention is not None:
        note = f"{prediction.abstention.message} {prediction.abstention.tip}"
    assessed = note is None
    thumbnail = data_uri(make_thumbnail(prediction.pixels), quality=80) if prediction.pixels is not None else None
    return TrackedPhoto(
        day=day,
        name=name or prediction.name,
        probabilities=dict(prediction.probabilities) if assessed else {},
        thresholds=dict(prediction.thresholds),
        present=list(prediction.present) if assessed else [],
        note=note,
        thumbnail=thumbnail,
    )


def series_of(photos: list[TrackedPhoto], procedure: str | None) -> trends.Series:
    return trends.analyse_series([(p.day, p) for p in photos], procedure)


def thresholds_of(photos: list[TrackedPhoto]) -> dict[str, float]:
    return next((p.thresholds for p in photos if p.thresholds), {})


def _photo_row(photo: TrackedPhoto) -> str:
    thumb = (f'<img src="{photo.thumbnail}" alt="photo of day {photo.day}" width="96">' if photo.thumbnail
             else '<span class="why">no preview</span>')
    if not photo.assessed:
        cells = f'<td colspan="{len(FINDINGS)}"><b>Not assessed.</b> <span class="why">{html.escape(photo.note)}</span></td>'
    else:
        cells = "".join(
            f'<td class="{"present" if f in photo.present else ""}">{photo.probabilities[f]:.0%}</td>' for f in FINDINGS
        )
    return f"<tr><td>{photo.day}</td><td>{thumb}</td><td>{html.escape(photo.name)}</td>{cells}</tr>"


def photos_table(photos: list[TrackedPhoto]) -> str:
    head = "".join(f'<th scope="col">{html.escape(FINDING_INFO[f].label)}</th>' for f in FINDINGS)
    body = "".join(_photo_row(p) for p in sorted(photos, key=lambda p: p.day))
    return (
        '<table class="sf-photos"><caption>Each photo: estimated probability per finding (bold: at or above the '
        'model\'s threshold)</caption><thead><tr><th scope="col">Day</th><th scope="col">Photo</th>'
        f'<th scope="col">Name</th>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _red_flag_list(red_flags: set[str]) -> str:
    items = "".join(
        f"<li>{html.escape(text)}: <b>{'yes' if key in red_flags else 'not ticked'}</b></li>"
        for key, text in RED_FLAGS.items()
    )
    return f"<ul>{items}</ul>"


def build_report(photos: list[TrackedPhoto], procedure: str | None, red_flags: set[str] | frozenset[str],
                 model_note: str) -> bytes:
    """The whole report as UTF-8 HTML bytes; nothing is written anywhere."""
    red_flags = {f for f in red_flags if f in RED_FLAGS}
    series = series_of(photos, procedure)
    notice = trends.series_urgency(series, red_flags)
    procedure_label = guidance.guidance().procedures.get(series.procedure, series.procedure)
    plot = png_uri(timeline_png(series, thresholds_of(photos)))
    days = ", ".join(str(day) for day in series.days)
    notice_lines = "".join(f"<p>{html.escape(line)}</p>" for line in notice.lines)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Recovery photos: report for the provider</title>
<style>{_STYLE}</style></head><body>
<h1>Recovery photos: report for the provider</h1>
<div class="notice"><p><b>{html.escape(NOT_A_DIAGNOSIS)}</b></p>
<p>Notice shown to the patient: <b>{html.escape(notice.headline)}</b></p>{notice_lines}</div>
<p>Model: {html.escape(model_note)}</p>
<h2>Treatment</h2><p>{html.escape(procedure_label)}; {len(photos)} photos on days {days} since the treatment.</p>
<h2>Warning signs the patient reported</h2>{_red_flag_list(red_flags)}
<h2>Trends</h2>{verdicts_table(series)}
<img class="plot" src="{plot}" alt="Timeline plot of each finding by day; the same information is in the trend table above.">
<h2>Photos</h2>{photos_table(photos)}
<p class="why">Probabilities are the model's own estimates (calibrated on synthetic images only). A photo that could
not be assessed is a gap in the timeline, not a photo without findings.</p>
</body></html>
"""
    return page.encode("utf-8")


def download_link(data: bytes, filename: str, text: str, mime: str = "text/html") -> str:
    """An anchor that hands the bytes to the browser inline: no file on the server."""
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return f'<a class="sf-download" download="{html.escape(filename)}" href="{uri}">{html.escape(text)}</a>'
