"""One decision, every view: the notice, the finding cards and the provider report agree for every finding, level,
treatment and day around its window (issue 22, point 1). Levels are built directly, not taken from today's model:
the rule-in points of the shipped checkpoint equal its thresholds, so it never says "possible".

    python -m pytest -q tests/test_decisions.py
"""

from __future__ import annotations

import re

import pytest

from skinfindings.app import check_tab, guidance, report
from skinfindings.app.notice import notice_html, photo_decision
from skinfindings.app.priority import ESCALATING, decide
from skinfindings.findings import FINDINGS, LIKELY, NOT_SEEN, POSSIBLE
from skinfindings.model.checkpoint import CheckpointMeta

META = CheckpointMeta(arch="test", input_size=128, trained=True, status="a test model, not validated on patients",
                      thresholds=[0.3] * 5, rule_in=[0.7] * 5)
PROBABILITY = {LIKELY: 0.8, POSSIBLE: 0.5, NOT_SEEN: 0.1}
SOON = "contact your provider soon"


def days_around_windows(finding: str, procedure: str) -> list[int | None]:
    timing = guidance.guidance().findings[finding].timing.get(procedure)
    days = {None, 0, 30}
    if timing is not None:
        days |= {timing.first_day, timing.first_day + 1}
        if timing.last_day is not None:
            days |= {timing.last_day, timing.last_day + 1}
    return sorted(days, key=lambda d: -1 if d is None else d)


def cases():
    for finding in FINDINGS:
        for level in (LIKELY, POSSIBLE):
            for procedure in guidance.guidance().procedures:
                for day in days_around_windows(finding, procedure):
                    yield pytest.param(finding, level, procedure, day, id=f"{finding}-{level}-{procedure}-{day}")


def photo(finding: str, level: str) -> check_tab.PhotoResult:
    levels = {f: (level if f == finding else NOT_SEEN) for f in FINDINGS}
    return check_tab.PhotoResult(
        name="x.jpg", probabilities={f: PROBABILITY[levels[f]] for f in FINDINGS},
        thresholds=dict(zip(FINDINGS, META.thresholds)), rule_in=dict(zip(FINDINGS, META.rule_in)), levels=levels,
        present=[f for f in FINDINGS if levels[f] != NOT_SEEN])


def headline(page: str) -> str:
    return re.search(r'class="sf-headline">([^<]*)<', page).group(1)


def card(page: str, finding: str) -> str:
    match = re.search(rf'<div class="sf-finding[^"]*" data-finding="{finding}".*?</details></div>', page, re.S)
    return match.group(0) if match else ""


@pytest.mark.parametrize(("finding", "level", "procedure", "day"), list(cases()))
def test_notice_cards_and_report_agree(finding, level, procedure, day):
    result = photo(finding, level)
    decision = photo_decision(result, [], procedure, day)
    notice = notice_html(META, result, [], procedure, day)
    page = check_tab.results_html(result, procedure, day)

    # The notice says "soon" exactly when the decision does, and only for what point 1 allows.
    assert (headline(notice) == "Contact your provider soon") == decision.soon
    if decision.soon:
        assert finding in ESCALATING and level == LIKELY and finding in decision.raising
    # The results open with the notice's own next step.
    step = guidance.urgency(decision).next_step
    assert page.index(step.replace("'", "&#x27;")) < page.index("sf-finding") if finding in check_tab.carded(
        result.levels) else step.replace("'", "&#x27;") in page

    # The finding's card says the same: "soon" only when the notice does; "within that time" never when raised.
    shown = card(page, finding)
    assert bool(shown) == (level == LIKELY or finding in ESCALATING)
    assert (SOON in shown.lower()) == (finding in decision.raising)
    if finding in decision.raising:
        assert "within that time" not in shown
    if finding in decision.watch:
        assert "Possible: " in shown and "within a day" in shown and "Watch the possible" in headline(notice)

    # The provider report, made from the same photo on the same day, shows the notice the patient saw.
    if day is not None:
        tracked = report.TrackedPhoto(day=day, name="x.jpg", probabilities=result.probabilities,
                                      thresholds=result.thresholds, present=result.present, levels=result.levels,
                                      rule_in=result.rule_in)
        page = report.build_report([tracked], procedure, set(), META).decode()
        assert f"Notice shown to the patient: <b>{headline(notice)}</b>" in page


def test_red_flags_are_now_whatever_the_photo_shows_and_the_cards_keep_their_roles():
    result = photo("pustules", POSSIBLE)
    notice = notice_html(META, result, ["fever"], "microneedling", 4)
    assert headline(notice) == "Contact your provider now"
    page = check_tab.results_html(result, "microneedling", 4, ["fever"])
    assert "Call the clinic that treated you today" in page.split("sf-finding")[0]  # the next step, said first
    assert "within a day" in card(page, "pustules")  # still named with what to watch


def test_decide_reasons_are_in_clinician_words():
    decision = decide({"pustules": LIKELY, "crusting": POSSIBLE, "erythema": LIKELY}, True,
                      {"pustules": 0.82, "crusting": 0.41, "erythema": 0.6}, red_flags={"fever"},
                      procedure="microneedling", day=12, rising_or_late={"crusting": "rising"})
    assert decision.tier.key == "urgent"
    assert decision.reasons[:3] == ("red flag: fever", "likely pustules 0.82, day 12 after microneedling",
                                    "crusting rising, day 12 after microneedling")
    assert "possible crusting 0.41 (watch)" in decision.reasons and "likely erythema 0.60" in decision.reasons
    healing = decide({"crusting": LIKELY}, True, {"crusting": 0.9}, procedure="fractional_laser", day=3)
    assert healing.tier.key == "routine" and healing.reasons == ("likely crusting 0.90, expected day 3 after "
                                                                 "fractional laser",)
    assert decide({}, False).reasons == ("photo could not be assessed",)
    assert decide({f: NOT_SEEN for f in FINDINGS}, True).reasons == ("no finding recognised",)


def test_a_worklist_row_of_an_earlier_photo_names_the_day_the_course_was_judged_on():
    # ben's pustules are late on day 12; his day-2 photo moves up with him, but the course was not seen on day 2.
    earlier = decide({"erythema": POSSIBLE}, True, {"erythema": 0.5}, procedure="microneedling", day=2,
                     rising_or_late={"pustules": "late"}, trend_day=12)
    assert earlier.tier.key == "review"
    assert "pustules later than expected, day 12 after microneedling" in earlier.reasons
    assert not any("pustules" in r and "day 2" in r for r in earlier.reasons)


@pytest.mark.parametrize("levels, tier", [
    ({"pustules": LIKELY}, "review"), ({"crusting": LIKELY}, "review"), ({"pustules": POSSIBLE}, "check"),
    ({"crusting": POSSIBLE}, "check"), ({"erythema": LIKELY}, "routine"), ({"milia": POSSIBLE}, "routine"),
    ({f: NOT_SEEN for f in FINDINGS}, "routine-none"),
])
def test_review_first_only_for_likely_pustules_or_crusting(levels, tier):
    assert decide(levels, True).tier.key == tier
