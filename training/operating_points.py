"""Operating points per finding: where the threshold would have to sit for a given sensitivity or specificity,
what the other values are there, and the deployed rule-out / rule-in points; plus the decision curve.

* ``threshold_for_sensitivity``: the highest threshold that flags at least the target share of positives;
  ``threshold_for_specificity``: the lowest threshold that leaves at least the target share of negatives
  unflagged. Both are probabilities seen in the data, and a probability at or above a threshold flags, as in
  the app; so applying a threshold to the same photos gives back its row's sensitivity and specificity.
* Each row's sensitivity, specificity, PPV and NPV carry grouped-bootstrap intervals at that fixed threshold
  (the uncertainty of where the threshold was found is not in them).
* Net benefit (Vickers & Elkin 2006) at threshold probability t: TP/n - FP/n * t / (1 - t), against flagging
  every photo and flagging none, for t from 0.01 to 0.99.

Thresholds found here are on the pooled probabilities; out-of-fold files carry each fold's own deployed
points, which the "deployed" rows apply photo by photo.
"""

from __future__ import annotations

import math

import numpy as np

from skinfindings.findings import FINDINGS
from skinfindings.training.bootstrap import summarise
from skinfindings.training.metrics import confusion, evidence_groups, not_measurable, threshold_matrix, threshold_metrics

SENSITIVITY_TARGETS = (0.80, 0.90, 0.95)
SPECIFICITY_TARGETS = (0.80, 0.90, 0.95)
POINT_METRICS = ("sensitivity", "specificity", "ppv", "npv")
NET_BENEFIT_STEPS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def threshold_for_sensitivity(y: np.ndarray, scores: np.ndarray, target: float) -> float:
    """The highest threshold at which at least ``target`` of the positives score at or above it."""
    positives = np.sort(scores[y == 1])[::-1]
    needed = max(1, math.ceil(target * len(positives) - 1e-9))
    return float(positives[needed - 1])


def threshold_for_specificity(y: np.ndarray, scores: np.ndarray, target: float) -> float:
    """The lowest threshold (a score seen in the data, or just above the highest) at which at least ``target``
    of the negatives score below it."""
    negatives = np.sort(scores[y == 0])[::-1]
    allowed = math.floor((1 - target) * len(negatives) + 1e-9)  # negatives that may be flagged
    if allowed >= len(negatives):
        return float(scores.min())
    ceiling = negatives[allowed]  # the highest negative that must stay below the threshold
    above = scores[scores > ceiling]
    return float(above.min()) if above.size else float(np.nextafter(ceiling, np.inf))


def point_summaries(y: np.ndarray, scores: np.ndarray, threshold, with_point: np.ndarray, ids: np.ndarray) -> dict:
    """Sensitivity, specificity, PPV and NPV at a fixed threshold (one, or one per photo), with intervals."""
    from skinfindings.training.metrics import why_undefined

    values = threshold_metrics(confusion(y.astype(int), scores, threshold, with_point))
    return {m: summarise(values[m][0], values[m][1:], why_undefined(m, y.astype(float), scores, threshold),
                         evidence_groups(m, y.astype(float), scores, threshold, ids)) for m in POINT_METRICS}


def net_benefit(y: np.ndarray, scores: np.ndarray, steps: np.ndarray = NET_BENEFIT_STEPS) -> dict:
    """Net benefit of the model, of flagging every photo and of flagging none, per threshold probability."""
    n = len(y)
    odds = steps / (1 - steps)
    flagged = scores[None, :] >= steps[:, None]
    tp = (flagged & (y == 1)).sum(axis=1) / n
    fp = (flagged & (y == 0)).sum(axis=1) / n
    prevalence = float(y.mean())
    return {"thresholds": steps.tolist(), "model": np.round(tp - fp * odds, 5).tolist(),
            "all": np.round(prevalence - (1 - prevalence) * odds, 5).tolist(), "none": [0.0] * len(steps)}


def _row(kind: str, target: float | None, threshold, y, scores, with_point, ids) -> dict:
    shown = float(threshold) if np.ndim(threshold) == 0 else sorted({round(float(t), 6) for t in threshold})
    if isinstance(shown, list) and len(shown) == 1:
        shown = shown[0]
    return {"kind": kind, "target": target, "threshold": shown,
            **point_summaries(y, scores, threshold, with_point, ids)}


def finding_operating_points(y: np.ndarray, scores: np.ndarray, rule_out: np.ndarray, rule_in: np.ndarray,
                             with_point: np.ndarray, ids: np.ndarray) -> dict:
    """Rows at each target and at the deployed points for one finding; n/a when it cannot be measured."""
    known = ~np.isnan(y)
    reason = not_measurable(y, "both")
    if reason is not None:
        return {"na": reason, "rows": [], "net_benefit": None}
    y, scores, rule_out, rule_in = y[known].astype(int), scores[known], rule_out[known], rule_in[known]
    with_point, ids = with_point[:, known], ids[known]
    rows = [_row("sensitivity", t, threshold_for_sensitivity(y, scores, t), y, scores, with_point, ids)
            for t in SENSITIVITY_TARGETS]
    rows += [_row("specificity", t, threshold_for_specificity(y, scores, t), y, scores, with_point, ids)
             for t in SPECIFICITY_TARGETS]
    rows.append(_row("deployed rule-out", None, rule_out, y, scores, with_point, ids))
    if not np.array_equal(rule_in, rule_out):
        rows.append(_row("deployed rule-in", None, rule_in, y, scores, with_point, ids))
    return {"na": None, "rows": rows, "net_benefit": net_benefit(y, scores)}


def operating_points(labels: np.ndarray, probabilities: np.ndarray, rule_out, rule_in, with_point: np.ndarray,
                     ids: np.ndarray) -> dict:
    """Per finding, over assessed photos: the operating-point rows and the decision curve.

    ``rule_out`` / ``rule_in``: (findings,) or (n, findings); ``with_point``: the point weights then the
    resamples (``unit_weights`` stacked on ``resample_weights``).
    """
    n = len(labels)
    rule_out, rule_in = threshold_matrix(rule_out, n), threshold_matrix(rule_in, n)
    return {f: finding_operating_points(labels[:, i], probabilities[:, i], rule_out[:, i], rule_in[:, i],
                                        with_point, ids) for i, f in enumerate(FINDINGS)}
