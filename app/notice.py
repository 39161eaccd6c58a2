"""The provider notice above every tab, and the model's standing in plain words."""

from __future__ import annotations

import html

from skinfindings.app import guidance
from skinfindings.app.inputs import clean_flags
from skinfindings.model.checkpoint import CheckpointMeta


def model_status(meta: CheckpointMeta) -> str:
    """The model's standing in plain words, straight from the checkpoint's own metadata."""
    if not meta.trained:
        return f"an untrained placeholder with random weights: its results mean nothing ({meta.status})."
    data = ", ".join(source.name for source in meta.trained_on) or "data not recorded in the checkpoint"
    return f"a demonstration model trained on {data}, not validated on real patients ({meta.status})."


def notice_html(meta: CheckpointMeta, result, flags) -> str:
    """The provider notice above everything: its level follows the red flags and the photo, never 'all clear'.

    ``result`` is the checked photo (``check_tab.PhotoResult``) or None before any check.
    """
    present = result.present if result else []
    assessed = result.assessed if result else True
    return urgency_html(meta, guidance.urgency(present, assessed, clean_flags(flags)))


def urgency_html(meta: CheckpointMeta, message: guidance.Urgency) -> str:
    """The notice for a given urgency (the recovery tab's comes from ``trends.series_urgency``)."""
    role = "alert" if message.level.key in ("urgent", "review") else "status"
    parts = [f'<div class="sf-notice sf-level-{message.level.key}" role="{role}" id="sf-provider-notice">']
    parts.append(f'<p class="sf-headline">{html.escape(message.headline)}</p>')
    parts += [f"<p>{html.escape(line)}</p>" for line in message.lines]
    if message.emergency:
        parts.append(f'<p class="sf-emergency">{html.escape(message.emergency)}</p>')
    parts.append(f'<p class="sf-model-status">Model: {html.escape(model_status(meta))}</p>')
    parts.append("</div>")
    return "\n".join(parts)
