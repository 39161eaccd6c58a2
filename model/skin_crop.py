"""Where the skin is: a box to crop a photo to before the model sees it.

    from skinfindings.model.skin_crop import crop_box
    box = crop_box(image)          # (left, top, right, bottom) in the image's pixels

People photograph their face: in a portrait or a selfie most pixels are background,
hair and clothes, and squeezing the whole frame into the model's input wastes its
resolution on them. A close-up of skin, on the other hand, must stay whole: a finding
at its edge must still reach the model.

The box comes from the skin region of a small copy of the photo (model/skin_colour.py,
the colour rule the gate uses too: skin hues, cleaned by morphology, its largest piece),
with a margin. The photo is cropped only when that is clearly a portrait-like frame:

* enough skin to crop to (else the whole frame: the gate then judges it);
* the rest of the frame is not skin-coloured (a plain, grey, dark or coloured
  background). Pale skin under cool light is nearly grey and falls outside the strict
  skin region while keeping a warm tinge, so a close-up of it keeps its whole frame;
* the box leaves a good part of the frame out (else cropping gains nothing).

A piece of skin much taller than wide is a face over its neck: its top part is kept.
Deterministic, a few milliseconds; no landmarks or face detector at run time. Measured
by ``python -m skinfindings.model.gate_eval`` (docs/gate.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from skinfindings.model.skin_colour import REGION_MIN_LUMA, colour_planes, skin_region

Box = tuple[int, int, int, int]  # left, top, right, bottom, in pixels of the image it was computed for


@dataclass(frozen=True)
class CropSettings:
    analysis_side: int = 128  # px: the longer side of the small copy the box is computed on
    min_skin_share: float = 0.03  # skin region below this share of the frame: too little skin to crop to
    warm_chroma: float = 3.0  # a skin hue this far from grey may be skin (pale skin in cool light)
    max_outside_warm: float = 0.3  # share of skin-tinged pixels outside the box above which the frame is skin
    max_box_share: float = 0.6  # a box covering more of the frame than this: keep the whole frame
    max_tall: float = 4 / 3  # height / width of the skin piece beyond which it is a face over its neck
    margin: float = 0.1  # of the box's longer side, added on each side


SETTINGS = CropSettings()


def _small_copy(image: Image.Image, side: int) -> np.ndarray:
    scale = min(1.0, side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = image if size == image.size else image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small.convert("RGB"))


def _piece_box(piece: np.ndarray, settings: CropSettings) -> tuple[float, float, float, float]:
    """Bounding box of the piece, its height capped (a face, not its neck), plus a margin, clipped to the frame."""
    rows, cols = np.nonzero(piece)
    left, right, top, bottom = cols.min(), cols.max() + 1.0, rows.min(), rows.max() + 1.0
    bottom = min(bottom, top + settings.max_tall * (right - left))
    pad = settings.margin * max(right - left, bottom - top)
    height, width = piece.shape
    return max(0.0, left - pad), max(0.0, top - pad), min(width, right + pad), min(height, bottom + pad)


def usable_skin(planes, settings: CropSettings = SETTINGS) -> np.ndarray | None:
    """The photo's skin region (HxW bool), or None when it is too small a share of the frame to go by."""
    piece = skin_region(planes)
    return piece if piece.mean() >= settings.min_skin_share else None


def box_on_small(pixels: np.ndarray, settings: CropSettings = SETTINGS) -> tuple[float, float, float, float] | None:
    """The crop box on a small uint8 RGB array, or None for the whole frame."""
    planes = colour_planes(pixels)
    piece = usable_skin(planes, settings)
    if piece is None:
        return None
    left, top, right, bottom = _piece_box(piece, settings)
    height, width = piece.shape
    if (right - left) * (bottom - top) > settings.max_box_share * width * height:
        return None
    outside = np.ones_like(piece)
    outside[int(top):int(np.ceil(bottom)), int(left):int(np.ceil(right))] = False
    skin_tinged = planes.skin_hued(settings.warm_chroma, REGION_MIN_LUMA)
    if skin_tinged[outside].mean() > settings.max_outside_warm:
        return None  # the rest of the frame may be skin too: a close-up, not a portrait
    return left, top, right, bottom


def crop_box(image: Image.Image | np.ndarray, settings: CropSettings = SETTINGS) -> Box:
    """Box of the skin region of a photo (PIL image or HxWx3 uint8 array), in its own pixels.

    The whole frame when skin fills most of it, when there is too little skin, or when
    the rest of the frame looks like skin too."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image, np.uint8))
    width, height = image.size
    small = _small_copy(image, settings.analysis_side)
    box = box_on_small(small, settings)
    if box is None:
        return 0, 0, width, height
    scale_x, scale_y = width / small.shape[1], height / small.shape[0]
    left, top, right, bottom = box
    return (int(left * scale_x), int(top * scale_y),
            min(width, int(np.ceil(right * scale_x))), min(height, int(np.ceil(bottom * scale_y))))
