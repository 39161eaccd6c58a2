"""Training configuration: one typed dataclass, filled from defaults, an optional JSON file and the command line.

The resolved config is written next to the run's outputs (``config.json``) and into the checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainConfig:
    manifests: list[str] = field(default_factory=list)  # one or more manifest CSVs
    manifest_weights: list[float] = field(default_factory=list)  # sampling weight per manifest (default: equal per image)
    out: str = "runs/train"
    arch: str = "mobilenet_v3_small"
    pretrained: bool = False  # start from the architecture's verified pretrained weights (efficientnet_lite0)
    input_size: int = 192
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.02
    warmup_epochs: float = 1.0
    ema_decay: float = 0.998  # 0 disables the weight EMA
    pos_weight: bool = True  # BCE with per-finding positive weights from train prevalence
    augment: bool = True
    workers: int = 2  # DataLoader worker processes
    threads: int = 0  # torch intra-op threads; 0 = torch's default. 1 is much faster on an oversubscribed CPU
    seed: int = 0
    max_steps: int = 0  # > 0: stop each epoch after this many steps (smoke runs, CI)
    escalate_sensitivity: float = 0.90  # threshold rule for findings that escalate (pustules, crusting)
    allow_non_commercial: bool = False  # NC-licensed data only with this flag; marks the checkpoint non-commercial
    resume: bool = True  # continue from OUT/resume.pt when it exists


def _arg_type(hint) -> dict:
    origin = typing.get_origin(hint)
    if hint is bool:
        return {"type": lambda s: s.lower() in ("1", "true", "yes", "on"), "metavar": "BOOL"}
    if origin is list:
        (inner,) = typing.get_args(hint)
        return {"type": inner, "nargs": "*"}
    return {"type": hint}


def add_fields(parser: argparse.ArgumentParser, cls) -> argparse.ArgumentParser:
    """One ``--flag`` per field of the dataclass ``cls``; unset flags stay None so defaults come from ``cls``.

    A field without a default is a required flag.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, required=True, **_arg_type(hints[f.name]))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None,
                            help=f"default: {default}", **_arg_type(hints[f.name]))
    return parser


def given(args: argparse.Namespace) -> dict:
    """The flags actually given on the command line."""
    return {k: v for k, v in vars(args).items() if v is not None}


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Train a skin-findings model from manifests.")
    parser.add_argument("--config", help="JSON file of TrainConfig fields (command-line flags override it)")
    return add_fields(parser, TrainConfig)


def resolve(args: argparse.Namespace) -> TrainConfig:
    values = json.loads(Path(args.config).read_text()) if args.config else {}
    values.update({k: v for k, v in given(args).items() if k != "config"})
    config = TrainConfig(**values)
    if not config.manifests:
        raise SystemExit("train: give at least one --manifests CSV")
    if config.manifest_weights and len(config.manifest_weights) != len(config.manifests):
        raise SystemExit("train: --manifest-weights needs one weight per manifest")
    return config


def save(config: TrainConfig, path: Path) -> None:
    path.write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
