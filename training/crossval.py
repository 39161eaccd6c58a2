"""skinfindings crossval --real ../shared/data/real/manifest.csv [--composites C] [--synthetic S] --out runs/cv

Grouped (by patient) k-fold cross-validation on real photos, then the final model on all of them.

* The real photos are split into k folds by patient; composites (findings drawn on real photos,
  data/composite.py) follow their patient's fold; synthetic images only ever train.
* Each fold model trains on the other folds (plus composites of those patients and synthetic
  images, mixed by ``--source-weights``) and scores its own fold: out-of-fold predictions, written
  as ``OUT/oof.csv`` (real photos) and ``OUT/oof-composites.csv`` in the predictions format that
  ``skinfindings evaluate --predictions`` reports. No photo is scored by a model that saw its patient.
* Calibration where it holds: per finding, temperature and threshold are fitted on real
  out-of-fold predictions when the real photos carry enough positives and negatives (the evaluation's
  minimum-evidence rule), else on real photos and held-out composites together (milia, pustules). A fold's own rows are scored
  with calibration fitted on the *other* folds' predictions; the final model's on all of them.
* The trunk (early stages) stays frozen and its output is cached once for all folds (training/tail.py).

Outputs: OUT/oof.csv, OUT/oof-composites.csv, OUT/summary.json, OUT/model.json + .safetensors (final).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from skinfindings.data.manifest import Manifest, Record, read_manifest
from skinfindings.data.splits import grouped_folds
from skinfindings.findings import FINDINGS
from skinfindings.model import quality
from skinfindings.model.checkpoint import CheckpointMeta, DataSource, load_checkpoint, save_checkpoint
from skinfindings.model.registry import architecture, build_model
from skinfindings.model.transforms import prepare_photo
from skinfindings.training import config as config_module
from skinfindings.training.calibrate import calibrate
from skinfindings.training.metrics import MIN_NEGATIVES, MIN_POSITIVES, per_finding_auroc
from skinfindings.training.predictions import Predictions, write_predictions
from skinfindings.training.tail import FeatureCache, Split, TailConfig, tail_logits, train_tail

SOURCES = ("real", "composites", "synthetic")
SYNTHETIC_TEST = -2  # fold value of synthetic test-split images: scored by every fold model, never trained on


@dataclass
class CrossValConfig:
    real: str
    out: str
    composites: str = ""
    synthetic: str = ""
    source_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])  # share of training draws
    synthetic_limit: int = 600  # synthetic train-split images used (the first N, deterministic)
    synthetic_test: int = 300  # synthetic test-split images scored by each fold model (0 = none)
    arch: str = "efficientnet_lite0"
    init: str = "pretrained"  # "pretrained" (the architecture's verified weights) or a checkpoint .json
    input_size: int = 160
    cut: int = 7  # frozen, cached stages (Lite0: all but the last stage and the head)
    views: int = 2  # augmented views cached per photo
    folds: int = 5
    epochs: int = 4
    samples_per_epoch: int = 768  # training draws per epoch (weighted by source), whatever the pool's size
    lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0
    final: bool = True  # also train the final model on every photo and write its checkpoint
    report: bool = True  # report the real out-of-fold predictions (skinfindings evaluate --predictions) in OUT/report-real
    escalate_sensitivity: float = 0.90
    threads: int = 0


@dataclass
class Pool:
    """Every photo the run touches, in one list: paths, labels, source, patient group, fold (-1 = train only)."""

    records: list[Record]
    paths: list[str]
    labels: np.ndarray
    source: np.ndarray  # index into SOURCES
    fold: np.ndarray


def _records(manifest: Manifest, split: str | None = None, limit: int = 0) -> tuple[list[Record], list[str]]:
    rows = [r for r in manifest.records if split is None or r.split == split]
    rows = rows[:limit] if limit else rows
    return rows, [str(manifest.resolve(r)) for r in rows]


def build_pool(config: CrossValConfig) -> Pool:
    from skinfindings.training.train import check_licences

    manifests = {"real": read_manifest(config.real)}
    if config.composites:
        manifests["composites"] = read_manifest(config.composites)
    if config.synthetic:
        manifests["synthetic"] = read_manifest(config.synthetic)
    check_licences(list(manifests.values()), allow_non_commercial=False)
    real, real_paths = _records(manifests["real"])
    real_folds = grouped_folds(real, config.folds, seed=config.seed, stratify=True)
    fold_of_group = {r.group.strip(): f for r, f in zip(real, real_folds)}
    records, paths, sources, folds = list(real), list(real_paths), [0] * len(real), list(real_folds)
    if "composites" in manifests:
        rows, rows_paths = _records(manifests["composites"])
        unknown = sorted({r.group for r in rows if r.group.strip() not in fold_of_group})
        if unknown:
            raise SystemExit(f"crossval: composites on patients not in the real manifest: {unknown[:5]}")
        records += rows
        paths += rows_paths
        sources += [1] * len(rows)
        folds += [fold_of_group[r.group.strip()] for r in rows]  # a patient's composites share its fold
    if "synthetic" in manifests:
        for split, limit, fold in (("train", config.synthetic_limit, -1), ("test", config.synthetic_test, SYNTHETIC_TEST)):
            rows, rows_paths = _records(manifests["synthetic"], split, limit) if limit else ([], [])
            records += rows
            paths += rows_paths
            sources += [2] * len(rows)
            folds += [fold] * len(rows)
    labels = np.stack([r.label_vector() for r in records])
    return Pool(records, paths, labels, np.array(sources), np.array(folds))


def draw_weights(pool: Pool, rows: np.ndarray, source_weights: list[float]) -> np.ndarray:
    """Per-row sampling weight so each source gets its share of the draws whatever its size."""
    counts = np.bincount(pool.source[rows], minlength=len(SOURCES)).astype(float)
    share = np.asarray(source_weights, float)[pool.source[rows]]
    return share / np.maximum(counts[pool.source[rows]], 1)


def calibration_sets(pool: Pool, logits: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Labels masked per finding: real photos alone where they hold enough positives and negatives; else real
    photos and composites together (the composites bring the positives, the real photos keep their negatives:
    calibrated on composites alone, a threshold flagged milia on most real photos, which have none)."""
    labels = pool.labels[rows].copy()
    real = pool.source[rows] == 0
    used = {}
    for i, finding in enumerate(FINDINGS):
        y_real, y_all = labels[real, i], labels[pool.source[rows] <= 1, i]
        if _enough(y_real):
            labels[~real, i] = np.nan
            used[finding] = "real"
        elif _enough(y_all):
            labels[pool.source[rows] > 1, i] = np.nan
            used[finding] = "real + composites"
        else:
            used[finding] = "none (too few positives or negatives): default 0.5"
    return logits[rows], labels, used


def _enough(y: np.ndarray) -> bool:
    return bool(np.sum(y == 1) >= MIN_POSITIVES and np.sum(y == 0) >= MIN_NEGATIVES)


def fit_calibration(pool: Pool, logits: np.ndarray, rows: np.ndarray, sensitivity: float):
    z, y, used = calibration_sets(pool, logits, rows)
    temperatures, thresholds, notes = calibrate(z, y, sensitivity)
    notes = {f: f"{notes[f]}; fitted on {used[f]} out-of-fold predictions" for f in FINDINGS}
    return np.array(temperatures), np.array(thresholds), notes, used


def quality_gate(paths: list[str], input_size: int) -> list[str]:
    """The Predictor's abstention gate on each photo (reason code or ""), so out-of-fold rows match it."""
    reasons = []
    for path in paths:
        abstention, _ = quality.assess(*prepare_photo(path, input_size))
        reasons.append("" if abstention is None else abstention.code)
    return reasons


def fresh_model(config: CrossValConfig) -> tuple[torch.nn.Module, dict, list[float], list[float]]:
    """The starting model, where its weights came from, and the input normalisation they expect."""
    spec = architecture(config.arch)
    torch.manual_seed(config.seed)  # the fresh head's initial weights: the same run gives the same model
    if config.init == "pretrained":
        if spec.pretrained is None:
            raise SystemExit(f"crossval: {config.arch} has no pretrained weights; give --init CHECKPOINT")
        model = build_model(config.arch, len(FINDINGS))
        return model, spec.pretrained(model), list(spec.mean), list(spec.std)
    model, meta = load_checkpoint(config.init)
    if meta.arch != config.arch:
        raise SystemExit(f"crossval: --init is a {meta.arch} checkpoint, not {config.arch}")
    origin = {"name": f"skinfindings checkpoint {Path(config.init).name}", "sha256": meta.weights_sha256}
    return model, origin, meta.mean, meta.std


def _tail_config(config: CrossValConfig, seed: int) -> TailConfig:
    return TailConfig(cut=config.cut, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                      samples_per_epoch=config.samples_per_epoch, seed=seed)


@dataclass
class Prepared:
    """What every fold shares: the photos, the model seen as trunk + tail, the trunk's cached output."""

    pool: Pool
    split: Split
    cache: FeatureCache
    initial: dict  # starting weights, restored before each fold
    origin: dict  # where the starting weights came from
    mean: list[float]
    std: list[float]


def prepare(config: CrossValConfig) -> Prepared:
    if config.threads:
        torch.set_num_threads(config.threads)
    pool = build_pool(config)
    model, origin, mean, std = fresh_model(config)
    split = Split(model, architecture(config.arch), config.cut)
    cache = FeatureCache(split, pool.paths, config.input_size, mean, std, config.views, seed=config.seed)
    return Prepared(pool, split, cache, {k: v.clone() for k, v in model.state_dict().items()}, origin, mean, std)


def train_on(prepared: Prepared, config: CrossValConfig, rows: np.ndarray, seed: int) -> None:
    prepared.split.model.load_state_dict(prepared.initial)
    train_tail(prepared.split, prepared.cache, rows, prepared.pool.labels,
               draw_weights(prepared.pool, rows, config.source_weights), _tail_config(config, seed))


def out_of_fold_logits(prepared: Prepared, config: CrossValConfig, trained_sources=(0, 1, 2)) -> tuple[np.ndarray, list]:
    """Logits for every real photo and composite from the fold model that never saw its patient, and each
    fold model's synthetic-test AUROC. Only ``trained_sources`` train; when none of them is held out by
    fold (synthetic only), one model serves every fold."""
    pool, started = prepared.pool, time.time()
    logits = np.full((len(pool.paths), len(FINDINGS)), np.nan)
    synthetic_test = np.flatnonzero(pool.fold == SYNTHETIC_TEST)
    trains = np.isin(pool.source, trained_sources) & (pool.fold != SYNTHETIC_TEST)
    fold_free = not np.any(trains & (pool.fold >= 0))
    synthetic_auroc = []
    for fold in range(1 if fold_free else config.folds):
        rows = np.flatnonzero(trains & (pool.fold != fold))
        train_on(prepared, config, rows, config.seed + fold)
        scored = np.flatnonzero(pool.fold >= 0) if fold_free else np.flatnonzero(pool.fold == fold)
        logits[scored] = tail_logits(prepared.split, prepared.cache, scored)
        if len(synthetic_test):
            synthetic_auroc.append(per_finding_auroc(pool.labels[synthetic_test],
                                                     tail_logits(prepared.split, prepared.cache, synthetic_test)))
        print(f"crossval: fold {fold + 1}: {len(rows)} training rows, {len(scored)} scored "
              f"({time.time() - started:.0f} s)", flush=True)
    return logits, synthetic_auroc


def write_out_of_fold(prepared: Prepared, config: CrossValConfig, probabilities: np.ndarray, thresholds: np.ndarray,
                      out: Path) -> dict:
    """OUT/oof.csv (real photos, with the abstention gate) and OUT/oof-composites.csv from calibrated
    out-of-fold probabilities and per-row thresholds (``out_of_fold_calibrated``); returns their paths."""
    pool = prepared.pool
    about = {"command": _command(), "config": dataclasses.asdict(config), "backbone": prepared.origin,
             "arch": config.arch, "input_size": config.input_size, "trained": True,
             "status": f"out-of-fold predictions of {config.folds}-fold cross-validation grouped by patient"}
    written = {}
    for source, name in ((0, "oof.csv"), (1, "oof-composites.csv")):
        rows = np.flatnonzero((pool.source == source) & (pool.fold >= 0))
        if not len(rows):
            continue
        paths = [pool.paths[i] for i in rows]
        abstained = quality_gate(paths, config.input_size) if source == 0 else [""] * len(rows)
        written[SOURCES[source]] = str(write_predictions(out / name, Predictions(
            sha256=[pool.records[i].sha256 for i in rows], paths=[pool.records[i].path for i in rows],
            probabilities=probabilities[rows], thresholds=thresholds[rows],
            folds=[int(pool.fold[i]) for i in rows], abstained=abstained, kind="out-of-fold", about=about)))
    return written


def run(config: CrossValConfig) -> dict:
    started = time.time()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    prepared = prepare(config)
    pool = prepared.pool
    logits, synthetic_auroc = out_of_fold_logits(prepared, config)
    summary = {"predictions": write_out_of_fold(prepared, config, *out_of_fold_calibrated(pool, logits, config), out),
               "out_of_fold_auroc_uncalibrated": {
                   SOURCES[s]: per_finding_auroc(pool.labels[rows], logits[rows])
                   for s in (0, 1) if len(rows := np.flatnonzero((pool.source == s) & (pool.fold >= 0)))},
               "synthetic_test_auroc_per_fold_model": synthetic_auroc,
               "counts": {SOURCES[s]: int(np.sum(pool.source == s)) for s in range(len(SOURCES))},
               "command": _command()}
    if config.report and "real" in summary["predictions"]:
        from skinfindings.training.evaluate_runs import EvalConfig, evaluate_predictions_file

        # Marker ink is a shortcut a model could learn (PAD-UFES-20 marks lesions): break results down by it.
        by = tuple(c for c in ("pen_marks",) if c in pool.records[0].extra)
        report_command = (f"skinfindings evaluate --predictions {out / 'oof.csv'} --manifest {config.real}"
                          f"{''.join(f' --by {c}' for c in by)} --out {out / 'report-real'}")
        report = evaluate_predictions_file(summary["predictions"]["real"], config.real, None, out / "report-real",
                                           EvalConfig(by=by, input_size=config.input_size), command=report_command)
        summary["report"] = str(out / "report-real" / "report.md")
    if config.final:
        everything = np.flatnonzero(pool.fold != SYNTHETIC_TEST)
        train_on(prepared, config, everything, config.seed + 1000)
        summary["checkpoint"] = str(save_final(prepared, config, logits, out))
        if config.report and "real" in summary["predictions"]:
            from skinfindings.training.evaluate import record_in_checkpoint

            # The headline the app's About tab shows: out-of-fold, so no photo was scored by a model that saw it.
            record_in_checkpoint(summary["checkpoint"], f"real photos, out-of-fold ({config.folds}-fold by patient)",
                                 report, report_command)
    summary["seconds"] = round(time.time() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"crossval: done in {summary['seconds']:.0f} s; out-of-fold AUROC (real photos): "
          + json.dumps({k: round(v, 3) for k, v in summary["out_of_fold_auroc_uncalibrated"]["real"].items()}))
    return summary


def out_of_fold_calibrated(pool: Pool, logits: np.ndarray, config: CrossValConfig):
    """Each fold's rows calibrated with temperatures/thresholds fitted on the other folds only."""
    probabilities = np.full_like(logits, np.nan)
    thresholds = np.full_like(logits, np.nan)
    for fold in range(config.folds):
        others = np.flatnonzero((pool.fold >= 0) & (pool.fold != fold))
        mine = np.flatnonzero(pool.fold == fold)
        t, th, _, _ = fit_calibration(pool, logits, others, config.escalate_sensitivity)
        probabilities[mine] = 1 / (1 + np.exp(-logits[mine] / t))
        thresholds[mine] = th
    return probabilities, thresholds


def save_final(prepared: Prepared, config: CrossValConfig, logits: np.ndarray, out: Path,
                trained_sources=(0, 1, 2)) -> Path:
    """The model trained on everything, calibrated on all out-of-fold predictions."""
    pool = prepared.pool
    scored = np.flatnonzero(pool.fold >= 0)
    temperatures, thresholds, notes, used = fit_calibration(pool, logits, scored, config.escalate_sensitivity)
    sources = []
    for s in trained_sources:
        rows = [pool.records[i] for i in np.flatnonzero((pool.source == s) & (pool.fold != SYNTHETIC_TEST))]
        if rows:
            sources.append(DataSource(name=rows[0].source, license=rows[0].license, n_images=len(rows),
                                      attribution=rows[0].attribution))
    meta = CheckpointMeta(
        arch=config.arch, input_size=config.input_size, mean=list(prepared.mean), std=list(prepared.std),
        thresholds=thresholds.tolist(), temperature=temperatures.tolist(),
        threshold_rule="; ".join(f"{f}: {notes[f]}" for f in FINDINGS), trained=True,
        status=("trained on synthetic images and real lesion photos (PAD-UFES-20), not on post-procedure skin; "
                "not validated on real patients"),
        trained_on=sources, backbone=prepared.origin if config.init == "pretrained" else {},
        weights_dtype="float16",
        metrics={"calibration_data": used, "source": "skinfindings crossval; real-photo numbers are out-of-fold "
                 "(grouped by patient) in the predictions files, reported by skinfindings evaluate --predictions"},
        training_config={"crossval": dataclasses.asdict(config), "command": _command()},
    )
    return save_checkpoint(out / "model", prepared.split.model, meta)


def _command() -> str:
    return "skinfindings crossval " + " ".join(shlex.quote(a) for a in sys.argv[2:])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skinfindings crossval", description=__doc__.split("\n\n")[1])
    return config_module.add_fields(parser, CrossValConfig)


def main(argv: list[str] | None = None) -> int:
    config = CrossValConfig(**config_module.given(build_parser().parse_args(argv)))
    if len(config.source_weights) != len(SOURCES):
        raise SystemExit(f"crossval: --source-weights needs one weight per source {SOURCES}")
    run(config)
    return 0
