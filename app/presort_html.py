"""The pre-sort worklist: one self-contained HTML page, thumbnails inline, most urgent first."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from skinfindings.app.presort_patients import patient_trends
from skinfindings.app.presort_rows import SortRow, sort_rows
from skinfindings.app.timeline_plot import png_uri, timeline_png, verdicts_table
from skinfindings.app.guidance import guidance
from skinfindings.app.priority import RED_FLAGS, TIER_BY_KEY
from skinfindings.findings import FINDING_INFO

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
.notice{border:2px solid #b45309;background:#fffbeb;padding:.75rem 1rem;border-radius:6px;max-width:60rem}
table{border-collapse:collapse;margin-top:1rem;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f4f6;position:sticky;top:0}
td.thumb{width:132px}
tr.urgent td:first-child{border-left:6px solid #b91c1c}
tr.review td:first-child{border-left:6px solid #d97706}
tr.check td:first-child{border-left:6px solid #6b7280}
tr.routine td:first-child,tr.routine-none td:first-child{border-left:6px solid #9ca3af}
.why{color:#555;font-size:.9em}
section.patient{border-left:6px solid #9ca3af;padding:.25rem 1rem;margin:1rem 0}
section.patient.urgent{border-color:#b91c1c}
section.patient.review{border-color:#d97706}
section.patient img{max-width:100%;height:auto}
"""


def data_uri(picture: np.ndarray | Image.Image, quality: int = 88) -> str:
    """An inline JPEG, re-encoded from pixels (so no metadata): shown without a file on the server."""
    image = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnail_html(thumbnail: Image.Image | None) -> str:
    if thumbnail is None:
        return "<span class=why>no preview</span>"
    return f'<img alt="" width="{thumbnail.width}" height="{thumbnail.height}" src="{data_uri(thumbnail, quality=80)}">'


def _findings_html(row: SortRow) -> str:
    if row.error:
        return f"<b>Could not be read.</b> <span class=why>{html.escape(row.error)}</span>"
    if row.abstain_reason:
        return f"<b>Not assessed.</b> <span class=why>{html.escape(row.abstain_reason)}</span>"
    if not row.present:
        return "No finding recognised by the model (this is not the same as normal)."
    items = [f"Possible {html.escape(FINDING_INFO[f].label.lower())} ({row.probabilities[f]:.0%})" for f in row.present]
    return "<br>".join(items)


def _row_html(position: int, row: SortRow) -> str:
    flags = "<br>".join(html.escape(RED_FLAGS.get(f, f)) for f in row.red_flags) or ""
    return (
        f'<tr class="{row.tier.key}"><td>{position}</td><td class=thumb>{_thumbnail_html(row.thumbnail)}</td>'
        f"<td><b>{html.escape(row.tier.label)}</b><br><span class=why>{flags}</span></td>"
        f"<td>{_findings_html(row)}</td>"
        f"<td>{html.escape(row.name)}<br><span class=why>id {html.escape(row.photo_id)}{patient_note(row)}</span>"
        "</td></tr>"
    )


def patient_note(row: SortRow) -> str:
    if row.patient is None:
        return ""
    day = "no day given" if row.day is None else f"day {row.day}"
    return f"<br>patient {html.escape(row.patient)}, {day}"


def patients_html(rows: Sequence[SortRow]) -> str:
    """One block per patient with a day on their photos: the small timeline and its verdicts, most urgent first."""
    series = patient_trends(rows)
    tiers = {p: min((r.tier for r in rows if r.patient == p), key=lambda t: t.rank) for p in series}
    blocks = []
    for patient in sorted(series, key=lambda p: (tiers[p].rank, p)):
        trend = series[patient]
        treatment = guidance().procedures.get(trend.procedure, trend.procedure)
        days = ", ".join(map(str, trend.days))
        blocks.append(
            f'<section class="patient {tiers[patient].key}"><h3>Patient {html.escape(patient)}: '
            f"{html.escape(tiers[patient].label)}</h3><p class=why>{html.escape(treatment)}; photos on days {days}</p>"
            f'<img src="{png_uri(timeline_png(trend, compact=True))}" alt="Timeline of patient '
            f'{html.escape(patient)}; the table below says the same.">'
            f"{verdicts_table(trend, f'Trend per finding, patient {patient}')}</section>"
        )
    return f"<h2>Patients</h2>{''.join(blocks)}<h2>Photos</h2>" if blocks else ""


def write_html(rows: Sequence[SortRow], path: str | os.PathLike, model_note: str = "") -> Path:
    """A self-contained worklist, most urgent first, thumbnails inline (base64 JPEG)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sort_rows(list(rows))
    counts = ", ".join(f"{sum(r.tier.key == key for r in ordered)} {key}" for key in TIER_BY_KEY)
    body = "\n".join(_row_html(i, r) for i, r in enumerate(ordered, start=1))
    note = f"<p class=why>Model: {html.escape(model_note)}</p>" if model_note else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Photo pre-sort worklist</title><style>{_STYLE}</style></head>
<body>
<h1>Photo pre-sort worklist</h1>
<div class=notice><b>A pre-sort, not a diagnosis.</b> The order comes from an automated model and the red-flag
answers given; it can be wrong. Every photo still needs review by a clinician, and a photo with no finding
recognised is not a photo of normal skin. Rules: see <code>app/priority.py</code>.</div>
{note}<p>{len(ordered)} photos: {counts}.</p>
{patients_html(ordered)}
<table><thead><tr><th>#</th><th>Photo</th><th>Priority</th><th>Possible findings</th><th>Name</th></tr></thead>
<tbody>
{body}
</tbody></table>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path

