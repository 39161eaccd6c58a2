"""Fine-tuning with a frozen trunk: cache the trunk's output once, train the tail many times.

On a 2-core CPU, full fine-tuning of EfficientNet-Lite0 costs ~0.2 s per image. Its early stages
(generic ImageNet edges and textures) can stay frozen, and then their output for a photo never
changes: ``FeatureCache`` computes it once per photo and augmented view, in float16, and every
cross-validation fold and the final model train only the tail (later stages + head) on it.

The cache holds view 0 = the photo as the Predictor sees it (for scoring) and views 1..V = the
train preset's augmentations with fixed seeds (for training), so runs are repeatable. The trunk
runs in eval mode; the tail's BatchNorm statistics are re-estimated on the training photos at the
end ("precise BN"), since a short run leaves them lagging the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from skinfindings.model.registry import Architecture
from skinfindings.model.transforms import prepare_photo, to_tensor
from skinfindings.training.augment import train_preset
from skinfindings.training.loop import lr_at, masked_bce


@dataclass(frozen=True)
class TailConfig:
    cut: int  # stages[:cut] are frozen and cached; stages[cut:] and the head are trained
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.02
    samples_per_epoch: int = 0  # 0 = one pass over the training photos' count
    seed: int = 0


class Split(nn.Module):
    """The model seen as trunk (first ``cut`` stages) and tail (the rest + head); shares its parameters."""

    def __init__(self, model: nn.Module, spec: Architecture, cut: int):
        super().__init__()
        if spec.stages is None or spec.finish is None:
            raise ValueError(f"{spec.name} does not list its stages; it cannot be trained with a frozen trunk")
        stages = spec.stages(model)
        if not 0 <= cut <= len(stages):
            raise ValueError(f"cut must be 0..{len(stages)} for {spec.name} ({len(stages)} = train the head only)")
        self.model, self.spec = model, spec
        self.trunk_stages, self.tail_stages = nn.ModuleList(stages[:cut]), nn.ModuleList(stages[cut:])

    @torch.no_grad()
    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        self.trunk_stages.eval()
        for stage in self.trunk_stages:
            x = stage(x)
        return x

    def tail(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.tail_stages:
            x = stage(x)
        return self.spec.finish(self.model, x)

    def tail_parameters(self) -> list[nn.Parameter]:
        trunk = {id(p) for p in self.trunk_stages.parameters()}
        return [p for p in self.model.parameters() if id(p) not in trunk]


class FeatureCache:
    """Trunk outputs for every photo and view: ``features[view][photo]`` (float16)."""

    def __init__(self, split: Split, paths: list[str], input_size: int, mean, std, views: int, seed: int = 0,
                 batch_size: int = 32, progress: bool = True):
        self.views = views
        self.features: list[torch.Tensor] = []
        augments = [None] + [train_preset(seed=seed * 1000 + v) for v in range(1, views + 1)]
        with tqdm(total=len(paths) * len(augments), desc=f"trunk features {input_size}px", disable=not progress) as bar:
            photos = [prepare_photo(p, input_size)[0] for p in paths]
            for augment in augments:
                chunks = []
                for start in range(0, len(photos), batch_size):
                    pixels = photos[start:start + batch_size]
                    pixels = [augment(p) for p in pixels] if augment else pixels
                    batch = torch.stack([to_tensor(p, tuple(mean), tuple(std)) for p in pixels])
                    chunks.append(split.trunk(batch).half())
                    bar.update(len(pixels))
                self.features.append(torch.cat(chunks))

    def batch(self, rows: np.ndarray, views: np.ndarray) -> torch.Tensor:
        return torch.stack([self.features[v][r] for r, v in zip(rows, views)]).float()


def _known(labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    known = ~np.isnan(labels)
    return torch.from_numpy(np.where(known, labels, 0.0)).float(), torch.from_numpy(known).float()


def positive_weight(labels: np.ndarray, weights: np.ndarray) -> torch.Tensor:
    """Per-finding BCE positive weight from the *sampled* prevalence (clipped to 0.5..10)."""
    w = weights[:, None] / weights.sum()
    positives = np.nansum(np.where(labels == 1, w, 0), axis=0)
    negatives = np.nansum(np.where(labels == 0, w, 0), axis=0)
    return torch.tensor(np.clip(negatives / np.maximum(positives, 1e-9), 0.5, 10.0), dtype=torch.float32)


def train_tail(split: Split, cache: FeatureCache, rows: np.ndarray, labels: np.ndarray, weights: np.ndarray,
               config: TailConfig, progress: bool = False) -> None:
    """Train the tail on cached trunk features of ``rows`` (drawn by ``weights``); updates the model in place."""
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    per_epoch = config.samples_per_epoch or len(rows)
    steps_per_epoch = max(1, per_epoch // config.batch_size)
    total = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(split.tail_parameters(), lr=config.lr, weight_decay=config.weight_decay)
    pos_weight = positive_weight(labels[rows], weights)
    p = weights / weights.sum()
    split.tail_stages.train()
    split.model.train()
    split.trunk_stages.eval()
    for step in tqdm(range(total), desc="tail", leave=False, disable=not progress):
        picks = rng.choice(len(rows), size=config.batch_size, replace=True, p=p)
        views = rng.integers(1, cache.views + 1, size=config.batch_size) if cache.views else np.zeros(config.batch_size, int)
        target, known = _known(labels[rows[picks]])
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total, max(1, total // 20), config.lr)
        loss = masked_bce(split.tail(cache.batch(rows[picks], views)), target, known, pos_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _precise_batchnorm(split, cache, rows, rng)
    split.model.eval()


@torch.no_grad()
def _precise_batchnorm(split: Split, cache: FeatureCache, rows: np.ndarray, rng, batches: int = 30, size: int = 32) -> None:
    trunk = {id(m) for m in split.trunk_stages.modules()}  # frozen: keeps its pretrained statistics
    norms = [m for m in split.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in trunk]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
        m.train()
    for _ in range(min(batches, math.ceil(len(rows) / size) * 2)):
        picks = rng.choice(rows, size=min(size, len(rows)), replace=False)
        split.tail(cache.batch(picks, np.zeros(len(picks), int)))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    split.model.eval()


@torch.no_grad()
def tail_logits(split: Split, cache: FeatureCache, rows: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Raw logits for ``rows`` at view 0 (the photo as the Predictor sees it)."""
    split.model.eval()
    out = [split.tail(cache.batch(rows[s:s + batch_size], np.zeros(len(rows[s:s + batch_size]), int))).numpy()
           for s in range(0, len(rows), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 0))
