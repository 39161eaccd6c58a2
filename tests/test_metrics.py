"""Evaluation metrics, grouped bootstrap and the pure evaluation core, on generated predictions (no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

from skinfindings.findings import FINDINGS
from skinfindings.training.abstentions import coverage_curve
from skinfindings.training.bootstrap import resample_weights
from skinfindings.training.scoring import confident_errors, evaluate_predictions
from skinfindings.training.subgroups import tertile_groups, tone_group
from skinfindings.training.metrics import (
    METRICS,
    confusion,
    cooccurrence,
    finding_metrics,
    label_cardinality,
    ranking_metrics,
    reliability_bins,
    threshold_metrics,
    unit_weights,
)

F = len(FINDINGS)
THRESHOLDS = [0.5] * F


def _labels(n: int, seed: int, prevalence: float = 0.4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, F)) < prevalence).astype(float)
    labels[0], labels[1] = 1.0, 0.0  # both classes present for every finding
    return labels


def _noisy_scores(labels: np.ndarray, signal: float, seed: int) -> np.ndarray:
    """Probabilities that rank positives higher by ``signal`` on average."""
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + signal * (np.nan_to_num(labels) - 0.5) + rng.normal(0, 0.2, labels.shape), 0, 1)


def _value(result: dict, finding: str, metric: str):
    return result["per_finding"][finding]["metrics"][metric]["value"]


def _evaluate(labels, probabilities, groups=None, resamples=200, **kwargs):
    groups = groups if groups is not None else [f"g{i}" for i in range(len(labels))]
    return evaluate_predictions(labels, probabilities, THRESHOLDS, groups, resamples=resamples, **kwargs)


def test_weighted_ranking_metrics_equal_sklearn_with_ties_and_repeated_photos():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(4, 40))
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        scores = np.round(rng.random(n), 1)  # many ties
        plain = ranking_metrics(y, scores, unit_weights(n))
        assert plain["auroc"][0] == pytest.approx(roc_auc_score(y, scores))
        assert plain["ap"][0] == pytest.approx(average_precision_score(y, scores))
        # Weight k must mean "this photo k times": compare with sklearn on the repeated data.
        counts = rng.integers(1, 4, n)
        weighted = ranking_metrics(y, scores, counts[None, :].astype(float))
        assert weighted["auroc"][0] == pytest.approx(roc_auc_score(np.repeat(y, counts), np.repeat(scores, counts)))
        assert weighted["ap"][0] == pytest.approx(
            average_precision_score(np.repeat(y, counts), np.repeat(scores, counts)))


def test_threshold_metrics_follow_the_confusion_matrix():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    scores = rng.random(200)
    tn, fp, fn, tp = confusion_matrix(y, scores >= 0.3).ravel()
    values = {k: v[0] for k, v in threshold_metrics(confusion(y, scores, 0.3, unit_weights(200))).items()}
    assert values["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert values["specificity"] == pytest.approx(tn / (tn + fp))
    assert values["ppv"] == pytest.approx(tp / (tp + fp))
    assert values["npv"] == pytest.approx(tn / (tn + fn))
    assert values["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_perfect_predictor_scores_one_and_constant_predictor_scores_half():
    labels = _labels(60, seed=1)
    perfect = _evaluate(labels, np.where(labels > 0, 0.9, 0.1))
    constant = _evaluate(labels, np.full(labels.shape, 0.5))
    for finding in FINDINGS:
        for metric in ("auroc", "ap", "sensitivity", "specificity", "f1"):
            assert _value(perfect, finding, metric) == 1.0
        assert _value(constant, finding, "auroc") == 0.5
        prevalence = perfect["per_finding"][finding]["positives"] / perfect["per_finding"][finding]["n"]
        assert _value(constant, finding, "ap") == pytest.approx(prevalence, abs=1e-4)
    assert perfect["macro"]["auroc"]["value"] == 1.0 and constant["macro"]["auroc"]["value"] == 0.5


def test_unknown_labels_are_left_out_not_counted_as_negatives():
    labels = _labels(80, seed=2)
    scores = _noisy_scores(labels, 0.4, seed=2)
    with_unknown = labels.copy()
    with_unknown[10:30, 0] = np.nan
    result = _evaluate(with_unknown, scores)
    known = ~np.isnan(with_unknown[:, 0])
    assert result["per_finding"]["erythema"]["n"] == known.sum()
    assert _value(result, "erythema", "auroc") == pytest.approx(
        roc_auc_score(labels[known, 0], scores[known, 0]), abs=1e-4)


def test_metrics_without_positives_are_reported_as_not_available_never_zero_or_one():
    labels = _labels(40, seed=5)
    labels[:, 3] = 0.0  # no pustules at all, as on the real set
    result = _evaluate(labels, _noisy_scores(labels, 0.4, seed=5))
    for metric in ("auroc", "ap", "sensitivity", "ppv", "npv", "f1"):
        summary = result["per_finding"]["pustules"]["metrics"][metric]
        assert summary["value"] is None and summary["ci"] is None and summary["na"] == "no positives"
    assert _value(result, "pustules", "specificity") is not None  # negatives exist: it is defined
    assert "pustules" not in result["macro"]["auroc"]["findings"]
    raw = finding_metrics(labels[:, 3], np.full(40, 0.7), 0.5, unit_weights(40))
    assert math.isnan(raw["sensitivity"][0]) and math.isnan(raw["auroc"][0])


def test_bootstrap_resamples_whole_groups_reproducibly():
    groups = ["a", "a", "a", "b", "b", "c", "", ""]  # empty group: a group of its own
    weights = resample_weights(groups, resamples=300, seed=7)
    assert weights.shape == (300, 8)
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 3] == weights[:, 4]).all()
    assert not (weights[:, 6] == weights[:, 7]).all()
    # Each resample draws as many groups as there are (a, b, c and the two singletons).
    per_group = np.stack([weights[:, 0], weights[:, 3], weights[:, 5], weights[:, 6], weights[:, 7]], axis=1)
    assert (per_group.sum(axis=1) == 5).all()
    assert np.array_equal(weights, resample_weights(groups, resamples=300, seed=7))


def _interval_width(result: dict, finding: str = "crusting", metric: str = "auroc") -> float:
    low, high = result["per_finding"][finding]["metrics"][metric]["ci"]
    return high - low


def test_interval_of_a_tiny_set_is_wide_and_narrows_with_more_photos():
    tiny_labels, large_labels = _labels(12, seed=8, prevalence=0.5), _labels(400, seed=8, prevalence=0.5)
    tiny_labels[:, 1] = np.arange(12) % 2  # 6 crusting positives: just above the minimum evidence
    tiny = _evaluate(tiny_labels, _noisy_scores(tiny_labels, 0.3, seed=8), resamples=300)
    large = _evaluate(large_labels, _noisy_scores(large_labels, 0.3, seed=8), resamples=300)
    assert _interval_width(tiny) > 0.3
    assert _interval_width(tiny) > 3 * _interval_width(large)
    low, high = large["per_finding"]["crusting"]["metrics"]["auroc"]["ci"]
    assert low <= _value(large, "crusting", "auroc") <= high


def test_grouped_intervals_are_wider_than_per_photo_intervals_for_clustered_photos():
    # 20 patients, 10 near-identical photos each: the data hold 20 observations, not 200.
    base = _labels(20, seed=9, prevalence=0.5)
    labels = np.repeat(base, 10, axis=0)
    scores = np.repeat(_noisy_scores(base, 0.3, seed=9), 10, axis=0)
    by_patient = _evaluate(labels, scores, groups=[f"p{i // 10}" for i in range(200)], resamples=500)
    by_photo = _evaluate(labels, scores, groups=[f"x{i}" for i in range(200)], resamples=500)
    assert _interval_width(by_patient) > 1.5 * _interval_width(by_photo)


def test_ece_is_small_when_calibrated_and_large_when_overconfident():
    rng = np.random.default_rng(10)
    probabilities = rng.random(4000)
    labels = (rng.random(4000) < probabilities).astype(float)  # calibrated by construction
    calibrated = finding_metrics(labels, probabilities, 0.5, unit_weights(4000))["ece"][0]
    overconfident = finding_metrics(labels, np.where(probabilities > 0.5, 0.99, 0.01), 0.5, unit_weights(4000))
    assert calibrated < 0.05
    assert overconfident["ece"][0] > 3 * calibrated
    bins = reliability_bins(labels, probabilities, bins=10)
    assert sum(b["n"] for b in bins) == 4000
    assert all(abs(b["observed"] - b["mean_probability"]) < 0.1 for b in bins)


def test_subgroups_list_every_group_present_with_n_and_the_gap():
    labels = _labels(90, seed=11, prevalence=0.5)
    scores = _noisy_scores(labels, 0.4, seed=11)
    tone = np.array(["type II", "type V", ""] * 30, dtype=object)
    scores[tone == "type V"] = _noisy_scores(labels[tone == "type V"], 0.05, seed=12)  # worse on one tone
    result = _evaluate(labels, scores, subgroups={"tone": list(tone)})
    groups = result["subgroups"]["tone"]["groups"]
    assert list(groups) == ["type II", "type V", "unknown"]
    assert sum(g["n"] for g in groups.values()) == 90
    extreme = result["subgroups"]["tone"]["extremes"]["macro"]["auroc"]
    values = {name: g["macro"]["auroc"]["value"] for name, g in groups.items() if name != "unknown"}
    assert extreme["worst_group"] == min(values, key=values.get) == "type V"
    assert extreme["gap"] == pytest.approx(max(values.values()) - min(values.values()), abs=1e-4)
    lower_is_better = result["subgroups"]["tone"]["extremes"]["erythema"]["ece"]
    eces = {name: g["per_finding"]["erythema"]["metrics"]["ece"]["value"] for name, g in groups.items()
            if name != "unknown"}
    assert lower_is_better["worst_group"] == max(eces, key=eces.get)


def test_abstentions_are_counted_and_scored_both_ways():
    labels = _labels(60, seed=13, prevalence=0.5)
    scores = _noisy_scores(labels, 0.6, seed=13)
    abstentions = [None] * 60
    abstentions[:6] = ["too_dark"] * 4 + ["unreadable"] * 2
    scores[4:6] = np.nan  # an unreadable photo has no probabilities
    result = _evaluate(labels, scores, abstentions=abstentions)
    a = result["abstention"]
    assert (a["photos"], a["assessed"], a["reasons"]) == (60, 54, {"too_dark": 4, "unreadable": 2})
    assert result["per_finding"]["erythema"]["n"] == 54
    for finding in FINDINGS:
        excluded = _value(result, finding, "sensitivity")
        missed = a["rules"]["included_as_missed"]["per_finding"][finding]["metrics"]["sensitivity"]["value"]
        escalated = a["rules"]["included_as_escalate"]["per_finding"][finding]["metrics"]["sensitivity"]["value"]
        if a["positives_in_abstained"][finding]:
            assert missed < excluded < escalated or escalated == 1.0
        assert a["rules"]["included_as_missed"]["per_finding"][finding]["n"] == 60
    with pytest.raises(ValueError, match="no probabilities"):
        _evaluate(labels, scores)  # NaN probabilities on a photo marked as assessed


def test_coverage_curve_gains_accuracy_when_the_least_confident_photos_are_dropped():
    labels = _labels(100, seed=14, prevalence=0.5)
    scores = np.where(labels > 0, 0.95, 0.05)
    scores[:30] = np.where(labels[:30] > 0, 0.45, 0.55)  # 30 photos wrong, and unsure about it
    curve = coverage_curve(labels, scores, THRESHOLDS, points=10)
    assert curve[-1]["coverage"] == 1.0 and curve[-1]["photos"] == 100
    assert curve[-1]["accuracy"] == pytest.approx(0.7)
    assert curve[5]["accuracy"] == 1.0  # the 60 most confident photos are all right


def test_confident_errors_put_missed_findings_first():
    labels = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=float)
    scores = np.array([[0.45, 0.1, 0.1, 0.1, 0.1], [0.1, 0.2, 0.1, 0.1, 0.99], [0.02, 0.1, 0.1, 0.1, 0.1]])
    errors = confident_errors(labels, scores, THRESHOLDS, np.array([True, True, True]))
    assert [(e["row"], e["kind"]) for e in errors] == [(2, "missed"), (1, "missed"), (0, "missed"), (1, "false alarm")]
    assert confident_errors(labels, scores, THRESHOLDS, np.array([True, True, False]))[0]["row"] == 1


def test_skin_tone_groups_prefer_fitzpatrick_then_ita():
    assert tone_group("IV", 50.0) == "type IV"
    assert tone_group("", 60.0) == "ITA very light"
    assert tone_group("", -45.0) == "ITA dark"
    assert tone_group("", None) == "unknown"
    names, cuts = tertile_groups(np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, math.nan]))
    assert names == ["low", "low", "middle", "middle", "high", "high", "unknown"]
    assert cuts[0] < cuts[1]


def test_label_cardinality_and_cooccurrence():
    labels = np.array([[1, 1, 0, 0, 0], [1, 0, 0, 0, 1], [0, 0, 0, 0, 0], [1, np.nan, 0, 0, 0]], dtype=float)
    card = label_cardinality(labels)
    assert card["photos_with_all_labels_known"] == 3 and card["photos_with_an_unknown_label"] == 1
    assert card["distribution"]["0"] == 1 and card["distribution"]["2"] == 2
    matrix = np.array(cooccurrence(labels))
    assert (matrix == matrix.T).all()
    assert matrix[0, 0] == 3 and matrix[0, 1] == 1 and matrix[0, 4] == 1 and matrix[1, 4] == 0


def test_every_metric_has_a_direction():
    assert {"auroc", "ap", "sensitivity", "specificity", "ppv", "npv", "f1", "ece"} <= set(METRICS)
    assert not METRICS["ece"].higher_is_better and METRICS["auroc"].higher_is_better
