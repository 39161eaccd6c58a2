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

ECE is biased upward on small sets: even a perfectly calibrated model shows some on 150 photos. ``ece_if_calibrated``
measures how much, by drawing labels from the model's own probabilities (so it is calibrated by construction) and
computing the same ECE, so a reader can tell a miscalibrated model from a small test set.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

from skinfindings.findings import FINDINGS
from skinfindings.training.bootstrap import summarise
from skinfindings.training.metrics import calibration_metrics, not_measurable

ECE_LIMIT = 0.1
SLOPE_RANGE = (0.8, 1.25)
EDGE = 1e-6  # probabilities are clipped this far from 0 and 1 before the logit
ITERATIONS = 50
TOLERANCE = 1e-7
CALIBRATED_DRAWS = 500


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


def ece_if_calibrated(scores: np.ndarray, draws: int = CALIBRATED_DRAWS, seed: int = 0) -> dict[str, float]:
    """The ECE a perfectly calibrated model would show on these photos: labels drawn from ``scores`` themselves,
    ``draws`` times; the mean and the 95th percentile."""
    rng = np.random.default_rng(seed)
    drawn = (rng.random((draws, len(scores))) < scores).astype(float)
    ones = np.ones((1, len(scores)))
    eces = np.array([calibration_metrics(y, scores, ones)["ece"][0] for y in drawn])
    return {"mean": float(eces.mean()), "p95": float(np.quantile(eces, 0.95))}


def calibration_check(labels: np.ndarray, probabilities: np.ndarray, with_point: np.ndarray) -> dict:
    """Per finding over assessed photos: slope and intercept with intervals (n/a without 5 positives and
    5 negatives), and the ECE a calibrated model would show on the same photos."""
    out = {}
    for i, finding in enumerate(FINDINGS):
        y = labels[:, i]
        known = ~np.isnan(y)
        floor = ece_if_calibrated(probabilities[known, i]) if known.sum() else None
        reason = not_measurable(y, "both")
        if reason is not None:
            out[finding] = {"slope": summarise(np.nan, np.array([]), reason),
                            "intercept": summarise(np.nan, np.array([]), reason), "ece_if_calibrated": floor}
            continue
        fitted = recalibration(y[known], probabilities[known, i], with_point[:, known])
        out[finding] = {name: summarise(values[0], values[1:],
                                        None if np.isfinite(values[0]) else "the fit does not converge (separated)")
                        for name, values in fitted.items()}
        out[finding]["ece_if_calibrated"] = floor
    return out


def calibration_warnings(per_finding: dict, check: dict) -> dict[str, str]:
    """Plain warning per poorly calibrated finding (ECE above the limit, or slope outside the range)."""
    warnings = {}
    for finding in FINDINGS:
        ece = per_finding[finding]["metrics"]["ece"]["value"]
        slope = check[finding]["slope"]["value"]
        problems = []
        if ece is not None and ece > ECE_LIMIT:
            floor = check[finding].get("ece_if_calibrated")
            noise = (f" (but a perfectly calibrated model shows up to {floor['p95']:.3f} on these photos: too few to "
                     "tell)") if floor and ece <= floor["p95"] else ""
            problems.append(f"ECE {ece:.3f} > {ECE_LIMIT}{noise}")
        if slope is not None and not SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1]:
            how = "too extreme" if slope < SLOPE_RANGE[0] else "too timid"
            problems.append(f"slope {slope:.2f} outside {SLOPE_RANGE[0]}-{SLOPE_RANGE[1]} (probabilities {how})")
        if problems:
            intercept = check[finding]["intercept"]["value"]
            average = ("" if intercept is None else
                       f"; on average {'too high' if intercept < 0 else 'too low'} (intercept {intercept:+.2f})")
            warnings[finding] = f"{finding} is poorly calibrated: " + ", ".join(problems) + average
    return warnings
