"""report.md from the metrics dict alone (what ``skinfindings evaluate`` writes to metrics.json).

    from skinfindings.training.report import render_report
    Path("report.md").write_text(render_report(json.loads(Path("metrics.json").read_text())))
"""

from __future__ import annotations

from typing import Sequence

from skinfindings.findings import FINDINGS
from skinfindings.training.metrics import METRICS, MIN_NEGATIVES, MIN_POSITIVES, THRESHOLD_METRICS

FEW_POSITIVES = 10  # below this (but measurable), a finding's sensitivity rests on a handful of photos
# One sentence per rule; docs/evaluation.md says the same at more length.
RULES = (
    f"**Minimum evidence**: a metric that needs positives is not computed on fewer than {MIN_POSITIVES} positive "
    f"photos, one that needs negatives not on fewer than {MIN_NEGATIVES}, ECE and Brier not on fewer than "
    f"{MIN_POSITIVES + MIN_NEGATIVES} known labels; it reads n/a, for the model, the baselines (and each of their "
    "training folds), the subgroups and the paired comparison alike.",
    "**Fixed-set macro**: a macro averages the findings measured on these photos (named under the table), and "
    "every bootstrap resample averages exactly those; a resample where one of them is undefined is left out, and "
    "`defined` in metrics.json gives the share kept.",
    "**Small-sample intervals**: a share (sensitivity, specificity, PPV, NPV, F1, AUROC, AP) whose bootstrap "
    "interval has zero width (e.g. every positive found) gets the Clopper-Pearson interval on the number of "
    "patients behind it instead, marked †.",
    "**Subgroup ranking**: worst and best groups are ranked only among known groups (`unknown` is listed, never "
    "ranked), and a macro only over the findings every ranked group can measure.",
    "**Paired comparison**: `skinfindings compare --paired A B --manifest M` scores two runs' predictions.csv on the "
    "same photos and bootstraps the difference B - A with one set of resampled patients for both.",
    "**Out-of-fold input**: `skinfindings evaluate --predictions FILE.csv` reports cross-validated predictions exactly "
    "like a checkpoint's, each photo at its own fold's thresholds, marked out-of-fold.",
    "**ECE interval**: the 95% interval of the bootstrap resamples shifted by the bootstrap's bias estimate (their "
    "mean minus the estimate), so it is centred on the estimate; ECE is biased upward on small sets and a plain "
    "percentile interval can miss it.",
    "**Decisions**: what the app's notice and the pre-sort's tier say for each photo comes from the app's own "
    "functions (`priority.decide`, `guidance.urgency`), per scenario (treatment, day, no red flags).",
)
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
        exact = "†" if summary.get("ci_method") == "clopper-pearson" else ""
        text += f" ({low:.{digits}f}–{high:.{digits}f}{exact})"
    return text


def percent(summary: dict | None) -> str:
    """'12% (8-17%)', or 'n/a (reason)'."""
    if summary is None:
        return "-"
    if summary["value"] is None:
        return f"n/a ({summary['na']})"
    text = f"{summary['value']:.0%}"
    if summary.get("ci"):
        text += f" ({summary['ci'][0]:.0%}–{summary['ci'][1]:.0%})"
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
    kind = result.get("kind", "checkpoint")
    lines = [f"# Evaluation ({kind}): `{meta['checkpoint']}` on `{meta['manifest']}` ({meta['split']})", ""]
    if kind == "out-of-fold":
        lines += [f"> **Out-of-fold predictions** (`{meta['predictions']}`): each photo was scored by the fold model "
                  "that never saw its patient, at that fold's own thresholds.", ""]
    lines += [f"> **Warning:** {note}." for note in result.get("warnings", [])]
    lines += [""] if result.get("warnings") else []
    if not meta["trained"]:
        lines += [f"> **Warning: this checkpoint is not trained** (status: {meta['status']}). The numbers below "
                  "test the evaluation code and say nothing about skin.", ""]
    lines += [
        "Possible findings only: this is not a diagnosis and not a medical device. Definitions of every number: "
        "docs/evaluation.md.", "",
        f"Regenerate with: `{meta['command']}`", "",
        f"- Photos: {result['photos']}; assessed (not abstained, readable): {result['assessed']}",
        f"- Checkpoint: {meta['arch']}, input {meta['input_size']} px, trained: {meta['trained']}; thresholds "
        f"({meta['threshold_rule']}): " + ", ".join(f"{f} {_thresholds(t)}" for f, t in result["thresholds"].items()),
        f"- Intervals: 95% percentile bootstrap, {result['bootstrap']['resamples']} resamples of whole groups "
        f"({result['bootstrap']['groups']} groups, the manifest's `group` column), seed {result['bootstrap']['seed']}",
        "",
    ]
    return lines


def _thresholds(value: float | list[float]) -> str:
    """One threshold, or the range of the per-fold ones."""
    if isinstance(value, list):
        return f"{min(value):.2f}-{max(value):.2f} ({len(value)} values)"
    return f"{value:.2f}"


def _rules() -> list[str]:
    return ["## Rules", "", *(f"- {rule}" for rule in RULES), ""]


def _data_section(result: dict) -> list[str]:
    rows = [[d["source"], d["license"], d["photos"], d["attribution"] or "-"] for d in result["meta"]["data"]]
    return ["## Data", "", table(["source", "licence", "photos", "attribution"], rows), ""]


def _caveats(result: dict) -> list[str]:
    notes = []
    for finding, block in result["per_finding"].items():
        if block["positives"] < MIN_POSITIVES or block["negatives"] < MIN_NEGATIVES:
            notes.append(f"- **{finding}**: {block['positives']} positive and {block['negatives']} negative photos "
                         f"among the assessed ones, below the minimum of {MIN_POSITIVES}: this set cannot measure "
                         "it (the metrics that need the missing class read n/a and no macro includes them).")
        elif block["positives"] < FEW_POSITIVES:
            notes.append(f"- **{finding}**: only {block['positives']} positive photos: its sensitivity and AUROC "
                         "rest on a handful of photos; read the interval, not the point value.")
    return (["## Read this first", "", *notes, ""] if notes else [])


def _main_table(result: dict) -> list[str]:
    metrics = list(METRICS)
    header = ["finding", "n", "positives", *(METRICS[m].label for m in metrics)]
    rows = [[f, b["n"], b["positives"], *_metric_row(b["metrics"], metrics)] for f, b in result["per_finding"].items()]
    rows.append(["**macro**", "", "", *_metric_row(result["macro"], metrics)])
    lines = ["## Per finding (assessed photos)", "",
             "Value (95% interval; † Clopper-Pearson on the patients behind the share, where the bootstrap "
             "degenerates). Sensitivity, specificity, PPV, NPV and F1 at the threshold in force for each photo; "
             "ECE with equal-width bins; unknown labels left out per finding.", "", table(header, rows), "",
             *_macro_members(result["macro"], metrics), ""]
    return lines


def _macro_members(macro: dict, metrics: Sequence[str]) -> list[str]:
    """Which findings each macro averages (a fixed set, the same in every resample)."""
    lines = []
    for m in metrics:
        members = macro[m]["findings"]
        what = ", ".join(members) if members else "no finding (none is measurable)"
        share = f"; defined in {macro[m]['defined']:.0%} of resamples" if members else ""
        lines.append(f"- macro {METRICS[m].label} averages {what}{share}.")
    return lines


def _baselines(result: dict) -> list[str]:
    baselines = result.get("baselines", {})
    if not baselines:
        note = result.get("baselines_note")
        return ["## Baselines", "", f"- {note}.", ""] if note else []
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
             *_refusals(a), "Threshold metrics with abstentions handled three ways:", ""]
    rules = {"excluded": {"per_finding": result["per_finding"], "macro": result["macro"]}, **a["rules"]}
    header = ["finding", "rule", *(METRICS[m].label for m in THRESHOLD_METRICS)]
    rows = []
    for finding in (*FINDINGS, "macro"):
        for rule, scored in rules.items():
            block = scored["macro"] if finding == "macro" else scored["per_finding"][finding]["metrics"]
            rows.append([finding, RULE_TITLES[rule], *_metric_row(block, THRESHOLD_METRICS)])
    return lines + [table(header, rows), ""]


def _refusals(abstention: dict) -> list[str]:
    """Refusals by reason with the labelled positives each took away."""
    by_reason = abstention.get("by_reason", {})
    if not by_reason:
        return []
    rows = [[reason, b["photos"], *(b["positives_lost"][f] for f in FINDINGS)] for reason, b in by_reason.items()]
    return ["Refusals by reason, with the labelled positives each one lost:", "",
            table(["reason", "photos", *(f"{f} positives lost" for f in FINDINGS)], rows), ""]


def _subgroups(result: dict) -> list[str]:
    lines = ["## Subgroups (assessed photos)", "",
             "Worst and best groups are ranked among known groups only (`unknown` is listed, never ranked); a "
             "macro is ranked on the findings every ranked group measures, named under each table.", ""]
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
        shared = {m: sub["extremes"]["macro"][m]["findings"] for m in METRICS}
        lines += ["Worst group (n), its value, and the gap to the best group; small groups swing widely, "
                  "so read the gaps with the intervals above:", "",
                  table(["finding", *(METRICS[m].label for m in METRICS)], rows), "",
                  "- macro ranked on: " + "; ".join(f"{METRICS[m].label} {', '.join(f) or 'none'}"
                                                    for m, f in shared.items()) + ".", ""]
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
              "errors": "Most confident errors", "decision_curve": "Decision curves (net benefit)"}
    lines = ["## Plots", ""]
    for key, name in plots.items():
        lines += [f"### {titles.get(key, key)}", "", f"![{titles.get(key, key)}]({name})", ""]
        if key == "errors":
            lines += ["This contact sheet shows photos of the evaluated set: keep it in the output folder, never "
                      "commit it to the repository.", ""]
    return lines


def render_report(result: dict) -> str:
    from skinfindings.training.report_judged import (
        calibration_section,
        data_checks_section,
        decisions_section,
        operating_points_section,
        summary_lines,
    )

    header = _header(result)
    lines = [*header[:2], *summary_lines(result), "", *header[2:], *_caveats(result), *_rules(), *_data_section(result),
             *_main_table(result), *decisions_section(result), *operating_points_section(result),
             *calibration_section(result), *_baselines(result), *_abstention(result), *data_checks_section(result),
             *_subgroups(result), *_labels(result), *_plots(result)]
    return "\n".join(lines).rstrip() + "\n"
