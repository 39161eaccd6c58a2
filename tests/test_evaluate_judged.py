"""Issue 19: what `skinfindings evaluate` says about what people are told, on generated photos and the shipped
model: decision levels equal the app's own notice and the pre-sort's tiers, the overlap
warning fires on training photos, and the summary opens the report."""

from __future__ import annotations

import csv
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from skinfindings.data.manifest import Record, read_manifest, sha256_file, write_manifest
from skinfindings.findings import FINDINGS
from skinfindings.training import evaluate
from skinfindings.training.data_checks import training_photos_record
from skinfindings.training.decisions import parse_scenario

N = 14
SCENARIOS = ("unknown:", "microneedling:2", "fractional_laser:5")


def _photo(seed: int, size: int = 128) -> Image.Image:
    """Skin-toned photos that differ in colour, shading and texture, so the model's scores differ between them
    (the shading gives each photo a perceptual hash of its own)."""
    rng = np.random.default_rng(seed)
    base = np.array([200, 150, 125], np.float32) + rng.uniform(-35, 35, 3)
    y, x = np.mgrid[0:size, 0:size] / size
    shading = 25 * np.sin(2 * np.pi * (rng.uniform(0.5, 2) * x + rng.uniform(0, 1))) * np.cos(
        2 * np.pi * (rng.uniform(0.5, 2) * y + rng.uniform(0, 1)))
    noise = rng.normal(0, rng.uniform(3, 20), (size, size))
    pixels = base + (shading + noise)[..., None] + rng.normal(0, 3, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("judged")
    (folder / "images").mkdir()
    records = []
    for i in range(N):
        name = f"images/{i:02d}.png"
        _photo(i).save(folder / name)
        labels = {f: int((i + k) % 2 == 0) for k, f in enumerate(FINDINGS)}
        labels["pustules"] = int(i % 4 == 0)
        labels["erythema"] = None if i == 3 else labels["erythema"]  # one unsure label
        records.append(Record(path=name, sha256=sha256_file(folder / name), labels=labels, group=f"p{i // 2}",
                              source="generated", license="CC0-1.0", attribution="test fixture",
                              fitzpatrick=("II", "IV", "")[i % 3]))
    Image.fromarray(np.full((128, 128, 3), 6, np.uint8)).save(folder / "images/13.png")  # too dark
    records[-1].sha256 = sha256_file(folder / "images/13.png")
    return folder, write_manifest(folder / "manifest.csv", records)


@pytest.fixture(scope="module")
def checkpoint(photos, tmp_path_factory):
    """The shipped model with rule-out and rule-in points inside its score range on these photos (so they land on
    every level) and, recorded as its training photos, the first four photos."""
    from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT, read_meta
    from skinfindings.model.predictor import Predictor

    folder, manifest_path = photos
    manifest = read_manifest(manifest_path)
    probabilities = np.array([[p.probabilities[f] for f in FINDINGS] for p in
                              Predictor(DEFAULT_CHECKPOINT).predict_many(
                                  [manifest.resolve(r) for r in manifest.records[:-1]])])
    meta = read_meta(DEFAULT_CHECKPOINT)
    meta.thresholds = np.quantile(probabilities, 0.3, axis=0).tolist()
    meta.rule_in = np.quantile(probabilities, 0.7, axis=0).tolist()
    meta.training_config = {"training_photos": training_photos_record(manifest, manifest.records[:4])}
    out = tmp_path_factory.mktemp("judged-ckpt") / "levels.json"
    out.write_text(meta.to_json())
    shutil.copy(DEFAULT_CHECKPOINT.with_suffix(".safetensors"), out.with_suffix(".safetensors"))
    return out


@pytest.fixture(scope="module")
def run(photos, checkpoint, tmp_path_factory):
    _, manifest = photos
    out = tmp_path_factory.mktemp("judged-out")
    argv = ["--checkpoint", str(checkpoint), "--manifest", str(manifest), "--out", str(out), "--resamples", "40",
            "--quiet", "--no-contact-sheet"]
    for scenario in SCENARIOS:
        argv += ["--scenario", scenario]
    assert evaluate.main(argv) == 0
    with open(out / "decisions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return out, json.loads((out / "metrics.json").read_text()), rows


def test_decisions_equal_the_app_notice_and_the_presort_tier(photos, checkpoint, run):
    from skinfindings.app import check_tab, notice, presort
    from skinfindings.model.predictor import Predictor

    folder, manifest_path = photos
    _, metrics, rows = run
    manifest = read_manifest(manifest_path)
    predictor = Predictor(checkpoint)
    ours = {(row["path"], row["scenario"]): row for row in rows}
    levels_seen, tiers_seen = set(), set()
    for record in manifest.records:
        result = check_tab.analyse(predictor, manifest.resolve(record), record.path)
        levels_seen |= set(result.levels.values())
        for text in SCENARIOS:
            scenario = parse_scenario(text)
            html = notice.notice_html(predictor.meta, result, [], scenario.procedure or "unknown", scenario.day)
            level = re.search(r'sf-level-([\w-]+)', html).group(1)
            headline = re.search(r'<p class="sf-headline">(.*?)</p>', html).group(1)
            row = ours[(record.path, scenario.name)]
            assert row["notice"] == headline.replace("&#x27;", "'"), (record.path, text)
            assert row["soon"] == str(int(level in ("urgent", "review"))), (record.path, text)
            tiers_seen.add(row["tier"])
    sorted_rows = presort.presort(predictor, [folder / "images"], thumbnails=False)
    tiers = {row.name.split("/")[-1]: row.tier.key for row in sorted_rows}
    for record in manifest.records:
        assert ours[(record.path, "unknown:")]["tier"] == tiers[record.path.split("/")[-1]], record.path
    assert {"likely", "possible", "not_seen"} <= levels_seen  # the photos exercise every level
    assert len(tiers_seen) >= 3
    rates = metrics["decisions"]["scenarios"]["unknown:"]
    soon = [r for r in rows if r["scenario"] == "unknown:" and r["soon"] == "1"]
    assert rates["soon_all"]["hits"] == len(soon) and rates["soon_all"]["photos"] == N
    # A calm photo (neither crusting nor pustules labelled) that still gets a line to watch is counted.
    calm = {r.path for r in manifest.records if r.labels.get("crusting") == 0 and r.labels.get("pustules") == 0}
    watched = [r for r in rows if r["scenario"] == "unknown:" and r["path"] in calm and (r["soon"] == "1" or r["watch"])]
    assert rates["soon_or_watch_without"]["hits"] == len(watched)
    assert rates["soon_or_watch_without"]["photos"] == len(calm)


def test_overlap_warning_fires_on_the_checkpoints_training_photos(run, photos, checkpoint, tmp_path):
    _, metrics, _ = run
    overlap = metrics["data_checks"]["overlap"]
    assert overlap["exact"] == 4 and overlap["training_photos"] == 4
    assert any("4 of the 14 evaluated photos are exact copies" in w for w in metrics["warnings"])
    # A re-encoded, half-size copy of a training photo is a near-duplicate, not an exact one.
    folder, manifest_path = photos
    manifest = read_manifest(manifest_path)
    (tmp_path / "images").mkdir()
    with Image.open(manifest.resolve(manifest.records[0])) as image:
        image.resize((64, 64)).save(tmp_path / "images/copy.jpg", quality=70)
    rows = [Record(path="images/copy.jpg", labels=manifest.records[0].labels, group="x")]
    for i in (8, 9):  # photos it never trained on
        shutil.copy(manifest.resolve(manifest.records[i]), tmp_path / f"images/{i}.png")
        rows.append(Record(path=f"images/{i}.png", labels=manifest.records[i].labels, group=f"y{i}"))
    with pytest.warns(UserWarning, match="near-duplicates"):
        result = evaluate.evaluate_manifest(checkpoint, write_manifest(tmp_path / "m.csv", rows),
                                            config=evaluate.EvalConfig(resamples=10, plots=False))
    overlap = result["data_checks"]["overlap"]
    assert (overlap["exact"], overlap["near_duplicates"]) == (0, 1)
    assert "may be near-duplicates" in result["warnings"][0]


def test_no_overlap_warning_without_training_photos(photos, untrained_checkpoint):
    _, manifest = photos
    result = evaluate.evaluate_manifest(untrained_checkpoint, manifest, config=evaluate.EvalConfig(resamples=10,
                                                                                                   plots=False))
    assert result["data_checks"]["overlap"]["checked"] is False
    assert not any("training photos" in w for w in result["warnings"])


def test_report_opens_with_the_five_line_summary(run):
    out, metrics, _ = run
    lines = (out / "report.md").read_text().splitlines()
    assert lines[2] == "## Summary"
    summary = lines[4:9]
    assert [line[:3] for line in summary] == ["1. ", "2. ", "3. ", "4. ", "5. "]
    assert "macro AUROC" in summary[0] and "colour/texture baseline" in summary[1]
    assert "treatment not given" in summary[2]  # the default scenario is named
    assert "exact copies" in summary[3]  # the biggest warning: training photos
    assert "II 5, III 0, IV 5" in summary[4] and "unknown 4" in summary[4]
    for section in ("## What people are told", "## Operating points", "## Calibration judged", "## Data checks"):
        assert any(line.startswith(section) for line in lines), section
    assert (out / "decision-curve.png").is_file() and (out / "decision-table.md").is_file()


def test_refusals_by_reason_count_the_positives_they_lost(run):
    _, metrics, _ = run
    by_reason = metrics["abstention"]["by_reason"]
    refused = sum(b["photos"] for b in by_reason.values())
    assert refused == metrics["photos"] - metrics["assessed"] >= 1
    for finding in FINDINGS:
        assert sum(b["positives_lost"][finding] for b in by_reason.values()) == \
            metrics["abstention"]["positives_in_abstained"][finding]


def test_unsure_labels_counted_both_ways(run):
    _, metrics, _ = run
    unsure = metrics["data_checks"]["unsure"]
    assert unsure["unknown"] == {"erythema": 1}
    n = metrics["per_finding"]["erythema"]["n"]
    for rule in ("as_positive", "as_negative"):
        assert unsure["rules"][rule]["erythema"]["n"] == n + 1
    assert unsure["rules"]["as_positive"]["erythema"]["positives"] == metrics["per_finding"]["erythema"]["positives"] + 1


def test_a_bad_scenario_is_refused_before_any_work(photos, capsys):
    _, manifest = photos
    with pytest.raises(SystemExit) as stopped:
        evaluate.main(["--manifest", str(manifest), "--out", "unused", "--scenario", "microneedle:2"])
    assert stopped.value.code == 2
    assert "TREATMENT:DAY" in capsys.readouterr().err
    with pytest.raises(ValueError, match="whole number"):
        parse_scenario("microneedling:two")


def test_predictions_file_gives_the_same_decisions_and_a_probe_compares_paired(photos, run, tmp_path):
    """The run's own predictions.csv (with its rule-in columns) read back: the same decision per photo as the
    checkpoint run; the same file as the probe: a paired difference of exactly 0."""
    _, manifest = photos
    out, metrics, rows = run
    argv = ["--predictions", str(out / "predictions.csv"), "--manifest", str(manifest), "--out", str(tmp_path),
            "--resamples", "40", "--quiet", "--no-pixels", "--probe-predictions", str(out / "predictions.csv")]
    for scenario in SCENARIOS:
        argv += ["--scenario", scenario]
    assert evaluate.main(argv) == 0
    with open(tmp_path / "decisions.csv", newline="") as handle:
        again = list(csv.DictReader(handle))
    assert again == rows
    probe = json.loads((tmp_path / "metrics.json").read_text())["comparisons"]["probe"]
    assert probe["delta"]["value"] == 0 and probe["delta"]["ci"] == [0, 0]
    assert probe["findings"] == metrics["macro"]["auroc"]["findings"]
