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

from conftest import skin_like
from skinfindings.app import report
from skinfindings.data.photo import capture_date, load_photo
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
    (image or skin_like(320, seed=seed)).save(buffer, format="JPEG", quality=90, exif=exif)
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
def photos(untrained_checkpoint):
    predictor = Predictor(untrained_checkpoint)
    dark = io.BytesIO()
    Image.fromarray(np.full((320, 320, 3), 10, np.uint8)).save(dark, format="PNG")
    files = [(0, phone_jpeg(4), "day0.jpg"), (7, dark.getvalue(), "dark.png"), (3, phone_jpeg(5), "day3.jpg")]
    return [report.tracked_photo(predictor.predict(data, name=name), day) for day, data, name in files]


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.sources = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.sources += [value for key, value in attrs if key in ("src", "href") and value]


def test_the_report_is_self_contained_complete_and_metadata_free(photos):
    page = report.build_report(photos, "microneedling", {"fever"}, model_note="test model (NOT TRAINED)").decode()
    assert not re.search(r"https?:|url\(|@import", page)
    parser = _Collect()
    parser.feed(page)
    assert not {"link", "script", "iframe", "object"} & set(parser.tags)
    assert parser.tags.count("img") == 1 + 3  # the plot and a thumbnail per photo (the dark one was read, then refused)
    assert all(source.startswith("data:image/") for source in parser.sources)
    for needle in ("Not a diagnosis", "test model (NOT TRAINED)", "Microneedling", "days 0, 3, 7",
                   "Fever, chills or feeling generally unwell: <b>yes</b>", "Contact your provider now",
                   "Not assessed.", "too dark"):
        assert needle in page, needle
    assert page.count('data-verdict="') == 5
    for source in parser.sources:
        picture = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
        assert not picture.getexif() and "exif" not in picture.info
    text = re.sub(r"data:[^\"]+", "", page)  # the words of the page, without the pictures' base64
    assert MAKER not in text and "2026" not in text and "GPS" not in text  # no date, camera or place


def test_the_report_names_a_finding_rising_after_its_window(photos):
    late = [report.TrackedPhoto(day=1, name="a", probabilities={f: 0.1 for f in photos[0].probabilities}),
            report.TrackedPhoto(day=20, name="b", probabilities={**{f: 0.1 for f in photos[0].probabilities},
                                                                 "erythema": 0.9}, present=["erythema"])]
    page = report.build_report(late, "microneedling", set(), model_note="m").decode()
    assert "Contact your provider soon" in page and 'data-finding="erythema" data-verdict="rising"' in page
    assert "normal" not in page.lower()
