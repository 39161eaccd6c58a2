"""The five findings for the synthetic renderer, one function each, in FINDINGS order.

Each ``render_<finding>(rng, skin, geo, allowed, params) -> mask`` adds the finding to the skin layers in place and
returns the boolean mask of where it is visible. Strengths start at "faint but visible", never below: a label of 1
must mean a person would see it (see DATASET_CARD.md for the definitions).
``allowed`` (H, W) is 1 on skin and 0 on the non-skin border, so findings are placed on skin.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from skinfindings.data.synth_skin import (ERYTHEMA_DELTA_E, FIELD_ERYTHEMA_DELTA_E, HAEMOGLOBIN,
                                          HYPERPIGMENTATION_DELTA_E, MELANIN, Geometry, SkinLayers, dots, fbm,
                                          smoothstep, visible_density)
from skinfindings.findings import FINDINGS


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return ys, xs


def _distance(size: int, centre: np.ndarray) -> np.ndarray:
    ys, xs = _grid(size)
    return np.sqrt((ys - centre[0]) ** 2 + (xs - centre[1]) ** 2)


def sample_points(rng: np.random.Generator, allowed: np.ndarray, count: int) -> np.ndarray:
    """(count, 2) y, x points on skin."""
    candidates = np.flatnonzero(allowed.ravel() > 0.95)
    if len(candidates) == 0:
        candidates = np.arange(allowed.size)
    picks = rng.choice(candidates, count)
    return np.stack(np.unravel_index(picks, allowed.shape), axis=1).astype(np.float32)


def irregular_blobs(rng: np.random.Generator, geo: Geometry, centres: np.ndarray, radii: np.ndarray,
                    roughness: float) -> np.ndarray:
    """0..1 soft blobs with irregular, noisy outlines around the centres."""
    size = geo.size
    envelope = np.zeros((size, size), np.float32)
    for centre, radius in zip(centres, radii):
        envelope = np.maximum(envelope, np.exp(-0.5 * (_distance(size, centre) / radius) ** 2))
    edge = fbm(rng, size, size / max(radii.mean(), 2.0) * 0.8, 3)
    return smoothstep(0.35, 0.65, envelope + roughness * 0.15 * edge)


def _domes(geo: Geometry, centres: np.ndarray, radii: np.ndarray, reach: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Hemispherical dome profile (0..1, max over domes) and the distance-to-nearest-centre / radius map
    (computed out to ``reach`` radii, inf beyond)."""
    size = geo.size
    profile = np.zeros((size, size), np.float32)
    relative = np.full((size, size), np.inf, np.float32)
    for centre, radius in zip(centres, radii):
        reach_px = int(math.ceil(radius * reach)) + 1
        y0, y1 = max(0, int(centre[0]) - reach_px), min(size, int(centre[0]) + reach_px + 1)
        x0, x1 = max(0, int(centre[1]) - reach_px), min(size, int(centre[1]) + reach_px + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        r = np.sqrt((ys - centre[0]) ** 2 + (xs - centre[1]) ** 2) / radius
        profile[y0:y1, x0:x1] = np.maximum(profile[y0:y1, x0:x1], np.sqrt(np.clip(1 - r * r, 0, 1)))
        relative[y0:y1, x0:x1] = np.minimum(relative[y0:y1, x0:x1], r)
    return profile, relative


def _clustered(rng: np.random.Generator, allowed: np.ndarray, geo: Geometry, count: int, clusters: int,
               spread_mm: float) -> np.ndarray:
    centres = sample_points(rng, allowed, clusters)
    which = rng.integers(0, clusters, count)
    points = centres[which] + rng.normal(0, geo.px(spread_mm), (count, 2))
    return np.clip(points, 0, geo.size - 1)


def render_erythema(rng, skin: SkinLayers, geo: Geometry, allowed, params) -> np.ndarray:
    size = geo.size
    mode = str(rng.choice(["field", "diffuse", "patchy"], p=[0.35, 0.35, 0.3]))
    floor = visible_density(skin.base, HAEMOGLOBIN, FIELD_ERYTHEMA_DELTA_E if mode == "field" else ERYTHEMA_DELTA_E)
    strength = floor * float(rng.uniform(1.0, 2.2))
    variation = fbm(rng, size, rng.uniform(1.0, 2.5), 3)
    mottle = np.clip(0.85 + 0.15 * fbm(rng, size, size / geo.px(1.5), 2), 0.6, 1.1)
    if mode == "field":  # after microneedling the whole treated area is red
        shape = np.clip(0.9 + 0.1 * variation, 0.7, 1.0)
    elif mode == "diffuse":
        count = int(rng.integers(1, 3))
        radii = rng.uniform(0.2, 0.45, count) * size
        shape = np.zeros((size, size), np.float32)
        for centre, radius in zip(sample_points(rng, allowed, count), radii):
            shape = np.maximum(shape, np.exp(-0.5 * (_distance(size, centre) / radius) ** 2))
        shape *= np.clip(0.85 + 0.15 * variation, 0, 1)
    else:
        level = rng.uniform(-0.5, 0.5)
        shape = smoothstep(level - 0.9, level + 0.9, variation)
    skin.blood += strength * shape * mottle
    if rng.random() < 0.3:  # pinpoint bleeding spots right after needling
        spots = dots(rng, size, int(size * size / geo.px_per_mm**2 * 0.05), geo.px(0.1))
        skin.blood += 1.5 * floor * spots * shape
    skin.oil += 0.15 * shape  # inflamed skin looks a little shinier
    params["erythema"] = {"mode": mode, "strength": round(strength, 3), "floor": round(floor, 3)}
    return shape >= 0.35


def render_crusting(rng, skin: SkinLayers, geo: Geometry, allowed, params) -> np.ndarray:
    kind = str(rng.choice(["crust", "microcrust", "both"], p=[0.5, 0.4, 0.1]))
    mask = np.zeros((geo.size, geo.size), bool)
    if kind in ("crust", "both"):
        mask |= _crusts(rng, skin, geo, allowed, params)
    if kind in ("microcrust", "both"):
        mask |= _micro_crusts(rng, skin, geo, allowed, params)
    params.setdefault("crusting", {})["kind"] = kind
    return mask


def _crusts(rng, skin: SkinLayers, geo: Geometry, allowed, params) -> np.ndarray:
    """Irregular honey-yellow to dark red-brown crusts with a rough, cracked surface."""
    size = geo.size
    count = int(rng.integers(1, 5))
    radii = np.array([geo.px(rng.uniform(1.2, 6.0)) for _ in range(count)], np.float32)
    alpha = irregular_blobs(rng, geo, sample_points(rng, allowed, count), np.maximum(radii, 3.0), roughness=1.2)
    honey = np.array([0.58, 0.26, 0.045], np.float32)
    dark = np.array([0.13, 0.035, 0.018], np.float32)
    darkness = float(rng.uniform(0.1, 1.0))
    # crusts darken towards their thicker middle and vary in colour inside
    mix = np.clip(darkness + 0.2 * fbm(rng, size, size / geo.px(2.0), 3) + 0.3 * (alpha - 0.5), 0, 1)
    cracks = smoothstep(0.88, 0.98, 1.0 - np.abs(fbm(rng, size, size / geo.px(1.5), 3)))
    texture = (1 - 0.6 * cracks) * np.clip(1 + 0.12 * fbm(rng, size, size / geo.px(0.3), 1), 0.5, 1.5)
    colour = (honey.reshape(3, 1, 1) * (1 - mix) + dark.reshape(3, 1, 1) * mix) * texture
    skin.overlays.append((colour, alpha * rng.uniform(0.85, 1.0)))
    skin.height += alpha * (geo.px(0.25) + 0.5 * fbm(rng, size, size / geo.px(0.5), 2))
    skin.blood += 0.25 * np.clip(smoothstep(0.0, 0.3, alpha) - alpha, 0, 1)  # a little redness at the rim
    skin.oil *= 1 - 0.7 * alpha
    params.setdefault("crusting", {}).update(crusts=count, darkness=round(darkness, 3))
    return alpha > 0.3


def _micro_crusts(rng, skin: SkinLayers, geo: Geometry, allowed, params) -> np.ndarray:
    """The fine grid of tiny brown micro-crusts after fractional lasers ("bronzing")."""
    size = geo.size
    # dots and spacing have a floor in pixels so the grid survives resizing to the model's input (160-224 px)
    spacing = max(geo.px(rng.uniform(0.7, 1.6)), 5.5 * geo.size / 256)
    n = int(size * 1.5 / spacing) + 2
    grid = (np.stack(np.mgrid[0:n, 0:n], axis=-1).reshape(-1, 2) - n / 2) * spacing
    grid += rng.normal(0, 0.2 * spacing, grid.shape)
    angle = rng.uniform(0, math.pi)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    points = grid @ rotation.T + size / 2
    inside = (points >= 0).all(1) & (points < size).all(1)
    points = points[inside]
    region = np.ones((size, size), np.float32) if rng.random() < 0.5 else irregular_blobs(
        rng, geo, sample_points(rng, allowed, 1), np.array([size * rng.uniform(0.25, 0.5)]), roughness=1.0)
    region = region * (allowed > 0.5)
    sigma = max(geo.px(rng.uniform(0.1, 0.2)), 1.3 * geo.size / 256)
    spots = dots(rng, size, 0, sigma, where=region, points=points, weights=rng.uniform(0.6, 1.3, len(points)))
    alpha = np.clip(spots, 0, 1) * rng.uniform(0.8, 0.95)
    # dried blood and pigment: a dark red-brown that is always darker than this skin, never flat black
    density = visible_density(skin.base, MELANIN, HYPERPIGMENTATION_DELTA_E) * rng.uniform(3.0, 5.0)
    colour = skin.base * np.exp(-density * (0.8 * MELANIN + 0.3 * HAEMOGLOBIN))
    skin.overlays.append((colour, alpha))
    skin.height += spots * 0.4
    params.setdefault("crusting", {}).update(grid_mm=round(spacing / geo.px_per_mm, 3))
    return alpha > 0.3


def render_milia(rng, skin: SkinLayers, geo: Geometry, allowed, params) -> np.ndarray:
    """Clusters of 1-2 mm firm white/ivory domes with a highlight and no red halo."""
    count = int(rng.integers(2, 16))
    centres = _clustered(rng, allowed, geo, count, int(rng.integers(1, 4)), rng.uniform(1.5, 6.0))
    radii = np.maximum(geo.px(1.0) * rng.uniform(0.5, 1.0, count), 2.0)
    profile, _ = _domes(geo, centres, radii)
    # keratin seen through a thin skin layer: ivory, lighter than any skin, with soft edges
    alpha = smoothstep(0.0, 0.8, profile) * rng.uniform(0.65, 0.9)
    ivory = np.array([0.88, 0.83, 0.68], np.float32) * rng.uniform(0.85, 1.0)
    skin.overlays.append((ivory, alpha))
    skin.height += profile * radii.mean() * 0.6
    skin.oil = np.maximum(skin.oil, 0.6 * profile)
    params["milia"] = {"count": count, "radius_mm": round(float(radii.mean() / geo.px_per_mm), 3)}
    return profile > 0.2


def render_pustules(rng, skin: SkinLayers, geo: Geometry, allowed, params) -> np.ndarray:
    """Raised domes with a white-yellow centre and a red halo."""
    count = int(rng.integers(1, 9))
    clusters = int(rng.integers(1, count + 1))
    centres = _clustered(rng, allowed, geo, count, clusters, rng.uniform(2.0, 8.0))
    radii = np.maximum(geo.px(1.0) * rng.uniform(0.7, 2.2, count), 2.5)
    halo_width = rng.uniform(1.5, 2.3)
    profile, relative = _domes(geo, centres, radii, reach=3.2 * halo_width)
    halo = np.exp(-0.5 * (relative / halo_width) ** 2)
    skin.blood += rng.uniform(0.45, 0.9) * halo
    core = rng.uniform(0.4, 0.7)
    pus = smoothstep(core, core * 0.5, relative)
    pus_colour = np.array([0.85, 0.76, 0.42], np.float32) * rng.uniform(0.85, 1.05)
    skin.overlays.append((pus_colour, pus * rng.uniform(0.8, 0.95)))
    skin.height += profile * radii.mean() * 0.8
    skin.oil = np.maximum(skin.oil, 0.7 * profile)
    params["pustules"] = {"count": count, "radius_mm": round(float(radii.mean() / geo.px_per_mm), 3)}
    return relative <= 1.0


def render_hyperpigmentation(rng, skin: SkinLayers, geo: Geometry, allowed, params) -> np.ndarray:
    """Brown patches or spots, irregular and mottled, darker than the surrounding skin."""
    size = geo.size
    mode = str(rng.choice(["patches", "spots"], p=[0.6, 0.4]))
    if mode == "patches":
        count = int(rng.integers(1, 4))
        radii = np.array([geo.px(rng.uniform(3.0, 12.0)) for _ in range(count)], np.float32)
        centres = sample_points(rng, allowed, count)
    else:
        count = int(rng.integers(4, 20))
        radii = np.array([geo.px(rng.uniform(0.9, 2.2)) for _ in range(count)], np.float32)
        centres = _clustered(rng, allowed, geo, count, int(rng.integers(1, 4)), rng.uniform(3.0, 10.0))
    shape = irregular_blobs(rng, geo, centres, np.maximum(radii, 3.0), roughness=1.5)
    mottle = np.clip(0.8 + 0.25 * fbm(rng, size, size / geo.px(1.2), 3), 0.5, 1.1)
    floor = visible_density(skin.base, MELANIN, HYPERPIGMENTATION_DELTA_E)
    strength = floor * float(rng.uniform(1.1, 2.5))
    skin.melanin += strength * shape * mottle
    params["hyperpigmentation"] = {"mode": mode, "count": count, "strength": round(strength, 3),
                                   "floor": round(floor, 3)}
    return shape >= 0.4


RENDERERS = {
    "erythema": render_erythema,
    "crusting": render_crusting,
    "milia": render_milia,
    "pustules": render_pustules,
    "hyperpigmentation": render_hyperpigmentation,
}
assert tuple(RENDERERS) == FINDINGS, "RENDERERS must follow FINDINGS order"
