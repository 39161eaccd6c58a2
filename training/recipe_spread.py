"""python -m skinfindings.training.recipe_spread --real R --faces F [F ...] --composites C [C ...] --out runs/spread

The recipe search's second round: how much the pick's numbers move when only the fold assignment changes (run-to-run
spread), and whether training the last stage instead of a linear probe beats it; then the later rounds (3: larger
inputs; 4: source weights; 5: C chosen inside each fold, attention pooling; 6: an earlier block's pooled output too;
7: the input's colour statistics too; 8-11: trained on recompressed copies too, and measured on recompressed photos).
Each recipe is cross-validated exactly as ``skinfindings crossval`` does, once per fold seed, and scored by the first
round's measure (``probe_search.measure``: five out-of-fold AUROCs minus the faces' excess "possible" rate). Each
round's rule (``RULES``) was written and committed before it ran. Results: OUT/results.json and OUT/results.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from skinfindings.findings import FINDINGS
from skinfindings.training import crossval
from skinfindings.training.attention_pool import attention_logits, fit_attention
from skinfindings.training.crossval import COMPOSITES, REAL, SOURCES, CrossValConfig, draw_weights
from skinfindings.training.metrics import per_finding_auroc
from skinfindings.training.probe import FeatureMaps, base_arch, fit_probe, probe_features, recompressed
from skinfindings.training.probe_search import ESCALATING, measure

ROUND_2 = """Selection rule of round 2 (fixed before it ran):
1. Candidates, both Lite0 at 224 px with average and maximum pooling (so the same forward time): the shipped linear
   probe, and the last stage and head trained on cached frozen early stages (crossval's "tail" recipe: cut 7, 2
   augmented views, 4 epochs of 768 draws, AdamW lr 1e-3, fresh head).
2. Each is cross-validated with fold seeds 0-4 (5 folds each, grouped by patient and person) and scored by round 1's
   score (mean of the five AUROCs minus the faces' "possible" rate above 0.15).
3. The tail replaces the probe only if its mean score over the seeds beats the probe's by more than the larger of
   0.005 and the probe's standard deviation over the seeds; otherwise the probe stays."""
ROUND_3 = """Selection rule of round 3 (fixed before it ran):
1. Round 1 kept only candidates whose forward pass took at most 20 ms, a proxy, measured on a busy machine, for the
   60 ms budget. Round 3 measures the budget itself, for the pick's backbone (Lite0: no new dependency) at the two
   larger sizes round 1 tried, 320 and 448 px, average and maximum pooling, against the pick (Lite0 224).
2. Eligible: `skinfindings bench --quick --no-decode-memory --checkpoint C` gives a 12-MP JPEG -> findings median of
   at most 60 ms and weights of at most 10 MB; the three checkpoints are benched back to back on this machine.
3. Score: round 1's score, mean over fold seeds 0-4.
4. The best eligible challenger replaces the pick only if its mean score beats the pick's by more than the larger of
   0.005 and the pick's standard deviation over the seeds; otherwise the pick stays.
Written after round 1's table was known (the larger sizes scored higher on its one fold assignment), so a change it
brings is partly selected on numbers already seen; fold seeds 1-4 and the benchmark are new measurements."""
ROUND_4 = """Selection rule of round 4 (fixed before it ran):
1. Candidates, all Lite0 224 px average and maximum pooling linear probes (the same forward time): the pick (every
   source's training weight 1), the ordinary faces and their crops weighted 3, and the faces and the composites
   weighted 3.
2. Score: round 1's score, mean over fold seeds 0-4.
3. The best challenger replaces the pick only if its mean score beats the pick's by more than the larger of 0.005 and
   the pick's standard deviation over the seeds; otherwise the pick stays.
Written after the faces' "possible" rate (29%) was known to miss its 15% goal, and aimed at it."""
ROUND_5 = """Selection rule of round 5 (fixed before it ran):
1. Candidates, all on Lite0's 224-px features (one backbone pass, so round 3's measured time budget holds), the
   ordinary faces and their crops weighted 3 as shipped:
   a. the pick: the average and maximum pooling linear probe, C 0.003;
   b. the same probe with C chosen per finding inside each training fold (nested: the training rows' own grouped
      folds are the inner folds; C from 0.001, 0.003, 0.01, 0.03; the highest mean inner AUROC on the source that
      finding is judged on wins, real photos for erythema, crusting and hyperpigmentation, composites for milia and
      pustules; ties go to the smaller C);
   c. attention pooling over the 7 x 7 feature map (training/attention_pool.py: per finding a softmax attention
      over positions and a linear score, starting from uniform attention, L2 strength C 0.003 as the probe's,
      full-batch L-BFGS, at most 300 iterations).
2. Score: round 1's score, mean over fold seeds 0-4.
3. The best challenger replaces the pick only if its mean score beats the pick's by more than the larger of 0.005 and
   the pick's standard deviation over the seeds; otherwise the pick stays. Attention pooling, if it wins, ships only
   after `skinfindings bench --quick --no-decode-memory` shows it within 60 ms and 10 MB.
Written after rounds 1-4 were known; its challengers are the two axes the issue names that no round had tried (the
probe's strength, chosen without seeing the held-out fold; attention pooling). Before it was committed, attention
pooling was timed on one fold of fold seed 0 (to size the L-BFGS iterations), and that fold's AUROCs were seen."""
ROUND_6 = """Selection rule of round 6 (fixed before it ran):
1. Candidates, all from one pass of Lite0 at 224 px, the ordinary faces and their crops weighted 3 as shipped, C 0.003:
   a. the pick: the linear probe on the last feature map's average and maximum;
   b. the same probe also given the average and maximum of block 2's output (28 x 28, 40 channels, stride 8);
   c. the same probe also given the average and maximum of block 4's output (14 x 14, 112 channels, stride 16).
2. Score: round 1's score, mean over fold seeds 0-4.
3. The best challenger replaces the pick only if its mean score beats the pick's by more than the larger of 0.005 and
   the pick's standard deviation over the seeds; otherwise the pick stays. A winner ships only after
   `skinfindings bench --quick --no-decode-memory` shows it within 60 ms and 10 MB.
Written after rounds 1-5 were known and aimed at what they left short: milia and pustules on the composites (round 3
showed that finer detail helps them, and that a larger input does not fit the time budget). No number of either
challenger was seen before this rule was committed."""
ROUND_7 = """Selection rule of round 7 (fixed before it ran):
1. Candidates, both from one pass of Lite0 at 224 px, the ordinary faces and their crops weighted 3 as shipped, C 0.003:
   a. the pick (round 6): the linear probe on the last feature map's average and maximum and block 4's;
   b. the same probe also given 12 colour statistics of the model's input in CIELAB (model/colour_stats.py: on the
      input averaged in 4 x 4 pixel blocks, for L*, a* and b* each the mean, the standard deviation, and the means
      of the highest and of the lowest tenth).
2. Score: round 1's score, mean over fold seeds 0-4.
3. The challenger replaces the pick only if its mean score beats the pick's by more than the larger of 0.005 and the
   pick's standard deviation over the seeds; otherwise the pick stays. A winner ships only after
   `skinfindings bench --quick --no-decode-memory` shows it within 60 ms and 10 MB.
Written after rounds 1-6 were known and aimed at what they left shortest on the real photos: erythema (0.82 against
0.88) and hyperpigmentation (0.72 against 0.80) are colour findings, redness and darkening against the skin around,
and an ImageNet backbone is trained with colour augmentation to be partly blind to such shifts. No number of the
challenger was seen before this rule was committed."""
ROUND_8 = """Selection rule of round 8 (fixed before it ran):
1. Candidates, both from one pass of Lite0 at 224 px, block 4 read as shipped, the ordinary faces and their crops
   weighted 3, C 0.003:
   a. the pick (round 6);
   b. the same probe, also trained on a recompressed copy of every training photo and its mirror image: the photo
      decoded as the app decodes it and re-saved as a JPEG at a quality drawn from 30 to 90 (the same for a photo on
      every run), with the photo's labels and weight. Scoring still reads the photos as they are.
2. Two measures, each a mean over fold seeds 0-4:
   - round 1's score, on the photos as they are;
   - recompressed faces: the share of the ordinary faces and crops without labelled crusting or pustules that reach
     a rule-out point for crusting or pustules when each is re-saved as a JPEG at quality 50; out-of-fold by
     person, with the calibration and operating points fitted on the other folds' photos as they are.
3. The challenger replaces the pick only if its recompressed-faces share is lower than the pick's by more than the
   larger of 0.02 and twice the pick's standard deviation over the seeds, and its score is not below the pick's by
   more than the pick's standard deviation. A winner ships only after `skinfindings bench --quick
   --no-decode-memory` shows it within 60 ms and 10 MB.
Written after an exploration of the pick (not in the repository) re-saved the ordinary faces and crops as JPEGs:
out-of-fold, 35% of them reached a rule-out point for crusting or pustules at quality 50 (43% at 30, 28% at 75),
against 14% as they are; sensor-like noise alone did not raise it. Messaging apps and e-mail re-save the photos
patients send. No number of the challenger was seen before this rule was committed."""
ROUND_9 = """Selection rule of round 9 (fixed before it ran):
1. Candidates, all from one pass of Lite0 at 224 px, block 4 read as shipped, the ordinary faces and their crops
   weighted 3, C 0.003:
   a. the pick (round 6);
   b. the pick also trained on recompressed copies as in round 8, but at a quality drawn from 60 to 95 (the range
      messaging apps and e-mail mostly use), at the photo's weight;
   c. the pick also trained on round 8's copies (quality 30 to 90), at half the photo's weight.
2. Measures, as in round 8, each a mean over fold seeds 0-4: round 1's score on the photos as they are, and the
   share of the ordinary faces and crops without labelled crusting or pustules that reach a rule-out point for
   crusting or pustules when re-saved as a JPEG at quality 50 (out-of-fold by person).
3. Of the challengers whose score is not below the pick's by more than the pick's standard deviation over the seeds,
   the one with the lowest recompressed-faces share replaces the pick if that share is lower than the pick's by more
   than the larger of 0.02 and twice the pick's standard deviation; otherwise the pick stays. A winner ships only
   after `skinfindings bench --quick --no-decode-memory` shows it within 60 ms and 10 MB.
Written after round 8 was known: its challenger cut the recompressed faces' share from 0.33 to 0.22 but lost 0.012
of score, all of it on the faces as they are (0.17 against 0.13 at a rule-out point; the five AUROCs' mean was
unchanged). Milder copies, or copies at half weight, might keep the first without the second. The two variants were
chosen after seeing round 8, so a change this round brings is partly selected on its numbers; no number of either
challenger was seen before this rule was committed."""
ROUND_10 = """Selection rule of round 10 (fixed before it ran):
1. Candidates, both from one pass of Lite0 at 224 px, block 4 read as shipped, the ordinary faces and their crops
   weighted 3, C 0.003:
   a. the pick (round 6);
   b. the pick also trained on round 8's re-saved copies (quality 30 to 90) of the ordinary faces and their crops
      only, at the photo's weight; the copies of the lesion photos and the composites do not train.
2. Measures, each a mean over fold seeds 0-4: round 1's score on the photos as they are; the share of the ordinary
   faces and crops without labelled crusting or pustules at a rule-out point for either when re-saved at JPEG quality
   50 (round 8's); and the share of the real photos with labelled crusting or pustules at a rule-out point for either
   when re-saved at quality 50.
3. The challenger replaces the pick only if its score is not below the pick's by more than the pick's standard
   deviation over the seeds, its re-saved faces' share is lower than the pick's by more than the larger of 0.02 and
   twice the pick's standard deviation, and its re-saved real photos' share is not lower than the pick's by more than
   0.05 (two of 43 photos). A winner ships only after `skinfindings bench --quick --no-decode-memory` shows it within
   60 ms and 10 MB.
Written after rounds 8 and 9 were known: copies of every photo calmed re-saved faces but made the faces as taken less
calm, perhaps because re-saved drawn findings taught the probe that a smoothed texture can carry a finding. Copies
of the faces alone teach only that re-saving does not make a finding; the third condition guards against the opposite
mistake, re-saved crusts or pustules taken for ordinary skin. No number of the challenger was seen before this rule
was committed."""
ROUND_11 = """Selection rule of round 11 (fixed before it ran):
1. Candidates, all from one pass of Lite0 at 224 px, block 4 read as shipped, the ordinary faces and their crops
   weighted 3, C 0.003; a copy at weight 0 is now left out of the probe's fit altogether (in round 10 it still
   entered the standardisation, the balanced class weights and the weights' mean; the pick has no such views and does
   not change):
   a. the pick (round 6);
   b. round 10's challenger, so fitted: re-saved copies (quality 30 to 90) of the ordinary faces and their
      crops only, at the photo's weight;
   c. the same copies at half the photo's weight;
   d. the same copies at a quarter of the photo's weight.
2. Measures, as in round 10, each a mean over fold seeds 0-4: round 1's score on the photos as they are; the share of
   the ordinary faces and crops without labelled crusting or pustules at a rule-out point for either when re-saved
   at JPEG quality 50; the share of the real photos with labelled crusting or pustules at a rule-out point for
   either when re-saved at quality 50. Reported, in no rule: the real photos' out-of-fold AUROCs when re-saved.
3. Round 10's decision: of the challengers whose score is not below the pick's by more than the pick's standard
   deviation over the seeds and whose re-saved real photos' share is not lower than the pick's by more than 0.05,
   the one with the lowest re-saved faces' share replaces the pick if that share is lower than the pick's by more
   than the larger of 0.02 and twice the pick's standard deviation. A winner ships only after `skinfindings bench
   --quick --no-decode-memory` shows it within 60 ms and 10 MB.
Written after round 10 was known: its challenger cut the re-saved faces' share from 0.33 to 0.05 and lost 0.011 of
score where 0.009 was allowed (erythema and crusting); lighter copies might keep most of the first and lose less of
the second. The weights were chosen after seeing round 10, so a change this round brings is partly selected on its
numbers; no number of the lighter challengers, nor of round 10's so fitted, was seen before this rule was committed."""
RULES = {2: ROUND_2, 3: ROUND_3, 4: ROUND_4, 5: ROUND_5, 6: ROUND_6, 7: ROUND_7, 8: ROUND_8, 9: ROUND_9,
         10: ROUND_10, 11: ROUND_11}
RECOMPRESSED_FACES_QUALITY = 50  # round 8's measure
REAL_FINDINGS = ("erythema", "crusting", "hyperpigmentation")  # judged on the real photos (round 1's score)
FINDING_COLUMNS = (*(("real", f) for f in REAL_FINDINGS), ("composites", "milia"), ("composites", "pustules"))


PICK = "efficientnet_lite0_avgmax:224"


EVEN = (1.0,) * len(SOURCES)


@dataclass(frozen=True)
class Candidate:
    recipe: str  # "probe", "tail", "nested-c" (the probe, C chosen inside each training fold), "attention",
    # "blockN" (the probe also given block N's pooled output), "colour" (also given the colour statistics) or
    # "recompressed" (also trained on recompressed copies of its photos)
    arch: str
    input_size: int
    source_weights: tuple[float, ...] = EVEN  # each source's share of the training weight, in SOURCES order

    @property
    def name(self) -> str:
        weights = "" if self.source_weights == EVEN else ", " + ", ".join(
            f"{s} {w:g}" for s, w in zip(SOURCES, self.source_weights) if w != 1)
        return f"{self.recipe} {self.arch.removeprefix('efficientnet_')} {self.input_size}{weights}"


def parse_probe(text: str) -> Candidate:
    """``ARCH:SIZE`` or ``ARCH:SIZE:W,W,W,W`` (source weights in crossval's SOURCES order: real, composites,
    synthetic, faces)."""
    arch, size, *weights = text.split(":")
    source_weights = tuple(float(w) for w in weights[0].split(",")) if weights else EVEN
    if len(source_weights) != len(SOURCES):
        raise SystemExit(f"recipe_spread: {text!r}: give one weight per source {SOURCES}")
    return Candidate("probe", arch, int(size), source_weights)


# A challenger named after an architecture suffix is the probe on the first probe's architecture with that suffix.
SUFFIX_CHALLENGERS = ("block2", "block4", "colour")
# The probe also trained on recompressed copies, rounds 8-11: (quality range, weight of a copy, the sources whose
# copies train; empty: every source's).
RECOMPRESSED_CHALLENGERS = {"recompressed": ((30, 90), 1.0, ()), "recompressed-mild": ((60, 95), 1.0, ()),
                            "recompressed-half": ((30, 90), 0.5, ()),
                            "recompressed-faces": ((30, 90), 1.0, ("faces",)),
                            "recompressed-faces-half": ((30, 90), 0.5, ("faces",)),
                            "recompressed-faces-quarter": ((30, 90), 0.25, ("faces",))}
CHALLENGERS = ("nested-c", "attention", *SUFFIX_CHALLENGERS, *RECOMPRESSED_CHALLENGERS)


def candidates(probes: list[str], tail: bool, challengers: list[str] = ()) -> list[Candidate]:
    """The probes; the tail at the pick's architecture and size; each challenger with the first probe's backbone,
    size and source weights."""
    arch, size = PICK.split(":")
    probes = [parse_probe(p) for p in probes]
    return (probes + ([Candidate("tail", arch, int(size))] if tail else [])
            + [dataclasses.replace(probes[0], recipe=name) for name in challengers])


C_GRID = (0.001, 0.003, 0.01, 0.03)
JUDGED_ON = {"erythema": REAL, "crusting": REAL, "hyperpigmentation": REAL, "milia": COMPOSITES,
             "pustules": COMPOSITES}  # the source each finding's score is read on (round 1's score)


def inner_choice(features: np.ndarray, pool: crossval.Pool, rows: np.ndarray,
                 source_weights: list[float]) -> np.ndarray:
    """Per finding, the C of ``C_GRID`` whose probe scores the highest mean AUROC over the inner folds (the rows'
    own grouped folds), read on the source that finding is judged on; the first of equals, so the smaller C.
    Only ``rows`` are read."""
    inner = np.zeros((len(C_GRID), len(FINDINGS)))
    folds = sorted(set(pool.fold[rows]) - {-1})
    for fold in folds:
        train, test = rows[pool.fold[rows] != fold], rows[pool.fold[rows] == fold]
        weights = draw_weights(pool, train, source_weights)
        for j, c in enumerate(C_GRID):
            logits = fit_probe(features[train], pool.labels[train], weights, c).logits(features[test, 0])
            for k, finding in enumerate(FINDINGS):
                judged = pool.source[test] == JUDGED_ON[finding]
                inner[j, k] += per_finding_auroc(pool.labels[test][judged], logits[judged])[finding] / len(folds)
    return np.array([C_GRID[j] for j in np.argmax(np.nan_to_num(inner, nan=-np.inf), axis=0)])


class NestedCProbe(crossval.ProbeRecipe):
    """The linear probe with C chosen per finding on the training rows alone (``inner_choice``), so the held-out
    fold never sees the choice."""

    def __init__(self, pool: crossval.Pool, config: CrossValConfig):
        super().__init__(pool, config)
        self.chosen: list[dict[str, float]] = []

    def fit(self, rows: np.ndarray, seed: int) -> None:
        self.c = inner_choice(self.features, self.pool, rows, self.config.source_weights)
        self.chosen.append(dict(zip(FINDINGS, self.c.tolist())))
        super().fit(rows, seed)


class AttentionRecipe(crossval.Recipe):
    """Attention pooling over the frozen backbone's cached last feature maps (training/attention_pool.py)."""

    def __init__(self, pool: crossval.Pool, config: CrossValConfig):
        self.pool, self.config = pool, config
        features = FeatureMaps(base_arch(config.arch), config.input_size)
        self.origin, self.maps = features.origin, features.of(pool.paths)

    def fit(self, rows: np.ndarray, seed: int) -> None:  # deterministic: L-BFGS from uniform attention
        weights = draw_weights(self.pool, rows, self.config.source_weights)
        self.head = fit_attention(self.maps[rows], self.pool.labels[rows], weights, self.config.probe_c)

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return attention_logits(self.head, self.maps[rows, 0])  # view 0: the photo as the Predictor sees it


def make_recipe(pool: crossval.Pool, config: CrossValConfig) -> crossval.Recipe:
    if config.recipe in SUFFIX_CHALLENGERS:  # the probe whose architecture also reads that (model/registry.py)
        finer = f"{config.arch}_{config.recipe}"
        return crossval.ProbeRecipe(pool, dataclasses.replace(config, recipe="probe", arch=finer))
    if config.recipe in RECOMPRESSED_CHALLENGERS:  # the probe also trained on recompressed copies (training/probe.py)
        quality, weight, sources = RECOMPRESSED_CHALLENGERS[config.recipe]
        recompressing = dataclasses.replace(config, recipe="probe", recompressed_quality=list(quality),
                                            recompressed_weight=weight, recompressed_sources=list(sources))
        return crossval.ProbeRecipe(pool, recompressing)
    if config.recipe == "nested-c":
        return NestedCProbe(pool, dataclasses.replace(config, recipe="probe"))
    if config.recipe == "attention":
        return AttentionRecipe(pool, config)
    return crossval.make_recipe(pool, config)


class RecompressedFaces:
    """The ordinary faces and crops without labelled crusting or pustules, each re-saved as a JPEG of one quality
    (round 8's measure: what a messaging app makes of the photo of a face with nothing to report); and, to see
    whether re-saving also hides what must not be missed, the real photos, re-saved the same way (those with
    labelled crusting or pustules: are they still flagged; all of them: the AUROCs, round 11 on)."""

    def __init__(self, pool: crossval.Pool, quality: int = RECOMPRESSED_FACES_QUALITY):
        held_out = pool.fold >= 0
        escalating = np.any(pool.labels[:, ESCALATING] == 1, axis=1)
        faces = np.flatnonzero((pool.source == crossval.FACES) & held_out & ~escalating)
        real = np.flatnonzero((pool.source == crossval.REAL) & held_out)
        self.rows = np.concatenate([faces, real])
        self.is_face = np.arange(len(self.rows)) < len(faces)
        self.is_escalating_real = ~self.is_face & escalating[self.rows]
        self.copies = [recompressed(pool.paths[i], quality) for i in self.rows]
        self.features: dict[tuple[str, int], np.ndarray] = {}

    def share(self, recipe: crossval.ProbeRecipe, pool: crossval.Pool, config: CrossValConfig) -> dict[str, float]:
        """Shares of the faces' copies at or above a rule-out point ("possible_or_likely") and a rule-in point
        ("likely") for crusting or pustules, and of the real photos with them at or above a rule-out point, as
        taken ("real_flagged") and re-saved ("real_flagged_recompressed"): each scored by the fold model that never
        saw the person or patient, calibrated as that fold's photos are (on the other folds' photos as taken). And
        the real photos' AUROCs re-saved ("real_auroc_recompressed"), on the pooled out-of-fold logits as
        ``probe_search.measure`` reads the photos as taken."""
        key = (recipe.arch, recipe.input_size)
        if key not in self.features:  # the same copies for every fold seed
            self.features[key] = probe_features(recipe.arch, recipe.input_size, self.copies)[0][:, 0]
        logits = np.full((len(pool.paths), len(FINDINGS)), np.nan)
        copies = np.full((len(self.rows), len(FINDINGS)), np.nan)
        for fold in range(config.folds):
            recipe.fit(crossval.fold_training_rows(pool, fold), config.seed + fold)
            mine = np.flatnonzero(pool.fold == fold)
            logits[mine] = recipe.logits(mine)
            copies[pool.fold[self.rows] == fold] = recipe.probe.logits(self.features[key][pool.fold[self.rows] == fold])
        possible, likely, as_taken = (np.zeros(len(self.rows), bool) for _ in range(3))
        for fold in range(config.folds):
            others = np.flatnonzero((pool.fold >= 0) & (pool.fold != fold))
            calibration = crossval.fit_calibration(pool, logits, others, config)
            mine = pool.fold[self.rows] == fold
            rule_out, rule_in = calibration.rule_out[ESCALATING], calibration.rule_in[ESCALATING]
            probabilities = calibration.probabilities(copies[mine])[:, ESCALATING]
            possible[mine] = np.any(probabilities >= rule_out, axis=1)
            likely[mine] = np.any(probabilities >= rule_in, axis=1)
            taken = calibration.probabilities(logits[self.rows[mine]])[:, ESCALATING]
            as_taken[mine] = np.any(taken >= rule_out, axis=1)
        face, real, escalating = self.is_face, ~self.is_face, self.is_escalating_real
        auroc = per_finding_auroc(pool.labels[self.rows[real]], copies[real])
        return {"possible_or_likely": float(possible[face].mean()), "likely": float(likely[face].mean()),
                "real_flagged": float(as_taken[escalating].mean()),
                "real_flagged_recompressed": float(possible[escalating].mean()),
                "real_auroc_recompressed": {f: auroc[f] for f in REAL_FINDINGS}}


def recipe_config(base: CrossValConfig, candidate: Candidate) -> CrossValConfig:
    return dataclasses.replace(base, recipe=candidate.recipe, arch=candidate.arch, input_size=candidate.input_size,
                               source_weights=list(candidate.source_weights))


def run(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    base = CrossValConfig(real=args.real, faces=args.faces, composites=args.composites, out=str(out),
                          folds=args.folds, final=False, report=False, baseline_probe=False)
    pools = {seed: crossval.build_pool(dataclasses.replace(base, seed=seed)) for seed in args.fold_seeds}
    first = pools[args.fold_seeds[0]]
    # Only the folds differ between seeds: the recipe (and its feature cache) is built once, on the first pool.
    assert all(p.paths == first.paths for p in pools.values()), "the pool's photos must not depend on the fold seed"
    results = []
    chosen = candidates(args.probes, args.tail, args.challengers)
    faces = RecompressedFaces(first, args.recompressed_faces_quality) if args.round >= 8 else None
    for candidate in chosen:
        recipe = make_recipe(first, recipe_config(base, candidate))
        for seed, pool in pools.items():
            config = dataclasses.replace(recipe_config(base, candidate), seed=seed)
            results.append({"recipe": candidate.name, "fold_seed": seed, **measure(recipe, pool, config)})
            if faces is not None:
                shares = faces.share(recipe, pool, config)
                results[-1]["faces"]["recompressed"] = shares["possible_or_likely"]
                results[-1]["faces"]["recompressed likely"] = shares["likely"]
                results[-1]["real_flagged"] = {"as taken": shares["real_flagged"],
                                               "recompressed": shares["real_flagged_recompressed"]}
                results[-1]["real_recompressed"] = shares["real_auroc_recompressed"]
            if isinstance(recipe, NestedCProbe):  # what each fold chose, and nothing kept for the next seed
                results[-1]["chosen_c"], recipe.chosen = recipe.chosen, []
            print(json.dumps({k: results[-1][k] for k in ("recipe", "fold_seed", "mean5", "score")}), flush=True)
            (out / "results.json").write_text(json.dumps({"rule": RULES[args.round], "results": results}, indent=2) + "\n")
    summary = {c.name: spread([r for r in results if r["recipe"] == c.name]) for c in chosen}
    if args.round >= 10:  # round 10 also guards the re-saved real photos with crusting or pustules
        verdict = decide_guarding_real(summary, results, chosen[0].name)
    else:
        verdict = (decide_on_recompressed if faces is not None else decide)(summary, chosen[0].name)
    (out / "results.json").write_text(json.dumps({"rule": RULES[args.round], "results": results, "summary": summary,
                                                  "verdict": verdict}, indent=2) + "\n")
    (out / "results.md").write_text(table(RULES[args.round], results, summary, verdict)
                                    + (real_flagged_table(results, args.recompressed_faces_quality) if faces else ""))
    return {"summary": summary, "verdict": verdict}


def spread(rows: list[dict]) -> dict:
    """Mean and standard deviation (ddof 1) over fold seeds of each number the table shows."""
    columns = {f"{source}:{finding}": [r[source][finding] for r in rows] for source, finding in FINDING_COLUMNS}
    columns["faces possible"] = [r["faces"]["possible_or_likely"] for r in rows]
    columns["faces likely"] = [r["faces"]["likely"] for r in rows]
    if all("recompressed" in r["faces"] for r in rows):
        columns["faces recompressed"] = [r["faces"]["recompressed"] for r in rows]
        columns["faces recompressed likely"] = [r["faces"]["recompressed likely"] for r in rows]
    columns["score"] = [r["score"] for r in rows]
    return {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
            for k, v in columns.items()}


def decide(summary: dict, incumbent: str) -> str:
    """The best challenger replaces the incumbent only if its mean score beats the incumbent's by more than the
    larger of 0.005 and the incumbent's standard deviation over the fold seeds."""
    if len(summary) < 2:
        return "only one candidate measured: nothing to decide"
    held = summary[incumbent]["score"]
    name = max((n for n in summary if n != incumbent), key=lambda n: summary[n]["score"]["mean"])
    best = summary[name]["score"]
    margin = max(0.005, held["sd"])
    if best["mean"] - held["mean"] > margin:
        return f"{name} replaces {incumbent}: {best['mean']:.3f} vs {held['mean']:.3f} (margin {margin:.3f})"
    return (f"{incumbent} stays: the best challenger, {name}, {best['mean']:.3f} vs {held['mean']:.3f} "
            f"(needed more than +{margin:.3f})")


def decide_guarding_real(summary: dict, results: list[dict], incumbent: str, allowed: float = 0.05) -> str:
    """Round 10: round 8's decision among the challengers whose re-saved real photos with crusting or pustules reach
    a rule-out point not less often than the incumbent's by more than ``allowed``."""
    share = {name: np.mean([r["real_flagged"]["recompressed"] for r in results if r["recipe"] == name])
             for name in summary}
    guarded = {n: summary[n] for n in summary if n == incumbent or share[incumbent] - share[n] <= allowed}
    dropped = [f"{n} misses re-saved crusts or pustules: {share[n]:.3f} vs {share[incumbent]:.3f}"
               for n in summary if n not in guarded]
    return "; ".join([decide_on_recompressed(guarded, incumbent), *dropped])


def real_flagged_table(results: list[dict], quality: int) -> str:
    """Rounds 8 on: the real photos with labelled crusting or pustules told "soon" or given one to watch (at a rule-out
    point for either), as taken and re-saved; round 11 on, also the real photos' AUROCs re-saved. Mean ± sd over fold
    seeds per recipe (not part of any rule)."""
    aurocs = all("real_recompressed" in r for r in results)
    columns = [("real_flagged", "as taken"), ("real_flagged", "recompressed")] + (
        [("real_recompressed", f) for f in REAL_FINDINGS] if aurocs else [])
    lines = ["", f"Real photos with labelled crusting or pustules at a rule-out point for either, as taken and "
             f"re-saved as a JPEG at quality {quality}" + (", and the real photos' AUROCs re-saved" if aurocs else "")
             + " (mean ± sd over fold seeds):", "",
             "| recipe | as taken | re-saved |" + (" erythema re-saved | crusting re-saved | hyperpig. re-saved |"
                                                     if aurocs else ""), "|---" * (len(columns) + 1) + "|"]
    for name in dict.fromkeys(r["recipe"] for r in results):
        cells = []
        for group, kind in columns:
            values = [r[group][kind] for r in results if r["recipe"] == name]
            cells.append(f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def decide_on_recompressed(summary: dict, incumbent: str) -> str:
    """Rounds 8 and 9: of the challengers whose score is no lower than the incumbent's by more than the incumbent's
    standard deviation, the calmest on recompressed faces replaces the incumbent if it is calmer than the incumbent
    by more than the larger of 0.02 and twice the incumbent's standard deviation."""
    held = summary[incumbent]
    needed = max(0.02, 2 * held["faces recompressed"]["sd"])

    def said(name: str) -> str:
        mine = summary[name]
        return (f"{name}: recompressed faces {mine['faces recompressed']['mean']:.3f} vs "
                f"{held['faces recompressed']['mean']:.3f} (needed lower by more than {needed:.3f}), score "
                f"{mine['score']['mean']:.3f} vs {held['score']['mean']:.3f} "
                f"(allowed lower by {held['score']['sd']:.3f})")

    challengers = [n for n in summary if n != incumbent]
    kept = [n for n in challengers if held["score"]["mean"] - summary[n]["score"]["mean"] <= held["score"]["sd"]]
    best = min(kept, key=lambda n: summary[n]["faces recompressed"]["mean"], default=None)
    if best is not None and held["faces recompressed"]["mean"] - summary[best]["faces recompressed"]["mean"] > needed:
        return f"{best} replaces {incumbent}: {said(best)}"
    return f"{incumbent} stays: " + ("; ".join(said(n) for n in challengers) or "no challenger measured")


def table(rule: str, results: list[dict], summary: dict, verdict: str) -> str:
    recompressed = all("recompressed" in r["faces"] for r in results)  # round 8 on
    header = ("| recipe | fold seed | erythema | crusting | hyperpig. | milia (comp.) | pustules (comp.) | "
              "faces possible | faces likely | "
              + ("faces recompressed possible | faces recompressed likely | " if recompressed else "") + "score |")
    lines = [rule, "", header, "|" + "---|" * (12 if recompressed else 10)]
    for r in results:
        numbers = ([r[s][f] for s, f in FINDING_COLUMNS] + [r["faces"]["possible_or_likely"], r["faces"]["likely"]]
                   + ([r["faces"]["recompressed"], r["faces"]["recompressed likely"]] if recompressed else [])
                   + [r["score"]])
        lines.append(f"| {r['recipe']} | {r['fold_seed']} | " + " | ".join(f"{x:.3f}" for x in numbers) + " |")
    for name, columns in summary.items():
        lines.append(f"| **{name}: mean ± sd** | | "
                     + " | ".join(f"{c['mean']:.3f} ± {c['sd']:.3f}" for c in columns.values()) + " |")
    return "\n".join(lines + ["", f"Verdict: {verdict}"]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skinfindings.training.recipe_spread",
                                     description=__doc__.split("\n\n")[1])
    parser.add_argument("--real", required=True)
    parser.add_argument("--faces", nargs="*", default=[])
    parser.add_argument("--composites", nargs="*", default=[])
    parser.add_argument("--out", required=True)
    parser.add_argument("--probes", nargs="+", default=[PICK],
                        help="linear probes as ARCH:SIZE; the first is the incumbent (default: the round-1 pick)")
    parser.add_argument("--tail", action=argparse.BooleanOptionalAction, default=True,
                        help="also the trained last stage at the pick's architecture and size (round 2)")
    parser.add_argument("--challengers", nargs="*", choices=CHALLENGERS, default=[],
                        help="round 5: the probe with C chosen inside each training fold, attention pooling; "
                             "round 6: the probe also given block 2's or block 4's pooled output; "
                             "round 7: the probe also given the input's colour statistics; "
                             "rounds 8-11: the probe also trained on recompressed copies of its photos")
    parser.add_argument("--round", type=int, choices=sorted(RULES), default=2, help="the rule the results print")
    parser.add_argument("--recompressed-faces-quality", type=int, default=RECOMPRESSED_FACES_QUALITY,
                        help="rounds 8 on: the JPEG quality the ordinary faces are re-saved at for their measure")
    parser.add_argument("--fold-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    print(json.dumps(run(parser.parse_args(argv)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
