"""Checks on the evaluated data itself, reported beside the metrics:

* **Overlap with training photos**: evaluated photos that are the checkpoint's own training photos, exactly
  (sha256) or as near-duplicates (the perceptual hash of ``skinfindings data dedup``). The list comes from the
  checkpoint: ``training_config["training_photos"]`` (``{"sha256": [...], "phash": [...]}``, written by
  ``training_photos_record``), else the training manifests its recorded command names, where they can be read.
* **Annotator agreement** per finding, when the manifest has per-annotator columns (``<finding>_a``,
  ``<finding>_b``, ...): share of photos both annotators labelled alike, and Cohen's kappa.
* **Unsure labels**: the metrics again with every unknown label counted positive, and counted negative.
* **Skin-tone coverage**: photos per Fitzpatrick type (every type listed, none left out for having no photo).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from skinfindings.data.manifest import FITZPATRICK_TYPES, Manifest, Record, read_manifest
from skinfindings.findings import FINDINGS

TRAINING_PHOTOS = "training_photos"  # the key in a checkpoint's training_config (or metrics)
# Keys of a recorded training command's config (crossval, train) that name training manifests.
MANIFEST_KEYS = ("real", "faces", "composites", "synthetic", "manifest", "train_manifest")
FALLBACK_HASH_LIMIT = 3000  # photos of recorded manifests hashed at most for near-duplicates
UNSURE_METRICS = ("auroc", "sensitivity", "specificity")
EXAMPLES = 5


@dataclass
class TrainingPhotos:
    sha256: set[str]
    phash: np.ndarray  # (m,) uint64: each training photo's pHash as stored; empty when not known
    source: str  # where the list came from, in words
    notes: list[str]


def training_photos_record(manifest: Manifest, records: Sequence[Record]) -> dict:
    """What a training command writes into ``training_config["training_photos"]`` so that evaluations can find
    overlaps: every training photo's sha256 and pHash (hex; empty where the photo could not be read)."""
    from skinfindings.data.dedup import hash_manifest
    from skinfindings.training.predictions import record_digests

    hashes = hash_manifest(Manifest(manifest.root, list(records)))
    phash = ["" if i in hashes.unreadable else f"{int(v):016x}" for i, v in enumerate(hashes.values[:, 0])]
    return {"sha256": record_digests(manifest, records), "phash": phash}


def _from_record(record: dict, where: str) -> TrainingPhotos:
    phash = np.array([int(h, 16) for h in record.get("phash", []) if h], dtype=np.uint64)
    return TrainingPhotos({d.strip() for d in record.get("sha256", []) if d.strip()}, phash, where, [])


def _named_manifests(config: dict) -> list[str]:
    """Manifest paths named anywhere in a training config (its own keys, or one level down: crossval's)."""
    found = []
    for holder in (config, *(v for v in config.values() if isinstance(v, dict))):
        for key in MANIFEST_KEYS:
            value = holder.get(key)
            found += [value] if isinstance(value, str) and value else [v for v in value or [] if isinstance(v, str)]
    return list(dict.fromkeys(found))


def _locate(path: str, checkpoint: Path) -> Path | None:
    """A recorded relative path as the training command saw it: from here, or from the checkout holding the
    checkpoint (model/weights/NAME.json)."""
    for base in (Path.cwd(), checkpoint.resolve().parent.parent.parent):
        candidate = Path(path) if Path(path).is_absolute() else base / path
        if candidate.is_file():
            return candidate
    return None


def training_photos(meta, checkpoint: str | Path) -> TrainingPhotos | None:
    """The checkpoint's training photos, from its record or its recorded manifests; None when neither is known."""
    from skinfindings.data.dedup import hash_manifest

    for holder, where in ((meta.training_config, "training_config"), (meta.metrics, "metrics")):
        if isinstance(holder.get(TRAINING_PHOTOS), dict):
            return _from_record(holder[TRAINING_PHOTOS], f"the checkpoint's {where}['{TRAINING_PHOTOS}']")
    named = _named_manifests(meta.training_config)
    located = {name: _locate(name, Path(checkpoint)) for name in named}
    manifests = [read_manifest(path) for path in located.values() if path is not None]
    if not manifests:
        return None
    notes = [f"training manifest {name} named by the checkpoint's command was not found here"
             for name, path in located.items() if path is None]
    digests = {r.sha256.strip() for m in manifests for r in m.records if r.sha256.strip()}
    phash = np.zeros(0, dtype=np.uint64)
    if sum(len(m) for m in manifests) <= FALLBACK_HASH_LIMIT:
        phash = np.concatenate([hash_manifest(m).values[:, 0] for m in manifests])
    else:
        notes.append(f"near-duplicates not checked: the recorded manifests hold over {FALLBACK_HASH_LIMIT} photos "
                     f"(a checkpoint that records '{TRAINING_PHOTOS}' is checked in full)")
    where = "the training manifests named by the checkpoint's command (" + ", ".join(
        str(p) for p in located.values() if p is not None) + "); every row counted as a training photo"
    return TrainingPhotos(digests, phash, where, notes)


def overlap_check(known: TrainingPhotos | None, manifest: Manifest, records: Sequence[Record],
                  digests: Sequence[str]) -> dict:
    """Evaluated photos that are training photos: exact (sha256) and near-duplicates (pHash within the dedup
    module's distance), with counts and a few example paths."""
    from skinfindings.data.dedup import DEFAULT_MAX_DISTANCE, bit_distance, hash_manifest

    if known is None:
        return {"checked": False, "note": "the checkpoint records no training photos (no "
                f"training_config['{TRAINING_PHOTOS}'] and no readable training manifest): overlap not checked"}
    exact = np.array([d in known.sha256 for d in digests], dtype=bool)
    closest = np.full(len(records), 64)
    if known.phash.size:
        hashes = hash_manifest(Manifest(manifest.root, list(records)))
        distances = bit_distance(hashes.values[:, None, :], known.phash[None, :, None]).min(axis=(1, 2))
        readable = np.array([i not in hashes.unreadable for i in range(len(records))], dtype=bool)
        closest = np.where(readable, distances, 64)
    near = (closest <= DEFAULT_MAX_DISTANCE) & ~exact
    return {"checked": True, "source": known.source, "training_photos": len(known.sha256),
            "exact": int(exact.sum()), "near_duplicates": int(near.sum()), "max_distance": DEFAULT_MAX_DISTANCE,
            "near_checked": bool(known.phash.size), "photos": len(records), "notes": known.notes,
            "exact_examples": [records[i].path for i in np.flatnonzero(exact)[:EXAMPLES]],
            "near_examples": [f"{records[i].path} ({int(closest[i])} bits)" for i in np.flatnonzero(near)[:EXAMPLES]]}


def overlap_warning(overlap: dict) -> str | None:
    """Exact copies are training photos; near-duplicates may be (unrelated close-ups can come within the dedup
    distance: data/REAL_DATA.md measured a margin of 2 bits), so they are named as possible."""
    if not overlap.get("checked") or not overlap["exact"] + overlap["near_duplicates"]:
        return None
    parts = []
    if overlap["exact"]:
        parts.append(f"{overlap['exact']} of the {overlap['photos']} evaluated photos are exact copies (sha256) of "
                     "the checkpoint's training photos: its numbers on them are not held out")
    if overlap["near_duplicates"]:
        parts.append(f"{overlap['near_duplicates']} of the {overlap['photos']} evaluated photos may be "
                     f"near-duplicates of the checkpoint's training photos (pHash within {overlap['max_distance']} bits, "
                     "`data dedup`'s distance; unrelated close-ups can come this close: check them by eye)")
    return "; ".join(parts)


# --------------------------------------------------------------------------- annotators


def annotator_columns(records: Sequence[Record]) -> dict[str, list[str]]:
    """Per finding, its per-annotator columns (``<finding>_<annotator>``), where at least two exist."""
    columns = sorted({c for r in records for c in r.extra})
    found = {f: [c for c in columns if c.startswith(f + "_") and c[len(f) + 1:].isalnum()] for f in FINDINGS}
    return {f: cs for f, cs in found.items() if len(cs) >= 2}


def _label(cell: str | None) -> float:
    cell = (cell or "").strip()
    return float(cell) if cell in ("0", "1") else np.nan


def agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """Share of photos two annotators labelled alike, and Cohen's kappa, over photos both labelled."""
    from sklearn.metrics import cohen_kappa_score

    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both].astype(int), b[both].astype(int)
    if not both.any():
        return {"photos": 0, "agreement": None, "kappa": None, "na": "no photo labelled by both"}
    one_class = len(set(a.tolist()) | set(b.tolist())) < 2
    kappa = None if one_class else round(float(cohen_kappa_score(a, b)), 4)
    return {"photos": int(both.sum()), "agreement": round(float((a == b).mean()), 4), "kappa": kappa,
            "na": "one class only: kappa undefined" if one_class else None}


def annotator_agreement(records: Sequence[Record]) -> dict:
    """Per finding with per-annotator columns: agreement and kappa for every pair of annotators."""
    out = {}
    for finding, columns in annotator_columns(records).items():
        labels = {c: np.array([_label(r.extra.get(c)) for r in records]) for c in columns}
        out[finding] = [{"columns": [a, b], **agreement(labels[a], labels[b])}
                        for a, b in itertools.combinations(columns, 2)]
    return out


# --------------------------------------------------------------------------- unsure labels and tone


def unsure_sensitivity(labels: np.ndarray, probabilities: np.ndarray, thresholds, weights: np.ndarray,
                       ids: np.ndarray, bins: int) -> dict:
    """AUROC, sensitivity and specificity with every unknown label counted positive, and counted negative,
    for the findings that have unknown labels (assessed photos)."""
    from skinfindings.training.scoring import score_findings

    unknown = {f: int(n) for f, n in zip(FINDINGS, np.isnan(labels).sum(axis=0)) if n}
    if not unknown:
        return {"unknown": {}, "rules": {}}
    rules = {}
    for rule, fill in (("as_positive", 1.0), ("as_negative", 0.0)):
        scored = score_findings(np.where(np.isnan(labels), fill, labels), probabilities, thresholds, weights, ids,
                                bins, UNSURE_METRICS)
        rules[rule] = {f: scored["per_finding"][f] for f in unknown}
    return {"unknown": unknown, "rules": rules}


def tone_coverage(records: Sequence[Record], assessed: np.ndarray) -> dict:
    """Photos per skin-tone group (every Fitzpatrick type listed, with zeros), evaluated and assessed."""
    from skinfindings.training.subgroups import UNKNOWN, tone_group

    tones = [tone_group(r.fitzpatrick, r.ita) for r in records]
    order = [f"type {t}" for t in FITZPATRICK_TYPES]

    def counted(chosen: Sequence[str]) -> dict[str, int]:
        counts = Counter(chosen)
        others = sorted(k for k in counts if k not in order and k != UNKNOWN)
        return {k: counts.get(k, 0) for k in (*order, *others, UNKNOWN)}

    return {"evaluated": counted(tones), "assessed": counted([t for t, ok in zip(tones, assessed) if ok])}
