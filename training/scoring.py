"""The pure evaluation core: arrays in, a JSON-ready metrics dict out. No model, no files.

    result = evaluate_predictions(labels, probabilities, thresholds, groups, subgroups, abstentions)

Rules (docs/evaluation.md explains each):
* Unknown labels (NaN) are left out per finding.
* Minimum evidence (``metrics.evidence_shortfall``): a metric is n/a, never a number, on fewer
  than 5 positives (or negatives) when it needs them.
* A macro averages a fixed set of findings, those measured on the photos scored; every resample
  averages exactly that set (a resample where one of them is undefined leaves the macro undefined
  there, and ``defined`` reports the share).
* Intervals: grouped bootstrap; a share whose bootstrap degenerates gets a Clopper-Pearson
  interval on the number of groups behind it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from skinfindings.findings import FINDINGS
from skinfindings.training.bootstrap import group_ids, resample_weights, summarise
from skinfindings.training.metrics import (
    METRICS,
    cooccurrence,
    evidence_groups,
    finding_metrics,
    label_cardinality,
    reliability_bins,
    threshold_matrix,
    unit_weights,
    why_undefined,
)


def macro_summary(points: dict[str, float], resampled: dict[str, np.ndarray],
                  intervals: dict[str, list[float] | None], recentre: bool = False) -> dict:
    """Mean over a fixed set of findings, in the point estimate and in every resample alike.

    A resample where one member is undefined is left out (``defined`` < 1 says so) instead of
    averaging fewer findings there: a mean of 4 findings is not a resample of a mean of 5. Where the
    bootstrap degenerates, the interval is the mean of the members' own intervals. ``recentre``: the
    bias-corrected interval (``bootstrap.summarise``), for a metric whose members are summarised so.
    """
    members = list(points)
    if not members:
        return {**summarise(float("nan"), np.array([]), "no finding is measurable"), "findings": []}
    stack = np.stack([resampled[f] for f in members])
    summary = summarise(float(np.mean([points[f] for f in members])), stack.mean(axis=0), recentre=recentre)
    ci = summary["ci"]
    if (ci is None or ci[1] - ci[0] < 1e-9) and all(intervals[f] for f in members):
        summary["ci"] = [round(float(np.mean([intervals[f][k] for f in members])), 4) for k in (0, 1)]
        summary["ci_method"] = "mean of the findings' intervals"
    return {**summary, "findings": members}


def score_findings(
    labels: np.ndarray,
    probabilities: np.ndarray,
    thresholds,
    weights: np.ndarray,
    ids: np.ndarray,
    bins: int = 10,
    metrics: Sequence[str] = tuple(METRICS),
    unmeasured: dict[str, str] | None = None,
) -> dict:
    """Per-finding metrics with grouped-bootstrap intervals, and their macro averages.

    ``weights`` (resamples, n) come from ``resample_weights``; ``ids`` is the group id per photo
    (for the effective sample size); ``thresholds`` is one per finding or one per photo and finding.
    ``unmeasured`` names findings that must read n/a whatever the photos hold, with the reason
    (a baseline that could not be trained on them).
    """
    with_point = np.vstack([unit_weights(len(labels)), weights])
    thresholds = threshold_matrix(thresholds, len(labels))
    per_finding, values = {}, {}
    for i, finding in enumerate(FINDINGS):
        y, scores, threshold = labels[:, i], probabilities[:, i], thresholds[:, i]
        forced = (unmeasured or {}).get(finding)
        if forced:
            values[finding] = {m: np.full(len(with_point), np.nan) for m in metrics}
        else:
            # These products are small; BLAS threads only contend with each other (3x slower on 2 busy cores).
            with threadpool_limits(limits=1, user_api="blas"):
                values[finding] = finding_metrics(y, scores, threshold, with_point, bins)
        known_y = y[~np.isnan(y)]
        per_finding[finding] = {
            "n": int(known_y.size),
            "positives": int(known_y.sum()),
            "negatives": int(known_y.size - known_y.sum()),
            "metrics": {m: summarise(values[finding][m][0], values[finding][m][1:],
                                     forced or why_undefined(m, y, scores, threshold),
                                     evidence_groups(m, y, scores, threshold, ids),
                                     recentre=METRICS[m].bias_corrected) for m in metrics},
        }
    macro = {}
    for m in metrics:
        members = [f for f in FINDINGS if per_finding[f]["metrics"][m]["value"] is not None]
        macro[m] = macro_summary({f: values[f][m][0] for f in members}, {f: values[f][m][1:] for f in members},
                                 {f: per_finding[f]["metrics"][m]["ci"] for f in members},
                                 METRICS[m].bias_corrected)
    return {"per_finding": per_finding, "macro": macro}


def thresholds_summary(thresholds: np.ndarray) -> dict:
    """Per finding: the one threshold in force, or the distinct ones (out-of-fold: one per fold)."""
    out = {}
    for i, finding in enumerate(FINDINGS):
        distinct = sorted({round(float(t), 6) for t in thresholds[:, i]})
        out[finding] = distinct[0] if len(distinct) == 1 else distinct
    return out


def evaluate_predictions(
    labels: np.ndarray,
    probabilities: np.ndarray,
    thresholds,
    groups: Sequence[str],
    subgroups: dict[str, Sequence[str]] | None = None,
    abstentions: Sequence[str | None] | None = None,
    *,
    resamples: int = 1000,
    seed: int = 0,
    bins: int = 10,
) -> dict:
    """The whole evaluation of one set of predictions, as a JSON-ready dict. No model, no files.

    labels: (n, findings) 1/0/NaN; probabilities: (n, findings), NaN rows for unreadable photos;
    thresholds: (findings,) or (n, findings) (per photo, e.g. each fold's own);
    groups: patient per photo (bootstrap unit); subgroups: column name -> group name per photo;
    abstentions: None for an assessed photo, else the reason code.
    """
    from skinfindings.training.abstentions import abstention_results
    from skinfindings.training.subgroups import subgroup_results

    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    thresholds = threshold_matrix(thresholds, len(labels))
    abstentions = list(abstentions) if abstentions is not None else [None] * len(labels)
    assessed = np.array([a is None for a in abstentions], dtype=bool)
    if np.isnan(probabilities[assessed]).any():
        raise ValueError("an assessed photo has no probabilities; mark unreadable photos as abstentions")
    ids = group_ids(list(groups))
    weights = resample_weights(list(groups), resamples, seed)
    y, p, t, w = labels[assessed], probabilities[assessed], thresholds[assessed], weights[:, assessed]
    return {
        "photos": int(len(labels)),
        "assessed": int(assessed.sum()),
        "thresholds": thresholds_summary(thresholds),
        "bootstrap": {"resamples": resamples, "seed": seed, "unit": "group",
                      "groups": len(set(ids.tolist())), "level": 0.95},
        **score_findings(y, p, t, w, ids[assessed], bins),
        "calibration": {f: reliability_bins(y[:, i], p[:, i], bins) for i, f in enumerate(FINDINGS)},
        "labels": {
            "cardinality": label_cardinality(labels),
            "cooccurrence": cooccurrence(labels),
            "predicted_cooccurrence": cooccurrence(p >= t),
        },
        "abstention": abstention_results(labels, probabilities, thresholds, abstentions, weights, ids, bins),
        "subgroups": {name: subgroup_results(y, p, t, w, ids[assessed],
                                             np.asarray(values, dtype=object)[assessed], bins)
                      for name, values in (subgroups or {}).items()},
    }


def confident_errors(labels: np.ndarray, probabilities: np.ndarray, thresholds,
                     assessed: np.ndarray) -> list[dict]:
    """The most confident wrong decisions on assessed photos: missed findings first, then false alarms."""
    thresholds = threshold_matrix(thresholds, len(labels))
    errors = []
    for row, col in zip(*np.nonzero(assessed[:, None] & ~np.isnan(labels))):
        p, t, present = probabilities[row, col], thresholds[row, col], labels[row, col] == 1
        if (p >= t) == present:
            continue
        errors.append({"row": int(row), "finding": FINDINGS[col], "kind": "missed" if present else "false alarm",
                       "probability": float(p), "threshold": float(t), "margin": float(abs(p - t))})
    errors.sort(key=lambda e: (e["kind"] != "missed", -e["margin"]))
    return errors
