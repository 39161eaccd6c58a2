"""Metrics as small pure functions over arrays. Labels use NaN for "unknown"; those
entries are left out of that finding's metric, never counted as negatives."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score

from skinfindings.findings import FINDINGS


def known(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entries of one finding whose label is known."""
    mask = ~np.isnan(labels)
    return labels[mask].astype(int), scores[mask]


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUROC for one finding; NaN when only one class is present (it is undefined then)."""
    y, s = known(labels, scores)
    if y.size == 0 or y.min() == y.max():
        return math.nan
    return float(roc_auc_score(y, s))


def per_finding_auroc(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {f: auroc(labels[:, i], scores[:, i]) for i, f in enumerate(FINDINGS)}


def macro(values: dict[str, float]) -> float:
    """Mean over the findings where the metric is defined."""
    defined = [v for v in values.values() if not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan
