"""Group-aware splits and folds, leak detection, and near-duplicate detection across splits."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import skin_like
from PIL import Image, ImageDraw

from skinfindings.data.cli import main as data_main
from skinfindings.data.dedup import find_duplicates, hash_manifest, merge_groups, remove_duplicates
from skinfindings.data.manifest import Record, read_manifest, sha256_file, write_manifest
from skinfindings.data.splits import assign_splits, group_leaks, grouped_folds
from skinfindings.findings import FINDINGS


def _records(n_groups: int = 60, seed: int = 0) -> list[Record]:
    """Groups of 1-5 photos; a rare finding (pustules) in a few groups only."""
    rng = random.Random(seed)
    records = []
    for g in range(n_groups):
        rare = g % 12 == 0
        for k in range(rng.randint(1, 5)):
            labels = {f: 0 for f in FINDINGS} | {"erythema": rng.randint(0, 1), "pustules": int(rare)}
            records.append(Record(path=f"g{g}_{k}.jpg", sha256=f"{g:04d}{k:04d}", labels=labels, group=f"patient-{g}"))
    return records


def _splits_of_groups(records: list[Record], split_of) -> dict[str, set]:
    seen: dict[str, set] = {}
    for record, split in zip(records, split_of):
        seen.setdefault(record.group, set()).add(split)
    return seen


def test_no_group_in_two_splits_and_fractions_roughly_kept():
    records = _records()
    split = assign_splits(records, (0.7, 0.15, 0.15), seed=3)
    assert all(len(s) == 1 for s in _splits_of_groups(records, [r.split for r in split]).values())
    counts = Counter(r.split for r in split)
    for name, share in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        assert abs(counts[name] / len(records) - share) < 0.08
    assert group_leaks(split) == {}


def test_splits_are_reproducible_by_seed_and_change_with_it():
    records = _records()
    first = [r.split for r in assign_splits(records, seed=1)]
    assert first == [r.split for r in assign_splits(records, seed=1)]
    assert first != [r.split for r in assign_splits(records, seed=2)]


def test_the_same_file_under_two_groups_never_straddles_splits():
    records = _records(30)
    twin = dataclasses.replace(records[0], path="copy_of_first.jpg", group="another-patient")
    for seed in range(10):
        split = assign_splits(records + [twin], seed=seed)
        assert split[0].split == split[-1].split


def test_stratified_split_spreads_a_rare_finding_over_every_split():
    records = _records(120, seed=5)
    split = assign_splits(records, (0.6, 0.2, 0.2), seed=0, stratify=True)
    with_rare = Counter(r.split for r in split if r.labels["pustules"] == 1)
    assert set(with_rare) == {"train", "val", "test"}
    assert all(len(s) == 1 for s in _splits_of_groups(records, [r.split for r in split]).values())


def test_grouped_folds_keep_groups_whole_and_fill_every_fold():
    records = _records(40)
    folds = grouped_folds(records, k=5, seed=0, stratify=True)
    assert set(folds) == set(range(5))
    assert all(len(s) == 1 for s in _splits_of_groups(records, folds).values())
    sizes = Counter(folds).values()
    assert max(sizes) - min(sizes) <= 5  # at most one group of up to 5 photos apart
    with pytest.raises(ValueError, match="groups"):
        grouped_folds(records[:3], k=5)


def test_group_leaks_are_reported():
    records = _records(4)
    leaked = [dataclasses.replace(r, split="train" if i == 0 else "test") for i, r in enumerate(records)]
    assert f"group {records[0].group}" in group_leaks(leaked)


def _lesion_photo(seed: int, size: int = 256) -> Image.Image:
    """Skin with a few dark and red patches at random places: structure a perceptual hash can see."""
    rng = np.random.default_rng(seed)
    image = skin_like(size, seed=seed)
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.integers(0, size - 60, 2)
        w, h = rng.integers(20, 90, 2)
        colour = tuple(int(c) for c in rng.choice([(120, 70, 50), (200, 60, 60), (90, 50, 40)]))
        draw.ellipse((x, y, x + w, y + h), fill=colour)
    return image


def _jpeg(image: Image.Image, path: Path, quality: int = 90) -> Path:
    image.save(path, "JPEG", quality=quality)
    return path


def _manifest_with_copies(folder: Path) -> Path:
    """Eight different photos (train), plus a half-size recompressed copy of photo 0 and a mirrored copy of
    photo 1 in test, and a copy of photo 2 within train."""
    entries = [(_jpeg(_lesion_photo(i), folder / f"p{i}.jpg"), "train", f"g{i}") for i in range(8)]
    small = _lesion_photo(0).resize((128, 128))
    entries.append((_jpeg(small, folder / "copy_small.jpg", quality=60), "test", "g-small"))
    mirrored = _lesion_photo(1).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    entries.append((_jpeg(mirrored, folder / "copy_mirror.jpg"), "test", "g-mirror"))
    entries.append((_jpeg(_lesion_photo(2), folder / "copy_same_split.jpg", quality=70), "train", "g-same"))
    records = [Record(path=p.name, sha256=sha256_file(p), labels={}, group=g, split=s, license="CC0")
               for p, s, g in entries]
    return write_manifest(folder / "manifest.csv", records)


def test_near_duplicates_are_found_across_and_within_splits(tmp_path):
    manifest = read_manifest(_manifest_with_copies(tmp_path))
    pairs = find_duplicates(manifest, hash_manifest(manifest))
    names = {frozenset((manifest.records[p.first].path, manifest.records[p.second].path)): p for p in pairs}
    assert set(names) == {frozenset(("p0.jpg", "copy_small.jpg")), frozenset(("p1.jpg", "copy_mirror.jpg")),
                          frozenset(("p2.jpg", "copy_same_split.jpg"))}
    assert names[frozenset(("p0.jpg", "copy_small.jpg"))].cross_split
    assert not names[frozenset(("p2.jpg", "copy_same_split.jpg"))].cross_split


def test_removal_keeps_the_held_out_copy_and_merging_joins_groups(tmp_path):
    manifest = read_manifest(_manifest_with_copies(tmp_path))
    pairs = find_duplicates(manifest, hash_manifest(manifest))
    kept = {r.path for r in remove_duplicates(manifest.records, pairs)}
    assert {"copy_small.jpg", "copy_mirror.jpg", "copy_same_split.jpg", "p2.jpg"} <= kept
    assert not {"p0.jpg", "p1.jpg"} & kept
    merged = {r.path: r.group for r in merge_groups(manifest.records, pairs)}
    assert merged["p0.jpg"] == merged["copy_small.jpg"] and merged["p3.jpg"] == "g3"


def test_check_dedup_fails_on_copies_across_splits_and_passes_after_removal(tmp_path, capsys):
    path = _manifest_with_copies(tmp_path)
    assert data_main(["check", str(path), "--dedup"]) == 1
    assert "copy_small.jpg" in capsys.readouterr().err
    cleaned = tmp_path / "cleaned.csv"
    assert data_main(["dedup", str(path), "--remove", "--out", str(cleaned)]) == 0
    assert data_main(["check", str(cleaned), "--dedup"]) == 0


def test_split_command_writes_splits_and_folds_and_check_finds_a_leak(tmp_path, capsys):
    records = []
    for i in range(12):
        photo = tmp_path / "img" / f"{i}.png"
        photo.parent.mkdir(exist_ok=True)
        skin_like(40, seed=i).save(photo)
        records.append(Record(path=f"img/{i}.png", sha256=sha256_file(photo), labels={}, group=f"g{i // 2}",
                              license="CC0"))
    source = write_manifest(tmp_path / "manifest.csv", records)
    out = tmp_path / "sub" / "split.csv"
    assert data_main(["split", str(source), "--out", str(out), "--fractions", "0.5", "0.25", "0.25"]) == 0
    split = read_manifest(out)
    assert all(split.resolve(r).is_file() for r in split.records)  # paths rebased to the new folder
    assert {r.split for r in split.records} == {"train", "val", "test"} and group_leaks(split.records) == {}
    first, second = split.records[:2]  # both of group g0
    moved = dataclasses.replace(first, split="test" if second.split != "test" else "train")
    write_manifest(out, [moved] + split.records[1:])
    capsys.readouterr()
    assert data_main(["check", str(out)]) == 1
    assert "group g0" in capsys.readouterr().err
    assert data_main(["split", str(source), "--folds", "3"]) == 0
    folds = read_manifest(source)
    assert {r.extra["fold"] for r in folds.records} == {"0", "1", "2"}
    assert all(len({r.extra["fold"] for r in folds.records if r.group == g}) == 1 for g in {r.group for r in records})
