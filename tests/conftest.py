"""Shared fixtures. Photos are generated; nothing here is a real patient image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from skinfindings.model.checkpoint import CheckpointMeta, save_checkpoint
from skinfindings.model.registry import build_model
from skinfindings.findings import FINDINGS


def rendered_skin(seed: int, size: int = 320) -> Image.Image:
    """A render of plain skin (the project's renderer): the quality gate assesses it as a phone JPEG, which it does
    not promise for flat generated noise (heavily flattened colour reads as "compressed")."""
    from skinfindings.data.synth import SynthConfig, render_sample

    return Image.fromarray(render_sample(seed, SynthConfig(size=size, findings=())).image)


def skin_like(size: int = 320, seed: int = 0) -> Image.Image:
    """A plain skin-toned photo with mild texture, enough for the loader and the gate."""
    rng = np.random.default_rng(seed)
    base = np.array([200, 150, 125], np.float32)
    noise = rng.normal(0, 8, (size, size, 1)).astype(np.float32)
    pixels = np.clip(base + noise + rng.normal(0, 3, (size, size, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture(scope="session", autouse=True)
def _private_onnx_cache(tmp_path_factory):
    """First-use ONNX exports go to a temporary folder, not the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SKINFINDINGS_CACHE", str(tmp_path_factory.mktemp("skinfindings-cache")))
        yield


@pytest.fixture(scope="session")
def untrained_checkpoint(tmp_path_factory):
    """A random-weight checkpoint for plumbing tests. Not trained, and marked so."""
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_small", len(FINDINGS))
    with torch.no_grad():  # distinct logits per finding, so calibration has something to change
        model.classifier[-1].bias.copy_(torch.linspace(-3, 3, len(FINDINGS)))
    meta = CheckpointMeta(arch="mobilenet_v3_small", input_size=128)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "untrained", model.eval(), meta)
