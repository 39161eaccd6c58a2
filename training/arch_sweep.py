"""python -m skinfindings.training.arch_sweep --manifests M.csv --out runs/sweep --report docs/architectures.md

Trains each candidate architecture with the same data, epochs and input size, then
measures what matters for shipping: held-out macro AUROC, single-image CPU latency,
checkpoint size and parameter count. Writes a Markdown table and ``sweep.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skinfindings.model.checkpoint import load_checkpoint
from skinfindings.training.config import TrainConfig
from skinfindings.training.train import run

CANDIDATES = ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")


def cpu_latency_ms(model: torch.nn.Module, input_size: int, repeats: int = 30) -> float:
    """Median forward time for one image, after warm-up."""
    x = torch.randn(1, 3, input_size, input_size)
    with torch.inference_mode():
        for _ in range(5):
            model(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def measure(arch: str, base: TrainConfig, out: Path) -> dict:
    config = dataclasses.replace(base, arch=arch, out=str(out / arch))
    started = time.time()
    checkpoint = run(config)
    model, meta = load_checkpoint(checkpoint)
    return {
        "arch": arch,
        "test_macro_auroc": meta.metrics.get("test_macro_auroc"),
        "val_macro_auroc": meta.metrics["val_macro_auroc"],
        "test_auroc": meta.metrics.get("test_auroc"),
        "cpu_latency_ms": cpu_latency_ms(model, config.input_size),
        "checkpoint_mb": checkpoint.with_suffix(".safetensors").stat().st_size / 1e6,
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "train_minutes": (time.time() - started) / 60,
    }


def report(rows: list[dict], base: TrainConfig, command: str) -> str:
    lines = [
        "# Architecture comparison",
        "",
        f"Made by `{command}` on {platform.processor() or platform.machine()} "
        f"({torch.get_num_threads()} torch threads), torch {torch.__version__}.",
        f"Same data, {base.epochs} epochs, {base.input_size} px input, batch {base.batch_size}, seed {base.seed}; "
        "AUROC on the synthetic test split; latency = median single-image forward pass on the CPU.",
        "",
        "| architecture | test macro AUROC | val macro AUROC | CPU latency (ms) | checkpoint (MB) | parameters (M) | training time (min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['arch']} | {r['test_macro_auroc']:.4f} | {r['val_macro_auroc']:.4f} | {r['cpu_latency_ms']:.1f} | "
                     f"{r['checkpoint_mb']:.1f} | {r['parameters_m']:.2f} | {r['train_minutes']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv  # recorded verbatim in the report
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", nargs="+", required=True)
    parser.add_argument("--out", default="runs/sweep")
    parser.add_argument("--report", default="docs/architectures.md")
    parser.add_argument("--archs", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--input-size", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=48)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args(argv)
    base = TrainConfig(manifests=args.manifests, epochs=args.epochs, input_size=args.input_size,
                       batch_size=args.batch_size, warmup_epochs=0.5, workers=args.workers, threads=args.threads,
                       resume=False)
    out = Path(args.out)
    rows = []
    for arch in args.archs:
        rows.append(measure(arch, base, out))
        (out / "sweep.json").write_text(json.dumps(rows, indent=2))  # keep partial results if interrupted
    command = "python -m skinfindings.training.arch_sweep " + " ".join(argv)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(report(rows, base, command))
    print(report(rows, base, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
