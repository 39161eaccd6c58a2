"""Priority rules for the clinician pre-sort and the patient's urgency message — the one place they live.

Tiers, most urgent first. A photo is never put *below* where its worst sign puts it,
and a photo we cannot assess is never treated as reassuring:

    1 urgent      any red-flag answer (fever, spreading redness, pus, ...)          -> contact the provider now
    2 review      possible pustules or crusting at or above the model's threshold  -> can be a sign of infection,
                  or, over a series of photos, a finding rising or present after its expected window
    3 check       the photo could not be assessed (unreadable, too dark, not skin)  -> a person must look at it
    4 routine     other possible findings (redness, milia, darker patches)
    5 routine     no finding recognised — which is *not* the same as "normal"

Within a tier, photos with a higher probability of an escalating finding come first,
then a higher probability of any finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

from skinfindings.findings import FINDING_INFO, FINDINGS

RED_FLAGS: dict[str, str] = {
    "pain": "Pain that is getting worse instead of better",
    "swelling": "Swelling that is increasing",
    "spreading_redness": "Redness that is spreading or streaking outwards",
    "warmth": "Skin that feels hot to the touch",
    "pus": "Pus, yellow-green discharge or a bad smell",
    "fever": "Fever, chills or feeling generally unwell",
    "allergy": "Hives, intense itching, or swelling of the lips, eyes or face",
}

ESCALATING = tuple(f for f in FINDINGS if FINDING_INFO[f].escalates)


@dataclass(frozen=True)
class Tier:
    rank: int
    key: str
    label: str


TIERS = (
    Tier(1, "urgent", "Urgent: red-flag signs reported"),
    Tier(2, "review", "Review first: possible pustules or crusting, or a finding rising or later than expected"),
    Tier(3, "check", "Check by eye: photo could not be assessed"),
    Tier(4, "routine", "Routine: other possible findings"),
    Tier(5, "routine-none", "Routine: no finding recognised (not the same as normal)"),
)
TIER_BY_KEY = {t.key: t for t in TIERS}


def tier_for(
    present: list[str],
    assessed: bool,
    red_flags: set[str] | frozenset[str] = frozenset(),
    rising_or_late: Collection[str] = (),
) -> Tier:
    """``rising_or_late``: findings that a series of photos shows rising, new or still present after the window
    in which the treatment makes them expected (``app/trends.py`` decides which)."""
    unknown = set(red_flags) - set(RED_FLAGS)
    if unknown:
        raise ValueError(f"unknown red flag(s) {sorted(unknown)}; known: {sorted(RED_FLAGS)}")
    if red_flags:
        return TIER_BY_KEY["urgent"]
    if any(f in ESCALATING for f in present):
        return TIER_BY_KEY["review"]
    if rising_or_late:  # a healing course that goes the wrong way needs a look soon
        return TIER_BY_KEY["review"]
    if not assessed:
        return TIER_BY_KEY["check"]
    return TIER_BY_KEY["routine" if present else "routine-none"]


def sort_key(tier: Tier, probabilities: dict[str, float]) -> tuple[int, float, float]:
    """Ascending sort key: tier first, then escalating probability, then any probability (both descending)."""
    escalating = max((probabilities.get(f, 0.0) for f in ESCALATING), default=0.0)
    anything = max(probabilities.values(), default=0.0)
    return (tier.rank, -escalating, -anything)
