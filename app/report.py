"""The report for the provider: one self-contained HTML file, built in memory.

    from skinfindings.app.report import tracked_photo, build_report
    photos = [tracked_photo(prediction, day, source=upload_bytes) for day, prediction, upload_bytes in series_input]
    page = build_report(photos, "microneedling", {"fever"}, predictor.meta, patient="A. Patient", note="...")

It carries the date it was made, the patient's name/ID and note when given, the treatment
(and its date when given), the days, each photo at 512 px or more (re-decoded from the
upload through the safe loader and re-encoded from pixels: no metadata), every photo's
finding levels and probabilities (or why it could not be assessed), the trend verdicts
from ``app/trends.py``, the plot, the red-flag answers, the notice the patient saw, and
the model's name, version, weights hash and cut-offs — every model statement read from
the checkpoint's metadata. Everything is inline (styles, pictures as ``data:`` URIs): the
file opens offline and makes no request. The photo's own capture date never reaches the
report, nor does any other metadata of the file.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass, field

from PIL import Image

from skinfindings.app import guidance, trends
from skinfindings.app.presort import make_thumbnail
from skinfindings.app.presort_html import data_uri
from skinfindings.app.priority import RED_FLAGS
from skinfindings.app.timeline_plot import png_uri, timeline_png, verdicts_table
from skinfindings.data.photo import PhotoError, PhotoSource, load_photo
from skinfindings.findings import FINDINGS, NOT_SEEN
from skinfindings.model.checkpoint import CheckpointMeta

REPORT_SIDE = 512  # the provider sees the skin, not the model's 128 px view
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
img.plot,img.photo{max-width:100%;height:auto}
.scroll{overflow-x:auto}
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
    levels: dict[str, str] = field(default_factory=dict)  # LIKELY / POSSIBLE / NOT_SEEN; empty when not assessed
    rule_in: dict[str, float] = field(default_factory=dict)
    view: str | None = None  # data URI of the photo at REPORT_SIDE px, re-decoded without metadata

    @property
    def assessed(self) -> bool:
        return self.note is None


def report_view(source: PhotoSource | None) -> str | None:
    """The photo at up to REPORT_SIDE px on its longer side, through the safe loader (no metadata survives the
    re-encoding); None when there is no source or it cannot be read."""
    if source is None:
        return None
    try:
        image = load_photo(source, draft_size=REPORT_SIDE)
    except PhotoError:
        return None
    image.thumbnail((REPORT_SIDE, REPORT_SIDE), Image.Resampling.LANCZOS)
    return data_uri(image, quality=85)


def tracked_photo(prediction, day: int, name: str | None = None, source: PhotoSource | None = None) -> TrackedPhoto:
    """From a Predictor result: the same abstention as everywhere (no numbers for a photo that was refused).

    ``source``: the upload's bytes, for the report's larger view (read again, never kept)."""
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
        levels=dict(prediction.levels) if assessed else {},
        rule_in=dict(prediction.rule_in),
        view=report_view(source) if prediction.pixels is not None else None,
    )


def series_of(photos: list[TrackedPhoto], procedure: str | None) -> trends.Series:
    return trends.analyse_series([(p.day, p) for p in photos], procedure)


def thresholds_of(photos: list[TrackedPhoto]) -> dict[str, float]:
    return next((p.thresholds for p in photos if p.thresholds), {})


def _cell(photo: TrackedPhoto, finding: str) -> str:
    level = photo.levels.get(finding, "present" if finding in photo.present else NOT_SEEN)
    word = guidance.level_word(level) if level != "present" else "present"
    return f'<td class="{"present" if level != NOT_SEEN else ""}">{html.escape(word)} {photo.probabilities[finding]:.0%}</td>'


def _photo_row(photo: TrackedPhoto) -> str:
    thumb = (f'<img src="{photo.thumbnail}" alt="photo of day {photo.day}" width="96">' if photo.thumbnail
             else '<span class="why">no preview</span>')
    if not photo.assessed:
        cells = f'<td colspan="{len(FINDINGS)}"><b>Not assessed.</b> <span class="why">{html.escape(photo.note)}</span></td>'
    else:
        cells = "".join(_cell(photo, f) for f in FINDINGS)
    return f"<tr><td>{photo.day}</td><td>{thumb}</td><td>{html.escape(photo.name)}</td>{cells}</tr>"


def photos_table(photos: list[TrackedPhoto]) -> str:
    """Each photo's day, thumbnail and level + estimate per finding."""
    head = "".join(f'<th scope="col">{html.escape(guidance.guidance().names[f])}</th>' for f in FINDINGS)
    body = "".join(_photo_row(p) for p in sorted(photos, key=lambda p: p.day))
    return (
        '<div class="scroll"><table class="sf-photos"><caption>Each photo: the model\'s level and estimate per '
        'finding (bold: possible or likely)</caption><thead><tr><th scope="col">Day</th><th scope="col">Photo</th>'
        f'<th scope="col">Name</th>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def gallery(photos: list[TrackedPhoto]) -> str:
    """The photos at REPORT_SIDE px, one after another, so the provider sees the skin itself."""
    figures = "".join(
        f'<figure><img class="photo" src="{p.view}" alt="{html.escape(p.name)}, day {p.day}">'
        f"<figcaption>{html.escape(p.name)}, day {p.day}</figcaption></figure>"
        for p in sorted(photos, key=lambda p: p.day) if p.view
    )
    return f"<h2>The photos</h2>{figures}" if figures else ""


def _red_flag_list(red_flags: set[str]) -> str:
    items = "".join(
        f"<li>{html.escape(text)}: <b>{'yes' if key in red_flags else 'not ticked'}</b></li>"
        for key, text in RED_FLAGS.items()
    )
    return f"<ul>{items}</ul>"


def model_section(meta: CheckpointMeta) -> str:
    """Name, version, weights hash, standing and each finding's cut-offs, all read from the checkpoint."""
    from skinfindings.app.notice import model_status  # notice imports the app's inputs; keep this module light

    rows = "".join(
        f'<tr><th scope="row">{html.escape(guidance.guidance().names[f])}</th><td>{out:.2f}</td><td>{rule_in:.2f}</td></tr>'
        for f, out, rule_in in zip(FINDINGS, meta.thresholds, meta.rule_in_thresholds)
    )
    facts = [
        ("Model", f"{meta.arch}, {meta.input_size} px input"),
        ("Version", f"checkpoint format {meta.format_version}; weights stored as {meta.weights_dtype}"),
        ("Weights SHA-256", meta.weights_sha256 or "not recorded in the checkpoint"),
        ("Standing", model_status(meta)),
        ("How the cut-offs were set", "; ".join(r for r in (meta.threshold_rule, meta.rule_in_rule) if r)),
    ]
    items = "".join(f"<li><b>{html.escape(k)}:</b> {html.escape(v)}</li>" for k, v in facts)
    return (
        f"<h2>Model</h2><ul>{items}</ul><div class=\"scroll\"><table><caption>Cut-offs per finding: possible from "
        "the first, likely from the second (calibrated probability)</caption><thead><tr><th scope=\"col\">Finding"
        '</th><th scope="col">Possible from</th><th scope="col">Likely from</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _patient_section(patient: str, note: str) -> str:
    parts = []
    if patient.strip():
        parts.append(f"<p><b>Patient (as typed by the patient):</b> {html.escape(patient.strip())}</p>")
    if note.strip():
        parts.append(f"<p><b>Note from the patient:</b></p><blockquote>{html.escape(note.strip())}</blockquote>")
    return "".join(parts)


def build_report(photos: list[TrackedPhoto], procedure: str | None, red_flags: set[str] | frozenset[str],
                 meta: CheckpointMeta, *, patient: str = "", note: str = "", treatment_date: dt.date | None = None,
                 made: dt.date | None = None) -> bytes:
    """The whole report as UTF-8 HTML bytes; nothing is written anywhere."""
    red_flags = {f for f in red_flags if f in RED_FLAGS}
    series = series_of(photos, procedure)
    notice = trends.series_urgency(series, red_flags)
    procedure_label = guidance.guidance().procedures.get(series.procedure, series.procedure)
    treated = f" on {treatment_date.isoformat()}" if treatment_date else ""
    plot = png_uri(timeline_png(series, thresholds_of(photos)))
    days = ", ".join(str(day) for day in series.days)
    notice_lines = "".join(f"<p>{html.escape(line)}</p>" for line in (notice.next_step, *notice.lines))
    made = made or dt.date.today()
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Recovery photos: report for the provider</title>
<style>{_STYLE}</style></head><body>
<h1>Recovery photos: report for the provider</h1>
<p>Report made on {made.isoformat()}.</p>
{_patient_section(patient, note)}
<div class="notice"><p><b>{html.escape(NOT_A_DIAGNOSIS)}</b></p>
<p>Notice shown to the patient: <b>{html.escape(notice.headline)}</b></p>{notice_lines}</div>
<h2>Treatment</h2><p>{html.escape(procedure_label)}{treated}; {len(photos)} photos on days {days} since the treatment.</p>
<h2>Warning signs the patient reported</h2>{_red_flag_list(red_flags)}
<h2>Trends</h2><div class="scroll">{verdicts_table(series)}</div>
<img class="plot" src="{plot}" alt="Timeline plot of each finding by day; the same information is in the trend table above.">
<h2>Photos</h2>{photos_table(photos)}
<p class="why">Levels and probabilities are the model's own estimates. A photo that could not be assessed is a gap
in the timeline, not a photo without findings.</p>
{gallery(photos)}
{model_section(meta)}
</body></html>
"""
    return page.encode("utf-8")


def download_link(data: bytes, filename: str, text: str, mime: str = "text/html") -> str:
    """An anchor that hands the bytes to the browser inline: no file on the server."""
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return f'<a class="sf-download" download="{html.escape(filename)}" href="{uri}">{html.escape(text)}</a>'
