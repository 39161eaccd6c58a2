"""skinfindings sort PATH... --out report.csv [--html report.html] [--red-flags flags.csv]

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
CSV is rewritten sorted. Thumbnails are built from the model's metadata-free view
of the photo, never from the file itself.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import html
import io
import os
import sys
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from skinfindings.app.priority import RED_FLAGS, TIER_BY_KEY, Tier, sort_key, tier_for
from skinfindings.data.photo import MAX_FILE_BYTES, CorruptPhotoError, PhotoError, PhotoTooLargeError
from skinfindings.findings import FINDING_INFO, FINDINGS

THUMBNAIL_SIDE = 128
ID_LENGTH = 12
# Zip archives come from uploads too, so every archive is read under caps: nothing is
# ever extracted to disk, and a zip bomb runs out of budget instead of out of memory.
MAX_ZIP_MEMBERS = 20_000
MAX_ZIP_TOTAL_BYTES = 4 * 1024**3
MAX_COMPRESSION_RATIO = 200  # photos barely compress; a member that shrinks 200x is not a photo
IGNORED_FILES = {"thumbs.db", "desktop.ini"}  # operating-system clutter, never a photo

CSV_COLUMNS = ("photo_id", "name", "tier", "tier_label", "possible_findings", *FINDINGS,
               "abstain_code", "abstain_reason", "error", "red_flags", "model")
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

    @property
    def assessed(self) -> bool:
        return self.error is None and self.abstain_reason is None


@dataclass(frozen=True)
class PhotoInput:
    """One photo to sort: a file, or a member of a zip archive."""

    name: str
    path: Path  # the file, or the archive that holds it
    member: str | None = None
    problem: str | None = None  # known before reading (bad archive, unsafe member name)


# ----------------------------------------------------------------------------- inputs


def collect_inputs(paths: Iterable[str | os.PathLike], exclude: Iterable[str | os.PathLike] = ()) -> list[PhotoInput]:
    """Files, folders (recursive, hidden files skipped) and .zip archives -> photos, in a stable order.

    Every other file in a folder becomes an input too, so a photo in an unexpected
    format shows up as a row with an error instead of silently going missing.
    Raises FileNotFoundError for a path that does not exist.
    """
    excluded = {Path(p).resolve() for p in exclude}
    inputs: list[PhotoInput] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir():
            for file, name in _walk(path):
                if file.resolve() not in excluded:
                    inputs.extend(_inputs_for_file(file, name))
        elif path.resolve() not in excluded:
            inputs.extend(_inputs_for_file(path, path.name))
    return inputs


def _walk(folder: Path) -> Iterable[tuple[Path, str]]:
    for root, dirs, files in os.walk(folder):  # symlinked folders are not followed: no loops
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file in sorted(files):
            if file.startswith(".") or file.lower() in IGNORED_FILES:
                continue
            full = Path(root) / file
            yield full, (PurePosixPath(folder.name) / full.relative_to(folder).as_posix()).as_posix()


def _inputs_for_file(path: Path, name: str) -> list[PhotoInput]:
    if path.suffix.lower() != ".zip":
        return [PhotoInput(name, path)]
    try:
        with zipfile.ZipFile(path) as archive:
            return _zip_members(archive, path, name)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        return [PhotoInput(name, path, problem=f"This zip archive could not be opened ({exc}).")]


def _zip_members(archive: zipfile.ZipFile, path: Path, name: str) -> list[PhotoInput]:
    members = [m for m in archive.infolist() if not m.is_dir() and not _hidden_member(m.filename)]
    if len(members) > MAX_ZIP_MEMBERS:
        return [PhotoInput(name, path, problem=f"This zip archive holds {len(members)} files; at most "
                                               f"{MAX_ZIP_MEMBERS} are read. Split it into smaller archives.")]
    total = sum(m.file_size for m in members)
    if total > MAX_ZIP_TOTAL_BYTES:
        return [PhotoInput(name, path, problem=f"This zip archive unpacks to {total:,} bytes; at most "
                                               f"{MAX_ZIP_TOTAL_BYTES:,} are read. Split it into smaller archives.")]
    return [PhotoInput(f"{name}/{m.filename}", path, m.filename, _member_problem(m)) for m in members]


def _hidden_member(filename: str) -> bool:
    """macOS resource forks, dot files and operating-system clutter: never a photo."""
    parts = PurePosixPath(filename.replace("\\", "/")).parts
    return bool(parts) and (parts[0] == "__MACOSX" or parts[-1].startswith(".") or parts[-1].lower() in IGNORED_FILES)


def _member_problem(member: zipfile.ZipInfo) -> str | None:
    """Why a member is refused before reading it, or None. Members are never written to disk,
    but a name that climbs out of the archive is a sign of a hostile archive, so it is refused."""
    pure = PurePosixPath(member.filename.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or ":" in member.filename:
        return "This archive entry has an unsafe path and was not opened."
    if member.flag_bits & 0x1:
        return "This archive entry is password-protected and could not be opened."
    if member.filename.lower().endswith(".zip"):
        return "Archives inside an archive are not opened; unpack it and sort the inner archive itself."
    if member.file_size > MAX_FILE_BYTES:
        return PhotoTooLargeError.user_message
    if member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1) and member.file_size > 1 << 20:
        return "This archive entry is compressed far more than a photo can be and was not opened."
    return None


def _read(item: PhotoInput, archives: dict[Path, zipfile.ZipFile], stack: ExitStack) -> bytes:
    """The file's bytes, at most MAX_FILE_BYTES of them; raises PhotoError.

    Archives are opened once per batch (``archives`` caches them, ``stack`` closes them)."""
    try:
        if item.member is None:
            with open(item.path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        else:
            if item.path not in archives:
                archives[item.path] = stack.enter_context(zipfile.ZipFile(item.path))
            with archives[item.path].open(item.member) as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError) as exc:
        raise CorruptPhotoError(str(exc)) from exc
    if len(data) > MAX_FILE_BYTES:
        raise PhotoTooLargeError(f"over {MAX_FILE_BYTES} bytes")
    return data


def photo_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:ID_LENGTH]


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
) -> list[SortRow]:
    """One row per photo under ``paths``, sorted by ``priority.sort_key`` (most urgent first).

    ``red_flags`` maps a photo's name (its full name, or just its file name) to red-flag
    keys from ``priority.RED_FLAGS``. With ``resume_from``, rows already in that CSV
    (same model) are reused and new rows are appended to it as they are done.
    """
    red_flags = validate_red_flags(red_flags or {})
    inputs = collect_inputs(paths, exclude=exclude)
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
    for row in rows:
        row.red_flags = sorted(flags_for(row.name, red_flags))
        row.tier = tier_for(row.present, row.assessed, set(row.red_flags))
    return sort_rows(rows)


def sort_rows(rows: list[SortRow]) -> list[SortRow]:
    return sorted(rows, key=lambda r: (*sort_key(r.tier, r.probabilities), r.name))


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
        new_rows += [_row(p, pid, model, thumbnails) for p, pid in zip(predictions, ids)]
    return new_rows, reused


def _error_row(item: PhotoInput, message: str, model: str) -> SortRow:
    # A file that could not be read has no bytes to hash; its id hashes the name instead.
    pid = "name-" + hashlib.sha256(item.name.encode()).hexdigest()[: ID_LENGTH - 5]
    return SortRow(pid, item.name, tier_for([], False), [], {}, None, message, None, model=model)


def _row(prediction, pid: str, model: str, thumbnails: bool) -> SortRow:
    abstention = prediction.abstention
    assessed = prediction.assessed
    return SortRow(
        photo_id=pid,
        name=prediction.name,
        tier=tier_for(prediction.present, assessed),
        present=list(prediction.present),
        probabilities=dict(prediction.probabilities) if assessed else {},
        abstain_reason=f"{abstention.message} {abstention.tip}" if abstention else None,
        error=prediction.error,
        thumbnail=make_thumbnail(prediction.pixels) if thumbnails and prediction.pixels is not None else None,
        abstain_code=abstention.code if abstention else None,
        model=model,
    )


def _reuse(row: SortRow, name: str, data: bytes, predictor, thumbnails: bool) -> SortRow:
    """A row from an earlier run, under this run's name; the thumbnail is rebuilt (the CSV has none)."""
    thumbnail = None
    if thumbnails:
        try:
            thumbnail = make_thumbnail(predictor.prepare(data)[0])
        except PhotoError:
            thumbnail = None
    return SortRow(row.photo_id, name, row.tier, list(row.present), dict(row.probabilities), row.abstain_reason,
                   row.error, thumbnail, row.abstain_code, [], row.model)


def make_thumbnail(pixels: np.ndarray) -> Image.Image:
    """A <= 128 px image rebuilt from the model's pixel array: it can carry no metadata."""
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
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


# ----------------------------------------------------------------------------- CSV


def _csv_record(row: SortRow) -> list[str]:
    probabilities = [f"{row.probabilities[f]:.4f}" if f in row.probabilities else "" for f in FINDINGS]
    return [row.photo_id, row.name, row.tier.key, row.tier.label, ";".join(row.present), *probabilities,
            row.abstain_code or "", row.abstain_reason or "", row.error or "", ";".join(row.red_flags), row.model]


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
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} is not a pre-sort CSV (missing columns {missing})")
        rows = []
        for record in reader:
            row = _parse_record(record)
            if row is not None:
                rows.append(row)
    return rows


def _parse_record(record: dict[str, str | None]) -> SortRow | None:
    if any(record.get(c) is None for c in CSV_COLUMNS) or not record["model"] or record["tier"] not in TIER_BY_KEY:
        return None
    try:
        probabilities = {f: float(record[f]) for f in FINDINGS if record[f]}
    except ValueError:
        return None
    present = [f for f in record["possible_findings"].split(";") if f]
    if set(present) - set(FINDINGS):
        return None
    return SortRow(
        photo_id=record["photo_id"], name=record["name"], tier=TIER_BY_KEY[record["tier"]], present=present,
        probabilities=probabilities, abstain_reason=record["abstain_reason"] or None, error=record["error"] or None,
        thumbnail=None, abstain_code=record["abstain_code"] or None,
        red_flags=[f for f in record["red_flags"].split(";") if f], model=record["model"],
    )


def _resumable(path: Path, model: str) -> dict[str, SortRow]:
    """Rows of an earlier run with the same model, by photo_id; unreadable files are not resumed."""
    if not path.exists() or path.stat().st_size == 0:
        return {}
    return {r.photo_id: r for r in read_csv(path) if r.model == model and r.error is None}


# ----------------------------------------------------------------------------- HTML

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
.notice{border:2px solid #b45309;background:#fffbeb;padding:.75rem 1rem;border-radius:6px;max-width:60rem}
table{border-collapse:collapse;margin-top:1rem;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f4f6;position:sticky;top:0}
td.thumb{width:132px}
tr.urgent td:first-child{border-left:6px solid #b91c1c}
tr.review td:first-child{border-left:6px solid #d97706}
tr.check td:first-child{border-left:6px solid #6b7280}
tr.routine td:first-child,tr.routine-none td:first-child{border-left:6px solid #9ca3af}
.why{color:#555;font-size:.9em}
"""


def data_uri(picture: np.ndarray | Image.Image, quality: int = 88) -> str:
    """An inline JPEG, re-encoded from pixels (so no metadata): shown without a file on the server."""
    image = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnail_html(thumbnail: Image.Image | None) -> str:
    if thumbnail is None:
        return "<span class=why>no preview</span>"
    return f'<img alt="" width="{thumbnail.width}" height="{thumbnail.height}" src="{data_uri(thumbnail, quality=80)}">'


def _findings_html(row: SortRow) -> str:
    if row.error:
        return f"<b>Could not be read.</b> <span class=why>{html.escape(row.error)}</span>"
    if row.abstain_reason:
        return f"<b>Not assessed.</b> <span class=why>{html.escape(row.abstain_reason)}</span>"
    if not row.present:
        return "No finding recognised by the model (this is not the same as normal)."
    items = [f"Possible {html.escape(FINDING_INFO[f].label.lower())} ({row.probabilities[f]:.0%})" for f in row.present]
    return "<br>".join(items)


def _row_html(position: int, row: SortRow) -> str:
    flags = "<br>".join(html.escape(RED_FLAGS.get(f, f)) for f in row.red_flags) or ""
    return (
        f'<tr class="{row.tier.key}"><td>{position}</td><td class=thumb>{_thumbnail_html(row.thumbnail)}</td>'
        f"<td><b>{html.escape(row.tier.label)}</b><br><span class=why>{flags}</span></td>"
        f"<td>{_findings_html(row)}</td>"
        f"<td>{html.escape(row.name)}<br><span class=why>id {html.escape(row.photo_id)}</span></td></tr>"
    )


def write_html(rows: Sequence[SortRow], path: str | os.PathLike, model_note: str = "") -> Path:
    """A self-contained worklist, most urgent first, thumbnails inline (base64 JPEG)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sort_rows(list(rows))
    counts = ", ".join(f"{sum(r.tier.key == key for r in ordered)} {key}" for key in TIER_BY_KEY)
    body = "\n".join(_row_html(i, r) for i, r in enumerate(ordered, start=1))
    note = f"<p class=why>Model: {html.escape(model_note)}</p>" if model_note else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Photo pre-sort worklist</title><style>{_STYLE}</style></head>
<body>
<h1>Photo pre-sort worklist</h1>
<div class=notice><b>A pre-sort, not a diagnosis.</b> The order comes from an automated model and the red-flag
answers given; it can be wrong. Every photo still needs review by a clinician, and a photo with no finding
recognised is not a photo of normal skin. Rules: see <code>app/priority.py</code>.</div>
{note}<p>{len(ordered)} photos: {counts}.</p>
<table><thead><tr><th>#</th><th>Photo</th><th>Priority</th><th>Possible findings</th><th>Name</th></tr></thead>
<tbody>
{body}
</tbody></table>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="skinfindings sort",
        description="Clinician pre-sort: photos, folders and .zip archives in; a prioritised CSV (and HTML worklist) out.")
    parser.add_argument("paths", nargs="+", help="photo files, folders (recursive) or .zip archives")
    parser.add_argument("--out", required=True, type=Path, help="report CSV (also the resume journal)")
    parser.add_argument("--html", type=Path, help="also write an HTML worklist with thumbnails")
    parser.add_argument("--red-flags", type=Path,
                        help=f"CSV 'name,red_flags' (flags ';'-separated, from: {', '.join(RED_FLAGS)})")
    parser.add_argument("--checkpoint", help="checkpoint .json (default: the shipped model)")
    parser.add_argument("--restart", action="store_true", help="ignore rows already in --out and sort everything again")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT
    from skinfindings.model.predictor import Predictor

    try:
        red_flags = read_red_flags(args.red_flags) if args.red_flags else {}
    except (OSError, ValueError) as exc:
        print(f"skinfindings sort: {exc}", file=sys.stderr)
        return 2
    if args.restart and args.out.exists():
        args.out.unlink()
    predictor = Predictor(args.checkpoint or DEFAULT_CHECKPOINT)
    note = _model_note(predictor)
    if not predictor.meta.trained:
        print(f"warning: {note}", file=sys.stderr)
    own_files = [p for p in (args.out, args.html, args.red_flags, args.out.with_name(args.out.name + ".partial")) if p]
    try:
        rows = presort(predictor, args.paths, red_flags, progress=not args.no_progress, resume_from=args.out,
                       thumbnails=args.html is not None, exclude=own_files)
    except (FileNotFoundError, ValueError) as exc:
        print(f"skinfindings sort: {exc}", file=sys.stderr)
        return 2
    write_csv(rows, args.out)
    if args.html:
        write_html(rows, args.html, model_note=note)
    _summary(rows, red_flags, args)
    return 0


def _model_note(predictor) -> str:
    meta = predictor.meta
    state = "trained" if meta.trained else "NOT TRAINED"
    return f"{model_id(predictor)} ({state}; {meta.status})"


def _summary(rows: Sequence[SortRow], red_flags: dict[str, set[str]], args) -> None:
    counts = ", ".join(f"{sum(r.tier.key == key for r in rows)} {key}" for key in TIER_BY_KEY)
    print(f"{len(rows)} photos sorted ({counts}) -> {args.out}" + (f", {args.html}" if args.html else ""))
    missing = unmatched_red_flags(red_flags, rows)
    if missing:
        print(f"warning: red flags given for {len(missing)} name(s) that matched no photo: {', '.join(missing)}",
              file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
