"""Heatmaps only on skin (issue 22: "heatmaps often sit on hair or background"): Grad-CAM is masked with the photo's
skin region (the gate's and the crop's colour rule) and normalised again within it. Generated photos only."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import rendered_skin
from skinfindings.app import heatmap
from skinfindings.findings import FINDINGS
from skinfindings.model.predictor import Predictor
from skinfindings.model.skin_colour import colour_planes, skin_region

BACKDROP = (40, 80, 190)  # a blue wall: no skin has this hue


@pytest.fixture(scope="module")
def predictor(untrained_checkpoint):
    return Predictor(untrained_checkpoint)


def half_skin(side: int, seed: int = 3) -> np.ndarray:
    """A render of skin on the left, a plain blue backdrop (with sensor noise) on the right."""
    pixels = np.asarray(rendered_skin(seed, size=side)).copy()
    noise = np.random.default_rng(seed).normal(0, 4, (side, side - side // 2, 3))
    pixels[:, side // 2:] = np.clip(np.array(BACKDROP) + noise, 0, 255).astype(np.uint8)
    return pixels


def test_no_heat_outside_the_skin_and_the_map_is_normalised_within_it(predictor):
    pixels = half_skin(predictor.meta.input_size)
    skin = skin_region(colour_planes(pixels))
    assert 0.3 < skin.mean() < 0.6 and not skin[:, -pixels.shape[1] // 4:].any()  # the mask is the left half
    maps = heatmap.grad_cam(predictor, pixels, FINDINGS)
    for finding, heat in maps.items():
        assert not heat[~skin].any(), finding  # no heat outside the skin, however strong the evidence there
        assert heat[skin].max() == pytest.approx(1.0) or not heat.any(), finding
        picture = heatmap.overlay(pixels, heat)
        assert np.array_equal(picture[~skin], pixels[~skin]), finding  # the backdrop is drawn as it is


def test_the_mask_is_left_out_only_when_there_is_too_little_skin():
    heat = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    backdrop = np.broadcast_to(np.array(BACKDROP, np.uint8), (64, 64, 3)).copy()
    assert heatmap.skin_mask(backdrop) is None
    assert np.array_equal(heatmap.on_skin(heat, None), heat)  # no skin region to trust: the map stays whole
    skin = np.zeros((64, 64), bool)
    skin[:, :16] = True
    masked = heatmap.on_skin(heat, skin)
    assert not masked[:, 16:].any() and masked.max() == pytest.approx(1.0)
