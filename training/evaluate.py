"""skinfindings evaluate --manifest M (--checkpoint C | --predictions FILE.csv) [--split test] --out DIR

Scores a checkpoint (through the Predictor, the app's own inference path) or a predictions file
(e.g. cross-validation's out-of-fold predictions) on the photos of a manifest and writes
``metrics.json``, ``report.md``, the plots and, for a checkpoint, ``predictions.csv`` into DIR.

The modules behind it (docs/evaluation.md explains each rule):

* ``training.metrics``: the metrics and the minimum-evidence rule;
* ``training.scoring``: ``evaluate_predictions``, the pure core (arrays in, metrics dict out);
* ``training.subgroups``, ``training.abstentions``, ``training.baselines``: their parts of the report;
* ``training.evaluate_runs``: ``evaluate_manifest`` and ``evaluate_predictions_file`` (files in, files out);
* this module: the command line.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from pathlib import Path

from skinfindings.training.decisions import DEFAULT_SCENARIOS, parse_scenario
from skinfindings.training.evaluate_runs import EvalConfig, evaluate_manifest, evaluate_predictions_file
from skinfindings.training.scoring import evaluate_predictions

__all__ = ["EvalConfig", "evaluate_manifest", "evaluate_predictions", "evaluate_predictions_file", "main"]


def _command(args: argparse.Namespace, config: EvalConfig) -> str:
    """The command that regenerates this run, with only the options that differ from the defaults."""
    scored = ["--predictions", args.predictions] if args.predictions else ["--checkpoint", args.checkpoint]
    parts = ["skinfindings", "evaluate", *scored, "--manifest", args.manifest]
    parts += ["--split", args.split] if args.split else []
    parts += ["--out", args.out]
    defaults = EvalConfig()
    for name in ("resamples", "seed", "bins", "folds", "device"):
        if getattr(config, name) != getattr(defaults, name):
            parts += [f"--{name}", str(getattr(config, name))]
    for column in config.by:
        parts += ["--by", column]
    if config.scenarios != EvalConfig.scenarios:
        for scenario in config.scenarios:
            parts += ["--scenario", scenario]
    parts += ["--probe-predictions", config.probe] if config.probe else []
    return shlex.join(parts)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skinfindings evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="manifest CSV of the photos to evaluate")
    scored = parser.add_mutually_exclusive_group()
    scored.add_argument("--checkpoint", default=None, help="checkpoint .json (default: shipped)")
    scored.add_argument("--predictions", metavar="FILE.csv",
                        help="score a predictions file (training/predictions.py format, e.g. out-of-fold) "
                             "instead of running a checkpoint")
    parser.add_argument("--split", default=None, help="evaluate one split (default: every row)")
    parser.add_argument("--out", required=True, help="folder for metrics.json, report.md and the plots")
    parser.add_argument("--resamples", type=int, default=EvalConfig.resamples, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=EvalConfig.seed)
    parser.add_argument("--bins", type=int, default=EvalConfig.bins, help="calibration bins")
    parser.add_argument("--folds", type=int, default=EvalConfig.folds,
                        help="grouped folds for the baseline when there is no train split")
    parser.add_argument("--by", action="append", default=[], metavar="COLUMN",
                        help="also break results down by this manifest column (repeatable), e.g. pen_marks")
    parser.add_argument("--scenario", action="append", default=[], metavar="TREATMENT:DAY",
                        help="decision-level results for this treatment and day, no red flags (repeatable; e.g. "
                             "microneedling:2, fractional_laser:5, unknown: for treatment and day not given); "
                             f"default: {' '.join(DEFAULT_SCENARIOS)}")
    parser.add_argument("--probe-predictions", metavar="FILE.csv", default=None,
                        help="a linear probe's predictions file (e.g. crossval's oof-probe.csv), compared paired "
                             "with the model in the summary")
    parser.add_argument("--batch-size", type=int, default=EvalConfig.batch_size)
    parser.add_argument("--device", default=EvalConfig.device, help="cpu (default) or cuda")
    parser.add_argument("--no-contact-sheet", action="store_true", help="skip the contact sheet of errors")
    parser.add_argument("--no-pixels", action="store_true",
                        help="with --predictions: do not read the photos (no baseline, brightness or contact sheet)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--record", metavar="NAME",
                        help="also write a summary into the checkpoint's metadata (metrics['evaluation: NAME']), "
                             "so the app's About tab shows it")
    return parser


def _scenarios(parser: argparse.ArgumentParser, given: list[str]) -> tuple[str, ...]:
    """The --scenario values checked now (a typo fails before any photo is read), or the defaults."""
    for text in given:
        try:
            parse_scenario(text)
        except ValueError as exc:
            parser.error(str(exc))
    return tuple(given) or DEFAULT_SCENARIOS


def main(argv: list[str] | None = None) -> int:
    from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT

    parser = _parser()
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.record and args.predictions:
        parser.error("--record writes into a checkpoint; it does not go with --predictions")
    args.checkpoint = args.checkpoint or str(DEFAULT_CHECKPOINT)
    config = EvalConfig(resamples=args.resamples, seed=args.seed, bins=args.bins, folds=args.folds,
                        batch_size=args.batch_size, device=args.device, by=tuple(args.by),
                        contact_sheet=0 if args.no_contact_sheet else EvalConfig.contact_sheet,
                        progress=not args.quiet, pixels=not args.no_pixels,
                        scenarios=_scenarios(parser, args.scenario), probe=args.probe_predictions)
    command = _command(args, config)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the run's warnings are printed below and written in the report
            if args.predictions:
                result = evaluate_predictions_file(args.predictions, args.manifest, args.split, args.out, config,
                                                   command)
            else:
                result = evaluate_manifest(args.checkpoint, args.manifest, args.split, args.out, config, command)
    except ValueError as exc:  # ManifestError and CheckpointError are ValueErrors
        parser.exit(2, f"skinfindings evaluate: {exc}\n")
    for note in result["warnings"]:
        print(f"warning: {note}", file=sys.stderr)
    macro = result["macro"]["auroc"]
    print(f"{result['assessed']}/{result['photos']} photos assessed ({result['kind']}); macro AUROC "
          f"{macro['value'] if macro['value'] is not None else 'n/a'} -> {Path(args.out) / 'report.md'}")
    if not result["meta"]["trained"]:
        print("warning: this checkpoint is not trained; the numbers test the plumbing only")
    if args.record:
        command = "skinfindings evaluate " + " ".join(argv if argv is not None else sys.argv[1:])
        record_in_checkpoint(args.checkpoint, args.record, result, command)
    return 0


def _value(summary: dict, complement: bool = False):
    if summary["value"] is None:
        return f"n/a ({summary['na']})"
    return round(1 - summary["value"] if complement else summary["value"], 4)


def _decisions_record(result: dict) -> dict:
    """What people were told in the evaluation's first scenario: shares with the photo counts behind them."""
    decisions = result.get("decisions") or {}
    scenario = (decisions.get("scenarios") or {}).get(decisions.get("default"))
    if not scenario:
        return {}
    keep = ("soon_without", "soon_with", "soon_or_watch_with")
    return {"told": {"scenario": scenario["scenario"],
                     **{k: {"hits": scenario[k]["hits"], "photos": scenario[k]["photos"]} for k in keep}}}


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
        "macro_auroc_findings": macro["findings"],
        "auroc": {f: _value(result["per_finding"][f]["metrics"]["auroc"]) for f in result["per_finding"]},
        # At the deployed rule-out point: how often a finding is shown (possible or likely) when it is there and
        # when it is not. The About tab says these, and the decisions below, in plain words.
        "shown_when_present": {f: _value(v["metrics"]["sensitivity"]) for f, v in result["per_finding"].items()},
        "shown_when_absent": {f: _value(v["metrics"]["specificity"], complement=True)
                              for f, v in result["per_finding"].items()},
        **_decisions_record(result),
    }
    json_path = Path(checkpoint).with_suffix(".json")
    json_path.write_text(meta.to_json() + "\n")
