"""The clinician pre-sort (``skinfindings sort``, command line in ``presort_cli.py``).

Clinician pre-sort: photos, folders (searched recursively) and .zip archives in;
one row per photo out, most urgent first, by the rules in ``app/priority.py``.

    from skinfindings.app.presort import presort, write_csv, write_html
    rows = presort(Predictor(), ["inbox/"], red_flags={"ana.jpg": {"fever"}})
    write_csv(rows, "report.csv"); write_html(rows, "report.html")

A pre-sort orders a worklist; it diagnoses nothing, and every photo still needs a
clinician. A photo that cannot be read or assessed is a row of its own (with the
reason), never dropped and never treated as reassuring.

Resumable: rows are appended to the output CSV as they are done, and a rerun skips
photos (by ``photo_id``, the hash of the file's bytes) already in it; the finished
CSV is rewritten sorted. Thumbnails (256 px) are decoded again from the photo's bytes
through the safe loader and re-encoded from pixels, so no metadata reaches them.

Each row's tier and reasons come from ``priority.decide`` (levels, red flags, the
patient's treatment, day and trends), the same decision the patient's notice reads.

Modules: ``presort_inputs`` (files, folders, archives), ``presort_rows`` (rows and the
CSV), ``presort_patients`` (patient, day and trends per photo), ``presort_html`` (the
worklist), ``presort_cli`` (the command); this module reads and sorts.
"""

from __future__ import annotations

import csv
import hashlib
import os
import zipfile
from contextlib import ExitStack
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from skinfindings.app.presort_html import data_uri, write_html  # noqa: F401  (the documented API)
from skinfindings.app.presort_inputs import ID_LENGTH, PhotoInput, _read, collect_inputs, photo_id
from skinfindings.app.presort_patients import PatientTable, assign_patients
from skinfindings.app.presort_rows import (  # noqa: F401  (the documented API)
    CSV_COLUMNS, SortRow, _append_csv, _resumable, read_csv, sort_rows, write_csv)
from skinfindings.app.priority import RED_FLAGS, decide
from skinfindings.data.photo import PhotoError, load_photo
from skinfindings.findings import FINDINGS, level_for

THUMBNAIL_SIDE = 128  # the model's view, rebuilt from its pixels (the recovery tab's small pictures)
WORKLIST_SIDE = 256  # the worklist's thumbnails, from the photo itself: big enough to see a pustule


# ----------------------------------------------------------------------------- sorting


def model_id(predictor) -> str:
    return f"{predictor.checkpoint.stem}@{(predictor.meta.weights_sha256 or 'unknown')[:ID_LENGTH]}"


def presort(
    predictor,
    paths: Sequence[str | os.PathLike],
    red_flags: dict[str, set[str]] | None = None,
    progress: bool = False,
    resume_from: Path | None = None,
    *,
    thumbnails: bool = True,
    exclude: Iterable[str | os.PathLike] = (),
    patients: PatientTable | None = None,
) -> list[SortRow]:
    """One row per photo under ``paths``, sorted by ``priority.sort_key`` (most urgent first).

    ``red_flags`` maps a photo's name (its full name, or just its file name) to red-flag
    keys from ``priority.RED_FLAGS``. With ``resume_from``, rows already in that CSV
    (same model) are reused and new rows are appended to it as they are done.
    ``patients`` (``presort_patients.read_patient_map`` or ``folder_patients``) gives a
    patient and a day per photo: rows then carry the patient's trend, and a finding rising
    or present after its expected window moves every row of that patient up to review.
    """
    red_flags = validate_red_flags(red_flags or {})
    patients = patients or PatientTable()
    inputs = collect_inputs(paths, exclude=[*exclude, *patients.sources])
    model = model_id(predictor)
    done = _resumable(resume_from, model) if resume_from is not None else {}
    rows: list[SortRow] = []
    bar = _progress_bar(len(inputs), progress)
    for start in range(0, len(inputs), predictor.batch_size):
        chunk = inputs[start : start + predictor.batch_size]
        new_rows, reused = _sort_chunk(predictor, chunk, done, model, thumbnails)
        if resume_from is not None:
            _append_csv(new_rows, resume_from)
        rows.extend(new_rows + reused)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    assign_patients(rows, patients)
    for row in rows:
        row.red_flags = sorted(flags_for(row.name, red_flags))
        decide_row(row)
    return sort_rows(rows)


def decide_row(row: SortRow) -> None:
    """The row's tier and reasons by ``priority.decide``: levels, red flags, its patient's treatment, day and trend."""
    decision = decide(row.levels, row.assessed, row.probabilities, red_flags=row.red_flags, procedure=row.treatment,
                      day=row.day, rising_or_late={f: row.trend.get(f, "") for f in row.trend_flags},
                      trend_day=row.trend_day)
    row.tier, row.reasons = decision.tier, list(decision.reasons)


def _sort_chunk(predictor, chunk: list[PhotoInput], done: dict[str, SortRow], model: str,
                thumbnails: bool) -> tuple[list[SortRow], list[SortRow]]:
    """(rows computed now, rows reused from an earlier run) for one batch of inputs."""
    new_rows: list[SortRow] = []
    reused: list[SortRow] = []
    to_predict: list[tuple[bytes, str, str]] = []  # (bytes, name, photo_id)
    archives: dict[Path, zipfile.ZipFile] = {}
    with ExitStack() as stack:
        for item in chunk:
            if item.problem is not None:
                new_rows.append(_error_row(item, item.problem, model))
                continue
            try:
                data = _read(item, archives, stack)
            except PhotoError as exc:
                new_rows.append(_error_row(item, exc.user_message, model))
                continue
            pid = photo_id(data)
            if pid in done:
                reused.append(_reuse(done[pid], item.name, data, predictor, thumbnails))
            else:
                to_predict.append((data, item.name, pid))
    if to_predict:
        data, names, ids = zip(*to_predict)
        predictions = predictor.predict_many(list(data), names=list(names))
        new_rows += [_row(p, pid, model, worklist_thumbnail(photo) if thumbnails and p.pixels is not None else None)
                     for p, pid, photo in zip(predictions, ids, data)]
    return new_rows, reused


def _error_row(item: PhotoInput, message: str, model: str) -> SortRow:
    # A file that could not be read has no bytes to hash; its id hashes the name instead.
    pid = "name-" + hashlib.sha256(item.name.encode()).hexdigest()[: ID_LENGTH - 5]
    row = SortRow(pid, item.name, decide({}, False).tier, [], {}, None, message, None, model=model)
    decide_row(row)
    return row


def _row(prediction, pid: str, model: str, thumbnail: Image.Image | None) -> SortRow:
    abstention = prediction.abstention
    assessed = prediction.assessed
    row = SortRow(
        photo_id=pid,
        name=prediction.name,
        tier=decide({}, False).tier,  # decided below, and again once red flags and patients are known
        present=list(prediction.present),
        probabilities=dict(prediction.probabilities) if assessed else {},
        abstain_reason=f"{abstention.message} {abstention.tip}" if abstention else None,
        error=prediction.error,
        thumbnail=thumbnail,
        abstain_code=abstention.code if abstention else None,
        model=model,
        levels=dict(prediction.levels),
    )
    decide_row(row)
    return row


def _reuse(row: SortRow, name: str, data: bytes, predictor, thumbnails: bool) -> SortRow:
    """A row from an earlier run, under this run's name; the thumbnail is rebuilt (the CSV has none) and the
    levels are worked out again from the stored estimates and the same model's cut-offs."""
    levels = levels_from(row.probabilities, predictor.meta) if row.assessed else {}
    reused = SortRow(row.photo_id, name, row.tier, list(row.present), dict(row.probabilities), row.abstain_reason,
                     row.error, worklist_thumbnail(data) if thumbnails else None, row.abstain_code, [], row.model,
                     levels=levels, reused=True)
    decide_row(reused)
    return reused


def levels_from(probabilities: dict[str, float], meta) -> dict[str, str]:
    """Levels from stored estimates and the checkpoint's two cut-offs per finding (as the Predictor sets them)."""
    cutoffs = zip(FINDINGS, meta.thresholds, meta.rule_in_thresholds)
    return {f: level_for(probabilities[f], rule_out, rule_in) for f, rule_out, rule_in in cutoffs}


def make_thumbnail(pixels: np.ndarray) -> Image.Image:
    """A <= 128 px image rebuilt from the model's pixel array: it can carry no metadata."""
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
    return image


def worklist_thumbnail(data: bytes) -> Image.Image | None:
    """A <= 256 px picture decoded again from the photo's bytes through the safe loader; None if unreadable.
    Built from pixels, so it carries no metadata."""
    try:
        image = load_photo(data, draft_size=WORKLIST_SIDE)
    except PhotoError:
        return None
    image.thumbnail((WORKLIST_SIDE, WORKLIST_SIDE), Image.Resampling.LANCZOS)
    return image


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", desc="pre-sort")


# ----------------------------------------------------------------------------- red flags


def validate_red_flags(red_flags: dict[str, set[str]]) -> dict[str, set[str]]:
    """Raises ValueError naming any flag that is not in ``priority.RED_FLAGS``."""
    for name, flags in red_flags.items():
        unknown = set(flags) - set(RED_FLAGS)
        if unknown:
            raise ValueError(f"red flags for {name!r}: unknown {sorted(unknown)}; known: {sorted(RED_FLAGS)}")
    return {name: set(flags) for name, flags in red_flags.items()}


def flags_for(name: str, red_flags: dict[str, set[str]]) -> set[str]:
    """Flags given for this photo under its full name or its file name alone.

    A file name shared by photos in several folders flags all of them: a wrong
    'urgent' costs a look, a missed one costs more."""
    return red_flags.get(name, set()) | red_flags.get(PurePosixPath(name).name, set())


def unmatched_red_flags(red_flags: dict[str, set[str]], rows: Sequence[SortRow]) -> list[str]:
    """Names in the red-flag list that matched no photo (a typo here could hide an urgent patient)."""
    names = {r.name for r in rows} | {PurePosixPath(r.name).name for r in rows}
    return sorted(n for n in red_flags if n not in names)


def read_red_flags(path: str | os.PathLike) -> dict[str, set[str]]:
    """CSV with columns ``name,red_flags``; flags separated by ';' (e.g. ``ana.jpg,fever;pus``)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not {"name", "red_flags"} <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: needs columns 'name' and 'red_flags', has {reader.fieldnames}")
        result: dict[str, set[str]] = {}
        for row in reader:
            name = (row["name"] or "").strip()
            flags = {f.strip() for f in (row["red_flags"] or "").replace(",", ";").split(";") if f.strip()}
            if name:
                result.setdefault(name, set()).update(flags)
    return validate_red_flags(result)


