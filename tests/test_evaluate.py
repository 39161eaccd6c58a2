"""`skinfindings evaluate` and `skinfindings compare` end to end, on generated photos and the untrained checkpoint."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from skinfindings.data.manifest import Record, write_manifest
from skinfindings.findings import FINDINGS
from skinfindings.training import compare, evaluate
from skinfindings.training.evaluate import EvalConfig, evaluate_manifest
from conftest import skin_like

TONES = [("II", None), ("", 48.0), ("V", None), ("", None)]  # Fitzpatrick, ITA-only, Fitzpatrick, unknown


def _write_photos(folder, n: int, split: str, offset: int) -> list[Record]:
    rng = np.random.default_rng(offset)
    records = []
    for i in range(n):
        name = f"images/{split}_{i:02d}.png"
        labels: dict[str, int | None] = {f: int(rng.random() < 0.5) for f in FINDINGS}
        labels["erythema"] = i % 2  # both classes in every split
        labels["milia"] = None if i == 3 else int(i % 3 == 0)  # one unknown label
        fitzpatrick, ita = TONES[i % len(TONES)]
        records.append(Record(path=name, labels=labels, group=f"{split}-patient-{i // 2}", source="generated",
                              license="CC0-1.0", attribution="test fixture", fitzpatrick=fitzpatrick, ita=ita,
                              split=split, extra={"quality_a": ("good", "fair", "")[i % 3],
                                                  "pen_marks": ("yes", "no")[i % 2]}))
        skin_like(size=160, seed=offset + i).save(folder / name)
    return records


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evalset")
    (folder / "images").mkdir()
    records = _write_photos(folder, 6, "train", 100) + _write_photos(folder, 8, "test", 200)
    Image.fromarray(np.full((160, 160, 3), 8, np.uint8)).save(folder / "images/test_06.png")  # too dark
    (folder / "images/test_07.png").write_bytes(b"not a photo")  # unreadable
    return write_manifest(folder / "manifest.csv", records)


@pytest.fixture(scope="module")
def run(manifest, untrained_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval-out")
    code = evaluate.main(["--checkpoint", str(untrained_checkpoint), "--manifest", str(manifest), "--split", "test",
                          "--out", str(out), "--resamples", "50", "--by", "pen_marks", "--quiet"])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_metrics_cover_every_photo_of_the_split_and_count_abstentions(run):
    _, metrics = run
    reasons = metrics["abstention"]["reasons"]
    assert metrics["photos"] == 8 and metrics["assessed"] == 6
    assert reasons.pop("unreadable") == 1 and sum(reasons.values()) == 1  # the black photo, whatever the gate says
    assert metrics["meta"]["trained"] is False
    assert "--split test" in metrics["meta"]["command"]
    assert set(metrics["per_finding"]) == set(FINDINGS)
    assert metrics["per_finding"]["milia"]["n"] == 5  # 6 assessed, one milia label unknown


def test_subgroup_tables_hold_every_group_present(run):
    _, metrics = run
    subgroups = metrics["subgroups"]
    assert set(subgroups) == {"tone", "source", "brightness", "quality_a", "pen_marks"}
    assert list(subgroups["tone"]["groups"]) == ["type II", "type V", "ITA light", "unknown"]
    assert set(subgroups["quality_a"]["groups"]) == {"good", "fair", "unknown"}
    for sub in subgroups.values():
        assert sum(g["n"] for g in sub["groups"].values()) == metrics["assessed"]


def test_baselines_are_scored_on_the_same_photos(run):
    _, metrics = run
    assert set(metrics["baselines"]) == {"colour_texture", "prevalence"}
    assert "train split" in metrics["baselines"]["colour_texture"]["description"]
    for baseline in metrics["baselines"].values():
        assert baseline["per_finding"]["erythema"]["n"] == metrics["per_finding"]["erythema"]["n"]
    # A constant score ranks nothing: AUROC 0.5 wherever both classes are present.
    for finding in FINDINGS:
        auroc = metrics["baselines"]["prevalence"]["per_finding"][finding]["metrics"]["auroc"]
        assert auroc["value"] in (0.5, None)


def test_plots_are_written_and_not_blank(run):
    out, metrics = run
    assert set(metrics["plots"]) == {"roc", "pr", "reliability", "tone", "cooccurrence", "coverage", "errors",
                                    "decision_curve"}
    for name in metrics["plots"].values():
        with Image.open(out / name) as image:
            pixels = np.asarray(image.convert("L"))
        assert pixels.shape[0] > 100 and pixels.std() > 5, name


def test_report_renders_with_well_formed_tables_and_existing_images(run):
    out, metrics = run
    report = (out / "report.md").read_text()
    assert "not trained" in report and metrics["meta"]["command"] in report
    assert "n/a (" in report or all(s["value"] is not None for b in metrics["per_finding"].values()
                                    for s in b["metrics"].values())
    for block in re.findall(r"(?:^\|.*\|\n)+", report, flags=re.MULTILINE):
        rows = [line for line in block.splitlines()]
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
        assert len(widths) == 1, block[:200]
        assert set(rows[1]) <= set("|-")
    for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report):
        assert (out / target).is_file()


def test_report_renders_to_html_tables_and_images(run):
    markdown_it = pytest.importorskip("markdown_it")  # comes with gradio
    out, metrics = run
    report = (out / "report.md").read_text()
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(report)
    assert html.count("<table>") == report.count("\n|---") > 5  # every table parsed as one
    assert html.count("<img") == len(metrics["plots"])


def test_without_a_train_split_the_baseline_uses_grouped_cross_validation(manifest, untrained_checkpoint):
    with pytest.warns(UserWarning, match="6 of the 14 evaluated photos are in the manifest's train split"):
        result = evaluate_manifest(untrained_checkpoint, manifest, split=None, out=None,
                                   config=EvalConfig(resamples=20, plots=False))
    assert result["photos"] == 14 and "train split" in result["warnings"][0]
    assert "cross-validation" in result["baselines"]["colour_texture"]["description"]


def test_a_split_without_photos_is_refused(manifest, untrained_checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        evaluate.main(["--checkpoint", str(untrained_checkpoint), "--manifest", str(manifest), "--split", "val",
                       "--out", str(tmp_path)])
    assert stop.value.code == 2 and "no photos" in capsys.readouterr().err


def test_compare_puts_two_runs_side_by_side(run, tmp_path, capsys):
    out, metrics = run
    assert compare.main([str(out), str(out / "metrics.json"), "--out", str(tmp_path / "cmp.md")]) == 0
    text = (tmp_path / "cmp.md").read_text()
    assert "| erythema | AUROC |" in text and "B - A" in text and "not trained" in text
    with pytest.raises(SystemExit) as stop:
        compare.main([str(tmp_path / "missing"), str(out)])
    assert stop.value.code == 2 and "no metrics.json" in capsys.readouterr().err


def test_record_writes_the_headline_into_the_checkpoint_without_touching_the_weights(manifest, untrained_checkpoint,
                                                                                    tmp_path):
    from skinfindings.model.checkpoint import load_checkpoint, read_meta

    copy = tmp_path / "copy.json"
    copy.write_text(untrained_checkpoint.read_text())
    (tmp_path / "copy.safetensors").write_bytes(untrained_checkpoint.with_suffix(".safetensors").read_bytes())
    code = evaluate.main(["--checkpoint", str(copy), "--manifest", str(manifest),
                          "--out", str(tmp_path / "out"), "--resamples", "20", "--quiet", "--no-contact-sheet",
                          "--record", "fixture"])
    assert code == 0
    recorded = read_meta(copy).metrics["evaluation: fixture"]
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert recorded["photos"] == written["photos"] and recorded["assessed"] == written["assessed"]
    assert "--record fixture" in recorded["command"] and set(recorded["auroc"]) == set(FINDINGS)
    # What the About tab says in plain words: shown when present / absent, and what people were told.
    assert any(isinstance(v, float) for v in recorded["shown_when_present"].values())
    crusting = written["per_finding"]["crusting"]["metrics"]
    if crusting["sensitivity"]["value"] is not None:
        assert recorded["shown_when_present"]["crusting"] == round(crusting["sensitivity"]["value"], 4)
    if crusting["specificity"]["value"] is not None:
        assert recorded["shown_when_absent"]["crusting"] == round(1 - crusting["specificity"]["value"], 4)
    scenario = written["decisions"]["scenarios"][written["decisions"]["default"]]
    assert recorded["told"]["soon_without"] == {k: scenario["soon_without"][k] for k in ("hits", "photos")}
    load_checkpoint(copy)  # the weights' sha256 still matches


def test_every_run_writes_its_predictions_and_reading_them_back_reports_the_same(run, manifest, tmp_path):
    from skinfindings.training.predictions import read_predictions

    out, metrics = run
    predictions = read_predictions(out)
    assert predictions.kind == "checkpoint" and len(predictions.sha256) == metrics["photos"]
    assert predictions.abstained.count("") == metrics["assessed"]
    assert np.isnan(predictions.probabilities[[a != "" for a in predictions.abstained]]).all()
    assert evaluate.main(["--predictions", str(out / "predictions.csv"), "--manifest", str(manifest), "--split",
                          "test", "--out", str(tmp_path / "again"), "--resamples", "50", "--by", "pen_marks",
                          "--quiet"]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["kind"] == "checkpoint" and again["meta"]["checkpoint"] == metrics["meta"]["checkpoint"]
    for finding in FINDINGS:  # the file keeps 6 decimals of each probability
        for bin_again, bin_first in zip(again["calibration"][finding], metrics["calibration"][finding]):
            assert bin_again["n"] == bin_first["n"]
            assert bin_again["mean_probability"] == pytest.approx(bin_first["mean_probability"], abs=1e-5)
    for finding in FINDINGS:
        for metric in ("brier", "ece", "specificity"):
            first, second = (r["per_finding"][finding]["metrics"][metric] for r in (metrics, again))
            assert (second["value"] is None) == (first["value"] is None)
            assert second["value"] == pytest.approx(first["value"], abs=1e-4)


def test_compare_paired_of_a_run_with_itself_finds_no_difference(run, manifest, tmp_path):
    out, _ = run
    assert compare.main(["--paired", str(out), str(out), "--manifest", str(manifest), "--split", "test",
                         "--resamples", "30", "--out", str(tmp_path / "p.md")]) == 0
    result = json.loads((tmp_path / "p.json").read_text())
    assert result["photos_scored"] == {"manifest_rows": 8, "scored_by_both": 8, "assessed_by_both": 6}
    assert result["per_finding"]["erythema"]["n"] == 6 and result["runs"]["a"]["kind"] == "checkpoint"
    for block in result["per_finding"].values():  # six photos measure little, but A and B are the same run
        for cell in block["metrics"].values():
            assert cell["a"] == cell["b"] and cell["delta"]["value"] in (0.0, None)
