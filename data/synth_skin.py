"""Skin for the synthetic renderer: tone sampling, noise fields and the healthy-skin layers.

Skin is modelled as a base colour (from a sampled ITA angle) that two absorbers modulate, Beer-Lambert style:
melanin (browns and darkens, strongest in blue) and haemoglobin (reddens: absorbs green most). Findings add to the
same absorber maps, so redness and pigment look alike on every tone instead of being painted-on colours.
All maps are float32 (H, W); sizes are given in millimetres and converted with ``Geometry.px_per_mm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from skinfindings.data.manifest import FITZPATRICK_TYPES

# ITA bands (Chardon et al. 1991; Del Bino et al. 2006), lightest first; the usual ITA -> Fitzpatrick mapping.
ITA_BANDS: dict[str, tuple[float, float]] = {
    "I": (55.0, 70.0),
    "II": (41.0, 55.0),
    "III": (28.0, 41.0),
    "IV": (10.0, 28.0),
    "V": (-30.0, 10.0),
    "VI": (-60.0, -30.0),
}
assert tuple(ITA_BANDS) == FITZPATRICK_TYPES

# Relative absorption per linear-RGB channel (R, G, B).
MELANIN = np.array([0.55, 0.95, 1.45], np.float32)
HAEMOGLOBIN = np.array([0.10, 1.00, 0.85], np.float32)

# The faintest rendered finding changes the skin colour by this much (CIE76 Delta E), on every tone.
ERYTHEMA_DELTA_E = 9.0
FIELD_ERYTHEMA_DELTA_E = 12.0  # whole-field redness must exceed the natural pinkness range (a* 6..12)
HYPERPIGMENTATION_DELTA_E = 8.0


@dataclass(frozen=True)
class Tone:
    ita: float  # degrees
    fitzpatrick: str
    lab: tuple[float, float, float]  # CIE L*a*b* (D65) of the un-reddened base skin


@dataclass(frozen=True)
class Geometry:
    size: int
    px_per_mm: float

    def px(self, mm: float) -> float:
        return mm * self.px_per_mm


def fitzpatrick_for_ita(ita: float) -> str:
    for name, (low, _) in ITA_BANDS.items():
        if ita >= low:
            return name
    return "VI"


def sample_tone(rng: np.random.Generator, fitzpatrick: str | None = None) -> Tone:
    """Type drawn uniformly from I..VI (or the given one), then ITA uniformly inside its band: balanced types."""
    fitz = FITZPATRICK_TYPES[int(rng.integers(len(FITZPATRICK_TYPES)))]
    fitz = fitzpatrick or fitz  # the draw above still happens, so forcing a type changes nothing else
    low, high = ITA_BANDS[fitz]
    ita = float(rng.uniform(low, high))
    b = float(rng.uniform(10.0, 18.0)) + 6.0 * float(np.clip((50.0 - ita) / 90.0, 0.0, 1.0))  # browner when darker
    lightness = 50.0 + b * math.tan(math.radians(ita))
    if lightness < 24.0:  # keep L* in the range of real skin while keeping the ITA exact
        lightness, b = 24.0, (24.0 - 50.0) / math.tan(math.radians(ita))
    if lightness > 80.0:
        lightness, b = 80.0, (80.0 - 50.0) / math.tan(math.radians(ita))
    a = float(rng.uniform(6.0, 12.0))
    return Tone(ita=ita, fitzpatrick=fitz, lab=(lightness, a, b))


def lab_to_linear_rgb(lab: tuple[float, float, float]) -> np.ndarray:
    """CIE L*a*b* (D65) to linear sRGB, one colour."""
    lightness, a, b = lab
    fy = (lightness + 16.0) / 116.0
    fx, fz = fy + a / 500.0, fy - b / 200.0

    def finv(t: float) -> float:
        return t**3 if t > 6 / 29 else 3 * (6 / 29) ** 2 * (t - 4 / 29)

    xyz = np.array([0.95047 * finv(fx), finv(fy), 1.08883 * finv(fz)])
    m = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    return np.clip(m @ xyz, 1e-4, 1.0).astype(np.float32)


def linear_rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Linear sRGB (..., 3) to CIE L*a*b* (D65)."""
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = np.asarray(rgb, np.float64) @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def visible_density(base: np.ndarray, absorber: np.ndarray, delta_e: float) -> float:
    """Smallest optical density of ``absorber`` that moves ``base`` by ``delta_e`` (CIE76) on this skin tone.

    Findings draw their strength upward from this floor, so "faint" is still visible on every tone and whole-field
    redness always differs from the un-reddened skin of the same ITA by at least ``delta_e``.
    """
    densities = np.linspace(0.01, 3.0, 300)
    lab = linear_rgb_to_lab(base[None] * np.exp(-densities[:, None] * absorber[None]))
    distance = np.linalg.norm(lab - linear_rgb_to_lab(base), axis=1)
    reached = np.flatnonzero(distance >= delta_e)
    return float(densities[reached[0]] if len(reached) else densities[-1])


def fbm(rng: np.random.Generator, size: int, cells: float, octaves: int = 4, gain: float = 0.5,
        stretch: float = 1.0) -> np.ndarray:
    """Multi-octave value noise, zero mean and unit std; ``cells`` = blobs across the image at the first octave.

    ``stretch`` > 1 makes features longer along x (for fine lines and hair-like textures).
    """
    total = np.zeros((size, size), np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        n = min(size, max(2, int(round(cells * 2**octave))))
        grid = rng.standard_normal((n + 1, max(2, int(round((n + 1) / stretch))))).astype(np.float32)
        total += amplitude * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        amplitude *= gain
    total -= total.mean()
    return total / (total.std() + 1e-6)


def rotate(field: np.ndarray, degrees: float) -> np.ndarray:
    size = field.shape[0]
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), degrees, 1.0)
    return cv2.warpAffine(field, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def dots(rng: np.random.Generator, size: int, count: int, sigma_px: float, where: np.ndarray | None = None,
         points: np.ndarray | None = None, weights: np.ndarray | None = None) -> np.ndarray:
    """Soft round dots of peak ~1 (or ``weights``) at random points (or given (N, 2) y, x points), optionally
    only where ``where`` > 0.5."""
    canvas = np.zeros((size, size), np.float32)
    if points is None:
        points = rng.uniform(0, size, (count, 2))
    if len(points) == 0:
        return canvas
    weights = np.ones(len(points), np.float32) if weights is None else np.asarray(weights, np.float32)
    ys, xs = np.clip(points.astype(int), 0, size - 1).T
    if where is not None:
        keep = where[ys, xs] > 0.5
        ys, xs, weights = ys[keep], xs[keep], weights[keep]
    np.add.at(canvas, (ys, xs), weights)
    sigma = max(sigma_px, 0.5)
    canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
    return np.minimum(canvas * (2 * math.pi * sigma * sigma), 1.5)


def polyline_mask(size: int, curves: list[np.ndarray], thickness: int = 1) -> np.ndarray:
    """Anti-aliased curves ((N, 2) x, y float arrays) drawn into a 0..1 map."""
    canvas = np.zeros((size, size), np.uint8)
    for curve in curves:
        cv2.polylines(canvas, [np.round(curve * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0


def random_curve(rng: np.random.Generator, size: int, length_px: float, bend: float, points: int = 10,
                 heading: float | None = None) -> np.ndarray:
    """A smooth random curve of about ``length_px`` from a random start, as (points + 1, 2) x, y."""
    start = rng.uniform(0, size, 2)
    heading = rng.uniform(0, 2 * math.pi) if heading is None else heading
    angle = heading + np.cumsum(rng.normal(0, bend, points))
    step = length_px / points
    steps = np.stack([np.cos(angle), np.sin(angle)], axis=1) * step
    return start + np.vstack([[0, 0], np.cumsum(steps, axis=0)])


@dataclass
class SkinLayers:
    """Everything the compositor needs; findings add to these maps in place."""

    base: np.ndarray  # (3,) linear RGB of the un-reddened base skin
    melanin: np.ndarray  # extra melanin optical density
    blood: np.ndarray  # extra haemoglobin optical density
    height: np.ndarray  # surface height in px (for shading and highlights)
    oil: np.ndarray  # 0..1 specular strength
    overlays: list  # (colour: (3,) or (3, H, W) linear RGB, alpha (H, W)), composited in order


def healthy_skin(rng: np.random.Generator, tone: Tone, geo: Geometry, params: dict) -> SkinLayers:
    """Base skin with its normal structure: pigment variation, pores, fine lines, vessels, tiny dots, hair, sheen.

    The small red dots and tiny freckles stay below the finding definitions (size and contrast), and appear in
    negative images as often as in positive ones, so a model cannot use them as a shortcut.
    """
    size = geo.size
    base = lab_to_linear_rgb(tone.lab)
    pigment_floor = visible_density(base, MELANIN, HYPERPIGMENTATION_DELTA_E)
    melanin = fbm(rng, size, 2.0, 3) * rng.uniform(0.03, 0.10)
    melanin += fbm(rng, size, size / geo.px(2.0), 2) * rng.uniform(0.03, 0.09)  # mottling
    blood = fbm(rng, size, 1.5, 3) * rng.uniform(0.03, 0.08)
    blood += fbm(rng, size, size / geo.px(2.5), 2) * rng.uniform(0.02, 0.06)
    height = np.zeros((size, size), np.float32)

    pore_count = int(size * size / geo.px_per_mm**2 * rng.uniform(0.4, 1.2))
    pores = dots(rng, size, pore_count, geo.px(rng.uniform(0.04, 0.09)))
    pore_depth = rng.uniform(0.5, 1.5)
    height -= pores * pore_depth
    melanin += pores * rng.uniform(0.0, 0.06)  # pores read mostly by their shading, unlike micro-crusts

    # the criss-cross furrows of the skin surface, plus a few deeper wrinkles
    furrow_angle = rng.uniform(0, 180)
    furrow_depth = rng.uniform(0.3, 1.2)
    for angle in (furrow_angle, furrow_angle + rng.uniform(50, 80)):
        ridged = 1.0 - np.abs(rotate(fbm(rng, size, size / geo.px(rng.uniform(1.0, 2.0)), 2, stretch=3.0), angle))
        height -= furrow_depth * smoothstep(0.82, 1.0, ridged)
    wrinkles = rng.uniform(0.0, 1.5)
    ridged = 1.0 - np.abs(rotate(fbm(rng, size, size / geo.px(6.0), 2, stretch=4.0), rng.uniform(0, 180)))
    height -= wrinkles * smoothstep(0.9, 1.0, ridged)
    height += fbm(rng, size, size / geo.px(0.8), 2) * 0.15

    vessels = [random_curve(rng, size, geo.px(rng.uniform(3, 12)), 0.5) for _ in range(rng.integers(0, 5))]
    vessel_map = cv2.GaussianBlur(polyline_mask(size, vessels), (0, 0), 0.6) if vessels else 0.0
    red_dots = dots(rng, size, int(rng.integers(0, 12)), geo.px(0.12))
    blood += rng.uniform(0.06, 0.14) * vessel_map + rng.uniform(0.08, 0.16) * red_dots

    # tiny freckles: smaller than 0.5 mm and at most half the contrast of the faintest hyperpigmentation
    freckle_count = int(rng.choice([0, 5, 15, 40]))
    freckles = dots(rng, size, freckle_count, geo.px(0.15), weights=rng.uniform(0.3, 1.0, freckle_count))
    melanin += rng.uniform(0.2, 0.5) * pigment_floor * freckles

    oil = np.clip(0.5 + 0.35 * fbm(rng, size, 2.0, 2), 0, 1) * rng.uniform(0.1, 0.7)

    params.update(pores=pore_count, wrinkles=round(wrinkles, 3), vessels=len(vessels), freckles=freckle_count)
    return SkinLayers(base, melanin, blood, height, oil, overlays=[])


def add_hair(rng: np.random.Generator, skin: SkinLayers, tone: Tone, geo: Geometry, params: dict) -> None:
    """Hair lies on top of everything, so it is added after the findings."""
    count = int(rng.choice([0, 0, 2, 5, 12, 25]))
    params["hairs"] = count
    if count == 0:
        return
    size = geo.size
    direction = rng.uniform(0, 2 * math.pi)
    # hairs on one patch of skin grow roughly the same way
    curves = [random_curve(rng, size, geo.px(rng.uniform(3, 15)), 0.08, heading=direction + rng.normal(0, 0.3))
              for _ in range(count)]
    alpha = polyline_mask(size, curves) * rng.uniform(0.5, 0.9)
    dark = tone.lab[0] < 55 or rng.random() < 0.7
    colour = np.array([0.020, 0.014, 0.010] if dark else [0.35, 0.25, 0.15], np.float32)
    skin.overlays.append((colour, alpha))

