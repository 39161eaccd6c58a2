"""The eval preprocessing, shared by training and inference so the two cannot drift.

Inference = ``prepare_photo`` (decode -> skin crop box -> ``resize_photo``) -> ``to_tensor``.
Training inserts its augmentations between ``prepare_photo`` and ``to_tensor`` (training/augment.py).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from skinfindings.model.skin_crop import crop_box

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# The skin crop can keep about half the frame's side of a portrait; decoding at twice the model's
# input keeps that half at full resolution (a 12-MP JPEG is then decoded at 1/4 instead of 1/8
# scale for inputs above 189 px: about 6 ms more, model/bench.py).
DRAFT_FACTOR = 2


def resize_photo(image: Image.Image, size: int, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Whole photo (or its ``box``) to a ``size`` x ``size`` uint8 RGB array.

    The photo is squeezed, not centre-cropped: a finding at the edge of a
    phone photo must still reach the model, and a 4:3 squeeze is mild.
    """
    if box is not None and box == (0, 0, *image.size):
        box = None
    if image.size != (size, size) or box is not None:
        image = image.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def prepare_photo(source, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A photo as the model sees it: safe decode (draft mode to ``DRAFT_FACTOR * size``), the skin
    crop box (model/skin_crop.py: the face of a portrait, a close-up whole), then ``resize_photo``.

    Returns the pixels and the photo's stored size (the abstention gate's too-small check needs
    the whole photo's size, not the crop's). Raises PhotoError.
    """
    from skinfindings.data.photo import load_photo_sized  # data/ depends on nothing in model/

    image, stored_size = load_photo_sized(source, draft_size=DRAFT_FACTOR * size)
    return resize_photo(image, size, crop_box(image)), stored_size


def to_tensor(pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """HWC uint8 -> normalised CHW float32 tensor."""
    array = pixels.astype(np.float32) / 255.0
    array = (array - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
