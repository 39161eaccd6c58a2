"""Group-aware splits: a patient, lesion or source image never sits in two splits.

    skinfindings data split runs/data/mine/manifest.csv --fractions 0.8 0.1 0.1 --seed 0 --stratify
    skinfindings data split runs/data/real/manifest.csv --folds 5        # grouped CV: a "fold" column

Records are joined into units before assignment: records that share a group id, and records that share
a file checksum (the same photo under two names), are one unit. Units are placed one at a time, in a
seeded random order (stratified: units with the rarest findings first), each into the split that is
furthest below its target share. Targets count images and, with ``stratify``, positives per finding.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np

from skinfindings.data.manifest import ManifestError, Record
from skinfindings.findings import FINDINGS

SPLITS = ("train", "val", "test")


def _units(records: list[Record]) -> list[list[int]]:
    """Record indices joined by shared group id or shared checksum (union-find)."""
    parent = list(range(len(records)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for index, record in enumerate(records):
        keys = [f"group:{record.group}" if record.group else f"path:{record.path}"]
        if record.sha256:
            keys.append(f"sha:{record.sha256}")
        for key in keys:
            parent[root(index)] = root(first_with.setdefault(key, index))
    units: dict[int, list[int]] = {}
    for index in range(len(records)):
        units.setdefault(root(index), []).append(index)
    return list(units.values())


def _counts(records: list[Record], stratify: bool) -> np.ndarray:
    """Per record: [1 image, positives per finding (when stratified)]."""
    columns = [np.ones(len(records))]
    if stratify:
        columns += [np.array([r.labels.get(f) == 1 for r in records], float) for f in FINDINGS]
    return np.stack(columns, axis=1)


def _assign_units(records: list[Record], fractions: tuple[float, ...], seed: int, stratify: bool) -> list[int]:
    """Split index per record; every unit goes whole to one split."""
    if not records:
        return []
    weights = np.asarray(fractions, float)
    if weights.min() < 0 or weights.sum() <= 0:
        raise ValueError(f"fractions must be non-negative and not all zero, got {fractions}")
    weights = weights / weights.sum()
    per_record = _counts(records, stratify)
    units = _units(records)
    unit_counts = np.stack([per_record[u].sum(axis=0) for u in units])
    targets = weights[:, None] * per_record.sum(axis=0)[None, :]
    order = list(range(len(units)))
    random.Random(seed).shuffle(order)
    if stratify:  # rare findings first, so their few positives are spread before the splits fill up
        totals = per_record.sum(axis=0)
        rarity = [min((totals[d] for d in range(1, len(totals)) if unit_counts[u, d] > 0), default=np.inf)
                  for u in order]
        order = [u for _, u in sorted(zip(rarity, order), key=lambda pair: pair[0])]
    filled = np.zeros_like(targets)
    split_of_unit = {}
    for u in order:
        # Relative shortfall in each count this unit carries; the split that lacks most of them gets it.
        present = unit_counts[u] > 0
        shortfall = (targets[:, present] - filled[:, present]) / np.maximum(targets[:, present], 1e-9)
        score = np.where(weights > 0, shortfall.sum(axis=1), -np.inf)
        best = int(np.argmax(score))
        split_of_unit[u] = best
        filled[best] += unit_counts[u]
    split_of = [0] * len(records)
    for u, members in enumerate(units):
        for index in members:
            split_of[index] = split_of_unit[u]
    return split_of


def assign_splits(records: list[Record], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0,
                  stratify: bool = False) -> list[Record]:
    """Copies of the records with ``split`` set to train / val / test, by group."""
    if len(fractions) != len(SPLITS):
        raise ValueError(f"fractions needs one value per split {SPLITS}, got {fractions}")
    split_of = _assign_units(records, tuple(fractions), seed, stratify)
    return [dataclasses.replace(r, split=SPLITS[s]) for r, s in zip(records, split_of)]


def grouped_folds(records: list[Record], k: int, seed: int = 0, stratify: bool = False) -> list[int]:
    """Fold index (0..k-1) per record for grouped cross-validation; groups never straddle folds."""
    if k < 2:
        raise ValueError(f"k-fold cross-validation needs k >= 2, got {k}")
    n_units = len(_units(records))
    if n_units < k:
        raise ManifestError(f"{k} folds need at least {k} groups; the records form {n_units}")  # a ValueError too
    return _assign_units(records, (1.0,) * k, seed, stratify)


def group_leaks(records: list[Record]) -> dict[str, list[str]]:
    """Groups or checksums found in more than one split: key -> the splits (empty dict when clean)."""
    splits_of: dict[str, set[str]] = {}
    for record in records:
        if not record.split:
            continue
        keys = [f"group {record.group}" if record.group else "", f"sha256 {record.sha256}" if record.sha256 else ""]
        for key in filter(None, keys):
            splits_of.setdefault(key, set()).add(record.split)
    return {key: sorted(splits) for key, splits in splits_of.items() if len(splits) > 1}
