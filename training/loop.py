"""The training loop as plain functions with explicit arguments: ``train_one_epoch`` and ``evaluate``."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader
from tqdm import tqdm


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warm-up, then cosine decay to 1% of the base rate."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, known: torch.Tensor, pos_weight: torch.Tensor | None):
    """BCE over known labels only: an unknown label teaches nothing, rather than "absent"."""
    loss = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight, reduction="none")
    return (loss * known).sum() / known.sum().clamp(min=1.0)


def make_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """Weight EMA with a warm-up: early on the average follows the weights closely.

    A fixed decay of 0.998 would leave ~80% of the random initial weights in the
    average after 100 steps; min(decay, (1 + n) / (10 + n)) avoids that.
    """
    if decay <= 0:
        return None

    @torch.no_grad()
    def ema_update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        n = int(num_averaged)
        d = min(decay, (1 + n) / (10 + n))
        for avg, cur in zip(averaged, current):
            if avg.is_floating_point():
                avg.lerp_(cur, 1 - d)
            else:  # counters such as BatchNorm's num_batches_tracked
                avg.copy_(cur)

    return AveragedModel(model, multi_avg_fn=ema_update, use_buffers=True)


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    lr_for_step,  # callable: global step -> learning rate
    first_step: int,
    pos_weight: torch.Tensor | None,
    ema: AveragedModel | None = None,
    max_steps: int = 0,
    show_progress: bool = True,
    description: str = "train",
) -> tuple[float, int]:
    """One pass over ``loader``; returns (mean loss, global step after the epoch)."""
    model.train()
    step, total, count = first_step, 0.0, 0
    bar = tqdm(loader, desc=description, leave=False, disable=not show_progress)
    for images, labels, known in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr_for_step(step)
        loss = masked_bce(model(images), labels, known, pos_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        step, total, count = step + 1, total + loss.item(), count + 1
        bar.set_postfix(loss=f"{total / count:.4f}")
        if max_steps and count >= max_steps:
            break
    return total / max(count, 1), step


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, loader: DataLoader, max_batches: int = 30) -> None:
    """Re-estimate BatchNorm running statistics with the final weights ("precise BN").

    torchvision's MobileNetV3/EfficientNet use BN momentum 0.01, so after a short run
    (and in an EMA copy) the running statistics lag the weights; eval accuracy suffers.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    for index, (images, _, _) in enumerate(loader):
        if index >= max_batches:
            break
        model(images)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.eval()


@torch.inference_mode()
def evaluate(model: nn.Module, loader: DataLoader, show_progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Raw logits and labels (NaN where unknown) for every item in ``loader``."""
    model.eval()
    all_logits, all_labels = [], []
    for images, labels, known in tqdm(loader, desc="eval", leave=False, disable=not show_progress):
        all_logits.append(model(images).float().numpy())
        all_labels.append(np.where(known.numpy() > 0, labels.numpy(), np.nan))
    return np.concatenate(all_logits), np.concatenate(all_labels)
