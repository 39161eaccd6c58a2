"""The synthetic renderer: determinism, label/mask agreement, tone balance, coverage, output format."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from skinfindings.data.manifest import FITZPATRICK_TYPES, read_manifest, sha256_file
from skinfindings.data.photo import load_photo
from skinfindings.data.synth import (SynthConfig, image_seed, main, pack_masks, render_dataset, render_sample,
                                     split_for, unpack_masks)
from skinfindings.data.synth_skin import (HAEMOGLOBIN, MELANIN, fitzpatrick_for_ita, lab_to_linear_rgb,
                                          linear_rgb_to_lab, sample_tone, visible_density)
from skinfindings.findings import FINDINGS
from skinfindings.model.quality import assess

SMALL = SynthConfig(size=112)


@pytest.fixture(scope="module")
def samples():
    return [render_sample(image_seed(3, i), SMALL) for i in range(60)]


def test_same_seed_same_pixels_and_different_seed_different_pixels():
    first, again, other = render_sample(11, SMALL), render_sample(11, SMALL), render_sample(12, SMALL)
    assert np.array_equal(first.image, again.image) and np.array_equal(first.masks, again.masks)
    assert first.params == again.params
    assert not np.array_equal(first.image, other.image)


def test_dataset_bytes_do_not_depend_on_workers_or_n(tmp_path):
    one = render_dataset(tmp_path / "one", n=6, seed=5, config=SMALL, workers=1, progress=False)
    two = render_dataset(tmp_path / "two", n=6, seed=5, config=SMALL, workers=2, progress=False)
    fewer = render_dataset(tmp_path / "fewer", n=4, seed=5, config=SMALL, workers=1, progress=False)
    assert one.read_bytes() == two.read_bytes()
    for name in ("images/synth_000003.jpg", "masks/synth_000003.png"):
        assert (one.parent / name).read_bytes() == (two.parent / name).read_bytes()
        assert (one.parent / name).read_bytes() == (fewer.parent / name).read_bytes()
    other = render_dataset(tmp_path / "other", n=1, seed=6, config=SMALL, workers=1, progress=False)
    first = "images/synth_000000.jpg"
    assert (other.parent / first).read_bytes() != (one.parent / first).read_bytes()


def test_a_label_is_one_exactly_when_its_mask_is_not_empty(samples):
    for sample in samples:
        assert sample.masks.shape == (len(FINDINGS), SMALL.size, SMALL.size) and sample.masks.dtype == bool
        assert sample.labels == [int(mask.any()) for mask in sample.masks]
        assert sample.image.shape == (SMALL.size, SMALL.size, 3) and sample.image.dtype == np.uint8


def test_every_finding_and_every_tone_appears(samples):
    labels = np.array([s.labels for s in samples])
    assert (labels.sum(axis=0) > 0).all(), dict(zip(FINDINGS, labels.sum(axis=0)))
    assert (labels.sum(axis=1) == 0).any(), "negatives (no finding) must appear too"
    assert (labels.sum(axis=1) >= 2).any(), "several findings in one image must appear too"
    assert set(s.fitzpatrick for s in samples) == set(FITZPATRICK_TYPES)


@pytest.mark.parametrize("finding", FINDINGS)
def test_a_forced_finding_is_rendered_on_every_tone(finding):
    for tone in FITZPATRICK_TYPES:
        sample = render_sample(image_seed(1, FITZPATRICK_TYPES.index(tone)),
                               SynthConfig(size=112, fitzpatrick=tone, findings=(finding,)))
        assert sample.fitzpatrick == tone
        present = {f for f, label in zip(FINDINGS, sample.labels) if label}
        # a non-skin border may cover a finding entirely; then the label must say so
        assert present <= {finding}
        assert present == {finding} or "border" in sample.params


def test_tone_sampler_is_balanced_across_the_six_types():
    rng = np.random.default_rng(0)
    tones = [sample_tone(rng) for _ in range(6000)]
    counts = Counter(t.fitzpatrick for t in tones)
    for fitz in FITZPATRICK_TYPES:
        assert abs(counts[fitz] / len(tones) - 1 / 6) < 0.02, counts
    assert all(fitzpatrick_for_ita(t.ita) == t.fitzpatrick for t in tones)
    itas = np.array([t.ita for t in tones])
    assert itas.min() < -30 and itas.max() > 55


def test_lab_round_trip_and_the_visibility_floor():
    for lab in [(80, 8, 14), (60, 10, 18), (40, 9, 20), (25, 8, 21)]:
        assert np.allclose(linear_rgb_to_lab(lab_to_linear_rgb(lab)), lab, atol=0.3)
        base = lab_to_linear_rgb(lab)
        for absorber in (HAEMOGLOBIN, MELANIN):
            density = visible_density(base, absorber, 7.0)
            moved = linear_rgb_to_lab(base * np.exp(-density * absorber))
            assert 7.0 <= np.linalg.norm(moved - linear_rgb_to_lab(base)) < 8.0


def test_rendered_photos_pass_the_quality_gate():
    """Training images the app would refuse (too dark, blurred, not skin) would teach nothing.

    At 224 px, the size the model (and so the gate) sees."""
    for i in range(12):
        sample = render_sample(image_seed(4, i), SynthConfig(size=224))
        abstention, _ = assess(sample.image, (224, 224))
        assert abstention is None, (abstention, sample.params)


def test_mask_packing_round_trips(samples):
    for sample in samples[:10]:
        assert np.array_equal(unpack_masks(pack_masks(sample.masks)), sample.masks)


def test_cli_writes_a_valid_manifest(tmp_path):
    out = tmp_path / "synth"
    assert main(["--n", "8", "--out", str(out), "--seed", "2", "--size", "96", "--workers", "1",
                 "--no-progress"]) == 0
    manifest = read_manifest(out / "manifest.csv")
    assert len(manifest) == 8
    for record in manifest.records:
        path = manifest.resolve(record)
        assert record.path == f"images/{path.stem}.jpg" and record.group == path.stem
        assert record.sha256 == sha256_file(path)
        assert record.source == "skinfindings-synthetic" and record.license == "CC0-1.0"
        assert record.split in ("train", "val", "test")
        assert record.fitzpatrick == fitzpatrick_for_ita(record.ita)
        assert load_photo(path).size == (96, 96)
        masks = unpack_masks(np.asarray(Image.open(manifest.root / record.extra["mask"])))
        assert [record.labels[f] for f in FINDINGS] == [int(m.any()) for m in masks]
        params = json.loads(record.extra["params"])
        assert 70 <= params["camera"]["jpeg"] <= 95
        again = render_sample(int(record.extra["seed"]), SynthConfig(size=96))
        assert again.labels == [record.labels[f] for f in FINDINGS]


def test_splits_are_roughly_80_10_10():
    splits = Counter(split_for(image_seed(0, i)) for i in range(3000))
    assert abs(splits["train"] / 3000 - 0.8) < 0.03 and abs(splits["val"] / 3000 - 0.1) < 0.02
