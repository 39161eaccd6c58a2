"""The abstention gate: can this photo be assessed at all?

Used by the Predictor, so the app, the pre-sort and evaluation abstain alike.
Each reason has a patient-facing message and a retake tip. The gate reads simple,
measurable statistics of the photo as the model sees it (the resized uint8 RGB
array) plus the size the photo had before resizing; the checks run in a fixed
order and the first one that fails is the reason given.

Thresholds were set on generated bad photos, generated out-of-scope images, the
synthetic skin set and 63 real skin photos, so that real skin is almost never
refused; ``python -m skinfindings.model.gate_eval --out docs/gate.md`` measures them.
The out-of-scope check is the weakest: it catches text, screens, sky, greenery and
white scenes, but a skin-coloured surface (a beige wall, brown fur, sand) can pass
it, and motion blur along one axis is caught only in part. docs/gate.md gives the
numbers.

A portrait or a selfie is judged on its skin: the photo arrives cropped to its skin
region (model/skin_crop.py), and where that region still leaves a backdrop, hair or
clothes around the face, the colour and text checks read the skin region only
(``skin_region``; the colour rule is model/skin_colour.py, shared with the crop).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from skinfindings.model.skin_colour import MIN_HUE_LUMA, colour_planes, luma_of, skin_region


@dataclass(frozen=True)
class Abstention:
    code: str
    message: str  # why we cannot assess, for a patient
    tip: str  # how to retake the photo


REASONS: dict[str, Abstention] = {
    a.code: a
    for a in (
        Abstention("too_small", "The photo is too small to assess.",
                   "Send the original photo, not a thumbnail or a crop."),
        Abstention("too_dark", "The photo is too dark to assess.",
                   "Retake it in daylight or a bright room, without a harsh shadow."),
        Abstention("too_bright", "The photo is overexposed (too bright) to assess.",
                   "Retake it out of direct sun and without the flash."),
        Abstention("glare", "Part of the photo is washed out by glare or a reflection.",
                   "Turn the flash off and tilt the phone a little so the light does not reflect straight back."),
        Abstention("compressed", "The photo has lost too much detail to compression, so it cannot be assessed.",
                   "Send the original photo from your camera or gallery, not a copy forwarded through a messaging app."),
        Abstention("not_skin", "This does not look like a close-up photo of skin, so it was not assessed.",
                   "Take a photo of the treated skin itself, filling most of the frame, in good light."),
        Abstention("blurred", "The photo is too blurry to assess.",
                   "Hold the phone steady about 15-20 cm from the skin, tap the screen to focus, and retake it."),
    )
}

MIN_ASSESS_SIDE = 96
ANALYSIS_SIDE = 160  # px: blur is measured at this size for any model input (128-224 px measured)
DENOISE_RADIUS = 2  # px at ANALYSIS_SIDE: enough smoothing that sensor noise does not pass for detail
BLUR_RADIUS = 4  # px at ANALYSIS_SIDE: the low-pass that a sharp photo's detail does not survive


@dataclass(frozen=True)
class GateThresholds:
    min_side: int = MIN_ASSESS_SIDE  # px of the original photo, shorter side
    min_brightness: float = 40.0  # mean luma 0..255
    max_brightness: float = 230.0
    max_clipped: float = 0.5  # share of blown-out pixels: the whole photo is overexposed
    max_glare: float = 0.12  # share of blown-out pixels: a patch lost to a reflection
    max_blockiness: float = 0.35  # JPEG 8x8 grid ripple: ~0.1-0.2 at ordinary quality (0 when too fine to see)
    max_non_skin_colour: float = 0.35  # share of the skin region in colours no skin has (blue, green, white paper)
    max_off_hue: float = 0.35  # share of pixels in hues no skin has (blue, green, purple), even over- or underexposed
    max_bright_grey: float = 0.1  # in a too-bright image, share of colourless greys below white: paper, screens
    max_palette_share: float = 0.5  # share of the 4 most frequent exact colours: screens and exported pages
    max_region_palette: float = 0.17  # the same inside the skin region: skin posterised by heavy JPEG (camera <= 0.14)
    max_posterised_edges: float = 0.003  # posterised, and no more sharp steps than this: a JPEG, not a screen's text
    max_hard_edges: float = 0.01  # share of very sharp steps in the skin region: printed or on-screen text, graphics
    max_blur: float = 0.81  # detail a low-pass filter does not remove, 0 (sharp) .. 1 (nothing to lose)


THRESHOLDS = GateThresholds()

MIN_SKIN_REGION = 0.25  # a skin region this large (a face) is where colour and text are judged; else the frame
WHITE_CHROMA, WHITE_LUMA = 6.0, 200.0  # neutral and bright: paper, plates, white walls
CLIPPED_LUMA = 250.0  # at or above this a pixel is blown out


@dataclass(frozen=True)
class QualityStats:
    brightness: float  # mean luma, 0..255
    clipped_fraction: float  # share of near-white (blown-out) pixels
    blur: float  # 0 sharp .. 1 featureless (Crete-Roffet et al. 2007, on lightly denoised luma)
    blockiness: float  # strength of the JPEG block grid; 0 when the grid is too fine to measure
    non_skin_colour: float  # share of pixels in hues no skin has, or neutral near-white
    off_hue: float  # share of pixels in hues no skin has (the hue part of non_skin_colour)
    neutral_grey: float  # share of colourless pixels between dark and blown-out: paper, print, screens
    palette_share: float  # share of the 4 most frequent exact RGB values
    region_palette_share: float  # palette_share inside the skin region (the whole frame when it is small)
    hard_edges: float  # share of neighbour steps over 80 luma levels
    skin_region: float  # share of the frame in the largest piece of skin colour (model/skin_colour.py)
    region_non_skin_colour: float  # non_skin_colour inside the skin region (the whole frame when it is small)
    region_hard_edges: float  # hard_edges inside the skin region, its border left out (the whole frame when small)

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


# ----------------------------------------------------------------------------- statistics


def _box(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Moving average of width 2*radius+1 along one axis, edges replicated."""
    pad = [(0, 0)] * values.ndim
    pad[axis] = (radius + 1, radius)
    total = np.cumsum(np.pad(values, pad, mode="edge"), axis=axis, dtype=np.float64)
    n = values.shape[axis]
    width = 2 * radius + 1
    upper = np.take(total, np.arange(width, width + n), axis=axis)
    lower = np.take(total, np.arange(0, n), axis=axis)
    return ((upper - lower) / width).astype(np.float32)


def _smooth(values: np.ndarray, radius: int) -> np.ndarray:
    return _box(_box(values, radius, 0), radius, 1)


def _resample(luma: np.ndarray, side: int) -> np.ndarray:
    if luma.shape == (side, side):
        return luma
    image = Image.fromarray(np.ascontiguousarray(luma, np.float32), mode="F")
    return np.asarray(image.resize((side, side), Image.Resampling.BILINEAR), np.float32)


def blur_score(luma: np.ndarray) -> float:
    """How little detail a strong low-pass filter removes (0 sharp .. 1 featureless).

    Crete-Roffet et al. 2007: blur the image again and compare neighbour differences;
    a sharp photo loses a lot, a blurred one almost nothing. Measured at a fixed
    ANALYSIS_SIDE whatever the model's input size, so one threshold serves every
    checkpoint; the luma is first smoothed so that sensor noise, which a heavy blur
    leaves untouched, does not pass for detail. The worse of the two directions counts,
    so a shake along one axis is not averaged away (it is still caught less often than
    defocus: docs/gate.md)."""
    denoised = _smooth(_resample(luma, ANALYSIS_SIDE), DENOISE_RADIUS)
    scores = []
    for axis in (0, 1):
        detail = np.abs(np.diff(denoised, axis=axis))
        reblurred = np.abs(np.diff(_box(denoised, BLUR_RADIUS, axis), axis=axis))
        total = float(detail.sum())
        lost = float(np.maximum(detail - reblurred, 0).sum())
        scores.append(1.0 if total <= 1e-6 else 1.0 - lost / total)
    return max(scores)


def blockiness(luma: np.ndarray, original_size: tuple[int, int]) -> float:
    """Strength of the 8x8 JPEG block grid, where the resize leaves it visible.

    JPEG blocks are 8 px of the original photo, i.e. ``8 * model_side / original_side`` px
    here. Where that period is at least 3 px, the mean step between neighbouring
    columns (rows) is a signal; the score is its ripple at the block period relative to
    its mean (about 0.1-0.2 for ordinary JPEG quality, 0.5 and more when blocks are
    flat tiles). Averaged over both axes; 0 when the period is too short to see (a large
    photo shrunk to the model's size: its blocks are averaged away)."""
    height, width = luma.shape
    scores = []
    for axis, model_side, original_side in ((1, width, original_size[0]), (0, height, original_size[1])):
        period = 8 * model_side / max(original_side, 1)
        if period < 3:
            return 0.0
        steps = np.abs(np.diff(luma, axis=axis)).mean(axis=1 - axis)
        phase = np.exp(-2j * np.pi * np.arange(steps.size) / period)
        ripple = 2 * np.abs(np.sum((steps - steps.mean()) * phase))
        scores.append(float(ripple / (steps.sum() + 1e-6)))
    return float(np.mean(scores))


@dataclass(frozen=True)
class ColourMasks:
    off_hue: np.ndarray  # a clear blue, green or purple hue
    white: np.ndarray  # neutral near-white
    neutral_grey: np.ndarray  # neutral, neither dark nor blown out
    skin_region: np.ndarray  # the largest piece of skin colour, holes filled


def colour_masks(pixels: np.ndarray, luma: np.ndarray) -> ColourMasks:
    """Which pixels have a colour no skin has, and which are colourless greys.

    Grey pixels of middle brightness count as possible skin for the scope check: real
    photos under cool light are nearly grey, and refusing them would refuse real skin.
    Dark pixels are not judged by hue either: dark lesions can look blue-black. The
    greys matter only in a too-bright image (``reason_code``)."""
    planes = colour_planes(pixels, luma)
    off_hue = planes.judgeable() & ~planes.skin_hued()
    neutral = planes.chroma < WHITE_CHROMA
    return ColourMasks(off_hue, neutral & (luma > WHITE_LUMA), neutral & (luma > MIN_HUE_LUMA) & (luma < CLIPPED_LUMA),
                       skin_region(planes))


def palette_share(pixels: np.ndarray, colours: int = 4, region: np.ndarray | None = None) -> float:
    """Share of the image (or of its ``region``) taken by its few most frequent exact colours, pure black
    and white aside.

    A camera never produces large areas of one exact RGB value (noise and shading
    see to that, even after shrinking a large photo); screens and exported pages do,
    and so does skin after heavy JPEG compression (its 8x8 blocks flattened).
    Clipped black and white are left to the exposure checks."""
    codes = (pixels[..., 0].astype(np.int32) << 16) | (pixels[..., 1].astype(np.int32) << 8) | pixels[..., 2]
    if region is not None:
        codes = codes[region]
    if codes.size == 0:
        return 0.0
    values, counts = np.unique(codes, return_counts=True)
    counts = counts[(values != 0) & (values != 0xFFFFFF)]
    return float(np.sort(counts)[::-1][:colours].sum() / codes.size)


def hard_edge_map(luma: np.ndarray, step: float = 80.0) -> np.ndarray:
    """Where a neighbour step exceeds ``step`` luma levels (black-on-white text and graphics); one row and
    column shorter than ``luma``."""
    across = np.abs(np.diff(luma, axis=1))[:-1]
    down = np.abs(np.diff(luma, axis=0))[:, :-1]
    return np.maximum(across, down) > step


def judged_region(skin: np.ndarray) -> np.ndarray:
    """Where colour and text are judged: a large skin region (a face, without the backdrop, hair and clothes
    around it), else the whole frame."""
    return skin if skin.mean() >= MIN_SKIN_REGION else np.ones_like(skin)


def _share_in(values: np.ndarray, region: np.ndarray) -> float:
    return float(values[region].mean()) if region.any() else 0.0


def measure(pixels: np.ndarray, original_size: tuple[int, int]) -> QualityStats:
    luma = luma_of(pixels)
    masks = colour_masks(pixels, luma)
    region = judged_region(masks.skin_region)
    edges = hard_edge_map(luma)
    # The region's own border is where a face meets hair or the backdrop: those steps are not text.
    inner = ndimage.binary_erosion(region, border_value=1)[:-1, :-1]
    return QualityStats(
        brightness=float(luma.mean()),
        clipped_fraction=float((luma >= CLIPPED_LUMA).mean()),
        blur=blur_score(luma),
        blockiness=blockiness(luma, original_size),
        non_skin_colour=float((masks.off_hue | masks.white).mean()),
        off_hue=float(masks.off_hue.mean()),
        neutral_grey=float(masks.neutral_grey.mean()),
        palette_share=palette_share(pixels),
        region_palette_share=palette_share(pixels, region=region),
        hard_edges=float(edges.mean()),
        skin_region=float(masks.skin_region.mean()),
        region_non_skin_colour=_share_in(masks.off_hue | masks.white, region),
        region_hard_edges=_share_in(edges, inner),
    )


# ----------------------------------------------------------------------------- decision


def reason_code(stats: QualityStats, original_size: tuple[int, int], limits: GateThresholds = THRESHOLDS) -> str | None:
    """The first check the photo fails. The order matters where one defect mimics another,
    and a photo that is not of skin must be told so, not told to retake it sharper:
    hues no skin has (sky, greenery) and text are out of scope before exposure and
    blur are judged (a smooth blue sky is "featureless", a white page "too bright");
    a too-bright image made of colourless greys is a page or a screen, because even
    overexposed skin keeps its colour below the blown-out white; compression and blur
    come before the palette (flat JPEG tiles, and a blur that wipes out all texture,
    leave few distinct colours, like a screen). Colour and text are judged in the skin
    region when there is a large one (a portrait's backdrop is not what is assessed).
    Skin in a handful of exact colours, with no text anywhere, is skin posterised by
    heavy JPEG compression: decoded at a reduced scale its 8x8 blocks are flat tiles a
    pixel or two wide, too fine for the block-grid measure (issue 21: such photos were
    told "not skin")."""
    if min(original_size) < limits.min_side:
        return "too_small"
    if stats.brightness < limits.min_brightness:
        return "too_dark"
    if stats.off_hue > limits.max_off_hue or stats.region_hard_edges > limits.max_hard_edges:
        return "not_skin"
    if stats.brightness > limits.max_brightness or stats.clipped_fraction > limits.max_clipped:
        return "not_skin" if stats.neutral_grey > limits.max_bright_grey else "too_bright"
    if stats.clipped_fraction > limits.max_glare:
        return "glare"
    if stats.blockiness > limits.max_blockiness or (
            stats.region_palette_share > limits.max_region_palette and stats.hard_edges <= limits.max_posterised_edges):
        return "compressed"
    if stats.blur > limits.max_blur:
        return "blurred"
    if stats.region_non_skin_colour > limits.max_non_skin_colour:
        return "not_skin"
    if stats.palette_share > limits.max_palette_share:
        return "not_skin"
    return None


def assess(pixels: np.ndarray, original_size: tuple[int, int],
           limits: GateThresholds = THRESHOLDS) -> tuple[Abstention | None, QualityStats]:
    """First reason the photo cannot be assessed (or None), and the statistics behind it.

    ``pixels``: the model-input-size uint8 RGB array; ``original_size``: (width, height)
    of the photo as stored."""
    stats = measure(pixels, original_size)
    code = reason_code(stats, original_size, limits)
    return (REASONS[code] if code else None), stats
