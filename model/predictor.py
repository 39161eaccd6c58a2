"""The one inference path. The app, the pre-sort CLI and evaluation all call it.

    from skinfindings.model.predictor import Predictor
    predictor = Predictor()                      # the shipped checkpoint
    result = predictor.predict("photo.jpg")      # raises PhotoError on a bad file
    results = predictor.predict_many(paths)      # a bad file becomes a result with .error

The model runs on ONNX Runtime when it is installed (the ``onnx`` extra) and on
PyTorch otherwise (``backend="torch"`` forces it; see model/backends.py);
``predictor.model`` is always the torch module, for Grad-CAM.

Probabilities are calibrated (per-finding temperature) and compared with the
checkpoint's per-finding thresholds. A photo that cannot be assessed gets an
``abstention`` and no ``present`` findings: it is never reported as clear.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from skinfindings.data.photo import PhotoError, PhotoSource
from skinfindings.findings import FINDINGS, NOT_SEEN, level_for
from skinfindings.model import quality
from skinfindings.model.backends import select_backend
from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT, CheckpointMeta, load_checkpoint
from skinfindings.model.quality import Abstention
from skinfindings.model.transforms import prepare_photo, to_tensor


@dataclass
class Prediction:
    name: str
    probabilities: dict[str, float] = field(default_factory=dict)  # calibrated, every finding
    present: list[str] = field(default_factory=list)  # at or above the rule-out threshold, most probable first
    thresholds: dict[str, float] = field(default_factory=dict)  # rule-out point per finding
    rule_in: dict[str, float] = field(default_factory=dict)  # rule-in point per finding
    levels: dict[str, str] = field(default_factory=dict)  # LIKELY / POSSIBLE / NOT_SEEN; empty when not assessed
    abstention: Abstention | None = None
    error: str | None = None  # patient-readable reason the file could not be read
    quality: dict[str, float] = field(default_factory=dict)
    pixels: np.ndarray | None = field(default=None, repr=False)  # the model's view, metadata-free

    @property
    def assessed(self) -> bool:
        return self.error is None and self.abstention is None


@dataclass
class _Prepared:
    name: str
    pixels: np.ndarray | None = None
    original_size: tuple[int, int] = (0, 0)
    error: str | None = None


def _default_name(photo: PhotoSource, index: int) -> str:
    if isinstance(photo, (str, Path)):
        return Path(photo).name
    return f"photo-{index + 1}"


class Predictor:
    """Checkpoint + eval preprocessing + calibration + abstention, in one object."""

    def __init__(
        self,
        checkpoint: str | Path = DEFAULT_CHECKPOINT,
        *,
        batch_size: int = 16,
        decode_workers: int = 2,
        device: str = "cpu",
        backend: str = "auto",
    ):
        self.model, self.meta = load_checkpoint(checkpoint)
        self.device = torch.device(device)
        self.model.to(self.device)
        self.checkpoint = Path(checkpoint)
        self.backend = select_backend(self.model, self.meta, self.checkpoint, choice=backend, device=device)
        self.batch_size = batch_size
        self.decode_workers = decode_workers
        self._temperature = torch.tensor(self.meta.temperature, dtype=torch.float32)
        self._thresholds = np.asarray(self.meta.thresholds, dtype=np.float64)
        self._rule_in = np.asarray(self.meta.rule_in_thresholds, dtype=np.float64)

    @property
    def input_size(self) -> int:
        return self.meta.input_size

    def prepare(self, photo: PhotoSource) -> tuple[np.ndarray, tuple[int, int]]:
        """Decode safely and resize to the model's input; raises PhotoError."""
        return prepare_photo(photo, self.input_size)

    def tensor(self, pixels: np.ndarray) -> torch.Tensor:
        return to_tensor(pixels, tuple(self.meta.mean), tuple(self.meta.std))

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Raw logits on the CPU, from whichever backend was selected."""
        return self.backend.run(batch)

    def calibrate(self, logits: torch.Tensor) -> np.ndarray:
        """Calibrated probabilities from raw logits (per-finding temperature scaling)."""
        return torch.sigmoid(logits / self._temperature).numpy()

    def predict(self, photo: PhotoSource, name: str | None = None) -> Prediction:
        """One photo; a file that cannot be read raises PhotoError with a patient-readable message."""
        pixels, original_size = self.prepare(photo)
        return self._predict_prepared([_Prepared(name or _default_name(photo, 0), pixels, original_size)])[0]

    def predict_many(
        self, photos: Sequence[PhotoSource], names: Sequence[str] | None = None, progress: bool = False
    ) -> list[Prediction]:
        """Many photos, batched; decoding runs in a small thread pool. Bad files become rows with .error."""
        names = list(names) if names is not None else [_default_name(p, i) for i, p in enumerate(photos)]
        results: list[Prediction] = []
        with ThreadPoolExecutor(max_workers=self.decode_workers) as pool, \
                tqdm(total=len(photos), unit="photo", disable=not progress) as bar:
            for start in range(0, len(photos), self.batch_size):
                chunk = list(zip(photos[start : start + self.batch_size], names[start : start + self.batch_size]))
                prepared = list(pool.map(self._safe_prepare, chunk))
                results.extend(self._predict_prepared(prepared))
                bar.update(len(chunk))
        return results

    def _safe_prepare(self, item: tuple[PhotoSource, str]) -> _Prepared:
        photo, name = item
        try:
            pixels, size = self.prepare(photo)
        except PhotoError as exc:
            return _Prepared(name, error=exc.user_message)
        return _Prepared(name, pixels, size)

    def _predict_prepared(self, prepared: list[_Prepared]) -> list[Prediction]:
        readable = [p for p in prepared if p.error is None]
        probabilities = np.zeros((0, len(FINDINGS)))
        if readable:
            # numpy, not torch.stack: on busy cores waking torch's thread pool costs milliseconds per batch
            batch = torch.from_numpy(np.stack([self.tensor(p.pixels).numpy() for p in readable]))
            probabilities = self.calibrate(self.logits(batch))
        by_item = dict(zip((id(p) for p in readable), probabilities))
        return [self._result(p, by_item.get(id(p))) for p in prepared]

    def _result(self, prepared: _Prepared, probs: np.ndarray | None) -> Prediction:
        thresholds = dict(zip(FINDINGS, self._thresholds.tolist()))
        rule_in = dict(zip(FINDINGS, self._rule_in.tolist()))
        if prepared.error is not None:
            return Prediction(prepared.name, thresholds=thresholds, rule_in=rule_in, error=prepared.error)
        abstention, stats = quality.assess(prepared.pixels, prepared.original_size)
        probabilities = dict(zip(FINDINGS, (float(p) for p in probs)))
        levels: dict[str, str] = {}
        if abstention is None:  # a photo that cannot be assessed has no levels: never "not seen"
            levels = {f: level_for(probabilities[f], thresholds[f], rule_in[f]) for f in FINDINGS}
        present = sorted((f for f in levels if levels[f] != NOT_SEEN), key=lambda f: -probabilities[f])
        return Prediction(
            prepared.name,
            probabilities=probabilities,
            present=present,
            thresholds=thresholds,
            rule_in=rule_in,
            levels=levels,
            abstention=abstention,
            quality=stats.as_dict(),
            pixels=prepared.pixels,
        )
