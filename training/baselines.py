"""Baselines scored on the same photos as the model, so its value over simple rules is visible.

* colour_texture: logistic regression per finding on colour and texture statistics of the
  Predictor-prepared pixels (the model's own view of the photo). Trained on the manifest's
  train split; without one (e.g. the real set), out-of-fold predictions of grouped k-fold
  cross-validation, so no patient is in its own training fold.
  A finding (or a cross-validation fold) whose training photos fail the minimum-evidence rule
  (``metrics.not_measurable``: fewer than 5 positives or 5 negatives) is not trained: its scores
  would be a constant that ranks at random, so the finding reads n/a for this baseline.
* prevalence: every photo gets the finding's prevalence. Its AUROC is 0.5 and its AP the
  prevalence by construction: the floor any model must clear.

Both use the threshold 0.5 (the logistic regression is fitted with balanced class weights,
so 0.5 is its natural cut; the prevalence rule then flags a finding only when most photos
have it).
"""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from skinfindings.data.photo import PhotoError
from skinfindings.findings import FINDINGS
from skinfindings.training.bootstrap import group_ids
from skinfindings.training.metrics import not_measurable

BASELINE_THRESHOLD = 0.5
FEATURE_NAMES = (
    "mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b",
    "redness_mean", "redness_std", "redness_p90",
    "yellowness_mean", "yellowness_p90",
    "saturation_mean", "saturation_std",
    "luma_p5", "luma_p50", "luma_p95",
    "gradient_mean", "gradient_p90", "laplacian_var", "block_contrast",
    "bright_specks", "dark_patches",
)


@dataclass
class Baseline:
    description: str
    probabilities: np.ndarray  # (n, findings)
    threshold: float = BASELINE_THRESHOLD
    notes: list[str] = field(default_factory=list)
    unmeasured: dict[str, str] = field(default_factory=dict)  # finding -> why it reads n/a


def colour_texture_features(pixels: np.ndarray) -> np.ndarray:
    """Hand-made statistics in FEATURE_NAMES order from an HxWx3 uint8 array."""
    rgb = pixels.astype(np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    redness = (r - g) / (r + g + 1e-3)  # erythema shifts red against green at any skin tone
    yellowness = (r + g) / 2 - b  # crusts and pustules are yellowish
    top, bottom = rgb.max(axis=-1), rgb.min(axis=-1)
    saturation = (top - bottom) / (top + 1e-3)
    gy, gx = np.gradient(luma)
    gradient = np.hypot(gx, gy)
    laplacian = 4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:]
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    block_std = luma[:h, :w].reshape(h // 8, 8, w // 8, 8).std(axis=(1, 3))
    median = float(np.median(luma))
    flat = rgb.reshape(-1, 3)
    return np.array([
        *flat.mean(axis=0), *flat.std(axis=0),
        redness.mean(), redness.std(), np.percentile(redness, 90),
        yellowness.mean(), np.percentile(yellowness, 90),
        saturation.mean(), saturation.std(),
        *np.percentile(luma, [5, 50, 95]),
        gradient.mean(), np.percentile(gradient, 90), laplacian.var(), block_std.mean(),
        (luma > median + 0.12).mean(),  # small white bumps (milia, pustule heads)
        (luma < median - 0.12).mean(),  # dark crusts and pigment
    ], dtype=np.float64)


def features_for(predictor, paths: Sequence[Path]) -> np.ndarray:
    """Features of photos prepared by the Predictor (no model run); NaN rows for unreadable files."""
    def one(path):
        try:
            pixels, _ = predictor.prepare(path)
        except PhotoError:
            return np.full(len(FEATURE_NAMES), math.nan)
        return colour_texture_features(pixels)

    if not paths:
        return np.zeros((0, len(FEATURE_NAMES)))
    with ThreadPoolExecutor(max_workers=predictor.decode_workers) as pool:
        return np.stack(list(pool.map(one, paths)))


def _classifier():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", solver="liblinear"))


def fit_predict(train_x: np.ndarray, train_labels: np.ndarray, test_x: np.ndarray
                ) -> tuple[np.ndarray, dict[str, str]]:
    """One logistic regression per finding; a finding whose training photos fail the minimum-evidence
    rule is not trained: NaN scores, and the reason in the returned {finding: reason}."""
    probabilities = np.full((len(test_x), len(FINDINGS)), math.nan)
    readable_test = np.isfinite(test_x).all(axis=1)
    untrained = {}
    for i, finding in enumerate(FINDINGS):
        y = train_labels[:, i]
        usable = ~np.isnan(y) & np.isfinite(train_x).all(axis=1)
        shortfall = not_measurable(y[usable])
        if shortfall is not None:
            untrained[finding] = f"not trained: {shortfall} in the training photos"
            continue
        model = _classifier().fit(train_x[usable], y[usable].astype(int))
        if readable_test.any():
            probabilities[readable_test, i] = model.predict_proba(test_x[readable_test])[:, 1]
    return probabilities, untrained


def grouped_cross_validation(x: np.ndarray, labels: np.ndarray, groups: Sequence[str], folds: int
                             ) -> tuple[np.ndarray, dict[str, str], int]:
    """Out-of-fold probabilities; folds never split a group.

    Returns (probabilities, {finding: why it reads n/a}, folds used). A finding is n/a when any
    fold could not be trained on it: pooling the other folds' scores with nothing would score a
    different set of photos.
    """
    from sklearn.model_selection import GroupKFold

    ids = group_ids(groups)
    k = min(folds, len(set(ids.tolist())))
    if k < 2:
        return (np.full((len(x), len(FINDINGS)), math.nan),
                {f: "fewer than two groups: no cross-validation" for f in FINDINGS}, 0)
    probabilities = np.full((len(x), len(FINDINGS)), math.nan)
    failed: Counter[str] = Counter()
    for train, test in GroupKFold(n_splits=k).split(x, groups=ids):
        probabilities[test], untrained = fit_predict(x[train], labels[train], x[test])
        failed.update(untrained.keys())  # count the folds per finding
    unmeasured = {f: f"not trained in {n} of {k} folds: too few positives or negatives"
                  for f, n in failed.items()}
    probabilities[:, [FINDINGS.index(f) for f in unmeasured]] = math.nan
    return probabilities, unmeasured, k


def _capped(records: list, limit: int, seed: int) -> list:
    """At most ``limit`` records, whole groups drawn at random (deterministic for a seed)."""
    if len(records) <= limit:
        return records
    ids = group_ids([r.group for r in records])
    keep: set[int] = set()
    taken = 0
    order = np.random.default_rng(seed).permutation(int(ids.max()) + 1)
    for group in order:
        size = int((ids == group).sum())
        if taken + size > limit:
            break
        keep.add(int(group))
        taken += size
    return [r for r, g in zip(records, ids) if int(g) in keep]


def _rate(labels: np.ndarray) -> np.ndarray:
    """Share of positives per finding over known labels; 0.5 for a finding with no known label."""
    known = ~np.isnan(labels)
    positives = np.where(known, labels, 0).sum(axis=0)
    return np.divide(positives, known.sum(axis=0), out=np.full(labels.shape[1], 0.5), where=known.sum(axis=0) > 0)


def run_baselines(predictor, manifest, train_records: list, eval_features: np.ndarray, eval_labels: np.ndarray,
                  eval_groups: Sequence[str], config) -> dict[str, Baseline]:
    """Both baselines' probabilities for the evaluated photos (same rows as ``eval_features``)."""
    n_features = len(FEATURE_NAMES)
    if train_records:
        sample = _capped(train_records, config.baseline_train_max, config.seed)
        train_x = features_for(predictor, [manifest.resolve(r) for r in sample])
        train_labels = np.stack([r.label_vector() for r in sample])
        probabilities, unmeasured = fit_predict(train_x, train_labels, eval_features)
        where = f"trained on {len(sample)} photos of the train split"
        prevalence, prevalence_from = _rate(train_labels), "the train split's prevalence"
    else:
        probabilities, unmeasured, k = grouped_cross_validation(eval_features, eval_labels, eval_groups,
                                                                config.folds)
        where = f"out-of-fold predictions of grouped {k}-fold cross-validation on the evaluated photos (no train split)"
        prevalence = _rate(eval_labels)
        prevalence_from = "the evaluated photos' own prevalence (in-sample, which can only flatter this baseline)"
    constant = np.broadcast_to(prevalence, eval_labels.shape).copy()
    constant[~np.isfinite(eval_features).all(axis=1)] = math.nan
    return {
        "colour_texture": Baseline(
            f"logistic regression on {n_features} colour/texture statistics of the Predictor-prepared pixels, "
            f"{where}", probabilities, notes=[f"{f}: {why}" for f, why in unmeasured.items()],
            unmeasured=unmeasured),
        "prevalence": Baseline(f"every photo scored with {prevalence_from}", constant),
    }
