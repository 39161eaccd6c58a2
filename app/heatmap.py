"""Grad-CAM: where in the photo the model's evidence for a finding lies.

    from skinfindings.app.heatmap import grad_cam, overlay
    maps = grad_cam(predictor, prediction.pixels, prediction.present)   # finding -> HxW array in 0..1
    picture = overlay(prediction.pixels, maps["erythema"])              # uint8 RGB, same size as pixels

It reuses the Predictor's model and preprocessing (``predictor.tensor``), so the
heatmap explains exactly the input the prediction came from. The map is the
Grad-CAM of the finding's logit at the architecture's ``cam_layer``; dividing by
the calibration temperature would only rescale it, and each map is normalised.

Heat is drawn on skin only: the model's evidence that falls on hair, clothes or the background
is not a finding on the skin, and a patient reads heat there as one. Each map is masked with
the photo's skin region (``model/skin_crop.py: usable_skin``, the region the skin crop uses)
and normalised again within it. When the photo has too little skin region to trust (pale skin
in cool light can fall outside the strict rule), the map is left whole rather than emptied.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps

from skinfindings.findings import FINDINGS
from skinfindings.model.registry import cam_layer
from skinfindings.model.skin_colour import colour_planes
from skinfindings.model.skin_crop import usable_skin

# Inferno runs black-red-yellow: no green, so a heatmap never reads as an "all good" colour.
COLORMAP = "inferno"
OVERLAY_STRENGTH = 0.6


@dataclass(frozen=True)
class CamResult:
    maps: dict[str, np.ndarray]  # finding -> HxW float32 in 0..1, the size of the pixels
    probabilities: dict[str, float]  # calibrated, from the same forward pass


def grad_cam_result(predictor, pixels: np.ndarray, findings: list[str] | tuple[str, ...]) -> CamResult:
    """One forward pass, one gradient per finding; safe to call from several threads at once."""
    layer = cam_layer(predictor.model, predictor.meta.arch)
    owner = threading.get_ident()
    captured: list[torch.Tensor] = []

    def keep_activations(module, inputs, output):
        # The model is shared with concurrent predictions; keep only this thread's forward pass.
        if threading.get_ident() == owner:
            captured.append(output)

    batch = predictor.tensor(pixels).unsqueeze(0).to(predictor.device).requires_grad_(True)
    handle = layer.register_forward_hook(keep_activations)
    try:
        with torch.enable_grad():
            logits = predictor.model(batch)
            activations = captured[-1]
            gradients = [
                torch.autograd.grad(logits[0, FINDINGS.index(f)], activations, retain_graph=True)[0] for f in findings
            ]
    finally:
        handle.remove()
    probabilities = predictor.calibrate(logits.detach().float().cpu())[0]
    size = pixels.shape[:2]
    skin = skin_mask(pixels)
    maps = {f: on_skin(_cam(activations.detach(), g, size), skin) for f, g in zip(findings, gradients)}
    return CamResult(maps, dict(zip(FINDINGS, map(float, probabilities))))


def grad_cam(predictor, pixels: np.ndarray, findings: list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
    return grad_cam_result(predictor, pixels, findings).maps


def _cam(activations: torch.Tensor, gradients: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    weights = gradients.mean(dim=(2, 3), keepdim=True)  # one weight per channel
    cam = F.relu((weights * activations).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam.float(), size=size, mode="bilinear", align_corners=False)[0, 0]
    top = float(cam.max())
    # An all-zero map (no positive evidence anywhere) stays zero instead of amplifying noise.
    return (cam / top).cpu().numpy().astype(np.float32) if top > 0 else np.zeros(size, np.float32)


def skin_mask(pixels: np.ndarray) -> np.ndarray | None:
    """The photo's skin region (HxW bool) as the skin crop finds it, or None when it is too small to mask with."""
    return usable_skin(colour_planes(pixels))


def on_skin(heat: np.ndarray, skin: np.ndarray | None) -> np.ndarray:
    """The map with no heat outside the skin, normalised again within it (0..1); unchanged without a mask."""
    if skin is None:
        return heat
    masked = np.where(skin, heat, 0.0).astype(np.float32)
    top = float(masked.max())
    return masked / top if top > 0 else masked


def overlay(pixels: np.ndarray, heat: np.ndarray, strength: float = OVERLAY_STRENGTH) -> np.ndarray:
    """Colour the photo by the heatmap; weak evidence leaves the photo visible."""
    colours = colormaps[COLORMAP](heat)[..., :3] * 255.0
    alpha = (strength * heat)[..., None]
    blended = (1.0 - alpha) * pixels.astype(np.float32) + alpha * colours
    return np.clip(blended, 0, 255).round().astype(np.uint8)
