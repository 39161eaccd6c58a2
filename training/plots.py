"""The evaluation plots, drawn with matplotlib's object API (no pyplot, no display needed).

Each function writes one PNG and returns its file name. Every figure carries a footer
naming the checkpoint (and whether it is trained) and the data, so a plot copied out of
its report still says what it shows.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from skinfindings.findings import FINDINGS
from skinfindings.training.metrics import METRICS, known

COLOURS = dict(zip(FINDINGS, ("#d62728", "#8c564b", "#7f7f7f", "#bcbd22", "#1f77b4")))
DPI = 110


def caption(meta: dict, assessed: int) -> str:
    trained = "" if meta["trained"] else " - NOT TRAINED: plumbing test only"
    return (f"checkpoint {Path(meta['checkpoint']).name} ({meta['status']}{trained}); "
            f"{meta['manifest']} [{meta['split']}], {assessed} assessed photos")


def _save(fig: Figure, path: Path, footer: str) -> str:
    wrapped = "\n".join(textwrap.fill(line, 150) for line in footer.splitlines())
    fig.text(0.01, 0.0, wrapped, fontsize=7, va="top", ha="left", color="#444444")
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path.name


def _label(result: dict, finding: str, metric: str) -> str:
    summary = result["per_finding"][finding]["metrics"][metric]
    if summary["value"] is None:
        return f"{finding}: n/a ({summary['na']})"
    return f"{finding}: {summary['value']:.2f} (n+ {result['per_finding'][finding]['positives']})"


def roc_curves(path: Path, labels: np.ndarray, probabilities: np.ndarray, result: dict, footer: str) -> str:
    from sklearn.metrics import roc_curve

    fig = Figure(figsize=(6, 5.5), layout="constrained")
    ax = fig.subplots()
    for i, finding in enumerate(FINDINGS):
        y, s = known(labels[:, i], probabilities[:, i])
        if result["per_finding"][finding]["metrics"]["auroc"]["value"] is None:
            ax.plot([], [], color=COLOURS[finding], linestyle=":", label=_label(result, finding, "auroc"))
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, color=COLOURS[finding], label=_label(result, finding, "auroc"))
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=0.8)
    ax.set(xlabel="1 - specificity (false positive rate)", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01),
           title="ROC per finding (legend: AUROC, positives)")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path, footer)


def pr_curves(path: Path, labels: np.ndarray, probabilities: np.ndarray, result: dict, footer: str) -> str:
    from sklearn.metrics import precision_recall_curve

    fig = Figure(figsize=(6, 5.5), layout="constrained")
    ax = fig.subplots()
    for i, finding in enumerate(FINDINGS):
        y, s = known(labels[:, i], probabilities[:, i])
        if result["per_finding"][finding]["metrics"]["ap"]["value"] is None:
            ax.plot([], [], color=COLOURS[finding], linestyle=":", label=_label(result, finding, "ap"))
            continue
        precision, recall, _ = precision_recall_curve(y, s)
        ax.step(recall, precision, where="post", color=COLOURS[finding], label=_label(result, finding, "ap"))
        ax.axhline(y.mean(), color=COLOURS[finding], linestyle=":", linewidth=0.8)  # a constant scorer's AP
    ax.set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", xlim=(0, 1), ylim=(0, 1.01),
           title="Precision-recall per finding (legend: AP; dotted: prevalence)")
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path, footer)


def decision_curves(path: Path, result: dict, footer: str) -> str:
    """Net benefit per finding against flagging every photo and none; dotted lines: the deployed points."""
    findings = [f for f in FINDINGS if result["operating_points"][f]["net_benefit"]]
    fig = Figure(figsize=(3.4 * max(1, len(findings)), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(findings)), squeeze=False)).ravel()
    if not findings:
        axes[0].axis("off")
        axes[0].text(0, 0.5, "No finding has 5 positive and 5 negative photos: no decision curve.", fontsize=9)
    for ax, finding in zip(axes, findings):
        points = result["operating_points"][finding]
        curve = points["net_benefit"]
        ax.plot(curve["thresholds"], curve["model"], color=COLOURS[finding], label="model")
        ax.plot(curve["thresholds"], curve["all"], color="#555555", linestyle="--", linewidth=0.8, label="flag all")
        ax.plot(curve["thresholds"], curve["none"], color="#999999", linestyle=":", linewidth=0.8, label="flag none")
        for row in points["rows"]:
            if row["kind"].startswith("deployed"):
                for t in np.atleast_1d(row["threshold"]):
                    ax.axvline(float(t), color="black", linestyle=":" if "out" in row["kind"] else "-.", linewidth=0.7)
        top = max(max(curve["model"]), max(curve["all"]), 0.01)
        ax.set(title=finding, xlabel="threshold probability", xlim=(0, 1), ylim=(-0.05, top * 1.15))
        ax.legend(fontsize=6, loc="upper right")
    axes[0].set_ylabel("net benefit (vertical: deployed rule-out : / rule-in -.)")
    return _save(fig, path, footer)


def reliability_diagram(path: Path, result: dict, footer: str) -> str:
    fig = Figure(figsize=(3.2 * len(FINDINGS), 3.8), layout="constrained")
    axes = fig.subplots(1, len(FINDINGS), sharey=True)
    for ax, finding in zip(axes, FINDINGS):
        bins = [b for b in result["calibration"][finding] if b["n"]]
        ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=0.8)
        if bins:
            centres = [b["mean_probability"] for b in bins]
            ax.plot(centres, [b["observed"] for b in bins], marker="o", color=COLOURS[finding])
            for b in bins:
                ax.annotate(str(b["n"]), (b["mean_probability"], b["observed"]), fontsize=6,
                            textcoords="offset points", xytext=(2, 3))
        ece = result["per_finding"][finding]["metrics"]["ece"]
        ece_text = f"ECE {ece['value']:.3f}" if ece["value"] is not None else f"ECE n/a ({ece['na']})"
        slope = result.get("calibration_check", {}).get(finding, {}).get("slope", {}).get("value")
        ece_text += "" if slope is None else f", slope {slope:.2f}"
        warned = finding in result.get("calibration_warnings", {})
        ax.set(xlabel="mean predicted probability", xlim=(0, 1), ylim=(0, 1))
        ax.set_title(f"{finding}{' (poorly calibrated)' if warned else ''}\n{ece_text}",
                     color="#b00000" if warned else "black")
    axes[0].set_ylabel("observed frequency (numbers: photos per bin)")
    return _save(fig, path, footer)


def _group_bars(ax, table: dict, metric: str) -> None:
    groups = list(table)
    width = 0.8 / len(FINDINGS)
    x = np.arange(len(groups))
    for k, finding in enumerate(FINDINGS):
        offsets = x - 0.4 + width * (k + 0.5)
        for xi, group in zip(offsets, groups):
            summary = table[group]["per_finding"][finding]["metrics"][metric]
            if summary["value"] is None:
                ax.text(xi, 0.02, "n/a", rotation=90, fontsize=6, ha="center", va="bottom", color=COLOURS[finding])
                continue
            low, high = summary["ci"] or (summary["value"], summary["value"])
            ax.bar(xi, summary["value"], width, color=COLOURS[finding],
                   yerr=[[summary["value"] - low], [high - summary["value"]]], error_kw={"linewidth": 0.7})
    ax.set_xticks(x, [f"{g}\nn={table[g]['n']}" for g in groups], fontsize=8)
    ax.set(xlim=(-0.5, len(groups) - 0.5), ylim=(0, 1.05), ylabel=METRICS[metric].label)


def tone_bars(path: Path, tone: dict, footer: str) -> str:
    """AUROC and sensitivity per skin-tone group, per finding, with 95% intervals."""
    table = tone["groups"]
    fig = Figure(figsize=(max(7.0, 1.3 * len(table) + 3), 7), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    _group_bars(top, table, "auroc")
    _group_bars(bottom, table, "sensitivity")
    top.set_title("Per skin tone (whiskers: 95% grouped-bootstrap interval; n/a: undefined in that group)")
    handles = [Patch(color=COLOURS[f], label=f) for f in FINDINGS]
    fig.legend(handles=handles, fontsize=8, ncol=len(FINDINGS), loc="outside upper center")
    return _save(fig, path, footer)


def cooccurrence_matrix(path: Path, result: dict, footer: str) -> str:
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    axes = fig.subplots(1, 2)
    panels = (("labels (ground truth, all photos)", result["labels"]["cooccurrence"]),
              ("model decisions at threshold (assessed photos)", result["labels"]["predicted_cooccurrence"]))
    for ax, (title, matrix) in zip(axes, panels):
        matrix = np.asarray(matrix)
        ax.imshow(matrix, cmap="Blues")
        for (r, c), count in np.ndenumerate(matrix):
            ax.text(c, r, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > matrix.max() / 2 else "black")
        ax.set_xticks(range(len(FINDINGS)), FINDINGS, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(FINDINGS)), FINDINGS, fontsize=8)
        ax.set_title(f"Co-occurrence: {title}\n(diagonal: photos with the finding)", fontsize=9)
    return _save(fig, path, footer)


def coverage_plot(path: Path, abstention: dict, footer: str) -> str:
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    curve = abstention["coverage_curve"]
    coverage = [p["coverage"] for p in curve]
    for key, style in (("accuracy", "-"), ("sensitivity", "--")):
        values = [math.nan if p[key] is None else p[key] for p in curve]
        ax.plot(coverage, values, linestyle=style, marker=".", label=f"{key} (answer only the most confident)")
    gate = abstention["gate"]
    if gate["accuracy"] is not None:
        ax.plot([gate["coverage"]], [gate["accuracy"]], marker="*", markersize=12, linestyle="none",
                color="black", label=f"the quality gate: {abstention['assessed']}/{abstention['photos']} assessed")
    ax.set(xlabel="coverage (share of photos answered)", ylabel="label-wise accuracy / pooled sensitivity",
           xlim=(0, 1.02), ylim=(0, 1.02), title="Coverage vs accuracy")
    ax.legend(fontsize=7, loc="lower left")
    return _save(fig, path, footer)


def contact_sheet(path: Path, tiles: Sequence[tuple[np.ndarray, str]], footer: str,
                  attributions: Sequence[str] = ()) -> str:
    """Photos as the model saw them (metadata-free pixels), captioned with their wrong decisions."""
    columns = 4
    rows = max(1, math.ceil(len(tiles) / columns))
    fig = Figure(figsize=(2.6 * columns, 2.9 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    if not tiles:
        axes[0].text(0, 0.5, "No wrong decision on an assessed photo.", fontsize=10)
    for ax, (pixels, text) in zip(axes, tiles):
        ax.imshow(pixels)
        ax.set_title(text, fontsize=7)
    fig.suptitle("Most confident errors: missed findings first, then false alarms", fontsize=10)
    credits = "".join(f"\nImages: {a}" for a in attributions)
    return _save(fig, path, footer + credits)


def standard_plots(out: Path, result: dict, labels: np.ndarray, probabilities: np.ndarray, footer: str) -> dict:
    """Every plot but the contact sheet; labels/probabilities are the assessed photos'."""
    written = {
        "roc": roc_curves(out / "roc.png", labels, probabilities, result, footer),
        "pr": pr_curves(out / "pr.png", labels, probabilities, result, footer),
        "reliability": reliability_diagram(out / "reliability.png", result, footer),
        "cooccurrence": cooccurrence_matrix(out / "cooccurrence.png", result, footer),
        "coverage": coverage_plot(out / "coverage.png", result["abstention"], footer),
    }
    if "operating_points" in result:
        written["decision_curve"] = decision_curves(out / "decision-curve.png", result, footer)
    if "tone" in result["subgroups"]:
        written["tone"] = tone_bars(out / "tone.png", result["subgroups"]["tone"], footer)
    return written

