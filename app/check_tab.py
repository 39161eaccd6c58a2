"""The "Check a photo" tab: one photo, its findings with guidance, and the provider notice it sets."""

from __future__ import annotations

from skinfindings.app import privacy

privacy.prepare_environment()  # before gradio is imported, whoever imports this module first

import html  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from skinfindings.app import guidance, inputs  # noqa: E402
from skinfindings.app.heatmap import grad_cam, overlay  # noqa: E402
from skinfindings.app.inputs import GONE, clean_days, upload_source  # noqa: E402
from skinfindings.app.notice import notice_html  # noqa: E402
from skinfindings.app.presort import data_uri  # noqa: E402
from skinfindings.app.priority import RED_FLAGS  # noqa: E402
from skinfindings.data.photo import PhotoError  # noqa: E402
from skinfindings.findings import FINDING_INFO, FINDINGS  # noqa: E402
from skinfindings.model.quality import Abstention  # noqa: E402

BORDERLINE = 0.10  # a probability this close to its threshold is called borderline
UNCERTAINTY = (
    "The percentages are the model's own estimates, not measurements: it can miss a finding or report one that "
    "is not there. A finding is reported when its estimate reaches the cut-off shown."
)


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


# ---------------------------------------------------------------- rendering


def percent(p: float) -> str:
    return f"{100 * p:.0f}%"


def _probability_note(result: PhotoResult, finding: str) -> str:
    p, threshold = result.probabilities[finding], result.thresholds[finding]
    note = f"model estimate {percent(p)}; reported from {percent(threshold)}"
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


# ---------------------------------------------------------------- handler and layout


def check_photo(predictor, inbox: privacy.UploadInbox, upload, procedure, days, flags):
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


def validators(max_file_bytes: int, tickets: privacy.UploadTickets) -> dict:
    """The tab's events by name -> the check of their raw inputs (run by ``security.guard_events``)."""

    def form(procedure, days, flags) -> list:
        days = inputs.parse_days(days)
        return [inputs.parse_procedure(procedure), "" if days is None else str(days), sorted(inputs.parse_flags(flags))]

    def check(raw: list) -> list:
        checked = form(*raw[1:4])  # first: a refused form keeps the upload's ticket for the corrected retry
        return [inputs.check_photo_payload(raw[0], tickets, max_file_bytes), *checked]

    return {"check_photo": check, "update_guidance": lambda raw: [raw[0], *form(*raw[1:4])]}


def build(predictor, inbox: privacy.UploadInbox, notice: gr.HTML) -> None:
    """The tab's controls and events, inside the caller's ``gr.Tabs``; ``notice`` is the shared provider notice."""
    meta = predictor.meta
    with gr.Tab("Check a photo", id="single"):
        # Inside the tab: a State before a tab makes gradio 6.31 show the next tab under this tab's name.
        state = gr.State(None)
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
                    [(text, key) for key, text in RED_FLAGS.items()],
                    label="Do you have any of these? Tick all that apply.",
                    elem_id="sf-flags",
                )
                check = gr.Button("Check photo", variant="primary", elem_id="sf-check")
            with gr.Column(scale=3):
                results = gr.HTML(results_html(None, None, None), js_on_load=None, elem_id="sf-results")

    check.click(
        lambda *inputs: check_photo(predictor, inbox, *inputs),
        [photo, procedure, days, flags],
        [state, photo, notice, results],
        api_name="check_photo",
        preprocess=False,  # see inputs.upload_source
        concurrency_id="model",  # one limit shared by every event that runs the model
    )
    for control in (procedure, days, flags):
        control.change(
            lambda result, p, d, f: (notice_html(meta, result, f), results_html(result, p, d)),
            [state, procedure, days, flags],
            [notice, results],
            api_name="update_guidance",  # named so that its inputs are validated too (see validators)
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )
