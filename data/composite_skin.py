"""What the compositor needs to know about a real photo: where its skin is, its skin colour, blur and noise.

    stats = analyse_photo(rgb)          # PhotoStats, or a str saying why the photo cannot take findings

Everything is measured on the photo itself, relative to its own median skin colour, because phone photos differ
in white balance and exposure far more than skin tones differ within one photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from skinfindings.data.synth_skin import linear_rgb_to_lab

MIN_SKIN_FRACTION = 0.12  # of the photo, after erosion: less than this and findings would crowd the edges
MIN_CANDIDATES = 0.05  # plausible skin colours needed before a median skin colour is trusted
# Distance from the photo's median skin colour (CIE Lab) that still counts as this person's skin; lightness
# steps are also capped at a share of the skin's L*, or a black lesion would pass as dark skin on a dark photo.
MAX_LIGHTNESS_STEP, MAX_CHROMA_STEP, MAX_LIGHTNESS_SHARE = 22.0, 14.0, 0.4
# Marker ink (purple, blue, dark green) is bluer or greener than any skin in the same photo; hair, shadows
# and dark lesions are much darker. Both are cut out with a margin, so findings never touch them.
INK_BLUER, INK_GREENER, MUCH_DARKER = 9.0, 9.0, 30.0
BORDER = 0.04  # share of each side where no finding is placed (it may still reach into it): vignetting, fingers


@dataclass(frozen=True)
class PhotoStats:
    skin: np.ndarray  # (H, W) bool: where findings may be drawn (eroded skin; the frame's edge is not eroded)
    lab: tuple[float, float, float]  # median CIE Lab of the skin
    ita: float  # degrees, from the median skin colour (uncalibrated camera: an estimate)
    blur_sigma: float  # px: Gaussian blur that makes a sharp drawing as soft as this photo
    noise_sigma: float  # sRGB levels: the photo's own luma noise


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear RGB to sRGB levels 0..255 (float, not rounded)."""
    x = np.clip(linear, 0.0, 1.0)
    return (np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055) * 255.0).astype(np.float32)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def frame_interior(shape: tuple[int, int]) -> np.ndarray:
    inside = np.zeros(shape, bool)
    dy, dx = (max(1, int(round(BORDER * n))) for n in shape)
    inside[dy:-dy, dx:-dx] = True
    return inside


def _median_skin(lab: np.ndarray, where: np.ndarray) -> np.ndarray:
    return np.median(lab[where], axis=0)


def _drop_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    """``mask`` without its connected parts smaller than ``min_area`` px (skin texture, not structures)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False  # label 0 is the rest of the image
    return keep[labels]


def skin_mask(rgb: np.ndarray, region: np.ndarray | None = None,
              start: tuple[float, float, float] | None = None) -> tuple[np.ndarray, np.ndarray] | str:
    """(eroded skin mask, median skin Lab), or why there is no usable skin.

    ``region`` (H, W) bool: the only place skin may be (e.g. a face's skin from its landmarks); shares are then
    of the region, not of the photo. ``start``: a skin colour (CIE Lab) known from elsewhere in the photo, to
    re-centre from instead of this one's median (a close-up of a forehead under a fringe is mostly hair)."""
    side = max(rgb.shape[:2])
    inside = np.ones(rgb.shape[:2], bool) if region is None else region.astype(bool)
    area = max(int(inside.sum()), 1)
    raw = linear_rgb_to_lab(srgb_to_linear(rgb)).astype(np.float32)
    # skin colour is judged on a smoothed copy: pores, fine texture and noise are skin too
    lab = cv2.GaussianBlur(raw, (0, 0), max(1.0, side / 128))
    lightness, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    hue = np.degrees(np.arctan2(b, a))
    # any skin under any ordinary light: not too dark or blown out, hue between red and yellow
    plausible = (lightness > 20) & (lightness < 92) & (a > -2) & (b > -2) & (hue > 0) & (hue < 95) & inside
    if plausible.sum() / area < MIN_CANDIDATES:
        return f"no skin-coloured pixels ({plausible.sum() / area:.0%} plausible)"
    median = _median_skin(lab, plausible) if start is None else np.asarray(start, np.float32)
    for _ in range(2):  # re-centre on this photo's skin, away from lesions, ink and background
        step = min(MAX_LIGHTNESS_STEP, MAX_LIGHTNESS_SHARE * median[0])
        near = (np.abs(lightness - median[0]) < step) & (np.hypot(a - median[1], b - median[2]) < MAX_CHROMA_STEP)
        if (near & inside).sum() / area < MIN_CANDIDATES:
            return "no uniform skin colour"
        median = _median_skin(lab, near & inside)
    # ink strokes are thin, so they are found on the unsmoothed colours; single-pixel noise is not ink
    darker = min(MUCH_DARKER, MAX_LIGHTNESS_SHARE * median[0])
    ink = (raw[..., 2] - median[2] < -INK_BLUER) | (raw[..., 1] - median[1] < -INK_GREENER) | (
        raw[..., 0] < median[0] - darker)
    ink = cv2.morphologyEx(ink.astype(np.uint8), cv2.MORPH_OPEN, _disc(1))
    ink = cv2.dilate(ink, _disc(max(2, side // 96))) > 0
    other = _drop_specks(~near, (side // 40) ** 2)  # lesions, background, hair; not specks of texture
    skin = (~other & ~ink & inside).astype(np.uint8)
    skin = cv2.erode(skin, _disc(max(2, side // 48))) > 0  # findings sit well inside the skin
    if skin.sum() / area < MIN_SKIN_FRACTION:
        return f"too little skin ({skin.sum() / area:.0%} of the photo after removing ink and background)"
    return skin, median


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def estimate_blur(gray: np.ndarray, where: np.ndarray, probe: float = 1.0) -> float:
    """Gaussian sigma (px) of the photo's blur, from how much a known extra blur weakens its strongest edges.

    For an edge blurred by s, blurring again by ``probe`` divides the gradient by sqrt(s^2 + p^2) / s
    (Zhuo & Sim 2011), so s = p / sqrt(R^2 - 1). The strongest 5 % of gradients are edges rather than noise.
    """
    def gradient(image: np.ndarray) -> np.ndarray:
        return np.hypot(cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3))

    sharp = gradient(gray)
    soft = gradient(cv2.GaussianBlur(gray, (0, 0), probe))
    values = sharp[where]
    if values.size < 50:
        return 0.0
    edges = where & (sharp >= np.percentile(values, 95)) & (sharp > 1.0)
    if edges.sum() < 10:
        return 0.0
    ratio = float(np.median(sharp[edges] / np.maximum(soft[edges], 1e-3)))
    # the 3x3 Sobel itself smooths by about 0.8 px; what remains is the photo's own blur
    sigma = probe / math.sqrt(max(ratio * ratio - 1.0, 1e-3))
    return float(np.clip(math.sqrt(max(sigma * sigma - 0.64, 0.0)), 0.0, 3.0))


def estimate_noise(gray: np.ndarray, where: np.ndarray) -> float:
    """Luma noise sigma in sRGB levels (Immerkaer 1996, robust median version) over skin pixels.

    The kernel cancels smooth shading; skin texture still adds a little, so this errs on the noisy side.
    """
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(gray, cv2.CV_32F, kernel))[where]
    if response.size == 0:
        return 0.0
    return float(np.clip(1.4826 * np.median(response) / 6.0, 0.0, 8.0))


def ita_of(lab: np.ndarray) -> float:
    """ITA = atan((L* - 50) / b*); b* is floored at 1 because a cool colour cast can push skin's b* to 0 or below,
    where the angle would leave the -90..90 range that the Fitzpatrick bands live in."""
    return float(math.degrees(math.atan((lab[0] - 50.0) / max(float(lab[2]), 1.0))))


def analyse_photo(rgb: np.ndarray, region: np.ndarray | None = None,
                  start: tuple[float, float, float] | None = None) -> PhotoStats | str:
    """Skin mask, skin colour, blur and noise of an (H, W, 3) uint8 photo, or why it cannot take findings;
    ``region`` and ``start`` as in skin_mask."""
    found = skin_mask(rgb, region, start)
    if isinstance(found, str):
        return found
    skin, median = found
    gray = luma(rgb)
    return PhotoStats(skin=skin, lab=tuple(float(v) for v in median), ita=ita_of(median),
                      blur_sigma=estimate_blur(gray, skin), noise_sigma=estimate_noise(gray, skin))
