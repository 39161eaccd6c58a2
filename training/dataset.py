"""Manifest rows -> training tensors, through the same loader and resize as the Predictor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from skinfindings.data.manifest import Manifest, Record
from skinfindings.model.transforms import prepare_photo, to_tensor
from skinfindings.training.augment import Augment


@dataclass(frozen=True)
class Item:
    path: str
    labels: np.ndarray  # float, NaN = unknown
    source: str
    group: str
    sha256: str


def items_from(manifest: Manifest, split: str) -> list[Item]:
    return [_item(manifest, r) for r in manifest.records if r.split == split]


def _item(manifest: Manifest, record: Record) -> Item:
    return Item(str(manifest.resolve(record)), record.label_vector(), record.source, record.group, record.sha256)


class PhotoDataset(Dataset):
    """Returns (image tensor, labels with unknown set to 0, mask of known labels)."""

    def __init__(self, items: list[Item], input_size: int, mean, std, augment: Augment | None = None):
        self.items, self.input_size, self.mean, self.std, self.augment = items, input_size, tuple(mean), tuple(std), augment

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        item = self.items[index]
        # The Predictor's own preparation (draft decode, skin crop, resize): train on what the model will see.
        pixels, _ = prepare_photo(item.path, self.input_size)
        if self.augment is not None:
            pixels = self.augment(pixels)
        known = ~np.isnan(item.labels)
        labels = np.where(known, item.labels, 0.0)
        return to_tensor(pixels, self.mean, self.std), torch.from_numpy(labels).float(), torch.from_numpy(known).float()


def epoch_order(weights: np.ndarray, seed: int, epoch: int, rank: int = 0, world: int = 1) -> list[int]:
    """This rank's sample order for one epoch: a pure function of (seed, epoch), so a resumed run repeats it.

    Equal weights give a permutation; unequal ones (mixing sources) draw with replacement.
    Every rank gets the same number of samples, as DDP needs.
    """
    rng = np.random.default_rng([seed, epoch])
    n = len(weights)
    if np.allclose(weights, weights[0]):
        order = rng.permutation(n)
    else:
        order = rng.choice(n, size=n, replace=True, p=weights / weights.sum())
    per_rank = n // world
    return order[rank::world][:per_rank].tolist()


def sample_weights(items: list[Item], source_of: list[int], manifest_weights: list[float]) -> np.ndarray:
    """Per-item weight so that each manifest contributes in proportion to its weight, not its size."""
    if not manifest_weights:
        return np.ones(len(items))
    counts = np.bincount(source_of, minlength=len(manifest_weights)).astype(float)
    return np.array([manifest_weights[m] / counts[m] for m in source_of])
