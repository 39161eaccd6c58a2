"""Grouped bootstrap: resample whole groups (patients), never single photos.

Photos of one patient are not independent; resampling them one by one makes the
intervals look narrower than the data allow. Each resample draws as many groups as
the data has, with replacement, and gives every photo the count of its group. The
metrics in ``training.metrics`` take those counts as weights, so all resamples are
computed at once.

    weights = resample_weights(groups, resamples=1000, seed=0)   # (1000, n)
    values = finding_metrics(y, scores, threshold, weights)["auroc"]
    summary = summarise(point, values, reason=None)
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

CI_LEVEL = 0.95


def group_ids(groups: Sequence[str]) -> np.ndarray:
    """Integer id per photo; a photo without a group is a group of its own."""
    ids: dict[str, int] = {}
    out = np.empty(len(groups), dtype=int)
    for i, group in enumerate(groups):
        key = group if group else f"\0row-{i}"  # cannot clash with a real group name
        out[i] = ids.setdefault(key, len(ids))
    return out


def resample_weights(groups: Sequence[str], resamples: int, seed: int = 0) -> np.ndarray:
    """(resamples, n) float array: how often each photo appears in each grouped resample."""
    ids = group_ids(groups)
    n_groups = int(ids.max()) + 1 if ids.size else 0
    if n_groups == 0:
        return np.zeros((resamples, 0))
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, n_groups, size=(resamples, n_groups))
    # One bincount over all resamples: offset each resample's draws into its own range.
    flat = (drawn + n_groups * np.arange(resamples)[:, None]).ravel()
    per_group = np.bincount(flat, minlength=resamples * n_groups).reshape(resamples, n_groups)
    return per_group[:, ids].astype(float)


def clopper_pearson(point: float, n_effective: int) -> list[float]:
    """Exact 95% binomial interval of a share ``point`` observed on ``n_effective`` independent units."""
    from scipy.stats import binomtest

    n = max(int(n_effective), 1)
    interval = binomtest(int(round(point * n)), n).proportion_ci(confidence_level=CI_LEVEL, method="exact")
    return [round(float(interval.low), 4), round(float(interval.high), 4)]


def recentred(point: float, defined: np.ndarray) -> np.ndarray:
    """The resamples shifted by the bootstrap's bias estimate (their mean minus ``point``), so they centre on it.

    A plug-in statistic biased upward on small sets (ECE: every bin's |observed - predicted| gap is at least its
    noise) has resamples that sit above the estimate; their plain percentile interval can then lie entirely
    above the estimate it should cover ("0.238 (0.242-0.310)"). The shifted resamples keep the spread and drop
    the bias, and the interval is taken of them.
    """
    return defined - (defined.mean() - point)


def summarise(point: float, resampled: np.ndarray, reason: str | None = None,
              n_effective: int | None = None, recentre: bool = False) -> dict:
    """A metric as stored in metrics.json.

    ``value`` is None with ``na`` naming the reason when the metric is undefined on the data.
    ``ci`` is the percentile interval over the resamples where the metric is defined;
    ``defined`` is that share of resamples (below 1, the interval leaves out the resamples
    that lacked a class, so it is optimistic about how much the data pin the value down).

    A share whose every resample gives the same value (all positives found: 1.00 in every
    resample) has a zero-width bootstrap interval exactly where the data say least; it gets the
    Clopper-Pearson interval on ``n_effective`` units instead (``ci_method`` says which).

    ``recentre``: the interval of the bias-corrected resamples (``recentred``; a statistic that cannot be
    negative keeps a lower bound of at least 0), ``ci_method`` "bootstrap, bias-corrected"; the bias is stored.
    """
    if reason is not None or math.isnan(point):
        return {"value": None, "ci": None, "na": reason or "undefined", "defined": 0.0}
    defined = resampled[~np.isnan(resampled)]
    tail = (1 - CI_LEVEL) / 2 * 100
    method, extra = "bootstrap", {}
    if recentre and defined.size:
        extra["bootstrap_bias"] = round(float(defined.mean() - point), 4)
        defined, method = recentred(point, defined), "bootstrap, bias-corrected"
    ci = [round(float(v), 4) for v in np.percentile(defined, [tail, 100 - tail])] if defined.size else None
    if recentre and ci is not None and point >= 0:
        ci[0] = max(ci[0], 0.0)
    if n_effective is not None and (ci is None or ci[1] - ci[0] < 1e-9):
        ci, method = clopper_pearson(point, n_effective), "clopper-pearson"
    return {"value": round(float(point), 4), "ci": ci, "na": None, "ci_method": method,
            "defined": round(defined.size / max(resampled.size, 1), 4), **extra}
