"""Calibration judged, not only plotted: logistic recalibration slope and intercept, and a warning line.

Logistic recalibration (Cox 1958) regresses the label on the logit of the predicted probability:

* **slope**: b in logit P(y) = a + b * logit(p). 1 is ideal; below 1 the probabilities are too extreme
  (too sure both ways), above 1 too timid.
* **intercept** (calibration-in-the-large): a in logit P(y) = a + logit(p), the slope held at 1. 0 is ideal;
  below 0 the probabilities are too high on average, above 0 too low.

Both are fitted by Newton's method for every grouped-bootstrap resample at once (the resamples are weights),
so they carry the same 95% intervals as every other number. A resample whose fit does not converge (the
labels are perfectly separated there) is left out, as an undefined metric is.

A finding is flagged poorly calibrated when its ECE is above 0.1 or its slope lies outside 0.8-1.25.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

from skinfindings.findings import FINDINGS
from skinfindings.training.bootstrap import summarise
from skinfindings.training.metrics import not_measurable

ECE_LIMIT = 0.1
SLOPE_RANGE = (0.8, 1.25)
EDGE = 1e-6  # probabilities are clipped this far from 0 and 1 before the logit
ITERATIONS = 50
TOLERANCE = 1e-7


def fit_logistic(design: np.ndarray, offset: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(resamples, k) coefficients of a weighted logistic regression, one fit per row of ``weights``.

    ``design`` (n, k) and ``offset`` (n,) are shared; NaN where a fit did not converge.
    """
    resamples, k = weights.shape[0], design.shape[1]
    beta = np.zeros((resamples, k))
    step = np.full((resamples, k), np.inf)
    ridge = 1e-9 * np.eye(k)  # keeps an all-zero-weight resample solvable; it is left out below anyway
    for _ in range(ITERATIONS):
        mu = expit(beta @ design.T + offset)
        gradient = (weights * (y - mu)) @ design
        hessian = np.einsum("bn,ni,nj->bij", weights * mu * (1 - mu), design, design) + ridge
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        beta = beta + step
        if np.all(np.abs(step) < TOLERANCE):
            break
    failed = ~np.isfinite(beta).all(axis=1) | (np.abs(step) > 1e-4).any(axis=1)
    beta[failed] = np.nan
    return beta


def recalibration(y: np.ndarray, scores: np.ndarray, with_point: np.ndarray) -> dict[str, np.ndarray]:
    """Slope and intercept per row of ``with_point`` (row 0: the point estimate); labels known, both classes."""
    x = logit(np.clip(scores, EDGE, 1 - EDGE))
    ones = np.ones_like(x)
    slope = fit_logistic(np.column_stack([ones, x]), np.zeros_like(x), y, with_point)[:, 1]
    intercept = fit_logistic(ones[:, None], x, y, with_point)[:, 0]
    return {"slope": slope, "intercept": intercept}


def calibration_check(labels: np.ndarray, probabilities: np.ndarray, with_point: np.ndarray) -> dict:
    """Per finding over assessed photos: slope and intercept with intervals (n/a without 5 positives and
    5 negatives)."""
    out = {}
    for i, finding in enumerate(FINDINGS):
        y = labels[:, i]
        reason = not_measurable(y, "both")
        if reason is not None:
            out[finding] = {"slope": summarise(np.nan, np.array([]), reason),
                            "intercept": summarise(np.nan, np.array([]), reason)}
            continue
        known = ~np.isnan(y)
        fitted = recalibration(y[known], probabilities[known, i], with_point[:, known])
        out[finding] = {name: summarise(values[0], values[1:],
                                        None if np.isfinite(values[0]) else "the fit does not converge (separated)")
                        for name, values in fitted.items()}
    return out


def calibration_warnings(per_finding: dict, check: dict) -> dict[str, str]:
    """Plain warning per poorly calibrated finding (ECE above the limit, or slope outside the range)."""
    warnings = {}
    for finding in FINDINGS:
        ece = per_finding[finding]["metrics"]["ece"]["value"]
        slope = check[finding]["slope"]["value"]
        problems = []
        if ece is not None and ece > ECE_LIMIT:
            problems.append(f"ECE {ece:.3f} > {ECE_LIMIT}")
        if slope is not None and not SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1]:
            how = "too extreme" if slope < SLOPE_RANGE[0] else "too timid"
            problems.append(f"slope {slope:.2f} outside {SLOPE_RANGE[0]}-{SLOPE_RANGE[1]} (probabilities {how})")
        if problems:
            intercept = check[finding]["intercept"]["value"]
            average = ("" if intercept is None else
                       f"; on average {'too high' if intercept < 0 else 'too low'} (intercept {intercept:+.2f})")
            warnings[finding] = f"{finding} is poorly calibrated: " + ", ".join(problems) + average
    return warnings
