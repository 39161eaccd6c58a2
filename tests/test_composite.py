"""Findings composited onto real-like photos: determinism, labels == masks, placement on skin only, provenance.

The "real" photos here are generated (skin colour with texture, a purple marker stroke, a dark background band);
one optional test reads the shared real set when it exists, read-only.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from skinfindings.data.composite import _visible, composite, composite_dataset, working_photo
from skinfindings.data.composite_match import colour_cast, transfer
from skinfindings.data.composite_skin import PhotoStats, analyse_photo, estimate_blur, estimate_noise
from skinfindings.data.licenses import normalise_license
from skinfindings.data.manifest import Record, read_manifest, sha256_file, write_manifest
from skinfindings.data.synth import main as synth_main
from skinfindings.data.synth import unpack_masks
from skinfindings.data.synth_skin import lab_to_linear_rgb
from skinfindings.findings import FINDINGS

WIDTH, HEIGHT = 160, 120
BACKGROUND_X = 125  # columns from here on are background (a dark blue-grey wall)
STROKE = ((30, 30), (90, 80))  # a purple marker line from, to (x, y)
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "manifest.csv"


def real_like(seed: int, stroke: bool = True, background: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array([205, 152, 128], np.float32) + rng.normal(0, 6, 3)
    shading = cv2.resize(rng.normal(0, 8, (4, 5)).astype(np.float32), (WIDTH, HEIGHT), cv2.INTER_CUBIC)
    pixels = base + shading[..., None] + rng.normal(0, 3, (HEIGHT, WIDTH, 1))
    pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    if stroke:
        cv2.line(pixels, STROKE[0], STROKE[1], (105, 55, 150), 3, cv2.LINE_AA)
    if background:
        pixels[:, BACKGROUND_X:] = (45, 52, 70)
    return pixels


def _forbidden(background: bool = True) -> np.ndarray:
    """Pen stroke (with its anti-aliased edge) and background: no finding may touch them."""
    forbidden = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.line(forbidden, STROKE[0], STROKE[1], 1, 5)
    forbidden[:, BACKGROUND_X:] = background
    return forbidden.astype(bool)


BASE_ATTRIBUTION = "PAD-UFES-20 (Pacheco et al., Data in Brief 2020), CC BY 4.0, doi:10.17632/zr7vgbcyr2.1"


@pytest.fixture(scope="module")
def base_manifest(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("real")
    photos = {"skin_a.jpg": real_like(1), "skin_b.jpg": real_like(2, background=False),
              "blue.jpg": np.full((HEIGHT, WIDTH, 3), (40, 80, 200), np.uint8)}
    labels = ({"erythema": 1, "crusting": 0, "milia": 0, "pustules": None, "hyperpigmentation": 0},
              {"erythema": None, "crusting": 1, "milia": None, "pustules": 0, "hyperpigmentation": 1},
              dict.fromkeys(FINDINGS, 0))
    records = []
    for (name, pixels), label, patient in zip(photos.items(), labels, ("p1", "p2", "p3")):
        Image.fromarray(pixels).save(folder / name, quality=92)
        records.append(Record(path=name, sha256=sha256_file(folder / name), labels=label, group=f"pad-patient-{patient}",
                              source="PAD-UFES-20 (test subset)", license="CC BY 4.0", attribution=BASE_ATTRIBUTION,
                              fitzpatrick="II", extra={"pen_marks": "yes"}))
    (folder / "broken.jpg").write_bytes(b"not a photo")
    records.append(Record(path="broken.jpg", labels=dict.fromkeys(FINDINGS, 0), group="pad-patient-p4",
                          source="PAD-UFES-20 (test subset)", license="CC BY 4.0", attribution=BASE_ATTRIBUTION))
    return write_manifest(folder / "manifest.csv", records)


@pytest.fixture(scope="module")
def made(base_manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("composites")
    manifest, skipped = composite_dataset(base_manifest, out, per_photo=3, seed=7, workers=1, progress=False)
    return read_manifest(manifest), skipped


def _folder_bytes(manifest_path: Path) -> dict[str, bytes]:
    root = manifest_path.parent
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_bytes_twice_and_for_any_number_of_workers(base_manifest, made, tmp_path):
    first = _folder_bytes(made[0].root / "manifest.csv")
    again, _ = composite_dataset(base_manifest, tmp_path / "again", 3, seed=7, workers=1, progress=False)
    parallel, _ = composite_dataset(base_manifest, tmp_path / "two", 3, seed=7, workers=2, progress=False)
    assert _folder_bytes(again) == first == _folder_bytes(parallel)
    other, _ = composite_dataset(base_manifest, tmp_path / "other", 3, seed=8, workers=1, progress=False)
    assert _folder_bytes(other)["manifest.csv"] != first["manifest.csv"]


def test_labels_are_the_union_of_the_photo_labels_and_the_visible_drawn_masks(base_manifest, made):
    manifest, _ = made
    base = {r.path: r for r in read_manifest(base_manifest).records}
    assert len(manifest) == 6  # two usable photos, three composites each
    for record in manifest.records:
        masks = unpack_masks(np.asarray(Image.open(manifest.root / record.extra["mask"])))
        drawn = set(record.extra["drawn"].split("+")) - {""}
        assert drawn and drawn <= {f for f, m in zip(FINDINGS, masks) if m.any()}
        for finding, mask in zip(FINDINGS, masks):
            expected = 1 if mask.any() else base[record.extra["base_path"]].labels[finding]
            assert record.labels[finding] == expected, (record.path, finding)
            assert mask.any() == (finding in drawn)


def test_masks_lie_on_skin_never_on_the_pen_stroke_or_background(base_manifest, made):
    manifest, _ = made
    for record in manifest.records:
        photo = working_photo(read_manifest(base_manifest).root / record.extra["base_path"])
        skin = analyse_photo(photo).skin
        masks = unpack_masks(np.asarray(Image.open(manifest.root / record.extra["mask"])))
        assert not (masks & ~skin).any()
        assert not (masks & _forbidden(background=record.extra["base_path"] == "skin_a.jpg")).any()


def test_pixels_change_only_on_skin_and_forced_findings_are_all_drawn():
    photo = real_like(3)
    stats = analyse_photo(photo)
    result = composite(11, photo, stats, findings=["crusting", "milia", "pustules"])
    assert result.drawn == ["crusting", "milia", "pustules"]
    changed = (result.image != photo).any(axis=2)
    assert changed.any() and not (changed & ~stats.skin).any()
    assert not (changed & _forbidden()).any()


def test_provenance_is_carried_over(base_manifest, made):
    manifest, _ = made
    base = {r.path: r for r in read_manifest(base_manifest).records}
    for record in manifest.records:
        source = base[record.extra["base_path"]]
        assert record.group == source.group and record.fitzpatrick == source.fitzpatrick
        assert record.extra["base_sha256"] == source.sha256 == sha256_file(read_manifest(base_manifest).resolve(source))
        assert record.license == normalise_license(source.license) == "CC-BY-4.0"
        assert record.attribution.startswith(BASE_ATTRIBUTION) and "CC0 renderer" in record.attribution
        assert record.source == "skinfindings-composite on PAD-UFES-20"
        assert record.extra["pen_marks"] == "yes"
        assert record.sha256 == sha256_file(manifest.resolve(record))


def test_a_photo_without_skin_or_unreadable_is_skipped_with_its_reason(made):
    manifest, skipped = made
    assert [path for path, _ in skipped] == ["blue.jpg", "broken.jpg"]
    assert "no skin-coloured pixels" in skipped[0][1] and "cannot be read" in skipped[1][1]
    assert "blue.jpg" not in {r.extra["base_path"] for r in manifest.records}
    assert (manifest.root / "skipped.csv").read_text().count("blue.jpg") == 1


def test_command_line_writes_composites_and_reports_skips(base_manifest, tmp_path, capsys):
    code = synth_main(["--on-real", str(base_manifest), "--per-photo", "1", "--out", str(tmp_path / "cli"),
                       "--seed", "3", "--workers", "1", "--no-progress"])
    assert code == 0
    assert len(read_manifest(tmp_path / "cli" / "manifest.csv")) == 2
    assert "skipped 2 photo(s)" in capsys.readouterr().out


def test_blur_and_noise_estimates_follow_the_photo():
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.uniform(0, 255, (40, 40)).astype(np.float32), (160, 160), interpolation=cv2.INTER_NEAREST)
    everywhere = np.ones(texture.shape, bool)
    sharp, soft = (estimate_blur(cv2.GaussianBlur(texture, (0, 0), s), everywhere) for s in (0.6, 2.0))
    assert sharp < soft and 1.2 < soft < 2.8
    flat = np.full((160, 160), 128, np.float32)
    assert estimate_noise(flat + rng.normal(0, 3, flat.shape).astype(np.float32), everywhere) == pytest.approx(3, rel=0.15)


def test_hair_stays_on_top_of_a_drawn_finding_and_nothing_changes_outside_the_weight():
    photo = np.full((40, 40, 3), (200, 150, 125), np.uint8)
    photo[20, :] = (40, 30, 25)  # a thin dark hair across the skin
    weight = np.zeros((40, 40), np.float32)
    weight[:, :30] = 1.0
    stats = PhotoStats(skin=weight > 0, lab=(65.0, 12.0, 16.0), ita=40.0, blur_sigma=0.0, noise_sigma=0.0)
    brighter = np.full((40, 40, 3), 1.5, np.float32)  # an opaque, lighter finding over everything
    out = transfer(np.random.default_rng(0), photo, brighter, np.ones((40, 40), np.float32), weight, stats)
    assert (out[5, :30] > photo[5, :30]).all()  # skin under the finding changed
    assert np.abs(out[20, 5:25].astype(int) - photo[20, 5:25]).max() <= 2  # the hair did not
    assert np.array_equal(out[:, 30:], photo[:, 30:])


def test_a_drawn_finding_that_does_not_change_the_photo_is_not_labelled():
    photo = real_like(4)
    changed = photo.copy()
    changed[10:20, 10:20] = 255  # milia drawn here; pustules "drawn" where nothing changed
    masks = np.zeros((len(FINDINGS), HEIGHT, WIDTH), bool)
    masks[FINDINGS.index("milia"), 10:20, 10:20] = True
    masks[FINDINGS.index("pustules"), 50:60, 50:60] = True
    assert _visible(photo, changed, masks, ["milia", "pustules"], {}) == ["milia"]
    assert masks[FINDINGS.index("milia")].any() and not masks[FINDINGS.index("pustules")].any()


def test_colour_cast_is_neutral_for_typical_skin_and_follows_a_cool_photo():
    assert colour_cast(lab_to_linear_rgb((60.0, 9.0, 15.0))) == pytest.approx(np.ones(3), abs=0.01)
    red, _, blue = colour_cast(lab_to_linear_rgb((60.0, 2.0, 3.0)))
    assert blue > 1.0 > red


@pytest.mark.skipif(not REAL.is_file(), reason="the shared real photos are not on this machine")
def test_on_real_photos_masks_stay_on_the_skin_mask():
    manifest = read_manifest(REAL)
    for index, record in enumerate(manifest.records[:4]):
        photo = working_photo(manifest.resolve(record))
        stats = analyse_photo(photo)
        if isinstance(stats, str):
            continue
        result = composite(index, photo, stats, findings=["milia", "pustules"])
        assert max(photo.shape[:2]) <= 384 and result.drawn
        assert not (result.masks & ~stats.skin).any()
