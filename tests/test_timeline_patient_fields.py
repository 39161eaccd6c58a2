"""The recovery tab's optional patient name/ID and note (issue 22, point 4): typed by the patient, passed into the
provider report (escaped), held to their length limits by the tab's validators; with a real Predictor and uploads."""

from __future__ import annotations

import base64
import re

import pytest

from skinfindings.app import inputs, privacy, timeline_tab
from skinfindings.model.predictor import Predictor
from test_report import phone_jpeg
from test_timeline_tab import upload


@pytest.fixture(scope="module")
def predictor(untrained_checkpoint):
    return Predictor(untrained_checkpoint)


def report_of(results: str) -> str:
    link = re.search(r'download="skinfindings-recovery-report.html" href="data:text/html;base64,([^"]+)"', results)
    return base64.b64decode(link.group(1)).decode()


def test_the_typed_name_and_note_reach_the_report_escaped(predictor):
    uploads = [upload("n1.jpg", phone_jpeg(21)), upload("n2.jpg", phone_jpeg(22))]
    kept, _, _, results = timeline_tab.track(
        predictor, privacy.UploadInbox(), uploads, [["Photo 1", "1"], ["Photo 2", "4"]], "2026-03-01",
        "microneedling", [], [], "Ana <b>Lima</b> #42", "It itches & burns <script>alert(1)</script>")
    page = report_of(results)
    assert "Ana &lt;b&gt;Lima&lt;/b&gt; #42" in page and "It itches &amp; burns &lt;script&gt;" in page
    assert "<script>" not in page and "<b>Lima" not in page
    assert "Microneedling on 2026-03-01" in page  # the typed treatment date reaches the report too
    # Editing a day later re-renders with the same fields, from the photos kept in the session.
    _, again = timeline_tab.render(predictor.meta, kept, [["Photo 1", "1"], ["Photo 2", "5"]], "microneedling", [],
                                   "Ana", "Still itchy", "2026-03-01")
    page = report_of(again)
    assert "Ana" in page and "Still itchy" in page and "days 1, 5" in page


def test_no_name_and_no_note_leave_no_patient_lines(predictor):
    kept, _, _, results = timeline_tab.track(predictor, privacy.UploadInbox(), [upload("n3.jpg", phone_jpeg(23))],
                                             [["Photo 1", "2"]], "", "microneedling", [], [])
    page = report_of(results)
    assert "as typed by the patient" not in page and "Note from the patient" not in page


def test_the_validators_hold_the_name_and_note_to_their_limits():
    checks = timeline_tab.validators(privacy.TICKETS)
    table = [["Photo 1", "2"]]
    long_name = "x" * (timeline_tab.MAX_PATIENT_CHARS + 1)
    with pytest.raises(inputs.BadInput, match=f"{timeline_tab.MAX_PATIENT_CHARS} characters"):
        checks["update_recovery"]([[], table, "", [], long_name, "", ""])
    with pytest.raises(inputs.BadInput, match=f"{timeline_tab.MAX_NOTE_CHARS} characters"):
        checks["update_recovery"]([[], table, "", [], "", "y" * (timeline_tab.MAX_NOTE_CHARS + 1), ""])
    with pytest.raises(inputs.BadInput, match="must be text"):
        checks["update_recovery"]([[], table, "", [], {"name": "x"}, "", ""])
    checked = checks["update_recovery"]([[], table, "", [], "Ana\x00\x07", "line one\nline two", None])
    assert checked[4:] == ["Ana", "line one\nline two", ""]  # control characters dropped, line breaks kept
    photo = upload("n4.jpg", phone_jpeg(24))
    with pytest.raises(inputs.BadInput, match="characters"):  # refused before the upload's ticket is used
        checks["track_recovery"]([[photo], table, "", "", [], [], long_name, ""])
    assert checks["track_recovery"]([[photo], table, "", "", [], [], "Ana", "a note"])[-2:] == ["Ana", "a note"]
