"""``python -m skinfindings.data.contact_sheet --out docs/synth_contact_sheet.jpg`` — a grid of synthetic images.

One row per Fitzpatrick type (I..VI); the columns show no finding, each finding alone, and two combinations, so a
person can judge at a glance whether the renderer looks like skin on every tone and whether each finding reads as
what it is. ``--masks`` outlines the ground-truth masks (for checking labels, not for the docs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from skinfindings.data.manifest import FITZPATRICK_TYPES
from skinfindings.data.synth import SynthConfig, image_seed, render_sample
from skinfindings.findings import FINDINGS

COLUMNS: tuple[tuple[str, ...], ...] = (
    (),
    ("erythema",),
    ("crusting",),
    ("milia",),
    ("pustules",),
    ("hyperpigmentation",),
    ("erythema", "crusting"),
    ("erythema", "pustules", "hyperpigmentation"),
)
SHORT = {"erythema": "ery", "crusting": "crust", "milia": "milia", "pustules": "pust", "hyperpigmentation": "hyper"}
MASK_COLOURS = ((255, 60, 60), (255, 170, 0), (80, 220, 255), (255, 255, 0), (170, 90, 255))
CAPTION = 16


def outline_masks(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    out = image.copy()
    for mask, colour in zip(masks, MASK_COLOURS):
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour, 1)
    return out


def tile(seed: int, fitzpatrick: str, findings: tuple[str, ...], size: int, masks: bool) -> np.ndarray:
    sample = render_sample(seed, SynthConfig(size=size, fitzpatrick=fitzpatrick, findings=findings))
    image = outline_masks(sample.image, sample.masks) if masks else sample.image
    shown = [SHORT[f] for f, label in zip(FINDINGS, sample.labels) if label] or ["none"]
    caption = np.full((CAPTION, size, 3), 255, np.uint8)
    cv2.putText(caption, f"{fitzpatrick} ITA {sample.ita:.0f}: {'+'.join(shown)}", (3, CAPTION - 5),
                cv2.FONT_HERSHEY_SIMPLEX, 0.32, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([image, caption])


def contact_sheet(seed: int = 0, size: int = 160, masks: bool = False) -> np.ndarray:
    gap = 3
    rows = []
    for r, fitz in enumerate(FITZPATRICK_TYPES):
        tiles = [tile(image_seed(seed, r * len(COLUMNS) + c), fitz, findings, size, masks)
                 for c, findings in enumerate(COLUMNS)]
        row = np.full((tiles[0].shape[0], len(tiles) * (size + gap) - gap, 3), 255, np.uint8)
        for c, t in enumerate(tiles):
            row[:, c * (size + gap):c * (size + gap) + size] = t
        rows.append(row)
    spacer = np.full((gap, rows[0].shape[1], 3), 255, np.uint8)
    return np.vstack([part for row in rows for part in (row, spacer)][:-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--out", type=Path, default=Path("docs/synth_contact_sheet.jpg"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=160, help="tile side in pixels (rendered at this size)")
    parser.add_argument("--masks", action="store_true", help="outline the ground-truth masks")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality of the sheet")
    args = parser.parse_args(argv)
    sheet = contact_sheet(args.seed, args.size, args.masks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, quality=args.quality)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB, {sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
