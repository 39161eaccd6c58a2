"""Findings drawn on face skin as selfie-like crops, and plain crops: determinism, labels == masks, placement on
face skin only (never on eyes, brows, lips, hair or background), groups, the command line.

The portraits here are generated (a skin-coloured face with hair, a fringe, eyes, brows, lips and nostrils on a grey
background) with landmarks in the Face Research Lab template's numbering; one optional test reads a real portrait
of the shared faces set when it exists, read-only.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from skinfindings.data import composite_faces as faces
from skinfindings.data.cli import main as data_main
from skinfindings.data.manifest import Record, read_manifest, sha256_file, write_manifest
from skinfindings.data.synth import main as synth_main
from skinfindings.data.synth import unpack_masks
from skinfindings.findings import FINDINGS

SIDE = 512
UNIT = 80.0  # px between the pupils
SMILE_SHIFT = (12, 20)  # px the smiling portrait's face is moved by
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "manifest.csv"
ATTRIBUTION = "Face Research Lab London Set: DeBruine, L. & Jones, B. (2017), figshare, CC BY 4.0"


def _ellipse(centre, half_width, half_height, count, start=180.0) -> np.ndarray:
    """``count`` points clockwise on screen (left, over the top, right, back along the bottom) from ``start``."""
    angles = np.radians(start + 360.0 * np.arange(count) / count)
    return np.stack([centre[0] + half_width * np.cos(angles), centre[1] + half_height * np.sin(angles)], axis=1)


def face_points(cx: float = SIDE / 2, cy: float = 200.0) -> np.ndarray:
    """189 landmarks of a schematic frontal face, numbered as the template is (only the points the module uses)."""
    u = UNIT
    points = np.tile([cx, cy + 0.5 * u], (189, 1)).astype(float)

    def put(indices, where):
        points[list(indices)] = where

    put(faces.FACE_OUTLINE, _ellipse((cx, cy + 0.3 * u), 1.3 * u, 1.75 * u, len(faces.FACE_OUTLINE), start=165))
    put(faces.HEAD_AND_NECK, _ellipse((cx, cy + 0.2 * u), 1.6 * u, 2.4 * u, len(faces.HEAD_AND_NECK), start=110))
    pupils = [(cx - u / 2, cy), (cx + u / 2, cy)]
    put(faces.PUPILS, pupils)
    for eye, brow, (x, y) in zip(faces.EYES, faces.BROWS, pupils):
        put(eye, _ellipse((x, y), 0.3 * u, 0.12 * u, len(eye)))
        put(brow, _ellipse((x, y - 0.38 * u), 0.36 * u, 0.07 * u, len(brow)))
    put(range(50, 61), np.stack([np.full(11, cx), np.linspace(cy - 0.1 * u, cy + 0.7 * u, 11)], axis=1))
    for side, nostril in zip((-1, 1), faces.NOSTRILS):
        put(nostril, _ellipse((cx + side * 0.15 * u, cy + 0.75 * u), 0.08 * u, 0.05 * u, len(nostril)))
    put([faces.NOSE_BOTTOM], [(cx, cy + 0.8 * u)])
    put(faces.LIPS, _ellipse((cx, cy + 1.15 * u), 0.45 * u, 0.15 * u, len(faces.LIPS)))
    for side, under_eye, smile_line in ((-1, (44, 45, 46), (158, 159, 160)), (1, (49, 48, 47), (161, 162, 163))):
        x = cx + side * u / 2
        put(under_eye, [(x + side * 0.2 * u, cy + 0.35 * u), (x, cy + 0.3 * u), (x - side * 0.2 * u, cy + 0.28 * u)])
        put(smile_line, [(cx + side * 0.3 * u, cy + 0.8 * u), (cx + side * 0.4 * u, cy + 1.0 * u),
                         (cx + side * 0.5 * u, cy + 1.2 * u)])
    return points


def portrait(points: np.ndarray, seed: int, fringe: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(a portrait-like RGB image drawn around these landmarks, the mask of its hair)."""
    rng = np.random.default_rng(seed)
    image = np.full((SIDE, SIDE, 3), 190, np.float32)
    shape = (SIDE, SIDE)
    hair = faces.polygon(points[list(faces.HEAD_AND_NECK)], shape)
    neck = np.zeros(shape, bool)
    cx, chin = points[faces.FACE_OUTLINE, 0].mean(), points[faces.FACE_OUTLINE, 1].max()
    neck[int(chin) - 20:, int(cx - 0.7 * UNIT):int(cx + 0.7 * UNIT)] = True
    face = faces.polygon(points[list(faces.FACE_OUTLINE)], shape)
    skin = (face | neck)
    hair &= ~skin
    if fringe:  # hair down to just above the brows: a forehead close-up is mostly hair
        brows = points[list(faces.BROWS[0]), 1].min()
        hair |= face & (np.arange(SIDE)[:, None] < brows - 0.12 * UNIT)
        skin &= ~hair
    shading = cv2.resize(rng.normal(0, 6, (6, 6)).astype(np.float32), shape, interpolation=cv2.INTER_CUBIC)
    texture = shading[..., None] + rng.normal(0, 2.5, (SIDE, SIDE, 1))
    image[skin] = (np.array([212, 160, 134], np.float32) + texture)[skin]
    image[hair] = (np.array([112, 76, 52], np.float32) + texture)[hair]  # brown, lighter than black
    image[int(chin) + 60:] = (235, 235, 232)  # a white top
    for part, colour in ((faces.EYES[0], (235, 230, 225)), (faces.EYES[1], (235, 230, 225)),
                         (faces.BROWS[0], (70, 50, 38)), (faces.BROWS[1], (70, 50, 38)),
                         (faces.LIPS, (176, 78, 86)), (faces.NOSTRILS[0], (80, 45, 40)),
                         (faces.NOSTRILS[1], (80, 45, 40))):
        image[faces.polygon(points[list(part)], shape)] = colour
    for x, y in points[list(faces.PUPILS)]:
        cv2.circle(image, (int(x), int(y)), int(0.1 * UNIT), (70, 50, 40), -1)
    return np.clip(image, 0, 255).astype(np.uint8), hair


def _labels(**given) -> dict:
    return {name: given.get(name, 0) for name in FINDINGS}


@pytest.fixture(scope="module")
def faces_manifest(tmp_path_factory) -> Path:
    """Person 1: neutral (landmarks) and smiling (moved, no landmarks); person 2: neutral with a fringe; the set's
    own labels include a positive and unknowns."""
    folder = tmp_path_factory.mktemp("faces")
    (folder / "images").mkdir()
    points = face_points()
    smiling = points + SMILE_SHIFT
    photos = [("images/p1-neutral.jpg", portrait(points, 1)[0], "p1", "neutral",
               _labels(hyperpigmentation=1, erythema=None)),
              ("images/p1-smiling.jpg", portrait(smiling, 1)[0], "p1", "smiling", _labels(hyperpigmentation=1)),
              ("images/p2-neutral.jpg", portrait(points, 2, fringe=True)[0], "p2", "neutral",
               _labels(pustules=None, erythema=1))]
    records = []
    for path, pixels, person, expression, labels in photos:
        Image.fromarray(pixels).save(folder / path, quality=92)
        records.append(Record(path=path, sha256=sha256_file(folder / path), labels=labels, group=f"face-{person}",
                              source="Face Research Lab London Set", license="CC BY 4.0", attribution=ATTRIBUTION,
                              extra={"expression": expression, "region": "FACE"}))
    landmarks = {"p1-neutral.jpg": points.tolist(), "p2-neutral.jpg": points.tolist()}
    (folder / faces.LANDMARKS_FILE).write_text(json.dumps(landmarks), encoding="utf-8")
    return write_manifest(folder / "manifest.csv", records)


@pytest.fixture(scope="module")
def composites(faces_manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("face-composites")
    manifest, skipped = faces.face_dataset(faces_manifest, out, per_photo=10, seed=11, workers=1, progress=False)
    return read_manifest(manifest), skipped


@pytest.fixture(scope="module")
def crops(faces_manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("face-crops")
    manifest, skipped = faces.face_dataset(faces_manifest, out, per_photo=3, seed=11, workers=1, progress=False,
                                           crops_only=True)
    return read_manifest(manifest), skipped


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _masks(manifest, record) -> np.ndarray:
    return unpack_masks(np.asarray(Image.open(manifest.root / record.extra["mask"])))


def test_same_bytes_twice_and_for_any_number_of_workers(faces_manifest, composites, tmp_path):
    made, _ = composites
    again, _ = faces.face_dataset(faces_manifest, tmp_path / "a", per_photo=10, seed=11, workers=1, progress=False)
    parallel, _ = faces.face_dataset(faces_manifest, tmp_path / "b", per_photo=10, seed=11, workers=2, progress=False)
    assert _files(made.root) == _files(again.parent) == _files(parallel.parent)
    other, _ = faces.face_dataset(faces_manifest, tmp_path / "c", per_photo=10, seed=12, workers=1, progress=False)
    assert _files(other.parent) != _files(made.root)


def test_labels_are_the_crops_labels_joined_with_the_visible_drawn_masks(faces_manifest, composites):
    made, _ = composites
    portraits = {Path(r.path).name: r for r in read_manifest(faces_manifest).records}
    drawn_anywhere = set()
    assert len(made) >= 15
    for record in made.records:
        masks = _masks(made, record)
        own = portraits[Path(record.extra["base_path"]).name].labels
        drawn = set(filter(None, record.extra["drawn"].split("+")))
        drawn_anywhere |= drawn
        for i, name in enumerate(FINDINGS):
            if masks[i].any():
                assert name in drawn and record.labels[name] == 1, (record.path, name)
            else:
                assert name not in drawn
                # a portrait's positive is unknown in a crop; its 0s and unknowns stay as they are
                assert record.labels[name] == (None if own[name] == 1 else own[name]), (record.path, name)
    assert {"milia", "pustules"} <= drawn_anywhere  # the findings the real sets lack are drawn


def test_findings_lie_on_face_skin_in_their_regions_never_on_hair_or_features(faces_manifest, composites):
    made, _ = composites
    points = face_points()
    hair = {"p1-neutral.jpg": portrait(points, 1)[1], "p2-neutral.jpg": portrait(points, 2, fringe=True)[1]}
    kinds = set()
    for record in made.records:
        masks = _masks(made, record)
        height, width = masks.shape[1:]
        crop = json.loads(record.extra["params"])["crop"]
        kinds.add(crop["kind"])
        x, y, side = crop["box"]
        inside = (points - (x, y)) * (width / side)
        skin = faces.face_skin(inside, (height, width))
        hair_here = cv2.resize(hair[Path(record.extra["base_path"]).name][y:y + side, x:x + side].astype(np.uint8),
                               (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
        regions = faces.finding_regions(inside, (height, width))
        for i, name in enumerate(FINDINGS):
            if masks[i].any():
                assert not (masks[i] & ~skin).any(), (record.path, name)  # not on eyes, brows, lips, background
                assert not (masks[i] & hair_here).any(), (record.path, name)  # nor on hair, the fringe included
                assert (masks[i] & regions[name]).any(), (record.path, name)
    assert kinds == set(faces.CROP_WEIGHTS)


def test_the_drawing_changes_only_face_skin():
    points = face_points()
    photo, _ = portrait(points, 3)
    crop = faces.choose_crop(np.random.default_rng(0), faces.HEAD, points, photo.shape[:2])
    pixels, inside = faces.cut(photo, crop, points)
    result = faces.draw_on_face(5, pixels, inside, faces.skin_colour(photo, points), np.random.default_rng(1))
    assert not isinstance(result, str) and result.drawn, result  # a head-and-shoulders frame takes findings too
    changed = np.abs(result.image.astype(int) - pixels).max(axis=2) > 0
    assert changed.any() and not (changed & ~faces.face_skin(inside, pixels.shape[:2])).any()


def test_composites_follow_their_person_and_smiling_portraits_take_none(composites):
    made, skipped = composites
    assert {r.group for r in made.records} == {"face-p1", "face-p2"}
    assert all(Path(r.extra["base_path"]).name.startswith(r.group.removeprefix("face-")) for r in made.records)
    assert [path for path, _ in skipped] == ["images/p1-smiling.jpg"]
    assert "no landmarks" in skipped[0][1]


def test_plain_crops_of_every_portrait_head_first_with_the_crop_label_rule(faces_manifest, crops):
    made, skipped = crops
    portraits = read_manifest(faces_manifest).records
    assert not skipped and len(made) == 3 * len(portraits)
    for i, portrait_record in enumerate(portraits):
        rows = made.records[3 * i:3 * i + 3]
        assert [r.extra["crop"] for r in rows][0] == faces.HEAD
        assert {r.extra["crop"] for r in rows[1:]} <= set(faces.CLOSE_UP_WEIGHTS)
        for row in rows:
            assert row.group == portrait_record.group and row.extra["drawn"] == ""
            assert not _masks(made, row).any()
            assert row.labels == {k: None if v == 1 else v for k, v in portrait_record.labels.items()}
            assert faces.FACES_CREDIT in row.attribution and "renderer" not in row.attribution


def test_a_smiling_portrait_borrows_its_neutral_landmarks_where_its_face_is():
    points = face_points()
    neutral, _ = portrait(points, 1)
    smiling, _ = portrait(points + SMILE_SHIFT, 1)
    moved = faces.align(neutral, smiling, points)
    assert np.abs(moved - (points + SMILE_SHIFT)).max() <= 1 / faces.ALIGN_SCALE
    blank = np.full_like(smiling, 190)
    assert isinstance(faces.align(neutral, blank, points), str)  # nothing to match: refused with a reason


def test_command_line_writes_a_manifest_the_project_reads(faces_manifest, tmp_path, capsys):
    out = tmp_path / "cli"
    assert synth_main(["--on-faces", str(faces_manifest), "--per-photo", "2", "--out", str(out), "--seed", "3",
                       "--workers", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "face composites" in printed and "skipped 1 portrait" in printed and "drawn: erythema" in printed
    manifest = read_manifest(out / "manifest.csv")
    assert len(manifest) >= 1
    for record in manifest.records:
        assert faces.FACES_CREDIT in record.attribution and "CC0 renderer" in record.attribution
        assert record.license == "CC-BY-4.0" and record.source.startswith("skinfindings-face-composite on ")
    assert data_main(["check", str(out / "manifest.csv")]) == 0  # licences and checksums as every other set
    assert synth_main(["--on-faces", str(faces_manifest), "--crops-only", "--per-photo", "2", "--out",
                       str(tmp_path / "crops"), "--workers", "1", "--no-progress"]) == 0
    assert len(read_manifest(tmp_path / "crops" / "manifest.csv")) == 6


def test_a_manifest_without_landmarks_is_refused_with_a_clear_message(tmp_path):
    write_manifest(tmp_path / "manifest.csv", [Record(path="a.jpg", labels=_labels())])
    with pytest.raises(SystemExit, match="landmarks.json"):
        synth_main(["--on-faces", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "out")])


@pytest.mark.skipif(not REAL.is_file(), reason="the shared faces set is not here")
def test_on_a_real_portrait_findings_stay_on_its_face_skin():
    base = read_manifest(REAL)
    landmarks = faces.read_landmarks(REAL)
    record = next(r for r in base.records if Path(r.path).name in landmarks)
    photo = np.asarray(Image.open(base.resolve(record)).convert("RGB"))
    points = np.asarray(landmarks[Path(record.path).name], float)
    colour = faces.skin_colour(photo, points)
    for index, kind in enumerate(faces.CROP_WEIGHTS):
        crop = faces.choose_crop(np.random.default_rng(index), kind, points, photo.shape[:2])
        pixels, inside = faces.cut(photo, crop, points)
        result = faces.draw_on_face(index, pixels, inside, colour, np.random.default_rng(index))
        assert not isinstance(result, str) and result.drawn, kind
        skin = faces.face_skin(inside, pixels.shape[:2])
        assert not (result.masks.any(axis=0) & ~skin).any(), kind


def test_contact_sheet_shows_a_row_per_finding(composites, tmp_path):
    made, _ = composites
    sheet = faces.contact_sheet(made.root / "manifest.csv", per_finding=2, size=64)
    assert sheet.shape == (len(FINDINGS) * (64 + 16), 4 * 64, 3)
    shown = {name for i, name in enumerate(FINDINGS) if (sheet[i * 80:i * 80 + 64] < 250).any()}
    assert shown == {name for r in made.records for name in r.extra["drawn"].split("+") if name}
