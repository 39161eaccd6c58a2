"""Paired comparison of two models on the same photos: B - A per finding and metric.

    result = paired_comparison(labels, probs_a, probs_b, thresholds_a, thresholds_b, groups)
    result["per_finding"]["erythema"]["metrics"]["auroc"]["delta"]   # {"value", "ci", ...}

Both models are scored on one set of grouped resamples (patients drawn once per resample, both
models scored on that draw), so the interval of the difference keeps the pairing: what the two
share (the same hard photos) cancels, which two separate intervals cannot show. Where no group
repeats (one photo per patient), DeLong's test and interval for the AUROC difference are given
too. The minimum-evidence rule decides which findings are compared; a macro difference averages a
fixed set of findings in every resample.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.stats import norm, rankdata

from skinfindings.findings import FINDINGS
from skinfindings.training.bootstrap import CI_LEVEL, group_ids, resample_weights, summarise
from skinfindings.training.metrics import (
    METRICS,
    evidence_groups,
    finding_metrics,
    threshold_matrix,
    unit_weights,
    why_undefined,
)
from skinfindings.training.scoring import macro_summary

PAIRED_METRICS = ("auroc", "ap", "sensitivity", "specificity", "ppv", "npv", "f1", "ece", "brier")


def _structural_components(y: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUROC and DeLong's per-positive and per-negative components (ties count half)."""
    positives, negatives = scores[y == 1], scores[y == 0]
    m, n = len(positives), len(negatives)
    ranks = rankdata(np.concatenate([positives, negatives]))
    # Share of negatives each positive outranks, share of positives each negative is outranked by.
    per_positive = (ranks[:m] - rankdata(positives)) / n
    per_negative = 1 - (ranks[m:] - rankdata(negatives)) / m
    return float(per_positive.mean()), per_positive, per_negative


def delong(y: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> dict:
    """DeLong et al. 1988: AUROC(B) - AUROC(A) on the same photos, its standard error, interval and p."""
    auc_a, pos_a, neg_a = _structural_components(y, scores_a)
    auc_b, pos_b, neg_b = _structural_components(y, scores_b)
    variance = np.var(pos_b - pos_a, ddof=1) / len(pos_a) + np.var(neg_b - neg_a, ddof=1) / len(neg_a)
    delta, se = auc_b - auc_a, math.sqrt(max(float(variance), 0.0))
    z = norm.ppf(0.5 + CI_LEVEL / 2)
    p = 2 * norm.sf(abs(delta) / se) if se > 0 else (1.0 if delta == 0 else 0.0)
    return {"delta": round(delta, 4), "se": round(se, 4),
            "ci": [round(delta - z * se, 4), round(delta + z * se, 4)], "p": round(float(p), 4)}


def _difference(values_a: np.ndarray, values_b: np.ndarray, reason: str | None, metric: str) -> dict:
    """B - A with its paired percentile interval, and the share of resamples where B is better
    (higher, or lower for ECE and Brier)."""
    delta = values_b - values_a
    summary = summarise(delta[0], delta[1:], reason)
    defined = delta[1:][~np.isnan(delta[1:])]
    better = defined > 0 if METRICS[metric].higher_is_better else defined < 0
    summary["b_better"] = round(float(better.mean()), 4) if defined.size and reason is None else None
    return summary


def paired_comparison(
    labels: np.ndarray,
    probs_a: np.ndarray,
    probs_b: np.ndarray,
    thresholds_a,
    thresholds_b,
    groups: Sequence[str],
    *,
    resamples: int = 1000,
    seed: int = 0,
    bins: int = 10,
    metrics: Sequence[str] = PAIRED_METRICS,
    findings: Sequence[str] | None = None,
) -> dict:
    """Per-finding and macro B - A for every metric, from one set of grouped resamples.

    Each delta summary: value, ci (paired percentile interval), defined (share of resamples),
    b_better (share of resamples where B is better: higher, or lower for ECE and Brier).

    labels (n, findings) 1/0/NaN; probs_a / probs_b (n, findings) for the same photos, every one
    assessed by both; thresholds (findings,) or (n, findings) per model (each at its own);
    groups: the patient per photo. Returns a JSON-ready dict:
    ``per_finding[f]["metrics"][m]`` = {"a", "b", "delta"} summaries, ``per_finding[f]["delong"]``
    (AUROC, only where no group repeats), and ``macro[m]`` = {"a", "b", "delta", "findings"}.
    ``findings``: compare only these (the others read n/a, "not compared"; e.g. a baseline not trained on them).
    """
    labels, probs_a, probs_b = (np.asarray(v, dtype=float) for v in (labels, probs_a, probs_b))
    compared = [FINDINGS.index(f) for f in (FINDINGS if findings is None else findings)]
    if np.isnan(probs_a[:, compared]).any() or np.isnan(probs_b[:, compared]).any():
        raise ValueError("paired comparison: every photo needs probabilities from both models")
    probs_a, probs_b = np.nan_to_num(probs_a), np.nan_to_num(probs_b)  # only findings not compared had gaps
    n = len(labels)
    ids = group_ids(list(groups))
    with_point = np.vstack([unit_weights(n), resample_weights(list(groups), resamples, seed)])
    one_per_group = len(set(ids.tolist())) == n
    models = {"a": (probs_a, threshold_matrix(thresholds_a, n)), "b": (probs_b, threshold_matrix(thresholds_b, n))}
    per_finding, values = {}, {}
    for i, finding in enumerate(FINDINGS):
        y = labels[:, i]
        scored = {k: finding_metrics(y, p[:, i], t[:, i], with_point, bins) for k, (p, t) in models.items()}
        skipped = None if i in compared else "not compared"
        reasons = {k: {m: skipped or why_undefined(m, y, p[:, i], t[:, i]) for m in metrics}
                   for k, (p, t) in models.items()}
        block = {}
        for m in metrics:
            reason = reasons["a"][m] or reasons["b"][m]
            block[m] = {k: summarise(scored[k][m][0], scored[k][m][1:], reasons[k][m],
                                     evidence_groups(m, y, p[:, i], t[:, i], ids), METRICS[m].bias_corrected)
                        for k, (p, t) in models.items()}
            block[m]["delta"] = _difference(scored["a"][m], scored["b"][m], reason, m)
        known_y = y[~np.isnan(y)]
        per_finding[finding] = {"n": int(known_y.size), "positives": int(known_y.sum()),
                                "negatives": int(known_y.size - known_y.sum()), "metrics": block, "delong": None}
        if one_per_group and "auroc" in metrics and block["auroc"]["delta"]["value"] is not None:
            known = ~np.isnan(y)
            per_finding[finding]["delong"] = delong(y[known], probs_a[known, i], probs_b[known, i])
        values[finding] = {**{f"{k}:{m}": scored[k][m] for k in models for m in metrics},
                           **{f"delta:{m}": scored["b"][m] - scored["a"][m] for m in metrics}}
    macro = {}
    for m in metrics:
        members = [f for f in FINDINGS if per_finding[f]["metrics"][m]["delta"]["value"] is not None]
        macro[m] = {key: macro_summary({f: values[f][f"{key}:{m}"][0] for f in members},
                                       {f: values[f][f"{key}:{m}"][1:] for f in members},
                                       {f: per_finding[f]["metrics"][m][key]["ci"] for f in members},
                                       METRICS[m].bias_corrected and key != "delta")
                    for key in ("a", "b", "delta")}
        macro[m]["findings"] = members
    return {"photos": n, "groups": len(set(ids.tolist())), "one_photo_per_group": one_per_group,
            "bootstrap": {"resamples": resamples, "seed": seed, "unit": "group", "level": CI_LEVEL},
            "per_finding": per_finding, "macro": macro}


def paired_from_files(path_a: str | Path, path_b: str | Path, manifest: str | Path, split: str | None = None,
                      *, resamples: int = 1000, seed: int = 0) -> dict:
    """``paired_comparison`` on two predictions files (or evaluate output folders) and a manifest.

    The photos compared are the manifest's rows (of ``split``) that both files scored and both
    models assessed; the counts are in ``photos_scored``.
    """
    from skinfindings.data.manifest import Manifest, read_manifest
    from skinfindings.training.predictions import aligned, read_predictions, record_digests

    full = read_manifest(manifest)
    records = full.subset(split).records
    files = {"a": read_predictions(path_a), "b": read_predictions(path_b)}
    digests = record_digests(full, records)
    in_both = [i for i, d in enumerate(digests) if all(d in set(p.sha256) for p in files.values())]
    if not in_both:
        raise ValueError("the two predictions files share no photo of this manifest")
    picked = [digests[i] for i in in_both]
    scored = {k: aligned(p, picked) for k, p in files.items()}
    assessed = np.array([scored["a"][2][j] is None and scored["b"][2][j] is None for j in range(len(picked))])
    kept = [records[i] for i, keep in zip(in_both, assessed) if keep]
    if not kept:
        raise ValueError("no photo was assessed by both models")
    result = paired_comparison(Manifest(full.root, kept).label_matrix(), scored["a"][0][assessed],
                               scored["b"][0][assessed], scored["a"][1][assessed], scored["b"][1][assessed],
                               [r.group for r in kept], resamples=resamples, seed=seed)
    result["photos_scored"] = {"manifest_rows": len(records), "scored_by_both": len(picked),
                               "assessed_by_both": len(kept)}
    result["runs"] = {k: {"path": str(p), "kind": files[k].kind, "checkpoint": files[k].about.get("checkpoint"),
                          "command": files[k].about.get("command")} for k, p in (("a", path_a), ("b", path_b))}
    result["manifest"], result["split"] = str(manifest), split or "all rows"
    return result
