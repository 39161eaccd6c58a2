"""The provider report and the capture date: real Predictor on generated photos, real files."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from conftest import rendered_skin, skin_like
from skinfindings.app import report
from skinfindings.data.photo import capture_date, load_photo
from skinfindings.findings import FINDINGS
from skinfindings.model.checkpoint import CheckpointMeta
from skinfindings.model.predictor import Predictor

TAKEN = "2026:03:05 09:41:07"
MAKER = "PhoneMaker-XZ"


def phone_jpeg(seed: int, taken: str | None = TAKEN, image: Image.Image | None = None) -> bytes:
    """A JPEG as a phone writes it: DateTimeOriginal, the camera's make and a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = MAKER
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
    buffer = io.BytesIO()
    (image or rendered_skin(seed)).save(buffer, format="JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def test_capture_date_is_read_before_stripping_and_the_photo_keeps_no_metadata(tmp_path):
    path = tmp_path / "phone.jpg"
    path.write_bytes(phone_jpeg(1))
    assert Image.open(path).getexif().get_ifd(0x8825)  # the file really carries GPS
    assert capture_date(path) == dt.date(2026, 3, 5)
    assert capture_date(path.read_bytes()) == dt.date(2026, 3, 5)
    image = load_photo(path)
    assert not image.getexif() and "exif" not in image.info  # what the model and the app use has none
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    assert MAKER.encode() not in buffer.getvalue() and b"2026:03:05" not in buffer.getvalue()


@pytest.mark.parametrize("data", [phone_jpeg(2, taken=None), phone_jpeg(3, taken="not a date"), b"not a photo", b""])
def test_no_or_broken_capture_date_is_none(data):
    assert capture_date(data) is None


@pytest.fixture(scope="module")
def predictor(untrained_checkpoint):
    return Predictor(untrained_checkpoint)


@pytest.fixture(scope="module")
def photos(predictor):
    dark = io.BytesIO()
    Image.fromarray(np.full((320, 320, 3), 10, np.uint8)).save(dark, format="PNG")
    big = skin_like(900, seed=6)
    files = [(0, phone_jpeg(4, image=big), "day0.jpg"), (7, dark.getvalue(), "dark.png"), (3, phone_jpeg(5), "day3.jpg")]
    return [report.tracked_photo(predictor.predict(data, name=name), day, source=data) for day, data, name in files]


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.sources = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.sources += [value for key, value in attrs if key in ("src", "href") and value]


def test_the_report_is_self_contained_complete_and_metadata_free(photos, predictor):
    page = report.build_report(photos, "microneedling", {"fever"}, predictor.meta).decode()
    assert not re.search(r"https?:|url\(|@import", page)
    parser = _Collect()
    parser.feed(page)
    assert not {"link", "script", "iframe", "object"} & set(parser.tags)
    # The plot, a thumbnail per photo (the dark one was read, then refused) and each photo at 512 px below.
    assert parser.tags.count("img") == 1 + 3 + 3
    assert all(source.startswith("data:image/") for source in parser.sources)
    for needle in ("Not a diagnosis", "untrained placeholder", "Microneedling", "days 0, 3, 7",
                   "Fever, chills or feeling generally unwell: <b>yes</b>", "Contact your provider now",
                   "Not assessed.", "too dark"):
        assert needle in page, needle
    assert page.count('data-verdict="') == 5
    for source in parser.sources:
        picture = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
        assert not picture.getexif() and "exif" not in picture.info
    text = re.sub(r"data:[^\"]+", "", page)  # the words of the page, without the pictures' base64
    text = text.replace(f"Report made on {dt.date.today().isoformat()}", "")  # the one date it carries
    assert MAKER not in text and "2026:03" not in text and "2026-03" not in text and "GPS" not in text


def test_the_report_names_a_finding_rising_after_its_window(photos):
    late = [report.TrackedPhoto(day=1, name="a", probabilities={f: 0.1 for f in FINDINGS}),
            report.TrackedPhoto(day=20, name="b", probabilities={**{f: 0.1 for f in FINDINGS}, "erythema": 0.9},
                                present=["erythema"], levels={**{f: "not_seen" for f in FINDINGS}, "erythema": "likely"})]
    page = report.build_report(late, "microneedling", set(), CheckpointMeta(arch="m", input_size=128)).decode()
    assert "Contact your provider soon" in page and 'data-finding="erythema" data-verdict="rising"' in page
    assert "normal" not in page.lower()


def _pictures(page: str) -> list[Image.Image]:
    parser = _Collect()
    parser.feed(page)
    return [Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))) for s in parser.sources]


def test_the_report_shows_photos_large_dated_with_patient_note_and_the_models_facts(photos, predictor):
    """Issue 22, point 4: photos >= 512 px without metadata, levels and cut-offs, model name, version and weights
    hash from the checkpoint, the date made, the treatment date, the patient's name/ID and note."""
    meta = predictor.meta
    page = report.build_report(photos, "microneedling", set(), meta, patient="Ana <B.>", note="It itches & burns",
                               treatment_date=dt.date(2026, 3, 1), made=dt.date(2026, 3, 9)).decode()
    sides = sorted(max(picture.size) for picture in _pictures(page))
    assert sides[-1] >= report.REPORT_SIDE  # the 900 px photo is shown at 512 px, not the model's 128
    for picture in _pictures(page):
        assert not picture.getexif() and "exif" not in picture.info
    for needle in ("Report made on 2026-03-09", "Microneedling on 2026-03-01", "Ana &lt;B.&gt;", "It itches &amp; burns",
                   meta.arch, meta.weights_sha256, f"checkpoint format {meta.format_version}", "Possible from",
                   "Likely from", f"{meta.thresholds[0]:.2f}", f"{meta.rule_in_thresholds[0]:.2f}"):
        assert needle in page, needle
    assert "synthetic images only" not in page  # nothing about the model is written by hand


def test_every_model_statement_follows_the_checkpoint():
    late = [report.TrackedPhoto(day=1, name="a", probabilities={f: 0.1 for f in FINDINGS})]
    meta = CheckpointMeta(arch="archX", input_size=96, trained=True, status="trained on nothing real",
                          thresholds=[0.11, 0.2, 0.3, 0.4, 0.5], rule_in=[0.61, 0.7, 0.8, 0.9, 0.95],
                          threshold_rule="ruleA", rule_in_rule="ruleB", weights_sha256="f" * 64)
    page = report.build_report(late, "microneedling", set(), meta).decode()
    for needle in ("archX", "96 px", "trained on nothing real", "ruleA", "ruleB", "0.11", "0.61", "0.95", "f" * 64):
        assert needle in page, needle
