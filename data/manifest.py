"""One manifest format for every data set, synthetic or real: a CSV, one row per image.

Columns (in this order; more may follow and are kept as ``extra``):

    path         image path, relative to the manifest's folder (or absolute)
    sha256       checksum of the image file
    erythema ... hyperpigmentation   1, 0, or empty (= unknown: left out of that finding's metrics/loss)
    group        patient / lesion / source image; splits never cut a group
    source       data set name
    license      SPDX-like id (CC0-1.0, CC-BY-4.0, ...)
    attribution  text to show wherever the image or results on it appear
    upstream_url where the image came from
    fitzpatrick  I..VI, or empty when unknown
    ita          individual typology angle in degrees, or empty
    split        train / val / test, or empty

    manifest = read_manifest("data/real/manifest.csv")
    labels = manifest.label_matrix()       # float, NaN where unknown
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skinfindings.findings import FINDINGS

BASE_COLUMNS = ("path", "sha256", *FINDINGS, "group", "source", "license", "attribution", "upstream_url",
                "fitzpatrick", "ita", "split")
FITZPATRICK_TYPES = ("I", "II", "III", "IV", "V", "VI")


class ManifestError(ValueError):
    pass


@dataclass
class Record:
    path: str
    sha256: str = ""
    labels: dict[str, int | None] = field(default_factory=dict)  # finding -> 1 / 0 / None (unknown)
    group: str = ""
    source: str = ""
    license: str = ""
    attribution: str = ""
    upstream_url: str = ""
    fitzpatrick: str = ""
    ita: float | None = None
    split: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def label_vector(self) -> np.ndarray:
        """Float vector in FINDINGS order, NaN where unknown."""
        return np.array([math.nan if self.labels.get(f) is None else float(self.labels[f]) for f in FINDINGS])


@dataclass
class Manifest:
    root: Path  # folder relative paths are resolved against
    records: list[Record]

    def __len__(self) -> int:
        return len(self.records)

    def resolve(self, record: Record) -> Path:
        path = Path(record.path)
        return path if path.is_absolute() else self.root / path

    def label_matrix(self) -> np.ndarray:
        if not self.records:
            return np.zeros((0, len(FINDINGS)))
        return np.stack([r.label_vector() for r in self.records])

    def subset(self, split: str | None) -> "Manifest":
        if split is None:
            return self
        return Manifest(self.root, [r for r in self.records if r.split == split])


def _parse_label(value: str, where: str) -> int | None:
    value = (value or "").strip()
    if value == "":
        return None
    if value in ("0", "1"):
        return int(value)
    raise ManifestError(f"{where}: label must be 0, 1 or empty, got {value!r}")


def read_manifest(path: str | Path) -> Manifest:
    """The manifest at ``path``; ManifestError (with the file and line) for anything it cannot use.

    A UTF-8 byte-order mark (Excel's default for "CSV UTF-8") is accepted."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}" + (" (it is a folder)" if path.is_dir() else ""))
    line = 1
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [c for c in ("path", *FINDINGS) if c not in columns]
            if missing:
                raise ManifestError(f"{path} lacks required column(s) {missing}")
            records = []
            for row in reader:
                line = reader.line_num
                records.append(_record(row, f"{path.name}:{line}"))
    except UnicodeDecodeError:
        raise ManifestError(f"{path.name}:{line}: not UTF-8 text; save the manifest as CSV UTF-8") from None
    except csv.Error as exc:
        raise ManifestError(f"{path.name}:{line + 1}: not a readable CSV row ({exc})") from None
    return Manifest(path.parent, records)


def _record(row: dict, where: str) -> Record:
    if not (row.get("path") or "").strip():
        raise ManifestError(f"{where}: no path")
    return Record(
        path=row["path"],
        sha256=row.get("sha256", "") or "",
        labels={f: _parse_label(row[f], where) for f in FINDINGS},
        group=(row.get("group", "") or "").strip(),  # "p1 " is patient p1: the bootstrap unit
        source=row.get("source", "") or "",
        license=row.get("license", "") or "",
        attribution=row.get("attribution", "") or "",
        upstream_url=row.get("upstream_url", "") or "",
        fitzpatrick=(row.get("fitzpatrick", "") or "").strip(),
        ita=_parse_ita(row.get("ita"), where),
        split=(row.get("split", "") or "").strip(),
        extra={k: v for k, v in row.items() if k not in BASE_COLUMNS and k is not None},
    )


def _parse_ita(value: str | None, where: str) -> float | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        ita = float(text)
    except ValueError:
        raise ManifestError(f"{where}: ita must be a number of degrees or empty, got {text[:40]!r}") from None
    if not math.isfinite(ita):
        raise ManifestError(f"{where}: ita must be a finite number, got {text[:40]!r}")
    return ita


def csv_rows(path: str | Path) -> list[list[str]]:
    """Every row of a CSV file (a BOM accepted); ManifestError naming the file and line when it cannot be read
    (not UTF-8, a field over the csv module's limit, a broken quote) instead of a traceback."""
    path = Path(path)
    rows: list[list[str]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for row in reader:
                rows.append(row)
    except UnicodeDecodeError:
        raise ManifestError(f"{path}:{len(rows) + 1}: not UTF-8 text; save it as CSV UTF-8") from None
    except csv.Error as exc:
        raise ManifestError(f"{path}:{len(rows) + 1}: not a readable CSV row ({exc})") from None
    return rows


def csv_records(path: str | Path) -> list[dict[str, str]]:
    """``csv_rows`` as dictionaries by the header row (as ``csv.DictReader`` gives them)."""
    rows = [row for row in csv_rows(path) if row]
    if not rows:
        return []
    header = rows[0]
    return [dict(zip(header, row + [None] * (len(header) - len(row)))) for row in rows[1:]]


def check_files(manifest: Manifest, records: list[Record] | None = None, sha256: bool = True) -> None:
    """Every record names one image file inside the manifest's folder, once, unchanged (its sha256, if recorded).

    Raises ManifestError listing every problem: a missing path, a folder, a path outside the manifest's
    folder (``/etc/passwd``, ``../x``), the same file twice, a file whose sha256 differs."""
    root = manifest.root.resolve()
    problems: dict[str, list[str]] = {}
    seen: set[Path] = set()
    for record in manifest.records if records is None else records:
        path = manifest.resolve(record).resolve()
        problem = None
        if root not in path.parents:
            problem = "outside the manifest's folder"
        elif path in seen:
            problem = "listed more than once"
        elif not path.exists():
            problem = "missing"
        elif not path.is_file():
            problem = "not a file"
        elif sha256 and record.sha256.strip() and sha256_file(path) != record.sha256.strip().lower():
            problem = "changed since the manifest was written (sha256 differs)"
        seen.add(path)
        if problem:
            problems.setdefault(problem, []).append(record.path)
    if problems:
        count = sum(len(v) for v in problems.values())
        lines = [f"{count} row(s) of the manifest in {manifest.root} cannot be used:"]
        lines += [f"  {what}: {', '.join(paths[:5])}" + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
                  for what, paths in problems.items()]
        raise ManifestError("\n".join(lines))


def write_manifest(path: str | Path, records: list[Record]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra_columns = sorted({k for r in records for k in r.extra})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*BASE_COLUMNS, *extra_columns])
        for r in records:
            labels = ["" if r.labels.get(f) is None else str(r.labels[f]) for f in FINDINGS]
            ita = "" if r.ita is None else f"{r.ita:.2f}"
            writer.writerow([r.path, r.sha256, *labels, r.group, r.source, r.license, r.attribution,
                             r.upstream_url, r.fitzpatrick, ita, r.split, *(r.extra.get(k, "") for k in extra_columns)])
    return path


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
