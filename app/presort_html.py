"""The pre-sort worklist: one self-contained HTML page, thumbnails inline, most urgent first.

The photo list comes first, one section per tier with its header; each row says why it is in
its tier (``SortRow.reasons``, from ``priority.decide``), a patient's photos sit together, and
each patient's timeline follows the list. The app's pre-sort tab shows the same list
(``worklist_table``)."""

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
from skinfindings.app.priority import TIERS, Tier

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
.notice{border:2px solid #b45309;background:#fffbeb;padding:.75rem 1rem;border-radius:6px;max-width:60rem}
table{border-collapse:collapse;margin-top:1rem;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f4f6;position:sticky;top:0}
td.thumb{width:260px}
td.thumb img{max-width:100%;height:auto}
tbody.urgent td:first-child{border-left:6px solid #b91c1c}
tbody.review td:first-child{border-left:6px solid #d97706}
tbody.check td:first-child{border-left:6px solid #6b7280}
tbody.routine td:first-child,tbody.routine-none td:first-child{border-left:6px solid #9ca3af}
tbody th.tier{background:#e5e7eb;font-size:1.05em}
.why{color:#555;font-size:.9em}
.reasons{margin:0;padding-left:1.1em}
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


def _thumbnail_html(row: SortRow) -> str:
    name = html.escape(row.name)
    if row.thumbnail is None:
        return f"<span class=why>no preview</span><br>{name}"
    picture = row.thumbnail
    return (f'<figure><img alt="photo {name}" width="{picture.width}" height="{picture.height}" '
            f'src="{data_uri(picture, quality=80)}"><figcaption>{name}</figcaption></figure>')


def _why_html(row: SortRow) -> str:
    """The row's reasons in clinician words; for a photo that was not read or assessed, also why not."""
    items = "".join(f"<li>{html.escape(reason)}</li>" for reason in row.reasons)
    problem = row.error or row.abstain_reason
    extra = f"<p class=why>{'Could not be read' if row.error else 'Not assessed'}: {html.escape(problem)}</p>" \
        if problem else ""
    reused = "<p class=why>(from an earlier run)</p>" if row.reused else ""
    return f"<ul class=reasons>{items}</ul>{extra}{reused}"


def _row_html(position: int, row: SortRow, placed: Tier) -> str:
    own = "" if row.tier == placed else f"<p class=why>This photo alone: {html.escape(row.tier.label)}</p>"
    return (
        f'<tr data-tier="{row.tier.key}"><td>{position}</td><td class=thumb>{_thumbnail_html(row)}</td><td>{_why_html(row)}{own}</td>'
        f"<td>{patient_note(row)}<span class=why>id {html.escape(row.photo_id)}</span></td></tr>"
    )


def patient_note(row: SortRow) -> str:
    if row.patient is None:
        return ""
    day = "no day given" if row.day is None else f"day {row.day}"
    return f"patient {html.escape(row.patient)}, {day}<br>"


def placed_tiers(rows: Sequence[SortRow]) -> list[Tier]:
    """The tier each row is listed under: its own, or for a patient's photos the most urgent of that patient's."""
    best: dict[str, Tier] = {}
    for row in rows:
        if row.patient is not None and (row.patient not in best or row.tier.rank < best[row.patient].rank):
            best[row.patient] = row.tier
    return [best[r.patient] if r.patient is not None else r.tier for r in rows]


def worklist_table(rows: Sequence[SortRow]) -> str:
    """The photo list in ``sort_rows`` order: one tbody per tier with a header row saying the tier and its count."""
    ordered = sort_rows(list(rows))
    placed = placed_tiers(ordered)
    sections, position = [], 0
    for tier in TIERS:
        members = [r for r, t in zip(ordered, placed) if t.key == tier.key]
        if not members:
            continue
        header = (f'<tr><th class="tier" colspan="4" scope="colgroup" id="tier-{tier.key}">{html.escape(tier.label)}'
                  f" ({len(members)})</th></tr>")
        body = "".join(_row_html(position + i, r, tier) for i, r in enumerate(members, start=1))
        position += len(members)
        sections.append(f'<tbody class="{tier.key}">{header}{body}</tbody>')
    return (
        '<div class="sf-scroll"><table class="sf-worklist"><thead><tr><th scope="col">#</th>'
        '<th scope="col">Photo</th><th scope="col">Why here</th><th scope="col">Patient, id</th></tr></thead>'
        f"{''.join(sections)}</table></div>"
    )


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
    return f"<h2>Patients</h2>{''.join(blocks)}" if blocks else ""


def write_html(rows: Sequence[SortRow], path: str | os.PathLike, model_note: str = "") -> Path:
    """A self-contained worklist: the photo list first (by tier), then each patient's timeline; thumbnails inline."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sort_rows(list(rows))
    counts = ", ".join(f"{sum(r.tier.key == t.key for r in ordered)} {t.key}" for t in TIERS)
    note = f"<p class=why>Model: {html.escape(model_note)}</p>" if model_note else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Photo pre-sort worklist</title><style>{_STYLE}</style></head>
<body>
<h1>Photo pre-sort worklist</h1>
<div class=notice><b>A pre-sort, not a diagnosis.</b> The order comes from an automated model and the red-flag
answers given; it can be wrong. Every photo still needs review by a clinician, and a photo with no finding
recognised is not a photo of normal skin. Rules: see <code>app/priority.py</code>.</div>
{note}<p>{len(ordered)} photos: {counts}.</p>
<h2>Photos</h2>
{worklist_table(ordered)}
{patients_html(ordered)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
