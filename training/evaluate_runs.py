"""Evaluation runs: a checkpoint on a manifest, or a predictions file on a manifest, into DIR.

* ``evaluate_manifest(checkpoint, manifest, split, out, config)`` runs the Predictor (the app's own
  inference path) on every photo and also writes ``DIR/predictions.csv`` (kind "checkpoint"), so
  any two runs can be compared photo by photo (``compare --paired``).
* ``evaluate_predictions_file(predictions, manifest, split, out, config)`` reports a predictions
  file (e.g. cross-validation's out-of-fold predictions, each with its fold's thresholds) exactly
  like a checkpoint's, marked with the file's kind, and copies it to ``DIR/predictions.csv``. It needs no checkpoint; it reads the photos
  itself for the baseline, the brightness groups and the contact sheet, or skips them with a note.

Both share ``report_predictions``: the pure core (``scoring.evaluate_predictions``), subgroups,
baselines and the files.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from skinfindings.data.manifest import Manifest, Record, check_files, read_manifest
from skinfindings.data.photo import PhotoError
from skinfindings.findings import FINDINGS
from skinfindings.training.bootstrap import group_ids, resample_weights
from skinfindings.training.decisions import DEFAULT_SCENARIOS, decision_table
from skinfindings.training.judged import JudgeInputs, add_judgement
from skinfindings.training.predictions import (
    Predictions,
    aligned,
    aligned_levels,
    read_predictions,
    record_digests,
    write_predictions,
)
from skinfindings.training.scoring import confident_errors, evaluate_predictions, score_findings
from skinfindings.training.subgroups import UNKNOWN, subgroup_columns


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
    pixels: bool = True  # predictions input: read the photos (baseline, brightness, contact sheet)
    input_size: int = 128  # predictions input: side the photos are read at when the file does not say
    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS  # treatment:day for the decision-level results; the first leads
    probe: str | None = None  # a linear probe's predictions file, compared paired in the summary


@dataclass
class PredictorRun:
    names: list[str]
    probabilities: np.ndarray  # (n, findings), NaN rows for unreadable photos
    abstentions: list[str | None]  # None = assessed; "unreadable" = the file could not be read
    brightness: np.ndarray  # Predictor quality stat, NaN when unreadable
    features: np.ndarray  # baseline features of the Predictor-prepared pixels, NaN when unreadable
    paths: list[Path] = field(default_factory=list)
    thresholds: np.ndarray | None = None  # (n, findings) when they differ per photo
    levels: list[dict[str, str]] = field(default_factory=list)  # per photo; empty when not assessed
    rule_in: np.ndarray | None = None  # (findings,) or (n, findings): the rule-in points
    decisions: dict = field(default_factory=dict)  # scenario -> per-photo decisions (decisions.PhotoDecision)


@dataclass(frozen=True)
class PhotoReader:
    """The Predictor's photo preparation without a model (same loader, same resize)."""

    input_size: int
    decode_workers: int = 2

    def prepare(self, path) -> tuple[np.ndarray, tuple[int, int]]:
        from skinfindings.model.transforms import prepare_photo

        return prepare_photo(path, self.input_size)


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
            run.levels.append(dict(result.levels))
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


def read_pixels_stats(reader: PhotoReader, paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(brightness, baseline features) per photo as the Predictor would prepare it; NaN when unreadable."""
    from skinfindings.model.quality import measure
    from skinfindings.training.baselines import FEATURE_NAMES, colour_texture_features

    def one(path):
        try:
            pixels, size = reader.prepare(path)
        except PhotoError:
            return math.nan, np.full(len(FEATURE_NAMES), math.nan)
        return measure(pixels, size).brightness, colour_texture_features(pixels)

    with ThreadPoolExecutor(max_workers=reader.decode_workers) as pool:
        stats = list(pool.map(one, paths))
    return (np.array([s[0] for s in stats], dtype=float),
            np.stack([s[1] for s in stats]) if stats else np.zeros((0, len(FEATURE_NAMES))))


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="photo")


def _data_sources(records: Sequence[Record]) -> list[dict]:
    counts = Counter((r.source or UNKNOWN, r.license or UNKNOWN, r.attribution) for r in records)
    return [{"source": s, "license": l, "attribution": a, "photos": n} for (s, l, a), n in sorted(counts.items())]


@dataclass
class Evaluated:
    """The photos a run scores: the whole manifest, the evaluated rows, their labels, and warnings."""

    full: Manifest
    records: list[Record]
    labels: np.ndarray
    warnings: list[str]
    digests: list[str]  # sha256 per evaluated record (the manifest's, or the file's own)


def _evaluated(manifest: str | Path, split: str | None) -> Evaluated:
    full = read_manifest(manifest)
    check_files(full)  # a broken manifest (missing, outside, duplicate or changed files) is refused, never scored
    records = full.subset(split).records
    if not records:
        raise ValueError(f"no photos in split {split!r} of {manifest}")
    notes = []
    train_rows = sum(r.split == "train" for r in records)
    if split is None and train_rows:
        notes.append(f"{train_rows} of the {len(records)} evaluated photos are in the manifest's train split "
                     "(no --split was given): a model trained on them is scored on its own training photos")
    for note in notes:
        warnings.warn(note, stacklevel=3)
    return Evaluated(full, records, Manifest(full.root, records).label_matrix(), notes, record_digests(full, records))


def report_predictions(evaluated: Evaluated, run: PredictorRun, thresholds, split: str | None,
                       config: EvalConfig, source) -> dict:
    """Metrics, subgroups and baselines for one run's predictions on ``records`` (no files written).

    ``source`` prepares photos (the Predictor, or a PhotoReader), for the baseline's training photos;
    None when no pixels are available, and then the baselines are skipped with a note.
    """
    records, labels = evaluated.records, evaluated.labels
    groups = [r.group for r in records]
    columns, notes = subgroup_columns(records, run.brightness, config.by)
    result = evaluate_predictions(labels, run.probabilities, thresholds, groups, columns, run.abstentions,
                                  resamples=config.resamples, seed=config.seed, bins=config.bins)
    for name, note in notes.items():
        result["subgroups"][name]["note"] = note
    result["warnings"] = list(evaluated.warnings)
    result["baselines"], result["baselines_note"] = {}, None
    fitted = {}
    if source is None or not np.isfinite(run.features).all(axis=1).any():
        result["baselines_note"] = ("baselines skipped: no photo's pixels could be read "
                                    "(the colour/texture baseline needs them)")
    else:
        fitted = _baselines(result, evaluated, run, split, config, source)
    inputs = JudgeInputs(records, labels, run.probabilities, thresholds if run.thresholds is None else run.thresholds,
                         run.rule_in if run.rule_in is not None else thresholds, run.levels, run.abstentions,
                         evaluated.digests)
    baseline = fitted["colour_texture"].probabilities if "colour_texture" in fitted else None
    run.decisions = add_judgement(result, inputs, config, baseline)
    return result


def _baselines(result: dict, evaluated: Evaluated, run: PredictorRun, split: str | None, config: EvalConfig,
               source) -> dict:
    """The baselines fitted and scored into ``result["baselines"]``; returns them (their probabilities)."""
    from skinfindings.training import baselines

    full, labels = evaluated.full, evaluated.labels
    groups = [r.group for r in evaluated.records]
    train = [r for r in full.records if r.split == "train"] if split not in (None, "train") else []
    fitted = baselines.run_baselines(source, full, train, run.features, labels, groups, config)
    assessed = np.array([a is None for a in run.abstentions])
    ids = group_ids(groups)[assessed]
    weights = resample_weights(groups, config.resamples, config.seed)[:, assessed]
    result["baselines"] = {
        name: {"description": b.description, "notes": b.notes,
               **score_findings(labels[assessed], b.probabilities[assessed], [b.threshold] * len(FINDINGS),
                                weights, ids, config.bins, unmeasured=b.unmeasured)}
        for name, b in fitted.items()
    }
    return fitted


def _meta(model: dict, manifest, split: str | None, evaluated: Evaluated, config: EvalConfig, command: str) -> dict:
    """result["meta"]: what was scored (``model``: checkpoint, arch, thresholds rule, ...) on which photos."""
    return {"command": command, **model, "manifest": str(manifest), "split": split or "all rows",
            "data": _data_sources(evaluated.records), "config": asdict(config)}


def evaluate_manifest(checkpoint: str | Path, manifest: str | Path, split: str | None = None,
                      out: str | Path | None = None, config: EvalConfig = EvalConfig(), command: str = "") -> dict:
    """Evaluate a checkpoint on a manifest (all rows, or one split); write the outputs when ``out`` is given."""
    from skinfindings.model.predictor import Predictor

    evaluated = _evaluated(manifest, split)
    full, records = evaluated.full, evaluated.records
    predictor = Predictor(checkpoint, batch_size=config.batch_size, device=config.device)
    thresholds = list(predictor.meta.thresholds)
    run = run_predictor(predictor, [full.resolve(r) for r in records], [r.path for r in records],
                        progress=config.progress)
    run.rule_in = np.asarray(predictor.meta.rule_in_thresholds, dtype=float)
    result = report_predictions(evaluated, run, thresholds, split, config, predictor)
    result["kind"] = "checkpoint"
    _check_overlap(result, evaluated, predictor.meta, checkpoint)
    meta = predictor.meta
    model = {"checkpoint": str(checkpoint), "predictions": "predictions.csv" if out else None,
             "arch": meta.arch, "input_size": meta.input_size, "trained": bool(meta.trained), "status": meta.status,
             "threshold_rule": meta.threshold_rule, "weights_sha256": meta.weights_sha256}
    result["meta"] = _meta(model, manifest, split, evaluated, config,
                           command or f"evaluate_manifest({str(checkpoint)!r}, {str(manifest)!r}, split={split!r})")
    if out is not None:
        out = Path(out)
        write_predictions(out / "predictions.csv", checkpoint_predictions(full, records, run, thresholds, result))
        write_outputs(out, result, evaluated.labels, run, predictor, config)
    return result


def checkpoint_predictions(full: Manifest, records: list[Record], run: PredictorRun, thresholds,
                           result: dict) -> Predictions:
    """A checkpoint run as a predictions file; no probability where a photo was not assessed."""
    assessed = np.array([a is None for a in run.abstentions])
    about = {k: result["meta"][k] for k in ("command", "checkpoint", "arch", "input_size", "trained", "status",
                                           "threshold_rule", "weights_sha256", "manifest", "split")}
    return Predictions(
        sha256=record_digests(full, records), paths=[r.path for r in records],
        probabilities=np.where(assessed[:, None], run.probabilities, math.nan),
        thresholds=np.broadcast_to(np.asarray(thresholds, dtype=float), run.probabilities.shape).copy(),
        folds=[None] * len(records), abstained=[a or "" for a in run.abstentions], kind="checkpoint", about=about,
        rule_in=np.broadcast_to(np.asarray(run.rule_in, dtype=float), run.probabilities.shape).copy())


def _check_overlap(result: dict, evaluated: Evaluated, meta, checkpoint, no_meta: str = "") -> None:
    """The overlap of the evaluated photos with the checkpoint's training photos; a warning when they share any.
    ``no_meta``: why there is no checkpoint to check (``meta`` None)."""
    from skinfindings.training.data_checks import overlap_check, overlap_warning, training_photos

    known = training_photos(meta, checkpoint) if meta is not None else None
    overlap = overlap_check(known, evaluated.full, evaluated.records, evaluated.digests)
    if meta is None:
        overlap["note"] = no_meta
    result["data_checks"]["overlap"] = overlap
    warning = overlap_warning(overlap)
    if warning:
        warnings.warn(warning, stacklevel=2)
        result["warnings"].insert(0, warning)


def evaluate_predictions_file(predictions: str | Path, manifest: str | Path, split: str | None = None,
                              out: str | Path | None = None, config: EvalConfig = EvalConfig(),
                              command: str = "") -> dict:
    """Report a predictions file (checkpoint or out-of-fold) on a manifest, with its per-photo thresholds.

    Every evaluated manifest row must have a row in the file (joined on sha256).
    """
    from skinfindings.training.baselines import FEATURE_NAMES

    evaluated = _evaluated(manifest, split)
    full, records = evaluated.full, evaluated.records
    scored = read_predictions(predictions)
    probabilities, thresholds, abstentions = aligned(scored, evaluated.digests)
    paths = [full.resolve(r) for r in records]
    reader = PhotoReader(int(scored.about.get("input_size") or config.input_size)) if config.pixels else None
    if reader is not None:
        brightness, features = read_pixels_stats(reader, paths)
    else:
        brightness, features = np.full(len(records), math.nan), np.full((len(records), len(FEATURE_NAMES)), math.nan)
    run = PredictorRun([r.path for r in records], probabilities, abstentions, brightness, features, paths, thresholds,
                       aligned_levels(scored, evaluated.digests), scored.rule_in[scored.rows_for(evaluated.digests)])
    result = report_predictions(evaluated, run, thresholds, split, config, reader)
    about = scored.about
    result["kind"] = scored.kind
    no_meta = ("out-of-fold predictions: each photo was scored by a fold model that never saw its patient, so "
               "there is no single checkpoint to check against" if scored.kind == "out-of-fold" else
               "the checkpoint named by the predictions file cannot be read here: overlap not checked")
    _check_overlap(result, evaluated, _scoring_checkpoint(scored), about.get("checkpoint"), no_meta)
    model = {"checkpoint": str(about.get("checkpoint") or predictions), "predictions": str(predictions),
             "arch": about.get("arch", "-"), "input_size": about.get("input_size", "-"),
             "trained": bool(about.get("trained", True)), "status": about.get("status", scored.kind),
             "threshold_rule": about.get("threshold_rule", "per photo, from the predictions file"
                                         + (" (each fold's own)" if scored.kind == "out-of-fold" else "")),
             "weights_sha256": about.get("weights_sha256")}
    result["meta"] = _meta(model, manifest, split, evaluated, config, command
                           or f"evaluate_predictions_file({str(predictions)!r}, {str(manifest)!r}, split={split!r})")
    if out is not None:  # a copy of the input, so this folder too can be compared paired
        write_predictions(Path(out) / "predictions.csv", scored)
        write_outputs(Path(out), result, evaluated.labels, run, reader, config)
    return result


def _scoring_checkpoint(scored: Predictions):
    """The checkpoint that made a checkpoint-kind predictions file, where it can still be read; else None."""
    from skinfindings.model.checkpoint import CheckpointError, read_meta

    if scored.kind != "checkpoint" or not scored.about.get("checkpoint"):
        return None
    try:
        return read_meta(scored.about["checkpoint"])
    except (CheckpointError, OSError):
        return None


def write_outputs(out: Path, result: dict, labels: np.ndarray, run: PredictorRun, source,
                  config: EvalConfig) -> None:
    """metrics.json, the plots and report.md into ``out``; ``source`` prepares photos for the contact
    sheet (the Predictor or a PhotoReader; None: no contact sheet)."""
    from skinfindings.training import plots
    from skinfindings.training.report import render_report

    out.mkdir(parents=True, exist_ok=True)
    result["plots"] = {}
    if config.plots:
        assessed = np.array([a is None for a in run.abstentions])
        caption = plots.caption(result["meta"], result["assessed"])
        result["plots"] = plots.standard_plots(out, result, labels[assessed], run.probabilities[assessed], caption)
        thresholds = run.thresholds if run.thresholds is not None else list(result["thresholds"].values())
        if config.contact_sheet and source is not None:
            errors = confident_errors(labels, run.probabilities, thresholds, assessed)
            result["plots"]["errors"] = _contact_sheet(out, errors, run, source, result, caption,
                                                       config.contact_sheet)
    (out / "metrics.json").write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
    (out / "report.md").write_text(render_report(result))
    write_decisions(out / "decisions.csv", run)
    (out / "decision-table.md").write_text(decision_table([result], [result.get("kind", "checkpoint")]))


def write_decisions(path: Path, run: PredictorRun) -> None:
    """One row per photo and scenario: the tier, the notice headline and why (no pixels, no labels)."""
    import csv

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "scenario", "assessed", "tier", "notice", "soon", "watch", "reasons"])
        for scenario, rows in run.decisions.items():
            for name, abstention, d in zip(run.names, run.abstentions, rows):
                writer.writerow([name, scenario, int(abstention is None), d.tier, d.notice, int(d.soon),
                                 "; ".join(d.watch), "; ".join(d.reasons)])


def _contact_sheet(out: Path, errors: list[dict], run: PredictorRun, source, result: dict, caption: str,
                   limit: int) -> str:
    """One tile per photo, in the order of its most confident error, listing up to three of its errors.

    The photos shown are prepared again (``source.prepare``), so no pixels were kept for the whole set.
    """
    from skinfindings.training import plots

    by_photo: dict[int, list[dict]] = {}
    for error in errors:
        by_photo.setdefault(error["row"], []).append(error)
    tiles = []
    for row in list(by_photo)[:limit]:
        try:
            pixels, _ = source.prepare(run.paths[row])
        except PhotoError:
            continue
        lines = [f"{e['kind']}: {e['finding']} p={e['probability']:.2f} (t={e['threshold']:.2f})"
                 for e in by_photo[row][:3]]
        tiles.append((pixels, "\n".join([Path(run.names[row]).name[:32], *lines])))
    attributions = sorted({d["attribution"] for d in result["meta"]["data"] if d["attribution"]})
    return plots.contact_sheet(out / "errors.png", tiles, caption, attributions)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")
