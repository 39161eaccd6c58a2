"""Subgroups: every metric per group of a column (skin tone, source, brightness, any manifest column).

Every group present is listed, photos without a value form the group "unknown". The worst and
best group are ranked only among known groups ("unknown" is reported, never ranked: it is not a
group of people), and a macro is ranked only on the findings every ranked group can measure, so
a group is never "better" for averaging easier findings.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from skinfindings.data.manifest import FITZPATRICK_TYPES, Record
from skinfindings.findings import FINDINGS
from skinfindings.training.metrics import METRICS
from skinfindings.training.scoring import score_findings

UNKNOWN = "unknown"
# Chardon et al. 1991 ITA skin-tone categories, lightest first (lower bound in degrees).
ITA_BINS = ((55.0, "ITA very light"), (41.0, "ITA light"), (28.0, "ITA intermediate"), (10.0, "ITA tan"),
            (-30.0, "ITA brown"), (-math.inf, "ITA dark"))
GROUP_ORDER = (*(f"type {t}" for t in FITZPATRICK_TYPES), *(name for _, name in ITA_BINS),
               "low", "middle", "high", "good", "fair", "poor", "no", "yes")


def _group_sort_key(name: str) -> tuple:
    rank = GROUP_ORDER.index(name) if name in GROUP_ORDER else len(GROUP_ORDER)
    return (name == UNKNOWN, rank, name)


def _point_values(table: dict, metric: str) -> dict[str, dict[str, float]]:
    """Per known group, the findings it measures for ``metric`` and their values."""
    out = {}
    for group, block in table.items():
        if group == UNKNOWN:
            continue
        measured = {f: fb["metrics"][metric]["value"] for f, fb in block["per_finding"].items()}
        out[group] = {f: v for f, v in measured.items() if v is not None}
    return out


def _ranked(values: dict[str, float], metric: str, findings: list[str]) -> dict:
    """Worst and best of the groups' values, and the gap between them."""
    if not values:
        return {"worst_group": None, "worst": None, "best_group": None, "best": None, "gap": None, "groups": 0,
                "findings": findings}
    sign = 1 if METRICS[metric].higher_is_better else -1
    worst = min(values, key=lambda g: sign * values[g])
    best = max(values, key=lambda g: sign * values[g])
    gap = round(abs(values[best] - values[worst]), 4) if len(values) > 1 else None
    return {"worst_group": worst, "worst": round(values[worst], 4), "best_group": best,
            "best": round(values[best], 4), "gap": gap, "groups": len(values), "findings": findings}


def extremes(table: dict, finding: str, metric: str) -> dict:
    """Worst and best known group for one finding (or the macro) and metric.

    A finding: the groups that can measure it. The macro: each group's mean over the findings
    measured in every group that measures any, so all ranked groups average the same findings.
    """
    per_group = {g: v for g, v in _point_values(table, metric).items() if v}
    if finding != "macro":
        return _ranked({g: v[finding] for g, v in per_group.items() if finding in v}, metric, [finding])
    shared = [f for f in FINDINGS if per_group and all(f in v for v in per_group.values())]
    if not shared:
        return _ranked({}, metric, [])
    return _ranked({g: float(np.mean([v[f] for f in shared])) for g, v in per_group.items()}, metric, shared)


def subgroup_results(
    labels: np.ndarray, probabilities: np.ndarray, thresholds, weights: np.ndarray, ids: np.ndarray,
    values: Sequence[str], bins: int = 10,
) -> dict:
    """Every metric per group of one column (every group present, 'unknown' included), with n."""
    values = np.asarray([v or UNKNOWN for v in values], dtype=object)
    thresholds = np.asarray(thresholds, dtype=float)
    table = {}
    for group in sorted(set(values), key=_group_sort_key):
        inside = values == group
        rows = thresholds[inside] if thresholds.ndim == 2 else thresholds
        scored = score_findings(labels[inside], probabilities[inside], rows, weights[:, inside], ids[inside], bins)
        table[group] = {"n": int(inside.sum()), **scored}
    return {"groups": table, "extremes": {f: {m: extremes(table, f, m) for m in METRICS} for f in (*FINDINGS, "macro")}}


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
