"""report.md sections for the judged parts of an evaluation (``training/judged.py``): the summary that opens
the report, the decision-level results, the operating points, the calibration check and the data checks."""

from __future__ import annotations

from skinfindings.findings import FINDINGS
from skinfindings.training.report import fmt, percent, table

POINT_LABELS = {"sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV", "npv": "NPV"}


def _delta(summary: dict | None) -> str:
    if not summary or summary["value"] is None:
        return f"n/a ({summary['na']})" if summary else "n/a"
    low, high = summary["ci"] or (summary["value"], summary["value"])
    return f"{summary['value']:+.2f} ({low:+.2f} to {high:+.2f})"


def _comparison(name: str, compared: dict | None, missing: str) -> str:
    if compared is None:
        return f"{name}: {missing}"
    if compared.get("delta") is None:
        return f"{name}: n/a ({compared['na']})"
    return (f"{name} {fmt(compared['other'])} vs model {fmt(compared['model'])}, difference "
            f"{_delta(compared['delta'])} on {compared['photos']} photos")


def biggest_warning(result: dict) -> str:
    """The one warning a reader must not miss, chosen in a fixed order (overlap, untrained, calibration,
    findings this set cannot measure); the count of the others."""
    candidates = []
    from skinfindings.training.data_checks import overlap_warning

    overlap = overlap_warning(result.get("data_checks", {}).get("overlap", {}))
    candidates += [overlap] if overlap else []
    if not result["meta"]["trained"]:
        candidates.append("the checkpoint is not trained: the numbers test the plumbing only")
    calibration = result.get("calibration_warnings", {})
    worst = sorted(calibration, key=lambda f: -(result["per_finding"][f]["metrics"]["ece"]["value"] or 0))
    candidates += [calibration[f] for f in worst]
    unmeasured = [f for f, b in result["per_finding"].items() if b["metrics"]["auroc"]["value"] is None]
    if unmeasured:
        candidates.append(f"{', '.join(unmeasured)}: too few positive or negative photos here to measure")
    if not candidates:
        return "none of the checked warnings applies"
    more = f" (and {len(candidates) - 1} more below)" if len(candidates) > 1 else ""
    return candidates[0] + more


def tone_line(coverage: dict) -> str:
    counts = coverage["evaluated"]
    listed = ", ".join(f"{k.replace('type ', '')} {n}" for k, n in counts.items())
    missing = [k.replace("type ", "") for k, n in counts.items() if k.startswith("type ") and n == 0]
    gap = f"; no photo of type {', '.join(missing)}: nothing here says how it does on them" if missing else ""
    return f"Fitzpatrick type of the {sum(counts.values())} evaluated photos: {listed}{gap}"


def summary_lines(result: dict) -> list[str]:
    """The five lines that open report.md."""
    macro = result["macro"]["auroc"]
    measured = ", ".join(macro["findings"]) or "no finding"
    comparisons = result.get("comparisons", {})
    decisions = result["decisions"]
    rates = decisions["scenarios"][decisions["default"]]
    return [
        "## Summary", "",
        f"1. **Headline**: macro AUROC {fmt(macro)} over {measured}; {result['assessed']} of {result['photos']} "
        f"photos assessed ({result.get('kind', 'checkpoint')}).",
        "2. **Against simpler scorers** (macro AUROC, paired on the same photos and patients): "
        + _comparison("colour/texture baseline", comparisons.get("colour_texture"), "not run (no pixels)") + "; "
        + _comparison("linear probe", comparisons.get("probe"), "no probe predictions given (`--probe-predictions`)")
        + ".",
        f"3. **What people are told** ({rates['scenario']}): \"contact your provider soon\" for "
        f"{percent(rates['soon_without'])} of photos without labelled crusting/pustules and "
        f"{percent(rates['soon_with'])} of photos with them; pre-sort \"review first\" precision "
        f"{percent(rates['review_precision'])}; a finding the labels do not have shown on "
        f"{percent(rates['false_finding'])} of assessed photos.",
        f"4. **Biggest warning**: {biggest_warning(result)}.",
        f"5. **Skin tone**: {tone_line(result['data_checks']['tone_coverage'])}.",
    ]


def decisions_section(result: dict) -> list[str]:
    from skinfindings.training.decisions import decision_table

    decisions = result["decisions"]
    scenarios = decisions["scenarios"]
    header = ["", *(rates["scenario"] for rates in scenarios.values())]
    tiers = sorted({t for rates in scenarios.values() for t in rates["tiers"]})
    tier_rows = [[tier, *(rates["tiers"].get(tier, 0) for rates in scenarios.values())] for tier in tiers]
    notices = sorted({n for rates in scenarios.values() for n in rates["notices"]})
    notice_rows = [[notice, *(rates["notices"].get(notice, 0) for rates in scenarios.values())] for notice in notices]
    return ["## What people are told (decision level)", "",
            f"Every evaluated photo ({decisions['photos']}, {decisions['assessed']} assessed) through the app's own "
            "decision (`priority.decide`) and notice (`guidance.urgency`), per scenario; no red flags. Photos with "
            f"labelled crusting or pustules: {decisions['with_escalating']}; with both labelled absent: "
            f"{decisions['without_escalating']}; neither (a label unknown): {decisions['escalating_unknown']}. Share "
            "(95% grouped-bootstrap interval) [photos counted / photos it is a share of]; the first scenario is the "
            "default and leads the summary.", "",
            decision_table([result], [""], commands=False), "Pre-sort tier per photo:", "", table(["tier", *header[1:]], tier_rows), "",
            "Notice headline per photo:", "", table(["notice", *header[1:]], notice_rows), "",
            "Per photo: `decisions.csv`; the model card's table: `decision-table.md` "
            "(`python -m skinfindings.training.decisions RUN_DIR ...` joins several runs).", ""]


def _threshold(value) -> str:
    if isinstance(value, list):
        return f"{min(value):.3f}-{max(value):.3f} (per fold)"
    return f"{value:.3f}"


def operating_points_section(result: dict) -> list[str]:
    lines = ["## Operating points", "",
             "Per finding (assessed photos): the highest threshold reaching each sensitivity and the lowest reaching "
             "each specificity, with the other values there (95% grouped-bootstrap intervals at that fixed "
             "threshold); **deployed** rows apply the checkpoint's rule-out and rule-in points (per photo for "
             "out-of-fold files). Decision curves: `decision-curve.png`.", ""]
    for finding in FINDINGS:
        points = result["operating_points"][finding]
        if points["na"]:
            lines += [f"- **{finding}**: n/a ({points['na']}).", ""]
            continue
        rows = []
        for row in points["rows"]:
            name = (f"**{row['kind']}**" if row["kind"].startswith("deployed")
                    else f"{row['kind']} ≥ {row['target']:.2f}")
            rows.append([name, _threshold(row["threshold"]), *(fmt(row[m]) for m in POINT_LABELS)])
        lines += [f"### {finding}", "", table(["point", "threshold", *POINT_LABELS.values()], rows), ""]
    return lines


def _if_calibrated(floor: dict | None) -> str:
    return "n/a" if not floor else f"{floor['mean']:.3f}; {floor['p95']:.3f}"


def calibration_section(result: dict) -> list[str]:
    check, warnings = result["calibration_check"], result["calibration_warnings"]
    rows = [[f, fmt(result["per_finding"][f]["metrics"]["ece"], 3), _if_calibrated(check[f].get("ece_if_calibrated")),
             fmt(check[f]["slope"]), fmt(check[f]["intercept"]), "poorly calibrated" if f in warnings else ""]
            for f in FINDINGS]
    lines = ["## Calibration judged", "",
             "Logistic recalibration on the assessed photos: slope b in logit P(y) = a + b·logit(p) (1 is ideal; "
             "below 1 the probabilities are too extreme) and intercept a with the slope held at 1 (0 is ideal; below "
             "0 they are too high on average); 95% grouped-bootstrap intervals. Poorly calibrated: ECE above 0.1 or "
             "slope outside 0.8–1.25. ECE is biased upward on few photos: the next column is the ECE a perfectly "
             "calibrated model shows on these same photos (labels drawn from its own probabilities, 500 times: mean, "
             "95th percentile). Bin counts: `reliability.png`.", "",
             table(["finding", "ECE", "ECE if calibrated (mean; 95th pct.)", "slope", "intercept", ""], rows), ""]
    lines += [f"> **Warning:** {text}." for text in warnings.values()]
    return lines + ([""] if warnings else [])


def _overlap_lines(overlap: dict) -> list[str]:
    if not overlap:
        return []
    if not overlap.get("checked"):
        return [f"- **Training photos**: {overlap.get('note')}."]
    near = (f", {overlap['near_duplicates']} near-duplicates (pHash within {overlap['max_distance']} bits)"
            if overlap["near_checked"] else " (near-duplicates not checked)")
    examples = [f"exact e.g. {', '.join(overlap['exact_examples'])}"] if overlap["exact_examples"] else []
    examples += [f"near e.g. {', '.join(overlap['near_examples'])}"] if overlap["near_examples"] else []
    lines = [f"- **Training photos** ({overlap['training_photos']} recorded, from {overlap['source']}): of "
             f"{overlap['photos']} evaluated photos, {overlap['exact']} exact copies (sha256){near}."
             + "".join(f" {e}." for e in examples)]
    return lines + [f"  - {note}." for note in overlap.get("notes", [])]


def _agreement_lines(agreement: dict) -> list[str]:
    if not agreement:
        return ["- **Annotator agreement**: the manifest has no per-annotator label columns (`<finding>_a`, "
                "`<finding>_b`), so agreement cannot be computed from it."]
    rows = [[f, " vs ".join(pair["columns"]), pair["photos"],
             "n/a" if pair["agreement"] is None else f"{pair['agreement']:.2f}",
             "n/a" + (f" ({pair['na']})" if pair["na"] else "") if pair["kappa"] is None else f"{pair['kappa']:.2f}"]
            for f, pairs in agreement.items() for pair in pairs]
    return ["- **Annotator agreement** (photos both labelled):", "",
            table(["finding", "annotators", "photos", "agreement", "Cohen's kappa"], rows), ""]


def _unsure_lines(unsure: dict, result: dict) -> list[str]:
    if not unsure["unknown"]:
        return ["- **Unsure labels**: none among the assessed photos."]
    rows = []
    for finding, count in unsure["unknown"].items():
        excluded = result["per_finding"][finding]["metrics"]
        for rule, title in (("excluded", "left out (headline)"), ("as_positive", "counted positive"),
                            ("as_negative", "counted negative")):
            block = excluded if rule == "excluded" else unsure["rules"][rule][finding]["metrics"]
            rows.append([finding, count, title, *(fmt(block[m]) for m in ("auroc", "sensitivity", "specificity"))])
    return ["- **Unsure labels** (empty in the manifest: the annotators disagreed), assessed photos:", "",
            table(["finding", "unsure", "unsure labels", "AUROC", "Sensitivity", "Specificity"], rows), ""]


def data_checks_section(result: dict) -> list[str]:
    checks = result["data_checks"]
    coverage = checks["tone_coverage"]
    tone_rows = [[group, n, coverage["assessed"].get(group, 0)] for group, n in coverage["evaluated"].items()]
    return ["## Data checks", "", *_overlap_lines(checks.get("overlap", {})), *_agreement_lines(checks["annotators"]),
            *_unsure_lines(checks["unsure"], result), "- **Skin-tone coverage**:", "",
            table(["skin tone", "evaluated photos", "assessed photos"], tone_rows), ""]
