"""The architectures the project can build, by name, and one ``build_model``.

Weights always start random: nothing is downloaded. ``cam_layer`` names the last
convolutional block, used for Grad-CAM heatmaps and out-of-distribution features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.nn as nn
from torchvision import models


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[[int], nn.Module]
    cam_layer: str  # dotted module path of the last feature block


ARCHITECTURES: dict[str, Architecture] = {}


def register(name: str, build: Callable[[int], nn.Module], cam_layer: str) -> None:
    if name in ARCHITECTURES:
        raise ValueError(f"architecture {name!r} is registered twice")
    ARCHITECTURES[name] = Architecture(name, build, cam_layer)


register("mobilenet_v3_small", lambda n: models.mobilenet_v3_small(weights=None, num_classes=n), "features")
register("mobilenet_v3_large", lambda n: models.mobilenet_v3_large(weights=None, num_classes=n), "features")
register("efficientnet_b0", lambda n: models.efficientnet_b0(weights=None, num_classes=n), "features")
register("resnet18", lambda n: models.resnet18(weights=None, num_classes=n), "layer4")


def build_model(arch: str, n_findings: int) -> nn.Module:
    """A fresh, randomly initialised model with one logit per finding."""
    try:
        spec = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}") from None
    return spec.build(n_findings)


def cam_layer(model: nn.Module, arch: str) -> nn.Module:
    """The module whose activations Grad-CAM and feature-based OOD scores read."""
    return model.get_submodule(ARCHITECTURES[arch].cam_layer)
