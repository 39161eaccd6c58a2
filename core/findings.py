"""The findings schema: the one place that names what the model looks for.

Multi-label: a photo may show several findings or none. "None of these" is the
all-negative vector, never a class of its own. Every other module takes the
list (and its order, which is the model's output order) from here.
"""

from __future__ import annotations

from dataclasses import dataclass

FINDINGS: tuple[str, ...] = ("erythema", "crusting", "milia", "pustules", "hyperpigmentation")


@dataclass(frozen=True)
class FindingInfo:
    key: str
    label: str  # what a patient reads; hedged on purpose
    escalates: bool  # a finding that can be a sign of infection puts a photo first in the pre-sort


FINDING_INFO: dict[str, FindingInfo] = {
    "erythema": FindingInfo("erythema", "Redness (erythema)", escalates=False),
    "crusting": FindingInfo("crusting", "Crusting or scabbing", escalates=True),
    "milia": FindingInfo("milia", "Milia (small white bumps)", escalates=False),
    "pustules": FindingInfo("pustules", "Pustules (pus-filled bumps)", escalates=True),
    "hyperpigmentation": FindingInfo("hyperpigmentation", "Possible hyperpigmentation (darker patches)", escalates=False),
}

assert tuple(FINDING_INFO) == FINDINGS, "FINDING_INFO must list FINDINGS in the same order"


def label_vector(present: set[str] | list[str]) -> list[int]:
    """0/1 vector in FINDINGS order for a set of finding names; unknown names are an error."""
    unknown = set(present) - set(FINDINGS)
    if unknown:
        raise ValueError(f"unknown finding(s) {sorted(unknown)}; known: {list(FINDINGS)}")
    return [int(name in present) for name in FINDINGS]


# How sure the model is of one finding, from its two operating points (model/checkpoint.py):
# *likely* at or above the rule-in point, *possible* between rule-out and rule-in, *not seen* below rule-out.
# "Not seen" is not "absent": the model can miss what it was not shown.
LIKELY, POSSIBLE, NOT_SEEN = "likely", "possible", "not_seen"
LEVELS: tuple[str, ...] = (LIKELY, POSSIBLE, NOT_SEEN)


def level_for(probability: float, rule_out: float, rule_in: float) -> str:
    if probability >= rule_in:
        return LIKELY
    return POSSIBLE if probability >= rule_out else NOT_SEEN
