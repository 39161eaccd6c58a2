"""Metrics as small pure functions over arrays. Labels use NaN for "unknown"; those
entries are left out of that finding's metric, never counted as negatives."""

from __future__ import annotations

import math
from dataclasses import dataclass

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


# ---------------------------------------------------------------------------
# Evaluation metrics over resampling weights.
#
# Every function below takes ``weights`` of shape (B, n): row b says how often each
# photo appears in resample b. The point estimate is the single row of ones, a
# bootstrap is B rows of counts, so one implementation serves both and the
# bootstrap stays vectorised (no Python loop over resamples).
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    label: str  # column header in reports
    higher_is_better: bool
    needs: str  # "positives", "negatives", "both" classes, or "any" known label


METRICS: dict[str, MetricSpec] = {
    "auroc": MetricSpec("AUROC", True, "both"),
    "ap": MetricSpec("AP", True, "both"),
    "sensitivity": MetricSpec("Sensitivity", True, "positives"),
    "specificity": MetricSpec("Specificity", True, "negatives"),
    "ppv": MetricSpec("PPV", True, "both"),
    "npv": MetricSpec("NPV", True, "both"),
    "f1": MetricSpec("F1", True, "both"),
    "ece": MetricSpec("ECE", False, "any"),
    "brier": MetricSpec("Brier", False, "any"),
}
THRESHOLD_METRICS = ("sensitivity", "specificity", "ppv", "npv", "f1")


def unit_weights(n: int) -> np.ndarray:
    """The weights of the plain (not resampled) data set."""
    return np.ones((1, n))


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 (the ratio is undefined there)."""
    out = np.full(np.broadcast(numerator, denominator).shape, math.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def ranking_metrics(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted AUROC and average precision (sklearn's definitions, ties included) per resample.

    Scores are sorted once; tied scores form one block, and the weights of positives and
    negatives are summed per block for all resamples at once.
    """
    y = y.astype(bool)
    n_resamples = weights.shape[0]
    if y.size == 0:
        return {"auroc": np.full(n_resamples, math.nan), "ap": np.full(n_resamples, math.nan)}
    order = np.argsort(-scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    w = weights[:, order]
    pos = np.add.reduceat(w * y[order], starts, axis=1)
    neg = np.add.reduceat(w * ~y[order], starts, axis=1)
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    negatives_seen = np.cumsum(neg, axis=1)
    # A positive outranks every negative in a later block and ties half of its own block.
    pairs_won = (pos * (n_neg[:, None] - negatives_seen + 0.5 * neg)).sum(axis=1)
    positives_seen = np.cumsum(pos, axis=1)
    # Precision at each distinct score; a block with no weight in a resample adds nothing to AP.
    precision = np.nan_to_num(_divide(positives_seen, positives_seen + negatives_seen))
    return {"auroc": _divide(pairs_won, n_pos * n_neg), "ap": _divide((pos * precision).sum(axis=1), n_pos)}


def confusion(y: np.ndarray, scores: np.ndarray, threshold: float, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted true/false positives/negatives per resample; a score at the threshold counts as positive."""
    y = y.astype(bool)
    flagged = scores >= threshold
    cells = {"tp": y & flagged, "fn": y & ~flagged, "fp": ~y & flagged, "tn": ~y & ~flagged}
    sums = weights @ np.stack(list(cells.values()), axis=1).astype(float)  # one pass over the weights
    return dict(zip(cells, sums.T))


def threshold_metrics(counts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tp, fn, fp, tn = counts["tp"], counts["fn"], counts["fp"], counts["tn"]
    return {
        "sensitivity": _divide(tp, tp + fn),
        "specificity": _divide(tn, tn + fp),
        "ppv": _divide(tp, tp + fp),
        "npv": _divide(tn, tn + fn),
        "f1": _divide(2 * tp, 2 * tp + fp + fn),
    }


def calibration_metrics(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, bins: int = 10) -> dict[str, np.ndarray]:
    """Expected calibration error (equal-width bins) and Brier score per resample."""
    which = np.minimum((scores * bins).astype(int), bins - 1)
    one_hot = np.eye(bins)[which]  # (n, bins)
    columns = np.hstack([one_hot * y[:, None], one_hot * scores[:, None], ((scores - y) ** 2)[:, None],
                         np.ones((len(y), 1))])
    sums = weights @ columns  # one pass over the weights
    observed, predicted, squared, total = sums[:, :bins], sums[:, bins:2 * bins], sums[:, -2], sums[:, -1]
    return {"ece": _divide(np.abs(observed - predicted).sum(axis=1), total), "brier": _divide(squared, total)}


def finding_metrics(
    y: np.ndarray, scores: np.ndarray, threshold: float, weights: np.ndarray, bins: int = 10
) -> dict[str, np.ndarray]:
    """Every metric in METRICS for one finding, one value per resample; NaN where undefined.

    ``y`` may hold NaN (unknown label): those photos are left out. A metric is undefined in a
    resample that lacks the class(es) it needs (METRICS[...].needs), or whose ratio has a zero
    denominator (PPV with no photo flagged): it is then NaN, never 0 or 1.
    """
    mask = ~np.isnan(y)
    y, scores, weights = y[mask].astype(int), scores[mask], weights[:, mask]
    counts = confusion(y, scores, threshold, weights)
    values = {**ranking_metrics(y, scores, weights), **threshold_metrics(counts),
              **calibration_metrics(y, scores, weights, bins)}
    has_pos, has_neg = counts["tp"] + counts["fn"] > 0, counts["tn"] + counts["fp"] > 0
    required = {"positives": has_pos, "negatives": has_neg, "both": has_pos & has_neg, "any": has_pos | has_neg}
    return {name: np.where(required[METRICS[name].needs], values[name], math.nan) for name in METRICS}


def why_undefined(metric: str, y: np.ndarray, scores: np.ndarray, threshold: float) -> str | None:
    """Plain reason a metric has no value on these photos (None when it has one)."""
    y, scores = known(y, scores)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    needs = METRICS[metric].needs
    if n_pos + n_neg == 0:
        return "no known labels"
    if needs in ("positives", "both") and n_pos == 0:
        return "no positives"
    if needs in ("negatives", "both") and n_neg == 0:
        return "no negatives"
    if metric == "ppv" and not (scores >= threshold).any():
        return "no photo flagged"
    if metric == "npv" and (scores >= threshold).all():
        return "every photo flagged"
    return None


def reliability_bins(y: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean predicted probability vs observed frequency per equal-width bin (known labels only)."""
    y, scores = known(y, scores)
    which = np.minimum((scores * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        rows.append({
            "low": b / bins, "high": (b + 1) / bins, "n": int(inside.sum()),
            "mean_probability": float(scores[inside].mean()) if inside.any() else None,
            "observed": float(y[inside].mean()) if inside.any() else None,
        })
    return rows


def label_cardinality(labels: np.ndarray) -> dict:
    """How many findings a photo carries, over photos whose five labels are all known."""
    complete = labels[~np.isnan(labels).any(axis=1)]
    per_photo = complete.sum(axis=1).astype(int)
    return {
        "photos_with_all_labels_known": int(len(complete)),
        "photos_with_an_unknown_label": int(len(labels) - len(complete)),
        "mean": float(per_photo.mean()) if len(complete) else None,
        "distribution": {str(k): int((per_photo == k).sum()) for k in range(labels.shape[1] + 1)},
    }


def cooccurrence(present: np.ndarray) -> list[list[int]]:
    """Photos where both findings are present (diagonal: photos with the finding); unknown counts as absent."""
    hits = np.nan_to_num(np.asarray(present, dtype=float)) > 0
    return (hits.T.astype(int) @ hits.astype(int)).tolist()
