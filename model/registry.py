"""The architectures the project can build, by name, and one ``build_model``.

``build_model`` always starts from random weights: nothing is downloaded. An architecture with
``pretrained`` can load verified weights that an installed package ships (model/pretrained.py);
training asks for that, a checkpoint's own weights replace it at load time. ``cam_layer`` names
the last convolutional block (Grad-CAM, out-of-distribution features). ``stages`` lists the
feature blocks in order and ``finish`` runs the rest, so training can freeze a trunk of early
stages and cache its output (training/tail.py). ``mean``/``std`` are the input normalisation
the weights expect; checkpoints record them and the Predictor uses the recorded values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
from torchvision import models

from skinfindings.model import colour_stats
from skinfindings.model.transforms import IMAGENET_MEAN, IMAGENET_STD

# EfficientNet-Lite0/1/2 expect inputs scaled to [-1, 1] (mean = std = 0.5), as it was trained in TensorFlow.
LITE_MEAN = LITE_STD = (0.5, 0.5, 0.5)

Stages = Callable[[nn.Module], list[nn.Module]]
Finish = Callable[[nn.Module, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[[int], nn.Module]
    cam_layer: str  # dotted module path of the last feature block
    stages: Stages | None = None  # feature blocks in forward order
    finish: Finish | None = None  # everything after the last stage: pooling and the head
    pretrained: Callable[[nn.Module], dict] | None = None  # loads verified weights, returns their provenance
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


ARCHITECTURES: dict[str, Architecture] = {}


def register(architecture: Architecture) -> None:
    if architecture.name in ARCHITECTURES:
        raise ValueError(f"architecture {architecture.name!r} is registered twice")
    ARCHITECTURES[architecture.name] = architecture


def _torchvision_stages(model: nn.Module) -> list[nn.Module]:
    return list(model.features)


def _torchvision_finish(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model.classifier(torch.flatten(model.avgpool(x), 1))


def _lite(k: int, n: int, pool: str = "avg") -> nn.Module:
    import timm  # imported here so the torchvision architectures do not pay for it

    # TF "same" padding, as the ImageNet weights were trained; dropout before the head as in timm's default.
    # pool "catavgmax" feeds the head the average and the maximum of each feature map: a finding of a few
    # pixels (a milium) moves the maximum more than the average.
    return timm.create_model(f"tf_efficientnet_lite{k}", pretrained=False, num_classes=n, global_pool=pool)


class FinerPooling(nn.Module):
    """A Lite network whose classifier reads, besides the last feature map's average and maximum, the average and
    maximum of one earlier block's output (a finer map: Lite0 at 224 px, block 4 is 14 x 14 where the last is 7 x 7,
    so a few-pixel finding is a larger share of one position). One forward pass computes both. It holds the timm
    network's own modules under their own names, so the pretrained weights and checkpoints load as for timm's.
    With ``colour`` (the input's normalisation, mean and std), the classifier also reads the input's CIELAB colour
    statistics (model/colour_stats.py), last."""

    def __init__(self, net: nn.Module, block: int, n: int,
                 colour: tuple[tuple[float, ...], tuple[float, ...]] | None = None):
        super().__init__()
        self.conv_stem, self.bn1, self.blocks = net.conv_stem, net.bn1, net.blocks
        self.conv_head, self.bn2, self.global_pool = net.conv_head, net.bn2, net.global_pool
        self.block, self.drop_rate, self.colour = block, net.drop_rate, colour
        finer = [m for m in self.blocks[block].modules() if isinstance(m, nn.Conv2d)][-1].out_channels
        self.classifier = nn.Linear(net.num_features * 2 + finer * 2 + (colour_stats.WIDTH if colour else 0), n)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv_stem(image))
        for i, stage in enumerate(self.blocks):
            x = stage(x)
            if i == self.block:
                finer = x
        x = self.bn2(self.conv_head(x))
        parts = [self.global_pool(x), finer.mean(dim=(2, 3)), finer.amax(dim=(2, 3))]
        if self.colour:
            parts.append(colour_stats.colour_statistics(image, *self.colour))
        pooled = torch.cat(parts, dim=1)
        return self.classifier(nn.functional.dropout(pooled, self.drop_rate, self.training))


def _timm_stages(model: nn.Module) -> list[nn.Module]:
    return [nn.Sequential(model.conv_stem, model.bn1), *model.blocks]


def _timm_finish(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model.forward_head(model.bn2(model.conv_head(x)))


def _load_lite(k: int, model: nn.Module) -> dict:
    from skinfindings.model import pretrained

    return pretrained.load_backbone(model, getattr(pretrained, f"LITE{k}"))


for _name, _build in (("mobilenet_v3_small", models.mobilenet_v3_small), ("mobilenet_v3_large", models.mobilenet_v3_large),
                      ("efficientnet_b0", models.efficientnet_b0)):
    register(Architecture(_name, lambda n, build=_build: build(weights=None, num_classes=n), "features",
                          _torchvision_stages, _torchvision_finish))
register(Architecture("resnet18", lambda n: models.resnet18(weights=None, num_classes=n), "layer4"))
for _k in (0, 1, 2):
    for _pool, _suffix in (("avg", ""), ("catavgmax", "_avgmax")):
        register(Architecture(f"efficientnet_lite{_k}{_suffix}", lambda n, k=_k, pool=_pool: _lite(k, n, pool), "bn2",
                              _timm_stages, _timm_finish, lambda model, k=_k: _load_lite(k, model),
                              mean=LITE_MEAN, std=LITE_STD))
    # The probe with an earlier block's pooled output too (docs/ablation.md, round 6), and with the input's colour
    # statistics as well (round 7). No stages: the trained-tail recipe does not build them.
    for _block in (2, 4):
        for _colour, _suffix in ((None, ""), ((LITE_MEAN, LITE_STD), "_colour")):
            register(Architecture(f"efficientnet_lite{_k}_avgmax_block{_block}{_suffix}",
                                  lambda n, k=_k, b=_block, c=_colour: FinerPooling(_lite(k, n, "catavgmax"), b, n, c),
                                  "bn2", pretrained=lambda model, k=_k: _load_lite(k, model),
                                  mean=LITE_MEAN, std=LITE_STD))


def build_model(arch: str, n_findings: int) -> nn.Module:
    """A fresh, randomly initialised model with one logit per finding."""
    return architecture(arch).build(n_findings)


def architecture(arch: str) -> Architecture:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}") from None


def cam_layer(model: nn.Module, arch: str) -> nn.Module:
    """The module whose activations Grad-CAM and feature-based OOD scores read."""
    return model.get_submodule(ARCHITECTURES[arch].cam_layer)
