"""The timing note for every finding x treatment x day: no made-up day numbers, no wording that contradicts itself.

    python -m pytest -q tests/test_guidance_timing.py
"""

from __future__ import annotations

import re

import pytest

from skinfindings.app import guidance, trends
from skinfindings.findings import FINDINGS

LATEST_DAY = trends.RULES.max_day  # the largest day every tab's days field accepts
VERDICTS = {
    "within": "within that time",
    "late": "later than this usually lasts",
    "early": "earlier than this is usually described",
    "no end": "with no set end",
}


def days_to_try(timing: guidance.Timing) -> list[int | None]:
    """Around every edge of the window, plus no day at all and the latest day the app accepts."""
    edges = [timing.first_day - 1, timing.first_day, timing.first_day + 1, 30, LATEST_DAY]
    if timing.last_day is not None:
        edges += [timing.last_day, timing.last_day + 1]
    return [None] + sorted({day for day in edges if day >= 0})


def cases():
    shipped = guidance.guidance()
    for finding in FINDINGS:
        for procedure, timing in shipped.findings[finding].timing.items():
            for days in days_to_try(timing):
                yield pytest.param(finding, procedure, timing, days, id=f"{finding}-{procedure}-{days}")


@pytest.mark.parametrize(("finding", "procedure", "timing", "days"), list(cases()))
def test_timing_note_shows_only_real_days_and_one_verdict(finding, procedure, timing, days):
    note = guidance.timing_note(finding, procedure, days)
    assert note.startswith(timing.fact.text)
    assert "{" not in note and "None" not in note
    shown = {int(n) for n in re.findall(r"\bday (\d+)", note[len(timing.fact.text):])}
    # A day the note names is the day entered or an edge of the described window, never a stand-in number.
    assert shown <= {days, timing.first_day, timing.last_day}, note
    said = {name for name, words in VERDICTS.items() if words in note}
    assert len(said) <= 1, note
    if not timing.expected or days is None:
        assert not said, note
    elif days < timing.first_day:
        assert said == {"early"}, note
    elif timing.last_day is None:
        # Open-ended: "within that time" would be true of any day, and a later day is not "late".
        assert said == {"no end"} and f"from day {timing.first_day}" in note, note
        assert shown == {timing.first_day}, note  # the day entered changes nothing, so it is not echoed
    else:
        assert said == ({"within"} if days <= timing.last_day else {"late"}), note


def test_milia_long_after_the_treatment_is_not_called_within_that_time():
    """The reported case: milia after microneedling on the latest day the app accepts."""
    note = guidance.timing_note("milia", "microneedling", LATEST_DAY)
    assert "within that time" not in note and f"day {LATEST_DAY}" not in note
    assert "no set end" in note
