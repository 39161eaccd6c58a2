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
from tqdm import tqdm

from skinfindings.data.manifest import Manifest, Record, read_manifest
from skinfindings.data.splits import grouped_folds
from skinfindings.findings import FINDINGS
from skinfindings.model import quality
from skinfindings.model.checkpoint import CheckpointMeta, DataSource, load_checkpoint, save_checkpoint
from skinfindings.model.registry import architecture, build_model
from skinfindings.model.transforms import prepare_photo
from skinfindings.training import config as config_module
from skinfindings.training.calibrate import fit_platt, operating_points
from skinfindings.training.metrics import MIN_NEGATIVES, MIN_POSITIVES, per_finding_auroc
from skinfindings.training.predictions import Predictions, write_predictions
from skinfindings.training.probe import Probe, fit_probe, fold_into_head, probe_features, recompressed
from skinfindings.training.tail import FeatureCache, Split, TailConfig, tail_logits, train_tail

SOURCES = ("real", "composites", "synthetic", "faces")
REAL, COMPOSITES, SYNTHETIC, FACES = range(len(SOURCES))
SYNTHETIC_TEST = -2  # fold value of synthetic test-split images: scored by every fold model, never trained on


@dataclass
class CrossValConfig:
    real: str
    out: str
    # Ordinary faces (portraits, plain selfie-like crops of them): folded by person like the real photos by patient.
    faces: list[str] = field(default_factory=list)
    # The renderer's findings drawn on real photos or faces: each follows its patient's or person's fold.
    composites: list[str] = field(default_factory=list)
    synthetic: str = ""
    source_weights: list[float] = field(default_factory=lambda: [1.0] * len(SOURCES))  # share of training draws
    synthetic_limit: int = 600  # synthetic train-split images used (the first N, deterministic)
    synthetic_test: int = 300  # synthetic test-split images scored by each fold model (0 = none)
    recipe: str = "probe"  # "probe" (frozen backbone + logistic regression) or "tail" (train the last stages)
    arch: str = "efficientnet_lite0"  # a suffix _avgmax pools average and maximum before the head
    init: str = "pretrained"  # "pretrained" (the architecture's verified weights) or a checkpoint .json (tail only)
    input_size: int = 224
    probe_c: float = 0.003  # inverse L2 strength of the probe's logistic regressions (standardised features)
    # The probe also trains on each photo re-saved as a JPEG at a quality drawn from this range (training/probe.py
    # ``recompressed``), and its mirror image, with the photo's labels and its weight times recompressed_weight
    # (docs/ablation.md, rounds 8-11). Empty: no copies. recompressed_sources: only these sources' copies train
    # (names from SOURCES; empty: every source's).
    recompressed_quality: list[int] = field(default_factory=list)
    recompressed_weight: float = 1.0
    recompressed_sources: list[str] = field(default_factory=list)
    baseline_probe: bool = True  # also fit the reference linear probe on the same folds: OUT/oof-probe*.csv
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
    rule_out_sensitivity: float = 0.90  # rule-out point: at or above it a finding is at least *possible*
    rule_in_specificity: float = 0.90  # rule-in point: at or above it a finding is *likely*
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

    manifests = {"real": [read_manifest(config.real)], "faces": [read_manifest(m) for m in config.faces],
                 "composites": [read_manifest(m) for m in config.composites],
                 "synthetic": [read_manifest(config.synthetic)] if config.synthetic else []}
    check_licences([m for ms in manifests.values() for m in ms], allow_non_commercial=False)
    records, paths, sources, folds = [], [], [], []

    def add(rows, rows_paths, source, row_folds):
        records.extend(rows), paths.extend(rows_paths), folds.extend(row_folds)
        sources.extend([source] * len(rows))

    # Patients and people are folded separately (each set stratified on its own labels), with the same k.
    fold_of_group: dict[str, int] = {}
    for source, kind in ((REAL, "real"), (FACES, "faces")):
        pairs = [_records(m) for m in manifests[kind]]
        rows = [r for rs, _ in pairs for r in rs]
        if not rows:
            continue
        row_folds = grouped_folds(rows, config.folds, seed=config.seed, stratify=True)
        fold_of_group.update({r.group.strip(): f for r, f in zip(rows, row_folds)})
        add(rows, [p for _, ps in pairs for p in ps], source, row_folds)
    for manifest in manifests["composites"]:
        rows, rows_paths = _records(manifest)
        unknown = sorted({r.group for r in rows if r.group.strip() not in fold_of_group})
        if unknown:
            raise SystemExit(f"crossval: composites on patients or people in no real or faces manifest: {unknown[:5]}")
        add(rows, rows_paths, COMPOSITES, [fold_of_group[r.group.strip()] for r in rows])  # they share its fold
    for manifest in manifests["synthetic"]:
        for split, limit, fold in (("train", config.synthetic_limit, -1), ("test", config.synthetic_test, SYNTHETIC_TEST)):
            rows, rows_paths = _records(manifest, split, limit) if limit else ([], [])
            add(rows, rows_paths, SYNTHETIC, [fold] * len(rows))
    labels = np.stack([r.label_vector() for r in records])
    return Pool(records, paths, labels, np.array(sources), np.array(folds))


def draw_weights(pool: Pool, rows: np.ndarray, source_weights: list[float]) -> np.ndarray:
    """Per-row sampling weight so each source gets its share of the draws whatever its size."""
    counts = np.bincount(pool.source[rows], minlength=len(SOURCES)).astype(float)
    share = np.asarray(source_weights, float)[pool.source[rows]]
    return share / np.maximum(counts[pool.source[rows]], 1)


def calibration_sets(pool: Pool, logits: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Labels masked per finding: real lesion photos alone where they hold enough positives and negatives
    (erythema, crusting, hyperpigmentation); else every held-out photo, real, faces and composites together
    (milia, pustules: the composites bring the positives, the real photos and faces keep their negatives:
    calibrated on composites alone, a threshold once flagged milia on most real photos, which have none)."""
    labels = pool.labels[rows].copy()
    source = pool.source[rows]
    used = {}
    for i, finding in enumerate(FINDINGS):
        if _enough(labels[source == REAL, i]):
            labels[source != REAL, i] = np.nan
            used[finding] = "real lesion photos"
        elif _enough(labels[source != SYNTHETIC, i]):
            labels[source == SYNTHETIC, i] = np.nan
            used[finding] = "real lesion photos, faces and composites"
        else:
            used[finding] = "none (too few positives or negatives): default 0.5"
    return logits[rows], labels, used


def _enough(y: np.ndarray) -> bool:
    return bool(np.sum(y == 1) >= MIN_POSITIVES and np.sum(y == 0) >= MIN_NEGATIVES)


@dataclass
class Calibration:
    """Per finding: logistic recalibration of the raw logit, and the two operating points on its probability."""

    slope: np.ndarray
    offset: np.ndarray
    rule_out: np.ndarray
    rule_in: np.ndarray
    notes: dict
    used: dict

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(self.slope * logits + self.offset)))


def fit_calibration(pool: Pool, logits: np.ndarray, rows: np.ndarray, config: "CrossValConfig") -> Calibration:
    z, y, used = calibration_sets(pool, logits, rows)
    platt = [fit_platt(z[:, i], y[:, i]) for i in range(len(FINDINGS))]
    slope, offset = np.array([a for a, _ in platt]), np.array([b for _, b in platt])
    probabilities = 1 / (1 + np.exp(-(slope * z + offset)))
    points = [operating_points(probabilities[:, i], y[:, i], config.rule_out_sensitivity, config.rule_in_specificity)
              for i in range(len(FINDINGS))]
    notes = {f: (f"logistic recalibration and operating points fitted on {used[f]} out-of-fold predictions: "
                 f"rule-out = highest threshold with sensitivity >= {config.rule_out_sensitivity:.2f}, rule-in = "
                 f"lowest with specificity >= {config.rule_in_specificity:.2f} (never below rule-out)")
             for f in FINDINGS}
    return Calibration(slope, offset, np.array([o for o, _ in points]), np.array([i for _, i in points]), notes, used)


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


class Recipe:
    """How a candidate learns from rows of the pool: ``fit(rows)`` then ``logits(rows)``; ``model()`` is the
    network with the last fit in it. Both recipes see the same pool and the same folds."""

    def fit(self, rows: np.ndarray, seed: int) -> None: ...

    def logits(self, rows: np.ndarray) -> np.ndarray: ...

    def model(self) -> torch.nn.Module: ...


class TailRecipe(Recipe):
    """The trunk's early stages frozen and cached; the last stages and the head trained (training/tail.py)."""

    def __init__(self, pool: Pool, config: CrossValConfig):
        self.pool, self.config = pool, config
        model, self.origin, self.mean, self.std = fresh_model(config)
        self.split = Split(model, architecture(config.arch), config.cut)
        self.cache = FeatureCache(self.split, pool.paths, config.input_size, self.mean, self.std, config.views,
                                  seed=config.seed)
        self.initial = {k: v.clone() for k, v in model.state_dict().items()}

    def fit(self, rows: np.ndarray, seed: int) -> None:
        self.split.model.load_state_dict(self.initial)
        train_tail(self.split, self.cache, rows, self.pool.labels,
                   draw_weights(self.pool, rows, self.config.source_weights), _tail_config(self.config, seed))

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return tail_logits(self.split, self.cache, rows)

    def model(self) -> torch.nn.Module:
        return self.split.model


class ProbeRecipe(Recipe):
    """The frozen pretrained backbone's pooled features and one logistic regression per finding (training/probe.py)."""

    def __init__(self, pool: Pool, config: CrossValConfig, arch: str | None = None, input_size: int | None = None,
                 c: float | None = None):
        self.pool, self.config = pool, config
        self.arch, self.input_size = arch or config.arch, input_size or config.input_size
        self.c = c if c is not None else config.probe_c
        self.features, self.origin = probe_features(self.arch, self.input_size, pool.paths)
        self.view_weights = None
        if config.recompressed_quality:  # views 2 and 3: only training rows read them; scoring reads view 0
            quality = tuple(config.recompressed_quality)
            copies = [recompressed(path, quality) for path in tqdm(pool.paths, desc="recompressed copies")]
            self.features = np.concatenate([self.features, probe_features(self.arch, self.input_size, copies)[0]],
                                           axis=1)
            sources = [SOURCES.index(name) for name in config.recompressed_sources] or list(range(len(SOURCES)))
            copy = np.where(np.isin(pool.source, sources), config.recompressed_weight, 0.0)
            self.view_weights = np.stack([np.ones_like(copy), np.ones_like(copy), copy, copy], axis=1)  # (n, views)
        spec = architecture(self.arch)
        self.mean, self.std = list(spec.mean), list(spec.std)
        self.probe: Probe | None = None

    def fit(self, rows: np.ndarray, seed: int) -> None:  # deterministic: the seed has nothing to draw
        weights = draw_weights(self.pool, rows, self.config.source_weights)
        view_weights = None if self.view_weights is None else self.view_weights[rows]
        self.probe = fit_probe(self.features[rows], self.pool.labels[rows], weights, self.c, view_weights)

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return self.probe.logits(self.features[rows, 0])  # view 0: the photo as the Predictor sees it

    def model(self) -> torch.nn.Module:
        model = build_model(self.arch, len(FINDINGS))
        architecture(self.arch).pretrained(model)
        ones, zeros = np.ones(len(FINDINGS)), np.zeros(len(FINDINGS))
        fold_into_head(model, self.probe, ones, zeros)
        return model.eval()


def make_recipe(pool: Pool, config: CrossValConfig) -> Recipe:
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.recipe == "probe":
        return ProbeRecipe(pool, config)
    if config.recipe == "tail":
        return TailRecipe(pool, config)
    raise SystemExit(f"crossval: --recipe must be probe or tail, not {config.recipe!r}")


def reference_probe(pool: Pool, config: CrossValConfig) -> ProbeRecipe:
    """The baseline every candidate is compared with: the issue's probe (Lite0, 224 px, average pooling,
    C = 0.003, balanced classes) on the same pool and folds."""
    return ProbeRecipe(pool, config, arch="efficientnet_lite0", input_size=224, c=0.003)


def trained_rows(pool: Pool) -> np.ndarray:
    return pool.fold != SYNTHETIC_TEST


def fold_training_rows(pool: Pool, fold: int, trained_sources=(REAL, COMPOSITES, SYNTHETIC, FACES)) -> np.ndarray:
    """The rows the model that scores ``fold`` trains on: every trained row of the other folds (and train-only rows)."""
    return np.flatnonzero(np.isin(pool.source, trained_sources) & trained_rows(pool) & (pool.fold != fold))


def out_of_fold_logits(recipe: Recipe, pool: Pool, config: CrossValConfig,
                       trained_sources=(REAL, COMPOSITES, SYNTHETIC, FACES)) -> tuple[np.ndarray, list]:
    """Logits for every held-out row (real photos, faces, composites) from the fold model that never saw its
    patient or person, and each fold model's synthetic-test AUROC. Only ``trained_sources`` train; when none of
    them is held out by fold (synthetic only), one model serves every fold."""
    started = time.time()
    logits = np.full((len(pool.paths), len(FINDINGS)), np.nan)
    synthetic_test = np.flatnonzero(pool.fold == SYNTHETIC_TEST)
    trains = np.isin(pool.source, trained_sources) & trained_rows(pool)
    fold_free = not np.any(trains & (pool.fold >= 0))
    synthetic_auroc = []
    for fold in range(1 if fold_free else config.folds):
        rows = fold_training_rows(pool, fold, trained_sources)
        recipe.fit(rows, config.seed + fold)
        scored = np.flatnonzero(pool.fold >= 0) if fold_free else np.flatnonzero(pool.fold == fold)
        logits[scored] = recipe.logits(scored)
        if len(synthetic_test):
            synthetic_auroc.append(per_finding_auroc(pool.labels[synthetic_test], recipe.logits(synthetic_test)))
        print(f"crossval: fold {fold + 1}: {len(rows)} training rows, {len(scored)} scored "
              f"({time.time() - started:.0f} s)", flush=True)
    return logits, synthetic_auroc


OOF_FILES = ((REAL, "oof"), (FACES, "oof-faces"), (COMPOSITES, "oof-composites"))


def write_out_of_fold(pool: Pool, config: CrossValConfig, origin: dict, calibrated: tuple, out: Path,
                      prefix: str = "", arch: str | None = None, input_size: int | None = None,
                      gate: dict | None = None) -> dict:
    """OUT/oof.csv (real photos), OUT/oof-faces.csv (ordinary faces and crops of them), OUT/oof-composites.csv:
    calibrated out-of-fold probabilities with each row's own fold's operating points (``out_of_fold_calibrated``),
    real photos and faces through the abstention gate; returns their paths. ``prefix`` names another model's
    files (the reference probe: oof-probe*.csv)."""
    probabilities, rule_out, rule_in = calibrated
    about = {"command": _command(), "config": dataclasses.asdict(config), "backbone": origin,
             "arch": arch or config.arch, "input_size": input_size or config.input_size, "trained": True,
             "status": f"out-of-fold predictions of {config.folds}-fold cross-validation grouped by patient or person"}
    gate = gate if gate is not None else {}
    written = {}
    for source, name in OOF_FILES:
        rows = np.flatnonzero((pool.source == source) & (pool.fold >= 0))
        if not len(rows):
            continue
        if source in (REAL, FACES) and source not in gate:
            gate[source] = quality_gate([pool.paths[i] for i in rows], config.input_size)
        abstained = gate.get(source, [""] * len(rows))
        file = out / (name.replace("oof", f"oof{prefix}") + ".csv")
        written[SOURCES[source]] = str(write_predictions(file, Predictions(
            sha256=[pool.records[i].sha256 for i in rows], paths=[pool.records[i].path for i in rows],
            probabilities=probabilities[rows], thresholds=rule_out[rows], rule_in=rule_in[rows],
            folds=[int(pool.fold[i]) for i in rows], abstained=abstained, kind="out-of-fold", about=about)))
    return written


def out_of_fold_calibrated(pool: Pool, logits: np.ndarray, config: CrossValConfig):
    """Each fold's rows calibrated, and given operating points, fitted on the other folds only."""
    probabilities, rule_out, rule_in = (np.full_like(logits, np.nan) for _ in range(3))
    for fold in range(config.folds):
        others = np.flatnonzero((pool.fold >= 0) & (pool.fold != fold))
        mine = np.flatnonzero(pool.fold == fold)
        calibration = fit_calibration(pool, logits, others, config)
        probabilities[mine] = calibration.probabilities(logits[mine])
        rule_out[mine], rule_in[mine] = calibration.rule_out, calibration.rule_in
    return probabilities, rule_out, rule_in


def held_out_auroc(pool: Pool, logits: np.ndarray) -> dict:
    return {SOURCES[s]: per_finding_auroc(pool.labels[rows], logits[rows])
            for s, _ in OOF_FILES if len(rows := np.flatnonzero((pool.source == s) & (pool.fold >= 0)))}


def run(config: CrossValConfig) -> dict:
    started = time.time()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    pool = build_pool(config)
    recipe = make_recipe(pool, config)
    logits, synthetic_auroc = out_of_fold_logits(recipe, pool, config)
    gate: dict = {}
    summary = {"recipe": config.recipe,
               "predictions": write_out_of_fold(pool, config, recipe.origin,
                                                out_of_fold_calibrated(pool, logits, config), out, gate=gate),
               "out_of_fold_auroc_uncalibrated": held_out_auroc(pool, logits),
               "synthetic_test_auroc_per_fold_model": synthetic_auroc,
               "counts": {SOURCES[s]: int(np.sum(pool.source == s)) for s in range(len(SOURCES))},
               "command": _command()}
    if config.baseline_probe:
        probe = reference_probe(pool, config)
        probe_logits, _ = out_of_fold_logits(probe, pool, config)
        summary["probe_predictions"] = write_out_of_fold(
            pool, config, probe.origin, out_of_fold_calibrated(pool, probe_logits, config), out, prefix="-probe",
            arch=probe.arch, input_size=probe.input_size, gate=gate if probe.input_size == config.input_size else None)
        summary["probe_out_of_fold_auroc_uncalibrated"] = held_out_auroc(pool, probe_logits)
    report = None
    if config.report and "real" in summary["predictions"]:
        report = _report(summary, config, out, pool)
    if config.final:
        recipe.fit(np.flatnonzero(trained_rows(pool)), config.seed + 1000)
        summary["checkpoint"] = str(save_final(recipe, pool, config, logits, out))
        if report is not None:
            from skinfindings.training.evaluate import record_in_checkpoint

            # The headline the app's About tab shows: out-of-fold, so no photo was scored by a model that saw it.
            record_in_checkpoint(summary["checkpoint"], f"real photos, out-of-fold ({config.folds}-fold by patient)",
                                 report, summary["report_command"])
    summary["seconds"] = round(time.time() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"crossval: done in {summary['seconds']:.0f} s; out-of-fold AUROC (real photos): "
          + json.dumps({k: round(v, 3) for k, v in summary["out_of_fold_auroc_uncalibrated"]["real"].items()}))
    return summary


def _report(summary: dict, config: CrossValConfig, out: Path, pool: Pool) -> dict:
    from skinfindings.training.evaluate_runs import EvalConfig, evaluate_predictions_file

    # Marker ink is a shortcut a model could learn (PAD-UFES-20 marks lesions): break results down by it.
    by = tuple(c for c in ("pen_marks",) if c in pool.records[0].extra)
    command = (f"skinfindings evaluate --predictions {out / 'oof.csv'} --manifest {config.real}"
               f"{''.join(f' --by {c}' for c in by)} --out {out / 'report-real'}")
    summary["report_command"] = command
    summary["report"] = str(out / "report-real" / "report.md")
    return evaluate_predictions_file(summary["predictions"]["real"], config.real, None, out / "report-real",
                                     EvalConfig(by=by, input_size=config.input_size), command=command)


def recalibrate_head(model: torch.nn.Module, slope: np.ndarray, offset: np.ndarray) -> None:
    """Fold the per-finding logistic recalibration into the final linear layer: its output becomes the calibrated
    logit, so the checkpoint's temperature stays 1 and every backend runs it unchanged."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else model.classifier[-1]
    with torch.no_grad():
        head.weight.mul_(torch.from_numpy(slope).float()[:, None])
        head.bias.mul_(torch.from_numpy(slope).float()).add_(torch.from_numpy(offset).float())


def grouped_notes(notes: dict[str, str]) -> str:
    """One sentence per distinct note, naming the findings it holds for: the About tab and the provider report
    show this, and five copies of one long rule say nothing more than one."""
    groups: dict[str, list[str]] = {}
    for finding in FINDINGS:
        groups.setdefault(notes[finding], []).append(finding)
    return "; ".join(f"{', '.join(findings)}: {note}" for note, findings in groups.items())


def save_final(recipe: Recipe, pool: Pool, config: CrossValConfig, logits: np.ndarray, out: Path,
               trained_sources=(REAL, COMPOSITES, SYNTHETIC, FACES)) -> Path:
    """The model trained on everything, calibrated and given its operating points on all out-of-fold predictions."""
    calibration = fit_calibration(pool, logits, np.flatnonzero(pool.fold >= 0), config)
    model = recipe.model()
    recalibrate_head(model, calibration.slope, calibration.offset)
    sources = []
    for s in trained_sources:
        rows = [pool.records[i] for i in np.flatnonzero((pool.source == s) & trained_rows(pool))]
        for name in dict.fromkeys(r.source for r in rows):  # one entry per data set, in first-seen order
            mine = [r for r in rows if r.source == name]
            sources.append(DataSource(name=name, license=mine[0].license, n_images=len(mine),
                                      attribution=mine[0].attribution))
    meta = CheckpointMeta(
        arch=recipe.arch if isinstance(recipe, ProbeRecipe) else config.arch, input_size=config.input_size,
        mean=list(recipe.mean), std=list(recipe.std),
        thresholds=calibration.rule_out.tolist(), rule_in=calibration.rule_in.tolist(),
        temperature=[1.0] * len(FINDINGS),
        threshold_rule=grouped_notes(calibration.notes),
        rule_in_rule=(f"rule-in = lowest threshold with out-of-fold specificity >= {config.rule_in_specificity:.2f}; "
                      f"rule-out = highest with sensitivity >= {config.rule_out_sensitivity:.2f}"),
        trained=True,
        status=("trained on real lesion photos (PAD-UFES-20), ordinary faces (London Set) and the renderer's findings "
                "drawn on them, not on post-procedure skin; not validated on real patients"),
        trained_on=sources, backbone=recipe.origin if config.init == "pretrained" else {},
        weights_dtype="float16",
        metrics={"calibration_data": calibration.used,
                 "calibration": {"method": "logistic (Platt) recalibration folded into the head; temperature 1",
                                 "slope": calibration.slope.tolist(), "offset": calibration.offset.tolist()},
                 "source": "skinfindings crossval; real-photo and face numbers are out-of-fold (grouped by patient or "
                           "person) in the predictions files, reported by skinfindings evaluate --predictions"},
        training_config={"crossval": dataclasses.asdict(config), "command": _command(),
                         "trained_sha256": sorted({pool.records[i].sha256 for i in np.flatnonzero(trained_rows(pool))
                                                   if pool.records[i].sha256})},
    )
    return save_checkpoint(out / "model", model, meta)


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
