"""One file format for a model's predictions on a manifest's photos: ``NAME.csv`` + ``NAME.json``.

Written by ``skinfindings evaluate`` (a checkpoint's predictions) and by ``skinfindings crossval``
(out-of-fold predictions: each photo scored by the fold model that never saw its patient), and read
back by ``evaluate --predictions`` and ``compare --paired``, so a cross-validated result is reported
exactly like a checkpoint's and two models can be compared photo by photo.

CSV columns: ``sha256`` (joins the manifest), ``path``, ``fold`` (empty outside cross-validation),
``prob_<finding>`` (calibrated probability; empty where the photo was not assessed),
``threshold_<finding>`` (the threshold in force for that photo: per fold for out-of-fold files; the rule-out
point), optional ``rule_in_<finding>`` (the rule-in point for that photo; a file without these columns reads
them equal to the thresholds, as a checkpoint without a rule-in point does) and ``abstained`` (the reason a
photo was not assessed, else empty). The JSON sidecar says what made the file (``kind``: "checkpoint" or
"out-of-fold", the command, the model).

``Predictions.levels(i)`` gives a row's per-finding levels (likely / possible / not seen) from its two points,
with the same ``findings.level_for`` the Predictor uses, so a predictions file drives the same decisions.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skinfindings.findings import FINDINGS, level_for

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
    rule_in: np.ndarray | None = None  # (n, findings) rule-in points; None: equal to the thresholds

    def __post_init__(self) -> None:
        n = len(self.sha256)
        if self.rule_in is None:
            self.rule_in = np.array(self.thresholds, dtype=float, copy=True)
        if self.kind not in KINDS:
            raise ValueError(f"predictions kind must be one of {KINDS}, not {self.kind!r}")
        for name in ("paths", "folds", "abstained"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"predictions: {name} has {len(getattr(self, name))} rows, sha256 has {n}")
        for name in ("probabilities", "thresholds", "rule_in"):
            if np.shape(getattr(self, name)) != (n, len(FINDINGS)):
                raise ValueError(f"predictions: {name} must be ({n}, {len(FINDINGS)})")

    def rows_for(self, sha256: list[str]) -> np.ndarray:
        """Row index of each requested photo, in the requested order; a photo not scored is an error."""
        index = {digest: i for i, digest in enumerate(self.sha256)}
        missing = [digest for digest in sha256 if digest not in index]
        if missing:
            raise ValueError(f"predictions have no row for {len(missing)} photo(s), e.g. sha256 {missing[0][:12]}")
        return np.array([index[digest] for digest in sha256], dtype=int)

    def levels(self, row: int) -> dict[str, str]:
        """The row's level per finding; empty when the photo was not assessed (never "not seen")."""
        if self.abstained[row].strip() or np.isnan(self.probabilities[row]).any():
            return {}
        return row_levels(self.probabilities[row], self.thresholds[row], self.rule_in[row])


def row_levels(probabilities, rule_out, rule_in) -> dict[str, str]:
    """Per-finding levels of one photo from its probabilities and its two operating points (FINDINGS order)."""
    return {f: level_for(float(p), float(t), float(r)) for f, p, t, r in zip(FINDINGS, probabilities, rule_out, rule_in)}


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _cell(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.6f}"


def write_predictions(path: str | Path, predictions: Predictions) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (["sha256", "path", "fold"] + [f"prob_{f}" for f in FINDINGS]
              + [f"threshold_{f}" for f in FINDINGS] + [f"rule_in_{f}" for f in FINDINGS] + ["abstained"])
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, digest in enumerate(predictions.sha256):
            fold = predictions.folds[i]
            writer.writerow([digest, predictions.paths[i], "" if fold is None else fold]
                            + [_cell(v) for v in predictions.probabilities[i]]
                            + [_cell(v) for v in predictions.thresholds[i]]
                            + [_cell(v) for v in predictions.rule_in[i]] + [predictions.abstained[i]])
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
    thresholds = _matrix(rows, "threshold")
    return Predictions(
        sha256=[r["sha256"].strip() for r in rows],
        paths=[r.get("path", "") for r in rows],
        probabilities=_matrix(rows, "prob"), thresholds=thresholds,
        rule_in=_rule_in(rows, thresholds),
        folds=[int(r["fold"]) if r.get("fold", "").strip() else None for r in rows],
        abstained=[r.get("abstained", "") for r in rows],
        kind=kind, about=about,
    )


def _matrix(rows: list[dict], prefix: str) -> np.ndarray:
    """(n, findings) from the columns ``<prefix>_<finding>``; an empty cell is NaN."""
    return np.array([[_float(r[f"{prefix}_{f}"]) for f in FINDINGS] for r in rows]).reshape(-1, len(FINDINGS))


def _rule_in(rows: list[dict], thresholds: np.ndarray) -> np.ndarray:
    """The rule-in columns where the file has them; the threshold wherever a column or cell is missing."""
    if not rows or not all(f"rule_in_{f}" in rows[0] for f in FINDINGS):
        return thresholds.copy()
    rule_in = _matrix(rows, "rule_in")
    return np.where(np.isnan(rule_in), thresholds, rule_in)


def record_digests(manifest, records) -> list[str]:
    """sha256 per manifest record (the join key): the manifest's, or the file's own where it is empty."""
    from skinfindings.data.manifest import sha256_file

    return [r.sha256.strip() or sha256_file(manifest.resolve(r)) for r in records]


def aligned(predictions: Predictions, digests: list[str]) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """(probabilities, thresholds, abstentions) in the order of ``digests``; None = assessed."""
    rows = predictions.rows_for(digests)
    return (predictions.probabilities[rows], predictions.thresholds[rows],
            [predictions.abstained[r].strip() or None for r in rows])


def aligned_levels(predictions: Predictions, digests: list[str]) -> list[dict[str, str]]:
    """Each photo's levels (``Predictions.levels``) in the order of ``digests``."""
    return [predictions.levels(int(r)) for r in predictions.rows_for(digests)]
