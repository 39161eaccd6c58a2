"""Twelve colour statistics of a photo as the model sees it, in CIELAB, for the probe to read beside the backbone's
features (docs/ablation.md, round 7).

Erythema is redness and hyperpigmentation darkening, each against the surrounding skin; an ImageNet backbone,
trained with colour augmentation, may be partly blind to such shifts (round 7 found that these statistics add little
to its features, so they are not in the shipped model). CIELAB separates lightness (L*) from the
red-green (a*) and yellow-blue (b*) axes, and skin redness moves a* (Weatherall and Coombs, J Invest Dermatol 1992,
99:468, measured skin colour in CIELAB). Per channel: the mean, the spread, and the means of the
highest and lowest tenth of positions (a red or dark patch moves its tail before it moves the mean).

Written in torch ops that export to ONNX, so the Predictor computes them in the same pass as the backbone.
"""

from __future__ import annotations

import torch

BLOCK = 4  # the statistics are taken over the input averaged in 4 x 4 pixel blocks (at 224 px: 56 x 56 positions)
TAIL = 0.1  # the share of positions in each tail
NAMES = tuple(f"{channel} {stat}" for channel in ("L*", "a*", "b*") for stat in ("mean", "sd", "top 10%", "bottom 10%"))
WIDTH = len(NAMES)

# sRGB (D65) to CIE XYZ, divided by the D65 white point, so that white is (1, 1, 1) (IEC 61966-2-1; CIE 15).
_RGB_TO_XYZ = torch.tensor([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])


def lab(rgb: torch.Tensor) -> torch.Tensor:
    """(n, 3, h, w) sRGB in [0, 1] to CIELAB (L* 0..100; a*, b* about -100..100), in the same layout."""
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum("ij,njhw->nihw", _RGB_TO_XYZ / _WHITE[:, None], linear)
    f = torch.where(xyz > 0.008856, xyz.clamp(min=0.008856) ** (1 / 3), 7.787 * xyz + 16 / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def colour_statistics(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(n, WIDTH) statistics, divided by 100, of a batch ``x`` normalised by ``mean`` and ``std`` (as the model
    receives it). The same for a photo and its mirror image."""
    rgb = torch.stack([x[:, i] * std[i] + mean[i] for i in range(3)], dim=1)
    values = lab(torch.nn.functional.avg_pool2d(rgb.clamp(0, 1), BLOCK)).flatten(2) / 100  # (n, 3, positions)
    k = max(1, round(TAIL * int(values.shape[2])))  # int(): a constant when exported (the input size is fixed)
    top = values.topk(k, dim=2).values.mean(dim=2)
    bottom = -(-values).topk(k, dim=2).values.mean(dim=2)
    stats = torch.stack([values.mean(dim=2), values.std(dim=2), top, bottom], dim=2)  # (n, 3 channels, 4)
    return stats.flatten(1)
