"""The provider notice above every tab, and the model's standing in plain words."""

from __future__ import annotations

import html

from skinfindings.app import guidance
from skinfindings.app.inputs import clean_days, clean_flags
from skinfindings.app.priority import Decision, decide
from skinfindings.model.checkpoint import CheckpointMeta


def model_status(meta: CheckpointMeta) -> str:
    """The model's standing in plain words, straight from the checkpoint's own metadata; each fact said once."""
    if not meta.trained:
        return f"an untrained placeholder with random weights: its results mean nothing ({meta.status})."
    data = ", ".join(source.name for source in meta.trained_on) or "data not recorded in the checkpoint"
    parts = ["a demonstration model"]
    if "trained on" not in meta.status:  # the checkpoint's own status may already say it: say each fact once
        parts.append(f"trained on {data}")
    if meta.status:
        parts.append(meta.status)
    if "not validated" not in meta.status:
        parts.append("not validated on real patients")
    return ", ".join(parts) + "."


def photo_decision(result, flags, procedure=None, days=None) -> Decision:
    """The decision for one checked photo (``check_tab.PhotoResult``, or None before any check).

    The notice and the finding cards both read this, so they cannot disagree."""
    procedure = None if procedure in (None, "", guidance.UNKNOWN_PROCEDURE) else procedure
    if result is None:
        return decide({}, True, {}, red_flags=clean_flags(flags))
    return decide(result.levels, result.assessed, result.probabilities, red_flags=clean_flags(flags),
                  procedure=procedure, day=clean_days(days))


def notice_html(meta: CheckpointMeta, result, flags, procedure=None, days=None) -> str:
    """The provider notice above everything: its level follows ``priority.decide``, never 'all clear'.

    ``result`` is the checked photo (``check_tab.PhotoResult``) or None before any check."""
    decision = photo_decision(result, flags, procedure, days)
    return urgency_html(meta, guidance.urgency(decision, clean_flags(flags)))


def urgency_html(meta: CheckpointMeta, message: guidance.Urgency) -> str:
    """The notice for a given urgency (the recovery tab's comes from ``trends.series_urgency``).

    Short on purpose (one headline, one next step): on a phone it must leave room for the form below it."""
    role = "alert" if message.level.key in ("urgent", "review") else "status"
    parts = [f'<div class="sf-notice sf-level-{message.level.key}" role="{role}" id="sf-provider-notice">']
    parts.append(f'<p class="sf-headline">{html.escape(message.headline)}</p>')
    parts.append(f'<p class="sf-next-step">{html.escape(message.next_step)}</p>')
    parts += [f"<p>{html.escape(line)}</p>" for line in message.lines]
    if message.emergency:
        parts.append(f'<p class="sf-emergency">{html.escape(message.emergency)}</p>')
    parts.append(f'<p class="sf-model-status">Not a diagnosis. Model: {html.escape(model_status(meta))}</p>')
    parts.append("</div>")
    return "\n".join(parts)
