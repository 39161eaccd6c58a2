"""skinfindings compare RUN_A RUN_B [--out FILE] | compare --paired A B --manifest M [--out FILE.md]

Side by side (default): two evaluation runs as a Markdown table, from their metrics.json (RUN is
the folder ``skinfindings evaluate --out`` wrote, or the metrics.json itself).

Paired (``--paired``): two models on the same photos, from their predictions (A, B: predictions
CSVs, or evaluate output folders holding predictions.csv) and the manifest's labels: per finding
and metric B - A with a paired grouped-bootstrap interval (``training.paired``), and DeLong's
test for the AUROC where no patient has two photos. With --out, the Markdown goes to FILE.md and
the numbers to FILE.json.

Prints the Markdown to standard output unless --out is given.
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


def _delong_cell(delong: dict | None) -> str:
    if not delong:
        return "-"
    low, high = delong["ci"]
    return f"{delong['delta']:+.2f} ({low:+.2f} to {high:+.2f}), p={delong['p']:.3f}"


def _delta_cell(summary: dict, digits: int) -> str:
    if summary["value"] is None:
        return f"n/a ({summary['na']})"
    low, high = summary["ci"] or (summary["value"], summary["value"])
    better = "" if summary.get("b_better") is None else f"; B better in {summary['b_better']:.0%}"
    return f"{summary['value']:+.{digits}f} ({low:+.{digits}f} to {high:+.{digits}f}{better})"


def render_paired(result: dict) -> str:
    """Markdown for a ``paired_from_files`` result."""
    counts, runs = result["photos_scored"], result["runs"]
    lines = ["# Paired comparison: B - A on the same photos", "",
             f"A: `{runs['a']['path']}` ({runs['a']['kind']}); B: `{runs['b']['path']}` ({runs['b']['kind']}); "
             f"manifest `{result['manifest']}` ({result['split']}).", "",
             f"- Photos: {counts['manifest_rows']} manifest rows, {counts['scored_by_both']} scored by both, "
             f"{counts['assessed_by_both']} assessed by both (compared); {result['groups']} groups.",
             f"- Intervals: 95% paired grouped bootstrap, {result['bootstrap']['resamples']} resamples of whole "
             "groups, both models scored on each resample; an interval that excludes 0 shows a difference. "
             "Each model at its own thresholds.",
             "- DeLong's test for the AUROC difference " + ("is given (one photo per group)." if
                                                            result["one_photo_per_group"] else
                                                            "is not given: some groups have several photos."),
             "- Minimum evidence: a finding with fewer than 5 positives or negatives is not compared; a macro "
             "averages the same findings in every resample.", ""]
    rows = []
    for finding, block in result["per_finding"].items():
        for metric, cell in block["metrics"].items():
            digits = digits_for(metric)
            rows.append([finding, METRICS[metric].label, fmt(cell["a"], digits), fmt(cell["b"], digits),
                         _delta_cell(cell["delta"], digits), _delong_cell(block["delong"]) if metric == "auroc"
                         else ""])
    for metric, cell in result["macro"].items():
        digits = digits_for(metric)
        rows.append([f"macro ({', '.join(cell['findings']) or 'none'})", METRICS[metric].label,
                     fmt(cell["a"], digits), fmt(cell["b"], digits), _delta_cell(cell["delta"], digits), ""])
    header = ["finding", "metric", "A", "B", "B - A (95% interval)", "DeLong B - A"]
    return "\n".join([*lines, table(header, rows), ""])


def _paired(args, parser) -> tuple[str, dict]:
    from skinfindings.training.paired import paired_from_files

    if not args.manifest:
        parser.error("--paired needs --manifest (the labels of the photos both runs scored)")
    try:
        result = paired_from_files(args.run_a, args.run_b, args.manifest, args.split,
                                   resamples=args.resamples, seed=args.seed)
    except ValueError as exc:  # ManifestError is a ValueError
        parser.exit(2, f"skinfindings compare: {exc}\n")
    return render_paired(result), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skinfindings compare", description=__doc__.splitlines()[0])
    parser.add_argument("run_a", help="evaluate output folder (or its metrics.json; with --paired: predictions CSV)")
    parser.add_argument("run_b", help="evaluate output folder (or its metrics.json; with --paired: predictions CSV)")
    parser.add_argument("--out", help="write the Markdown here instead of printing it (--paired: and FILE.json)")
    parser.add_argument("--paired", action="store_true", help="paired comparison of two models on the same photos")
    parser.add_argument("--manifest", help="with --paired: the manifest with the photos' labels and groups")
    parser.add_argument("--split", help="with --paired: compare on one split of the manifest")
    parser.add_argument("--resamples", type=int, default=1000, help="with --paired: bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.paired and args.out and Path(args.out).suffix == ".json":
        parser.error("--out names the Markdown file; the JSON goes next to it")
    numbers = None
    if args.paired:
        text, numbers = _paired(args, parser)
    else:
        try:
            a, b = load_run(args.run_a), load_run(args.run_b)
        except (FileNotFoundError, json.JSONDecodeError) as exc:
            parser.exit(2, f"skinfindings compare: {exc}\n")
        text = render_comparison(a, b, str(args.run_a), str(args.run_b))
    if args.out:
        Path(args.out).write_text(text)
        if numbers is not None:
            Path(args.out).with_suffix(".json").write_text(json.dumps(numbers, indent=1) + "\n")
    else:
        print(text, end="")
    return 0
