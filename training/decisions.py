"""Decision-level results: what the app and the pre-sort would tell people about each evaluated photo.

The model's scores are not what anyone reads. For every photo, and for each scenario (treatment and day, no
red flags), this module asks the app's own functions: ``priority.decide`` (the one decision the notice, the
cards, the report and the worklist read) and ``guidance.urgency`` (the notice built from it). It then scores
those decisions against the labels, with grouped-bootstrap intervals:

* "soon" (the notice says contact your provider soon, or now): its share among photos without labelled
  crusting or pustules (false alarms), its sensitivity among photos with them, and "soon or watch" (the notice
  names a *possible* crust or pustule to watch for) among them and among photos without them (how often a calm
  photo still gets a line to watch);
* the pre-sort's "review first" tier (or urgent): the same shares, and its precision;
* the share of assessed photos shown any finding that their labels do not have.

    scenarios = [parse_scenario("microneedling:2"), parse_scenario("unknown:")]
    result = decision_results(labels, levels, assessed, probabilities, groups, scenarios, resamples=1000)
    print(decision_table([result_real, result_faces], ["real photos", "faces"]))   # the model card's table

``python -m skinfindings.training.decisions RUN_DIR [RUN_DIR ...]`` prints that table from evaluate output
folders (their metrics.json).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from skinfindings.findings import FINDINGS, NOT_SEEN
from skinfindings.training.bootstrap import group_ids, resample_weights, summarise
from skinfindings.training.metrics import evidence_shortfall, unit_weights

DAY_RANGE = (0, 365)  # the days the app accepts
DEFAULT_SCENARIOS = ("unknown:", "microneedling:2", "fractional_laser:5")


@dataclass(frozen=True)
class Scenario:
    """What the person told the app: the treatment (None: not given) and the days since it (None: not given)."""

    procedure: str | None
    day: int | None

    @property
    def name(self) -> str:
        return f"{self.procedure or 'unknown'}:{'' if self.day is None else self.day}"

    @property
    def words(self) -> str:
        treatment = self.procedure.replace("_", " ") if self.procedure else "treatment not given"
        day = "day not given" if self.day is None else f"day {self.day}"
        return f"{treatment}, {day}, no red flags"


def parse_scenario(text: str) -> Scenario:
    """'microneedling:2', 'fractional_laser:5', 'unknown:' (treatment not given) -> Scenario; a clear error else."""
    from skinfindings.app.guidance import UNKNOWN_PROCEDURE, guidance

    procedure, colon, day = text.strip().partition(":")
    known = list(guidance().procedures)
    if not colon or procedure not in known:
        raise ValueError(f"scenario {text!r}: write TREATMENT:DAY with TREATMENT one of {known} and DAY a number "
                         "or empty (e.g. microneedling:2, unknown:)")
    if day.strip() and not (day.strip().isdigit() and DAY_RANGE[0] <= int(day) <= DAY_RANGE[1]):
        raise ValueError(f"scenario {text!r}: the day must be a whole number from {DAY_RANGE[0]} to {DAY_RANGE[1]}")
    return Scenario(None if procedure == UNKNOWN_PROCEDURE else procedure, int(day) if day.strip() else None)


@dataclass(frozen=True)
class PhotoDecision:
    """One photo in one scenario, as the app and the pre-sort would show it."""

    tier: str  # the pre-sort tier key (priority.TIERS)
    notice: str  # the notice's headline, as the patient reads it (guidance.urgency)
    soon: bool  # the notice says contact your provider soon (or now)
    watch: tuple[str, ...]  # possible crusting / pustules the notice names to watch for
    reasons: tuple[str, ...]


def decide_photo(levels: dict[str, str], assessed: bool, probabilities: dict[str, float] | None,
                 scenario: Scenario) -> PhotoDecision:
    """The app's decision and notice for one photo (no red flags, no series)."""
    from skinfindings.app.guidance import urgency
    from skinfindings.app.priority import decide

    decision = decide(levels=levels, assessed=assessed, probabilities=probabilities,
                      procedure=scenario.procedure, day=scenario.day)
    return PhotoDecision(decision.tier.key, urgency(decision).headline, decision.soon, tuple(decision.watch),
                         tuple(decision.reasons))


def photo_decisions(levels: Sequence[dict[str, str]], assessed: Sequence[bool], probabilities: np.ndarray,
                    scenario: Scenario) -> list[PhotoDecision]:
    return [decide_photo(lv, ok, dict(zip(FINDINGS, map(float, p))) if ok else None, scenario)
            for lv, ok, p in zip(levels, assessed, probabilities)]


def escalating_truth(labels: np.ndarray) -> np.ndarray:
    """Per photo: 1 if crusting or pustules is labelled, 0 if both are labelled absent, NaN otherwise."""
    from skinfindings.app.priority import ESCALATING

    columns = labels[:, [FINDINGS.index(f) for f in ESCALATING]]
    truth = np.where(np.isnan(columns).any(axis=1), np.nan, 0.0)
    truth[(columns == 1).any(axis=1)] = 1.0
    return truth


def false_finding(labels: np.ndarray, levels: Sequence[dict[str, str]]) -> np.ndarray:
    """Per photo: shown at least one finding (likely or possible) that its labels say is absent."""
    shown = np.array([[lv.get(f, NOT_SEEN) != NOT_SEEN for f in FINDINGS] for lv in levels], dtype=bool)
    return (shown & (labels == 0)).any(axis=1)


def share(hit: np.ndarray, among: np.ndarray, with_point: np.ndarray, ids: np.ndarray, reason: str | None) -> dict:
    """Share of ``among`` photos that are ``hit``, with its grouped-bootstrap interval (row 0 of the weights is
    the point estimate) and the photo counts behind it."""
    counts = with_point @ np.stack([hit & among, among], axis=1).astype(float)
    values = np.full(len(counts), np.nan)
    np.divide(counts[:, 0], counts[:, 1], out=values, where=counts[:, 1] > 0)
    if reason is None and not among.any():
        reason = "no photos"
    summary = summarise(values[0], values[1:], reason, len(np.unique(ids[among])) if among.any() else 0)
    return {**summary, "photos": int(among.sum()), "hits": int((hit & among).sum())}


def _scenario_rates(truth: np.ndarray, decisions: list[PhotoDecision], wrong: np.ndarray, assessed: np.ndarray,
                    with_point: np.ndarray, ids: np.ndarray) -> dict:
    soon = np.array([d.soon for d in decisions])
    review = np.array([d.tier in ("urgent", "review") for d in decisions])
    watched = soon | np.array([bool(d.watch) for d in decisions])
    positive, negative = truth == 1, truth == 0
    n_pos, n_neg = int(positive.sum()), int(negative.sum())
    needs_pos, needs_neg = (evidence_shortfall(n, n_pos, n_neg) for n in ("positives", "negatives"))
    known_review = review & ~np.isnan(truth)
    needs_both = evidence_shortfall("both", n_pos, n_neg)
    everyone = np.ones(len(truth), dtype=bool)
    return {
        "soon_without": share(soon, negative, with_point, ids, needs_neg),
        "soon_with": share(soon, positive, with_point, ids, needs_pos),
        "soon_or_watch_with": share(watched, positive, with_point, ids, needs_pos),
        "soon_or_watch_without": share(watched, negative, with_point, ids, needs_neg),
        "review_without": share(review, negative, with_point, ids, needs_neg),
        "review_with": share(review, positive, with_point, ids, needs_pos),
        "review_precision": share(positive, known_review, with_point, ids, needs_both),
        "soon_all": share(soon, everyone, with_point, ids, None),
        "review_all": share(review, everyone, with_point, ids, None),
        "false_finding": share(wrong, assessed, with_point, ids, None),
        "tiers": dict(Counter(d.tier for d in decisions)),
        "notices": dict(Counter(d.notice for d in decisions)),
    }


def decision_results(labels: np.ndarray, levels: Sequence[dict[str, str]], assessed: Sequence[bool],
                     probabilities: np.ndarray, groups: Sequence[str], scenarios: Sequence[Scenario], *,
                     resamples: int = 1000, seed: int = 0) -> tuple[dict, dict[str, list[PhotoDecision]]]:
    """Decision-level rates per scenario over every evaluated photo (a photo not assessed is "check"), and the
    per-photo decisions. Intervals: the evaluation's grouped bootstrap (same groups, seed and resamples)."""
    labels = np.asarray(labels, dtype=float)
    assessed = np.asarray(assessed, dtype=bool)
    ids = group_ids(list(groups))
    with_point = np.vstack([unit_weights(len(labels)), resample_weights(list(groups), resamples, seed)])
    truth = escalating_truth(labels)
    wrong = false_finding(labels, levels) & assessed
    per_photo = {s.name: photo_decisions(levels, assessed, probabilities, s) for s in scenarios}
    rates = {s.name: {"scenario": s.words, **_scenario_rates(truth, per_photo[s.name], wrong, assessed, with_point,
                                                             ids)}
             for s in scenarios}
    result = {"scenarios": rates, "default": scenarios[0].name if scenarios else None,
              "photos": int(len(labels)), "assessed": int(assessed.sum()),
              "with_escalating": int((truth == 1).sum()), "without_escalating": int((truth == 0).sum()),
              "escalating_unknown": int(np.isnan(truth).sum())}
    return result, per_photo


# --------------------------------------------------------------------------- tables

ROWS = (
    ("soon_without", "told \"contact your provider soon\", photos without labelled crusting/pustules"),
    ("soon_with", "told \"soon\", photos with labelled crusting/pustules (sensitivity)"),
    ("soon_or_watch_with", "told \"soon\" or a possible crust/pustule to watch, photos with them"),
    ("soon_or_watch_without", "told \"soon\" or a possible crust/pustule to watch, photos without them"),
    ("review_without", "pre-sort \"review first\" (or urgent), photos without crusting/pustules"),
    ("review_with", "pre-sort \"review first\", photos with crusting/pustules (sensitivity)"),
    ("review_precision", "pre-sort \"review first\": share with labelled crusting/pustules (precision)"),
    ("soon_all", "told \"soon\", all photos"),
    ("false_finding", "assessed photos shown a finding their labels say is absent"),
)


def rate_cell(summary: dict) -> str:
    """'12% (8–17%) [3/25]': the share with its interval, and the photos behind it."""
    from skinfindings.training.report import percent

    text = percent(summary)
    return text if summary["value"] is None else f"{text} [{summary['hits']}/{summary['photos']}]"


def decision_table(runs: Sequence[dict], names: Sequence[str], commands: bool = True) -> str:
    """Markdown: one column per run (its metrics.json) and scenario, one row per measure; then the commands."""
    from skinfindings.training.report import table

    columns = [(name, run, scenario) for run, name in zip(runs, names) for scenario in run["decisions"]["scenarios"]]
    header = ["measure (95% interval) [photos counted/photos]",
              *((f"{name}: " if name else "") + run["decisions"]["scenarios"][s]["scenario"] for name, run, s in columns)]
    rows = [[words, *(rate_cell(run["decisions"]["scenarios"][s][key]) for _, run, s in columns)]
            for key, words in ROWS]
    made = [f"- {name}: `{run['meta']['command']}` ({run.get('kind', 'checkpoint')})" for run, name in zip(runs, names)]
    return "\n".join([table(header, rows), "", *(["Made by:", *made, ""] if commands else [])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skinfindings.training.decisions",
                                     description="The decision-level table (Markdown) of evaluate output folders.")
    parser.add_argument("runs", nargs="+", help="evaluate output folders (or their metrics.json)")
    parser.add_argument("--name", action="append", default=[], help="column name per run (default: the folder)")
    args = parser.parse_args(argv)
    from skinfindings.training.compare import load_run

    runs = []
    for path in args.runs:
        try:
            run = load_run(path)
        except (FileNotFoundError, json.JSONDecodeError) as exc:
            parser.exit(2, f"decisions: {exc}\n")
        if "decisions" not in run:
            parser.exit(2, f"decisions: {path} has no decision-level results (an older evaluate run): run it again\n")
        runs.append(run)
    names = args.name + [Path(p).name for p in args.runs[len(args.name):]]
    print(decision_table(runs, names), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
