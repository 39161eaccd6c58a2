"""``skinfindings synth --on-real real/manifest.csv --per-photo 4 --out runs/composites --seed 2026`` — the
renderer's findings composited onto real photos' skin.

The synthetic renderer's own finding functions (``synth_findings.RENDERERS``) draw milia, pustules and crusts
(rarely erythema or hyperpigmentation) on blank skin layers of the photo's own skin colour; the change they make
(shaded with and without the finding, same light) is carried onto the real photo inside its skin mask, softened to
the photo's blur and given the photo's noise. Labels are the photo's own labels joined with every finding that was
drawn and is visible (non-empty mask). Composite i depends only on (seed, i) and the photo: the same bytes for
any number of workers. The photo is measured in data/composite_skin.py and matched in data/composite_match.py;
see data/DATASET_CARD.md ("Composites on real photos").
"""

from __future__ import annotations

import copy
import csv
import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from skinfindings.data.composite_match import adapt_to_photo, skin_weight, transfer
from skinfindings.data.composite_skin import PhotoStats, analyse_photo, frame_interior, srgb_to_linear
from skinfindings.data.licenses import licence_family, normalise_license
from skinfindings.data.manifest import Record, read_manifest, sha256_file, write_manifest
from skinfindings.data.photo import PhotoError, load_photo
from skinfindings.data.synth import image_seed, pack_masks
from skinfindings.data.synth_camera import albedo, shade
from skinfindings.data.synth_findings import RENDERERS
from skinfindings.data.synth_skin import Geometry, SkinLayers, lab_to_linear_rgb, linear_rgb_to_lab
from skinfindings.findings import FINDINGS

WORKING_SIDE = 384  # px, long side: training input is at most 224 px
JPEG_QUALITY = 90
FIELD_OF_VIEW_MM = (22.0, 50.0)  # across the long side: PAD-UFES-20 close-ups show a 5-15 mm lesion and its surroundings
# How often each finding is drawn: the real photos lack milia, pustules and crusts, and have redness and pigment.
DRAW_WEIGHTS = {"erythema": 0.05, "crusting": 0.3, "milia": 0.3, "pustules": 0.3, "hyperpigmentation": 0.05}
MIN_VISIBLE_PX = 6  # a finding with fewer mask pixels on skin is not visible at training size: placed again
PLACEMENT_TRIES = 6
MIN_DELTA_E = 3.0  # median colour change over a drawn finding's mask below which it does not count as visible
MIN_INSIDE_SHARE = 0.92  # of a local finding's mask (a crust, a cluster of domes) that must fall on skin
CARRIED_COLUMNS = ("pen_marks", "diagnosis", "region")  # facts about the photo that stay true of a composite
RENDERER_CREDIT = "findings drawn by skin-findings (CC0 renderer)"


@dataclass
class Composite:
    image: np.ndarray  # (H, W, 3) uint8, before JPEG
    masks: np.ndarray  # (5, H, W) bool in FINDINGS order; only drawn, visible findings
    drawn: list[str]
    params: dict


def _blank_layers(base: np.ndarray, size: int) -> SkinLayers:
    zeros = np.zeros((size, size), np.float32)
    return SkinLayers(base, zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(), overlays=[])


def _copy_layers(skin: SkinLayers) -> SkinLayers:
    return SkinLayers(skin.base, skin.melanin.copy(), skin.blood.copy(), skin.height.copy(), skin.oil.copy(),
                      list(skin.overlays))


def choose_findings(rng: np.random.Generator, draw_weights: dict[str, float] = DRAW_WEIGHTS) -> list[str]:
    """One or two different findings, in FINDINGS order (at most as many as have a weight above zero)."""
    weights = np.array([draw_weights.get(f, 0.0) for f in FINDINGS])
    count = min(int(rng.integers(1, 3)), int((weights > 0).sum()))
    picked = rng.choice(len(FINDINGS), size=count, replace=False, p=weights / weights.sum())
    return [FINDINGS[i] for i in sorted(picked)]


def _spread_out(name: str, params: dict) -> bool:
    """Findings that cover an area rather than sit in it: redness, pigment, the micro-crust grid. The skin's
    edge may cut them (the weight fades them out there); a crust or a dome cut in half looks pasted on."""
    return name in ("erythema", "hyperpigmentation") or params.get("crusting", {}).get("kind") == "microcrust"


def _placed(name: str, full: np.ndarray, on_skin: np.ndarray, params: dict, last_try: bool) -> bool:
    """Is a drawn finding visible on skin, and (unless spread out, or on the last try) almost all of it?"""
    height, width = on_skin.shape
    visible = int((full[:height, :width] & on_skin).sum())
    whole = last_try or _spread_out(name, params) or visible >= MIN_INSIDE_SHARE * full.sum()
    return visible >= MIN_VISIBLE_PX and whole


def _draw_layers(rng, base: np.ndarray, allowed: dict[str, np.ndarray], on_skin: np.ndarray, findings: list[str],
                 geo: Geometry, params: dict) -> tuple[SkinLayers, np.ndarray, list[str]]:
    """Draw each finding on blank layers, placing it again while its mask misses the skin.
    ``allowed[name]``: the canvas-sized map where that finding may be placed."""
    height, width = on_skin.shape
    skin = _blank_layers(base, geo.size)
    masks = np.zeros((len(FINDINGS), height, width), bool)
    drawn, overlays_after = [], []
    for name in findings:
        for attempt in range(PLACEMENT_TRIES):
            before, params_before = _copy_layers(skin), copy.deepcopy(params)
            full = RENDERERS[name](rng, skin, geo, allowed[name], params)
            if _placed(name, full, on_skin, params, last_try=attempt == PLACEMENT_TRIES - 1):
                masks[FINDINGS.index(name)] = full[:height, :width] & on_skin
                drawn.append(name)
                overlays_after.append(len(skin.overlays))
                break
            skin, params = before, params_before
        else:
            params.setdefault("not_placed", []).append(name)
    for name, end in zip(drawn, overlays_after):  # what a later crust or dome covers is no longer seen
        masks[FINDINGS.index(name)] &= _opacity(skin.overlays[end:], geo.size)[:height, :width] < 0.5
    return skin, masks, drawn, params


def _on_canvas(mask: np.ndarray, size: int) -> np.ndarray:
    """A photo-sized mask as the renderer's square float map (the photo is the canvas's top-left corner)."""
    canvas = np.zeros((size, size), np.float32)
    canvas[:mask.shape[0], :mask.shape[1]] = mask
    return canvas


def _opacity(overlays: list, size: int) -> np.ndarray:
    """How much of the skin these overlays hide together (0..1)."""
    clear = np.ones((size, size), np.float32)
    for _, alpha in overlays:
        clear *= 1.0 - alpha
    return 1.0 - clear


def _change(rng, skin: SkinLayers, geo: Geometry, shape: tuple[int, int], params: dict):
    """(linear-RGB ratio the findings make, their opacity), from two shadings under the same light."""
    adapt_to_photo(skin, geo, params)
    light_seed = int(rng.integers(2**63))
    plain = _blank_layers(skin.base, geo.size)
    with_findings = shade(np.random.default_rng(light_seed), skin, albedo(skin), geo, params)
    without = shade(np.random.default_rng(light_seed), plain, albedo(plain), geo, {})
    height, width = shape
    ratio = (with_findings / np.maximum(without, 1e-4))[:, :height, :width].transpose(1, 2, 0)
    return np.ascontiguousarray(ratio), np.ascontiguousarray(_opacity(skin.overlays, geo.size)[:height, :width])


def composite(seed: int, photo: np.ndarray, stats: PhotoStats, findings: list[str] | None = None,
              fov_mm: float | None = None, regions: dict[str, np.ndarray] | None = None) -> Composite:
    """Findings (chosen from the seed unless given) drawn onto one analysed working-size photo.

    ``fov_mm``: the photo's long side in millimetres when known (drawn from FIELD_OF_VIEW_MM otherwise);
    ``regions``: per finding, the (H, W) bool part of the skin where it may be placed (anywhere on skin if absent).
    """
    rng = np.random.default_rng(seed)
    findings = choose_findings(rng) if findings is None else findings
    height, width = photo.shape[:2]
    size = max(height, width)  # the renderer draws on squares; the photo is its top-left corner
    fov = float(rng.uniform(*FIELD_OF_VIEW_MM)) if fov_mm is None else float(fov_mm)
    geo = Geometry(size, size / fov)
    weight = skin_weight(stats.skin)
    on_skin = weight > 0.5
    # placed away from the frame's edge, but free to reach it: redness cut along the frame would draw a rectangle
    placeable = on_skin & frame_interior(on_skin.shape)
    allowed = {name: _on_canvas(placeable if regions is None or name not in regions else placeable & regions[name],
                                size) for name in findings}
    params: dict = {"fov_mm": round(fov, 2), "skin_lab": [round(v, 2) for v in stats.lab],
                    "blur_sigma": round(stats.blur_sigma, 3), "noise": round(stats.noise_sigma, 3)}
    base = lab_to_linear_rgb(stats.lab)
    skin, masks, drawn, params = _draw_layers(rng, base, allowed, on_skin, findings, geo, params)
    ratio, opacity = _change(rng, skin, geo, (height, width), params)
    image = transfer(rng, photo, ratio, opacity, weight, stats)
    drawn = _visible(photo, image, masks, drawn, params)
    return Composite(image, masks, drawn, params)


def _visible(photo: np.ndarray, image: np.ndarray, masks: np.ndarray, drawn: list[str], params: dict) -> list[str]:
    """The drawn findings that a person would see: a median CIE76 Delta E of at least MIN_DELTA_E between the
    composite and the photo over the mask (ivory milia on very fair, bright skin can vanish). The others lose
    their mask, so the label stays the photo's own; ``masks`` is changed in place."""
    def lab(pixels: np.ndarray) -> np.ndarray:  # only where something was drawn: Lab of whole images is slow
        return linear_rgb_to_lab(srgb_to_linear(pixels[masks.any(axis=0)]))

    shift = np.zeros(photo.shape[:2], np.float32)
    shift[masks.any(axis=0)] = np.linalg.norm(lab(image) - lab(photo), axis=1)
    seen = []
    for name in drawn:
        mask = masks[FINDINGS.index(name)]
        contrast = float(np.median(shift[mask])) if mask.sum() >= MIN_VISIBLE_PX else 0.0
        params.setdefault("delta_e", {})[name] = round(contrast, 2)
        if contrast >= MIN_DELTA_E:
            seen.append(name)
        else:
            mask[:] = False
    return seen


def working_photo(path: Path) -> np.ndarray:
    """The photo decoded safely and shrunk so its long side is at most WORKING_SIDE."""
    pixels = np.asarray(load_photo(path, draft_size=WORKING_SIDE))
    scale = WORKING_SIDE / max(pixels.shape[:2])
    if scale >= 1.0:
        return np.ascontiguousarray(pixels)
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def _short_source(source: str) -> str:
    return source.split(" (")[0].strip() or "real photos"


def composite_record(base: Record, out_dir: Path, name: str, result: Composite, seed: int, base_sha: str) -> Record:
    """Write one composite's JPEG and packed masks; its manifest row (labels: the photo's joined with the drawn)."""
    image_path, mask_path = out_dir / "images" / f"{name}.jpg", out_dir / "masks" / f"{name}.png"
    Image.fromarray(result.image).save(image_path, quality=JPEG_QUALITY)
    Image.fromarray(pack_masks(result.masks)).save(mask_path)
    labels = dict(base.labels)
    labels.update({f: 1 for f in result.drawn})  # union: a drawn, visible finding is present
    extra = {"base_sha256": base_sha, "base_path": base.path, "drawn": "+".join(result.drawn),
             "mask": f"masks/{name}.png", "seed": str(seed),
             "params": json.dumps(result.params, separators=(",", ":"), sort_keys=True)}
    extra.update({k: base.extra[k] for k in CARRIED_COLUMNS if k in base.extra})
    return Record(path=f"images/{name}.jpg", sha256=sha256_file(image_path), labels=labels,
                  group=base.group or Path(base.path).stem, source=f"skinfindings-composite on {_short_source(base.source)}",
                  license=normalise_license(base.license),
                  attribution=f"{base.attribution}; {RENDERER_CREDIT}, photo downscaled",
                  upstream_url=base.upstream_url, fitzpatrick=base.fitzpatrick, split=base.split, extra=extra)


@dataclass(frozen=True)
class PhotoJob:
    path: Path
    record: Record
    first_index: int  # composites of this photo are first_index .. first_index + per_photo - 1
    per_photo: int
    seed: int
    out_dir: Path


def why_skipped(record: Record, base_sha: str) -> str | None:
    """Why a photo may not take findings (its licence, or it is not the file its manifest names), or None."""
    licence = normalise_license(record.license)
    if "-ND" in licence_family(licence):
        return f"licence {licence} forbids derivatives"
    if record.sha256 and record.sha256 != base_sha:
        return "sha256 does not match the manifest"
    return None


def checked_photo(path: Path, record: Record, decode=working_photo) -> tuple[np.ndarray, str] | str:
    """(the photo decoded by ``decode``, its sha256), or why it may not take findings."""
    if not path.is_file():
        return "file not found"
    base_sha = sha256_file(path)
    reason = why_skipped(record, base_sha)
    if reason:
        return reason
    try:
        return decode(path), base_sha
    except PhotoError as error:  # one unreadable photo is a skipped row, not a failed run
        return f"cannot be read: {error}"


def composite_photo(job: PhotoJob) -> tuple[list[Record], str | None]:
    """All composites of one real photo, or no records and the reason it was skipped."""
    checked = checked_photo(job.path, job.record)
    if isinstance(checked, str):
        return [], checked
    photo, base_sha = checked
    stats = analyse_photo(photo)
    if isinstance(stats, str):
        return [], stats
    records = []
    for index in range(job.first_index, job.first_index + job.per_photo):
        seed = image_seed(job.seed, index)
        result = composite(seed, photo, stats)
        if result.drawn:  # when nothing fitted on the skin, a composite would only be a copy of the real photo
            records.append(composite_record(job.record, job.out_dir, f"composite_{index:06d}", result, seed, base_sha))
    return records, None if records else "no finding could be placed on its skin"


def composite_dataset(base_manifest: Path, out_dir: Path, per_photo: int, seed: int, workers: int = 2,
                      progress: bool = True) -> tuple[Path, list[tuple[str, str]]]:
    """Composites of every usable photo in a manifest; returns the manifest path and the (photo, reason) skipped."""
    base = read_manifest(base_manifest)
    out_dir = Path(out_dir)
    for folder in ("images", "masks"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    # indices follow the photo's row, so a skipped photo does not shift anyone else's composites
    jobs = [PhotoJob(base.resolve(r), r, i * per_photo, per_photo, seed, out_dir) for i, r in enumerate(base.records)]
    return run_jobs(jobs, composite_photo, out_dir, workers, progress)


def run_jobs(jobs: list, work, out_dir: Path, workers: int, progress: bool,
             desc: str = "composite") -> tuple[Path, list[tuple[str, str]]]:
    """``work(job) -> (records, reason skipped or None)`` for every job (each with a ``record``), in job order on
    any number of workers; writes OUT/manifest.csv and OUT/skipped.csv. Returns the manifest and the skipped."""
    from tqdm import tqdm

    records, skipped = [], []
    with tqdm(total=len(jobs), desc=desc, unit="photo", disable=not progress) as bar:
        for job, (done, reason) in zip(jobs, _results(jobs, work, workers)):
            records.extend(done)
            if reason:
                skipped.append((job.record.path, reason))
            bar.update(1)
    _write_skipped(Path(out_dir) / "skipped.csv", skipped)
    return write_manifest(Path(out_dir) / "manifest.csv", records), skipped


def _results(jobs: list, work, workers: int):
    if workers <= 1:
        yield from map(work, jobs)
        return
    from skinfindings.data.synth import _one_thread

    with multiprocessing.get_context("spawn").Pool(workers, initializer=_one_thread) as pool:
        yield from pool.imap(work, jobs)  # imap keeps the order


def _write_skipped(path: Path, skipped: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "reason"])
        writer.writerows(skipped)


def run(base_manifest: Path, out_dir: Path, per_photo: int, seed: int, workers: int, progress: bool) -> int:
    """The ``skinfindings synth --on-real`` command: render, then say what was made and what was skipped."""
    manifest, skipped = composite_dataset(base_manifest, out_dir, per_photo, seed, workers, progress)
    made = len(read_manifest(manifest))
    empty = (len(read_manifest(base_manifest)) - len(skipped)) * per_photo - made
    print(f"wrote {made} composites and {manifest}; skipped {len(skipped)} photo(s) (listed in "
          f"{Path(out_dir) / 'skipped.csv'}); {empty} composite(s) not written: no finding fitted on the skin")
    for path, reason in skipped:
        print(f"  skipped {path}: {reason}")
    return 0
