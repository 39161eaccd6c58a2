"""python -m skinfindings.training.probe_search --real R --faces F [F ...] --composites C [C ...] --out runs/search

The recipe search for the shipped model: linear probes on frozen pretrained EfficientNet-Lite backbones, every
candidate cross-validated on the same folds as ``skinfindings crossval`` (grouped by patient and by person), and one
pick by a rule fixed before the run (``RULE`` below, printed at the top of the results).

Grid: backbone x input size (``--grid lite0:224 lite0:320 ...``) x pooling (average; average and maximum) x
probe strength C x the real photos' share of the training weight. Features are computed once per backbone and size
(training/probe.py caches them), so the whole grid costs one feature pass per backbone and size plus the
regressions. Results: OUT/results.json (every candidate's numbers) and OUT/results.md (the table and the pick).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from skinfindings.findings import FINDINGS
from skinfindings.model.registry import build_model
from skinfindings.training import crossval
from skinfindings.training.crossval import COMPOSITES, FACES, REAL, CrossValConfig
from skinfindings.training.metrics import per_finding_auroc
from skinfindings.training.probe import POOLINGS, arch_for

RULE = """Selection rule (fixed before the search ran):
1. Eligible: the model's forward pass for one photo takes at most 20 ms here (batch 1, fastest of 20, measured
   by this search),
   so that decoding a 12-MP JPEG (~35 ms) plus the model stays within the 60 ms budget.
2. Score = mean of five out-of-fold AUROCs: erythema, crusting, hyperpigmentation on the real lesion photos;
   milia and pustules on the held-out composites (lesions and faces), minus the amount by which the ordinary
   faces' "possible crusting or pustules" rate (share of face photos and crops without labelled crusting or
   pustules at or above either rule-out point, out-of-fold) exceeds 0.15.
3. The highest score wins; candidates within 0.005 of it count as tied, and the fastest of those wins."""
LATENCY_BUDGET_MS = 20.0
CALM_LIMIT = 0.15
TIE = 0.005
ESCALATING = [FINDINGS.index("crusting"), FINDINGS.index("pustules")]


@dataclass(frozen=True)
class Candidate:
    backbone: str
    input_size: int
    pooling: str
    c: float
    real_weight: float

    @property
    def arch(self) -> str:
        return arch_for(self.backbone, self.pooling)


def forward_ms(arch: str, input_size: int, repeats: int = 20) -> float:
    """Fastest of ``repeats`` forward passes of one photo (batch 1) on this machine's threads: the minimum, since
    other work on a shared machine only ever adds time."""
    model = build_model(arch, len(FINDINGS)).eval()
    x = torch.zeros(1, 3, input_size, input_size)
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(repeats):
            started = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - started) * 1000)
    return float(np.min(times))


def face_rates(pool: crossval.Pool, calibrated: tuple) -> dict:
    """Out-of-fold levels on the ordinary faces without labelled crusting or pustules."""
    probabilities, rule_out, rule_in = calibrated
    faces = (pool.source == FACES) & (pool.fold >= 0)
    calm = faces & ~np.any(pool.labels[:, ESCALATING] == 1, axis=1)
    p, out, inn = probabilities[calm][:, ESCALATING], rule_out[calm][:, ESCALATING], rule_in[calm][:, ESCALATING]
    return {"photos": int(calm.sum()), "possible_or_likely": float(np.mean(np.any(p >= out, axis=1))),
            "likely": float(np.mean(np.any(p >= inn, axis=1)))}


def measure(recipe: crossval.ProbeRecipe, pool: crossval.Pool, config: CrossValConfig) -> dict:
    logits, _ = crossval.out_of_fold_logits(recipe, pool, config)
    held_out = lambda source: np.flatnonzero((pool.source == source) & (pool.fold >= 0))  # noqa: E731
    real = per_finding_auroc(pool.labels[held_out(REAL)], logits[held_out(REAL)])
    composites = per_finding_auroc(pool.labels[held_out(COMPOSITES)], logits[held_out(COMPOSITES)])
    faces = face_rates(pool, crossval.out_of_fold_calibrated(pool, logits, config))
    five = [real["erythema"], real["crusting"], real["hyperpigmentation"], composites["milia"], composites["pustules"]]
    score = float(np.mean(five)) - max(0.0, faces["possible_or_likely"] - CALM_LIMIT)
    return {"real": real, "composites": composites, "faces": faces, "mean5": float(np.mean(five)), "score": score}


def pick(results: list[dict]) -> dict:
    eligible = [r for r in results if r["forward_ms"] <= LATENCY_BUDGET_MS] or results
    best = max(r["score"] for r in eligible)
    return min((r for r in eligible if r["score"] >= best - TIE), key=lambda r: r["forward_ms"])


def run(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    base = CrossValConfig(real=args.real, faces=args.faces, composites=args.composites, out=str(out),
                          recipe="probe", folds=args.folds, seed=args.seed)
    pool = crossval.build_pool(base)
    results = []
    for item in args.grid:
        name, size = item.split(":")
        backbone = f"efficientnet_{name}"
        for pooling, c, real_weight in itertools.product(POOLINGS, args.c, args.real_weight):
            candidate = Candidate(backbone, int(size), pooling, c, real_weight)
            config = dataclasses.replace(base, arch=candidate.arch, input_size=candidate.input_size, probe_c=c,
                                         source_weights=[real_weight, 1.0, 1.0, 1.0])
            recipe = crossval.ProbeRecipe(pool, config)
            result = {"candidate": dataclasses.asdict(candidate), "arch": candidate.arch,
                      "forward_ms": forward_ms(candidate.arch, candidate.input_size), **measure(recipe, pool, config)}
            results.append(result)
            print(json.dumps({k: result[k] for k in ("candidate", "forward_ms", "mean5", "score")}), flush=True)
            (out / "results.json").write_text(json.dumps({"rule": RULE, "results": results}, indent=2) + "\n")
    chosen = pick(results)
    (out / "results.json").write_text(json.dumps({"rule": RULE, "results": results, "pick": chosen}, indent=2) + "\n")
    (out / "results.md").write_text(table(results, chosen))
    return chosen


def table(results: list[dict], chosen: dict) -> str:
    lines = [RULE, "", "| backbone | px | pooling | C | real weight | ms | erythema | crusting | hyperpig. | milia (comp.) | "
             "pustules (comp.) | faces possible | faces likely | score |", "|" + "---|" * 14]
    for r in sorted(results, key=lambda r: -r["score"]):
        c = r["candidate"]
        mark = " **(pick)**" if r is chosen else ""
        lines.append(f"| {c['backbone'].removeprefix('efficientnet_')} | {c['input_size']} | {c['pooling']} | {c['c']} | "
                     f"{c['real_weight']} | {r['forward_ms']:.1f} | {r['real']['erythema']:.3f} | "
                     f"{r['real']['crusting']:.3f} | {r['real']['hyperpigmentation']:.3f} | "
                     f"{r['composites']['milia']:.3f} | {r['composites']['pustules']:.3f} | "
                     f"{r['faces']['possible_or_likely']:.2f} | {r['faces']['likely']:.2f} | {r['score']:.3f}{mark} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skinfindings.training.probe_search", description=__doc__.split("\n\n")[1])
    parser.add_argument("--real", required=True)
    parser.add_argument("--faces", nargs="*", default=[])
    parser.add_argument("--composites", nargs="*", default=[])
    parser.add_argument("--out", required=True)
    parser.add_argument("--grid", nargs="+", default=["lite0:224", "lite0:320", "lite0:448", "lite1:320", "lite2:320"])
    parser.add_argument("--c", type=float, nargs="+", default=[0.003])
    parser.add_argument("--real-weight", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    chosen = run(parser.parse_args(argv))
    print("pick: " + json.dumps(chosen["candidate"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
