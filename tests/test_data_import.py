"""Importers on generated exports (folder, Roboflow, YOLO, COCO, SCIN, manifest), checksums, the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import skin_like

from skinfindings.data.card import render_card
from skinfindings.data.cli import main as data_main
from skinfindings.data.importers import (ClassMap, ImportOptions, import_coco, import_folder, import_manifest,
                                         import_roboflow, import_scin, import_yolo, load_class_map, merge,
                                         roboflow_source, verify_checksums)
from skinfindings.data.manifest import Manifest, ManifestError, Record, read_manifest, sha256_file, write_manifest
from skinfindings.findings import FINDINGS


def _photo(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    skin_like(48, seed=seed).save(path)
    return path


def _by_name(records: list[Record]) -> dict[str, Record]:
    return {Path(r.path).name: r for r in records}


def test_image_folder_one_folder_per_finding(tmp_path):
    _photo(tmp_path / "erythema" / "a.jpg", 1)
    _photo(tmp_path / "crusting" / "b.png", 2)
    _photo(tmp_path / "none" / "c.png", 3)
    (tmp_path / "crusting" / "a_again.jpg").write_bytes((tmp_path / "erythema" / "a.jpg").read_bytes())
    records = import_folder(tmp_path, ImportOptions(license="CC0"))
    assert len(records) == 3  # the same bytes in two folders are one photo with two findings
    named = _by_name(records)
    both = named.get("a.jpg") or named["a_again.jpg"]
    assert both.labels["erythema"] == 1 and both.labels["crusting"] == 1 and both.labels["milia"] is None
    assert named["b.png"].labels["crusting"] == 1 and named["b.png"].labels["erythema"] is None
    assert all(v == 0 for v in named["c.png"].labels.values())
    assert all(r.sha256 == sha256_file(r.path) and r.license == "CC0-1.0" for r in records)


def test_image_folder_exclusive_folders_give_negatives_for_the_folders_findings_only(tmp_path):
    _photo(tmp_path / "erythema" / "a.png", 1)
    _photo(tmp_path / "Redness-Cases" / "r.png", 2)
    _photo(tmp_path / "crusting" / "b.png", 3)
    (tmp_path / "map.csv").write_text("class,finding\nRedness Cases,erythema\n")
    options = ImportOptions(license="CC0", absent_is_negative=True, class_map=load_class_map(tmp_path / "map.csv"))
    named = _by_name(import_folder(tmp_path, options))
    assert named["r.png"].labels["erythema"] == 1 and named["r.png"].labels["crusting"] == 0
    assert named["b.png"].labels["erythema"] == 0 and named["b.png"].labels["pustules"] is None


def test_unmapped_class_names_are_an_error_naming_them(tmp_path):
    _photo(tmp_path / "acne" / "a.png", 1)
    with pytest.raises(ManifestError, match="acne"):
        import_folder(tmp_path, ImportOptions(license="CC0"))


def test_image_folder_with_a_labels_csv_and_group_pattern(tmp_path):
    _photo(tmp_path / "img" / "PAT_1_a.png", 1)
    _photo(tmp_path / "img" / "PAT_1_b.png", 2)
    _photo(tmp_path / "img" / "PAT_2_a.png", 3)
    header = "path," + ",".join(FINDINGS) + ",fitzpatrick\n"
    rows = ["img/PAT_1_a.png,1,0,,0,0,3", "img/PAT_1_b.png,0,1,0,0,0,FST4", "img/PAT_2_a.png,,,,,1,"]
    (tmp_path / "labels.csv").write_text(header + "\n".join(rows) + "\n")
    options = ImportOptions(license="CC BY 4.0", labels_csv=tmp_path / "labels.csv", group_pattern=r"^(PAT_\d+)_")
    named = _by_name(import_folder(tmp_path, options))
    assert named["PAT_1_a.png"].group == named["PAT_1_b.png"].group == "PAT_1" != named["PAT_2_a.png"].group
    assert named["PAT_1_a.png"].labels["milia"] is None and named["PAT_2_a.png"].labels["hyperpigmentation"] == 1
    assert (named["PAT_1_a.png"].fitzpatrick, named["PAT_1_b.png"].fitzpatrick) == ("III", "IV")


def test_roboflow_classification_export_carries_licence_and_groups_augmented_copies(tmp_path):
    (tmp_path / "README.dataset.txt").write_text(
        "# post-laser > 2024-01-01\nhttps://universe.roboflow.com/someone/post-laser\n\nProvided by a Roboflow user\n"
        "License: CC BY 4.0\n")
    names = ["IMG_1_jpg.rf.abc123.jpg", "IMG_1_jpg.rf.def456.jpg", "IMG_2_jpg.rf.0a1b2c.jpg"]
    for seed, name in enumerate(names):
        _photo(tmp_path / "train" / name, seed)
    _photo(tmp_path / "valid" / "IMG_3_png.rf.ffff.jpg", 9)
    (tmp_path / "train" / "_classes.csv").write_text(
        "filename, Erythema, Pustules\n" + "\n".join(f"{n}, 1, {i % 2}" for i, n in enumerate(names)) + "\n")
    (tmp_path / "valid" / "_classes.csv").write_text("filename, Erythema, Pustules\nIMG_3_png.rf.ffff.jpg, 0, 0\n")
    records = import_roboflow(tmp_path, ImportOptions())
    named = _by_name(records)
    assert named[names[0]].group == named[names[1]].group != named[names[2]].group
    assert named[names[1]].labels["pustules"] == 1 and named[names[0]].labels["pustules"] == 0
    assert named["IMG_3_png.rf.ffff.jpg"].labels["erythema"] == 0
    assert named[names[0]].labels["milia"] is None  # no class for milia: unknown, not absent
    assert {r.license for r in records} == {"CC-BY-4.0"}
    assert named[names[0]].upstream_url == "https://universe.roboflow.com/someone/post-laser"
    assert named["IMG_3_png.rf.ffff.jpg"].extra["upstream_split"] == "valid"
    with pytest.raises(ManifestError, match="export says licence CC-BY-4.0"):
        import_roboflow(tmp_path, ImportOptions(license="CC0"))


def test_roboflow_copy_names():
    assert roboflow_source("IMG_0042_jpg.rf.9f8e7d6c.jpg") == "IMG_0042_jpg"
    assert roboflow_source("IMG_0042.jpg") is None


def test_yolo_export_labels_come_from_the_box_classes(tmp_path):
    (tmp_path / "data.yaml").write_text("train: train/images\nnc: 3\nnames:\n  0: pustule\n  1: crust\n  2: face\n")
    for seed, name in enumerate(["a", "b", "c"]):
        _photo(tmp_path / "train" / "images" / f"{name}.jpg", seed)
    labels = tmp_path / "train" / "labels"
    labels.mkdir(parents=True)
    (labels / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n2 0.5 0.5 0.9 0.9\n")
    (labels / "b.txt").write_text("1 0.2 0.2 0.1 0.1\n1 0.7 0.7 0.1 0.1\n")
    # c has no label file: a background image, every mapped finding absent
    class_map = ClassMap({"pustule": "pustules", "crust": "crusting", "face": "ignore"})
    named = _by_name(import_yolo(tmp_path, ImportOptions(license="CC0", class_map=class_map)))
    assert (named["a.jpg"].labels["pustules"], named["a.jpg"].labels["crusting"]) == (1, 0)
    assert (named["b.jpg"].labels["pustules"], named["b.jpg"].labels["crusting"]) == (0, 1)
    assert (named["c.jpg"].labels["pustules"], named["c.jpg"].labels["crusting"]) == (0, 0)
    assert named["a.jpg"].labels["erythema"] is None
    (tmp_path / "data.yaml").write_text("names: ['pustule', 'crust']\n")
    (labels / "b.txt").write_text("5 0.2 0.2 0.1 0.1\n")
    with pytest.raises(ManifestError, match="not in the 2 named classes"):
        import_yolo(tmp_path, ImportOptions(license="CC0", class_map=class_map))


def test_coco_export_with_per_image_licences(tmp_path):
    for seed, name in enumerate(["a.jpg", "b.jpg"]):
        _photo(tmp_path / "train" / name, seed)
    coco = {
        "info": {"url": "https://example.org/set"},
        "licenses": [{"id": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
                     {"id": 2, "name": "CC BY-NC 4.0", "url": ""}],
        "categories": [{"id": 0, "name": "skin-findings"}, {"id": 1, "name": "milia"}, {"id": 2, "name": "Redness"}],
        "images": [{"id": 10, "file_name": "a.jpg", "license": 1}, {"id": 11, "file_name": "b.jpg", "license": 2}],
        "annotations": [{"id": 1, "image_id": 10, "category_id": 1, "bbox": [1, 1, 5, 5]},
                        {"id": 2, "image_id": 11, "category_id": 2, "bbox": [1, 1, 5, 5]}],
    }
    (tmp_path / "train" / "_annotations.coco.json").write_text(json.dumps(coco))
    options = ImportOptions(class_map=ClassMap({"redness": "erythema"}))
    named = _by_name(import_coco(tmp_path, options))
    assert (named["a.jpg"].labels["milia"], named["a.jpg"].labels["erythema"]) == (1, 0)
    assert (named["b.jpg"].labels["milia"], named["b.jpg"].labels["erythema"]) == (0, 1)
    assert (named["a.jpg"].license, named["b.jpg"].license) == ("CC-BY-4.0", "CC-BY-NC-4.0")
    assert named["a.jpg"].upstream_url == "https://example.org/set"


def test_scin_style_csv_groups_a_cases_images_and_maps_conditions(tmp_path):
    for seed, name in enumerate(["1.png", "2.png", "3.png"]):
        _photo(tmp_path / "dataset" / "images" / name, seed)
    (tmp_path / "dataset" / "scin_cases.csv").write_text(
        "case_id,image_1_path,image_2_path,image_3_path,fitzpatrick_skin_type\n"
        "c1,dataset/images/1.png,dataset/images/2.png,,FST2\n"
        "c2,dataset/images/3.png,,,NONE_SELECTED\n")
    (tmp_path / "dataset" / "scin_labels.csv").write_text(
        "case_id,dermatologist_skin_condition_on_label_name,"
        "dermatologist_fitzpatrick_skin_type_label_1,monk_skin_tone_label_us\n"
        "c1,\"['Acne', 'Eczema']\",FST3,4\n"
        "c2,\"['Post-inflammatory hyperpigmentation']\",,\n")
    class_map = ClassMap({"acne": "pustules", "post inflammatory hyperpigmentation": "hyperpigmentation"})
    with pytest.warns(UserWarning, match="Eczema"):
        named = _by_name(import_scin(tmp_path / "dataset" / "scin_cases.csv",
                                     ImportOptions(license="CC BY 4.0", class_map=class_map)))
    assert named["1.png"].group == named["2.png"].group == "case-c1" != named["3.png"].group
    assert named["1.png"].labels["pustules"] == 1 and named["1.png"].labels["erythema"] is None
    assert named["3.png"].labels["hyperpigmentation"] == 1
    assert named["1.png"].fitzpatrick == "III" and named["1.png"].extra["monk_skin_tone"] == "4"
    (tmp_path / "dataset" / "images" / "3.png").unlink()
    with pytest.raises(ManifestError, match="3.png"):
        import_scin(tmp_path / "dataset" / "scin_cases.csv", ImportOptions(license="CC0", class_map=class_map))


def _synthetic_manifest(folder: Path, n: int = 4) -> Path:
    records = []
    for i in range(n):
        path = _photo(folder / "images" / f"s{i}.png", i)
        _photo(folder / "masks" / f"s{i}.png", 100 + i)
        labels = {f: int(i % (k + 2) == 0) for k, f in enumerate(FINDINGS)}
        records.append(Record(path=f"images/s{i}.png", sha256=sha256_file(path), labels=labels, group=f"s{i}",
                              source="skinfindings synthetic", license="CC0", split=("train", "val")[i % 2],
                              extra={"mask": f"masks/s{i}.png"}))
    return write_manifest(folder / "manifest.csv", records)


def test_manifest_import_validates_checksums_and_keeps_splits(tmp_path):
    src = _synthetic_manifest(tmp_path / "synth")
    records = import_manifest(src, ImportOptions())
    assert [r.split for r in records] == ["train", "val", "train", "val"]
    assert all(Path(r.path).is_absolute() and r.license == "CC0-1.0" for r in records)
    with pytest.raises(ManifestError, match="imported twice"):
        merge([records, records])
    (tmp_path / "synth" / "images" / "s2.png").write_bytes(b"changed")
    with pytest.raises(ManifestError, match="s2.png"):
        import_manifest(src, ImportOptions())


def test_verify_checksums_names_missing_changed_and_unrecorded_files(tmp_path):
    manifest = read_manifest(_synthetic_manifest(tmp_path, n=4))
    verify_checksums(manifest)  # untouched: passes
    (tmp_path / "images" / "s0.png").unlink()
    _photo(tmp_path / "images" / "s1.png", 99)
    manifest.records[2].sha256 = ""
    with pytest.raises(ManifestError) as failed:
        verify_checksums(manifest)
    message = str(failed.value)
    for name, why in (("s0.png", "missing"), ("s1.png", "changed"), ("s2.png", "no sha256")):
        assert name in message and why in message
    assert "s3.png" not in message


def test_cli_import_writes_a_manifest_that_checks_and_a_card(tmp_path, capsys):
    src = _synthetic_manifest(tmp_path / "synth")
    out = tmp_path / "imported"
    assert data_main(["import", "manifest", str(src), "--out", str(out)]) == 0
    imported = read_manifest(out / "manifest.csv")
    assert len(imported) == 4 and data_main(["check", str(out / "manifest.csv")]) == 0
    assert all((imported.root / r.extra["mask"]).is_file() for r in imported.records)  # moved with the path
    card = tmp_path / "card.md"
    assert data_main(["card", str(out / "manifest.csv"), "--out", str(card), "--title", "Synthetic"]) == 0
    text = card.read_text()
    assert text.startswith("# Synthetic") and "skinfindings data card" in text
    assert "| skinfindings synthetic | CC0-1.0 | 4 |" in text
    positives = sum(r.labels["erythema"] == 1 for r in imported.records)
    assert f"| Redness (erythema) | {positives} | {4 - positives} | 0 |" in text
    capsys.readouterr()
    (tmp_path / "synth" / "images" / "s3.png").write_bytes(b"changed")
    assert data_main(["check", str(out / "manifest.csv")]) == 1
    assert "s3.png" in capsys.readouterr().err


def test_card_counts_skin_tones_and_flags_findings_without_enough_positives(tmp_path):
    records = [Record(path=f"{i}.png", labels={f: 0 for f in FINDINGS} | {"erythema": 1}, fitzpatrick=tone,
                      license="CC BY-NC 4.0", source="clinic")
               for i, tone in enumerate(["II", "II", "V", ""])]
    text = render_card(Manifest(tmp_path, records), "T", "cmd")
    assert "| II | 2 | 2 | 0 |" in text and "| V | 1 | 1 |" in text and "| unknown | 1 |" in text
    assert "Non-commercial" in text and "pustules (0)" in text
