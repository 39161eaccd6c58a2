"""skinfindings evaluate --manifest M [--checkpoint C] [--split test] --out DIR

Runs the checkpoint through the Predictor (the app's own inference path) on every photo
of a manifest and writes ``metrics.json``, ``report.md`` and the plots into DIR.

Two layers:

* ``evaluate_predictions(labels, probabilities, thresholds, groups, subgroups, abstentions)``
  is pure: arrays in, a metrics dict out. Tests call it with made-up predictors.
* ``evaluate_manifest(checkpoint, manifest, split, out)`` reads photos, runs the Predictor and
  the baselines, and writes the files.

Rules (docs/evaluation.md explains each):
* Unknown labels (empty in the manifest) are left out per finding.
* A metric that needs a class the photos lack is "n/a (no positives)", never 0 or 1.
* Confidence intervals: grouped bootstrap over the manifest's ``group`` column.
* Headline metrics use assessed photos only; abstentions are also scored as missed findings
  and as referrals ("escalate"), reported side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from skinfindings.data.manifest import FITZPATRICK_TYPES, Record, read_manifest
from skinfindings.findings import FINDINGS
from skinfindings.training.bootstrap import group_ids, resample_weights, summarise
from skinfindings.training.metrics import (
    METRICS,
    THRESHOLD_METRICS,
    cooccurrence,
    finding_metrics,
    label_cardinality,
    reliability_bins,
    unit_weights,
    why_undefined,
)

UNKNOWN = "unknown"
# Chardon et al. 1991 ITA skin-tone categories, lightest first (lower bound in degrees).
ITA_BINS = ((55.0, "ITA very light"), (41.0, "ITA light"), (28.0, "ITA intermediate"), (10.0, "ITA tan"),
            (-30.0, "ITA brown"), (-math.inf, "ITA dark"))
GROUP_ORDER = (*(f"type {t}" for t in FITZPATRICK_TYPES), *(name for _, name in ITA_BINS),
               "low", "middle", "high", "good", "fair", "poor", "no", "yes")
COVERAGE_POINTS = 20


@dataclass(frozen=True)
class EvalConfig:
    resamples: int = 1000  # bootstrap resamples for the 95% intervals
    seed: int = 0
    bins: int = 10  # equal-width bins for ECE and the reliability diagram
    folds: int = 5  # grouped k-fold for the baseline when the manifest has no train split
    batch_size: int = 16
    device: str = "cpu"  # where the Predictor runs the model ("cuda" on a GPU machine)
    by: tuple[str, ...] = ()  # more manifest columns to break results down by (e.g. pen_marks)
    baseline_train_max: int = 4000  # photos of the train split the baseline reads at most
    contact_sheet: int = 16  # most confident errors shown; 0 = no contact sheet
    plots: bool = True
    progress: bool = False


# --------------------------------------------------------------------------- pure core


def _nanmean_rows(stack: np.ndarray) -> np.ndarray:
    """Column means over the defined (non-NaN) rows; NaN where a column has none."""
    defined = ~np.isnan(stack)
    total = np.where(defined, stack, 0.0).sum(axis=0)
    count = defined.sum(axis=0)
    return np.divide(total, count, out=np.full(total.shape, math.nan), where=count > 0)


def score_findings(
    labels: np.ndarray,
    probabilities: np.ndarray,
    thresholds: Sequence[float],
    weights: np.ndarray,
    bins: int = 10,
    metrics: Sequence[str] = tuple(METRICS),
) -> dict:
    """Per-finding metrics with grouped-bootstrap intervals, and their macro averages.

    ``weights`` (resamples, n) come from ``resample_weights``; the point estimate is computed
    alongside as an extra row of ones.
    """
    with_point = np.vstack([unit_weights(len(labels)), weights])
    per_finding, values = {}, {}
    for i, finding in enumerate(FINDINGS):
        y, scores, threshold = labels[:, i], probabilities[:, i], float(thresholds[i])
        # These products are small; BLAS threads only contend with each other (3x slower on 2 busy cores).
        with threadpool_limits(limits=1, user_api="blas"):
            values[finding] = finding_metrics(y, scores, threshold, with_point, bins)
        known_y = y[~np.isnan(y)]
        per_finding[finding] = {
            "n": int(known_y.size),
            "positives": int(known_y.sum()),
            "negatives": int(known_y.size - known_y.sum()),
            "metrics": {m: summarise(values[finding][m][0], values[finding][m][1:],
                                     why_undefined(m, y, scores, threshold)) for m in metrics},
        }
    macro = {}
    for m in metrics:
        defined = [f for f in FINDINGS if per_finding[f]["metrics"][m]["value"] is not None]
        if not defined:
            macro[m] = {**summarise(math.nan, np.array([]), "no finding has a value"), "findings": []}
            continue
        stack = np.stack([values[f][m] for f in defined])
        macro[m] = {**summarise(float(stack[:, 0].mean()), _nanmean_rows(stack[:, 1:])), "findings": defined}
    return {"per_finding": per_finding, "macro": macro}


def _group_sort_key(name: str) -> tuple:
    rank = GROUP_ORDER.index(name) if name in GROUP_ORDER else len(GROUP_ORDER)
    return (name == UNKNOWN, rank, name)


def _extremes(table: dict, finding: str, metric: str) -> dict:
    """Worst and best group for one metric, and the gap between them (groups with a value only)."""
    def value(group):
        block = table[group]["macro"] if finding == "macro" else table[group]["per_finding"][finding]["metrics"]
        return block[metric]["value"]

    defined = {g: value(g) for g in table if value(g) is not None}
    if not defined:
        return {"worst_group": None, "worst": None, "best_group": None, "best": None, "gap": None, "groups": 0}
    sign = 1 if METRICS[metric].higher_is_better else -1
    worst = min(defined, key=lambda g: sign * defined[g])
    best = max(defined, key=lambda g: sign * defined[g])
    gap = round(abs(defined[best] - defined[worst]), 4) if len(defined) > 1 else None
    return {"worst_group": worst, "worst": defined[worst], "best_group": best, "best": defined[best],
            "gap": gap, "groups": len(defined)}


def subgroup_results(
    labels: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float], weights: np.ndarray,
    values: Sequence[str], bins: int = 10,
) -> dict:
    """Every metric per group of one column (every group present, 'unknown' included), with n."""
    values = np.asarray([v or UNKNOWN for v in values], dtype=object)
    table = {}
    for group in sorted(set(values), key=_group_sort_key):
        inside = values == group
        scored = score_findings(labels[inside], probabilities[inside], thresholds, weights[:, inside], bins)
        table[group] = {"n": int(inside.sum()), **scored}
    extremes = {f: {m: _extremes(table, f, m) for m in METRICS} for f in (*FINDINGS, "macro")}
    return {"groups": table, "extremes": extremes}


def coverage_curve(labels: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float],
                   points: int = COVERAGE_POINTS) -> list[dict]:
    """Accuracy if only the most confident photos were answered.

    A photo's confidence is its least certain decision: the smallest distance of any
    finding's probability from that finding's threshold. Accuracy is over known labels;
    sensitivity pools the positives of all findings.
    """
    usable = ~np.isnan(probabilities).any(axis=1)
    labels, probabilities = labels[usable], probabilities[usable]
    if not len(labels):
        return []
    flagged = probabilities >= np.asarray(thresholds)
    confidence = np.abs(probabilities - np.asarray(thresholds)).min(axis=1)
    order = np.argsort(-confidence, kind="stable")
    curve = []
    for coverage in np.linspace(1 / points, 1, points):
        kept = order[: max(1, math.ceil(coverage * len(order)))]
        curve.append({"coverage": round(float(coverage), 4), "photos": int(kept.size),
                      **_decision_accuracy(labels[kept], flagged[kept])})
    return curve


def _decision_accuracy(labels: np.ndarray, flagged: np.ndarray) -> dict:
    known = ~np.isnan(labels)
    correct = (flagged == (labels > 0.5)) & known
    positives = (labels > 0.5) & known
    return {"accuracy": float(correct.sum() / known.sum()) if known.any() else None,
            "sensitivity": float((positives & flagged).sum() / positives.sum()) if positives.any() else None}


def abstention_results(
    labels: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float], abstentions: Sequence[str | None],
    weights: np.ndarray, bins: int = 10,
) -> dict:
    """Abstentions counted, and the threshold metrics with abstained photos put back in two ways.

    included_as_missed: an abstained photo counts as "no finding" (every positive in it is missed).
    included_as_escalate: it counts as flagged for every finding (the app sends it to a person).
    """
    assessed = np.array([a is None for a in abstentions])
    rules = {}
    for rule, fill in (("included_as_missed", 0.0), ("included_as_escalate", 1.0)):
        scores = np.where(assessed[:, None], probabilities, fill)
        rules[rule] = score_findings(labels, scores, thresholds, weights, bins, THRESHOLD_METRICS)
    flagged = np.nan_to_num(probabilities) >= np.asarray(thresholds)
    return {
        "photos": int(len(assessed)),
        "assessed": int(assessed.sum()),
        "coverage": round(float(assessed.mean()), 4) if len(assessed) else None,
        "reasons": dict(Counter(a for a in abstentions if a is not None)),
        "positives_in_abstained": {f: int(np.nansum(labels[~assessed, i])) for i, f in enumerate(FINDINGS)},
        "rules": rules,
        "coverage_curve": coverage_curve(labels, probabilities, thresholds),
        "gate": {"coverage": round(float(assessed.mean()), 4) if len(assessed) else None,
                 **_decision_accuracy(labels[assessed], flagged[assessed])},
    }


def evaluate_predictions(
    labels: np.ndarray,
    probabilities: np.ndarray,
    thresholds: Sequence[float],
    groups: Sequence[str],
    subgroups: dict[str, Sequence[str]] | None = None,
    abstentions: Sequence[str | None] | None = None,
    *,
    resamples: int = 1000,
    seed: int = 0,
    bins: int = 10,
) -> dict:
    """The whole evaluation of one set of predictions, as a JSON-ready dict. No model, no files.

    labels: (n, findings) 1/0/NaN; probabilities: (n, findings), NaN rows for unreadable photos;
    groups: patient per photo (bootstrap unit); subgroups: column name -> group name per photo;
    abstentions: None for an assessed photo, else the reason code.
    """
    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    abstentions = list(abstentions) if abstentions is not None else [None] * len(labels)
    assessed = np.array([a is None for a in abstentions], dtype=bool)
    if np.isnan(probabilities[assessed]).any():
        raise ValueError("an assessed photo has no probabilities; mark unreadable photos as abstentions")
    weights = resample_weights(list(groups), resamples, seed)
    y, p, w = labels[assessed], probabilities[assessed], weights[:, assessed]
    return {
        "photos": int(len(labels)),
        "assessed": int(assessed.sum()),
        "thresholds": dict(zip(FINDINGS, map(float, thresholds))),
        "bootstrap": {"resamples": resamples, "seed": seed, "unit": "group",
                      "groups": len(set(group_ids(list(groups)).tolist())),
                      "level": 0.95},
        **score_findings(y, p, thresholds, w, bins),
        "calibration": {f: reliability_bins(y[:, i], p[:, i], bins) for i, f in enumerate(FINDINGS)},
        "labels": {
            "cardinality": label_cardinality(labels),
            "cooccurrence": cooccurrence(labels),
            "predicted_cooccurrence": cooccurrence(p >= np.asarray(thresholds)),
        },
        "abstention": abstention_results(labels, probabilities, thresholds, abstentions, weights, bins),
        "subgroups": {name: subgroup_results(y, p, thresholds, w, np.asarray(values, dtype=object)[assessed], bins)
                      for name, values in (subgroups or {}).items()},
    }


def confident_errors(labels: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float],
                     assessed: np.ndarray) -> list[dict]:
    """The most confident wrong decisions on assessed photos: missed findings first, then false alarms."""
    thresholds = np.asarray(thresholds)
    errors = []
    for row, col in zip(*np.nonzero(assessed[:, None] & ~np.isnan(labels))):
        p, t, present = probabilities[row, col], thresholds[col], labels[row, col] == 1
        if (p >= t) == present:
            continue
        errors.append({"row": int(row), "finding": FINDINGS[col], "kind": "missed" if present else "false alarm",
                       "probability": float(p), "threshold": float(t), "margin": float(abs(p - t))})
    errors.sort(key=lambda e: (e["kind"] != "missed", -e["margin"]))
    return errors


# --------------------------------------------------------------------------- subgroup columns


def tone_group(fitzpatrick: str, ita: float | None) -> str:
    """Fitzpatrick type when given, else the ITA category, else 'unknown'."""
    if fitzpatrick in FITZPATRICK_TYPES:
        return f"type {fitzpatrick}"
    if ita is not None and not math.isnan(ita):
        return next(name for low, name in ITA_BINS if ita > low)
    return UNKNOWN


def tertile_groups(values: np.ndarray) -> tuple[list[str], list[float]]:
    """'low' / 'middle' / 'high' by the tertiles of the known values; NaN is 'unknown'."""
    known = values[~np.isnan(values)]
    if not known.size:
        return [UNKNOWN] * len(values), []
    cuts = [float(c) for c in np.quantile(known, [1 / 3, 2 / 3])]
    names = []
    for v in values:
        names.append(UNKNOWN if math.isnan(v) else "low" if v < cuts[0] else "middle" if v < cuts[1] else "high")
    return names, cuts


def column_values(records: Sequence[Record], column: str) -> list[str]:
    """A manifest column per record (a Record field or an extra column)."""
    fields = set(Record.__dataclass_fields__) - {"labels", "extra", "ita"}
    if column in fields:
        return [str(getattr(r, column) or "") for r in records]
    if not any(column in r.extra for r in records):
        raise ValueError(f"the manifest has no column {column!r}")
    return [(r.extra.get(column) or "").strip() for r in records]


def subgroup_columns(records: Sequence[Record], brightness: np.ndarray, by: Sequence[str] = ()) -> tuple[dict, dict]:
    """Subgroup values per photo and a note per column saying how the groups were formed."""
    bright, cuts = tertile_groups(brightness)
    columns = {
        "tone": [tone_group(r.fitzpatrick, r.ita) for r in records],
        "source": column_values(records, "source"),
        "brightness": bright,
    }
    notes = {
        "tone": "Fitzpatrick type from the manifest; the ITA category (Chardon 1991) where only ITA is given",
        "source": "the manifest's source column",
        "brightness": ("tertiles of the mean luma (0-255) of the photo as the model sees it: "
                       + (f"low < {cuts[0]:.1f} <= middle < {cuts[1]:.1f} <= high" if cuts else "no readable photo")),
    }
    extra = [c for c in ("quality_a",) if any(r.extra.get(c) for r in records)] + [c for c in by if c not in columns]
    for column in extra:
        columns[column] = column_values(records, column)
        notes[column] = f"the manifest's {column} column"
    return columns, notes


# --------------------------------------------------------------------------- with the model


@dataclass
class PredictorRun:
    names: list[str]
    probabilities: np.ndarray  # (n, findings), NaN rows for unreadable photos
    abstentions: list[str | None]  # None = assessed; "unreadable" = the file could not be read
    brightness: np.ndarray  # Predictor quality stat, NaN when unreadable
    features: np.ndarray  # baseline features of the Predictor-prepared pixels, NaN when unreadable
    paths: list[Path] = field(default_factory=list)


def run_predictor(predictor, paths: Sequence[Path], names: Sequence[str], chunk: int = 256,
                  progress: bool = False) -> PredictorRun:
    """Predictor.predict_many in chunks, keeping numbers and baseline features but not the pixels."""
    from skinfindings.training.baselines import FEATURE_NAMES, colour_texture_features

    n = len(paths)
    run = PredictorRun(list(names), np.full((n, len(FINDINGS)), math.nan), [], np.full(n, math.nan),
                       np.full((n, len(FEATURE_NAMES)), math.nan), list(paths))
    bar = _bar(n, progress)
    for start in range(0, n, chunk):
        results = predictor.predict_many(list(paths[start:start + chunk]), list(names[start:start + chunk]))
        for offset, result in enumerate(results):
            i = start + offset
            if result.error is not None:
                run.abstentions.append("unreadable")
                continue
            run.abstentions.append(result.abstention.code if result.abstention else None)
            run.probabilities[i] = [result.probabilities[f] for f in FINDINGS]
            run.brightness[i] = result.quality.get("brightness", math.nan)
            run.features[i] = colour_texture_features(result.pixels)
        if bar is not None:
            bar.update(len(results))
    if bar is not None:
        bar.close()
    return run


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="photo")


def _command(checkpoint, manifest, split, out, config: EvalConfig) -> str:
    parts = ["skinfindings", "evaluate", "--checkpoint", str(checkpoint), "--manifest", str(manifest)]
    parts += ["--split", split] if split else []
    parts += ["--out", str(out)] if out else []
    defaults = EvalConfig()
    for name in ("resamples", "seed", "bins", "folds", "device"):
        if getattr(config, name) != getattr(defaults, name):
            parts += [f"--{name}", str(getattr(config, name))]
    for column in config.by:
        parts += ["--by", column]
    return shlex.join(parts)


def _data_sources(records: Sequence[Record]) -> list[dict]:
    counts = Counter((r.source or UNKNOWN, r.license or UNKNOWN, r.attribution) for r in records)
    return [{"source": s, "license": l, "attribution": a, "photos": n} for (s, l, a), n in sorted(counts.items())]


def evaluate_manifest(
    checkpoint: str | Path,
    manifest: str | Path,
    split: str | None = None,
    out: str | Path | None = None,
    config: EvalConfig = EvalConfig(),
) -> dict:
    """Evaluate a checkpoint on a manifest (all rows, or one split); write the outputs when ``out`` is given."""
    from skinfindings.model.predictor import Predictor
    from skinfindings.training import baselines

    full = read_manifest(manifest)
    evaluated = full.subset(split)
    if not evaluated.records:
        raise ValueError(f"no photos in split {split!r} of {manifest}")
    records = evaluated.records
    predictor = Predictor(checkpoint, batch_size=config.batch_size, device=config.device)
    thresholds = list(predictor.meta.thresholds)
    run = run_predictor(predictor, [full.resolve(r) for r in records], [r.path for r in records],
                        progress=config.progress)
    labels = evaluated.label_matrix()
    groups = [r.group for r in records]
    columns, notes = subgroup_columns(records, run.brightness, config.by)
    result = evaluate_predictions(labels, run.probabilities, thresholds, groups, columns, run.abstentions,
                                  resamples=config.resamples, seed=config.seed, bins=config.bins)
    for name, note in notes.items():
        result["subgroups"][name]["note"] = note

    train = [r for r in full.records if r.split == "train"] if split not in (None, "train") else []
    fitted = baselines.run_baselines(predictor, full, train, run.features, labels, groups, config)
    assessed = np.array([a is None for a in run.abstentions])
    weights = resample_weights(groups, config.resamples, config.seed)[:, assessed]
    result["baselines"] = {
        name: {"description": b.description, "notes": b.notes,
               **score_findings(labels[assessed], b.probabilities[assessed], [b.threshold] * len(FINDINGS),
                                weights, config.bins)}
        for name, b in fitted.items()
    }
    meta = predictor.meta
    result["meta"] = {
        "command": _command(checkpoint, manifest, split, out, config),
        "checkpoint": str(checkpoint), "arch": meta.arch, "input_size": meta.input_size,
        "trained": bool(meta.trained), "status": meta.status, "threshold_rule": meta.threshold_rule,
        "weights_sha256": meta.weights_sha256,
        "manifest": str(manifest), "split": split or "all rows",
        "data": _data_sources(records), "config": asdict(config),
    }
    if out is not None:
        write_outputs(Path(out), result, labels, run, thresholds, predictor, config)
    return result


def write_outputs(out: Path, result: dict, labels: np.ndarray, run: PredictorRun, thresholds: Sequence[float],
                  predictor, config: EvalConfig) -> None:
    """metrics.json, the plots and report.md into ``out``."""
    from skinfindings.training import plots
    from skinfindings.training.report import render_report

    out.mkdir(parents=True, exist_ok=True)
    result["plots"] = {}
    if config.plots:
        assessed = np.array([a is None for a in run.abstentions])
        caption = plots.caption(result["meta"], result["assessed"])
        result["plots"] = plots.standard_plots(out, result, labels[assessed], run.probabilities[assessed], caption)
        if config.contact_sheet:
            errors = confident_errors(labels, run.probabilities, thresholds, assessed)
            result["plots"]["errors"] = _contact_sheet(out, errors, run, predictor, result, caption,
                                                       config.contact_sheet)
    (out / "metrics.json").write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
    (out / "report.md").write_text(render_report(result))


def _contact_sheet(out: Path, errors: list[dict], run: PredictorRun, predictor, result: dict, caption: str,
                   limit: int) -> str:
    """One tile per photo, in the order of its most confident error, listing up to three of its errors.

    The Predictor runs again on the few photos shown, so no pixels were kept for the whole set.
    """
    from skinfindings.training import plots

    by_photo: dict[int, list[dict]] = {}
    for error in errors:
        by_photo.setdefault(error["row"], []).append(error)
    rows = list(by_photo)[:limit]
    shown = predictor.predict_many([run.paths[r] for r in rows], [run.names[r] for r in rows]) if rows else []
    tiles = []
    for prediction, row in zip(shown, rows):
        lines = [f"{e['kind']}: {e['finding']} p={e['probability']:.2f} (t={e['threshold']:.2f})"
                 for e in by_photo[row][:3]]
        tiles.append((prediction.pixels, "\n".join([Path(run.names[row]).name[:32], *lines])))
    attributions = sorted({d["attribution"] for d in result["meta"]["data"] if d["attribution"]})
    return plots.contact_sheet(out / "errors.png", tiles, caption, attributions)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def main(argv: list[str] | None = None) -> int:
    from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT

    parser = argparse.ArgumentParser(prog="skinfindings evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="manifest CSV of the photos to evaluate")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint .json (default: shipped)")
    parser.add_argument("--split", default=None, help="evaluate one split (default: every row)")
    parser.add_argument("--out", required=True, help="folder for metrics.json, report.md and the plots")
    parser.add_argument("--resamples", type=int, default=EvalConfig.resamples, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=EvalConfig.seed)
    parser.add_argument("--bins", type=int, default=EvalConfig.bins, help="calibration bins")
    parser.add_argument("--folds", type=int, default=EvalConfig.folds,
                        help="grouped folds for the baseline when there is no train split")
    parser.add_argument("--by", action="append", default=[], metavar="COLUMN",
                        help="also break results down by this manifest column (repeatable), e.g. pen_marks")
    parser.add_argument("--batch-size", type=int, default=EvalConfig.batch_size)
    parser.add_argument("--device", default=EvalConfig.device, help="cpu (default) or cuda")
    parser.add_argument("--no-contact-sheet", action="store_true", help="skip the contact sheet of errors")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--record", metavar="NAME",
                        help="also write a summary into the checkpoint's metadata (metrics['evaluation: NAME']), "
                             "so the app's About tab shows it")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])

    config = EvalConfig(resamples=args.resamples, seed=args.seed, bins=args.bins, folds=args.folds,
                        batch_size=args.batch_size, device=args.device, by=tuple(args.by),
                        contact_sheet=0 if args.no_contact_sheet else EvalConfig.contact_sheet,
                        progress=not args.quiet)
    try:
        result = evaluate_manifest(args.checkpoint, args.manifest, args.split, args.out, config)
    except ValueError as exc:  # ManifestError and CheckpointError are ValueErrors
        parser.exit(2, f"skinfindings evaluate: {exc}\n")
    macro = result["macro"]["auroc"]
    print(f"{result['assessed']}/{result['photos']} photos assessed; macro AUROC "
          f"{macro['value'] if macro['value'] is not None else 'n/a'} -> {Path(args.out) / 'report.md'}")
    if not result["meta"]["trained"]:
        print("warning: this checkpoint is not trained; the numbers test the plumbing only")
    if args.record:
        command = "skinfindings evaluate " + " ".join(argv if argv is not None else sys.argv[1:])
        record_in_checkpoint(args.checkpoint, args.record, result, command)
    return 0


def _value(summary: dict):
    return round(summary["value"], 4) if summary["value"] is not None else f"n/a ({summary['na']})"


def record_in_checkpoint(checkpoint: str | Path, name: str, result: dict, command: str) -> None:
    """Store an evaluation's headline numbers in the checkpoint's JSON (the weights are untouched)."""
    from skinfindings.model.checkpoint import read_meta

    meta = read_meta(checkpoint)
    macro = result["macro"]["auroc"]
    meta.metrics[f"evaluation: {name}"] = {
        "command": command,
        "photos": result["photos"],
        "assessed": result["assessed"],
        "macro_auroc": _value(macro),
        "macro_auroc_95ci": macro["ci"],
        "auroc": {f: _value(result["per_finding"][f]["metrics"]["auroc"]) for f in result["per_finding"]},
    }
    json_path = Path(checkpoint).with_suffix(".json")
    json_path.write_text(meta.to_json() + "\n")
