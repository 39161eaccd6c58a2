"""Lighting and photography for the synthetic renderer: from skin layers to a phone-like 8-bit photo.

Order follows a real capture: surface shading and highlights under a coloured light, a non-skin border in the
frame, then the camera (imperfect white balance, exposure error, vignetting, defocus or motion blur, sensor noise).
JPEG compression happens when the image is saved (quality drawn here, stored in the params).
Colour images are channel-first (3, H, W) float32 linear RGB until the very end: numpy is several times faster on
whole planes than on a trailing axis of 3.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from skinfindings.data.synth_skin import HAEMOGLOBIN, MELANIN, Geometry, SkinLayers, fbm, smoothstep

# sRGB encoding through a lookup table: a power function on every pixel costs more than the rest of the camera.
_LUT_SIZE = 16384
_SRGB = np.where(
    (x := np.linspace(0, 1, _LUT_SIZE, dtype=np.float64)) <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055
).astype(np.float32) * 255.0

# Mean Rec.601 luma of the encoded photo is kept inside this range, well inside what the abstention gate accepts:
# a training image the app would refuse as too dark or too bright teaches nothing.
MIN_LUMA, MAX_LUMA = 52.0, 215.0


def albedo(skin: SkinLayers) -> np.ndarray:
    """Linear-RGB colour of the skin (absorbers applied, overlays composited), before lighting."""
    density = planes(MELANIN) * skin.melanin
    density += planes(HAEMOGLOBIN) * skin.blood
    colour = np.exp(-np.maximum(density, -0.5, out=density), out=density)
    colour *= planes(skin.base)
    for overlay, alpha in skin.overlays:
        colour += (planes(overlay) - colour) * alpha
    return colour


def planes(colour: np.ndarray) -> np.ndarray:
    """A (3,) colour as (3, 1, 1), so it broadcasts over (3, H, W) images; (3, H, W) passes through."""
    return colour if colour.ndim == 3 else colour.reshape(3, 1, 1)


def non_skin_border(rng: np.random.Generator, geo: Geometry, params: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Sometimes part of the frame is scalp hair, clothing or background: (alpha of non-skin, linear colour)."""
    if rng.random() > 0.2:
        return None
    size = geo.size
    kind = str(rng.choice(["hair", "clothing", "background"]))
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    along = xs * math.cos(angle) + ys * math.sin(angle)
    edge = along - rng.uniform(0.22, 0.42) + 0.04 * fbm(rng, size, 3.0, 2)
    alpha = smoothstep(-0.01, 0.01, edge)
    if kind == "hair":
        strands = np.abs(fbm(rng, size, size / 3, 2, stretch=12.0))
        shade = rng.uniform(0.01, 0.25)
        value = shade * (0.6 + 0.4 * smoothstep(0.0, 1.5, strands))
        colour = planes(np.array([1.0, 0.75, 0.55], np.float32)) * value
    elif kind == "clothing":
        weave = 0.08 * np.sin(xs * size * rng.uniform(0.8, 1.6)) * np.sin(ys * size * rng.uniform(0.8, 1.6))
        folds = 0.25 * fbm(rng, size, 2.0, 2)
        grey = rng.uniform(0.02, 0.6)
        hue = (grey * rng.uniform(0.5, 1.5, 3)).astype(np.float32)
        colour = planes(hue) * np.clip(1 + folds + weave, 0.3, 1.5)
    else:
        grey = rng.uniform(0.05, 0.8)
        tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)
        colour = planes(grey * tint) * np.clip(1 + 0.15 * (xs + ys) + 0.05 * fbm(rng, size, 3.0, 2), 0.5, 1.5)
    params["border"] = kind
    return alpha.astype(np.float32), colour.astype(np.float32)


def _surface_curvature(rng: np.random.Generator, size: int, params: dict) -> np.ndarray:
    """Height of the body surface the photo shows (a gently curved cylinder or dome), in px."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    angle = rng.uniform(0, math.pi)
    u = xs * math.cos(angle) + ys * math.sin(angle)
    v = -xs * math.sin(angle) + ys * math.cos(angle)
    bend = rng.uniform(0.2, 1.5) * size
    params["curvature"] = round(bend / size, 3)
    return -bend * (u * u + rng.uniform(0, 0.6) * v * v)


def shade(rng: np.random.Generator, skin: SkinLayers, colour: np.ndarray, geo: Geometry, params: dict) -> np.ndarray:
    """Lambert shading with soft fill light, specular sheen and an occasional cast shadow."""
    size = geo.size
    height = skin.height + _surface_curvature(rng, size, params)
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    norm = np.sqrt(gx * gx + gy * gy + 1.0)
    elevation = math.radians(rng.uniform(35, 80))
    azimuth = rng.uniform(0, 2 * math.pi)
    light = (math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation))
    n_dot_l = (-gx * light[0] - gy * light[1] + light[2]) / norm
    ambient = rng.uniform(0.25, 0.6)
    diffuse = ambient + (1 - ambient) * np.clip(n_dot_l, 0, None) / light[2]

    half_norm = math.sqrt(light[0] ** 2 + light[1] ** 2 + (light[2] + 1.0) ** 2)
    half = (light[0] / half_norm, light[1] / half_norm, (light[2] + 1.0) / half_norm)  # floats keep float32 maps
    n_dot_h = np.clip((-gx * half[0] - gy * half[1] + half[2]) / norm, 0, 1)
    shininess = rng.uniform(15, 60)
    specular = rng.uniform(0.05, 0.3) * np.clip(skin.oil, 0, 1) * n_dot_h**shininess

    if rng.random() < 0.25:  # a soft shadow of the phone or a hand
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
        theta = rng.uniform(0, 2 * math.pi)
        edge = xs * math.cos(theta) + ys * math.sin(theta) - rng.uniform(0.1, 0.45)
        diffuse = diffuse * (1 - rng.uniform(0.2, 0.45) * smoothstep(-0.08, 0.08, edge))
        params["shadow"] = True
    params["light"] = {"elevation": round(math.degrees(elevation), 1), "ambient": round(ambient, 3)}
    return colour * diffuse + specular


def photograph(rng: np.random.Generator, linear: np.ndarray, geo: Geometry, params: dict) -> np.ndarray:
    """Camera: white balance, exposure, vignetting, blur, noise; returns HxWx3 uint8 sRGB."""
    size = geo.size
    warm = float(np.clip(rng.normal(0, 0.07), -0.18, 0.18))  # residual cast after automatic white balance
    tint = float(np.clip(rng.normal(0, 0.025), -0.06, 0.06))
    gains = np.array([1 + warm, 1 + tint, 1 - warm], np.float32)
    exposure = 2 ** rng.uniform(-0.6, 0.5)
    image = linear * planes(gains * exposure)

    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    vignette = rng.uniform(0.0, 0.6)
    image *= 1 - vignette * (xs * xs + ys * ys)


    blur = str(rng.choice(["none", "defocus", "motion"], p=[0.55, 0.3, 0.15]))
    scale = size / 256
    image = np.ascontiguousarray(image.transpose(1, 2, 0))  # cv2 and the output are channel-last
    # lens, demosaicing and noise reduction soften every phone photo a little; defocus softens it more
    # (capped so the finest finding, the micro-crust grid, stays visible)
    sigma = rng.uniform(0.3, 0.6) + (rng.uniform(0.3, 0.6) if blur == "defocus" else 0.0)
    image = cv2.GaussianBlur(image, (0, 0), sigma * scale)
    if blur == "motion":
        length = max(2, int(round(rng.uniform(2, 4) * scale)))
        kernel = np.zeros((length * 2 + 1, length * 2 + 1), np.float32)
        angle = rng.uniform(0, math.pi)
        end = np.array([math.cos(angle), math.sin(angle)]) * length / 2
        cv2.line(kernel, tuple(np.round(length - end).astype(int)), tuple(np.round(length + end).astype(int)), 1.0, 1)
        image = cv2.filter2D(image, -1, kernel / kernel.sum())

    encoded = _SRGB[np.clip(image * (_LUT_SIZE - 1), 0, _LUT_SIZE - 1).astype(np.int32)]
    # phones' colour processing differs between makers; kept moderate so that whole-field redness stays
    # distinguishable from naturally pink skin
    saturation = rng.uniform(0.85, 1.2)
    grey = encoded.mean(axis=2, keepdims=True)
    encoded = np.clip(grey + (encoded - grey) * saturation, 0, 255)
    luma = float((encoded @ np.array([0.299, 0.587, 0.114], np.float32)).mean())
    if not MIN_LUMA <= luma <= MAX_LUMA:  # the phone's auto-exposure would have corrected this far
        encoded = np.clip(encoded * (np.clip(luma, MIN_LUMA, MAX_LUMA) / max(luma, 1.0)), 0, 255)
    read_noise, shot_noise = rng.uniform(0.3, 1.8), rng.uniform(0.3, 2.0)
    # phones denoise colour more than brightness: full-resolution luma noise, coarser and weaker chroma noise
    luma_noise = rng.standard_normal((size, size, 1), dtype=np.float32)
    chroma = rng.standard_normal((size // 2, size // 2, 3), dtype=np.float32)
    noise = luma_noise + 0.4 * cv2.resize(chroma, (size, size), interpolation=cv2.INTER_LINEAR)
    encoded += noise * (read_noise + shot_noise * np.sqrt(encoded / 255.0))
    params["camera"] = {"exposure": round(float(exposure), 3), "vignette": round(vignette, 3), "blur": blur,
                        "blur_sigma": round(sigma, 3), "noise": round(read_noise + shot_noise, 3),
                        "jpeg": int(rng.integers(70, 96)), "white_balance": round(warm, 3), "tint": round(tint, 3),
                        "saturation": round(saturation, 3)}
    return np.clip(encoded + 0.5, 0, 255).astype(np.uint8)
