"""The "Track my recovery" tab's handlers with a real Predictor and real uploads in the private folder."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from conftest import skin_like
from skinfindings.app import inputs, privacy, timeline_tab
from skinfindings.model.predictor import Predictor
from test_report import MAKER, phone_jpeg


def upload(name: str, data: bytes) -> dict:
    """A file where gradio puts uploads (the app's private folder), as an event receives it."""
    folder = privacy.private_dir() / f"test-{name}-{len(data)}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    privacy.TICKETS.issue([path])  # as the upload endpoint does (security.RequestGuard)
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def dark_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((320, 320, 3), 10, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def predictor(untrained_checkpoint):
    return Predictor(untrained_checkpoint)


def test_days_are_prefilled_from_the_capture_date_and_the_treatment_date(tmp_path):
    taken = upload("phone.jpg", phone_jpeg(1))  # taken 2026-03-05
    undated = upload("plain.jpg", phone_jpeg(2, taken=None))
    assert timeline_tab.day_rows([taken, undated], "2026-03-01") == [["phone.jpg", "4"], ["plain.jpg", ""]]
    assert timeline_tab.day_rows([taken], "") == [["phone.jpg", ""]]  # no treatment date: nothing to count from
    assert timeline_tab.day_rows([taken], "2025-01-01") == [["phone.jpg", ""]]  # over a year: left to type
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(phone_jpeg(3))
    assert timeline_tab.day_rows([str(outside)], "2026-03-01") == [["outside.jpg", ""]]  # not an upload: not read
    used = upload("used.jpg", phone_jpeg(4))
    privacy.TICKETS.take_all([used["path"]])
    assert timeline_tab.day_rows([used], "2026-03-01") == [["used.jpg", ""]]  # another request's: not read


def test_three_photos_give_a_plot_verdicts_and_a_report_and_leave_nothing_behind(predictor):
    uploads = [upload("a.jpg", phone_jpeg(4)), upload("b.png", dark_png()), upload("c.jpg", phone_jpeg(5))]
    table = [["a.jpg", "1"], ["b.png", "4"], ["c.jpg", "9"]]
    kept, files, notice, results = timeline_tab.track(
        predictor, privacy.UploadInbox(), uploads, table, "2026-03-01", "microneedling", ["fever"], [])
    assert files is None and len(kept) == 3
    assert not any(privacy.Path(u["path"]).exists() for u in uploads)  # read into memory, then deleted
    assert "Contact your provider now" in notice  # a red flag still says "now"
    assert 'class="sf-tl-plot"' in results and results.count('data-verdict="') == 5
    assert "too dark" in results and "gaps in the timeline" in results and "days 4" in results
    link = re.search(r'download="skinfindings-recovery-report.html" href="data:text/html;base64,([^"]+)"', results)
    page = base64.b64decode(link.group(1)).decode()
    assert "Not a diagnosis" in page and "days 1, 4, 9" in page
    words = re.sub(r"data:[^\"]+", "", results + page)
    assert MAKER not in words and "2026" not in words  # neither the camera nor any date is shown back
    # Editing a day re-renders from the photos kept in the session: no upload needed again.
    notice, again = timeline_tab.render(predictor.meta, kept, [["a.jpg", "1"], ["b.png", "4"], ["c.jpg", "2"]],
                                        "microneedling", [])
    assert "days 1, 2, 4" in base64.b64decode(re.search(r"base64,([^\"]+)\">Download", again).group(1)).decode()


@pytest.mark.parametrize("day, message", [
    ("", "Please enter the day since the treatment for b.jpg"), ("-3", "before the treatment"),
    ("400", "more than a year after"), ("two", "whole number"),
])
def test_bad_days_are_refused_with_a_message(predictor, day, message):
    kept = [timeline_tab.report.TrackedPhoto(0, "a.jpg", note="x"), timeline_tab.report.TrackedPhoto(0, "b.jpg", note="x")]
    notice, results = timeline_tab.render(predictor.meta, kept, [["a.jpg", "2"], ["b.jpg", day]], "microneedling", [])
    assert message in results and 'role="alert"' in results and "sf-tl-plot" not in results
    assert "See your provider" in notice
    notice, _ = timeline_tab.render(predictor.meta, kept, [["a.jpg", "2"], ["b.jpg", day]], "microneedling", ["pus"])
    assert "Contact your provider now" in notice  # a day to fix never hides a warning sign


def test_a_bad_treatment_date_is_said_and_nothing_crashes(predictor):
    _, _, _, results = timeline_tab.track(predictor, privacy.UploadInbox(), [upload("d.jpg", phone_jpeg(6))],
                                          [["d.jpg", "3"]], "14/03/2026", "halo_laser", [], [])
    assert "year-month-day" in results and "sf-tl-plot" in results


def test_no_photos_and_thirty_photos(predictor):
    _, _, _, results = timeline_tab.track(predictor, privacy.UploadInbox(), None, None, "", "", [], [])
    assert "Add photos" in results
    pictures = [predictor.predict(skin_like(160, seed=i), name=f"p{i}.jpg") for i in range(30)]
    kept = [timeline_tab.report.tracked_photo(p, 0) for p in pictures]
    notice, results = timeline_tab.render(predictor.meta, kept, [[p.name, str(i)] for i, p in enumerate(kept)],
                                          "fractional_laser", [])
    assert "sf-tl-plot" in results and results.count("<tr><td>") == 30


def test_the_events_inputs_are_validated_like_the_other_tabs():
    checks = timeline_tab.validators(privacy.TICKETS)
    photo = upload("v.jpg", phone_jpeg(7))
    checked = checks["track_recovery"]([[photo], [["v.jpg", "2"]], "2026-03-01", "microneedling", "FEVER", []])
    assert checked[0][0]["path"] == photo["path"] and checked[4] == ["fever"]  # a red flag in any form still counts
    with pytest.raises(inputs.BadInput):  # the ticket was used: the same upload cannot be named again
        checks["track_recovery"]([[photo], [], "", "", [], []])
    with pytest.raises(inputs.BadInput, match="Unknown warning sign"):
        checks["update_recovery"]([[], [["v.jpg", "2"]], "microneedling", ["itchy elbows"]])
    with pytest.raises(inputs.BadInput, match="Unknown treatment"):
        checks["update_recovery"]([[], [], "tattoo", []])
    with pytest.raises(inputs.BadInput, match="table"):
        checks["update_recovery"]([[], [[{"x": 1}, "2"]], "", []])
