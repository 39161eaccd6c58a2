"""Aftercare guidance for the app: which texts to show, worded for the procedure, the day and the red flags.

    from skinfindings.app.guidance import finding_advice, urgency
    from skinfindings.app.priority import decide
    advice = finding_advice("erythema", procedure="microneedling", days=10)
    advice.timing    # "... You are on day 10, later than this usually lasts: if it is not fading, contact ..."
    message = urgency(decide(prediction.levels, prediction.assessed, red_flags={"fever"}), {"fever"})
    message.level.key, message.headline, message.next_step, message.lines, message.emergency

Every text lives in ``guidance.json`` next to this file, each fact with the seed
documents it rests on; this module only chooses and fills them in. The level of
urgency is the tier of ``skinfindings.app.priority.decide``, the one decision the
clinician pre-sort, the cards and the report also read, so they cannot disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from skinfindings.app.priority import ESCALATING, RED_FLAGS, Decision, Tier
from skinfindings.findings import FINDINGS, POSSIBLE

GUIDANCE_FILE = Path(__file__).resolve().parent / "guidance.json"
UNKNOWN_PROCEDURE = "unknown"


@dataclass(frozen=True)
class Fact:
    text: str
    sources: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Timing:
    """When a finding is described after one procedure, in days since the treatment (0 = the day itself)."""

    fact: Fact
    expected: bool  # part of the usual healing course, rather than something to have checked
    first_day: int
    last_day: int | None  # None: no end is described


@dataclass(frozen=True)
class FindingGuide:
    what: Fact
    course: Fact
    helps: tuple[Fact, ...]
    contact: Fact
    timing: dict[str, Timing]  # procedure key -> timing
    watch: Fact | None = None  # for escalating findings: the change that should make a patient call


@dataclass(frozen=True)
class Guidance:
    sources: dict[str, str]
    procedures: dict[str, str]
    findings: dict[str, FindingGuide]
    general_care: tuple[Fact, ...]
    messages: dict[str, Fact]
    red_flag_sources: dict[str, tuple[str, ...]]
    wording: dict[str, str]
    names: dict[str, str]  # finding -> plain word first, then the term


@dataclass(frozen=True)
class FindingAdvice:
    """What the app says about one reported finding."""

    finding: str
    headline: str
    what: str
    course: str
    timing: str
    helps: tuple[str, ...]
    contact: str


@dataclass(frozen=True)
class Urgency:
    """The message above the results: how soon to contact the provider, and why."""

    level: Tier
    headline: str
    next_step: str  # the one plain sentence of what to do now, said first
    lines: tuple[str, ...]  # why, briefly
    emergency: str | None  # emergency wording, shown whenever a red flag is ticked


def _fact(raw: dict) -> Fact:
    return Fact(raw["text"], tuple(raw["sources"]), raw.get("note", ""))


def _finding_guide(raw: dict) -> FindingGuide:
    timing = {
        procedure: Timing(_fact(entry), entry["expected"], entry["first_day"], entry["last_day"])
        for procedure, entry in raw["timing"].items()
    }
    watch = _fact(raw["watch"]) if "watch" in raw else None
    return FindingGuide(
        _fact(raw["what"]), _fact(raw["course"]), tuple(map(_fact, raw["helps"])), _fact(raw["contact"]), timing, watch
    )


def load_guidance(path: str | Path = GUIDANCE_FILE) -> Guidance:
    """Read and check the guidance file: every finding covered, every source named in the sources table."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    facts = raw["facts"]
    guidance = Guidance(
        sources=dict(raw["sources"]),
        procedures=dict(raw["procedures"]),
        findings={key: _finding_guide(value) for key, value in facts["findings"].items()},
        general_care=tuple(map(_fact, facts["general_care"])),
        messages={key: _fact(value) for key, value in facts["messages"].items()},
        red_flag_sources={key: tuple(value) for key, value in facts["red_flag_sources"].items()},
        wording=dict(raw["wording"]),
        names={key: value for key, value in raw["names"].items() if key != "about"},
    )
    _check(guidance, path)
    return guidance


def all_facts(guidance: Guidance) -> list[Fact]:
    facts = list(guidance.general_care) + list(guidance.messages.values())
    for guide in guidance.findings.values():
        facts += [guide.what, guide.course, guide.contact, *guide.helps] + ([guide.watch] if guide.watch else [])
        facts += [timing.fact for timing in guide.timing.values()]
    return facts


def _check(guidance: Guidance, path: str | Path) -> None:
    problems = []
    if set(guidance.findings) != set(FINDINGS):
        problems.append(f"findings {sorted(guidance.findings)} != {sorted(FINDINGS)}")
    if set(guidance.names) != set(FINDINGS):
        problems.append(f"names {sorted(guidance.names)} != {sorted(FINDINGS)}")
    problems += [f"{key}: escalating finding without 'watch'" for key in ESCALATING if guidance.findings[key].watch is None]
    if set(guidance.red_flag_sources) != set(RED_FLAGS):
        problems.append(f"red_flag_sources {sorted(guidance.red_flag_sources)} != {sorted(RED_FLAGS)}")
    named = [source for fact in all_facts(guidance) for source in fact.sources]
    named += [source for sources in guidance.red_flag_sources.values() for source in sources]
    problems += [f"source {source!r} is not in the sources table" for source in named if source not in guidance.sources]
    problems += [f"a fact has no source: {fact.text[:60]!r}" for fact in all_facts(guidance) if not fact.sources]
    for key, guide in guidance.findings.items():
        missing = set(guidance.procedures) - {UNKNOWN_PROCEDURE} - set(guide.timing)
        if missing:
            problems.append(f"{key}: no timing for {sorted(missing)}")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))


@lru_cache(maxsize=1)
def guidance() -> Guidance:
    """The shipped guidance, read once."""
    return load_guidance()


def finding_name(finding: str) -> str:
    """The finding in running text, plain word first: 'pus-filled bumps (pustules)'."""
    name = guidance().names[finding]
    return name[0].lower() + name[1:]


def level_word(level: str) -> str:
    """'Likely' / 'Possible' / 'Not seen' for a level from ``skinfindings.findings``."""
    return guidance().wording[f"level_{level}"]


def _listing(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def timing_note(finding: str, procedure: str | None, days: int | None, source: Guidance | None = None) -> str:
    """One or two sentences on whether this finding is expected after this procedure on this day."""
    source = source or guidance()
    words = source.wording
    timing = source.findings[finding].timing.get(procedure or UNKNOWN_PROCEDURE)
    if timing is None:
        return words["timing_no_procedure"]
    fact = timing.fact.text
    if not timing.expected:
        return words["timing_not_expected"].format(fact=fact)
    if days is None:
        return words["timing_no_day"].format(fact=fact)
    if days < timing.first_day:
        return words["timing_too_early"].format(fact=fact, days=days)
    if timing.last_day is None:
        # No end is described, so no day is "within" or "past" it: the day entered changes nothing here.
        return words["timing_open_ended"].format(fact=fact, first_day=timing.first_day)
    if days > timing.last_day:
        return words["timing_too_late"].format(fact=fact, days=days)
    return words["timing_expected"].format(fact=fact, days=days)


def finding_advice(finding: str, procedure: str | None = None, days: int | None = None,
                   level: str = POSSIBLE) -> FindingAdvice:
    """The guidance for one finding at its level, worded for the procedure and the day when they are known."""
    source = guidance()
    guide = source.findings[finding]
    name = source.names[finding]
    return FindingAdvice(
        finding=finding,
        headline=source.wording["headline_reported"].format(level=level_word(level), label=name),
        what=guide.what.text,
        course=guide.course.text,
        timing=timing_note(finding, procedure, days, source),
        helps=tuple(fact.text for fact in guide.helps),
        contact=guide.contact.text,
    )


def watch_sentence(findings: list[str] | tuple[str, ...]) -> str:
    """'Watch the possible ...: if ..., contact your provider within a day.' for escalating findings only possible."""
    source = guidance()
    signs = "; or if ".join(source.findings[f].watch.text for f in findings)
    return source.messages["watch"].text.format(findings=_listing([finding_name(f) for f in findings]), signs=signs)


def urgency(decision: Decision, red_flags: set[str] | frozenset[str] = frozenset()) -> Urgency:
    """What the notice says for one decision (``priority.decide``): how soon to contact the provider, and why.

    Never a reassuring state: the lowest level still says to contact the provider with any worry."""
    source = guidance()
    messages, words = source.messages, source.wording
    level = decision.tier
    raised = _listing([finding_name(f) for f in decision.raising])
    if level.key == "urgent":
        flags = _listing([RED_FLAGS[key].lower() for key in RED_FLAGS if key in red_flags])
        lines = (messages["urgent_with_finding"].text.format(findings=raised),) if raised else ()
        return Urgency(level, words["headline_urgent"], messages["urgent"].text.format(flags=flags), lines,
                       messages["emergency"].text)
    if level.key == "review":
        trend = _listing([finding_name(f) for f in decision.trend])
        step = messages["review"].text.format(findings=raised) if raised else messages["review_trend"].text.format(
            findings=trend)
        return Urgency(level, words["headline_review"], step, (), None)
    if decision.watch:
        watched = _listing([finding_name(f) for f in decision.watch])
        return Urgency(level, words["headline_watch"].format(findings=watched), watch_sentence(decision.watch), (),
                       None)
    if level.key == "check":
        return Urgency(level, words["headline_check"], messages["check"].text, (), None)
    return Urgency(level, words["headline_notice"], messages["routine"].text, (), None)


def disclaimer() -> str:
    """The 'not a diagnosis' paragraph, said once under the results."""
    return guidance().messages["notice"].text


def general_care() -> tuple[str, ...]:
    return tuple(fact.text for fact in guidance().general_care)


def nothing_found() -> str:
    return guidance().messages["nothing_found"].text


def procedure_choices() -> list[tuple[str, str]]:
    """(label, key) pairs for a dropdown, 'not sure' first."""
    return [(label, key) for key, label in guidance().procedures.items()]
