"""Priority rules for the clinician pre-sort and every patient-facing notice — the one place they live.

Tiers, most urgent first. A photo is never put *below* where its worst sign puts it,
and a photo we cannot assess is never treated as reassuring:

    1 urgent      any red-flag answer (fever, spreading redness, pus, ...)          -> contact the provider now
    2 review      a *likely* pustule, a *likely* crust outside the window in which  -> contact the provider soon
                  the treatment makes crusts expected, or (over a series of photos)
                  a finding rising or present after its expected window
    3 check       a *possible* pustule or crust (named, with what to watch for), or -> a person should look;
                  a photo that could not be assessed                                   the notice is not raised
    4 routine     other findings (redness, milia, darker patches)
    5 routine     no finding recognised — which is *not* the same as "normal"

``decide`` is the one function that applies them; the notice, the finding cards, the
provider report, the recovery view and the worklist all read its ``Decision``.
Within a tier, photos with a higher probability of an escalating finding come first,
then a higher probability of any finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping

from skinfindings.findings import FINDING_INFO, FINDINGS, LIKELY, NOT_SEEN, POSSIBLE

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
    Tier(2, "review", "Review first: likely pustules or crusting, or a finding rising or later than expected"),
    Tier(3, "check", "Check: possible pustules or crusting, or a photo that could not be assessed"),
    Tier(4, "routine", "Routine: other findings"),
    Tier(5, "routine-none", "Routine: no finding recognised (not the same as normal)"),
)
TIER_BY_KEY = {t.key: t for t in TIERS}


def sort_key(tier: Tier, probabilities: dict[str, float]) -> tuple[int, float, float]:
    """Ascending sort key: tier first, then escalating probability, then any probability (both descending)."""
    escalating = max((probabilities.get(f, 0.0) for f in ESCALATING), default=0.0)
    anything = max(probabilities.values(), default=0.0)
    return (tier.rank, -escalating, -anything)


@dataclass(frozen=True)
class Decision:
    """What one photo (with its answers and its series) means for the people who read it.

    The one decision the provider notice, the finding cards, the provider report, the pre-sort worklist and the
    evaluation's decision-level results all read (``decide``), so they cannot disagree.
    """

    tier: Tier
    reasons: tuple[str, ...]  # why the photo is in its tier, in clinician words ("likely pustules 0.82")
    watch: tuple[str, ...]  # escalating findings that are only *possible*: named, with what to watch for
    raising: tuple[str, ...] = ()  # likely escalating findings outside their expected window: they raise the tier
    trend: tuple[str, ...] = ()  # findings a series shows rising or later than expected: they raise the tier too

    @property
    def soon(self) -> bool:
        """Whether the patient is told to contact the provider soon (or now)."""
        return self.tier.key in ("urgent", "review")


def expected_now(finding: str, procedure: str | None, day: int | None) -> bool:
    """True when the treatment makes this finding part of the usual healing course on this day (guidance.json);
    False when the treatment or the day is unknown, or the day lies outside the window."""
    if procedure is None or day is None:
        return False
    from skinfindings.app.guidance import guidance  # guidance imports this module's red flags

    timing = guidance().findings[finding].timing.get(procedure)
    if timing is None or not timing.expected or day < timing.first_day:
        return False
    return timing.last_day is None or day <= timing.last_day


def when_words(procedure: str | None, day: int | None) -> str:
    """'day 12 after microneedling' (clinician words for the reasons); empty when neither is known."""
    from skinfindings.app.guidance import UNKNOWN_PROCEDURE, guidance

    treatment = None if procedure in (None, UNKNOWN_PROCEDURE) else guidance().procedures.get(procedure, procedure)
    if day is None:
        return f"after {treatment.lower()}" if treatment else ""
    return f"day {day}" + (f" after {treatment.lower()}" if treatment else "")


TREND_WORDS = {"rising": "rising", "late": "later than expected"}


def decide(
    levels: Mapping[str, str],
    assessed: bool,
    probabilities: Mapping[str, float] | None = None,
    *,
    red_flags: Collection[str] = frozenset(),
    procedure: str | None = None,
    day: int | None = None,
    rising_or_late: Collection[str] = (),
    trend_day: int | None = None,
) -> Decision:
    """The tier for one photo from its per-finding levels (``Prediction.levels``), the red-flag answers, the
    treatment and day, and the findings a series shows rising or late (``app/trends.py``; a mapping
    finding -> verdict kind, "rising" or "late", words the reason more exactly), judged on ``trend_day`` (the
    series' latest day; default ``day``): a worklist row of an earlier photo names the day the course was judged on,
    not its own.

    Only a *likely* pustule, a *likely* crust outside its expected window, a rising or late course or a red flag
    raises the level; a *possible* escalating finding is named to watch for (and sorted to "check" in the
    worklist), so a weak signal does not frighten anyone on its own.
    """
    red_flags = set(red_flags)
    unknown = red_flags - set(RED_FLAGS)
    if unknown:
        raise ValueError(f"unknown red flag(s) {sorted(unknown)}; known: {sorted(RED_FLAGS)}")
    probabilities = probabilities or {}
    levels = levels if assessed else {}
    when = when_words(procedure, day)

    def said(finding: str) -> str:
        p = probabilities.get(finding)
        words = f"{levels[finding]} {finding}" + (f" {p:.2f}" if p is not None else "")
        return words + (f", expected {when}" if expected_now(finding, procedure, day) else "")

    def trend_said(finding: str) -> str:
        kind = rising_or_late.get(finding) if isinstance(rising_or_late, Mapping) else None
        judged = when_words(procedure, day if trend_day is None else trend_day)
        return f"{finding} {TREND_WORDS.get(kind, 'rising or later than expected')}" + (f", {judged}" if judged else "")

    reasons = [f"red flag: {flag.replace('_', ' ')}" for flag in RED_FLAGS if flag in red_flags]
    raising = tuple(f for f in ESCALATING if levels.get(f) == LIKELY and not expected_now(f, procedure, day))
    reasons += [said(f) + (f", {when}" if when else "") for f in raising]
    trend = tuple(f for f in FINDINGS if f in rising_or_late)
    reasons += [trend_said(f) for f in trend]
    # A crust inside its expected window is part of healing: neither raised nor something to watch.
    watch = tuple(f for f in ESCALATING if levels.get(f) == POSSIBLE and not expected_now(f, procedure, day))
    reasons += [said(f) + " (watch)" for f in watch]
    if red_flags:
        tier = TIER_BY_KEY["urgent"]
    elif raising or trend:
        tier = TIER_BY_KEY["review"]
    elif not assessed:
        tier, reasons = TIER_BY_KEY["check"], reasons + ["photo could not be assessed"]
    elif watch:
        tier = TIER_BY_KEY["check"]
    else:
        seen = [f for f in FINDINGS if levels.get(f, NOT_SEEN) != NOT_SEEN]
        tier = TIER_BY_KEY["routine" if seen else "routine-none"]
    named = set(raising) | set(watch)
    reasons += [said(f) for f in FINDINGS if f not in named and levels.get(f, NOT_SEEN) != NOT_SEEN]
    if assessed and not any(levels.get(f, NOT_SEEN) != NOT_SEEN for f in FINDINGS):
        reasons.append("no finding recognised")
    return Decision(tier, tuple(reasons), watch, raising, trend)
