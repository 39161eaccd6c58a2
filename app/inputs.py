"""What the app accepts from the form or the API, turned into values the handlers can use."""

from __future__ import annotations

import base64

from skinfindings.app.priority import RED_FLAGS

GONE = "The upload is no longer on the server (uploads are deleted after use or after a while)."


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


def clean_days(days) -> int | None:
    """Days since the treatment from the form or the API; anything unusable means 'not given'."""
    try:
        value = float(str(days).strip())
    except ValueError:
        return None
    return int(value) if value.is_integer() and 0 <= value <= 3650 else None


def clean_flags(flags) -> set[str]:
    return {flag for flag in (flags or []) if flag in RED_FLAGS}
