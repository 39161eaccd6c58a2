"""The eval preprocessing, shared by training and inference so the two cannot drift.

Inference = ``load_photo`` -> ``resize_photo`` -> ``to_tensor``. Training inserts
its augmentations between ``resize_photo`` and ``to_tensor`` (training/augment.py).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_photo(image: Image.Image, size: int) -> np.ndarray:
    """Whole photo to a ``size`` x ``size`` uint8 RGB array.

    The photo is squeezed, not centre-cropped: a finding at the edge of a
    phone photo must still reach the model, and a 4:3 squeeze is mild.
    """
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def prepare_photo(source, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A photo as the model sees it: safe decode (draft mode to ``size``), then ``resize_photo``.

    Returns the pixels and the photo's stored size (the abstention gate needs it). Raises PhotoError.
    """
    from skinfindings.data.photo import load_photo_sized  # data/ depends on nothing in model/

    image, stored_size = load_photo_sized(source, draft_size=size)
    return resize_photo(image, size), stored_size


def to_tensor(pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """HWC uint8 -> normalised CHW float32 tensor."""
    array = pixels.astype(np.float32) / 255.0
    array = (array - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
