"""report.md from the metrics dict alone (what ``skinfindings evaluate`` writes to metrics.json).

    from skinfindings.training.report import render_report
    Path("report.md").write_text(render_report(json.loads(Path("metrics.json").read_text())))
"""

from __future__ import annotations

from typing import Sequence

from skinfindings.findings import FINDINGS
from skinfindings.training.metrics import METRICS, THRESHOLD_METRICS

FEW_POSITIVES = 10  # below this, a finding's sensitivity rests on a handful of photos
RULE_TITLES = {
    "excluded": "excluded (headline: assessed photos only)",
    "included_as_missed": "included as missed (abstained = no finding)",
    "included_as_escalate": "included as escalate (abstained = flagged, sent to a person)",
}


def fmt(summary: dict | None, digits: int = 2, interval: bool = True) -> str:
    """'0.81 (0.70-0.90)', or 'n/a (no positives)' for an undefined metric."""
    if summary is None:
        return "-"
    if summary["value"] is None:
        return f"n/a ({summary['na']})"
    text = f"{summary['value']:.{digits}f}"
    if interval and summary.get("ci"):
        low, high = summary["ci"]
        text += f" ({low:.{digits}f}–{high:.{digits}f})"
    return text


def digits_for(metric: str) -> int:
    return 3 if metric in ("ece", "brier") else 2


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def _metric_row(block: dict, metrics: Sequence[str]) -> list[str]:
    return [fmt(block[m], digits_for(m)) for m in metrics]


def _header(result: dict) -> list[str]:
    meta = result["meta"]
    lines = [f"# Evaluation: `{meta['checkpoint']}` on `{meta['manifest']}` ({meta['split']})", ""]
    if not meta["trained"]:
        lines += [f"> **Warning: this checkpoint is not trained** (status: {meta['status']}). The numbers below "
                  "test the evaluation code and say nothing about skin.", ""]
    lines += [
        "Possible findings only: this is not a diagnosis and not a medical device. Definitions of every number: "
        "docs/evaluation.md.", "",
        f"Regenerate with: `{meta['command']}`", "",
        f"- Photos: {result['photos']}; assessed (not abstained, readable): {result['assessed']}",
        f"- Checkpoint: {meta['arch']}, input {meta['input_size']} px, trained: {meta['trained']}; thresholds "
        f"({meta['threshold_rule']}): " + ", ".join(f"{f} {t:.2f}" for f, t in result["thresholds"].items()),
        f"- Intervals: 95% percentile bootstrap, {result['bootstrap']['resamples']} resamples of whole groups "
        f"({result['bootstrap']['groups']} groups, the manifest's `group` column), seed {result['bootstrap']['seed']}",
        "",
    ]
    return lines


def _data_section(result: dict) -> list[str]:
    rows = [[d["source"], d["license"], d["photos"], d["attribution"] or "-"] for d in result["meta"]["data"]]
    return ["## Data", "", table(["source", "licence", "photos", "attribution"], rows), ""]


def _caveats(result: dict) -> list[str]:
    notes = []
    for finding, block in result["per_finding"].items():
        if block["positives"] == 0:
            notes.append(f"- **{finding}**: no positive photo among the assessed ones: this set cannot measure it "
                         "(its metrics read n/a).")
        elif block["positives"] < FEW_POSITIVES:
            notes.append(f"- **{finding}**: only {block['positives']} positive photos: its sensitivity and AUROC "
                         "rest on a handful of photos; read the interval, not the point value.")
    return (["## Read this first", "", *notes, ""] if notes else [])


def _main_table(result: dict) -> list[str]:
    metrics = list(METRICS)
    header = ["finding", "n", "positives", *(METRICS[m].label for m in metrics)]
    rows = [[f, b["n"], b["positives"], *_metric_row(b["metrics"], metrics)] for f, b in result["per_finding"].items()]
    rows.append(["**macro**", "", "", *_metric_row(result["macro"], metrics)])
    defined = {m: result["macro"][m]["findings"] for m in metrics}
    partial = [m for m in metrics if 0 < len(defined[m]) < len(FINDINGS)]
    lines = ["## Per finding (assessed photos)", "",
             "Value (95% interval). Sensitivity, specificity, PPV, NPV and F1 at the checkpoint's threshold; "
             "ECE with equal-width bins; unknown labels left out per finding.", "", table(header, rows), ""]
    lines += [f"- macro {METRICS[m].label} averages {', '.join(defined[m])} only." for m in partial]
    return lines + [""] if partial else lines


def _baselines(result: dict) -> list[str]:
    baselines = result.get("baselines", {})
    if not baselines:
        return []
    metrics = ("auroc", "ap", "f1")
    header = ["finding"] + [f"{METRICS[m].label} {name}" for m in metrics for name in ("model", *baselines)]
    rows = []
    for finding in (*FINDINGS, "macro"):
        def block(source):
            return source["macro"] if finding == "macro" else source["per_finding"][finding]["metrics"]
        rows.append([finding] + [fmt(block(src)[m], interval=False) for m in metrics
                                 for src in (result, *baselines.values())])
    lines = ["## Baselines on the same photos", "", table(header, rows), ""]
    for name, b in baselines.items():
        lines.append(f"- **{name}**: {b['description']}; threshold 0.5.")
        lines += [f"  - {note}" for note in b["notes"]]
    return lines + [""]


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _abstention(result: dict) -> list[str]:
    a = result["abstention"]
    reasons = ", ".join(f"{code} {n}" for code, n in sorted(a["reasons"].items())) or "none"
    missed = ", ".join(f"{f} {n}" for f, n in a["positives_in_abstained"].items())
    lines = ["## Abstentions", "",
             f"- Assessed {a['assessed']} of {a['photos']} photos (coverage {a['coverage']}); "
             f"abstained or unreadable: {reasons}.",
             f"- Positive labels inside abstained photos: {missed}.",
             f"- On assessed photos: label-wise accuracy {_number(a['gate']['accuracy'])}, pooled sensitivity "
             f"{_number(a['gate']['sensitivity'])} (coverage.png shows both if only the most confident photos "
             "were answered).", "",
             "Threshold metrics with abstentions handled three ways:", ""]
    rules = {"excluded": {"per_finding": result["per_finding"], "macro": result["macro"]}, **a["rules"]}
    header = ["finding", "rule", *(METRICS[m].label for m in THRESHOLD_METRICS)]
    rows = []
    for finding in (*FINDINGS, "macro"):
        for rule, scored in rules.items():
            block = scored["macro"] if finding == "macro" else scored["per_finding"][finding]["metrics"]
            rows.append([finding, RULE_TITLES[rule], *_metric_row(block, THRESHOLD_METRICS)])
    return lines + [table(header, rows), ""]


def _subgroups(result: dict) -> list[str]:
    lines = ["## Subgroups (assessed photos)", ""]
    for column, sub in result["subgroups"].items():
        lines += [f"### By {column}", "", f"Groups: {sub.get('note', column)}.", ""]
        header = ["group", "n", "finding", "positives", *(METRICS[m].label for m in METRICS)]
        rows = []
        for group, block in sub["groups"].items():
            for finding, fb in block["per_finding"].items():
                rows.append([group, block["n"], finding, fb["positives"], *_metric_row(fb["metrics"], METRICS)])
            rows.append([group, block["n"], "**macro**", "", *_metric_row(block["macro"], METRICS)])
        lines += [table(header, rows), ""]
        if len(sub["groups"]) < 2:
            lines += ["One group only: nothing to compare.", ""]
            continue
        rows = [[finding, *(_extreme_cell(per_metric[m], sub["groups"]) for m in METRICS)]
                for finding, per_metric in sub["extremes"].items()]
        lines += ["Worst group (n), its value, and the gap to the best group; small groups swing widely, "
                  "so read the gaps with the intervals above:", "",
                  table(["finding", *(METRICS[m].label for m in METRICS)], rows), ""]
    return lines


def _extreme_cell(e: dict, groups: dict) -> str:
    if e["worst_group"] is None:
        return "n/a"
    worst = f"{e['worst_group']} (n={groups[e['worst_group']]['n']}) {e['worst']:.2f}"
    return worst + (" (one group has a value)" if e["gap"] is None else f", gap {e['gap']:.2f}")


def _labels(result: dict) -> list[str]:
    card = result["labels"]["cardinality"]
    distribution = ", ".join(f"{k}: {n}" for k, n in card["distribution"].items())
    mean = f"{card['mean']:.2f}" if card["mean"] is not None else "n/a"
    rows = [[f, *row] for f, row in zip(FINDINGS, result["labels"]["cooccurrence"])]
    return ["## Labels", "",
            f"- Findings per photo (photos with all five labels known: {card['photos_with_all_labels_known']}; "
            f"with an unknown label: {card['photos_with_an_unknown_label']}): mean {mean}; photos by count: "
            f"{distribution}.", "",
            "Co-occurrence (photos with both findings; diagonal: photos with the finding):", "",
            table(["", *FINDINGS], rows), ""]


def _plots(result: dict) -> list[str]:
    plots = result.get("plots", {})
    if not plots:
        return []
    titles = {"roc": "ROC curves", "pr": "Precision-recall curves", "reliability": "Reliability diagram",
              "tone": "Per skin tone", "cooccurrence": "Co-occurrence", "coverage": "Coverage vs accuracy",
              "errors": "Most confident errors"}
    lines = ["## Plots", ""]
    for key, name in plots.items():
        lines += [f"### {titles.get(key, key)}", "", f"![{titles.get(key, key)}]({name})", ""]
        if key == "errors":
            lines += ["This contact sheet shows photos of the evaluated set: keep it in the output folder, never "
                      "commit it to the repository.", ""]
    return lines


def render_report(result: dict) -> str:
    lines = [*_header(result), *_caveats(result), *_data_section(result), *_main_table(result),
             *_baselines(result), *_abstention(result), *_subgroups(result), *_labels(result), *_plots(result)]
    return "\n".join(lines).rstrip() + "\n"
