"""The parts of an evaluation that judge what people are told, beyond the scores (issue 19):

decision-level results (``decisions``), operating points and decision curves (``operating_points``),
calibration slope / intercept and warnings (``calibration_check``), the paired comparisons behind the
summary (the colour/texture baseline, the linear probe), and the data checks (``data_checks``).

``add_judgement(result, inputs, config)`` fills them into an evaluation's result dict; ``evaluate_runs`` calls
it for checkpoints and predictions files alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from skinfindings.data.manifest import Record
from skinfindings.findings import FINDINGS
from skinfindings.training.bootstrap import group_ids, resample_weights
from skinfindings.training.metrics import threshold_matrix, unit_weights


@dataclass
class JudgeInputs:
    """One run's photos and predictions, in the order of the evaluated manifest rows."""

    records: list[Record]
    labels: np.ndarray  # (n, findings) 1/0/NaN
    probabilities: np.ndarray  # (n, findings), NaN where not assessed
    rule_out: np.ndarray  # (findings,) or (n, findings)
    rule_in: np.ndarray  # (findings,) or (n, findings)
    levels: list[dict[str, str]]  # per photo (empty when not assessed)
    abstentions: list[str | None]
    digests: list[str]  # sha256 per photo (the predictions' join key)


def paired_summary(labels, probs_model, probs_other, thresholds_model, thresholds_other, groups,
                   findings: Sequence[str], config) -> dict:
    """Macro AUROC of the model minus another scorer's on the same photos, paired (``paired.py``)."""
    from skinfindings.training.paired import paired_comparison

    if not findings or not len(labels):
        return {"photos": int(len(labels)), "findings": [], "delta": None, "na": "no finding both can measure"}
    result = paired_comparison(labels, probs_other, probs_model, thresholds_other, thresholds_model, groups,
                               resamples=config.resamples, seed=config.seed, bins=config.bins, metrics=("auroc",),
                               findings=findings)
    macro = result["macro"]["auroc"]
    return {"photos": int(len(labels)), "findings": macro["findings"], "model": macro["b"], "other": macro["a"],
            "delta": macro["delta"], "na": None}


def baseline_comparison(result: dict, inputs: JudgeInputs, baseline_probabilities: np.ndarray | None,
                        config) -> dict | None:
    """The model against the colour/texture baseline, paired, on the assessed photos both scored."""
    if baseline_probabilities is None:
        return None
    assessed = np.array([a is None for a in inputs.abstentions])
    measured = [f for f in FINDINGS
                if result["baselines"]["colour_texture"]["per_finding"][f]["metrics"]["auroc"]["value"] is not None
                and result["per_finding"][f]["metrics"]["auroc"]["value"] is not None]
    columns = [FINDINGS.index(f) for f in measured]
    usable = assessed & np.isfinite(baseline_probabilities[:, columns]).all(axis=1)
    rule_out = threshold_matrix(inputs.rule_out, len(inputs.labels))[usable]
    return paired_summary(inputs.labels[usable], inputs.probabilities[usable], baseline_probabilities[usable],
                          rule_out, np.full(rule_out.shape, 0.5), [r.group for r, ok in zip(inputs.records, usable)
                                                                   if ok], measured, config)


def probe_comparison(result: dict, inputs: JudgeInputs, probe_path: str, config) -> dict:
    """The model against a linear probe's predictions file (e.g. crossval's oof-probe.csv), paired, on the
    photos both assessed."""
    from skinfindings.training.predictions import read_predictions

    probe = read_predictions(probe_path)
    index = {d: i for i, d in enumerate(probe.sha256)}
    rows = np.array([index.get(d, -1) for d in inputs.digests])
    assessed = np.array([a is None for a in inputs.abstentions]) & (rows >= 0)
    rows = np.where(rows >= 0, rows, 0)
    assessed &= np.array([not probe.abstained[r].strip() for r in rows]) & ~np.isnan(probe.probabilities[rows]).any(axis=1)
    measured = [f for f in FINDINGS if result["per_finding"][f]["metrics"]["auroc"]["value"] is not None]
    rule_out = threshold_matrix(inputs.rule_out, len(inputs.labels))[assessed]
    summary = paired_summary(inputs.labels[assessed], inputs.probabilities[assessed], probe.probabilities[rows][assessed],
                             rule_out, probe.thresholds[rows][assessed],
                             [r.group for r, ok in zip(inputs.records, assessed) if ok], measured, config)
    return {**summary, "path": str(probe_path), "kind": probe.kind, "missing": int((np.array(
        [d not in index for d in inputs.digests])).sum())}


def add_judgement(result: dict, inputs: JudgeInputs, config, baseline_probabilities: np.ndarray | None = None
                  ) -> dict:
    """Decision-level results, operating points, calibration check, comparisons and data checks, into
    ``result`` (which already holds the scores of ``scoring.evaluate_predictions``)."""
    from skinfindings.training import calibration_check, data_checks, decisions, operating_points

    groups = [r.group for r in inputs.records]
    assessed = np.array([a is None for a in inputs.abstentions], dtype=bool)
    weights = resample_weights(groups, config.resamples, config.seed)
    ids = group_ids(groups)
    with_point = np.vstack([unit_weights(len(groups)), weights])[:, assessed]
    y, p = inputs.labels[assessed], inputs.probabilities[assessed]
    n = len(inputs.labels)
    rule_out, rule_in = threshold_matrix(inputs.rule_out, n)[assessed], threshold_matrix(inputs.rule_in, n)[assessed]
    scenarios = [decisions.parse_scenario(s) for s in config.scenarios]
    result["decisions"], per_photo = decisions.decision_results(
        inputs.labels, inputs.levels, assessed, inputs.probabilities, groups, scenarios,
        resamples=config.resamples, seed=config.seed)
    result["operating_points"] = operating_points.operating_points(y, p, rule_out, rule_in, with_point, ids[assessed])
    check = calibration_check.calibration_check(y, p, with_point)
    result["calibration_check"] = check
    result["calibration_warnings"] = calibration_check.calibration_warnings(result["per_finding"], check)
    result["comparisons"] = {"colour_texture": baseline_comparison(result, inputs, baseline_probabilities, config),
                             "probe": probe_comparison(result, inputs, config.probe, config) if config.probe else None}
    result["data_checks"] = {
        "annotators": data_checks.annotator_agreement(inputs.records),
        "unsure": data_checks.unsure_sensitivity(y, p, rule_out, weights[:, assessed], ids[assessed], config.bins),
        "tone_coverage": data_checks.tone_coverage(inputs.records, assessed),
    }
    return per_photo
