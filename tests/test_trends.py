"""Trend rules on constructed series: fading, late, rising, falling, flat, gaps, one photo, days out of order,
duplicate days; and the notice a series gives (``series_urgency``, through ``priority.decide``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from skinfindings.app import trends
from skinfindings.app.guidance import guidance
from skinfindings.app.priority import decide
from skinfindings.findings import FINDINGS, LIKELY, NOT_SEEN, POSSIBLE

THRESHOLD = 0.5


@dataclass
class Photo:
    """A stand-in for a Prediction: only what a trend reads."""

    probabilities: dict[str, float] = field(default_factory=dict)
    present: list[str] = field(default_factory=list)
    assessed: bool = True
    levels: dict[str, str] = field(default_factory=dict)


def photo(**probabilities: float) -> Photo:
    full = {f: probabilities.get(f, 0.1) for f in FINDINGS}
    present = [f for f in FINDINGS if full[f] >= THRESHOLD]
    return Photo(full, present, levels={f: LIKELY if f in present else NOT_SEEN for f in FINDINGS})


GAP = Photo(assessed=False)


def verdict(observations, finding="erythema", procedure="microneedling"):
    return trends.analyse_series(observations, procedure).trends[finding].verdict


def test_the_windows_come_from_guidance_json():
    timing = guidance().findings["erythema"].timing["microneedling"]
    window = trends.window_for("erythema", "microneedling")
    assert (window.expected, window.first_day, window.last_day) == (timing.expected, timing.first_day, timing.last_day)
    assert trends.window_for("erythema", "unknown") is None


def test_expected_redness_that_fades_is_fading_and_does_not_escalate():
    series = trends.analyse_series([(0, photo(erythema=0.9)), (2, photo(erythema=0.7)), (3, photo(erythema=0.3))],
                                   "microneedling")
    result = series.trends["erythema"].verdict
    assert result.kind == "fading" and not result.escalates
    assert series.escalating == []
    assert trends.series_tier(series).key == "routine-none"  # the latest photo shows nothing: not moved up


def test_redness_still_present_after_its_window_is_late_and_escalates():
    last_day = trends.window_for("erythema", "microneedling").last_day
    result = verdict([(1, photo(erythema=0.8)), (last_day + 4, photo(erythema=0.78))])
    assert result.kind == "late" and result.escalates and result.day == last_day + 4
    assert "contact your provider soon" in result.text


def test_a_finding_that_appears_or_rises_after_its_window_is_rising():
    last_day = trends.window_for("erythema", "fractional_laser").last_day
    new = verdict([(1, photo()), (last_day + 2, photo(erythema=0.7))], procedure="fractional_laser")
    assert new.kind == "rising" and new.escalates
    rising = verdict([(2, photo(erythema=0.6)), (last_day + 2, photo(erythema=0.9))], procedure="fractional_laser")
    assert rising.kind == "rising"


def test_a_finding_that_is_not_an_expected_step_escalates_whenever_it_is_seen():
    assert not trends.window_for("hyperpigmentation", "microneedling").expected
    result = verdict([(1, photo()), (4, photo(hyperpigmentation=0.7))], finding="hyperpigmentation")
    assert result.kind == "rising" and result.escalates and "not a usual step" in result.text


def test_one_photo_outside_the_window_is_named_but_not_a_course():
    """A single photo escalates only as the same photo would in "Check a photo" (priority.decide)."""
    result = verdict([(9, photo(erythema=0.8))])
    assert result.kind == "after_window" and not result.escalates and "add another" in result.text


def test_a_sub_threshold_rise_after_the_window_is_not_escalated():
    result = verdict([(1, photo(erythema=0.2)), (20, photo(erythema=0.45))])
    assert result.kind == "not_seen" and "rules nothing out" in result.text


def test_an_unassessable_photo_is_a_gap_not_no_finding():
    series = trends.analyse_series([(1, photo(erythema=0.8)), (5, GAP), (2, photo(erythema=0.78))], "microneedling")
    points = series.trends["erythema"].points
    assert [p.day for p in points] == [1, 2, 5]
    assert points[-1].probability is None and series.gaps == [5]
    assert series.trends["erythema"].verdict.kind == "expected"  # the gap on day 5 is not read as "faded"
    assert not series.latest_assessed
    assert trends.series_tier(series).key == "check"


def test_only_gaps_give_no_verdict_on_the_skin():
    series = trends.analyse_series([(3, GAP), (6, GAP)], "microneedling")
    assert {t.verdict.kind for t in series.trends.values()} == {"no_photo"}
    assert trends.series_urgency(series).headline == guidance().wording["headline_check"]


def test_one_photo_only():
    within = verdict([(2, photo(erythema=0.8))])
    assert within.kind == "expected" and not within.escalates
    assert "add another photo" in within.text


def test_days_out_of_order_give_the_same_verdicts_as_in_order():
    ordered = [(0, photo(erythema=0.9)), (2, photo(erythema=0.7)), (9, photo(erythema=0.72, milia=0.7))]
    shuffled = [ordered[2], ordered[0], ordered[1]]
    a, b = trends.analyse_series(ordered, "microneedling"), trends.analyse_series(shuffled, "microneedling")
    assert {f: t.verdict for f, t in a.trends.items()} == {f: t.verdict for f, t in b.trends.items()}
    assert a.days == b.days == (0, 2, 9)
    assert a.trends["erythema"].verdict.kind == "late"


def test_duplicate_days_count_once_with_the_higher_estimate():
    series = trends.analyse_series([(6, photo(erythema=0.3)), (6, photo(erythema=0.8)), (6, GAP)], "microneedling")
    points = series.trends["erythema"].points
    assert len(points) == 1 and points[0].probability == 0.8 and points[0].present
    assert series.days == (6, 6, 6)
    assert series.trends["erythema"].verdict.kind == "after_window"  # day 6 is after the 3-day window: one day


def test_a_rising_finding_raises_the_notice_to_soon_and_red_flags_still_to_now():
    series = trends.analyse_series([(1, photo()), (12, photo(erythema=0.7))], "microneedling")
    assert decide({"erythema": LIKELY}, True).tier.key == "routine"  # the single latest photo alone ...
    soon = trends.series_urgency(series)  # ... but the series moves it up
    assert soon.level.key == "review" and soon.headline == guidance().wording["headline_review"]
    assert any("contact your provider soon" in line for line in soon.lines)
    assert soon.next_step.startswith("Contact your provider soon") and "redness" in soon.next_step
    now = trends.series_urgency(series, {"fever"})
    assert now.level.key == "urgent" and now.emergency
    assert any("rising" in line for line in now.lines)  # the trend is still said


def test_no_treatment_chosen_gives_no_timing_verdict():
    result = verdict([(1, photo(erythema=0.9)), (30, photo(erythema=0.9))], procedure="unknown")
    assert result.kind == "no_treatment" and not result.escalates


def test_no_verdict_reassures():
    series = [(0, photo(erythema=0.9)), (1, GAP), (2, photo(erythema=0.4)), (40, photo(pustules=0.9))]
    for procedure in guidance().procedures:
        for trend in trends.analyse_series(series, procedure).trends.values():
            words = trend.verdict.text.lower()
            assert "normal" not in words and "all clear" not in words and "nothing to worry" not in words


@pytest.mark.parametrize("value, message", [
    ("", "Please enter the day"), (None, "Please enter the day"), ("abc", "whole number"), ("2.5", "whole number"),
    (-1, "before the treatment"), ("366", "more than a year"),
])
def test_bad_days_are_refused_with_a_message(value, message):
    with pytest.raises(trends.DayError, match=message):
        trends.check_day(value)
    with pytest.raises(trends.DayError, match=message):
        trends.analyse_series([(value, photo())], "microneedling")


def test_days_from_dates():
    treated = trends.parse_date("2026-03-01")
    assert trends.day_between(treated, dt.date(2026, 3, 5)) == 4
    with pytest.raises(trends.DayError, match="before the treatment"):
        trends.day_between(treated, dt.date(2026, 2, 27))
    with pytest.raises(trends.DayError, match="year-month-day"):
        trends.parse_date("03/01/2026")


def test_thirty_photos_analyse():
    series = trends.analyse_series([(d, photo(erythema=0.9 - d / 40)) for d in range(30)], "fractional_laser")
    assert len(series.trends["erythema"].points) == 30


def test_a_slow_steady_climb_after_the_window_counts_as_rising():
    last_day = trends.window_for("erythema", "microneedling").last_day
    climb = [(last_day + 1 + i, photo(erythema=0.55 + 0.02 * i)) for i in range(5)]  # +0.02 a photo, +0.08 in all
    assert verdict([(1, photo(erythema=0.6)), *climb]).kind == "rising"


# ------------------------------------------------------------------ issue 22: trends that read the series


def test_a_series_that_went_up_and_came_down_is_not_rising():
    """The reported case: 35% -> 62% -> 44% after the window was called "new or rising"."""
    last_day = trends.window_for("erythema", "microneedling").last_day
    course = [(last_day + 1, photo(erythema=0.55)), (last_day + 4, photo(erythema=0.82)), (last_day + 8, photo(erythema=0.64))]
    result = verdict(course)
    assert result.kind == "late" and result.escalates  # still there long after the window, but not rising
    assert verdict(course[:2]).kind == "rising"  # while it was going up, it was rising


def test_a_flat_series_after_the_window_is_late_not_rising():
    last_day = trends.window_for("erythema", "microneedling").last_day
    flat = [(last_day + 3, photo(erythema=0.7)), (last_day + 6, photo(erythema=0.71)), (last_day + 9, photo(erythema=0.7))]
    assert verdict(flat).kind == "late"


def test_a_finding_a_day_or_two_past_its_window_on_a_falling_course_is_fading_late_and_routine():
    """The reported case: redness one day past its 0-3 day window on a falling course escalated to "soon"."""
    last_day = trends.window_for("erythema", "microneedling").last_day
    series = trends.analyse_series([(1, photo(erythema=0.9)), (last_day + 1, photo(erythema=0.7))], "microneedling")
    trend = series.trends["erythema"]
    assert trend.verdict.kind == "fading_late" and not trend.verdict.escalates
    assert "a little later" in trend.verdict.text and "stops fading" in trend.verdict.text
    assert trends.series_urgency(series).level.key == "routine"
    # Past the grace days, the same fall is late (and escalates): healing should be over by then.
    late = trends.analyse_series([(1, photo(erythema=0.9)), (last_day + trends.RULES.grace_days + 1,
                                                             photo(erythema=0.7))], "microneedling")
    assert late.trends["erythema"].verdict.kind == "late"


def test_a_rise_within_the_grace_days_still_escalates():
    last_day = trends.window_for("erythema", "microneedling").last_day
    assert verdict([(1, photo(erythema=0.6)), (last_day + 1, photo(erythema=0.8))]).kind == "rising"


def test_when_the_latest_photo_could_not_be_assessed_the_notice_says_so_first_and_asks_for_a_new_one():
    series = trends.analyse_series([(1, photo(erythema=0.8)), (2, photo(pustules=0.9)), (5, GAP)], "microneedling")
    message = trends.series_urgency(series)
    assert message.next_step.startswith("Your latest photo (day 5) could not be assessed: please take a new one")
    assert message.level.key == "review"  # the earlier pustules still count (pustules are never waited out)
    calm = trends.analyse_series([(1, photo(erythema=0.8)), (5, GAP)], "microneedling")
    assert trends.series_urgency(calm).next_step.startswith("Your latest photo (day 5)")
    assert trends.series_urgency(calm).level.key == "check"


# ------------------------------------------------------------------ levels: a possible-only course is watched, not raised

POSSIBLE_FROM, LIKELY_FROM = 0.3, 0.6  # distinct rule-out and rule-in points, as a checkpoint with levels has


def graded(**probabilities: float) -> Photo:
    """A photo with levels from two cut-offs: possible from POSSIBLE_FROM, likely from LIKELY_FROM."""
    full = {f: probabilities.get(f, 0.1) for f in FINDINGS}
    levels = {f: LIKELY if p >= LIKELY_FROM else POSSIBLE if p >= POSSIBLE_FROM else NOT_SEEN for f, p in full.items()}
    return Photo(full, [f for f in FINDINGS if levels[f] != NOT_SEEN], levels=levels)


def test_two_possible_pustules_are_named_to_watch_and_never_told_soon():
    """Pustules are never an expected step after microneedling, so both photos are after the window; neither is
    more than possible, so the course is a watch, not a "late" that raises the notice."""
    series = trends.analyse_series([(1, graded(pustules=0.4)), (4, graded(pustules=0.45))], "microneedling")
    result = series.trends["pustules"].verdict
    assert result.kind == "watch" and not result.escalates and "Watch it" in result.text
    assert "within a day" in result.text  # a pustule that grows or gets sore may be an infection starting
    assert series.escalating == [] and series.watching == ["pustules"]
    decision = trends.series_decision(series)
    assert not decision.soon and decision.tier.key == "check" and decision.watch == ("pustules",)
    message = trends.series_urgency(series)
    assert message.level.key == "check" and "soon" not in message.next_step.lower()
    assert result.text in message.lines  # named in the notice, with what to watch for


def test_a_possible_redness_lasting_past_its_window_is_watched_and_routine():
    last_day = trends.window_for("erythema", "microneedling").last_day
    series = trends.analyse_series([(1, graded(erythema=0.4)), (last_day + 6, graded(erythema=0.4))], "microneedling")
    assert series.trends["erythema"].verdict.kind == "watch"
    assert trends.series_urgency(series).level.key == "routine"
    # Routine words: lingering redness is no reason to call within a day (pustules are: the test above).
    text = series.trends["erythema"].verdict.text
    assert "within a day" not in text and "next visit" in text


def test_possible_then_likely_pustules_escalate_to_soon():
    series = trends.analyse_series([(1, graded(pustules=0.4)), (4, graded(pustules=0.8))], "microneedling")
    result = series.trends["pustules"].verdict
    assert result.kind == "rising" and result.escalates
    assert trends.series_urgency(series).level.key == "review"


def test_likely_after_the_window_then_possible_in_the_latest_photo_is_still_late():
    """Likely once after the window and still possible in the latest photo: the rule's two conditions hold."""
    last_day = trends.window_for("erythema", "microneedling").last_day
    course = [(1, graded(erythema=0.9)), (last_day + 4, graded(erythema=0.7)), (last_day + 8, graded(erythema=0.5))]
    assert verdict(course).kind == "late" and verdict(course).escalates


def test_likely_after_the_window_then_not_seen_is_no_longer_seen_not_late():
    last_day = trends.window_for("erythema", "microneedling").last_day
    series = trends.analyse_series([(1, graded(erythema=0.9)), (last_day + 4, graded(erythema=0.8)),
                                    (last_day + 8, graded(erythema=0.1))], "microneedling")
    result = series.trends["erythema"].verdict
    assert result.kind == "no_longer_seen" and not result.escalates and result.day == last_day + 8
    assert "not recognised in the latest photo" in result.text
    assert trends.series_urgency(series).level.key != "review"
