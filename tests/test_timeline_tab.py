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
    assert timeline_tab.day_rows([taken, undated], "2026-03-01") == [["Photo 1", "4"], ["Photo 2", ""]]
    assert timeline_tab.day_rows([taken], "") == [["Photo 1", ""]]  # no treatment date: nothing to count from
    assert timeline_tab.day_rows([taken], "2025-01-01") == [["Photo 1", ""]]  # over a year: left to type
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(phone_jpeg(3))
    assert timeline_tab.day_rows([str(outside)], "2026-03-01") == [["Photo 1", ""]]  # not an upload: not read
    used = upload("used.jpg", phone_jpeg(4))
    privacy.TICKETS.take_all([used["path"]])
    assert timeline_tab.day_rows([used], "2026-03-01") == [["Photo 1", ""]]  # another request's: not read


def test_three_photos_give_a_plot_verdicts_and_a_report_and_leave_nothing_behind(predictor):
    uploads = [upload("a.jpg", phone_jpeg(4)), upload("b.png", dark_png()), upload("c.jpg", phone_jpeg(5))]
    table = [["Photo 1", "1"], ["Photo 2", "4"], ["Photo 3", "9"]]
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
    assert MAKER not in words  # the camera is not shown back
    assert not re.search(r"2026[-:]03[-:]05", words)  # nor the capture date (the treatment date was typed in)
    # Editing a day re-renders from the photos kept in the session: no upload needed again.
    notice, again = timeline_tab.render(predictor.meta, kept, [["Photo 1", "1"], ["Photo 2", "4"], ["Photo 3", "2"]],
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
                                          [["Photo 1", "3"]], "14/03/2026", "halo_laser", [], [])
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
    checked = checks["track_recovery"]([[photo], [["Photo 1", "2"]], "2026-03-01", "microneedling", "FEVER", []])
    assert checked[0][0]["path"] == photo["path"] and checked[4] == ["fever"]  # a red flag in any form still counts
    with pytest.raises(inputs.BadInput):  # the ticket was used: the same upload cannot be named again
        checks["track_recovery"]([[photo], [], "", "", [], []])
    with pytest.raises(inputs.BadInput, match="Unknown warning sign"):
        checks["update_recovery"]([[], [["v.jpg", "2"]], "microneedling", ["itchy elbows"]])
    with pytest.raises(inputs.BadInput, match="Unknown treatment"):
        checks["update_recovery"]([[], [], "tattoo", []])
    with pytest.raises(inputs.BadInput, match="table"):
        checks["update_recovery"]([[], [[{"x": 1}, "2"]], "", []])


# ---------------------------------------------------------------- issue 21: hardening


def test_days_follow_the_photo_column_not_the_row_position(predictor):
    kept = [timeline_tab.report.tracked_photo(predictor.predict(skin_like(160, seed=i)), 0, f"Photo {i + 1}")
            for i in range(3)]
    swapped = [["Photo 3", "9"], ["Photo 1", "1"], ["Photo 2", "4"]]  # rows moved: each photo keeps its own day
    dated, problems = timeline_tab.with_days(kept, swapped)
    assert not problems and [(p.name, p.day) for p in dated] == [("Photo 1", 1), ("Photo 2", 4), ("Photo 3", 9)]
    _, results = timeline_tab.render(predictor.meta, kept, [["Photo 1", "1"], ["Photo 3", "9"]], "microneedling", [])
    assert "Photo 2 has no row" in results and "sf-tl-plot" not in results  # a deleted row: said, never shifted
    _, results = timeline_tab.render(predictor.meta, kept, swapped + [["Photo 7", "3"]], "microneedling", [])
    assert "&#x27;Photo 7&#x27;, which is not one of the photos" in results


def test_a_date_in_a_file_name_is_never_shown(predictor):
    uploads = [upload("IMG_20260311_101523.jpg", phone_jpeg(8, taken=None)),
               upload("PXL_20260318_080000000.jpg", phone_jpeg(9, taken=None))]
    rows = timeline_tab.day_rows(uploads, "")
    assert rows == [["Photo 1", ""], ["Photo 2", ""]]
    _, _, _, results = timeline_tab.track(predictor, privacy.UploadInbox(), uploads, [["Photo 1", "2"], ["Photo 2", "9"]],
                                          "", "microneedling", [], [])
    page = base64.b64decode(re.search(r'href="data:text/html;base64,([^"]+)"', results).group(1)).decode()
    for text in (results, page):
        assert "sf-tl-plot" in results and "Photo 2" in text
        assert "20260311" not in text and "20260318" not in text and "IMG_" not in text and "PXL_" not in text


def test_more_than_sixty_photos_are_refused_whole_and_their_uploads_deleted(predictor):
    checks = timeline_tab.validators(privacy.TICKETS)
    uploads = [upload(f"day{i}.png", dark_png() + bytes([i])) for i in range(timeline_tab.MAX_PHOTOS + 1)]
    with pytest.raises(inputs.BadInput, match=f"At most {timeline_tab.MAX_PHOTOS} photos"):
        checks["track_recovery"]([uploads, [], "", "", [], []])
    assert not any(privacy.Path(u["path"]).exists() for u in uploads)  # nothing left behind either
    with pytest.raises(inputs.BadInput, match="At most"):
        checks["prefill_days"]([uploads, ""])
    with pytest.raises(inputs.BadInput, match="At most"):  # the handler itself never drops the 61st
        timeline_tab.read_photos(predictor, privacy.UploadInbox(), uploads)


@pytest.mark.parametrize("table", [
    {"data": "Photo 1"}, [["Photo 1"]], [["Photo 1", "2", "extra"]], [[["Photo 1"], "2"]], "Photo 1,2", [[True, "2"]],
])
def test_a_wrongly_shaped_days_table_is_refused_with_a_message(table):
    checks = timeline_tab.validators(privacy.TICKETS)
    with pytest.raises(inputs.BadInput, match="two columns, Photo and Day"):
        checks["update_recovery"]([[], table, "", []])


def test_the_days_table_reaches_gradio_in_the_shape_it_accepts():
    checks = timeline_tab.validators(privacy.TICKETS)
    for table in ([["Photo 1", 2]], {"data": [["Photo 1", 2]]}, {"headers": ["x"], "data": [["Photo 1", 2]]}):
        assert checks["update_recovery"]([[], table, "", []])[1] == {"headers": timeline_tab.DAY_COLUMNS,
                                                                     "data": [["Photo 1", "2"]]}


def test_prefilling_days_takes_no_link():
    checks = timeline_tab.validators(privacy.TICKETS)
    for link in ("http://93.184.216.34/a.jpg", "https://probe.example.com/x.png", "file:///etc/passwd"):
        with pytest.raises(inputs.BadInput):
            checks["prefill_days"]([[{"path": link, "meta": {"_type": "gradio.FileData"}}], ""])
