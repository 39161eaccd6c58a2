"""Checkpoint format: ``NAME.safetensors`` (weights) + ``NAME.json`` (everything else).

Loading executes nothing: safetensors holds raw tensors and the metadata is JSON.
The JSON records the sha256 of the weights file, so a stray or swapped weights
file is refused instead of silently producing other numbers.

    meta = CheckpointMeta(arch="mobilenet_v3_small", input_size=224)
    save_checkpoint("runs/a/model", model, meta)
    model, meta = load_checkpoint("runs/a/model.json")
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from skinfindings.data.manifest import sha256_file
from skinfindings.findings import FINDINGS
from skinfindings.model.registry import build_model
from skinfindings.model.transforms import IMAGENET_MEAN, IMAGENET_STD

FORMAT_VERSION = 1
PACKAGED_WEIGHTS = Path(__file__).resolve().parent / "weights"
DEFAULT_CHECKPOINT = PACKAGED_WEIGHTS / "skinfindings-demo.json"
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
HALF_MIN_VALUES = 4096  # tensors up to this many values are always stored in float32


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why and what to do."""


@dataclass
class DataSource:
    """One data set a checkpoint was trained on, with its licence."""

    name: str
    license: str
    n_images: int
    attribution: str = ""
    url: str = ""


@dataclass
class CheckpointMeta:
    arch: str
    input_size: int
    findings: list[str] = field(default_factory=lambda: list(FINDINGS))
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    # Two operating points per finding. ``thresholds`` is the rule-out point (at or above it a finding is at
    # least *possible*); ``rule_in`` the rule-in point (at or above it, *likely*). A checkpoint without
    # ``rule_in`` (older ones) treats every finding at or above its threshold as likely, as before levels existed.
    thresholds: list[float] = field(default_factory=lambda: [0.5] * len(FINDINGS))
    rule_in: list[float] = field(default_factory=list)
    temperature: list[float] = field(default_factory=lambda: [1.0] * len(FINDINGS))  # per finding
    threshold_rule: str = "default 0.5 (not calibrated)"
    rule_in_rule: str = ""
    trained: bool = False  # False for test/placeholder checkpoints: never call them trained
    status: str = "untrained test checkpoint"
    non_commercial: bool = False
    trained_on: list[DataSource] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)  # measured numbers, each with the command that made them
    training_config: dict = field(default_factory=dict)
    ood: dict = field(default_factory=dict)  # feature statistics for the out-of-scope gate
    backbone: dict = field(default_factory=dict)  # where pretrained starting weights came from (model/pretrained.py)
    weights_dtype: str = "float32"  # "float16" halves the file; loading always computes in float32
    format_version: int = FORMAT_VERSION
    weights_sha256: str = ""

    @property
    def rule_in_thresholds(self) -> list[float]:
        """The rule-in point per finding; the rule-out threshold where the checkpoint has none."""
        return list(self.rule_in) if self.rule_in else list(self.thresholds)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict) -> "CheckpointMeta":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise CheckpointError(f"checkpoint metadata has unknown fields {sorted(unknown)}")
        raw = dict(raw)
        raw["trained_on"] = [DataSource(**source) for source in raw.get("trained_on", [])]
        return cls(**raw)


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    return stem.with_suffix(".json"), stem.with_suffix(".safetensors")


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DDP / torch.compile wrappers, so saved keys never carry prefixes."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def stored_tensor(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Large float tensors in the storage dtype; small ones (BatchNorm, depthwise, head bias) stay float32.

    Rounding the small tensors too moved EfficientNet-Lite0's probabilities by over 0.01 (the limit in
    tests/test_pretrained.py); keeping them in float32 costs a few percent of the bytes.
    """
    return tensor.to(dtype) if tensor.is_floating_point() and tensor.numel() > HALF_MIN_VALUES else tensor


def save_checkpoint(path: str | Path, model: nn.Module, meta: CheckpointMeta) -> Path:
    """Write weights and metadata; returns the JSON path."""
    json_path, weights_path = _paths(path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    if meta.weights_dtype not in STORAGE_DTYPES:
        raise CheckpointError(f"weights_dtype must be one of {sorted(STORAGE_DTYPES)}")
    state = {k: stored_tensor(v, STORAGE_DTYPES[meta.weights_dtype]).detach().cpu().contiguous()
             for k, v in unwrap(model).state_dict().items()}
    save_file(state, str(weights_path), metadata={"format_version": str(FORMAT_VERSION), "arch": meta.arch})
    meta.weights_sha256 = sha256_file(weights_path)
    json_path.write_text(meta.to_json() + "\n")
    return json_path


def read_meta(path: str | Path) -> CheckpointMeta:
    """Read and validate the metadata alone (no weights)."""
    json_path, _ = _paths(path)
    if not json_path.is_file():
        raise CheckpointError(f"no checkpoint metadata at {json_path}")
    try:
        raw = json.loads(json_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{json_path} is not valid JSON: {exc}") from exc
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{json_path} has checkpoint format version {version!r}; this skinfindings reads version "
            f"{FORMAT_VERSION}. Use the skinfindings release that wrote it, or retrain."
        )
    meta = CheckpointMeta.from_dict(raw)
    if list(meta.findings) != list(FINDINGS):
        raise CheckpointError(
            f"{json_path} predicts findings {meta.findings}, but this skinfindings expects {list(FINDINGS)} "
            "in that order. The checkpoint belongs to another version of the findings schema."
        )
    n = len(FINDINGS)
    if len(meta.thresholds) != n or len(meta.temperature) != n:
        raise CheckpointError(f"{json_path}: thresholds and temperature need one value per finding ({n})")
    if meta.rule_in and (len(meta.rule_in) != n or any(i < o for i, o in zip(meta.rule_in, meta.thresholds))):
        raise CheckpointError(f"{json_path}: rule_in needs one value per finding ({n}), each at or above its "
                              "rule-out threshold")
    return meta


def load_checkpoint(path: str | Path = DEFAULT_CHECKPOINT) -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the model from the files alone; the model is returned in eval mode."""
    meta = read_meta(path)
    _, weights_path = _paths(path)
    if not weights_path.is_file():
        raise CheckpointError(f"weights file {weights_path} is missing")
    if meta.weights_sha256 and sha256_file(weights_path) != meta.weights_sha256:
        raise CheckpointError(f"{weights_path} does not match the sha256 recorded in its metadata")
    model = build_model(meta.arch, len(meta.findings))
    try:
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights_path)).items()}
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {weights_path} do not fit architecture {meta.arch!r}: {exc}") from exc
    return model.eval(), meta
