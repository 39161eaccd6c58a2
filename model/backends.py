"""Where the Predictor's model runs: ONNX Runtime when it is installed, PyTorch otherwise.

    backend = select_backend(model, meta, checkpoint)   # "auto"
    logits = backend.run(batch)                         # (N, 3, S, S) float tensor -> (N, findings) float tensor
    backend.name, backend.note                          # "onnx" / "torch", and why

ONNX Runtime (the ``onnx`` extra) runs this small model several times faster than
eager PyTorch on a CPU. Its graph comes from ``NAME.onnx`` next to the checkpoint
(``skinfindings export onnx``) or is exported on first use into a cache folder,
one file per weights sha256, so a retrained checkpoint never runs with a stale
graph. Every graph is checked against the torch model when it is loaded.

``auto`` falls back to torch, with the reason in ``note``, whenever ONNX Runtime is
missing or the graph cannot be made or does not match; ``onnx`` raises instead.
The environment variable ``SKINFINDINGS_BACKEND`` (auto / torch / onnx) overrides
``auto`` without code changes; ``SKINFINDINGS_CACHE`` moves the cache folder.
The torch model stays loaded either way: Grad-CAM needs its gradients.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn

from skinfindings.model.checkpoint import CheckpointMeta
from skinfindings.model.export import INPUT_NAME, SHA_KEY, SIZE_KEY, TOLERANCE, export_onnx, verify_onnx

CHOICES = ("auto", "torch", "onnx")
BACKEND_ENV = "SKINFINDINGS_BACKEND"
CACHE_ENV = "SKINFINDINGS_CACHE"
TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"

log = logging.getLogger(__name__)


class BackendError(RuntimeError):
    """The requested backend cannot run this checkpoint; the message says why."""


class Backend(Protocol):
    name: str
    note: str

    def run(self, batch: torch.Tensor) -> torch.Tensor: ...


class TorchBackend:
    name = "torch"

    def __init__(self, model: nn.Module, device: torch.device, note: str = "requested"):
        self.model = model
        self.device = device
        self.note = note

    @torch.inference_mode()
    def run(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch.to(self.device)).float().cpu()


class OnnxBackend:
    name = "onnx"

    def __init__(self, path: str | Path, note: str = "requested"):
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        # Idle ORT threads otherwise spin for a while after each batch, taking the
        # cores that the pre-sort's decoding threads need next.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.stamp = dict(self.session.get_modelmeta().custom_metadata_map)
        self.note = note

    def matches(self, meta: CheckpointMeta) -> bool:
        """True when the graph was exported from these weights at this input size."""
        return self.stamp.get(SHA_KEY) == meta.weights_sha256 and self.stamp.get(SIZE_KEY) == str(meta.input_size)

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        pixels = np.ascontiguousarray(batch.detach().cpu().numpy(), dtype=np.float32)
        logits = self.session.run(None, {INPUT_NAME: pixels})[0]
        return torch.from_numpy(logits).float()


def cache_dir() -> Path:
    """Where first-use exports go: $SKINFINDINGS_CACHE, else ~/.cache/skinfindings (XDG aware)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser() / "onnx"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "skinfindings" / "onnx"


def cached_onnx_path(meta: CheckpointMeta) -> Path:
    return cache_dir() / f"{meta.arch}-{meta.input_size}px-{meta.weights_sha256[:16]}.onnx"


def import_onnxruntime():
    """onnxruntime, loaded with its telemetry off.

    The package's ``__init__`` sets the same switch; it is repeated here, at the import
    site, so that the switch holds even if that line is ever moved or a caller removes it
    from ``os.environ`` before the first ONNX session (onnxruntime reads it only on load)."""
    os.environ.setdefault(TELEMETRY_ENV, "1")
    import onnxruntime

    return onnxruntime


def onnxruntime_available() -> bool:
    try:
        import_onnxruntime()
    except ImportError:
        return False
    return True


def select_backend(
    model: nn.Module, meta: CheckpointMeta, checkpoint: str | Path, choice: str = "auto", device: str = "cpu"
) -> Backend:
    """The backend for ``choice`` (auto / torch / onnx); ``auto`` also reads $SKINFINDINGS_BACKEND."""
    if choice == "auto":
        choice = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise BackendError(f"unknown backend {choice!r}; choose one of {', '.join(CHOICES)}")
    device = torch.device(device)
    if choice == "torch":
        return TorchBackend(model, device)
    try:
        return _onnx_backend(model, meta, Path(checkpoint), device)
    except BackendError as exc:
        if choice == "onnx":
            raise
        log.info("using torch: %s", exc)
        return TorchBackend(model, device, note=f"fallback: {exc}")


def _onnx_backend(model: nn.Module, meta: CheckpointMeta, checkpoint: Path, device: torch.device) -> OnnxBackend:
    if device.type != "cpu":
        raise BackendError(f"the ONNX Runtime path runs on the CPU only, not {device.type}")
    if not onnxruntime_available():
        raise BackendError("onnxruntime is not installed (pip install 'skinfindings[onnx]')")
    if not meta.weights_sha256:
        raise BackendError("the checkpoint records no weights sha256 to key its ONNX graph on")
    shipped = checkpoint.with_suffix(".onnx")
    if shipped.is_file():
        backend = _load_checked(model, meta, shipped, note=f"shipped graph {shipped.name}")
        if backend is not None:
            return backend
        log.warning("%s does not belong to these weights; using the cache instead", shipped)
    cached = cached_onnx_path(meta)
    if cached.is_file():
        backend = _load_checked(model, meta, cached, note=f"cached graph {cached}")
        if backend is not None:
            return backend
    try:
        export_onnx(model, meta, cached)
    except Exception as exc:  # the optional fast path must never take the torch path down with it
        raise BackendError(f"could not export the model to ONNX: {exc}") from exc
    backend = _load_checked(model, meta, cached, note=f"exported on first use to {cached}", verified=True)
    if backend is None:
        raise BackendError(f"the freshly exported {cached} does not match the checkpoint")
    return backend


def _load_checked(
    model: nn.Module, meta: CheckpointMeta, path: Path, note: str, verified: bool = False
) -> OnnxBackend | None:
    """The graph at ``path`` if it is stamped with these weights and (unless just ``verified``) agrees with torch."""
    try:
        backend = OnnxBackend(path, note=note)
        if not backend.matches(meta):
            return None
        difference = 0.0 if verified else verify_onnx(model, backend.session, meta.input_size, batch=1)
    except Exception as exc:  # onnxruntime raises its own types for unreadable or broken graphs
        log.warning("cannot use %s: %s", path, exc)
        return None
    if not difference <= TOLERANCE:
        log.warning("%s no longer agrees with the torch model", path)
        return None
    return backend
