"""Post-training calibration on the validation split: per-finding temperature and threshold.

Threshold rule (stored in the checkpoint as ``threshold_rule``):
* findings that escalate (pustules, crusting): the highest threshold whose validation
  sensitivity is still >= the target (0.90 by default) — missing them is the costly error —
  capped at 0.5, so a finding that escalates is reported once it is as likely as not (on
  well-separated synthetic data the uncapped rule chose 0.996 for pustules: never reported);
* the other findings: the threshold that maximises F1 on validation.
A finding with no positives (or no negatives) in validation keeps 0.5 and says so.

The temperature is searched on a log grid from 0.05 to 20; an optimum at either end of the grid
is reported in the finding's note, since the best temperature may lie beyond it.
"""

from __future__ import annotations

import numpy as np

from skinfindings.findings import FINDING_INFO, FINDINGS
from skinfindings.training.metrics import known

ESCALATE_CAP = 0.5
TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 241))


def _nll(logits: np.ndarray, labels: np.ndarray) -> float:
    # Stable binary cross-entropy on logits.
    return float(np.mean(np.logaddexp(0, logits) - labels * logits))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Grid search of the temperature that minimises validation NLL for one finding."""
    y, z = known(labels, logits)
    if y.size == 0 or y.min() == y.max():
        return 1.0
    losses = [_nll(z / t, y) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def at_grid_edge(temperature: float) -> bool:
    """True when the fitted temperature is an end of the search grid (the optimum may lie beyond)."""
    return temperature in (float(TEMPERATURES[0]), float(TEMPERATURES[-1]))


def sensitivity_threshold(probs: np.ndarray, labels: np.ndarray, target: float) -> float:
    """Highest threshold with sensitivity >= target (0 <= target <= 1)."""
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target sensitivity must lie in [0, 1], got {target}")
    positives = np.sort(probs[labels == 1])
    if not len(positives):
        return 0.5
    # Keeping the k highest-scoring positives keeps sensitivity k/n; allow at most n*(1-target) misses.
    misses = int(np.floor(len(positives) * (1 - target) + 1e-9))
    if misses >= len(positives):  # target 0: missing every positive is allowed, so flag none of them
        return float(np.nextafter(positives[-1], np.inf))
    return float(positives[misses])


def f1_threshold(probs: np.ndarray, labels: np.ndarray) -> float:
    candidates = np.unique(probs)
    best, best_f1 = 0.5, -1.0
    for t in candidates:
        predicted = probs >= t
        tp = np.sum(predicted & (labels == 1))
        f1 = 2 * tp / (predicted.sum() + (labels == 1).sum())
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


def calibrate(logits: np.ndarray, labels: np.ndarray, escalate_sensitivity: float = 0.90):
    """Per-finding temperatures and thresholds from validation logits; returns (temperatures, thresholds, notes)."""
    temperatures, thresholds, notes = [], [], {}
    for i, finding in enumerate(FINDINGS):
        t = fit_temperature(logits[:, i], labels[:, i])
        y, z = known(labels[:, i], logits[:, i])
        probs = 1 / (1 + np.exp(-z / t))
        if y.size == 0 or y.min() == y.max():
            threshold, notes[finding] = 0.5, "no positives or no negatives in validation: default 0.5"
        elif FINDING_INFO[finding].escalates:
            threshold = min(sensitivity_threshold(probs, y, escalate_sensitivity), ESCALATE_CAP)
            notes[finding] = (f"highest threshold with validation sensitivity >= {escalate_sensitivity:.2f}, "
                              f"capped at {ESCALATE_CAP}")
        else:
            threshold = f1_threshold(probs, y)
            notes[finding] = "maximises validation F1"
        if at_grid_edge(t):
            notes[finding] += (f"; temperature {t:.3g} is the end of the search grid "
                               f"({TEMPERATURES[0]:.3g}-{TEMPERATURES[-1]:.3g}): the best one may lie beyond")
        temperatures.append(t)
        thresholds.append(threshold)
    return temperatures, thresholds, notes


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Logistic recalibration p = sigmoid(a * logit + b) for one finding, fitted on held-out logits.

    Unlike a temperature (a alone), the intercept b moves the probabilities to the calibration set's base rate:
    a probe trained with balanced classes or on composites rich in milia and pustules otherwise overstates.
    Lightly regularised (C = 100 on two parameters) so that separable data still gives a finite slope.
    """
    from sklearn.linear_model import LogisticRegression

    y, z = known(labels, logits)
    if y.size == 0 or y.min() == y.max():
        return 1.0, 0.0
    fit = LogisticRegression(C=100.0, max_iter=1000).fit(z.reshape(-1, 1), y.astype(int))
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def specificity_threshold(probs: np.ndarray, labels: np.ndarray, target: float) -> float:
    """Lowest threshold with specificity >= target: at most n * (1 - target) negatives at or above it."""
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target specificity must lie in [0, 1], got {target}")
    negatives = np.sort(probs[labels == 0])[::-1]
    if not len(negatives):
        return 0.5
    allowed = int(np.floor(len(negatives) * (1 - target) + 1e-9))
    if allowed >= len(negatives):
        return float(negatives[-1])
    return float(np.nextafter(negatives[allowed], np.inf))


def operating_points(probs: np.ndarray, labels: np.ndarray, sensitivity: float = 0.90,
                     specificity: float = 0.90) -> tuple[float, float]:
    """(rule_out, rule_in) for one finding: rule-out keeps sensitivity >= ``sensitivity``; rule-in keeps specificity
    >= ``specificity`` and is never below rule-out (a weak model's two points meet: nothing is then *possible*)."""
    y, p = known(labels, probs)
    if y.size == 0 or y.min() == y.max():
        return 0.5, 0.5
    rule_out = sensitivity_threshold(p, y, sensitivity)
    return rule_out, max(rule_out, specificity_threshold(p, y, specificity))
