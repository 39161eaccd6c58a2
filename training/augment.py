"""Exactly two presets: train (augmentation) and eval (none).

Both run on the uint8 array that ``model.transforms.resize_photo`` made, so the
resize and normalisation are shared with inference. Colour augmentation is kept
gentle on purpose: redness and brown tones *are* the labels, so a strong hue
shift would change the truth of the image.
"""

from __future__ import annotations

from typing import Callable

import albumentations as A
import numpy as np

Augment = Callable[[np.ndarray], np.ndarray]


def train_preset(seed: int = 0) -> Augment:
    transform = A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=0.5),
            A.Affine(scale=(0.85, 1.2), rotate=(-25, 25), translate_percent=(-0.05, 0.05), p=0.5),
            A.ColorJitter(brightness=(0.8, 1.2), contrast=(0.8, 1.2), saturation=(0.9, 1.1), hue=(-0.015, 0.015), p=0.6),
            A.OneOf([A.GaussianBlur(sigma_limit=(0.3, 1.2)), A.MotionBlur(blur_limit=(3, 5))], p=0.2),
            A.GaussNoise(std_range=(0.01, 0.05), p=0.2),
            A.ImageCompression(quality_range=(45, 95), p=0.3),
            # Small holes only: a large one could hide the single pustule that makes the label true.
            A.CoarseDropout(num_holes_range=(1, 3), hole_height_range=(0.04, 0.1), hole_width_range=(0.04, 0.1), p=0.2),
        ],
        seed=seed,
    )
    return lambda pixels: transform(image=pixels)["image"]


def eval_preset() -> None:
    """Evaluation is deterministic: no augmentation (resize and normalisation are shared with the Predictor)."""
    return None
