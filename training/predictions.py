"""One file format for a model's predictions on a manifest's photos: ``NAME.csv`` + ``NAME.json``.

Written by ``skinfindings evaluate`` (a checkpoint's predictions) and by ``skinfindings crossval``
(out-of-fold predictions: each photo scored by the fold model that never saw its patient), and read
back by ``evaluate --predictions`` and ``compare --paired``, so a cross-validated result is reported
exactly like a checkpoint's and two models can be compared photo by photo.

CSV columns: ``sha256`` (joins the manifest), ``path``, ``fold`` (empty outside cross-validation),
``prob_<finding>`` (calibrated probability; empty where the photo was not assessed),
``threshold_<finding>`` (the threshold in force for that photo: per fold for out-of-fold files) and
``abstained`` (the reason a photo was not assessed, else empty). The JSON sidecar says what made
the file (``kind``: "checkpoint" or "out-of-fold", the command, the model).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skinfindings.findings import FINDINGS

KINDS = ("checkpoint", "out-of-fold")


@dataclass
class Predictions:
    sha256: list[str]
    paths: list[str]
    probabilities: np.ndarray  # (n, findings); NaN where not assessed
    thresholds: np.ndarray  # (n, findings)
    folds: list[int | None]
    abstained: list[str]  # "" where assessed
    kind: str = "checkpoint"
    about: dict = field(default_factory=dict)  # command, model, anything a reader should know

    def __post_init__(self) -> None:
        n = len(self.sha256)
        if self.kind not in KINDS:
            raise ValueError(f"predictions kind must be one of {KINDS}, not {self.kind!r}")
        for name in ("paths", "folds", "abstained"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"predictions: {name} has {len(getattr(self, name))} rows, sha256 has {n}")
        for name in ("probabilities", "thresholds"):
            if np.shape(getattr(self, name)) != (n, len(FINDINGS)):
                raise ValueError(f"predictions: {name} must be ({n}, {len(FINDINGS)})")

    def rows_for(self, sha256: list[str]) -> np.ndarray:
        """Row index of each requested photo, in the requested order; a photo not scored is an error."""
        index = {digest: i for i, digest in enumerate(self.sha256)}
        missing = [digest for digest in sha256 if digest not in index]
        if missing:
            raise ValueError(f"predictions have no row for {len(missing)} photo(s), e.g. sha256 {missing[0][:12]}")
        return np.array([index[digest] for digest in sha256], dtype=int)


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _cell(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.6f}"


def write_predictions(path: str | Path, predictions: Predictions) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (["sha256", "path", "fold"] + [f"prob_{f}" for f in FINDINGS]
              + [f"threshold_{f}" for f in FINDINGS] + ["abstained"])
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, digest in enumerate(predictions.sha256):
            fold = predictions.folds[i]
            writer.writerow([digest, predictions.paths[i], "" if fold is None else fold]
                            + [_cell(v) for v in predictions.probabilities[i]]
                            + [_cell(v) for v in predictions.thresholds[i]] + [predictions.abstained[i]])
    about = {"kind": predictions.kind, "findings": list(FINDINGS), **predictions.about}
    _sidecar(path).write_text(json.dumps(about, indent=2, sort_keys=True) + "\n")
    return path


def _float(cell: str) -> float:
    return float(cell) if cell.strip() else float("nan")


def read_predictions(path: str | Path) -> Predictions:
    """Read a predictions file; a folder means its ``predictions.csv`` (as ``evaluate`` writes it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "predictions.csv"
    if not path.is_file():
        raise ValueError(f"no predictions file at {path}")
    about = json.loads(_sidecar(path).read_text()) if _sidecar(path).is_file() else {"kind": "checkpoint"}
    if about.get("findings", list(FINDINGS)) != list(FINDINGS):
        raise ValueError(f"{path} holds findings {about['findings']}, expected {list(FINDINGS)}")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    needed = {"sha256", *(f"prob_{f}" for f in FINDINGS), *(f"threshold_{f}" for f in FINDINGS)}
    if rows and not needed <= set(rows[0]):
        raise ValueError(f"{path} lacks columns {sorted(needed - set(rows[0]))}")
    kind = about.pop("kind", "checkpoint")
    about.pop("findings", None)
    return Predictions(
        sha256=[r["sha256"].strip() for r in rows],
        paths=[r.get("path", "") for r in rows],
        probabilities=np.array([[_float(r[f"prob_{f}"]) for f in FINDINGS] for r in rows]).reshape(-1, len(FINDINGS)),
        thresholds=np.array([[_float(r[f"threshold_{f}"]) for f in FINDINGS] for r in rows]).reshape(-1, len(FINDINGS)),
        folds=[int(r["fold"]) if r.get("fold", "").strip() else None for r in rows],
        abstained=[r.get("abstained", "") for r in rows],
        kind=kind, about=about,
    )


def record_digests(manifest, records) -> list[str]:
    """sha256 per manifest record (the join key): the manifest's, or the file's own where it is empty."""
    from skinfindings.data.manifest import sha256_file

    return [r.sha256.strip() or sha256_file(manifest.resolve(r)) for r in records]


def aligned(predictions: Predictions, digests: list[str]) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """(probabilities, thresholds, abstentions) in the order of ``digests``; None = assessed."""
    rows = predictions.rows_for(digests)
    return (predictions.probabilities[rows], predictions.thresholds[rows],
            [predictions.abstained[r].strip() or None for r in rows])
