"""``skinfindings synth --n 10000 --out data/synth --seed 1 [--size 256] [--workers 2]`` — render the synthetic set.

A procedural renderer of photo-like skin close-ups with per-image ground truth (labels, one mask per finding,
skin tone, every parameter and the seed). Released as CC0-1.0; see data/DATASET_CARD.md.

    sample = render_sample(seed=7)                      # one image in memory
    manifest = render_dataset(Path("out"), n=1000, seed=1)

Output: ``OUT/images/synth_000000.jpg``, ``OUT/masks/synth_000000.png`` (bit i set where FINDINGS[i] is present)
and ``OUT/manifest.csv`` in the project's manifest format. Image i depends only on (seed, i), so a set does not
change with ``--workers`` and the first k images of a larger set are the same as a set of k.
``skinfindings synth --bench 300`` times the renderer instead (CPU ms per image in one thread);
``skinfindings synth --summary OUT/manifest.csv`` prints a set's tone balance and label prevalence.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
import multiprocessing
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from skinfindings.data.manifest import FITZPATRICK_TYPES, Record, read_manifest, sha256_file, write_manifest
from skinfindings.data.synth_camera import albedo, non_skin_border, photograph, shade
from skinfindings.data.synth_findings import RENDERERS
from skinfindings.data.synth_skin import Geometry, add_hair, healthy_skin, sample_tone
from skinfindings.findings import FINDINGS

SOURCE = "skinfindings-synthetic"
LICENSE = "CC0-1.0"
ATTRIBUTION = "skin-findings synthetic renderer (CC0)"


@dataclass(frozen=True)
class SynthConfig:
    size: int = 256
    prevalence: float = 0.35  # chance of each finding, independently of the others
    field_of_view_mm: tuple[float, float] = (18.0, 60.0)  # close-up to wider view
    # For contact sheets and tests: force a Fitzpatrick type, or exactly this set of findings (prevalence unused).
    fitzpatrick: str | None = None
    findings: tuple[str, ...] | None = None


@dataclass
class Sample:
    image: np.ndarray  # HxWx3 uint8 (after the camera simulation, before JPEG)
    masks: np.ndarray  # (5, H, W) bool in FINDINGS order
    labels: list[int]
    ita: float
    fitzpatrick: str
    params: dict = field(default_factory=dict)

    @property
    def jpeg_quality(self) -> int:
        return int(self.params["camera"]["jpeg"])


def image_seed(seed: int, index: int) -> int:
    """Per-image seed from the set's seed and the image index (independent of n and of the workers)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def split_for(seed: int) -> str:
    bucket = seed % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


def render_sample(seed: int, config: SynthConfig = SynthConfig()) -> Sample:
    rng = np.random.default_rng(seed)
    tone = sample_tone(rng, config.fitzpatrick)
    fov = float(rng.uniform(*config.field_of_view_mm))
    geo = Geometry(config.size, config.size / fov)
    params: dict = {"fov_mm": round(fov, 2), "lab": [round(v, 2) for v in tone.lab]}

    skin = healthy_skin(rng, tone, geo, params)
    border = non_skin_border(rng, geo, params)
    allowed = np.ones((geo.size, geo.size), np.float32) if border is None else 1.0 - border[0]
    masks = np.zeros((len(FINDINGS), geo.size, geo.size), bool)
    for i, name in enumerate(FINDINGS):
        wanted = rng.random() < config.prevalence if config.findings is None else name in config.findings
        if wanted:
            masks[i] = RENDERERS[name](rng, skin, geo, allowed, params)
    add_hair(rng, skin, tone, geo, params)

    linear = shade(rng, skin, albedo(skin), geo, params)
    if border is not None:
        alpha, colour = border
        linear += (colour - linear) * alpha
        masks &= alpha[None] < 0.5
    image = photograph(rng, linear, geo, params)
    labels = [int(m.any()) for m in masks]
    return Sample(image, masks, labels, round(tone.ita, 2), tone.fitzpatrick, params)


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """(5, H, W) bool -> (H, W) uint8 with bit i set where finding i is present."""
    packed = np.zeros(masks.shape[1:], np.uint8)
    for i, mask in enumerate(masks):
        packed |= mask.astype(np.uint8) << i
    return packed


def unpack_masks(packed: np.ndarray) -> np.ndarray:
    return np.stack([(packed >> i) & 1 for i in range(len(FINDINGS))]).astype(bool)


def _render_and_save(job: tuple[Path, int, int, SynthConfig]) -> Record:
    out_dir, index, seed, config = job
    sample = render_sample(seed, config)
    name = f"synth_{index:06d}"
    image_path = out_dir / "images" / f"{name}.jpg"
    mask_path = out_dir / "masks" / f"{name}.png"
    Image.fromarray(sample.image).save(image_path, quality=sample.jpeg_quality)
    Image.fromarray(pack_masks(sample.masks)).save(mask_path)
    return Record(
        path=f"images/{name}.jpg",
        sha256=sha256_file(image_path),
        labels=dict(zip(FINDINGS, sample.labels)),
        group=name,
        source=SOURCE,
        license=LICENSE,
        attribution=ATTRIBUTION,
        fitzpatrick=sample.fitzpatrick,
        ita=sample.ita,
        split=split_for(seed),
        extra={"mask": f"masks/{name}.png", "seed": str(seed),
               "params": json.dumps(sample.params, separators=(",", ":"), sort_keys=True)},
    )


def render_dataset(out_dir: Path, n: int, seed: int, config: SynthConfig = SynthConfig(), workers: int = 2,
                   progress: bool = True) -> Path:
    """Render n images with their masks into out_dir and write the manifest; returns the manifest path."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    jobs = [(out_dir, i, image_seed(seed, i), config) for i in range(n)]
    records = []
    with tqdm(total=n, desc="synth", unit="img", disable=not progress) as bar:
        if workers <= 1:
            for job in jobs:
                records.append(_render_and_save(job))
                bar.update(1)
        else:
            with multiprocessing.get_context("spawn").Pool(workers, initializer=_one_thread) as pool:
                for record in pool.imap(_render_and_save, jobs, chunksize=16):  # imap keeps the order
                    records.append(record)
                    bar.update(1)
    return write_manifest(out_dir / "manifest.csv", records)


def _one_thread() -> None:
    """Workers are the parallelism; OpenCV's own threads would only fight them for the cores."""
    import cv2

    cv2.setNumThreads(1)


def benchmark(count: int, config: SynthConfig) -> tuple[float, float]:
    """(wall, CPU) milliseconds per image for render_sample in one thread; JPEG and file writing not included.

    CPU time is the fairer number on a shared machine: wall time grows with whatever else runs.
    """
    _one_thread()
    render_sample(0, config)  # warm-up: imports, caches
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        render_sample(image_seed(0, i), config)
    return (time.perf_counter() - wall) / count * 1000, (time.process_time() - cpu) / count * 1000


def summary(manifest_path: Path) -> str:
    """Tone balance, label prevalence and splits of a rendered set, as printable lines."""
    manifest = read_manifest(manifest_path)
    n = len(manifest)
    tones = Counter(r.fitzpatrick for r in manifest.records)
    labels = manifest.label_matrix()
    splits = Counter(r.split for r in manifest.records)
    itas = np.array([r.ita for r in manifest.records])
    lines = [f"{n} images in {manifest_path}",
             "tones: " + ", ".join(f"{t} {tones[t]} ({tones[t] / n:.1%})" for t in FITZPATRICK_TYPES),
             f"ITA: min {itas.min():.1f}, median {np.median(itas):.1f}, max {itas.max():.1f}",
             "labels: " + ", ".join(f"{f} {labels[:, i].mean():.1%}" for i, f in enumerate(FINDINGS)),
             f"findings per image: none {np.mean(labels.sum(1) == 0):.1%}, one {np.mean(labels.sum(1) == 1):.1%}, "
             f"two or more {np.mean(labels.sum(1) >= 2):.1%}",
             "splits: " + ", ".join(f"{k} {splits[k]}" for k in ("train", "val", "test"))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skinfindings synth", description=__doc__.split("\n\n")[1])
    parser.add_argument("--n", type=int, default=1000, help="number of images")
    parser.add_argument("--out", type=Path, help="output folder (images/, masks/, manifest.csv)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--workers", type=int, default=2, help="processes (the images do not depend on it)")
    parser.add_argument("--prevalence", type=float, default=SynthConfig.prevalence, help="chance of each finding")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--bench", type=int, metavar="N", help="time N renders at --size and exit")
    parser.add_argument("--summary", type=Path, metavar="MANIFEST", help="print tone balance and labels of a set")
    parser.add_argument("--on-real", type=Path, metavar="MANIFEST",
                        help="composite findings onto these real photos instead (data/composite.py)")
    parser.add_argument("--per-photo", type=int, default=4,
                        help="with --on-real / --on-faces: composites (or crops) per photo")
    parser.add_argument("--on-faces", type=Path, metavar="MANIFEST",
                        help="draw findings on the face skin of these portraits (landmarks.json beside the "
                             "manifest), as selfie-like crops (data/composite_faces.py)")
    parser.add_argument("--crops-only", action="store_true",
                        help="with --on-faces: plain crops of every portrait (head, then close-ups), no finding")
    args = parser.parse_args(argv)
    if args.summary:
        print(summary(args.summary))
        return 0
    config = SynthConfig(size=args.size, prevalence=args.prevalence)
    if args.bench:
        wall, cpu = benchmark(args.bench, config)
        print(f"render_sample at {args.size} px, one thread, {args.bench} images: {cpu:.1f} ms CPU per image "
              f"({wall:.1f} ms wall; JPEG/PNG writing not included)")
        return 0
    if args.out is None:
        parser.error("--out is required")
    if args.on_faces:
        from skinfindings.data.composite_faces import run

        return run(args.on_faces, args.out, args.per_photo, args.seed, args.workers, not args.no_progress,
                   args.crops_only)
    if args.on_real:
        from skinfindings.data.composite import run

        return run(args.on_real, args.out, args.per_photo, args.seed, args.workers, progress=not args.no_progress)
    manifest = render_dataset(args.out, args.n, args.seed, config, args.workers, progress=not args.no_progress)
    print(f"wrote {args.n} images and {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
