"""Metrics as small pure functions over arrays. Labels use NaN for "unknown"; those
entries are left out of that finding's metric, never counted as negatives.

The minimum-evidence rule lives here and nowhere else: a metric that needs positives is not
measured on fewer than MIN_POSITIVES positive photos, one that needs negatives not on fewer than
MIN_NEGATIVES, one that needs only known labels (ECE, Brier) not on fewer than both together
(``evidence_shortfall``). The model's metrics, the baselines (and each of their
training folds), the macros, the subgroups and the paired comparison all ask it.
"""

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


MIN_POSITIVES = 5  # fewer positive photos cannot measure anything that needs positives
MIN_NEGATIVES = 5  # nor fewer negative photos anything that needs negatives


@dataclass(frozen=True)
class MetricSpec:
    label: str  # column header in reports
    higher_is_better: bool
    needs: str  # "positives", "negatives", "both" classes, or "any" known label
    # The photos the value is a share of, for the small-sample interval (None: not a share).
    share_of: str | None = None
    # Interval of the bias-corrected resamples (``bootstrap.recentred``): for a plug-in statistic biased upward
    # on small sets, whose plain percentile interval can miss its own estimate.
    bias_corrected: bool = False


METRICS: dict[str, MetricSpec] = {
    "auroc": MetricSpec("AUROC", True, "both", "rarer class"),
    "ap": MetricSpec("AP", True, "both", "rarer class"),
    "sensitivity": MetricSpec("Sensitivity", True, "positives", "positives"),
    "specificity": MetricSpec("Specificity", True, "negatives", "negatives"),
    "ppv": MetricSpec("PPV", True, "both", "flagged"),
    "npv": MetricSpec("NPV", True, "both", "unflagged"),
    "f1": MetricSpec("F1", True, "both", "positives or flagged"),
    "ece": MetricSpec("ECE", False, "any", bias_corrected=True),
    "brier": MetricSpec("Brier", False, "any"),
}
THRESHOLD_METRICS = ("sensitivity", "specificity", "ppv", "npv", "f1")


def evidence_shortfall(needs: str, positives: int, negatives: int) -> str | None:
    """Why these label counts cannot support a metric that ``needs`` a class (None when they can)."""
    if positives + negatives == 0:
        return "no known labels"
    if needs == "any" and positives + negatives < MIN_POSITIVES + MIN_NEGATIVES:
        # A calibration error of a handful of photos is no measurement either (a group of one photo).
        return f"{positives + negatives} known labels, fewer than {MIN_POSITIVES + MIN_NEGATIVES}"
    for wanted, count, minimum, name in (("positives", positives, MIN_POSITIVES, "positive"),
                                         ("negatives", negatives, MIN_NEGATIVES, "negative")):
        if needs in (wanted, "both") and count < minimum:
            return f"no {wanted}" if count == 0 else f"{count} {name}{'s' * (count > 1)}, fewer than {minimum}"
    return None


def not_measurable(labels: np.ndarray, needs: str = "both") -> str | None:
    """The minimum-evidence rule on one finding's labels (NaN = unknown): None when it can be measured."""
    y = labels[~np.isnan(labels)]
    positives = int(y.sum())
    return evidence_shortfall(needs, positives, int(y.size) - positives)


def threshold_matrix(thresholds, n: int) -> np.ndarray:
    """Thresholds as (n, findings): one per finding for every photo, or already one per photo
    (out-of-fold predictions carry each fold's own thresholds)."""
    thresholds = np.asarray(thresholds, dtype=float)
    return np.broadcast_to(thresholds, (n, len(FINDINGS))) if thresholds.ndim == 1 else thresholds


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


def confusion(y: np.ndarray, scores: np.ndarray, threshold: float | np.ndarray, weights: np.ndarray
              ) -> dict[str, np.ndarray]:
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
    y: np.ndarray, scores: np.ndarray, threshold: float | np.ndarray, weights: np.ndarray, bins: int = 10
) -> dict[str, np.ndarray]:
    """Every metric in METRICS for one finding, one value per resample; NaN where undefined.

    ``y`` may hold NaN (unknown label): those photos are left out. A metric is undefined in a
    resample that lacks the class(es) it needs (METRICS[...].needs), or whose ratio has a zero
    denominator (PPV with no photo flagged): it is then NaN, never 0 or 1.
    """
    mask = ~np.isnan(y)
    threshold = np.broadcast_to(np.asarray(threshold, dtype=float), y.shape)[mask]  # a scalar or one per photo
    y, scores, weights = y[mask].astype(int), scores[mask], weights[:, mask]
    counts = confusion(y, scores, threshold, weights)
    values = {**ranking_metrics(y, scores, weights), **threshold_metrics(counts),
              **calibration_metrics(y, scores, weights, bins)}
    has_pos, has_neg = counts["tp"] + counts["fn"] > 0, counts["tn"] + counts["fp"] > 0
    required = {"positives": has_pos, "negatives": has_neg, "both": has_pos & has_neg, "any": has_pos | has_neg}
    return {name: np.where(required[METRICS[name].needs], values[name], math.nan) for name in METRICS}


def why_undefined(metric: str, y: np.ndarray, scores: np.ndarray, threshold: float | np.ndarray) -> str | None:
    """Plain reason a metric has no value on these photos (None when it has one)."""
    reason = not_measurable(y, METRICS[metric].needs)
    if reason is not None:
        return reason
    flagged = (scores >= threshold)[~np.isnan(y)]
    if metric == "ppv" and not flagged.any():
        return "no photo flagged"
    if metric == "npv" and flagged.all():
        return "every photo flagged"
    return None


def evidence_groups(metric: str, y: np.ndarray, scores: np.ndarray, threshold: float | np.ndarray,
                    ids: np.ndarray) -> int | None:
    """Effective sample size of a share: the distinct groups among the photos it is a share of.

    This is the design effect at intra-group correlation 1 (every photo of a patient agrees),
    the worst case, and the only one data whose photos all agree can support. None for a
    metric that is not a share (ECE, Brier).
    """
    share_of = METRICS[metric].share_of
    if share_of is None:
        return None
    known_label = ~np.isnan(y)
    positive, negative = known_label & (y == 1), known_label & (y == 0)
    flagged = known_label & (scores >= threshold)
    masks = {"positives": [positive], "negatives": [negative], "flagged": [flagged],
             "unflagged": [known_label & ~flagged], "positives or flagged": [positive | flagged],
             "rarer class": [positive, negative]}[share_of]
    return min(len(np.unique(ids[mask])) for mask in masks)


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
