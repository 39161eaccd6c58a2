"""``skinfindings synth --on-faces faces/manifest.csv --per-photo 4 --out runs/face-composites --seed 2026`` — the
renderer's findings drawn onto the face skin of studio portraits, saved as selfie-like crops; with ``--crops-only``
(``--per-photo 3 --out runs/face-crops``) plain crops of every portrait, no finding drawn, as negatives.

Each item is a square crop of a portrait: the head and neck (a selfie), or a close-up of one cheek or the forehead,
chosen from the item's seed. The portrait's landmarks (``landmarks.json`` beside the manifest, the Face Research Lab
189-point template, neutral portraits only) give the face's skin (inside the face outline, without eyes, brows,
lips and nostrils; hair is then cut by colour, as on the lesion photos), the scale (the pupils are IPD_MM apart) and
where each finding is placed (FINDING_REGIONS: milia around the eyes and on the cheeks, pustules and crusts on
cheeks, forehead and chin, redness on the cheeks, dark patches on cheeks and forehead). The drawing and its
matching to the photo (light, colour cast, blur, noise) are data/composite.py's, called as they are.

Labels: the portrait's own labels, joined with every finding drawn and visible (its mask non-empty). A crop may
miss what the annotators saw elsewhere on the portrait, so a portrait's positive becomes unknown (empty) in every
crop unless it was drawn there; its 0s and unknowns stay. Findings are drawn on neutral portraits only; smiling
portraits have no landmarks, so their plain crops use the neutral portrait's landmarks of the same person, moved by
where the neutral eye-and-nose region matches best in the smiling photo. Item i depends only on (seed, i) and the
photo; ``group`` is the portrait's person.
See data/DATASET_CARD.md ("Composites on faces").
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from skinfindings.data.composite import (RENDERER_CREDIT, WORKING_SIDE, Composite, checked_photo, choose_findings,
                                         composite, composite_record, run_jobs)
from skinfindings.data.composite_match import skin_weight
from skinfindings.data.composite_skin import analyse_photo, srgb_to_linear
from skinfindings.data.manifest import Record, read_manifest
from skinfindings.data.photo import PhotoError, load_photo
from skinfindings.data.synth import image_seed
from skinfindings.data.synth_skin import linear_rgb_to_lab
from skinfindings.findings import FINDINGS

LANDMARKS_FILE = "landmarks.json"
FACES_CREDIT = "Face Research Lab London Set (DeBruine & Jones 2017), CC BY 4.0"
IPD_MM = 63.0  # adult mean interpupillary distance: what one pupil-to-pupil distance is in millimetres

# Point numbers of the Face Research Lab 189-point front-face template (the webmorphR "frl" definition).
PUPILS = (0, 1)
FACE_OUTLINE = (111, 186, 110, 185, 109, *range(134, 145), 112, 187, 113, 188, 114, *range(133, 124, -1))
HEAD_AND_NECK = (*range(145, 158), 184, 183)  # the template's oval around head, ears and upper neck
EYES = ((18, 19, 20, 21, 22, 30, 29, 28), (23, 24, 25, 26, 27, 33, 32, 31))
BROWS = ((71, 72, 73, 74, 75, 76, 84, 83), (77, 78, 79, 80, 81, 82, 86, 85))
LIPS = (87, 88, 89, 90, 91, 92, 93, 108, 107, 106, 105, 104)
NOSTRILS = ((61, 62, 63, 64, 65, 179, 180, 55), (66, 67, 68, 69, 70, 182, 181, 55))
# below the eye, beside the nose and the smile line, down to the jaw and back along the ear
CHEEKS = ((110, 44, 45, 46, 61, 158, 159, 160, 127, 126, 125, 111, 186),
          (113, 49, 48, 47, 66, 161, 162, 163, 131, 132, 133, 114, 188))
FOREHEAD = (*range(134, 145), *range(82, 70, -1))  # hairline, then the brows' upper edges back
CHIN = (87, 104, 105, 106, 107, 108, 93, 131, 130, 129, 128, 127)
NOSE_BOTTOM = 55
EYE_REGION_NOSE = (*EYES[0], *EYES[1], *BROWS[0], *BROWS[1], *range(50, 71))  # what a smile hardly moves

# Margins as shares of the interpupillary distance (about 63 mm)
FEATURE_MARGIN = 0.06  # around eyes, brows, lips, nostrils: lashes, lip line and brow hairs are not skin
AROUND_EYE = 0.25  # the ring around each eye where periorbital milia sit (about 16 mm)

# Where each finding occurs after microneedling or a laser
FINDING_REGIONS = {
    "erythema": ("cheeks",),
    "crusting": ("cheeks", "forehead", "chin"),
    "milia": ("around_eyes", "cheeks"),
    "pustules": ("cheeks", "forehead", "chin"),
    "hyperpigmentation": ("cheeks", "forehead"),
}
# The real sets have almost no milia or pustules: most composites get them
DRAW_WEIGHTS = {"erythema": 0.1, "crusting": 0.2, "milia": 0.3, "pustules": 0.3, "hyperpigmentation": 0.1}
MIN_REGION_PX = 200  # of a finding's region on skin inside the crop, below which it is not drawn there

HEAD = "head"  # the head and neck: a selfie's framing; close-ups are named by the side of the image they lie on
CROP_WEIGHTS = {HEAD: 0.3, "cheek-left": 0.25, "cheek-right": 0.25, "forehead": 0.2}  # composites
CLOSE_UP_WEIGHTS = {"cheek-left": 0.35, "cheek-right": 0.35, "forehead": 0.3}  # plain crops after the head
HEAD_MARGIN = (1.05, 1.2)  # crop side / the head oval's longer side
CLOSE_UP_SIDE = {"cheek-left": (0.9, 1.4), "cheek-right": (0.9, 1.4), "forehead": (1.0, 1.6)}  # x the IPD
FACE_WINDOW_MARGIN = 1.1  # the square findings are drawn in: the face outline's box, a little larger
CLOSE_UP_JITTER = 0.12  # of the side, the centre's random offset
MIN_ALIGNMENT = 0.5  # normalised correlation below which a smiling portrait is not matched to its neutral one
ALIGN_SCALE = 0.25  # the match runs on quarter-size grey images
CARRIED_COLUMNS = ("pen_marks", "diagnosis", "region", "expression", "age", "gender", "ethnicity")


@dataclass(frozen=True)
class FaceJob:
    path: Path
    record: Record
    landmarks: tuple | None  # (189, 2) in the photo's pixels, or None
    reference: Path | None  # the neutral portrait the landmarks belong to, when this photo is another one
    first_index: int
    per_photo: int
    seed: int
    out_dir: Path
    draw: bool  # draw findings (composites) or not (plain crops)


def polygon(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def _grown(mask: np.ndarray, radius: float) -> np.ndarray:
    size = 2 * max(1, int(round(radius))) + 1
    return cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))) > 0


def ipd(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[PUPILS[0]] - points[PUPILS[1]]))


def face_skin(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inside the face outline, less eyes, brows, lips and nostrils (each with a margin)."""
    features = np.zeros(shape, bool)
    for part in (*EYES, *BROWS, LIPS, *NOSTRILS):
        features |= polygon(points[list(part)], shape)
    return polygon(points[list(FACE_OUTLINE)], shape) & ~_grown(features, FEATURE_MARGIN * ipd(points))


def face_regions(points: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Cheeks, forehead, chin and the skin around the eyes, each a (H, W) bool mask (not yet cut to the skin)."""
    eyes = polygon(points[list(EYES[0])], shape) | polygon(points[list(EYES[1])], shape)
    return {"cheeks": polygon(points[list(CHEEKS[0])], shape) | polygon(points[list(CHEEKS[1])], shape),
            "forehead": polygon(points[list(FOREHEAD)], shape),
            "chin": polygon(points[list(CHIN)], shape),
            "around_eyes": _grown(eyes, AROUND_EYE * ipd(points)) & ~eyes}


def finding_regions(points: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per finding, where on this face it may be placed."""
    regions = face_regions(points, shape)
    return {name: np.logical_or.reduce([regions[r] for r in FINDING_REGIONS[name]]) for name in FINDINGS}


@dataclass(frozen=True)
class Crop:
    kind: str
    x: int  # left edge, in the portrait's pixels
    y: int  # top edge
    side: int


def _square(kind: str, centre: np.ndarray, side: float, shape: tuple[int, int]) -> Crop:
    """A square crop moved (not shrunk) inside the photo, shrunk only when larger than the photo."""
    height, width = shape
    side = int(round(min(side, height, width)))
    x = int(np.clip(round(centre[0] - side / 2), 0, width - side))
    y = int(np.clip(round(centre[1] - side / 2), 0, height - side))
    return Crop(kind, x, y, side)


def _box(points: np.ndarray, margin: float) -> tuple[np.ndarray, float]:
    """(centre, side) of the square around these points, its side ``margin`` times their longer extent."""
    low, high = points.min(axis=0), points.max(axis=0)
    return (low + high) / 2, float((high - low).max()) * margin


def choose_crop(rng: np.random.Generator, kind: str, points: np.ndarray, shape: tuple[int, int]) -> Crop:
    """The head and neck, or a close-up of one cheek or the forehead, sized and placed from ``rng``."""
    if kind == HEAD:
        centre, side = _box(points[list(HEAD_AND_NECK)], 1.0)
        return _square(kind, centre, side * rng.uniform(*HEAD_MARGIN), shape)
    part = {"cheek-left": CHEEKS[0], "cheek-right": CHEEKS[1], "forehead": FOREHEAD}[kind]
    side = ipd(points) * rng.uniform(*CLOSE_UP_SIDE[kind])
    centre = points[list(part)].mean(axis=0) + rng.uniform(-CLOSE_UP_JITTER, CLOSE_UP_JITTER, 2) * side
    return _square(kind, centre, side, shape)


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    share = np.array([weights[n] for n in names])
    return names[int(rng.choice(len(names), p=share / share.sum()))]


def crop_labels(labels: dict) -> dict:
    """The portrait's labels for a crop of it: a positive becomes unknown, since the annotators saw the whole
    portrait (a mole on the chest, a flush on the neck) and no crop is sure to show it; 0 and unknown stay."""
    return {name: None if value == 1 else value for name, value in labels.items()}


def cut(photo: np.ndarray, crop: Crop, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the crop at most WORKING_SIDE px, the landmarks in its pixels)."""
    pixels = photo[crop.y:crop.y + crop.side, crop.x:crop.x + crop.side]
    scale = min(1.0, WORKING_SIDE / crop.side)
    if scale < 1.0:
        side = max(1, round(crop.side * scale))
        pixels = cv2.resize(pixels, (side, side), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(pixels), (points - (crop.x, crop.y)) * scale


def skin_colour(photo: np.ndarray, points: np.ndarray) -> np.ndarray | str:
    """The portrait's median skin colour (CIE Lab) on the upper cheeks, where hair and beards rarely reach;
    a close-up is matched against it rather than its own median (a forehead under a fringe is mostly hair)."""
    shape = photo.shape[:2]
    above_nose = np.arange(shape[0])[:, None] < points[NOSE_BOTTOM, 1]
    where = face_regions(points, shape)["cheeks"] & face_skin(points, shape) & above_nose
    if where.sum() < MIN_REGION_PX:
        return "too little cheek below the eyes"
    return np.median(linear_rgb_to_lab(srgb_to_linear(photo[where])), axis=0)


def draw_on_face(seed: int, pixels: np.ndarray, points: np.ndarray, colour: np.ndarray,
                 rng: np.random.Generator) -> Composite | str:
    """The renderer's findings on this crop's face skin, or why none could be drawn.

    They are drawn within the face's own square (the face outline's box, when smaller than the crop) and put
    back: the compositor's margins and fades scale with the frame, and on a head-and-shoulders frame they would
    swallow the skin around the eyes."""
    window = _square("face", *_box(points[list(FACE_OUTLINE)], FACE_WINDOW_MARGIN), pixels.shape[:2])
    inside_window = np.s_[window.y:window.y + window.side, window.x:window.x + window.side]
    inner, points = pixels[inside_window], points - (window.x, window.y)
    shape = inner.shape[:2]
    stats = analyse_photo(inner, region=face_skin(points, shape), start=tuple(colour))
    if isinstance(stats, str):
        return stats
    regions = finding_regions(points, shape)
    placeable = skin_weight(stats.skin) > 0.5  # where composite() lets a finding sit
    weights = {name: DRAW_WEIGHTS[name] * float((regions[name] & placeable).sum() >= MIN_REGION_PX)
               for name in FINDINGS}
    if not any(weights.values()):
        return "no finding's region on skin in this crop"
    findings = choose_findings(rng, weights)
    fov_mm = max(shape) / (ipd(points) / IPD_MM)
    drawn = composite(seed, inner, stats, findings, fov_mm=fov_mm, regions=regions)
    image, masks = pixels.copy(), np.zeros((len(FINDINGS), *pixels.shape[:2]), bool)
    image[inside_window] = drawn.image
    masks[(slice(None), *inside_window)] = drawn.masks
    return Composite(image, masks, drawn.drawn, {**drawn.params, "window": [window.x, window.y, window.side]})


def align(reference: np.ndarray, photo: np.ndarray, points: np.ndarray) -> np.ndarray | str:
    """The reference portrait's landmarks moved onto another photo of the same sitting (shift only), or why not."""
    def grey(rgb: np.ndarray) -> np.ndarray:
        small = cv2.resize(rgb, None, fx=ALIGN_SCALE, fy=ALIGN_SCALE, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)

    region = points[list(EYE_REGION_NOSE)] * ALIGN_SCALE
    low = np.floor(region.min(axis=0)).astype(int)
    high = np.ceil(region.max(axis=0)).astype(int)
    template = grey(reference)[low[1]:high[1], low[0]:high[0]]
    scores = cv2.matchTemplate(grey(photo), template, cv2.TM_CCOEFF_NORMED)
    _, best, _, where = cv2.minMaxLoc(scores)
    if best < MIN_ALIGNMENT:
        return f"does not match its neutral portrait (correlation {best:.2f})"
    return points + (np.array(where) - low) / ALIGN_SCALE


def _full_size(path: Path) -> np.ndarray:
    """The portrait at the size its landmarks are in pixels of."""
    return np.asarray(load_photo(path))


def _landmarks(job: FaceJob, photo: np.ndarray) -> np.ndarray | str:
    points = np.asarray(job.landmarks, np.float64)
    if job.reference is None:
        return points
    try:
        reference = _full_size(job.reference)
    except PhotoError as error:
        return f"its neutral portrait cannot be read: {error}"
    return align(reference, photo, points)


def _item(job: FaceJob, index: int, photo: np.ndarray, points: np.ndarray, colour: np.ndarray | None,
          base_sha: str) -> Record | None:
    seed = image_seed(job.seed, index)
    rng = np.random.default_rng([seed, 1])  # a stream apart from the drawing's own (seeded by ``seed``)
    if job.draw:
        kind = _pick(rng, CROP_WEIGHTS)
    else:  # the head first, then close-ups
        kind = HEAD if index == job.first_index else _pick(rng, CLOSE_UP_WEIGHTS)
    crop = choose_crop(rng, kind, points, photo.shape[:2])
    pixels, inside = cut(photo, crop, points)
    if job.draw:
        result = draw_on_face(seed, pixels, inside, colour, rng)
        if isinstance(result, str) or not result.drawn:
            return None
    else:
        result = Composite(pixels, np.zeros((len(FINDINGS), *pixels.shape[:2]), bool), [], {})
    result.params["crop"] = {"kind": crop.kind, "box": [crop.x, crop.y, crop.side]}
    base = dataclasses.replace(job.record, labels=crop_labels(job.record.labels))
    prefix = "face_composite" if job.draw else "face_crop"
    record = composite_record(base, job.out_dir, f"{prefix}_{index:06d}", result, seed, base_sha)
    credit = f"{FACES_CREDIT}; {RENDERER_CREDIT}" if job.draw else FACES_CREDIT
    extra = {**record.extra, "crop": crop.kind, **{k: job.record.extra[k] for k in CARRIED_COLUMNS
                                                   if k in job.record.extra}}
    return dataclasses.replace(record, source=f"skinfindings-{prefix.replace('_', '-')} on {_set_name(job.record)}",
                               attribution=f"{credit}; photo cropped and downscaled", extra=extra)


def _set_name(record: Record) -> str:
    return record.source.split(" (")[0].strip() or "faces"


def face_items(job: FaceJob) -> tuple[list[Record], str | None]:
    """All crops or composites of one portrait, or no records and the reason it was skipped."""
    if job.landmarks is None:
        return [], ("no landmarks (findings are drawn on neutral portraits only)" if job.draw
                    else "no landmarks for this person")
    checked = checked_photo(job.path, job.record, decode=_full_size)
    if isinstance(checked, str):
        return [], checked
    photo, base_sha = checked
    points = _landmarks(job, photo)
    if isinstance(points, str):
        return [], points
    colour = skin_colour(photo, points) if job.draw else None
    if isinstance(colour, str):
        return [], f"no skin colour: {colour}"
    made = (_item(job, i, photo, points, colour, base_sha)
            for i in range(job.first_index, job.first_index + job.per_photo))
    records = [record for record in made if record is not None]
    return records, None if records else "no finding could be placed on its face"


def read_landmarks(manifest_path: Path) -> dict[str, list]:
    path = Path(manifest_path).parent / LANDMARKS_FILE
    if not path.is_file():
        raise SystemExit(f"skinfindings synth --on-faces: no {LANDMARKS_FILE} beside {manifest_path}")
    return json.loads(path.read_text(encoding="utf-8"))


def _jobs(manifest_path: Path, out_dir: Path, per_photo: int, seed: int, draw: bool) -> list[FaceJob]:
    base = read_manifest(manifest_path)
    landmarks = read_landmarks(manifest_path)
    # a portrait without its own landmarks borrows (for plain crops) those of its person's portrait that has them
    by_person = {r.group: r for r in base.records if Path(r.path).name in landmarks}
    jobs = []
    for i, record in enumerate(base.records):  # indices follow the row: a skipped portrait shifts nobody else
        own = Path(record.path).name in landmarks
        donor = record if own else by_person.get(record.group) if not draw else None
        points = tuple(map(tuple, landmarks[Path(donor.path).name])) if donor else None
        reference = None if own or donor is None else base.resolve(donor)
        jobs.append(FaceJob(base.resolve(record), record, points, reference, i * per_photo, per_photo, seed,
                            Path(out_dir), draw))
    return jobs


def face_dataset(manifest_path: Path, out_dir: Path, per_photo: int, seed: int, workers: int = 2,
                 progress: bool = True, crops_only: bool = False) -> tuple[Path, list[tuple[str, str]]]:
    """Composites (or, with ``crops_only``, plain crops) of every usable portrait; the manifest and the skipped."""
    out_dir = Path(out_dir)
    for folder in ("images", "masks"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    jobs = _jobs(manifest_path, out_dir, per_photo, seed, draw=not crops_only)
    desc = "face crops" if crops_only else "face composites"
    return run_jobs(jobs, face_items, out_dir, workers, progress, desc=desc)


def run(manifest_path: Path, out_dir: Path, per_photo: int, seed: int, workers: int, progress: bool,
        crops_only: bool) -> int:
    """The ``skinfindings synth --on-faces`` command: make the set, then say what was made and what was skipped."""
    if per_photo < 1:
        raise SystemExit("skinfindings synth --on-faces: --per-photo must be at least 1")
    manifest, skipped = face_dataset(manifest_path, out_dir, per_photo, seed, workers, progress, crops_only)
    made = read_manifest(manifest)
    print(f"wrote {len(made)} {'plain crops' if crops_only else 'face composites'} and {manifest}; skipped "
          f"{len(skipped)} portrait(s) (listed in {Path(out_dir) / 'skipped.csv'})")
    if not crops_only:
        empty = (len(read_manifest(manifest_path)) - len(skipped)) * per_photo - len(made)
        print(f"  {empty} composite(s) not written: no finding fitted on the face in that crop")
    for reason, count in sorted(Counter(reason for _, reason in skipped).items()):
        print(f"  {count} skipped: {reason}")
    print(summary(made))
    return 0


def summary(made) -> str:
    """Crops by kind; for composites, each finding's count and the contrast of what was drawn."""
    kinds = Counter(r.extra["crop"] for r in made.records)
    lines = ["crops: " + ", ".join(f"{k} {kinds[k]}" for k in sorted(kinds))]
    drawn = Counter(name for r in made.records for name in filter(None, r.extra["drawn"].split("+")))
    if drawn:
        contrast = [v for r in made.records for v in json.loads(r.extra["params"]).get("delta_e", {}).values()]
        lines += ["drawn: " + ", ".join(f"{name} {drawn[name]}" for name in FINDINGS),
                  f"median Delta E of a drawn finding over its mask: lowest {min(contrast):.1f}, "
                  f"1st percentile {np.percentile(contrast, 1):.1f}, median {np.median(contrast):.1f}"]
    return "\n".join(lines)


SHEET_TILE = 192  # px


def contact_sheet(manifest_path: Path, per_finding: int = 4, size: int = SHEET_TILE) -> np.ndarray:
    """One row per finding: the first ``per_finding`` composites that drew it, each as made and with the drawn
    masks outlined. Real people's faces: write it under runs/ only, never into the repository."""
    from PIL import Image

    from skinfindings.data.contact_sheet import outline_masks
    from skinfindings.data.synth import unpack_masks

    manifest = read_manifest(manifest_path)
    blank = np.full((size + 16, size, 3), 255, np.uint8)
    rows = []
    for name in FINDINGS:
        chosen = [r for r in manifest.records if name in r.extra.get("drawn", "").split("+")][:per_finding]
        tiles = []
        for record in chosen:
            image = np.asarray(load_photo(manifest.resolve(record)))
            masks = unpack_masks(np.asarray(Image.open(manifest.root / record.extra["mask"])))
            for shown in (image, outline_masks(image, masks)):
                strip = np.full((16, size, 3), 255, np.uint8)
                cv2.putText(strip, f"{record.extra['crop']}: {record.extra['drawn']}", (3, 12),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
                tiles.append(np.vstack([cv2.resize(shown, (size, size), interpolation=cv2.INTER_AREA), strip]))
        tiles += [blank] * (2 * per_finding - len(tiles))
        rows.append(np.hstack(tiles))
    return np.vstack(rows)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from PIL import Image

    parser = argparse.ArgumentParser(prog="python -m skinfindings.data.composite_faces",
                                     description="contact sheet of face composites (real faces: keep it in runs/)")
    parser.add_argument("manifest", type=Path, help="manifest.csv written by synth --on-faces")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-finding", type=int, default=4)
    args = parser.parse_args(argv)
    sheet = contact_sheet(args.manifest, args.per_finding)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, quality=85)
    print(f"wrote {args.out}: {sheet.shape[1]}x{sheet.shape[0]} px (real faces: do not commit it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
