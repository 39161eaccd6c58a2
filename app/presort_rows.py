"""Pre-sort rows and their CSV: one row per photo, written, appended as a resume journal, read back.

The CSV stays one row per photo; patient and trend columns (from ``--patients`` or
``--patient-folders``) sit before ``model``, which is last on purpose (see below).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from PIL import Image

from skinfindings.app.csv_cells import escape_row, unescape_cell
from skinfindings.app.priority import TIER_BY_KEY, Tier, sort_key
from skinfindings.findings import FINDINGS

BASE_COLUMNS = ("photo_id", "name", "tier", "tier_label", "possible_findings", *FINDINGS,
                "abstain_code", "abstain_reason", "error", "red_flags")
# Decision and patient columns are worked out again on every run (a trend needs all of a patient's photos; the
# levels follow from the estimates and the model's cut-offs), so a resume does not read them, and a CSV from
# before they existed still resumes.
DECISION_COLUMNS = ("levels", "reasons")
PATIENT_COLUMNS = ("patient", "day", "trend_flags", "trend")
CSV_COLUMNS = (*BASE_COLUMNS, *DECISION_COLUMNS, *PATIENT_COLUMNS, "model")
RESUME_COLUMNS = (*BASE_COLUMNS, "model")  # what a resume reads back
# "model" is last on purpose: a row cut short by an interrupted run loses it and is not resumed.


@dataclass
class SortRow:
    photo_id: str  # first 12 hex of the sha256 of the file bytes (stable id)
    name: str  # original name (for zip members: "archive.zip/member.jpg")
    tier: Tier
    present: list[str]
    probabilities: dict[str, float]  # empty when the photo was not assessed: no numbers for a refused photo
    abstain_reason: str | None  # Abstention.message + tip when abstained
    error: str | None  # PhotoError user message when unreadable
    thumbnail: Image.Image | None  # built from Prediction.pixels: metadata-free, <= 128 px
    abstain_code: str | None = None
    red_flags: list[str] = field(default_factory=list)
    model: str = ""  # which weights produced the row; a resume reuses only rows of the same model
    patient: str | None = None
    day: int | None = None  # days since the treatment
    treatment: str | None = None
    trend_flags: list[str] = field(default_factory=list)  # the patient's findings rising or later than expected
    trend: dict[str, str] = field(default_factory=dict)  # finding -> the patient's verdict kind (app/trends.py)
    trend_day: int | None = None  # the patient's latest assessed day: the day the trend was judged on
    levels: dict[str, str] = field(default_factory=dict)  # LIKELY / POSSIBLE / NOT_SEEN; empty when not assessed
    reasons: list[str] = field(default_factory=list)  # why the row is in its tier (priority.decide), clinician words
    reused: bool = False  # taken from an earlier run's CSV

    @property
    def assessed(self) -> bool:
        return self.error is None and self.abstain_reason is None



def sort_rows(rows: list[SortRow]) -> list[SortRow]:
    """Most urgent first; a patient's photos stay together (by day), placed where their most urgent photo goes."""
    def own_key(row: SortRow) -> tuple:
        return sort_key(row.tier, row.probabilities)

    groups: dict[str, list[SortRow]] = {}
    for row in rows:
        groups.setdefault(f"patient:{row.patient}" if row.patient is not None else f"photo:{id(row)}", []).append(row)
    ordered = sorted(groups.values(), key=lambda group: min((*own_key(r), r.name) for r in group))
    return [row for group in ordered
            for row in sorted(group, key=lambda r: (r.day is None, r.day or 0, *own_key(r), r.name))]


def _csv_record(row: SortRow) -> list[str]:
    probabilities = [f"{row.probabilities[f]:.4f}" if f in row.probabilities else "" for f in FINDINGS]
    return escape_row([row.photo_id, row.name, row.tier.key, row.tier.label, ";".join(row.present), *probabilities,
            row.abstain_code or "", row.abstain_reason or "", row.error or "", ";".join(row.red_flags),
            ";".join(f"{f}={level}" for f, level in row.levels.items()), "; ".join(row.reasons),
            row.patient or "", "" if row.day is None else str(row.day), ";".join(row.trend_flags),
            ";".join(f"{f}={kind}" for f, kind in row.trend.items()), row.model])  # no formulas (csv_cells)


def write_csv(rows: Sequence[SortRow], path: str | os.PathLike) -> Path:
    """All rows, in the order given (``presort`` returns them sorted); replaced atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(_csv_record(r) for r in rows)
    os.replace(partial, path)
    return path


def _append_csv(rows: Sequence[SortRow], path: Path) -> None:
    fresh = not path.exists() or path.stat().st_size == 0
    if not fresh:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            ends_cleanly = handle.read(1) == b"\n"
    with path.open("a", newline="", encoding="utf-8") as handle:
        if not fresh and not ends_cleanly:
            handle.write("\r\n")  # an interrupted run left half a row; start a new line
        writer = csv.writer(handle)
        if fresh:
            writer.writerow(CSV_COLUMNS)
        writer.writerows(_csv_record(r) for r in rows)
        handle.flush()
        os.fsync(handle.fileno())


def read_csv(path: str | os.PathLike) -> list[SortRow]:
    """Rows of a pre-sort CSV (without thumbnails); a malformed or cut-off row is skipped."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in RESUME_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} is not a pre-sort CSV (missing columns {missing})")
        rows = []
        for record in reader:
            row = _parse_record(record)
            if row is not None:
                rows.append(row)
    return rows


def _parse_record(record: dict[str, str | None]) -> SortRow | None:
    if any(record.get(c) is None for c in RESUME_COLUMNS) or not record["model"] or record["tier"] not in TIER_BY_KEY:
        return None
    try:
        probabilities = {f: float(record[f]) for f in FINDINGS if record[f]}
    except ValueError:
        return None
    present = [f for f in record["possible_findings"].split(";") if f]
    if set(present) - set(FINDINGS):
        return None
    return SortRow(
        photo_id=record["photo_id"], name=unescape_cell(record["name"]), tier=TIER_BY_KEY[record["tier"]], present=present,
        probabilities=probabilities, abstain_reason=record["abstain_reason"] or None, error=record["error"] or None,
        thumbnail=None, abstain_code=record["abstain_code"] or None,
        red_flags=[f for f in record["red_flags"].split(";") if f], model=record["model"],
    )


def _resumable(path: Path, model: str) -> dict[str, SortRow]:
    """Rows of an earlier run with the same model, by photo_id; unreadable files are not resumed."""
    if not path.exists() or path.stat().st_size == 0:
        return {}
    return {r.photo_id: r for r in read_csv(path) if r.model == model and r.error is None}

