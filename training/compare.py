"""skinfindings compare RUN_A RUN_B [--out FILE]

Two evaluation runs side by side, as a Markdown table, from their metrics.json (RUN is the
folder ``skinfindings evaluate --out`` wrote, or the metrics.json itself). Prints to standard
output unless --out is given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from skinfindings.findings import FINDINGS
from skinfindings.training.metrics import METRICS
from skinfindings.training.report import digits_for, fmt, table

SIDE_BY_SIDE = ("auroc", "ap", "sensitivity", "specificity", "ppv", "npv", "f1", "ece")


def load_run(path: str | Path) -> dict:
    path = Path(path)
    path = path / "metrics.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json at {path}; give an evaluate output folder or its metrics.json")
    return json.loads(path.read_text())


def _difference(a: dict | None, b: dict | None, digits: int) -> str:
    if not a or not b or a["value"] is None or b["value"] is None:
        return "n/a"
    return f"{b['value'] - a['value']:+.{digits}f}"


def _block(run: dict, finding: str) -> dict:
    return run["macro"] if finding == "macro" else run["per_finding"][finding]["metrics"]


def _overview(a: dict, b: dict) -> list[list[str]]:
    def row(label, get):
        return [label, get(a), get(b)]

    return [
        row("checkpoint", lambda r: f"`{r['meta']['checkpoint']}`"),
        row("trained", lambda r: f"{r['meta']['trained']} ({r['meta']['status']})"),
        row("manifest", lambda r: f"`{r['meta']['manifest']}` ({r['meta']['split']})"),
        row("photos / assessed", lambda r: f"{r['photos']} / {r['assessed']}"),
        row("bootstrap", lambda r: f"{r['bootstrap']['resamples']} resamples of {r['bootstrap']['groups']} groups"),
        row("command", lambda r: f"`{r['meta']['command']}`"),
    ]


def _worst_tone(run: dict) -> str:
    tone = run.get("subgroups", {}).get("tone")
    if not tone:
        return "-"
    e = tone["extremes"]["macro"]["auroc"]
    if e["worst_group"] is None:
        return "n/a"
    gap = "" if e["gap"] is None else f", gap {e['gap']:.2f}"
    return f"{e['worst_group']} {e['worst']:.2f}{gap}"


def render_comparison(a: dict, b: dict, name_a: str = "A", name_b: str = "B") -> str:
    lines = ["# Evaluation runs side by side", "",
             "Values with 95% grouped-bootstrap intervals; differences are B - A. Two runs whose intervals "
             "overlap widely do not show a real difference.", ""]
    if (a["meta"]["manifest"], a["meta"]["split"]) != (b["meta"]["manifest"], b["meta"]["split"]):
        lines += ["> The runs scored different photos: differences mix the models with the data.", ""]
    if not (a["meta"]["trained"] and b["meta"]["trained"]):
        lines += ["> At least one checkpoint is not trained: its numbers test the plumbing only.", ""]
    lines += [table(["", f"A: {name_a}", f"B: {name_b}"], _overview(a, b)), ""]
    rows = []
    for finding in (*FINDINGS, "macro"):
        for metric in SIDE_BY_SIDE:
            digits = digits_for(metric)
            left, right = _block(a, finding).get(metric), _block(b, finding).get(metric)
            rows.append([finding, METRICS[metric].label, fmt(left, digits), fmt(right, digits),
                         _difference(left, right, digits)])
    lines += ["## Metrics", "", table(["finding", "metric", "A", "B", "B - A"], rows), ""]
    extra = [["coverage (assessed share)", a["abstention"]["coverage"], b["abstention"]["coverage"]],
             ["worst skin-tone group, macro AUROC", _worst_tone(a), _worst_tone(b)]]
    for name in sorted(set(a.get("baselines", {})) | set(b.get("baselines", {}))):
        extra.append([f"baseline {name}, macro AUROC",
                      *(fmt(r["baselines"][name]["macro"]["auroc"]) if name in r.get("baselines", {}) else "-"
                        for r in (a, b))])
    lines += ["## Other", "", table(["", "A", "B"], extra), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skinfindings compare", description=__doc__.splitlines()[0])
    parser.add_argument("run_a", help="evaluate output folder (or its metrics.json)")
    parser.add_argument("run_b", help="evaluate output folder (or its metrics.json)")
    parser.add_argument("--out", help="write the Markdown here instead of printing it")
    args = parser.parse_args(argv)
    try:
        a, b = load_run(args.run_a), load_run(args.run_b)
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        parser.exit(2, f"skinfindings compare: {exc}\n")
    text = render_comparison(a, b, str(args.run_a), str(args.run_b))
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text, end="")
    return 0
