"""The "Check a photo" tab: one photo, its findings with guidance, and the provider notice it sets."""

from __future__ import annotations

from skinfindings.app import privacy

privacy.prepare_environment()  # before gradio is imported, whoever imports this module first

import html  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from skinfindings.app import guidance, inputs, trends  # noqa: E402
from skinfindings.app.heatmap import grad_cam, overlay  # noqa: E402
from skinfindings.app.inputs import GONE, clean_days, upload_source  # noqa: E402
from skinfindings.app.notice import notice_html, photo_decision  # noqa: E402
from skinfindings.app.presort import data_uri  # noqa: E402
from skinfindings.app.priority import ESCALATING, RED_FLAGS, Decision  # noqa: E402
from skinfindings.data.photo import PhotoError  # noqa: E402
from skinfindings.findings import FINDINGS, LIKELY, NOT_SEEN, POSSIBLE  # noqa: E402
from skinfindings.model.quality import Abstention  # noqa: E402

UNCERTAINTY = (
    "The percentages are the model's own estimates, not measurements: it can miss a finding or report one that "
    "is not there. A finding is possible from its first cut-off and likely from its second."
)
MAX_DAY = trends.RULES.max_day  # one range for every tab
DAY_HELP = f"A whole number from 0 (the day of the treatment) to {MAX_DAY}; leave empty if not sure."
# Ordinary faces re-saved at JPEG quality 50 reach a "possible" crust or pustule about 2.5 times as often as the
# photos as taken (docs/ablation.md, round 8).
PHOTO_TIP = ("Use the photo as your phone's camera took it, not a copy sent through a messaging app or a screenshot: "
             "those are saved again at a lower quality, and the model then more often mistakes ordinary skin for "
             "a possible crust or spot.")


@dataclass
class PhotoResult:
    """What the app keeps about one checked photo: numbers and inline pictures, never the file."""

    name: str
    probabilities: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)  # rule-out: possible from here
    rule_in: dict[str, float] = field(default_factory=dict)  # likely from here
    levels: dict[str, str] = field(default_factory=dict)  # LIKELY / POSSIBLE / NOT_SEEN; empty when not assessed
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
    shown = carded(prediction.levels)
    maps = grad_cam(predictor, prediction.pixels, shown) if shown else {}
    return PhotoResult(
        name=name,
        probabilities=prediction.probabilities,
        thresholds=prediction.thresholds,
        rule_in=prediction.rule_in,
        levels=dict(prediction.levels),
        present=list(prediction.present),
        abstention=prediction.abstention,
        view=data_uri(prediction.pixels),
        heatmaps={finding: data_uri(overlay(prediction.pixels, heat)) for finding, heat in maps.items()},
    )


# ---------------------------------------------------------------- rendering


def carded(levels: dict[str, str]) -> list[str]:
    """Findings that get a card (and a heatmap): every likely one, and escalating ones that are possible."""
    return [f for f in FINDINGS if levels.get(f) == LIKELY or (levels.get(f) == POSSIBLE and f in ESCALATING)]


def card_order(result: PhotoResult, decision: Decision) -> list[str]:
    """Escalating findings first (raised, then watched), then the rest by probability."""
    def rank(finding: str) -> tuple[int, float]:
        role = 0 if finding in decision.raising else 1 if finding in decision.watch else 2
        return role, -result.probabilities.get(finding, 0.0)

    return sorted(carded(result.levels), key=rank)


def percent(p: float) -> str:
    return f"{100 * p:.0f}%"


def _figure(uri: str, caption: str) -> str:
    caption = html.escape(caption)
    return f'<figure><img src="{uri}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def _contact(finding: str, decision: Decision, advice: guidance.FindingAdvice) -> str:
    """When to contact the provider, in the same words as the notice for this finding's role in the decision."""
    if finding in decision.raising:
        return guidance.guidance().wording["contact_raised"]
    if finding in decision.watch:
        return guidance.watch_sentence([finding])
    return advice.contact


def _finding_card(result: PhotoResult, finding: str, decision: Decision, procedure: str | None,
                  days: int | None) -> str:
    advice = guidance.finding_advice(finding, procedure, days, result.levels[finding])
    helps = "".join(f"<li>{html.escape(text)}</li>" for text in advice.helps)
    kind = " sf-escalating" if finding in decision.raising else " sf-watch" if finding in decision.watch else ""
    return (
        f'<div class="sf-finding{kind}" data-finding="{finding}" data-level="{result.levels[finding]}">'
        f"<h4>{html.escape(advice.headline)}</h4>"
        f'<p class="sf-contact"><b>When to contact your provider.</b> '
        f"{html.escape(_contact(finding, decision, advice))}</p>"
        f'<p class="sf-timing"><b>Timing.</b> {html.escape(advice.timing)}</p>'
        f"<details><summary>What it is and what helps</summary><p>{html.escape(advice.what)}</p>"
        f"<p>{html.escape(advice.course)}</p><ul>{helps}</ul></details>"
        "</div>"
    )


def _pictures(result: PhotoResult) -> str:
    figures = []
    if result.view:
        figures.append(_figure(result.view, "Your photo as the model saw it (resized, without metadata)"))
    figures += [
        _figure(uri, f"Where the model found signs of {guidance.finding_name(f)}")
        for f, uri in result.heatmaps.items()
    ]
    return f'<div class="sf-pictures">{"".join(figures)}</div>' if figures else ""


def estimates_table(result: PhotoResult) -> str:
    """Every finding's level, estimate and the two cut-offs, most probable first."""
    rows = "".join(
        f"<tr><th scope=\"row\">{html.escape(guidance.guidance().names[f])}</th>"
        f"<td>{html.escape(guidance.level_word(result.levels.get(f, NOT_SEEN)))}</td>"
        f"<td>{percent(result.probabilities[f])}</td><td>{percent(result.thresholds[f])}</td>"
        f"<td>{percent(result.rule_in.get(f, result.thresholds[f]))}</td></tr>"
        for f in sorted(FINDINGS, key=lambda f: -result.probabilities[f])
    )
    return (
        '<div class="sf-scroll"><table class="sf-estimates"><caption>The model\'s estimates</caption><thead><tr>'
        '<th scope="col">Finding</th><th scope="col">Level</th><th scope="col">Estimate</th>'
        '<th scope="col">Possible from</th><th scope="col">Likely from</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _details(result: PhotoResult) -> str:
    table = estimates_table(result) if result.assessed else ""
    note = f'<p class="sf-uncertainty">{html.escape(UNCERTAINTY)}</p>' if result.assessed else ""
    return (
        '<details class="sf-details"><summary>Details: estimates and where the model looked</summary>'
        f"{_pictures(result)}{table}{note}</details>"
    )


def _general_care() -> str:
    items = "".join(f"<li>{html.escape(text)}</li>" for text in guidance.general_care())
    return f'<details class="sf-care"><summary>Aftercare that helps in general</summary><ul>{items}</ul></details>'


def _footer() -> str:
    return f'<p class="sf-disclaimer">{html.escape(guidance.disclaimer())}</p>'


def _next_step(decision: Decision, flags) -> str:
    message = guidance.urgency(decision, inputs.clean_flags(flags))
    return f'<p class="sf-next-step"><b>{html.escape(message.next_step)}</b></p>'


def _also_possible(result: PhotoResult) -> str:
    others = [f for f in FINDINGS if result.levels.get(f) == POSSIBLE and f not in carded(result.levels)]
    if not others:
        return ""
    names = ", ".join(guidance.finding_name(f) for f in others)
    return f'<p class="sf-also">{html.escape(guidance.guidance().wording["also_possible"].format(findings=names))}</p>'


def results_html(result: PhotoResult | None, procedure: str | None, days, flags=None) -> str:
    """The next step first, then the findings (escalating first), details folded away. Pure: tests call it."""
    days = clean_days(days)
    if result is None:
        return '<div class="sf-results sf-empty"><p>Add a photo and press <b>Check photo</b>.</p></div>'
    if result.error:
        return (
            '<div class="sf-results"><div class="sf-error" role="alert"><h3>This file could not be read</h3>'
            f"<p>{html.escape(result.error)}</p><p>Nothing was checked. You can add another photo.</p></div></div>"
        )
    decision = photo_decision(result, flags, procedure, days)
    if result.abstention:
        return (
            f'<div class="sf-results">{_next_step(decision, flags)}<div class="sf-abstain">'
            f"<h3>This photo could not be assessed</h3><p>{html.escape(result.abstention.message)}</p>"
            f"<p><b>How to retake it:</b> {html.escape(result.abstention.tip)}</p></div>"
            f"{_details(result)}{_general_care()}{_footer()}</div>"
        )
    procedure = None if procedure in (None, "", guidance.UNKNOWN_PROCEDURE) else procedure
    shown = card_order(result, decision)
    if shown:
        cards = "".join(_finding_card(result, f, decision, procedure, days) for f in shown)
        found = f"<h3>What the app found</h3>{cards}{_also_possible(result)}"
    else:
        headline = guidance.guidance().wording["headline_none"]
        found = f"<h3>{html.escape(headline)}</h3>{_also_possible(result)}<p>{html.escape(guidance.nothing_found())}</p>"
    return (
        f'<div class="sf-results">{_next_step(decision, flags)}{found}{_details(result)}{_general_care()}'
        f"{_footer()}</div>"
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
        results = results_html(result, procedure, days, flags)
    return result, None, notice_html(meta, result, flags, procedure, days), results


def validators(max_file_bytes: int, tickets: privacy.UploadTickets) -> dict:
    """The tab's events by name -> the check of their raw inputs (run by ``security.guard_events``)."""

    def form(procedure, days, flags) -> list:
        days = inputs.parse_days(days)
        if days is not None and days > MAX_DAY:
            raise inputs.BadInput(DAY_HELP)
        return [inputs.parse_procedure(procedure), days, sorted(inputs.parse_flags(flags))]

    def check(raw: list) -> list:
        checked = form(*raw[1:4])  # first: a refused form keeps the upload's ticket for the corrected retry
        return [inputs.check_photo_payload(raw[0], tickets, max_file_bytes), *checked]

    return {"check_photo": check, "update_guidance": lambda raw: [raw[0], *form(*raw[1:4])]}


def whole_number_api(component: gr.Textbox) -> gr.Textbox:
    """Declare the days field to API callers as what it accepts: a whole number (example 3), not free text.

    Set on this one instance (a subclass would make gradio write a .pyi file next to this module)."""
    schema = {"type": "integer", "description": DAY_HELP}
    component.api_info = component.api_info_as_input = lambda: schema
    component.example_payload = component.example_value = lambda: 3
    return component


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
                gr.Markdown(PHOTO_TIP, elem_id="sf-photo-tip")
                procedure = gr.Dropdown(
                    guidance.procedure_choices(),
                    value=guidance.UNKNOWN_PROCEDURE,
                    label="Treatment you had",
                    elem_id="sf-procedure",
                )
                # A text field in the page: gradio 6.31's gr.Number shows (and sends) 0 even with value=None,
                # and "day 0" is a claim the patient did not make. Empty means "not given". For API callers it is
                # declared a whole number (see whole_number_api), and the validator holds it to 0..MAX_DAY.
                days = whole_number_api(gr.Textbox(
                    label="Days since the treatment (0 = the same day)",
                    info=DAY_HELP,
                    placeholder="for example 3",
                    max_lines=1,
                    elem_id="sf-days",
                ))
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
            lambda result, p, d, f: (notice_html(meta, result, f, p, d), results_html(result, p, d, f)),
            [state, procedure, days, flags],
            [notice, results],
            api_name="update_guidance",  # named so that its inputs are validated too (see validators)
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )
