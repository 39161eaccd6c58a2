"""The licence gate: which images a model may be trained on, and what that makes the model.

    from skinfindings.data.licenses import check_licences
    report = check_licences(manifest, allow_non_commercial=False)   # raises LicenceError naming the files
    report.non_commercial   # True -> the checkpoint and its model card must say "non-commercial"

Policy (docs in data/REAL_DATA.md):

* allowed: CC0, PDDL, CC-BY-*, CC-BY-SA-*;
* CC-BY-NC-* and CC-BY-NC-SA-*: only with ``allow_non_commercial``, and the model becomes non-commercial;
* a clinic's own consented photos (``LicenseRef-Private-Consented``): only with ``allow_private``, and the
  model must not be published;
* everything else is refused, including no-derivatives (ND) licences, "all rights reserved", a missing
  licence and texts we cannot read. Refusing is recoverable (fix the manifest); training on the wrong
  licence is not.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from skinfindings.data.manifest import Manifest, ManifestError

PRIVATE_LICENCE = "LicenseRef-Private-Consented"
OPEN_FAMILIES = ("CC0", "PDDL", "CC-BY", "CC-BY-SA")
NON_COMMERCIAL_FAMILIES = ("CC-BY-NC", "CC-BY-NC-SA")
MAX_NAMED_FILES = 20  # per reason in an error message; LicenceError.files holds them all

# Long Creative Commons wording -> the short tokens of the licence id.
_CC_WORDS = {
    "attribution": "by",
    "noncommercial": "nc",
    "non commercial": "nc",
    "sharealike": "sa",
    "share alike": "sa",
    "noderivatives": "nd",
    "noderivs": "nd",
    "no derivatives": "nd",
    "creative commons": "cc",
}


class LicenceError(ManifestError):
    """Images the gate refuses; ``files`` lists every one of them."""

    def __init__(self, message: str, files: list[str]):
        super().__init__(message)
        self.files = files


@dataclass
class LicenceReport:
    non_commercial: bool
    licences: dict[str, int]  # licence id -> number of images
    private: bool = False  # trained on private (clinic) photos: the model must not be published


def _words(text: str) -> str:
    """Lower case, separators as single spaces, long CC wording as short tokens."""
    words = re.sub(r"[\s_\-/,()\[\]:;]+", " ", text.lower()).strip()
    for long, short in _CC_WORDS.items():
        words = re.sub(rf"\b{long}\b", short, words)
    return words


def _creative_commons_url(text: str) -> str | None:
    found = re.search(r"creativecommons\.org/licenses/([a-z\-]+)/(\d(?:\.\d)?)", text)
    if found:
        return f"CC-{found[1].upper()}-{_version(found[2])}"
    if re.search(r"creativecommons\.org/publicdomain/zero/", text):
        return "CC0-1.0"
    if "opendatacommons.org/licenses/pddl" in text:
        return "PDDL-1.0"
    return None


def _version(text: str) -> str:
    return text if "." in text else f"{text}.0"


def _creative_commons_words(words: str) -> str | None:
    tokens = words.split()
    if "cc" not in tokens or "by" not in tokens:
        return None
    parts = ["CC", "BY"] + [t.upper() for t in ("nc", "nd", "sa") if t in tokens]
    if "ND" in parts and "SA" in parts:
        return None  # no such licence: the text is garbled
    version = next((_version(t) for t in tokens if re.fullmatch(r"\d(\.\d)?", t)), "")
    return "-".join(parts + ([version] if version else []))


def normalise_license(text: str) -> str:
    """SPDX-like id for common spellings ("CC BY 4.0" -> "CC-BY-4.0"); unknown texts come back trimmed.

    A CC text without a version keeps none ("CC BY" -> "CC-BY"): the version is not guessed."""
    raw = " ".join((text or "").split())
    if not raw:
        return ""
    lowered = raw.lower()
    from_url = _creative_commons_url(lowered)
    if from_url:
        return from_url
    words = _words(raw)
    if lowered.startswith("attribution"):  # CC's own title, "Attribution 4.0 International"
        words = "cc " + words
    if words in ("licenseref private consented", "private consented", "own consented"):
        return PRIVATE_LICENCE
    if "pddl" in words or "public domain dedication and licen" in words:
        return "PDDL-1.0"
    if re.search(r"\bcc0\b|\bcc zero\b", words) or words in ("public domain dedication", "cc public domain dedication"):
        return "CC0-1.0"
    return _creative_commons_words(words) or raw


def licence_family(licence_id: str) -> str:
    """The id without its version: "CC-BY-NC-4.0" -> "CC-BY-NC"."""
    return re.sub(r"-\d(\.\d)?$", "", licence_id)


def _refusal(licence_id: str, allow_non_commercial: bool, allow_private: bool) -> str | None:
    """Why the gate refuses an image with this (normalised) licence, or None when it passes."""
    family = licence_family(licence_id)
    if not licence_id:
        return "no licence recorded (pass --license when importing, or fill the manifest's license column)"
    if family in OPEN_FAMILIES:
        return None
    if family in NON_COMMERCIAL_FAMILIES:
        if allow_non_commercial:
            return None
        return (f"non-commercial licence {licence_id} needs --allow-non-commercial "
                "(the trained model is then marked non-commercial)")
    if licence_id == PRIVATE_LICENCE:
        return None if allow_private else "private clinic photos need --allow-private (the model must not be published)"
    if "-ND" in family:
        return f"licence {licence_id!r} forbids derivatives (ND); it is not on the allow-list"
    allowed = ", ".join(f"{f}-*" if f.startswith("CC-") else f for f in OPEN_FAMILIES)
    return f"licence {licence_id!r} is not on the allow-list ({allowed}; CC-BY-NC-* with --allow-non-commercial)"


def name_files(files: list[str]) -> str:
    """The first files of a list, and how many more: error messages stay readable for big data sets."""
    named = ", ".join(files[:MAX_NAMED_FILES])
    more = len(files) - MAX_NAMED_FILES
    return named + (f" ... and {more} more" if more > 0 else "")


def check_licences(manifest: Manifest, allow_non_commercial: bool = False,
                   allow_private: bool = False) -> LicenceReport:
    """Apply the gate to every image; raise LicenceError naming each refused file, else say what passed."""
    licences: Counter[str] = Counter()
    refused: dict[str, list[str]] = {}
    for record in manifest.records:
        licence_id = normalise_license(record.license)
        reason = _refusal(licence_id, allow_non_commercial, allow_private)
        if reason:
            refused.setdefault(reason, []).append(record.path)
        licences[licence_id] += 1
    if refused:
        files = [f for names in refused.values() for f in names]
        lines = [f"{len(files)} image(s) refused by the licence gate:"]
        lines += [f"  {reason}: {name_files(names)}" for reason, names in refused.items()]
        raise LicenceError("\n".join(lines), files)
    families = {licence_family(licence_id) for licence_id in licences}
    return LicenceReport(
        non_commercial=bool(families & set(NON_COMMERCIAL_FAMILIES)),
        licences=dict(sorted(licences.items())),
        private=PRIVATE_LICENCE in licences,
    )
