"""``skinfindings demo`` — the app: one photo with guidance, a clinician pre-sort, and the model card.

    skinfindings demo                      # http://127.0.0.1:7860, the shipped model, offline
    skinfindings demo --checkpoint runs/a/model.json --port 7861
    SKINFINDINGS_AUTH="user:password" skinfindings demo

The UI is built by ``build_app(predictor)``; the module-level ``demo`` is built on
first use with the shipped checkpoint, so importing this module loads no model and
starts no server. Everything the app shows about a photo comes from the Predictor
(metadata-free pixels, calibrated probabilities, abstention); images are sent to the
browser inline, so nothing derived from a photo is written to disk, and each upload
is deleted as soon as it has been read (``privacy.py``).
"""

from __future__ import annotations

from skinfindings.app import privacy

PRIVATE_DIR = privacy.prepare_environment()  # before gradio is imported: telemetry off, uploads in a private folder

import argparse  # noqa: E402
import base64  # noqa: E402
import html  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from skinfindings.app import guidance  # noqa: E402
from skinfindings.app.heatmap import grad_cam, overlay  # noqa: E402
from skinfindings.app.priority import RED_FLAGS, TIERS  # noqa: E402
from skinfindings.app.presort import data_uri  # noqa: E402
from skinfindings.data.photo import PhotoError  # noqa: E402
from skinfindings.findings import FINDING_INFO, FINDINGS  # noqa: E402
from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT, CheckpointMeta  # noqa: E402
from skinfindings.model.quality import Abstention  # noqa: E402

STYLE_FILE = Path(__file__).resolve().parent / "style.css"
BORDERLINE = 0.10  # a probability this close to its threshold is called borderline
PHOTO_TYPES = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif"]
TITLE = "skin-findings: possible skin findings after microneedling or laser"
GONE = "The upload is no longer on the server (uploads are deleted after use or after a while)."


# ---------------------------------------------------------------- single photo


@dataclass
class PhotoResult:
    """What the app keeps about one checked photo: numbers and inline pictures, never the file."""

    name: str
    probabilities: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    present: list[str] = field(default_factory=list)
    abstention: Abstention | None = None
    error: str | None = None
    view: str | None = None  # data URI of the photo as the model saw it
    heatmaps: dict[str, str] = field(default_factory=dict)  # reported finding -> data URI of its overlay

    @property
    def assessed(self) -> bool:
        return self.error is None and self.abstention is None


def analyse(predictor, photo, name: str = "photo") -> PhotoResult:
    """Predict, and explain each reported finding with a heatmap. An unreadable file becomes ``.error``."""
    try:
        prediction = predictor.predict(photo, name=name)
    except PhotoError as exc:
        return PhotoResult(name, error=exc.user_message)
    maps = grad_cam(predictor, prediction.pixels, prediction.present) if prediction.present else {}
    return PhotoResult(
        name=name,
        probabilities=prediction.probabilities,
        thresholds=prediction.thresholds,
        present=list(prediction.present),
        abstention=prediction.abstention,
        view=data_uri(prediction.pixels),
        heatmaps={finding: data_uri(overlay(prediction.pixels, heat)) for finding, heat in maps.items()},
    )


def clean_days(days) -> int | None:
    """Days since the treatment from the form or the API; anything unusable means 'not given'."""
    try:
        value = float(str(days).strip())
    except ValueError:
        return None
    return int(value) if value.is_integer() and 0 <= value <= 3650 else None


def clean_flags(flags) -> set[str]:
    return {flag for flag in (flags or []) if flag in RED_FLAGS}


def model_status(meta: CheckpointMeta) -> str:
    """The model's standing in plain words, straight from the checkpoint's own metadata."""
    if not meta.trained:
        return f"an untrained placeholder with random weights: its results mean nothing ({meta.status})."
    data = ", ".join(source.name for source in meta.trained_on) or "data not recorded in the checkpoint"
    return f"a demonstration model trained on {data}, not validated on real patients ({meta.status})."


def notice_html(meta: CheckpointMeta, result: PhotoResult | None, flags) -> str:
    """The provider notice above everything: its level follows the red flags and the photo, never 'all clear'."""
    present = result.present if result else []
    assessed = result.assessed if result else True
    message = guidance.urgency(present, assessed, clean_flags(flags))
    role = "alert" if message.level.key in ("urgent", "review") else "status"
    parts = [f'<div class="sf-notice sf-level-{message.level.key}" role="{role}" id="sf-provider-notice">']
    parts.append(f'<p class="sf-headline">{html.escape(message.headline)}</p>')
    parts += [f"<p>{html.escape(line)}</p>" for line in message.lines]
    if message.emergency:
        parts.append(f'<p class="sf-emergency">{html.escape(message.emergency)}</p>')
    parts.append(f'<p class="sf-model-status">Model: {html.escape(model_status(meta))}</p>')
    parts.append("</div>")
    return "\n".join(parts)


def _percent(p: float) -> str:
    return f"{100 * p:.0f}%"


def _probability_note(result: PhotoResult, finding: str) -> str:
    p, threshold = result.probabilities[finding], result.thresholds[finding]
    note = f"model estimate {_percent(p)}; reported from {_percent(threshold)}"
    if abs(p - threshold) < BORDERLINE:
        note += " (borderline: close to the cut-off)"
    return note


def _figure(uri: str, caption: str) -> str:
    caption = html.escape(caption)
    return f'<figure><img src="{uri}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def _finding_card(result: PhotoResult, finding: str, procedure: str | None, days: int | None) -> str:
    advice = guidance.finding_advice(finding, procedure, days)
    helps = "".join(f"<li>{html.escape(text)}</li>" for text in advice.helps)
    probability = html.escape(_probability_note(result, finding))
    return (
        f'<div class="sf-finding" data-finding="{finding}">'
        f'<h4>{html.escape(advice.headline)} <span class="sf-prob">{probability}</span></h4>'
        f"<p><b>What it is.</b> {html.escape(advice.what)}</p>"
        f'<p class="sf-timing"><b>Timing.</b> {html.escape(advice.timing)}</p>'
        f"<p><b>Usual course.</b> {html.escape(advice.course)}</p>"
        f"<p><b>What helps.</b></p><ul>{helps}</ul>"
        f'<p class="sf-contact"><b>When to contact your provider.</b> {html.escape(advice.contact)}</p>'
        "</div>"
    )


def _pictures(result: PhotoResult) -> str:
    figures = []
    if result.view:
        figures.append(_figure(result.view, "Your photo as the model saw it (resized, without metadata)"))
    figures += [
        _figure(uri, f"Where the model found signs of possible {guidance.finding_name(f)}")
        for f, uri in result.heatmaps.items()
    ]
    return f'<div class="sf-pictures">{"".join(figures)}</div>' if figures else ""


def _other_findings(result: PhotoResult) -> str:
    others = sorted((f for f in FINDINGS if f not in result.present), key=lambda f: -result.probabilities[f])
    rows = "".join(
        f"<tr><td>{html.escape(FINDING_INFO[f].label)}</td><td>{html.escape(_probability_note(result, f))}</td></tr>"
        for f in others
    )
    return f'<h3>Other findings, lower probability</h3><table class="sf-others">{rows}</table>' if rows else ""


def _general_care() -> str:
    items = "".join(f"<li>{html.escape(text)}</li>" for text in guidance.general_care())
    return f"<h3>Aftercare that helps in general</h3><ul>{items}</ul>"


UNCERTAINTY = (
    "The percentages are the model's own estimates, not measurements: it can miss a finding or report one that "
    "is not there. A finding is reported when its estimate reaches the cut-off shown."
)


def results_html(result: PhotoResult | None, procedure: str | None, days) -> str:
    """Findings with guidance, or the reason the photo could not be used. Pure: the tests call it directly."""
    days = clean_days(days)
    if result is None:
        return '<div class="sf-results sf-empty"><p>Add a photo and press <b>Check photo</b>.</p></div>'
    if result.error:
        return (
            '<div class="sf-results"><div class="sf-error" role="alert"><h3>This file could not be read</h3>'
            f"<p>{html.escape(result.error)}</p><p>Nothing was checked. You can add another photo.</p></div></div>"
        )
    if result.abstention:
        return (
            '<div class="sf-results"><div class="sf-abstain" role="alert"><h3>This photo could not be assessed</h3>'
            f"<p>{html.escape(result.abstention.message)}</p>"
            f"<p><b>How to retake it:</b> {html.escape(result.abstention.tip)}</p></div>"
            f"{_pictures(result)}{_general_care()}</div>"
        )
    if result.present:
        cards = "".join(_finding_card(result, f, procedure, days) for f in result.present)
        found = f"<h3>Possible findings</h3>{cards}"
    else:
        headline = guidance.guidance().wording["headline_none"]
        found = f"<h3>{html.escape(headline)}</h3><p>{html.escape(guidance.nothing_found())}</p>"
    return (
        f'<div class="sf-results">{_pictures(result)}{found}{_other_findings(result)}'
        f'<p class="sf-uncertainty">{html.escape(UNCERTAINTY)}</p>{_general_care()}</div>'
    )


# ---------------------------------------------------------------- clinician pre-sort


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
        f"every photo still needs a person to look at it.</p><ul>{summary}</ul>{link}"
        f'<table class="sf-presort-table"><thead><tr><th>Priority</th><th>Photo</th><th>Name</th>{head}'
        f"<th>Note</th></tr></thead><tbody>{body}</tbody></table></div>"
    )


def _presort_row(row) -> str:
    thumb = f'<img src="{data_uri(row.thumbnail)}" alt="thumbnail">' if row.thumbnail is not None else ""
    cells = []
    for f in FINDINGS:
        p = row.probabilities.get(f)
        text = "" if p is None else _percent(p)
        cells.append(f"<td><b>{text}</b></td>" if f in row.present else f"<td>{text}</td>")
    note = row.error or row.abstain_reason or ""
    return (
        f'<tr class="sf-tier-{row.tier.key}"><td>{html.escape(row.tier.label)}</td><td>{thumb}</td>'
        f"<td>{html.escape(str(row.name))}</td>{''.join(cells)}<td>{html.escape(note)}</td></tr>"
    )


def run_presort(predictor, paths: list[str]) -> str:
    from skinfindings.app.presort import presort, write_csv

    rows = presort(predictor, paths)
    # write_csv wants a path: the file lives only as long as it takes to read it back.
    handle, csv_path = tempfile.mkstemp(suffix=".csv", dir=PRIVATE_DIR)
    os.close(handle)
    try:
        write_csv(rows, csv_path)
        csv_bytes = Path(csv_path).read_bytes()
    finally:
        Path(csv_path).unlink(missing_ok=True)
    return presort_html(rows, csv_bytes)


# ---------------------------------------------------------------- about


def _metrics_lines(metrics: dict, depth: int = 0) -> list[str]:
    lines = []
    for key, value in metrics.items():
        indent = "  " * depth
        if isinstance(value, dict) and depth < 2:
            lines.append(f"{indent}- **{key}**")
            lines += _metrics_lines(value, depth + 1)
        else:
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            if len(shown) > 100:  # curves and long lists belong in the evaluation report, not here
                shown = shown[:97] + "..."
            lines.append(f"{indent}- {key}: {shown}")
    return lines


def about_markdown(meta: CheckpointMeta) -> str:
    """The model card in brief, read from the checkpoint: status, training data and licences, measurements, limits."""
    sources = "\n".join(
        f"| {s.name} | {s.n_images} | {s.license} | {s.attribution or '-'} |" for s in meta.trained_on
    )
    trained_on = (
        f"| Data set | Images | Licence | Attribution |\n|---|---|---|---|\n{sources}"
        if meta.trained_on
        else "No training data is recorded in this checkpoint."
    )
    metrics = "\n".join(_metrics_lines(meta.metrics)) or "No measurements are recorded in this checkpoint."
    licence_note = "\n\nThe training data allow **non-commercial use only**." if meta.non_commercial else ""
    return f"""## About this app

**Model:** {model_status(meta)}

Architecture `{meta.arch}`, input {meta.input_size} px; cut-offs: {meta.threshold_rule}.

### Trained on
{trained_on}{licence_note}

### Measured
{metrics}

### Data and licences
- **Evaluation photos:** PAD-UFES-20 (Pacheco et al., *Data in Brief* 2020, doi:10.17632/zr7vgbcyr2.1),
  licence CC BY 4.0. A subset of smartphone photos of skin lesions used by the project's evaluation scripts.
  They show lesions, not skin after a procedure, and no photo of it is shipped with the app.
- **Synthetic training images:** rendered by the project, released as CC0.
- **Guidance texts:** written by the project in its own words from five public source documents; each fact
  names its source in `app/guidance.json`.

### Limits
- Not a diagnosis and not a medical device. It never replaces your provider.
- It looks for five findings only (redness, crusting, milia, pustules, darker patches). Infection, allergy,
  burns, cold sores and everything else are not looked for: a result without findings rules nothing out.
- The model shipped with the project is a demonstration model trained on synthetic images: real photos
  look different. No model of this project has been validated on real patients or across skin tones.
- It reads one photo at a time; lighting, focus and distance change its estimates.

### Privacy
The app runs on this computer only (127.0.0.1). Photos are not sent anywhere, uploads are deleted as soon as
they have been read, results are shown without being saved, and usage statistics, monitoring and run history
are switched off.
"""


# ---------------------------------------------------------------- the app


def upload_source(payload):
    """What an upload input delivers when gradio's own preprocessing is off: a path, or inline bytes.

    The events run with ``preprocess=False`` because gr.Image would open the upload with
    Pillow itself (no format allow-list, no size guard) and fail on a broken file with its
    own error, and gr.File(type="filepath") leaves an empty temporary file behind for
    every upload (gradio 6.31). Every read goes through the project's safe loader instead.
    """
    if not payload:
        return None
    if isinstance(payload, (str, bytes)):
        return payload
    if payload.get("path"):
        return payload["path"]
    url = payload.get("url") or ""
    if not url.startswith("data:"):
        return None
    try:
        return base64.b64decode(url.split(",", 1)[1])  # an inline camera shot
    except (ValueError, IndexError):
        return b""  # the safe loader then reports a damaged file


def _check_photo(predictor, inbox: privacy.UploadInbox, upload, procedure, days, flags):
    meta = predictor.meta
    photo = upload_source(upload)
    if photo is None:
        result = None
        results = '<div class="sf-results"><p class="sf-error" role="alert">Please add a photo first.</p></div>'
    else:
        name = Path(photo).name if isinstance(photo, str) else "camera photo"
        try:
            source = inbox.take(photo) if isinstance(photo, str) else photo
        except FileNotFoundError:
            result = PhotoResult(name, error=f"{GONE} Please add it again.")
        else:
            result = analyse(predictor, source, name)
        results = results_html(result, procedure, days)
    return result, None, notice_html(meta, result, flags), results


def _sort_photos(predictor, uploads):
    paths = [path for path in map(upload_source, uploads or []) if isinstance(path, str)]
    try:
        return None, run_presort(predictor, paths)
    except FileNotFoundError:
        return None, f'<p class="sf-error" role="alert">{html.escape(GONE)} Please add the files again.</p>'
    finally:
        for path in paths:
            privacy.discard(path)


def build_app(predictor, settings: privacy.AppSettings | None = None) -> gr.Blocks:
    """The whole UI around one Predictor; nothing runs until the caller launches it."""
    settings = settings or privacy.AppSettings()
    inbox = privacy.UploadInbox()
    meta = predictor.meta
    flag_choices = [(text, key) for key, text in RED_FLAGS.items()]

    with gr.Blocks(
        title=TITLE, analytics_enabled=False, delete_cache=(settings.cache_seconds, settings.cache_seconds)
    ) as app:
        gr.Markdown(f"# {TITLE}")
        notice = gr.HTML(notice_html(meta, None, []), js_on_load=None, elem_id="sf-notice")
        state = gr.State(None)
        with gr.Tabs():
            with gr.Tab("Check a photo", id="single"):
                with gr.Row():
                    with gr.Column(scale=2):
                        photo = gr.Image(
                            label="Photo of the treated skin",
                            type="filepath",
                            image_mode=None,
                            sources=["upload", "webcam"],
                            buttons=[],
                            elem_id="sf-photo",
                        )
                        procedure = gr.Dropdown(
                            guidance.procedure_choices(),
                            value=guidance.UNKNOWN_PROCEDURE,
                            label="Treatment you had",
                            elem_id="sf-procedure",
                        )
                        # A textbox, not gr.Number: gr.Number shows and sends 0 until edited, and "day 0" is
                        # a claim the patient did not make. Empty means "not given".
                        days = gr.Textbox(
                            label="Days since the treatment (0 = the same day)",
                            placeholder="for example 3; leave empty if not sure",
                            max_lines=1,
                            elem_id="sf-days",
                        )
                        flags = gr.CheckboxGroup(
                            flag_choices, label="Do you have any of these? Tick all that apply.", elem_id="sf-flags"
                        )
                        check = gr.Button("Check photo", variant="primary", elem_id="sf-check")
                    with gr.Column(scale=3):
                        results = gr.HTML(results_html(None, None, None), js_on_load=None, elem_id="sf-results")
            with gr.Tab("Clinician pre-sort", id="presort"):
                gr.Markdown(
                    "Sort many photos by priority: red-flag and possible pustules/crusting first, photos that "
                    "could not be assessed listed, then the rest. For larger sets use `skinfindings sort`."
                )
                files = gr.File(
                    label="Photos or a .zip of photos",
                    file_count="multiple",
                    file_types=PHOTO_TYPES + [".zip"],
                    elem_id="sf-presort-files",
                )
                sort = gr.Button("Sort by priority", variant="primary", elem_id="sf-sort")
                table = gr.HTML(js_on_load=None, elem_id="sf-presort")
            with gr.Tab("About", id="about"):
                gr.Markdown(about_markdown(meta), elem_id="sf-about")

        check.click(
            lambda *inputs: _check_photo(predictor, inbox, *inputs),
            [photo, procedure, days, flags],
            [state, photo, notice, results],
            api_name="check_photo",
            preprocess=False,  # see upload_source
            concurrency_id="model",  # one limit shared by every event that runs the model
        )
        for control in (procedure, days, flags):
            control.change(
                lambda result, p, d, f: (notice_html(meta, result, f), results_html(result, p, d)),
                [state, procedure, days, flags],
                [notice, results],
                api_visibility="private",
                queue=False,
                show_progress="hidden",
            )
        sort.click(
            lambda f: _sort_photos(predictor, f),
            [files],
            [files, table],
            api_name="presort",
            preprocess=False,
            concurrency_id="model",
        )
    app.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    return app


def launch_kwargs(settings: privacy.AppSettings) -> dict:
    """Everything ``launch`` needs: the privacy settings plus the look (gradio 6 takes theme and CSS here)."""
    theme = gr.themes.Default(primary_hue="blue", neutral_hue="slate")
    return {**privacy.launch_options(settings), "theme": theme, "css_paths": [STYLE_FILE]}


def __getattr__(name: str):
    # ``demo`` is built on first use, so importing this module stays cheap for the tests and the CLI.
    if name == "demo":
        from skinfindings.model.predictor import Predictor

        globals()["demo"] = build_app(Predictor())
        return globals()["demo"]
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> int:
    from skinfindings.model.predictor import Predictor

    parser = argparse.ArgumentParser(prog="skinfindings demo", description="Start the app on 127.0.0.1.")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint JSON (default: shipped)")
    parser.add_argument("--port", type=int, default=None, help="port (default: SKINFINDINGS_PORT or 7860 upwards)")
    args = parser.parse_args(argv)
    settings = privacy.settings_from_env()
    if args.port is not None:
        settings = replace(settings, port=args.port)
    predictor = Predictor(args.checkpoint)
    print(f"skinfindings demo: the model is {model_status(predictor.meta)}")
    # A plain `kill` should also run the exit handlers, which remove the private upload folder.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = build_app(predictor, settings)
    _, url, _ = app.launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(settings))
    print(f"skinfindings demo: open {url} in a browser on this computer; Ctrl+C stops the app.")
    try:
        app.block_thread()
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
