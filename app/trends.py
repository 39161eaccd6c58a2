"""Recovery trends: one finding over several photos, and a verdict on it in plain words.

    from skinfindings.app.trends import analyse_series
    series = analyse_series([(1, prediction_day1), (4, prediction_day4)], procedure="microneedling")
    series.trends["erythema"].verdict.text     # "Possible redness ... and it is fading in the later photos."
    series.escalating                           # findings rising or present after their window (likely)
    series.watching                             # the same courses, but never more than possible: named to watch
    series_decision(series, red_flags={"fever"})  # priority.decide for the latest photo and the trends
    series_urgency(series, red_flags={"fever"})   # the provider notice for the whole series

The one place that turns a list of (day, prediction) into trends: the app's "Track my
recovery" tab, the provider report and the clinician pre-sort all call it, so they
cannot disagree. The window in which a treatment makes a finding expected is read from
``guidance.json`` (through ``guidance.py``); nothing here repeats a number of days.

A photo that could not be assessed is a gap in the series (``Point.probability`` is
None), never "no finding". No verdict is reassuring: the mildest ones still name the
finding, and "not recognised" says it rules nothing out.

Levels decide what a course means, as they do for one photo (``priority.decide``): a late
or rising course escalates only if the finding is *likely* in at least one photo after its
window and still at least *possible* in the latest one. A course that is never more than
*possible* after its window is named to watch (``watch``), and one no longer seen in the
latest photo is not late (``no_longer_seen``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Protocol, Sequence

from skinfindings.app import guidance
from skinfindings.app.priority import Decision, Tier, decide
from skinfindings.findings import FINDING_INFO, FINDINGS, LIKELY, NOT_SEEN


class Assessment(Protocol):
    """What a trend needs from one photo: a Prediction, the app's PhotoResult or a pre-sort row."""

    probabilities: dict[str, float]
    present: list[str]
    levels: dict[str, str]  # LIKELY / POSSIBLE / NOT_SEEN (Prediction.levels); empty when not assessed

    @property
    def assessed(self) -> bool: ...


@dataclass(frozen=True)
class TrendRules:
    # A change in probability smaller than this between two photos is noise, not a rise or a fade:
    # the same skin photographed twice moves the estimate by a few points.
    change: float = 0.05
    # A finding this many days past its window on a falling course is "fading, a little later than usual"
    # (routine), not "late": healing varies by a day or two (guidance.json's windows are partly our reading).
    grace_days: int = 2
    # Photos more than a year after the treatment are not aftercare any more; the guidance covers weeks.
    max_day: int = 365


RULES = TrendRules()


class DayError(ValueError):
    """A day (or date) the series cannot use; ``str(error)`` is written for the patient."""


@dataclass(frozen=True)
class Point:
    day: int
    probability: float | None  # None: no photo of that day could be assessed (a gap, never "no finding")
    level: str = NOT_SEEN  # LIKELY / POSSIBLE / NOT_SEEN, the most certain of the day's assessed photos

    @property
    def present(self) -> bool:
        """At or above the rule-out point: at least *possible*."""
        return self.level != NOT_SEEN


@dataclass(frozen=True)
class Window:
    """When the chosen treatment makes a finding expected, in days since it (from guidance.json)."""

    expected: bool  # False: not a usual step of healing, so there is no window to wait out
    first_day: int
    last_day: int | None  # None: no end is described

    def after(self, day: int) -> bool:
        return not self.expected or (self.last_day is not None and day > self.last_day)


@dataclass(frozen=True)
class Verdict:
    kind: str  # key of VERDICT_LABELS
    label: str
    text: str
    escalates: bool  # moves the provider notice up to "contact your provider soon"
    day: int | None = None  # the day the verdict rests on


@dataclass(frozen=True)
class Trend:
    finding: str
    points: tuple[Point, ...]  # one per day with a photo, by day; gaps included
    window: Window | None  # None when the treatment is not known
    verdict: Verdict


@dataclass(frozen=True)
class Series:
    procedure: str
    days: tuple[int, ...]  # one per photo, in day order (repeats kept)
    trends: dict[str, Trend]
    latest_present: tuple[str, ...]  # findings on the latest day with an assessed photo
    latest_assessed: bool  # whether the latest day has an assessed photo
    latest_levels: dict[str, str]  # levels on the latest day with an assessed photo (the most certain per finding)
    latest_probabilities: dict[str, float]  # estimates on that day (the higher per finding)
    latest_day: int | None  # the latest day with an assessed photo; None when none could be assessed

    @property
    def escalating(self) -> list[str]:
        return [f for f, trend in self.trends.items() if trend.verdict.escalates]

    @property
    def watching(self) -> list[str]:
        return [f for f, trend in self.trends.items() if trend.verdict.kind == "watch"]

    @property
    def gaps(self) -> list[int]:
        return sorted({p.day for trend in self.trends.values() for p in trend.points if p.probability is None})


VERDICT_LABELS = {
    "rising": "New or rising after the expected time",
    "late": "Present later than expected",
    "watch": "Possible, later than expected: watch it",
    "no_longer_seen": "Seen later than expected, not in the latest photo",
    "fading_late": "Fading, a little later than usual",
    "after_window": "Seen after the expected time, in one photo",
    "fading": "Expected at this stage, and fading",
    "expected": "Expected at this stage",
    "not_seen": "Not recognised",
    "no_photo": "No photo could be assessed",
    "no_treatment": "Treatment not chosen",
}
ESCALATING_VERDICTS = {"rising", "late"}


# ---------------------------------------------------------------- days and dates


def check_day(value, photo: str = "this photo", rules: TrendRules = RULES) -> int:
    """A day since the treatment from a form or a file: a whole number 0..max_day, else DayError."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise DayError(f"Please enter the day since the treatment for {photo} (0 = the day of the treatment).")
    try:
        number = float(text)
    except ValueError:
        raise DayError(f"The day for {photo} should be a whole number of days, such as 3 (not {text!r}).") from None
    if not number.is_integer():
        raise DayError(f"The day for {photo} should be a whole number of days, such as 3 (not {text!r}).")
    if number < 0:
        raise DayError(f"Day {int(number)} for {photo} is before the treatment; photos from before it cannot be "
                       "tracked.")
    if number > rules.max_day:
        raise DayError(f"Day {int(number)} for {photo} is more than a year after the treatment; this tracker covers "
                       "the first year.")
    return int(number)


def parse_date(text: str, what: str = "the date") -> dt.date:
    """YYYY-MM-DD (as a date field sends it); DayError with a plain message otherwise."""
    try:
        return dt.date.fromisoformat(str(text).strip()[:10])
    except ValueError:
        raise DayError(f"Please give {what} as year-month-day, for example 2026-03-14.") from None


def day_between(treatment: dt.date, taken: dt.date, photo: str = "this photo", rules: TrendRules = RULES) -> int:
    """Days from the treatment to the day a photo was taken, checked like a typed day."""
    return check_day((taken - treatment).days, photo, rules)


# ---------------------------------------------------------------- the series


def window_for(finding: str, procedure: str | None) -> Window | None:
    timing = guidance.guidance().findings[finding].timing.get(procedure or guidance.UNKNOWN_PROCEDURE)
    return None if timing is None else Window(timing.expected, timing.first_day, timing.last_day)


def _points(observations: Sequence[tuple[int, Assessment]], finding: str) -> tuple[Point, ...]:
    """One point per day. Two photos of one day count as one: the higher estimate, present if either shows it."""
    by_day: dict[int, list[Assessment]] = {}
    for day, photo in observations:
        by_day.setdefault(day, []).append(photo)
    points = []
    for day in sorted(by_day):
        assessed = [photo for photo in by_day[day] if photo.assessed]
        if not assessed:
            points.append(Point(day, None))
            continue
        probability = max(photo.probabilities[finding] for photo in assessed)
        points.append(Point(day, probability, _most_certain_levels(assessed).get(finding, NOT_SEEN)))
    return tuple(points)


def analyse_series(
    observations: Sequence[tuple[int, Assessment]], procedure: str | None, rules: TrendRules = RULES
) -> Series:
    """Trends and verdicts for every finding. Days may come in any order and repeat; each is checked."""
    checked = [(check_day(day, f"photo {i + 1}", rules), photo) for i, (day, photo) in enumerate(observations)]
    if not checked:
        raise DayError("Add at least one photo with its day to follow your recovery.")
    procedure = procedure or guidance.UNKNOWN_PROCEDURE
    trends = {}
    for finding in FINDINGS:
        points = _points(checked, finding)
        window = window_for(finding, procedure)
        trends[finding] = Trend(finding, points, window, _verdict(finding, points, window, procedure, rules))
    latest = max((day for day, photo in checked if photo.assessed), default=None)
    latest_photos = [photo for day, photo in checked if day == latest and photo.assessed]
    present = {f for photo in latest_photos for f in photo.present}
    return Series(
        procedure=procedure,
        days=tuple(sorted(day for day, _ in checked)),
        trends=trends,
        latest_present=tuple(f for f in FINDINGS if f in present),
        latest_assessed=latest == max(day for day, _ in checked),
        latest_levels=_most_certain_levels(latest_photos),
        latest_probabilities={f: max(p.probabilities[f] for p in latest_photos) for f in FINDINGS} if latest_photos
        else {},
        latest_day=latest,
    )


def _levels_of(photo: Assessment) -> dict[str, str]:
    """The photo's levels; a photo that carries none (an older caller) is read as the old checkpoints meant it:
    every finding present is likely (their rule-in point was their rule-out point)."""
    return photo.levels or {f: LIKELY if f in photo.present else NOT_SEEN for f in photo.probabilities}


def _most_certain_levels(photos: Sequence[Assessment]) -> dict[str, str]:
    """Per finding, the most certain level among photos of one day (two photos of a day count as one)."""
    order = {"likely": 0, "possible": 1, "not_seen": 2}
    levels: dict[str, str] = {}
    for photo in photos:
        for finding, level in _levels_of(photo).items():
            if finding not in levels or order[level] < order[levels[finding]]:
                levels[finding] = level
    return levels


def _verdict(finding: str, points: tuple[Point, ...], window: Window | None, procedure: str,
             rules: TrendRules) -> Verdict:
    assessed = [p for p in points if p.probability is not None]
    if not assessed:
        return _make("no_photo", finding, window, procedure)
    if window is None:
        return _make("no_treatment", finding, window, procedure)
    last = assessed[-1]
    present_after = [p for p in assessed if p.present and window.after(p.day)]
    if present_after and len(assessed) == 1:
        # One photo is no course: the same photo checked alone gets the same notice (priority.decide decides).
        return _make("after_window", finding, window, procedure, last.day)
    if present_after:
        rising = _rising(assessed, window, rules)
        if not rising and _fading_a_little_late(assessed, window, rules):
            return _make("fading_late", finding, window, procedure, last.day)
        if not rising and not last.present:  # seen after the window, gone in the latest photo: not late any more
            return _make("no_longer_seen", finding, window, procedure, last.day)
        # The latest photo shows it (at least possible). A course never more than possible after the window is
        # named to watch, not escalated: a weak signal does not raise the notice by itself (priority.decide).
        likely_after = any(p.level == LIKELY for p in present_after)
        kind = ("rising" if rising else "late") if likely_after else "watch"
        return _make(kind, finding, window, procedure, last.day)
    present = [p for p in assessed if p.present]
    if not present:
        return _make("not_seen", finding, window, procedure)
    peak = max(present, key=lambda p: p.probability)
    fading = last.day > peak.day and (not last.present or last.probability <= peak.probability - rules.change)
    return _make("fading" if fading else "expected", finding, window, procedure, last.day if fading else peak.day)


def _rising(assessed: list[Point], window: Window, rules: TrendRules) -> bool:
    """The latest photo shows the finding after its window, and the recent values rise: it is new (absent in the
    photo before), at least ``change`` above the photo before, or part of a steady climb since the window ended
    (no fall between photos, ``change`` or more in all)."""
    last = assessed[-1]
    if not (last.present and window.after(last.day)):
        return False
    if len(assessed) == 1 or not assessed[-2].present:
        return True
    if last.probability - assessed[-2].probability >= rules.change:
        return True
    since = [p for p in assessed if window.after(p.day)]
    climbing = all(b.probability >= a.probability for a, b in zip(since, since[1:]))
    return len(since) > 1 and climbing and last.probability - since[0].probability >= rules.change


def _fading_a_little_late(assessed: list[Point], window: Window, rules: TrendRules) -> bool:
    """An expected finding seen at most ``grace_days`` past its window's end, lower than in the photo before
    (or already gone in the latest photo): it is on its way out, only a little later than usual."""
    if not window.expected or window.last_day is None or len(assessed) < 2:
        return False
    last, before = assessed[-1], assessed[-2]
    if last.day > window.last_day + rules.grace_days:
        return False
    return not last.present or last.probability <= before.probability - rules.change


# ---------------------------------------------------------------- wording


def window_words(window: Window | None, procedure: str) -> str:
    """'after microneedling, from day 0 to day 3' — the window in words, for verdicts and the plot's legend."""
    name = guidance.guidance().procedures.get(procedure, procedure).lower()
    if window is None:
        return "no treatment chosen"
    if not window.expected:
        return f"not a usual step of healing after {name}"
    end = f"to day {window.last_day}" if window.last_day is not None else "onwards (no end described)"
    return f"after {name}, from day {window.first_day} {end}"


def _watch_advice(finding: str) -> str:
    # Crusts and pustules can be early signs of infection; darker patches, milia and fading redness are not urgent.
    if FINDING_INFO[finding].escalates:
        return ("Watch it: if it becomes clearer, larger, sore or warm, contact your provider within a day; otherwise "
                "add another photo in a few days.")
    return ("Watch it: add another photo in a few days and mention it at your next visit; contact your provider "
            "sooner if it spreads, hurts or worries you.")


def _make(kind: str, finding: str, window: Window | None, procedure: str, day: int | None = None) -> Verdict:
    name = guidance.finding_name(finding)
    when = window_words(window, procedure)
    texts = {
        "rising": (f"Possible {name} is new or rising on day {day}, outside the time it is expected ({when}): "
                   "contact your provider soon."),
        "late": (f"Possible {name} is still seen on day {day}, later than it usually lasts ({when}): "
                 "contact your provider soon."),
        "watch": (f"Possible {name} is seen on day {day}, outside the time it is expected ({when}), but the model is "
                  "not sure of it in any photo since then. " + _watch_advice(finding)),
        "no_longer_seen": (f"Possible {name} was seen after the time it is expected ({when}) and is not recognised "
                           f"in the latest photo (day {day}). Add another photo in a few days, and contact your "
                           "provider if it comes back."),
        "after_window": (f"Possible {name} on day {day}, outside the time it is expected ({when}). One photo "
                         "cannot show whether it is fading: add another in a few days, and contact your provider "
                         "if it is still there or growing."),
        "fading_late": (f"Possible {name} is lower on day {day} than in the photo before, a little later than it "
                        f"usually lasts ({when}). Add another photo in a few days, and contact your provider if it "
                        "stops fading."),
        "fading": (f"Possible {name} was seen within the time it is expected ({when}) and is lower in the later "
                   f"photos (day {day}). Keep following your aftercare and contact your provider with any concern."),
        "expected": (f"Possible {name} on day {day}, within the time it is expected ({when}). Not yet lower in a "
                     "later photo: add another photo in a few days, and contact your provider with any concern."),
        "not_seen": f"Possible {name} was not recognised in the photos that could be assessed. This rules nothing out.",
        "no_photo": f"None of the photos could be assessed, so nothing can be said about possible {name}.",
        "no_treatment": f"Choose your treatment for a verdict on the timing of possible {name}.",
    }
    return Verdict(kind, VERDICT_LABELS[kind], texts[kind], kind in ESCALATING_VERDICTS, day)


# ---------------------------------------------------------------- urgency


def series_decision(series: Series, red_flags: set[str] | frozenset[str] = frozenset()) -> Decision:
    """``priority.decide`` for a series: the latest assessed photo's levels on its day, plus the trends."""
    procedure = None if series.procedure == guidance.UNKNOWN_PROCEDURE else series.procedure
    trend = {f: series.trends[f].verdict.kind for f in series.escalating}
    return decide(series.latest_levels, series.latest_assessed, series.latest_probabilities, red_flags=red_flags,
                  procedure=procedure, day=series.latest_day, rising_or_late=trend)


def series_tier(series: Series, red_flags: set[str] | frozenset[str] = frozenset()) -> Tier:
    """The priority tier of a patient's series, by the rules in ``app/priority.py``."""
    return series_decision(series, red_flags).tier


def series_urgency(series: Series, red_flags: set[str] | frozenset[str] = frozenset()) -> guidance.Urgency:
    """The provider notice for a series. When the latest photo could not be assessed, it says so first."""
    message = guidance.urgency(series_decision(series, red_flags), set(red_flags))
    named = series.escalating + series.watching  # a course to watch is named too, without raising the level
    lines = message.lines + tuple(series.trends[f].verdict.text for f in named)
    if series.latest_assessed:
        return replace(message, lines=lines)
    latest = max(series.days)
    first = guidance.guidance().messages["latest_not_assessed"].text.format(day=latest)
    if series.latest_day is None:  # nothing could be assessed: the retake message is the next step
        return replace(message, lines=lines)
    # Said first; after it, what the other photos still call for ("check": nothing more than the new photo).
    step = first if message.level.key == "check" else f"{first} {message.next_step}"
    return replace(message, next_step=step, lines=lines)
