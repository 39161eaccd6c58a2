"""Abstentions: counted by reason, and the threshold metrics with abstained photos put back.

* included_as_missed: an abstained photo counts as "no finding" (every positive in it is missed).
* included_as_escalate: it counts as flagged for every finding (the app sends it to a person).

Also the coverage-vs-accuracy curve: how accurate the answers would be if only the most
confident photos were answered.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

from skinfindings.findings import FINDINGS
from skinfindings.training.metrics import THRESHOLD_METRICS, threshold_matrix
from skinfindings.training.scoring import score_findings

COVERAGE_POINTS = 20


def coverage_curve(labels: np.ndarray, probabilities: np.ndarray, thresholds,
                   points: int = COVERAGE_POINTS) -> list[dict]:
    """Accuracy if only the most confident photos were answered.

    A photo's confidence is its least certain decision: the smallest distance of any
    finding's probability from that finding's threshold. Accuracy is over known labels;
    sensitivity pools the positives of all findings.
    """
    thresholds = threshold_matrix(thresholds, len(labels))
    usable = ~np.isnan(probabilities).any(axis=1)
    labels, probabilities, thresholds = labels[usable], probabilities[usable], thresholds[usable]
    if not len(labels):
        return []
    flagged = probabilities >= thresholds
    confidence = np.abs(probabilities - thresholds).min(axis=1)
    order = np.argsort(-confidence, kind="stable")
    curve = []
    for coverage in np.linspace(1 / points, 1, points):
        kept = order[: max(1, math.ceil(coverage * len(order)))]
        curve.append({"coverage": round(float(coverage), 4), "photos": int(kept.size),
                      **decision_accuracy(labels[kept], flagged[kept])})
    return curve


def decision_accuracy(labels: np.ndarray, flagged: np.ndarray) -> dict:
    known = ~np.isnan(labels)
    correct = (flagged == (labels > 0.5)) & known
    positives = (labels > 0.5) & known
    return {"accuracy": float(correct.sum() / known.sum()) if known.any() else None,
            "sensitivity": float((positives & flagged).sum() / positives.sum()) if positives.any() else None}


def positives_by_reason(labels: np.ndarray, abstentions: Sequence[str | None]) -> dict:
    """Per refusal reason: the photos refused and the labelled positives of each finding they took away."""
    reasons = np.array([a or "" for a in abstentions], dtype=object)
    out = {}
    for reason in sorted(set(reasons) - {""}):
        refused = reasons == reason
        out[reason] = {"photos": int(refused.sum()),
                       "positives_lost": {f: int(np.nansum(labels[refused, i])) for i, f in enumerate(FINDINGS)}}
    return out


def abstention_results(
    labels: np.ndarray, probabilities: np.ndarray, thresholds, abstentions: Sequence[str | None],
    weights: np.ndarray, ids: np.ndarray, bins: int = 10,
) -> dict:
    """Abstentions counted, and the threshold metrics with abstained photos put back in two ways."""
    thresholds = threshold_matrix(thresholds, len(labels))
    assessed = np.array([a is None for a in abstentions], dtype=bool)
    rules = {}
    for rule, fill in (("included_as_missed", 0.0), ("included_as_escalate", 1.0)):
        scores = np.where(assessed[:, None], probabilities, fill)
        rules[rule] = score_findings(labels, scores, thresholds, weights, ids, bins, THRESHOLD_METRICS)
    flagged = np.nan_to_num(probabilities) >= thresholds
    coverage = round(float(assessed.mean()), 4) if len(assessed) else None
    return {
        "photos": int(len(assessed)),
        "assessed": int(assessed.sum()),
        "coverage": coverage,
        "reasons": dict(Counter(a for a in abstentions if a is not None)),
        "positives_in_abstained": {f: int(np.nansum(labels[~assessed, i])) for i, f in enumerate(FINDINGS)},
        "by_reason": positives_by_reason(labels, abstentions),
        "rules": rules,
        "coverage_curve": coverage_curve(labels, probabilities, thresholds),
        "gate": {"coverage": coverage, **decision_accuracy(labels[assessed], flagged[assessed])},
    }
