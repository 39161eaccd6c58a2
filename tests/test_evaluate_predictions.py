"""`skinfindings evaluate --predictions` and `skinfindings compare --paired` end to end, on a generated
manifest of small generated photos and made-up out-of-fold predictions (no model runs)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from skinfindings.data.manifest import Record, read_manifest, sha256_file, write_manifest
from skinfindings.findings import FINDINGS
from skinfindings.training import compare, evaluate
from skinfindings.training.predictions import Predictions, read_predictions, write_predictions
from conftest import skin_like

N = 36
FOLD_THRESHOLDS = (0.2, 0.5, 0.8)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oof-set")
    (folder / "images").mkdir()
    records = []
    for i in range(N):
        name = f"images/{i:02d}.png"
        labels = {f: int((i + k) % 3 == 0) for k, f in enumerate(FINDINGS)}  # 12 positives each
        labels["pustules"] = int(i == 5)  # one positive: not measurable
        skin_like(size=96, seed=i).save(folder / name)
        records.append(Record(path=name, sha256=sha256_file(folder / name), labels=labels, group=f"patient-{i // 2}",
                              source="generated", license="CC0-1.0", attribution="test fixture",
                              fitzpatrick=("II", "V", "")[i % 3]))
    Image.fromarray(np.full((96, 96, 3), 5, np.uint8)).save(folder / "images/00.png")  # too dark: abstained
    records[0].sha256 = ""  # the join falls back to the file's own checksum
    return write_manifest(folder / "manifest.csv", records)


def _predictions(manifest_path, signal: float, kind: str = "out-of-fold", seed: int = 0) -> Predictions:
    manifest = read_manifest(manifest_path)
    labels = manifest.label_matrix()
    rng = np.random.default_rng(seed)
    probabilities = np.clip(0.5 + signal * (labels - 0.5) + rng.normal(0, 0.15, labels.shape), 0.01, 0.99)
    folds = [(i // 2) % 3 for i in range(N)]  # by patient, as grouped cross-validation folds are
    thresholds = np.array([[FOLD_THRESHOLDS[f]] * len(FINDINGS) for f in folds])
    abstained = ["too_dark"] + [""] * (N - 1)
    probabilities[0] = np.nan
    return Predictions(sha256=[sha256_file(manifest.resolve(r)) for r in manifest.records],
                       paths=[r.path for r in manifest.records], probabilities=probabilities, thresholds=thresholds,
                       folds=folds if kind == "out-of-fold" else [None] * N, abstained=abstained, kind=kind,
                       about={"command": "crossval (test fixture)", "input_size": 64})


@pytest.fixture(scope="module")
def oof_run(manifest, tmp_path_factory):
    folder = tmp_path_factory.mktemp("oof")
    predictions = _predictions(manifest, signal=0.25)
    path = write_predictions(folder / "oof.csv", predictions)
    out = folder / "report"
    code = evaluate.main(["--predictions", str(path), "--manifest", str(manifest), "--out", str(out),
                          "--resamples", "60", "--quiet"])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text()), predictions


def test_out_of_fold_predictions_are_reported_like_a_checkpoint_and_marked(oof_run):
    out, metrics, _ = oof_run
    assert metrics["kind"] == "out-of-fold" and metrics["photos"] == N and metrics["assessed"] == N - 1
    assert metrics["abstention"]["reasons"] == {"too_dark": 1}
    assert metrics["thresholds"]["erythema"] == list(FOLD_THRESHOLDS)
    report = (out / "report.md").read_text()
    assert "Evaluation (out-of-fold)" in report and "Out-of-fold predictions" in report
    assert "Minimum evidence" in report and "Fixed-set macro" in report and "Paired comparison" in report
    assert set(metrics["subgroups"]) >= {"tone", "source", "brightness"}
    assert "unknown" not in metrics["subgroups"]["brightness"]["groups"] or \
        metrics["subgroups"]["brightness"]["groups"]["unknown"]["n"] == 0
    assert set(metrics["plots"]) >= {"roc", "pr", "reliability", "tone", "coverage", "errors"}
    for name in metrics["plots"].values():
        assert (out / name).is_file()
    assert read_predictions(out).kind == "out-of-fold"  # the folder can be compared paired like any run


def test_each_photo_is_scored_at_its_own_folds_threshold(oof_run):
    _, metrics, predictions = oof_run
    labels = read_manifest(metrics["meta"]["manifest"]).label_matrix()[1:, 0]
    probabilities, thresholds = predictions.probabilities[1:, 0], predictions.thresholds[1:, 0]
    reported = metrics["per_finding"]["erythema"]["metrics"]
    for flagged, agrees in ((probabilities >= thresholds, True), (probabilities >= 0.5, False)):
        sensitivity = (flagged & (labels == 1)).sum() / (labels == 1).sum()
        specificity = (~flagged & (labels == 0)).sum() / (labels == 0).sum()
        matches = (reported["sensitivity"]["value"] == pytest.approx(sensitivity, abs=1e-4)
                   and reported["specificity"]["value"] == pytest.approx(specificity, abs=1e-4))
        assert matches == agrees  # the fold thresholds, not one global threshold


def test_out_of_fold_input_keeps_the_rule_and_the_grouped_cross_validated_baseline(oof_run):
    _, metrics, _ = oof_run
    assert metrics["per_finding"]["pustules"]["metrics"]["auroc"]["value"] is None
    assert metrics["macro"]["auroc"]["findings"] == [f for f in FINDINGS if f != "pustules"]
    baseline = metrics["baselines"]["colour_texture"]
    assert "cross-validation" in baseline["description"]
    assert baseline["per_finding"]["pustules"]["metrics"]["auroc"]["value"] is None


def test_without_pixels_the_baseline_is_skipped_with_a_note(manifest, tmp_path):
    path = write_predictions(tmp_path / "oof.csv", _predictions(manifest, signal=0.5))
    code = evaluate.main(["--predictions", str(path), "--manifest", str(manifest), "--out", str(tmp_path / "r"),
                          "--resamples", "20", "--quiet", "--no-pixels"])
    assert code == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["baselines"] == {} and "skipped" in metrics["baselines_note"]
    assert "baselines skipped" in (tmp_path / "r" / "report.md").read_text()


def test_a_predictions_file_missing_a_photo_is_refused(manifest, tmp_path, capsys):
    predictions = _predictions(manifest, signal=0.25)
    short = Predictions(predictions.sha256[1:], predictions.paths[1:], predictions.probabilities[1:],
                        predictions.thresholds[1:], predictions.folds[1:], predictions.abstained[1:], "out-of-fold")
    path = write_predictions(tmp_path / "short.csv", short)
    with pytest.raises(SystemExit) as stop:
        evaluate.main(["--predictions", str(path), "--manifest", str(manifest), "--out", str(tmp_path / "r")])
    assert stop.value.code == 2 and "no row" in capsys.readouterr().err


def test_compare_paired_end_to_end(manifest, oof_run, tmp_path):
    out, _, _ = oof_run
    strong = write_predictions(tmp_path / "strong.csv", _predictions(manifest, signal=0.95, seed=1))
    code = compare.main(["--paired", str(out.parent / "oof.csv"), str(strong), "--manifest", str(manifest),
                         "--resamples", "200", "--out", str(tmp_path / "paired.md")])
    assert code == 0
    result = json.loads((tmp_path / "paired.json").read_text())
    assert result["photos_scored"] == {"manifest_rows": N, "scored_by_both": N, "assessed_by_both": N - 1}
    assert not result["one_photo_per_group"]  # two photos per patient: bootstrap only
    erythema = result["per_finding"]["erythema"]["metrics"]["auroc"]
    assert erythema["b"]["value"] > erythema["a"]["value"] and erythema["delta"]["value"] > 0
    assert result["per_finding"]["pustules"]["metrics"]["auroc"]["delta"]["value"] is None
    text = (tmp_path / "paired.md").read_text()
    assert "| erythema | AUROC |" in text and "B - A" in text
    assert "macro (erythema, crusting, milia, hyperpigmentation)" in text
    # The same file against itself: no difference at all.
    code = compare.main(["--paired", str(strong), str(strong), "--manifest", str(manifest), "--resamples", "50",
                         "--out", str(tmp_path / "self.md")])
    self_result = json.loads((tmp_path / "self.json").read_text())
    assert self_result["macro"]["auroc"]["delta"]["value"] == 0.0
    assert self_result["macro"]["auroc"]["delta"]["ci"] == [0.0, 0.0]


def test_compare_paired_needs_a_manifest(oof_run, capsys):
    out, _, _ = oof_run
    with pytest.raises(SystemExit) as stop:
        compare.main(["--paired", str(out.parent / "oof.csv"), str(out.parent / "oof.csv")])
    assert stop.value.code == 2 and "--manifest" in capsys.readouterr().err
