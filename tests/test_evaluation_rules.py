"""The evaluation rules of issue 16, on constructed arrays (no model, no photos):
minimum evidence, fixed-set macros, small-sample intervals, subgroup ranking, the paired
comparison, and the minor defects (group stripping, target-0 thresholds, the temperature grid)."""

from __future__ import annotations

import numpy as np
import pytest

from skinfindings.data.manifest import Record, read_manifest, write_manifest
from skinfindings.findings import FINDINGS
from skinfindings.training.baselines import fit_predict, grouped_cross_validation
from skinfindings.training.bootstrap import resample_weights
from skinfindings.training.calibrate import calibrate, fit_temperature, sensitivity_threshold
from skinfindings.training.metrics import METRICS, MIN_POSITIVES, finding_metrics, not_measurable
from skinfindings.training.paired import paired_comparison
from skinfindings.training.scoring import evaluate_predictions, score_findings

F = len(FINDINGS)
PUSTULES = FINDINGS.index("pustules")


def _balanced_labels(n: int, seed: int) -> np.ndarray:
    """Every finding with plenty of both classes."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, F)) < 0.5).astype(float)
    labels[: n // 4], labels[n // 4: n // 2] = 1.0, 0.0
    return labels


def _scores(labels: np.ndarray, signal: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + signal * (labels - 0.5) + rng.normal(0, 0.2, labels.shape), 0.001, 0.999)


def _evaluate(labels, scores, groups=None, **kwargs):
    groups = groups if groups is not None else [f"g{i}" for i in range(len(labels))]
    return evaluate_predictions(labels, scores, [0.5] * F, groups, resamples=kwargs.pop("resamples", 300), **kwargs)


# --------------------------------------------------------------------------- minimum evidence


def test_the_rule_names_the_shortfall():
    assert not_measurable(np.array([1, 0, 0, 0, 0, 0, np.nan])) == "1 positive, fewer than 5"
    assert not_measurable(np.zeros(20)) == "no positives"
    assert not_measurable(np.r_[np.ones(5), np.zeros(5)]) is None
    assert not_measurable(np.r_[np.ones(20), np.zeros(4)], "positives") is None  # sensitivity needs no negatives
    assert not_measurable(np.r_[np.ones(20), np.zeros(4)], "negatives") == "4 negatives, fewer than 5"
    assert not_measurable(np.r_[np.ones(2), np.zeros(7)], "any") == "9 known labels, fewer than 10"  # ECE, Brier
    assert not_measurable(np.r_[np.ones(2), np.zeros(8)], "any") is None


def test_a_single_positive_gives_no_model_number_and_no_macro_membership():
    labels = _balanced_labels(80, seed=1)
    labels[:, PUSTULES] = 0.0
    labels[7, PUSTULES] = 1.0  # one pustules photo, as on the real set
    scores = _scores(labels, 0.4, seed=1)
    scores[7, PUSTULES] = 0.01  # ranked last: the old code reported AUROC ~0 as "measured"
    result = _evaluate(labels, scores)
    for metric in ("auroc", "ap", "sensitivity", "ppv", "npv", "f1"):
        summary = result["per_finding"]["pustules"]["metrics"][metric]
        assert summary["value"] is None and summary["na"] == "1 positive, fewer than 5", metric
        assert "pustules" not in result["macro"][metric]["findings"]
    assert result["per_finding"]["pustules"]["metrics"]["specificity"]["value"] is not None  # 79 negatives


def test_a_single_positive_gives_no_baseline_number_either():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 4))
    labels = _balanced_labels(60, seed=2)
    labels[:, PUSTULES] = 0.0
    labels[3, PUSTULES] = 1.0
    groups = [f"p{i}" for i in range(60)]
    probabilities, unmeasured, folds = grouped_cross_validation(x, labels, groups, folds=5)
    assert folds == 5 and set(unmeasured) == {"pustules"}
    assert np.isnan(probabilities[:, PUSTULES]).all() and not np.isnan(probabilities[:, 0]).any()
    weights = resample_weights(groups, 100)
    scored = score_findings(labels, probabilities, [0.5] * F, weights, np.arange(60), unmeasured=unmeasured)
    assert scored["per_finding"]["pustules"]["metrics"]["auroc"]["value"] is None
    assert "not trained in 5 of 5 folds" in scored["per_finding"]["pustules"]["metrics"]["auroc"]["na"]
    assert "pustules" not in scored["macro"]["auroc"]["findings"]


def test_a_fold_whose_training_photos_lack_evidence_makes_the_baseline_finding_not_available():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4))
    labels = _balanced_labels(40, seed=3)
    labels[:, PUSTULES] = 0.0
    labels[[0, 1, 2, 3, 4, 5], PUSTULES] = 1.0  # six positives, two of them in one patient
    groups = ["a", "a"] + [f"p{i}" for i in range(2, 40)]
    _, unmeasured, _ = grouped_cross_validation(x, labels, groups, folds=5)
    # The fold holding patient "a" trains on 4 positives: that fold cannot be trained, so the finding is n/a.
    assert "pustules" in unmeasured and "of 5 folds" in unmeasured["pustules"]
    _, untrained = fit_predict(x[6:], labels[6:], x[:6])
    assert "pustules" in untrained and "no positives" in untrained["pustules"]
    enough, untrained = fit_predict(x, labels, x)
    assert "pustules" not in untrained and np.isfinite(enough[:, PUSTULES]).all()


# --------------------------------------------------------------------------- fixed-set macro


def test_every_resample_of_a_macro_averages_the_same_findings():
    labels = _balanced_labels(90, seed=4)
    labels[:, PUSTULES] = 0.0
    labels[:6, PUSTULES] = 1.0  # six positives, all in one patient: absent from ~1/e of resamples
    groups = ["rare"] * 6 + [f"p{i}" for i in range(6, 90)]
    scores = _scores(labels, 0.6, seed=4)
    result = _evaluate(labels, scores, groups=groups, resamples=400)
    macro = result["macro"]["auroc"]
    assert macro["findings"] == list(FINDINGS)
    # Independent recomputation: per resample, the mean over all five findings, left out where one is undefined.
    weights = resample_weights(groups, 400, seed=0)
    per_finding = np.stack([finding_metrics(labels[:, i], scores[:, i], 0.5, weights)["auroc"] for i in range(F)])
    complete = ~np.isnan(per_finding).any(axis=0)
    assert 0.45 < complete.mean() < 0.8  # the lone patient is often missing
    assert macro["defined"] == pytest.approx(complete.mean(), abs=1e-4)
    expected = np.percentile(per_finding[:, complete].mean(axis=0), [2.5, 97.5])
    assert macro["ci"] == pytest.approx(expected, abs=1e-4)
    assert macro["ci"][0] <= macro["value"] <= macro["ci"][1]


# --------------------------------------------------------------------------- small-sample intervals


def _one_finding_result(labels_column: np.ndarray, scores_column: np.ndarray, groups: list[str]) -> dict:
    labels = _balanced_labels(len(labels_column), seed=5)
    scores = _scores(labels, 0.5, seed=5)
    labels[:, 0], scores[:, 0] = labels_column, scores_column
    return _evaluate(labels, scores, groups=groups)["per_finding"]["erythema"]["metrics"]


def test_all_positives_found_gives_the_clopper_pearson_interval_not_a_zero_width_one():
    y = np.r_[np.ones(5), np.zeros(55)]
    metrics = _one_finding_result(y, np.where(y > 0, 0.9, 0.1), [f"p{i}" for i in range(60)])
    sensitivity = metrics["sensitivity"]
    assert sensitivity["value"] == 1.0
    assert sensitivity["ci"] == pytest.approx([0.025 ** (1 / 5), 1.0], abs=1e-4)  # exact 5/5 bound
    assert sensitivity["ci_method"] == "clopper-pearson"
    missed = _one_finding_result(y, np.full(60, 0.1), [f"p{i}" for i in range(60)])["sensitivity"]
    assert missed["value"] == 0.0 and missed["ci"] == pytest.approx([0.0, 1 - 0.025 ** (1 / 5)], abs=1e-4)


def test_clustered_positives_count_as_their_patients():
    y = np.r_[np.ones(6), np.zeros(54)]
    groups = ["a"] * 3 + ["b"] * 3 + [f"p{i}" for i in range(6, 60)]  # six positive photos, two patients
    sensitivity = _one_finding_result(y, np.where(y > 0, 0.9, 0.1), groups)["sensitivity"]
    assert sensitivity["ci"] == pytest.approx([0.025 ** (1 / 2), 1.0], abs=1e-4)


def test_no_share_has_a_zero_width_interval_when_few_positives_are_perfectly_scored():
    for positives in (3, 5, 7):
        y = np.r_[np.ones(positives), np.zeros(40)]
        metrics = _one_finding_result(y, np.where(y > 0, 0.95, 0.05), [f"p{i}" for i in range(len(y))])
        for name, summary in metrics.items():
            if METRICS[name].share_of and summary["value"] is not None:
                low, high = summary["ci"]
                assert high - low > 0.01, (positives, name, summary)
        assert (metrics["sensitivity"]["value"] is None) == (positives < MIN_POSITIVES)


# --------------------------------------------------------------------------- subgroups


def test_subgroups_are_ranked_on_shared_findings_and_unknown_is_never_ranked():
    n = 300
    rng = np.random.default_rng(6)
    blocks, tone = [], []
    for name, signal in (("type II", 0.0), ("type V", 0.07), ("", -0.6)):
        labels = (rng.random((n, F)) < 0.5).astype(float)
        scores = _scores(labels, signal, seed=len(tone))
        if name == "type II":  # perfect on the two findings type V cannot measure
            scores[:, 3:] = np.where(labels[:, 3:] > 0, 0.9, 0.1)
        if name == "type V":
            labels[:, 3:] = 0.0  # no pustules, no hyperpigmentation in this group
        blocks.append((labels, scores))
        tone += [name] * n
    labels, scores = (np.vstack(parts) for parts in zip(*blocks))
    result = _evaluate(labels, scores, subgroups={"tone": tone}, resamples=50)["subgroups"]["tone"]
    groups = result["groups"]
    # Each group's own macro: type II averages five findings (two perfect), type V three.
    assert groups["type II"]["macro"]["auroc"]["value"] > groups["type V"]["macro"]["auroc"]["value"]
    extreme = result["extremes"]["macro"]["auroc"]
    assert extreme["worst_group"] == "type II" and extreme["best_group"] == "type V"
    assert extreme["findings"] == list(FINDINGS[:3])
    shared = {g: np.mean([groups[g]["per_finding"][f]["metrics"]["auroc"]["value"] for f in FINDINGS[:3]])
              for g in ("type II", "type V")}
    assert extreme["gap"] == pytest.approx(shared["type V"] - shared["type II"], abs=1e-3)
    assert "unknown" in groups  # reported ...
    for per_metric in result["extremes"].values():  # ... never ranked, though it is the worst by far
        for e in per_metric.values():
            assert "unknown" not in (e["worst_group"], e["best_group"])
    assert result["extremes"]["pustules"]["auroc"]["groups"] == 1  # only type II measures it


# --------------------------------------------------------------------------- paired comparison


def _paired_inputs(n: int = 120, seed: int = 7):
    labels = _balanced_labels(n, seed)
    perfect = np.where(labels > 0, 0.8, 0.2)
    random = np.random.default_rng(seed).random(labels.shape)
    return labels, perfect, random, [f"p{i}" for i in range(n)]


def test_a_model_compared_with_itself_differs_by_nothing():
    labels, _, random, groups = _paired_inputs()
    result = paired_comparison(labels, random, random, [0.5] * F, [0.5] * F, groups, resamples=200)
    for finding in FINDINGS:
        for metric, cell in result["per_finding"][finding]["metrics"].items():
            delta = cell["delta"]
            assert delta["value"] == 0.0 and delta["ci"][0] <= 0.0 <= delta["ci"][1], (finding, metric)
        assert result["per_finding"][finding]["delong"]["delta"] == 0.0
        assert result["per_finding"][finding]["delong"]["p"] == 1.0
    assert result["macro"]["auroc"]["delta"]["value"] == 0.0


def test_a_perfect_scorer_beats_a_random_one_clearly_and_delong_agrees_with_the_bootstrap():
    labels, perfect, random, groups = _paired_inputs()
    result = paired_comparison(labels, random, perfect, [0.5] * F, [0.5] * F, groups, resamples=500)
    for finding in FINDINGS:
        cell = result["per_finding"][finding]["metrics"]["auroc"]
        assert cell["b"]["value"] == 1.0
        assert cell["delta"]["value"] == pytest.approx(1.0 - cell["a"]["value"], abs=1e-4)
        assert cell["delta"]["ci"][0] > 0.2 and cell["delta"]["b_better"] == 1.0
        brier = result["per_finding"][finding]["metrics"]["brier"]["delta"]
        assert brier["value"] < 0 and brier["b_better"] == 1.0  # lower is better
        delong = result["per_finding"][finding]["delong"]
        assert delong["p"] < 0.001 and delong["ci"][0] > 0.2
        assert delong["delta"] == pytest.approx(cell["delta"]["value"], abs=1e-4)
        # Bootstrap and DeLong estimate the same standard error on independent photos.
        low, high = cell["delta"]["ci"]
        assert (high - low) / 3.92 == pytest.approx(delong["se"], rel=0.35)
    macro = result["macro"]["auroc"]
    assert macro["findings"] == list(FINDINGS) and macro["delta"]["ci"][0] > 0.2


def test_paired_comparison_uses_the_rule_and_grouped_resamples():
    labels, perfect, random, _ = _paired_inputs()
    labels[:, PUSTULES] = 0.0
    labels[0, PUSTULES] = 1.0
    groups = [f"p{i // 2}" for i in range(len(labels))]  # two photos per patient: no DeLong
    result = paired_comparison(labels, random, perfect, [0.5] * F, [0.5] * F, groups, resamples=100)
    assert result["per_finding"]["pustules"]["metrics"]["auroc"]["delta"]["value"] is None
    assert "pustules" not in result["macro"]["auroc"]["findings"]
    assert result["per_finding"]["erythema"]["delong"] is None and not result["one_photo_per_group"]


def test_paired_threshold_metrics_use_each_models_own_per_photo_thresholds():
    labels, perfect, _, groups = _paired_inputs()
    low = np.full(labels.shape, 0.1)  # B flags everything: sensitivity 1, specificity 0
    result = paired_comparison(labels, perfect, perfect, [0.5] * F, low, groups, resamples=50)
    cell = result["per_finding"]["erythema"]["metrics"]["specificity"]
    assert cell["a"]["value"] == 1.0 and cell["b"]["value"] == 0.0 and cell["delta"]["value"] == -1.0


# --------------------------------------------------------------------------- minor defects


def test_group_values_are_stripped_when_a_manifest_is_read(tmp_path):
    records = [Record(path=f"{i}.png", labels={f: 0 for f in FINDINGS}, group=g)
               for i, g in enumerate(("p1", "p1 ", " p2"))]
    manifest = read_manifest(write_manifest(tmp_path / "m.csv", records))
    assert [r.group for r in manifest.records] == ["p1", "p1", "p2"]


def test_sensitivity_threshold_accepts_every_target_from_zero_to_one():
    probs = np.array([0.2, 0.4, 0.6, 0.8, 0.1, 0.3])
    labels = np.array([1, 1, 1, 1, 0, 0])
    for target in (0.0, 0.25, 0.5, 1.0):
        threshold = sensitivity_threshold(probs, labels, target)
        sensitivity = (probs[labels == 1] >= threshold).mean()
        assert sensitivity >= target
        # Highest such threshold: any higher candidate loses a positive below the target.
        higher = probs[labels == 1][probs[labels == 1] > threshold]
        assert all((probs[labels == 1] >= h).mean() < target for h in higher) or target == 0.0
    assert (probs >= sensitivity_threshold(probs, labels, 0.0)).sum() == 0
    with pytest.raises(ValueError):
        sensitivity_threshold(probs, labels, 1.5)


def test_temperatures_beyond_the_old_grid_are_found_and_an_edge_optimum_is_reported():
    rng = np.random.default_rng(8)
    true_logits = rng.normal(0, 2, 20000)
    labels = (rng.random(20000) < 1 / (1 + np.exp(-true_logits))).astype(float)
    assert fit_temperature(10 * true_logits, labels) == pytest.approx(10, rel=0.1)  # the old grid stopped at 8
    logits = np.stack([1000 * true_logits] * F, axis=1)
    _, _, notes = calibrate(logits, np.stack([labels] * F, axis=1))
    assert all("end of the search grid" in note for note in notes.values())
    _, _, notes = calibrate(np.stack([true_logits] * F, axis=1), np.stack([labels] * F, axis=1))
    assert not any("end of the search grid" in note for note in notes.values())
