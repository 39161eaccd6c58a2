"""The "Clinician pre-sort" tab: many photos (or .zip archives), most urgent first, with a CSV."""

from __future__ import annotations

from skinfindings.app import privacy

privacy.prepare_environment()  # before gradio is imported, whoever imports this module first

import base64  # noqa: E402
import html  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from skinfindings.app.check_tab import percent  # noqa: E402
from skinfindings.app.inputs import GONE, check_file_list, upload_source  # noqa: E402
from skinfindings.app.presort import data_uri  # noqa: E402
from skinfindings.app.presort_html import patient_note, patients_html  # noqa: E402
from skinfindings.app.presort_patients import PatientTable, read_patient_map  # noqa: E402
from skinfindings.app.priority import TIERS  # noqa: E402
from skinfindings.findings import FINDING_INFO, FINDINGS  # noqa: E402

PHOTO_TYPES = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif"]


def presort_html(rows, csv_bytes: bytes) -> str:
    """The pre-sort table: most urgent first (order as given), thumbnails, one column per finding."""
    if not rows:
        return '<div class="sf-presort"><p>No photos were given.</p></div>'
    counts = {tier.key: 0 for tier in TIERS}
    for row in rows:
        counts[row.tier.key] += 1
    summary = "".join(f"<li>{html.escape(t.label)}: {counts[t.key]}</li>" for t in TIERS if counts[t.key])
    head = "".join(f"<th>{html.escape(FINDING_INFO[f].label)}</th>" for f in FINDINGS)
    body = "".join(_presort_row(row) for row in rows)
    link = (
        f'<a class="sf-csv" download="skinfindings-presort.csv" '
        f'href="data:text/csv;base64,{base64.b64encode(csv_bytes).decode("ascii")}">Download the table (CSV)</a>'
    )
    return (
        f'<div class="sf-presort"><p>{len(rows)} photos, most urgent first. A model estimate, not a triage decision: '
        f"every photo still needs a person to look at it.</p><ul>{summary}</ul>{link}{patients_html(rows)}"
        f'<table class="sf-presort-table"><thead><tr><th>Priority</th><th>Photo</th><th>Name</th>{head}'
        f"<th>Note</th></tr></thead><tbody>{body}</tbody></table></div>"
    )


def _presort_row(row) -> str:
    thumb = f'<img src="{data_uri(row.thumbnail)}" alt="thumbnail">' if row.thumbnail is not None else ""
    cells = []
    for f in FINDINGS:
        p = row.probabilities.get(f)
        text = "" if p is None else percent(p)
        cells.append(f"<td><b>{text}</b></td>" if f in row.present else f"<td>{text}</td>")
    note = row.error or row.abstain_reason or ""
    return (
        f'<tr class="sf-tier-{row.tier.key}"><td>{html.escape(row.tier.label)}</td><td>{thumb}</td>'
        f"<td>{html.escape(str(row.name))}{patient_note(row)}</td>{''.join(cells)}<td>{html.escape(note)}</td></tr>"
    )


def run_presort(predictor, paths: list[str]) -> str:
    from skinfindings.app.presort import presort, write_csv

    # A .csv among the uploads is the patients list (file,patient,day or date + treatment_date; see docs/presort.md).
    maps = [path for path in paths if path.lower().endswith(".csv")]
    try:
        patients = read_patient_map(maps[0]) if maps else PatientTable()
    except ValueError as exc:
        return f'<p class="sf-error" role="alert">{html.escape(str(exc).replace(maps[0], Path(maps[0]).name))}</p>'
    rows = presort(predictor, paths, patients=patients)
    # write_csv wants a path: the file lives only as long as it takes to read it back.
    handle, csv_path = tempfile.mkstemp(suffix=".csv", dir=privacy.private_dir())
    os.close(handle)
    try:
        write_csv(rows, csv_path)
        csv_bytes = Path(csv_path).read_bytes()
    finally:
        Path(csv_path).unlink(missing_ok=True)
    return presort_html(rows, csv_bytes)


def sort_photos(predictor, uploads):
    paths = [path for path in map(upload_source, uploads or []) if isinstance(path, str)]
    try:
        return None, run_presort(predictor, paths)
    except FileNotFoundError:
        return None, f'<p class="sf-error" role="alert">{html.escape(GONE)} Please add the files again.</p>'
    finally:
        for path in paths:
            privacy.discard(path)


def validators(tickets: privacy.UploadTickets) -> dict:
    """The tab's events by name -> the check of their raw inputs (run by ``security.guard_events``)."""
    return {"presort": lambda raw: [check_file_list(raw[0], tickets)]}


def build(predictor) -> None:
    """The tab's controls and events, inside the caller's ``gr.Tabs``."""
    with gr.Tab("Clinician pre-sort", id="presort"):
        gr.Markdown(
            "Sort many photos by priority: red-flag and possible pustules/crusting first, photos that "
            "could not be assessed listed, then the rest. For larger sets use `skinfindings sort`."
        )
        files = gr.File(
            label="Photos or a .zip of photos (and, optionally, a .csv of file,patient,day)",
            file_count="multiple",
            file_types=PHOTO_TYPES + [".zip", ".csv"],
            elem_id="sf-presort-files",
        )
        sort = gr.Button("Sort by priority", variant="primary", elem_id="sf-sort")
        table = gr.HTML(js_on_load=None, elem_id="sf-presort")
    sort.click(
        lambda f: sort_photos(predictor, f),
        [files],
        [files, table],
        api_name="presort",
        preprocess=False,  # see inputs.upload_source
        concurrency_id="model",
    )
