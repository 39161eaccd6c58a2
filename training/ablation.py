"""python -m skinfindings.training.ablation --real R --composites C --synthetic S --out runs/ablation --doc docs/ablation.md

Which model to ship, by measurement: today's from-scratch model (mobilenet_v3_small, trained on synthetic
images; fine-tuned from its weights) against the pretrained EfficientNet-Lite0, each trained on synthetic
images only / + real photos / + real photos and composites, at two input sizes. Every cell runs the same
grouped (by patient) cross-validation as ``skinfindings crossval`` (training/crossval.py), so each real
photo and composite is scored by a model that never saw its patient, and is compared *paired* with
today's shipped model on the same photos (training/paired.py). The table goes to ``--doc``.

The winner is picked by a rule fixed before the run: the highest out-of-fold macro AUROC on real photos
over the findings they can measure, among cells within the latency budget; its final model (trained on
everything, calibrated on all out-of-fold predictions) is written to OUT/winner/. Picking among cells on
the same folds that report them flatters the winner a little; the docs say so.

"Today's model" is ``--previous``: the synthetic-only mobilenet_v3_small the ablation was run against,
kept in git history (``git show f43ca7a:model/weights/skinfindings-demo.json > runs/previous/model.json``,
likewise the ``.safetensors``); the shipped checkpoint has since been replaced by the ablation's pick.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from skinfindings.findings import FINDINGS
from skinfindings.model.checkpoint import stored_tensor
from skinfindings.model.predictor import Predictor
from skinfindings.model.registry import build_model
from skinfindings.training import crossval
from skinfindings.training.crossval import SOURCES, SYNTHETIC_TEST, CrossValConfig
from skinfindings.training.metrics import macro
from skinfindings.training.paired import paired_comparison

DATA = {"synthetic only": (2,), "+ real": (0, 2), "+ real + composites": (0, 1, 2)}


@dataclass(frozen=True)
class Arm:
    name: str
    arch: str
    init: str  # "pretrained" or "previous" (fine-tuned from --previous)
    cut: int


ARMS = (Arm("from scratch (mobilenet_v3_small, today's weights)", "mobilenet_v3_small", "previous", 9),
        Arm("pretrained EfficientNet-Lite0", "efficientnet_lite0", "pretrained", 7))


def today(checkpoint: str, pool: crossval.Pool, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """The previous model's calibrated probabilities, thresholds and assessed flags on ``rows``."""
    predictor = Predictor(checkpoint, backend="torch")
    results = predictor.predict_many([pool.paths[i] for i in rows])
    probs = np.array([[r.probabilities.get(f, np.nan) for f in FINDINGS] for r in results])
    return probs, np.asarray(predictor.meta.thresholds), [r.error is None and r.abstention is None for r in results]


def forward_ms(arch: str, size: int, repeats: int = 15) -> float:
    """Fastest of ``repeats`` torch forward passes of one photo (batch 1, this process's threads).

    The fastest, not the median: on a shared machine other jobs only ever add time, so the minimum
    is the steadiest estimate of the model's own cost. A relative cost; ``skinfindings bench`` times
    the shipped model end to end."""
    model = build_model(arch, len(FINDINGS)).eval()
    x = torch.randn(1, 3, size, size)
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 3):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return float(np.min(times[3:]) * 1000)


def size_mb(arch: str) -> float:
    """Checkpoint size with large tensors in float16 (how a shipped checkpoint is stored)."""
    state = build_model(arch, len(FINDINGS)).state_dict()
    return sum(stored_tensor(v, torch.float16).nbytes for v in state.values()) / 2 ** 20


def measure_cell(prepared: crossval.Prepared, config: CrossValConfig, sources: tuple, baseline: dict, out: Path) -> dict:
    pool = prepared.pool
    logits, synthetic_auroc = crossval.out_of_fold_logits(prepared, config, sources)
    probs, thresholds = crossval.out_of_fold_calibrated(pool, logits, config)
    written = crossval.write_out_of_fold(prepared, config, probs, thresholds, out)
    result = {"synthetic_test_macro_auroc": float(np.mean([macro(a) for a in synthetic_auroc])),
              "predictions": written, "logits": logits}
    for source in (0, 1):
        rows, base_probs, base_thresholds, assessed = baseline[source]
        keep = rows[assessed & ~np.isnan(probs[rows]).any(axis=1)]
        index = np.searchsorted(rows, keep)
        result[SOURCES[source]] = paired_comparison(
            pool.labels[keep], base_probs[index], probs[keep], base_thresholds, thresholds[keep],
            [pool.records[i].group for i in keep], metrics=("auroc",), resamples=1000)
    return result


def _summary(comparison: dict, finding: str, key: str = "b") -> str:
    block = comparison["per_finding"][finding]["metrics"]["auroc"][key]
    if block["value"] is None:
        return "n/a"
    low, high = block["ci"]
    return f"{block['value']:.2f} ({low:.2f}–{high:.2f})"


def _macro(comparison: dict, key: str) -> str:
    block = comparison["macro"]["auroc"][key]
    return "n/a" if block["value"] is None else f"{block['value']:+.2f} ({block['ci'][0]:+.2f}–{block['ci'][1]:+.2f})" \
        if key == "delta" else f"{block['value']:.2f} ({block['ci'][0]:.2f}–{block['ci'][1]:.2f})"


def render(cells: list[dict], command: str) -> str:
    real_findings = ("erythema", "crusting", "hyperpigmentation")
    lines = ["# Which model to ship: the real-photo ablation", "",
             f"Made by `{command}`. Every real-photo and composite number is **out-of-fold**: grouped (by patient) "
             "5-fold cross-validation, each photo scored by a model that never saw its patient, calibrated on the "
             "other folds. Intervals: 95% grouped (patient) bootstrap; Δ is paired against today's shipped model on "
             "the same photos (both assessed by the quality gate). Real photos: PAD-UFES-20 lesion photos (CC BY 4.0), "
             "not post-procedure skin; they cannot measure milia (3 positives) or pustules (1), so those two are "
             "measured on held-out composites (renderer findings drawn on the held-out patients' photos). Synthetic "
             "test: mean macro AUROC of the fold models on synthetic test-split images. Forward time: fastest of 15 torch "
             "passes of one photo, one thread, on the shared development machine (relative cost; `skinfindings bench` measures the shipped model).", "",
             "| model | data | px | real erythema | real crusting | real hyperpig. | real macro Δ vs today | "
             "composite milia | composite pustules | synthetic test | forward ms | MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        real, comp = c["real"], c["composites"]
        lines.append(f"| {c['arm']} | {c['data']} | {c['size']} | " + " | ".join(_summary(real, f) for f in real_findings)
                     + f" | {_macro(real, 'delta')} | {_summary(comp, 'milia')} | {_summary(comp, 'pustules')} | "
                     f"{c['synthetic_test_macro_auroc']:.2f} | {c['forward_ms']:.0f} | {c['size_mb']:.1f} |")
    base = cells[0]
    lines += ["", f"Today's shipped model on the same photos: real erythema {_summary(base['real'], 'erythema', 'a')}, "
              f"crusting {_summary(base['real'], 'crusting', 'a')}, hyperpigmentation "
              f"{_summary(base['real'], 'hyperpigmentation', 'a')}; composite milia {_summary(base['composites'], 'milia', 'a')}, "
              f"pustules {_summary(base['composites'], 'pustules', 'a')}.", ""]
    return "\n".join(lines)


def choose(cells: list[dict], budget_ms: float) -> dict:
    """The pre-declared rule: best real macro AUROC among cells within the forward-time budget."""
    eligible = [c for c in cells if c["forward_ms"] <= budget_ms] or cells
    return max(eligible, key=lambda c: c["real"]["macro"]["auroc"]["b"]["value"] or 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skinfindings.training.ablation", description=__doc__.split("\n\n")[1])
    parser.add_argument("--real", required=True)
    parser.add_argument("--composites", required=True)
    parser.add_argument("--synthetic", required=True)
    parser.add_argument("--previous", required=True, help="the model to compare against (and fine-tune), .json")
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--doc", default="docs/ablation.md")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--epochs", type=int, default=CrossValConfig.epochs)
    parser.add_argument("--views", type=int, default=CrossValConfig.views)
    parser.add_argument("--samples-per-epoch", type=int, default=CrossValConfig.samples_per_epoch)
    parser.add_argument("--synthetic-limit", type=int, default=CrossValConfig.synthetic_limit)
    parser.add_argument("--budget-ms", type=float, default=35.0, help="forward-time budget for the winner")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import shlex
    import sys

    command = "python -m skinfindings.training.ablation " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    out = Path(args.out)
    cells, prepared_of = [], {}
    baseline = None
    for arm in ARMS:
        for size in args.sizes:
            config = CrossValConfig(real=args.real, composites=args.composites, synthetic=args.synthetic, out=str(out),
                                    arch=arm.arch, init="pretrained" if arm.init == "pretrained" else args.previous,
                                    input_size=size, cut=arm.cut, views=args.views, epochs=args.epochs,
                                    samples_per_epoch=args.samples_per_epoch, synthetic_limit=args.synthetic_limit,
                                    threads=args.threads)
            prepared = crossval.prepare(config)
            cost = forward_ms(arm.arch, size)
            if baseline is None:  # today's model on exactly the photos every cell is scored on
                baseline = {}
                for source in (0, 1):
                    rows = np.flatnonzero((prepared.pool.source == source) & (prepared.pool.fold >= 0))
                    probs, thresholds, assessed = today(args.previous, prepared.pool, rows)
                    baseline[source] = (rows, probs, thresholds, np.array(assessed))
            for data, sources in DATA.items():
                cell_out = out / f"{arm.arch}-{size}px-{data.replace(' ', '').replace('+', 'plus-')}"
                result = measure_cell(prepared, config, sources, baseline, cell_out)
                cells.append({"arm": arm.name, "data": data, "size": size, "sources": sources,
                              "config": dataclasses.asdict(config), "forward_ms": cost,
                              "size_mb": size_mb(arm.arch), **result})
                print(f"ablation: {arm.arch} {size}px {data}: real macro "
                      f"{cells[-1]['real']['macro']['auroc']['b']['value']}", flush=True)
                prepared_of[len(cells) - 1] = prepared
                (out / "cells.json").write_text(json.dumps([{k: v for k, v in c.items() if k != "logits"}
                                                            for c in cells], indent=2, default=str) + "\n")
    Path(args.doc).write_text(render(cells, command))
    winner = choose(cells, args.budget_ms)
    index = cells.index(winner)
    prepared = prepared_of[index]
    config = CrossValConfig(**winner["config"])
    everything = np.flatnonzero(np.isin(prepared.pool.source, winner["sources"]) & (prepared.pool.fold != SYNTHETIC_TEST))
    crossval.train_on(prepared, config, everything, config.seed + 1000)
    path = crossval.save_final(prepared, config, winner["logits"], out / "winner", winner["sources"])
    print(f"ablation: winner {winner['arm']} {winner['size']} px {winner['data']} -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
