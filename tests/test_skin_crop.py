"""The skin crop: a portrait is cropped to its face, a close-up stays whole, and prepare_photo applies it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import skin_like
from skinfindings.data.nonskin import encode
from skinfindings.data.photo import load_photo
from skinfindings.model.skin_crop import crop_box
from skinfindings.model.transforms import prepare_photo, resize_photo

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"  # ../shared beside the clone, as in CI
FACE_ELLIPSE = (0.32, 0.16, 0.68, 0.50)  # the generated portrait's face, as shares of width and height


def portrait(width: int = 600, height: int = 800, seed: int = 0) -> np.ndarray:
    """A studio portrait: grey backdrop, dark hair, a textured face and neck, eyes and mouth, a white shirt."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    backdrop = (1 - rows) * np.float32([214, 216, 220]) + rows * np.float32([190, 192, 196])
    image = Image.fromarray(np.broadcast_to(backdrop, (height, width, 3)).astype(np.uint8))
    skin = skin_like(max(width, height), seed).crop((0, 0, width, height))
    face = tuple(int(v * s) for v, s in zip(FACE_ELLIPSE, (width, height, width, height)))
    mask = Image.new("L", (width, height))
    shapes = ImageDraw.Draw(mask)
    shapes.ellipse(face, fill=255)
    shapes.rectangle((int(0.43 * width), int(0.45 * height), int(0.57 * width), int(0.8 * height)), fill=255)  # neck
    draw = ImageDraw.Draw(image)
    draw.ellipse((int(0.29 * width), int(0.1 * height), int(0.71 * width), int(0.38 * height)), fill=(45, 33, 28))
    image.paste(skin, (0, 0), mask)
    for x in (0.43, 0.57):  # eyes, mouth
        draw.ellipse((int((x - 0.03) * width), int(0.29 * height), int((x + 0.03) * width), int(0.31 * height)),
                     fill=(50, 40, 40))
    draw.ellipse((int(0.45 * width), int(0.41 * height), int(0.55 * width), int(0.43 * height)), fill=(170, 80, 80))
    draw.polygon([(0, height), (int(0.1 * width), int(0.78 * height)), (int(0.9 * width), int(0.78 * height)),
                  (width, height)], fill=(236, 236, 238))  # shirt
    noisy = np.asarray(image, np.float32) + rng.normal(0, 2, (height, width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _area(box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _covered(box, target) -> float:
    inside = max(0, min(box[2], target[2]) - max(box[0], target[0])) * max(0, min(box[3], target[3]) - max(box[1], target[1]))
    return inside / _area(target)


@pytest.mark.parametrize("seed", range(3))
def test_a_close_up_of_skin_keeps_its_whole_frame(seed):
    for image in (skin_like(400, seed), Image.fromarray(np.asarray(skin_like(640, seed))[:, :480])):
        assert crop_box(image) == (0, 0, *image.size)


def test_a_face_on_a_grey_backdrop_is_cropped_to_the_face():
    pixels = portrait()
    height, width = pixels.shape[:2]
    box = crop_box(pixels)
    face = tuple(v * s for v, s in zip(FACE_ELLIPSE, (width, height, width, height)))
    assert _covered(box, face) > 0.9, box  # the whole face is kept
    assert _area(box) < 0.45 * width * height, box  # and most of the backdrop and shirt are not
    assert crop_box(pixels) == box  # deterministic


def test_too_little_skin_keeps_the_whole_frame():
    sky = np.broadcast_to(np.uint8([90, 140, 220]), (300, 400, 3)).copy()
    sky[140:150, 190:200] = (200, 150, 120)  # a speck of skin colour
    assert crop_box(sky) == (0, 0, 400, 300)


def test_prepare_photo_applies_the_crop():
    data = encode(portrait(), "PNG")  # PNG: no draft decoding, so the reference below decodes the same pixels
    image = load_photo(data)
    box = crop_box(image)
    assert box != (0, 0, *image.size)
    pixels, stored_size = prepare_photo(data, 96)
    assert stored_size == image.size  # the gate's too-small check still sees the whole photo's size
    assert np.array_equal(pixels, resize_photo(image, 96, box))
    assert not np.array_equal(pixels, resize_photo(image, 96))


@pytest.mark.skipif(not (FACES / "landmarks.json").is_file(), reason="../shared/data/faces is not beside the clone")
def test_real_portraits_are_cropped_to_the_landmark_face_box():
    from skinfindings.model.gate_eval import landmark_face_box

    landmarks = json.loads((FACES / "landmarks.json").read_text())
    for name in sorted(landmarks)[:6]:
        image = load_photo(FACES / "images" / name)
        box = crop_box(image)
        assert _covered(box, landmark_face_box(landmarks[name])) > 0.7, (name, box)
        assert _area(box) < 0.6 * image.width * image.height, (name, box)
