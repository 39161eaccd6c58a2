"""Which colours skin has: the one rule the abstention gate (model/quality.py) and the skin crop
(model/skin_crop.py) share, so the two cannot disagree about what skin looks like.

Colours are judged in the CbCr plane of YCbCr: their hue (an angle) and chroma (distance from
grey). Every skin tone lies in one band of hues, from yellowish to red; a colour too grey or too
dark to call its hue is judged by neither rule's hue test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_CR = np.array([0.5, -0.4187, -0.0813], np.float32)
_CB = np.array([-0.1687, -0.3313, 0.5], np.float32)
SKIN_HUE_DEGREES = (-25.0, 120.0)  # angle in the CbCr plane: 0 = yellow, 90 = red; every skin tone lies inside
MIN_CHROMA = 12.0  # below this a colour is too grey to call its hue
MIN_HUE_LUMA = 60.0  # below this a colour is too dark to call its hue (the gate's rule)
REGION_MIN_LUMA = 30.0  # the skin region reaches darker: dark skin in shade; black hair and shadow stay out
REGION_MIN_CHROMA = 6.0  # and greyer: dark skin in soft light (chroma about 9); a grey backdrop stays out
REGION_MAX_CHROMA = 80.0  # no skin is this saturated (real photos: 99.9th percentile 76); screens' orange is


def luma_of(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) @ _LUMA


@dataclass(frozen=True)
class ColourPlanes:
    luma: np.ndarray  # 0..255
    chroma: np.ndarray  # distance from grey in the CbCr plane
    hue: np.ndarray  # degrees in the CbCr plane: 0 = yellow, 90 = red

    def judgeable(self, min_chroma: float = MIN_CHROMA, min_luma: float = MIN_HUE_LUMA) -> np.ndarray:
        """Coloured and bright enough to call the hue."""
        return (self.chroma > min_chroma) & (self.luma > min_luma)

    def skin_hued(self, min_chroma: float = MIN_CHROMA, min_luma: float = MIN_HUE_LUMA) -> np.ndarray:
        """Judgeable, and the hue is one that skin has."""
        in_band = (self.hue >= SKIN_HUE_DEGREES[0]) & (self.hue <= SKIN_HUE_DEGREES[1])
        return self.judgeable(min_chroma, min_luma) & in_band


def colour_planes(pixels: np.ndarray, luma: np.ndarray | None = None) -> ColourPlanes:
    """Luma, chroma and hue of an HxWx3 uint8 RGB array."""
    rgb = pixels.astype(np.float32)
    cr, cb = rgb @ _CR, rgb @ _CB
    return ColourPlanes(rgb @ _LUMA if luma is None else luma, np.hypot(cr, cb), np.degrees(np.arctan2(cr, -cb)))


def skin_region(planes: ColourPlanes) -> np.ndarray:
    """The largest connected piece of skin-coloured pixels, without specks, its holes (eyes, brows, a mole,
    a lesion) filled: the face of a portrait, the whole of a close-up."""
    skin = planes.skin_hued(REGION_MIN_CHROMA, REGION_MIN_LUMA) & (planes.chroma < REGION_MAX_CHROMA)
    pad = 3  # the frame's edge repeated, so that the morphology does not eat skin that runs off the frame
    padded = np.pad(skin, pad, mode="edge")
    closed = ndimage.binary_closing(ndimage.binary_opening(padded), iterations=2)[pad:-pad, pad:-pad]
    cleaned = ndimage.binary_fill_holes(closed)
    labels, count = ndimage.label(cleaned)
    if count == 0:
        return cleaned
    sizes = ndimage.sum_labels(cleaned, labels, index=np.arange(1, count + 1))
    return labels == (int(np.argmax(sizes)) + 1)
