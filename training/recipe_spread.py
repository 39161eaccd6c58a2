"""python -m skinfindings.training.recipe_spread --real R --faces F [F ...] --composites C [C ...] --out runs/spread

The recipe search's second round: how much the pick's numbers move when only the fold assignment changes (run-to-run
spread), and whether training the last stage instead of a linear probe beats it. Each recipe is cross-validated
exactly as ``skinfindings crossval`` does, once per fold seed, and scored by the first round's measure
(``probe_search.measure``: five out-of-fold AUROCs minus the faces' excess "possible" rate). The rule below was
written and committed before this round ran. Results: OUT/results.json and OUT/results.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from skinfindings.training import crossval
from skinfindings.training.crossval import CrossValConfig
from skinfindings.training.probe_search import measure

RULE = """Selection rule of round 2 (fixed before it ran):
1. Candidates, both Lite0 at 224 px with average and maximum pooling (so the same forward time): the shipped linear
   probe, and the last stage and head trained on cached frozen early stages (crossval's "tail" recipe: cut 7, 2
   augmented views, 4 epochs of 768 draws, AdamW lr 1e-3, fresh head).
2. Each is cross-validated with fold seeds 0-4 (5 folds each, grouped by patient and person) and scored by round 1's
   score (mean of the five AUROCs minus the faces' "possible" rate above 0.15).
3. The tail replaces the probe only if its mean score over the seeds beats the probe's by more than the larger of
   0.005 and the probe's standard deviation over the seeds; otherwise the probe stays."""
FINDING_COLUMNS = (("real", "erythema"), ("real", "crusting"), ("real", "hyperpigmentation"),
                   ("composites", "milia"), ("composites", "pustules"))


def recipe_config(base: CrossValConfig, recipe: str) -> CrossValConfig:
    return dataclasses.replace(base, recipe=recipe, arch="efficientnet_lite0_avgmax", input_size=224)


def run(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    base = CrossValConfig(real=args.real, faces=args.faces, composites=args.composites, out=str(out),
                          folds=args.folds, final=False, report=False, baseline_probe=False)
    pools = {seed: crossval.build_pool(dataclasses.replace(base, seed=seed)) for seed in args.fold_seeds}
    first = pools[args.fold_seeds[0]]
    # Only the folds differ between seeds: the recipe (and its feature cache) is built once, on the first pool.
    assert all(p.paths == first.paths for p in pools.values()), "the pool's photos must not depend on the fold seed"
    results = []
    for name in args.recipes:
        recipe = crossval.make_recipe(first, recipe_config(base, name))
        for seed, pool in pools.items():
            config = dataclasses.replace(recipe_config(base, name), seed=seed)
            results.append({"recipe": name, "fold_seed": seed, **measure(recipe, pool, config)})
            print(json.dumps({k: results[-1][k] for k in ("recipe", "fold_seed", "mean5", "score")}), flush=True)
            (out / "results.json").write_text(json.dumps({"rule": RULE, "results": results}, indent=2) + "\n")
    summary = {name: spread([r for r in results if r["recipe"] == name]) for name in args.recipes}
    verdict = decide(summary)
    (out / "results.json").write_text(json.dumps({"rule": RULE, "results": results, "summary": summary,
                                                  "verdict": verdict}, indent=2) + "\n")
    (out / "results.md").write_text(table(results, summary, verdict))
    return {"summary": summary, "verdict": verdict}


def spread(rows: list[dict]) -> dict:
    """Mean and standard deviation (ddof 1) over fold seeds of each number the table shows."""
    columns = {f"{source}:{finding}": [r[source][finding] for r in rows] for source, finding in FINDING_COLUMNS}
    columns["faces possible"] = [r["faces"]["possible_or_likely"] for r in rows]
    columns["faces likely"] = [r["faces"]["likely"] for r in rows]
    columns["score"] = [r["score"] for r in rows]
    return {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
            for k, v in columns.items()}


def decide(summary: dict) -> str:
    if "tail" not in summary or "probe" not in summary:
        return "only one recipe measured: nothing to decide"
    probe, tail = summary["probe"]["score"], summary["tail"]["score"]
    margin = max(0.005, probe["sd"])
    if tail["mean"] - probe["mean"] > margin:
        return f"tail replaces the probe: {tail['mean']:.3f} vs {probe['mean']:.3f} (margin {margin:.3f})"
    return f"the probe stays: tail {tail['mean']:.3f} vs probe {probe['mean']:.3f} (needed more than +{margin:.3f})"


def table(results: list[dict], summary: dict, verdict: str) -> str:
    header = ("| recipe | fold seed | erythema | crusting | hyperpig. | milia (comp.) | pustules (comp.) | "
              "faces possible | faces likely | score |")
    lines = [RULE, "", header, "|" + "---|" * 10]
    for r in results:
        numbers = [r[s][f] for s, f in FINDING_COLUMNS] + [r["faces"]["possible_or_likely"], r["faces"]["likely"],
                                                           r["score"]]
        lines.append(f"| {r['recipe']} | {r['fold_seed']} | " + " | ".join(f"{x:.3f}" for x in numbers) + " |")
    for name, columns in summary.items():
        lines.append(f"| **{name}: mean ± sd** | | "
                     + " | ".join(f"{c['mean']:.3f} ± {c['sd']:.3f}" for c in columns.values()) + " |")
    return "\n".join(lines + ["", f"Verdict: {verdict}"]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skinfindings.training.recipe_spread",
                                     description=__doc__.split("\n\n")[1])
    parser.add_argument("--real", required=True)
    parser.add_argument("--faces", nargs="*", default=[])
    parser.add_argument("--composites", nargs="*", default=[])
    parser.add_argument("--out", required=True)
    parser.add_argument("--recipes", nargs="+", choices=("probe", "tail"), default=["probe", "tail"])
    parser.add_argument("--fold-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    print(json.dumps(run(parser.parse_args(argv)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
