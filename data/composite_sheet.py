"""``python -m skinfindings.data.composite_sheet --real ../shared/data/real/manifest.csv
--out docs/composite_contact_sheet.jpg`` — before/after crops of findings composited onto real photos.

One row per drawn finding (milia, pustules, crusting); each column pair is one real photo before and after, the
photos chosen from lightest to darkest estimated skin tone so the sheet shows the range. The crops come from
CC BY 4.0 photos (PAD-UFES-20), so the sheet is CC BY 4.0 too and says so in its footer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from skinfindings.data.composite import composite, working_photo
from skinfindings.data.composite_skin import analyse_photo
from skinfindings.data.contact_sheet import outline_masks
from skinfindings.data.manifest import read_manifest
from skinfindings.data.synth import image_seed
from skinfindings.findings import FINDINGS

ROWS = ("milia", "pustules", "crusting")
CROP = 150  # px of the working-size photo around the drawn finding
CAPTION = 18
SHEET_QUALITY = 85  # JPEG quality of the sheet
FOOTER = ("Photos: PAD-UFES-20 (Pacheco et al., Data in Brief 2020, doi:10.17632/zr7vgbcyr2.1), CC BY 4.0. "
          "Findings drawn by skin-findings (CC0 renderer). Sheet: CC BY 4.0.")


def pick_photos(manifest_path: Path, count: int) -> list[tuple[str, np.ndarray, object]]:
    """``count`` usable photos of different patients, evenly spread from the lightest to the darkest skin."""
    manifest = read_manifest(manifest_path)
    usable, patients = [], set()
    for record in manifest.records:
        if record.group in patients:
            continue
        photo = working_photo(manifest.resolve(record))
        stats = analyse_photo(photo)
        if not isinstance(stats, str):
            usable.append((record.path, photo, stats))
            patients.add(record.group)
    usable.sort(key=lambda item: -item[2].ita)
    picks = np.linspace(0, len(usable) - 1, count).round().astype(int)
    return [usable[i] for i in picks]


def _crop_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """A CROP-sized box around the finding's centre, inside the photo."""
    height, width = mask.shape
    side = min(CROP, height, width)
    ys, xs = np.nonzero(mask)
    y0 = int(np.clip(np.median(ys) - side / 2, 0, height - side))
    x0 = int(np.clip(np.median(xs) - side / 2, 0, width - side))
    return y0, y0 + side, x0, x0 + side


def _tile(pixels: np.ndarray, box, size: int, caption: str) -> np.ndarray:
    y0, y1, x0, x1 = box
    tile = cv2.resize(pixels[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_CUBIC)
    strip = np.full((CAPTION, size, 3), 255, np.uint8)
    cv2.putText(strip, caption, (3, CAPTION - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([tile, strip])


def pair(seed: int, photo: np.ndarray, stats, finding: str, size: int, masks: bool) -> list[np.ndarray]:
    """Before and after tiles of one finding drawn on one photo (the next seed if it could not be placed)."""
    for attempt in range(5):
        result = composite(seed + attempt, photo, stats, findings=[finding])
        if result.drawn:
            break
    mask = result.masks[FINDINGS.index(finding)]
    after = outline_masks(result.image, result.masks) if masks else result.image
    box = _crop_box(mask if mask.any() else stats.skin)
    return [_tile(photo, box, size, f"before (ITA {stats.ita:.0f})"), _tile(after, box, size, f"after: {finding}")]


def contact_sheet(manifest_path: Path, photos: int = 3, seed: int = 0, size: int = 176,
                  masks: bool = False) -> np.ndarray:
    chosen = pick_photos(manifest_path, photos)
    gap = 4
    rows = []
    for r, finding in enumerate(ROWS):
        tiles = [t for c, (_, photo, stats) in enumerate(chosen)
                 for t in pair(image_seed(seed, r * photos + c), photo, stats, finding, size, masks)]
        row = np.full((tiles[0].shape[0], len(tiles) * (size + gap) - gap, 3), 255, np.uint8)
        for c, tile in enumerate(tiles):
            row[:, c * (size + gap):c * (size + gap) + size] = tile
        rows += [row, np.full((gap, row.shape[1], 3), 255, np.uint8)]
    footer = np.full((CAPTION, rows[0].shape[1], 3), 255, np.uint8)
    cv2.putText(footer, FOOTER, (3, CAPTION - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (60, 60, 60), 1, cv2.LINE_AA)
    return np.vstack(rows + [footer])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--real", type=Path, required=True, help="manifest of the real photos")
    parser.add_argument("--out", type=Path, default=Path("docs/composite_contact_sheet.jpg"))
    parser.add_argument("--photos", type=int, default=3, help="photos per row (lightest to darkest skin)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=176, help="tile side in pixels")
    parser.add_argument("--masks", action="store_true", help="outline the drawn masks")
    args = parser.parse_args(argv)
    sheet = contact_sheet(args.real, args.photos, args.seed, args.size, args.masks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, quality=SHEET_QUALITY)
    print(f"wrote {args.out}: {sheet.shape[1]}x{sheet.shape[0]} px, {args.out.stat().st_size // 1024} KB")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
