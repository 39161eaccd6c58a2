"""The abstention gate: can this photo be assessed at all?

Used by the Predictor, so the app, the pre-sort and evaluation abstain alike.
Each reason has a patient-facing message and a retake tip. The gate reads
simple image statistics of the photo as the model sees it (the resized array)
plus the size the photo had before resizing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Abstention:
    code: str
    message: str  # why we cannot assess, for a patient
    tip: str  # how to retake the photo


REASONS: dict[str, Abstention] = {
    a.code: a
    for a in (
        Abstention("too_small", "The photo is too small to assess.", "Send the original photo, not a thumbnail or a crop."),
        Abstention("too_dark", "The photo is too dark to assess.", "Retake it in daylight or a bright room, without a harsh shadow."),
        Abstention("too_bright", "The photo is overexposed (too bright) to assess.", "Retake it out of direct sun and without the flash."),
    )
}

MIN_ASSESS_SIDE = 96


@dataclass(frozen=True)
class QualityStats:
    brightness: float  # mean luma, 0..255
    clipped_fraction: float  # share of near-white pixels

    def as_dict(self) -> dict[str, float]:
        return {"brightness": self.brightness, "clipped_fraction": self.clipped_fraction}


def measure(pixels: np.ndarray) -> QualityStats:
    luma = pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return QualityStats(brightness=float(luma.mean()), clipped_fraction=float((luma > 250).mean()))


def assess(pixels: np.ndarray, original_size: tuple[int, int]) -> tuple[Abstention | None, QualityStats]:
    """First reason the photo cannot be assessed (or None), and the statistics behind it."""
    stats = measure(pixels)
    if min(original_size) < MIN_ASSESS_SIDE:
        return REASONS["too_small"], stats
    if stats.brightness < 35:
        return REASONS["too_dark"], stats
    if stats.brightness > 235 or stats.clipped_fraction > 0.5:
        return REASONS["too_bright"], stats
    return None, stats
