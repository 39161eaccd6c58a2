"""Matching a drawing to a real photo: where the change may go, the photo's colour cast and exposure, and carrying
the change onto the photo with its own lighting, blur, noise and hair. Used by data/composite.py.
"""

from __future__ import annotations

import cv2
import numpy as np

from skinfindings.data.composite_skin import PhotoStats, linear_to_srgb, srgb_to_linear
from skinfindings.data.synth_skin import Geometry, SkinLayers, lab_to_linear_rgb, linear_rgb_to_lab, smoothstep

SKIN_FADE = 48  # the fade's sigma is the photo's long side / this (8 px at 384 px)
LOW_SIGMA = 2.5  # px: under an opaque finding the photo's fine texture and noise are replaced by its local colour
RIM_SOFTENING_MM = 0.3  # height smoothing that rounds the domes' rims (0.12 still left a ring)
RELIEF = 0.5  # domes and crusts at half the renderer's height: phone light is frontal, and tall domes shade
# as dark half-moons that real close-ups rarely show
BRIGHT_OVERLAY_GAMMA = 0.75  # brightness relative to the skin r becomes r ** gamma when r > 1
TYPICAL_SKIN_AB = (9.0, 15.0)  # a*, b* of skin under neutral light: the renderer's middle (a* 6-12, b* 10-24)
CAST_SHARE = 0.5
HAIR_DARKNESS = (0.35, 0.6)  # a pixel this much darker than its surroundings is hair (pores are 5-20 % darker)
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # linear-RGB luminance


def skin_weight(skin: np.ndarray) -> np.ndarray:
    """0..1 weight of the drawn change: fading out over about 4 % of the photo inside the skin mask, exactly 0
    outside it, so a finding that reaches the edge of the skin (a halo, a redness) ends softly, not with a cut."""
    sigma = max(1.0, max(skin.shape) / SKIN_FADE)
    reach = int(round(2 * sigma))
    inner = cv2.erode(skin.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)).astype(np.float32)
    return cv2.GaussianBlur(inner, (0, 0), sigma) * skin


def colour_cast(base: np.ndarray) -> np.ndarray:
    """Per-channel gains (luminance 1) from a typical skin of the same lightness to the photo's skin.

    Part white balance, part the person's own hue: the two cannot be told apart, so only CAST_SHARE of it is
    given to the drawn colours, within +-15 %."""
    typical = lab_to_linear_rgb((float(linear_rgb_to_lab(base)[0]), *TYPICAL_SKIN_AB))
    gains = (base / typical) ** CAST_SHARE
    return np.clip(gains / float(gains @ LUMA), 0.85, 1.15).astype(np.float32)


def adapt_to_photo(skin: SkinLayers, geo: Geometry, params: dict) -> None:
    """Adjustments the renderer's own camera would otherwise hide, made on this drawing only.

    Domes are exact hemispheres whose vertical rim shades as a hard dark ring; at this resolution, without the
    renderer's camera blur, the ring outlines every pustule, so the height is smoothed a little. Overlay colours
    brighter than the skin (ivory, pus, honey crust) are absolute albedos, while the photo's exposure and white
    balance are unknown: their brightness relative to the skin is compressed (a dark photo is often an
    underexposed one) and they take part of the photo's colour cast; colours darker than the skin (micro-crusts
    are defined relative to it, so they carry the cast already) stay as drawn.
    """
    skin.height = cv2.GaussianBlur(skin.height, (0, 0), max(1.0, geo.px(RIM_SOFTENING_MM))) * RELIEF
    skin_luma = float(skin.base @ LUMA)
    cast = colour_cast(skin.base)
    params["cast"] = [round(float(g), 3) for g in cast]
    for i, (colour, alpha) in enumerate(skin.overlays):
        luma = np.tensordot(LUMA, colour, axes=1) if colour.ndim == 3 else float(colour @ LUMA)
        relative = np.maximum(luma / skin_luma, 1.0)
        scale = relative ** (BRIGHT_OVERLAY_GAMMA - 1.0)  # 1 where the colour is no brighter than the skin
        shift = (cast - 1.0).reshape((3,) + (1,) * np.ndim(relative)) * (relative > 1.0)
        skin.overlays[i] = (colour * scale * (1.0 + shift), alpha)


def transfer(rng, photo: np.ndarray, ratio: np.ndarray, opacity: np.ndarray, weight: np.ndarray,
             stats: PhotoStats) -> np.ndarray:
    """Carry the drawn change onto the photo: lit by its own light, as blurred and as noisy as the photo.

    The ratio multiplies the photo, so its local lighting and colour cast shade the finding too; under opaque
    parts (crusts, milia, pus) the photo's fine texture gives way to its local colour, then the photo's blur
    softens the whole change and the photo's noise is put back where its own noise was smoothed away. Thin hairs
    (far darker than their surroundings) lie on top of a finding, so they keep their own pixels.
    """
    linear = srgb_to_linear(photo)
    local = cv2.GaussianBlur(linear, (0, 0), LOW_SIGMA)
    under = linear + (local - linear) * opacity[..., None]
    delta = under * ratio - linear
    if stats.blur_sigma > 0.2:
        delta = cv2.GaussianBlur(delta, (0, 0), stats.blur_sigma)
        opacity = cv2.GaussianBlur(opacity, (0, 0), stats.blur_sigma)
    darkness = 1.0 - (linear @ LUMA) / np.maximum(local @ LUMA, 1e-4)
    weight = weight * (1.0 - smoothstep(*HAIR_DARKNESS, darkness))
    encoded = linear_to_srgb(linear + delta * weight[..., None])
    noise = rng.standard_normal(photo.shape[:2], dtype=np.float32) * stats.noise_sigma * opacity * weight
    return np.clip(np.round(encoded + noise[..., None]), 0, 255).astype(np.uint8)
