"""What the app accepts from the form or the API, turned into values the handlers can use."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from skinfindings.app import guidance, privacy
from skinfindings.app.presort_inputs import request_problem
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


# ---------------------------------------------------------------- strict validation of requests
#
# Everything a client sends is checked here before gradio touches it (``security.guard_events``
# runs these ahead of gradio's own preprocessing, which would otherwise download URLs and accept
# any path in its upload folder, folders included). A value that cannot be understood is refused
# with a message, never dropped: a dropped warning sign would lower the urgency shown.

NO_LINKS = "Links are not accepted: the app works offline and never downloads anything. Please add the photo itself."
NOT_YOURS = (
    "This file is not an upload made for this request, or it is no longer on the server (uploads are deleted after "
    "use or after a while). Please add the photo again."
)
MAX_FILES = 1000  # one pre-sort request; gradio's own upload form takes no more either
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


class BadInput(ValueError):
    """A request the app refuses; ``str(exc)`` is the message shown to the person or the API caller."""


def parse_flags(flags) -> set[str]:
    """Warning signs in any recognisable form: a list, one string, comma-separated, any case, key or label."""
    if flags is None:
        return set()
    items = [flags] if isinstance(flags, str) else flags
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise BadInput(_flags_help("The warning signs must be a list of names"))
    words = [word for item in items for word in _flag_words(item)]
    found = {_FLAG_NAMES.get(_flag_key(word)) for word in words if word}
    unknown = [word for word in words if word and _flag_key(word) not in _FLAG_NAMES]
    if unknown:
        raise BadInput(_flags_help(f"Unknown warning sign(s): {', '.join(repr(w[:40]) for w in unknown[:5])}"))
    return found


def _flag_words(item: str) -> list[str]:
    """Names in one item as sent, separated by semicolons, lines or commas. The fever and allergy labels
    contain commas ("Fever, chills or ..."), so a part that is an exact key or label is never split."""
    words = []
    for part in re.split(r"[;\n]", item):
        part = part.strip()
        words += [part] if _flag_key(part) in _FLAG_NAMES else [word.strip() for word in part.split(",")]
    return words


def _flag_key(text: str) -> str:
    return re.sub(r"[\s_-]+", "_", text.strip().lower())


_FLAG_NAMES = {**{_flag_key(k): k for k in RED_FLAGS}, **{_flag_key(label): k for k, label in RED_FLAGS.items()}}


def _flags_help(problem: str) -> str:
    return (
        f"{problem}. Known: {', '.join(sorted(RED_FLAGS))}. If you have any of these signs, contact your provider "
        "now; in an emergency call your local emergency number."
    )


def parse_days(days) -> int | None:
    """Days since the treatment: empty means not given; anything else must be a whole number 0-3650."""
    if days is None or (isinstance(days, str) and not days.strip()):
        return None
    if isinstance(days, (int, float, str)) and not isinstance(days, bool):
        value = clean_days(days)
        if value is not None:
            return value
    raise BadInput("Days since the treatment must be a whole number from 0 to 3650, or left empty.")


def parse_procedure(procedure) -> str:
    """The treatment's key; empty means 'not sure'."""
    if procedure is None or procedure == "":
        return guidance.UNKNOWN_PROCEDURE
    keys = [key for _, key in guidance.procedure_choices()]
    if isinstance(procedure, str) and procedure.strip().lower() in keys:
        return procedure.strip().lower()
    raise BadInput(f"Unknown treatment. Choose one of: {', '.join(keys)}.")


def check_photo_payload(payload, tickets: privacy.UploadTickets, max_bytes: int):
    """The photo input of a check, refused unless it is empty, an upload of this request, or a small inline photo.

    Returns the payload in the one shape the handler reads (``upload_source``); takes the upload's ticket.
    """
    if payload is None or payload == "" or payload == {}:
        return None
    if isinstance(payload, dict) and not payload.get("path"):
        return _inline_photo(payload.get("url"), max_bytes)
    return {"path": str(_own_upload(payload, tickets)), "meta": {"_type": "gradio.FileData"}}


def check_file_list(payload, tickets: privacy.UploadTickets) -> list[dict]:
    """The pre-sort's files: a list of uploads of this request (photos or .zip files), each taken once."""
    if payload is None:
        return []
    if not isinstance(payload, list) or len(payload) > MAX_FILES:
        raise BadInput(f"The photos must be a list of up to {MAX_FILES} uploaded files.")
    paths = _take([_upload_path(item) for item in payload], tickets)
    problem = request_problem(paths)
    if problem:
        for path in paths:  # refused whole: its uploads are deleted now, not at the next sweep
            privacy.discard(path)
        raise BadInput(problem)
    return [{"path": str(path), "meta": {"_type": "gradio.FileData"}} for path in paths]


def _inline_photo(url, max_bytes: int) -> dict:
    if not isinstance(url, str) or not url.startswith("data:"):
        raise BadInput(NO_LINKS if isinstance(url, str) and _URL.match(url) else "The photo could not be understood.")
    if (len(url) - url.find(",") - 1) * 3 // 4 > max_bytes:  # decoded size, known before decoding anything
        raise BadInput(f"The photo is larger than the {megabytes(max_bytes)} limit. Please send a smaller one.")
    return {"url": url}


def megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def is_link(text: str) -> bool:
    """A URL of any kind (``http://``, ``file://``, ``//host``, ``data:``): never a path to an upload."""
    return bool(_URL.match(text)) or text.startswith(("data:", "//", "\\\\"))


def _usable_text(text) -> bool:
    """Text that can name a file: no NUL byte, no lone surrogate (a broken character from JSON's \\ud800)."""
    if not isinstance(text, str) or "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def plain_path(text) -> Path | None:
    """The local path ``text`` names, or None when it is a link, empty or unusable. Opens and looks up nothing."""
    if not text or not _usable_text(text) or is_link(text):
        return None
    return Path(text)


def refuse_links_anywhere(raw) -> None:
    """Every event, whatever its inputs: no file given as a link (gradio would fetch it before any handler
    runs) and no unusable text. Walks the request's values; refuses with BadInput."""
    if isinstance(raw, str):
        if not _usable_text(raw):
            raise BadInput("The request holds a character that is not allowed (a NUL byte or a broken character).")
    elif isinstance(raw, list):
        for value in raw:
            refuse_links_anywhere(value)
    elif isinstance(raw, dict):
        for value in raw.values():
            refuse_links_anywhere(value)
        path, url = raw.get("path"), raw.get("url")
        if (isinstance(path, str) and is_link(path)) or (not path and isinstance(url, str) and is_link(url)
                                                         and not url.startswith("data:")):
            raise BadInput(NO_LINKS)


def _upload_path(item) -> Path:
    """The path a client names for an upload: refused when it is a link or not a path at all."""
    path = item.get("path") if isinstance(item, dict) else item
    if isinstance(path, str) and path and _usable_text(path) and is_link(path):
        raise BadInput(NO_LINKS)
    checked = plain_path(path)
    if checked is None:
        raise BadInput("Each photo must be a file uploaded to the app.")
    return checked


def _own_upload(item, tickets: privacy.UploadTickets) -> Path:
    return _take([_upload_path(item)], tickets)[0]


def _take(paths: list[Path], tickets: privacy.UploadTickets) -> list[Path]:
    taken = tickets.take_all(paths)
    if taken is None:  # one message whatever the reason, so a refusal says nothing about other people's files
        raise BadInput(NOT_YOURS)
    return taken
