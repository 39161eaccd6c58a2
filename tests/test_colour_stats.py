"""The colour statistics the round-7 probe reads: CIELAB as the standard defines it, and statistics that follow
redness and darkening, the same for a photo and its mirror image."""

from __future__ import annotations

import numpy as np
import torch

from skinfindings.model.colour_stats import NAMES, WIDTH, colour_statistics, lab

LITE = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def test_cielab_matches_the_standards_reference_values():
    # sRGB white, red, green and mid-grey, D65 (published CIELAB values, e.g. the sRGB primaries' L*a*b*).
    rgb = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.5]]).view(4, 3, 1, 1)
    expected = [[100.0, 0.0, 0.0], [53.24, 80.09, 67.20], [87.73, -86.18, 83.18], [53.39, 0.0, 0.0]]
    np.testing.assert_allclose(lab(rgb).view(4, 3).numpy(), expected, atol=0.05)


def _skin(size: int = 64, red_patch: float = 0.0, dark_patch: float = 0.0) -> torch.Tensor:
    """A skin-coloured square with a redder and a darker patch of the given strength, normalised as Lite's input."""
    rgb = torch.tensor([0.85, 0.65, 0.55]).view(3, 1, 1).repeat(1, size, size)
    rgb[:, 8:24, 8:24] += torch.tensor([0.1, -0.2, -0.2]).view(3, 1, 1) * red_patch
    rgb[:, 40:56, 40:56] *= 1 - 0.5 * dark_patch
    return ((rgb.clamp(0, 1) - 0.5) / 0.5)[None]


def _stats(x: torch.Tensor) -> dict[str, float]:
    return dict(zip(NAMES, colour_statistics(x, *LITE)[0].tolist()))


def test_a_red_patch_raises_the_top_of_a_star_and_a_dark_patch_lowers_the_bottom_of_l_star():
    plain, red, dark = _stats(_skin()), _stats(_skin(red_patch=1)), _stats(_skin(dark_patch=1))
    assert len(plain) == WIDTH == 12
    assert plain["a* sd"] < 1e-4 and abs(plain["a* top 10%"] - plain["a* mean"]) < 1e-4  # one colour: no tails
    assert red["a* top 10%"] > plain["a* top 10%"] + 0.1 and red["a* sd"] > 0.05
    assert abs(red["L* bottom 10%"] - plain["L* bottom 10%"]) < abs(dark["L* bottom 10%"] - plain["L* bottom 10%"])
    assert dark["L* bottom 10%"] < plain["L* bottom 10%"] - 0.2 and dark["a* top 10%"] <= plain["a* top 10%"] + 1e-4


def test_the_statistics_are_the_same_for_a_photo_and_its_mirror_image():
    x = _skin(red_patch=1, dark_patch=0.5)
    torch.testing.assert_close(colour_statistics(x, *LITE), colour_statistics(torch.flip(x, dims=[3]), *LITE))
