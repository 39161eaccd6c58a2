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

from skinfindings.app import guidance, inputs  # noqa: E402
from skinfindings.app.inputs import GONE, check_file_list, upload_source  # noqa: E402
from skinfindings.app.presort import read_red_flags, unmatched_red_flags  # noqa: E402
from skinfindings.app.presort_html import patients_html, worklist_table  # noqa: E402
from skinfindings.app.presort_patients import PatientTable, read_patient_map  # noqa: E402
from skinfindings.app.priority import RED_FLAGS, TIERS  # noqa: E402

PHOTO_TYPES = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif"]


def presort_html(rows, csv_bytes: bytes, warnings: list[str] | None = None) -> str:
    """The worklist as the CLI writes it: photo list first (tier headers, reasons), then patients' timelines."""
    if not rows:
        return '<div class="sf-presort"><p>No photos were given.</p></div>'
    counts = {tier.key: sum(row.tier.key == tier.key for row in rows) for tier in TIERS}
    summary = "; ".join(f"{counts[t.key]} {html.escape(t.label.split(':')[0].lower())}" for t in TIERS if counts[t.key])
    link = (
        f'<a class="sf-csv" download="skinfindings-presort.csv" '
        f'href="data:text/csv;base64,{base64.b64encode(csv_bytes).decode("ascii")}">Download the table (CSV)</a>'
    )
    notes = "".join(f'<p class="sf-error" role="alert">{html.escape(w)}</p>' for w in warnings or [])
    return (
        f'<div class="sf-presort"><p>{len(rows)} photos, most urgent first ({summary}). A model estimate, not a '
        f"triage decision: every photo still needs a person to look at it.</p>{notes}{link}"
        f"{worklist_table(rows)}{patients_html(rows)}</div>"
    )


def _csv_kind(path: str) -> str:
    """'red_flags' for a name,red_flags list; 'patients' for a file,patient list (by the header line)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = {column.strip() for column in handle.readline().split(",")}
    return "red_flags" if "red_flags" in header else "patients"


def _lists(paths: list[str], treatment: str | None) -> tuple[PatientTable, dict[str, set[str]]]:
    """The patients list and the red-flag list among the uploads (.csv files), read like the CLI reads them."""
    patients, red_flags = PatientTable(), {}
    for path in (p for p in paths if p.lower().endswith(".csv")):
        try:
            if _csv_kind(path) == "red_flags":
                red_flags.update(read_red_flags(path))
            else:
                patients = read_patient_map(path, treatment)
        except ValueError as exc:
            raise ValueError(str(exc).replace(path, Path(path).name)) from None
    return patients, red_flags


def run_presort(predictor, paths: list[str], treatment: str | None = None) -> str:
    from skinfindings.app.presort import presort, write_csv

    # .csv files among the uploads: the patients list (file,patient,day or date + treatment_date) and the red-flag
    # answers (name,red_flags), as `skinfindings sort --patients` and `--red-flags` take them (docs/presort.md).
    treatment = None if treatment in (None, "", guidance.UNKNOWN_PROCEDURE) else treatment
    try:
        patients, red_flags = _lists(paths, treatment)
    except ValueError as exc:
        return f'<p class="sf-error" role="alert">{html.escape(str(exc))}</p>'
    patients.sources += [Path(p) for p in paths if p.lower().endswith(".csv") and Path(p) not in patients.sources]
    rows = presort(predictor, paths, red_flags=red_flags, patients=patients)
    warnings = [f"Red-flag answers given for a name that matched no photo: {name}"
                for name in unmatched_red_flags(red_flags, rows)]
    warnings += [f"Patients list: {w}" for w in [patients.unmatched_warning(rows)] if w]  # as the CLI warns (issue 21)
    # write_csv wants a path: the file lives only as long as it takes to read it back.
    handle, csv_path = tempfile.mkstemp(suffix=".csv", dir=privacy.private_dir())
    os.close(handle)
    try:
        write_csv(rows, csv_path)
        csv_bytes = Path(csv_path).read_bytes()
    finally:
        Path(csv_path).unlink(missing_ok=True)
    return presort_html(rows, csv_bytes, warnings)


def sort_photos(predictor, uploads, treatment=None):
    paths = [path for path in map(upload_source, uploads or []) if isinstance(path, str)]
    try:
        return None, run_presort(predictor, paths, treatment)
    except FileNotFoundError:
        return None, f'<p class="sf-error" role="alert">{html.escape(GONE)} Please add the files again.</p>'
    finally:
        for path in paths:
            privacy.discard(path)


def validators(tickets: privacy.UploadTickets) -> dict:
    """The tab's events by name -> the check of their raw inputs (run by ``security.guard_events``)."""
    def check(raw: list) -> list:
        treatment = inputs.parse_procedure(raw[1] if len(raw) > 1 else None)  # first: a refusal keeps the tickets
        return [check_file_list(raw[0], tickets), treatment]

    return {"presort": check}


def build(predictor) -> None:
    """The tab's controls and events, inside the caller's ``gr.Tabs``."""
    with gr.Tab("Clinician pre-sort", id="presort"):
        gr.Markdown(
            "Sort many photos by priority: red flags first, then likely pustules or crusting and findings rising "
            "or later than expected, then possible ones and photos that could not be assessed, then the rest. "
            "For larger sets use `skinfindings sort`. Photos forwarded through a messaging app or e-mail are saved "
            "again at a lower quality, and the model then names a possible crust or pustule on ordinary skin more "
            "often: ask for the originals where you can."
        )
        files = gr.File(
            label="Photos or a .zip of photos; optionally a .csv of file,patient,day and a .csv of name,red_flags",
            file_count="multiple",
            file_types=PHOTO_TYPES + [".zip", ".csv"],
            elem_id="sf-presort-files",
        )
        treatment = gr.Dropdown(guidance.procedure_choices(), value=guidance.UNKNOWN_PROCEDURE,
                                label="Treatment of these patients (a 'treatment' column in the patients list wins)",
                                elem_id="sf-presort-treatment")
        gr.Markdown("Red flags: " + ", ".join(f"`{key}`" for key in RED_FLAGS) + " (';' between several).")
        sort = gr.Button("Sort by priority", variant="primary", elem_id="sf-sort")
        table = gr.HTML(js_on_load=None, elem_id="sf-presort")
    sort.click(
        lambda f, t: sort_photos(predictor, f, t),
        [files, treatment],
        [files, table],
        api_name="presort",
        preprocess=False,  # see inputs.upload_source
        concurrency_id="model",
    )
