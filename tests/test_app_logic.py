"""The app's logic without a server: guidance selection, urgency, prediction + heatmaps, rendering, privacy helpers.

    python -m pytest -q tests/test_app_logic.py
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import skin_like
from skinfindings.app import check_tab, guidance, heatmap, privacy, ui
from skinfindings.app.priority import RED_FLAGS, decide
from skinfindings.data.photo import CorruptPhotoError, UnsupportedFormatError
from skinfindings.findings import FINDINGS, LIKELY, NOT_SEEN, POSSIBLE
from skinfindings.model.checkpoint import CheckpointMeta, DataSource
from skinfindings.model.predictor import Predictor

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
REASSURING = re.compile(r"\bnormal\b|all clear|nothing to worry|\bhealthy\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def predictor(untrained_checkpoint):
    return Predictor(untrained_checkpoint)


def jpeg_bytes(image: Image.Image, **save_kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **save_kwargs)
    return buffer.getvalue()


def decode_data_uri(uri: str) -> Image.Image:
    header, payload = uri.split(",", 1)
    assert header == "data:image/jpeg;base64"
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def visible_text(markup: str) -> str:
    return re.sub(r"<[^>]+>", " ", markup)


# ------------------------------------------------------------------ guidance file


def test_every_fact_names_a_listed_seed_source():
    shipped = guidance.load_guidance()
    facts = guidance.all_facts(shipped)
    assert len(facts) > 40
    for fact in facts:
        assert fact.text.strip() and fact.sources, fact
        for source in fact.sources:
            assert re.fullmatch(r"seeds/\d{3}_[0-9a-f]+\.txt", source), source
            assert source in shipped.sources
    assert set(shipped.findings) == set(FINDINGS)
    assert set(shipped.red_flag_sources) == set(RED_FLAGS)


def test_guidance_file_with_an_unknown_source_is_refused(tmp_path):
    raw = guidance.GUIDANCE_FILE.read_text()
    broken = tmp_path / "guidance.json"
    broken.write_text(raw.replace('"sources": ["seeds/003_0fe05147af264675.txt"]', '"sources": ["seeds/999_x.txt"]', 1))
    with pytest.raises(ValueError, match="999"):
        guidance.load_guidance(broken)


def test_guidance_texts_never_reassure():
    shipped = guidance.load_guidance()
    for text in [fact.text for fact in guidance.all_facts(shipped)] + list(shipped.wording.values()):
        assert not REASSURING.search(text), text


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed documents are not next to this checkout")
def test_no_sentence_is_copied_from_the_seeds():
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    seed_words = [w for path in sorted(SEEDS.glob("0*.txt")) for w in words(path.read_text())]
    n = 6  # six words in a row in the same order is a copied phrase, not a shared term
    seed_grams = {tuple(seed_words[i : i + n]) for i in range(len(seed_words) - n + 1)}
    shipped = guidance.load_guidance()
    for text in [fact.text for fact in guidance.all_facts(shipped)] + list(shipped.wording.values()):
        ours = words(text)
        copied = [" ".join(ours[i : i + n]) for i in range(len(ours) - n + 1) if tuple(ours[i : i + n]) in seed_grams]
        assert not copied, (text, copied)


# ------------------------------------------------------------------ wording by procedure and day


def test_timing_changes_with_the_day():
    timing = guidance.guidance().findings["erythema"].timing["microneedling"]
    within = guidance.timing_note("erythema", "microneedling", timing.last_day)
    late = guidance.timing_note("erythema", "microneedling", timing.last_day + 7)
    assert f"day {timing.last_day}," in within and "within that time" in within
    assert f"day {timing.last_day + 7}," in late and "later than this usually lasts" in late
    assert "if it is not fading, contact your provider" in late  # one photo cannot show the course
    assert "contact your provider" not in within


def test_timing_without_day_or_procedure_asks_for_them():
    assert "Enter the number of days" in guidance.timing_note("erythema", "fractional_laser", None)
    assert "Choose your type of treatment" in guidance.timing_note("erythema", "unknown", 2)
    assert "Choose your type of treatment" in guidance.timing_note("erythema", None, None)


def test_timing_differs_between_procedures():
    notes = {p: guidance.timing_note("crusting", p, 6) for p in ("microneedling", "fractional_laser", "halo_laser")}
    assert len(set(notes.values())) == 3
    assert "later than this usually lasts" in notes["microneedling"]  # past the few days after microneedling
    assert "within that time" in notes["fractional_laser"]  # the first week after a fractional laser


def test_pustules_are_never_something_to_wait_out():
    for procedure in ("microneedling", "fractional_laser", "halo_laser"):
        for days in (None, 0, 3, 30):
            note = guidance.timing_note("pustules", procedure, days)
            assert "not something to simply wait out" in note
    assert "Contact your provider" in guidance.finding_advice("pustules").contact


def test_finding_advice_has_every_part():
    for finding in FINDINGS:
        advice = guidance.finding_advice(finding, "halo_laser", 3)
        assert advice.headline == f"Possible: {guidance.guidance().names[finding]}"  # plain word first, then term
        assert guidance.finding_advice(finding, level=LIKELY).headline.startswith("Likely: ")
        assert "possible possible" not in advice.headline.lower()
        assert advice.what and advice.course and advice.timing and advice.helps
        assert "provider" in advice.contact


# ------------------------------------------------------------------ urgency


def notice_for(levels: dict[str, str], assessed: bool = True, flags: frozenset[str] = frozenset(), **kwargs):
    return guidance.urgency(decide(levels, assessed, red_flags=flags, **kwargs), flags)


@pytest.mark.parametrize("flag", sorted(RED_FLAGS))
def test_any_red_flag_is_urgent_with_emergency_wording(flag):
    message = notice_for({}, flags=frozenset({flag}))
    assert message.level.key == "urgent"
    assert message.headline == "Contact your provider now"
    assert RED_FLAGS[flag].lower() in message.next_step
    assert "emergency" in message.emergency


def test_escalating_finding_with_red_flag_says_why():
    message = notice_for({"pustules": LIKELY, "erythema": LIKELY}, flags=frozenset({"fever", "pus"}))
    assert message.level.key == "urgent"
    assert any("pus-filled bumps (pustules)" in line and "infection" in line for line in message.lines)


def test_levels_without_red_flags():
    review = notice_for({"crusting": LIKELY})
    assert review.level.key == "review" and review.emergency is None
    assert "soon" in review.headline and review.next_step.startswith("Contact your provider soon")
    assert notice_for({}, assessed=False).level.key == "check"
    calm = notice_for({"milia": LIKELY})
    assert calm.headline.startswith("See your provider") and calm.emergency is None
    for message in (review, calm, notice_for({})):
        assert "provider" in message.next_step
        assert not REASSURING.search(" ".join((message.next_step, *message.lines)))


def test_a_possible_escalating_finding_is_named_with_what_to_watch_without_raising_the_notice():
    watched = notice_for({"pustules": POSSIBLE, "erythema": LIKELY})
    assert watched.level.key == "check" and "soon" not in watched.headline
    assert "pus-filled bumps (pustules)" in watched.headline and "within a day" in watched.next_step
    assert "fill with more pus" in watched.next_step


def test_a_likely_crust_inside_its_window_is_healing_and_outside_it_raises():
    """The reported case: day 2 after microneedling, the notice said "soon ... infection" while the card said
    "within that time"."""
    inside = notice_for({"crusting": LIKELY}, procedure="microneedling", day=2)
    assert inside.level.key == "routine"
    outside = notice_for({"crusting": LIKELY}, procedure="microneedling", day=9)
    assert outside.level.key == "review"
    assert notice_for({"pustules": LIKELY}, procedure="microneedling", day=3).level.key == "review"  # never waited out


def test_unknown_red_flags_from_the_api_are_ignored():
    assert ui.clean_flags(["fever", "made-up", None]) == {"fever"}
    assert ui.clean_days("4") == 4 and ui.clean_days(-1) is None and ui.clean_days("x") is None


def test_days_above_the_recovery_tabs_range_are_refused_with_a_plain_message():
    check = check_tab.validators(1000, privacy.TICKETS)["update_guidance"]
    assert check([None, "microneedling", 365, []])[2] == 365
    assert check([None, "microneedling", "12", []])[2] == 12
    with pytest.raises(ValueError, match="from 0 .* to 365"):
        check([None, "microneedling", 400, []])


# ------------------------------------------------------------------ prediction, heatmaps, rendering


def test_analyse_matches_the_predictor_and_explains_each_finding(predictor):
    photo = skin_like(300, seed=3)
    expected = predictor.predict(photo, name="a.jpg")
    result = ui.analyse(predictor, photo, "a.jpg")
    assert result.assessed
    assert result.present == expected.present and result.present  # the fixture's biases make some findings present
    assert result.probabilities == pytest.approx(expected.probabilities)
    assert result.levels == expected.levels
    assert list(result.heatmaps) == check_tab.carded(result.levels)  # only for findings shown as cards
    view = decode_data_uri(result.view)
    assert view.size == (predictor.input_size, predictor.input_size)
    for uri in result.heatmaps.values():
        assert decode_data_uri(uri).size == view.size


def test_shown_photo_carries_no_metadata(predictor):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "SecretCamApp 1.0"  # Software
    data = jpeg_bytes(skin_like(300, seed=4), exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).getexif()  # the upload has metadata
    result = ui.analyse(predictor, data, "with-exif.jpg")
    for uri in [result.view, *result.heatmaps.values()]:
        shown = decode_data_uri(uri)
        assert not shown.getexif() and "exif" not in shown.info
    assert "SecretCamApp" not in ui.results_html(result, "microneedling", 2)


def test_results_show_findings_guidance_and_other_findings(predictor):
    result = ui.analyse(predictor, skin_like(300, seed=5), "a.jpg")
    page = ui.results_html(result, "microneedling", 30)
    for finding in check_tab.carded(result.levels):
        assert f'data-finding="{finding}"' in page
        assert html.escape(guidance.finding_advice(finding).what) in page
    for finding in FINDINGS:  # every finding's estimate, in the details
        assert html.escape(guidance.guidance().names[finding]) in page
    assert "later than this usually lasts" in page or "not something to simply wait out" in page
    assert html.escape(ui.UNCERTAINTY) in page
    assert not REASSURING.search(visible_text(page))


def test_no_finding_is_not_called_normal(predictor):
    result = ui.analyse(predictor, skin_like(300, seed=6), "a.jpg")
    result.present, result.heatmaps, result.levels = [], {}, {f: NOT_SEEN for f in FINDINGS}
    page = ui.results_html(result, None, None)
    assert "No finding recognised" in page and "does not rule anything out" in page
    assert not REASSURING.search(visible_text(page))
    notice = ui.notice_html(predictor.meta, result, [])
    assert "See your provider" in notice and "sf-level-routine-none" in notice


def test_dark_photo_abstains_with_reason_and_tip(predictor):
    dark = Image.fromarray(np.full((300, 300, 3), 12, np.uint8))
    result = ui.analyse(predictor, dark, "dark.jpg")
    assert result.abstention is not None and result.present == [] and result.heatmaps == {}
    page = ui.results_html(result, "microneedling", 1)
    assert result.abstention.message in page and result.abstention.tip in page
    assert "Possible findings" not in page
    assert "could not be assessed" in ui.notice_html(predictor.meta, result, [])


@pytest.mark.parametrize(
    "data, error", [(b"this is not a photo", UnsupportedFormatError), (None, CorruptPhotoError)]
)
def test_unreadable_file_gives_a_clear_message(predictor, data, error):
    if data is None:
        data = jpeg_bytes(skin_like(300))[:2000]  # a photo cut short
    result = ui.analyse(predictor, data, "broken.jpg")
    assert result.error == error.user_message
    page = ui.results_html(result, None, None)
    assert "This file could not be read" in page and error.user_message in page


def test_red_flags_make_the_notice_urgent_even_without_a_photo(predictor):
    notice = ui.notice_html(predictor.meta, None, ["spreading_redness"])
    assert "Contact your provider now" in notice and "emergency number" in notice
    assert 'role="alert"' in notice


def test_model_status_is_honest():
    untrained = CheckpointMeta(arch="mobilenet_v3_small", input_size=128)
    assert "untrained" in ui.model_status(untrained)
    trained = CheckpointMeta(
        arch="mobilenet_v3_small", input_size=224, trained=True, status="demo v1",
        trained_on=[DataSource("synthetic skin renders", "CC0", 1000)], metrics={"real": {"macro_auroc": 0.61}},
    )
    status = ui.model_status(trained)
    assert "demonstration model" in status and "not validated on real patients" in status
    assert "synthetic skin renders" in status and "demo v1" in status
    about = ui.about_markdown(trained)
    assert "PAD-UFES-20" in about and "CC BY 4.0" in about and "| synthetic skin renders | 1000 | CC0 |" in about
    assert "No measurement of what people are told" in about  # this checkpoint records no decision results
    from skinfindings.app.about_tab import raw_numbers_markdown

    assert "macro_auroc: 0.610" in raw_numbers_markdown(trained)
    assert "No measurements" in raw_numbers_markdown(untrained)


def test_about_tab_says_the_recorded_evaluation_in_plain_words():
    from skinfindings.app.about_tab import plain_words

    record = {"photos": 163, "told": {"scenario": "treatment not given", "soon_with": {"hits": 14, "photos": 43},
                                      "soon_or_watch_with": {"hits": 40, "photos": 43},
                                      "soon_without": {"hits": 11, "photos": 117}},
              "shown_when_present": {"crusting": 0.88, "milia": "n/a (3 positives, fewer than 5)"},
              "shown_when_absent": {"crusting": 0.26, "milia": 0.49}}
    meta = CheckpointMeta(arch="efficientnet_lite0", input_size=224, trained=True,
                          metrics={"evaluation: real photos, out-of-fold": record})
    words = plain_words(meta)
    assert "Tested on 163 photos: real photos, out-of-fold. Out of 10 photos like these (treatment not given)" in words
    # 14/43 told soon -> 3 of 10; 40/43 soon or watch -> 9 of 10, so 6 more watch and 1 neither.
    assert "about 3 were told to contact their provider soon, about 6 were shown a possible one to watch" in words
    assert "about 1 was told neither" in words
    assert "**without them**: about 1 was told" in words  # 11/117
    assert "scabs or crusts (crusting)**: shown on about 9 of 10 photos that have it, and on about 3 of 10 that do not." in words
    assert "milia" not in words.split("Each finding")[1]  # not measurable: not said
    assert "plain words" in ui.about_markdown(meta) and words in ui.about_markdown(meta)
    record["told"]["soon_or_watch_with"]["hits"] = 41  # 2 of 43 missed: rounds to 0 of 10, but not nobody
    assert "fewer than 1 was told neither" in plain_words(meta)
    record["told"]["soon_or_watch_with"]["hits"] = 43
    assert "about 0 were told neither" in plain_words(meta)


def test_no_colour_of_the_app_is_green():
    css = re.sub(r"/\*.*?\*/", "", ui.STYLE_FILE.read_text(), flags=re.S).lower()
    assert "green" not in css
    colours = re.findall(r"#([0-9a-f]{6})\b", css)
    assert colours
    for colour in colours:
        r, g, b = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
        assert not (g > r + 24 and g > b + 24), colour
    ramp = heatmap.overlay(np.zeros((1, 256, 3), np.uint8), np.linspace(0, 1, 256, dtype=np.float32)[None, :])
    r, g, b = (ramp[0, :, i].astype(int) for i in range(3))
    assert not np.any((g > r + 24) & (g > b + 24))  # the heatmap colours have no green either


# ------------------------------------------------------------------ heatmaps


def test_grad_cam_maps_are_normalised_and_match_the_prediction(predictor):
    prediction = predictor.predict(skin_like(300, seed=7))
    cam = heatmap.grad_cam_result(predictor, prediction.pixels, FINDINGS)
    assert cam.probabilities == pytest.approx(prediction.probabilities, abs=1e-4)  # torch here, maybe ONNX there
    for heat in cam.maps.values():
        assert heat.shape == prediction.pixels.shape[:2]
        assert heat.min() >= 0 and heat.max() <= 1
    picture = heatmap.overlay(prediction.pixels, cam.maps[FINDINGS[0]])
    assert picture.shape == prediction.pixels.shape and picture.dtype == np.uint8
    untouched = heatmap.overlay(prediction.pixels, np.zeros(prediction.pixels.shape[:2], np.float32))
    assert np.array_equal(untouched, prediction.pixels)


def test_grad_cam_is_unaffected_by_concurrent_predictions(predictor):
    photos = [predictor.prepare(skin_like(200, seed=s))[0] for s in range(4)]
    alone = [heatmap.grad_cam(predictor, pixels, FINDINGS) for pixels in photos]
    together: dict[int, dict] = {}

    def explain(i):
        together[i] = heatmap.grad_cam(predictor, photos[i], FINDINGS)

    def predict():
        predictor.predict_many([skin_like(200, seed=9)] * 4)

    threads = [threading.Thread(target=explain, args=(i,)) for i in range(4)] + [threading.Thread(target=predict)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(4):
        for finding in FINDINGS:
            np.testing.assert_allclose(together[i][finding], alone[i][finding], atol=1e-4)


# ------------------------------------------------------------------ pre-sort rendering


def test_presort_table_is_sorted_with_thumbnails_and_csv(predictor, tmp_path):
    from skinfindings.app.presort import presort

    skin_like(300, seed=1).save(tmp_path / "a.jpg")
    Image.fromarray(np.full((300, 300, 3), 8, np.uint8)).save(tmp_path / "dark.png")
    (tmp_path / "broken.jpg").write_bytes(b"nope")
    rows = presort(predictor, [tmp_path])
    page = ui.run_presort(predictor, [str(tmp_path)])
    order = re.findall(r'<tr data-tier="([a-z-]+)"', page)
    assert order == [row.tier.key for row in rows] and len(rows) == 3
    assert page.count('<img alt="photo ') == sum(row.thumbnail is not None for row in rows) == 2  # read, even if refused
    link = re.search(r'href="data:text/csv;base64,([^"]+)"', page)
    table = list(csv.DictReader(io.StringIO(base64.b64decode(link.group(1)).decode())))
    assert [r["name"] for r in table] == [row.name for row in rows]
    assert not privacy.leftover_files()  # the CSV lived only long enough to be read back


# ------------------------------------------------------------------ privacy helpers


def test_settings_from_env():
    assert privacy.settings_from_env({}).auth is None
    settings = privacy.settings_from_env({"SKINFINDINGS_AUTH": "nurse:pa:ss", "SKINFINDINGS_PORT": "7999"})
    assert settings.auth == ("nurse", "pa:ss") and settings.port == 7999
    with pytest.raises(ValueError):
        privacy.settings_from_env({"SKINFINDINGS_AUTH": "nopassword"})
    options = ui.launch_kwargs(settings)
    assert options["server_name"] == "127.0.0.1" and options["share"] is False
    assert options["enable_monitoring"] is False and options["run_history"] is False and not options["allowed_paths"]


def test_environment_is_private_before_gradio_runs():
    import os

    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    folder = Path(os.environ["GRADIO_TEMP_DIR"])
    assert folder == ui.PRIVATE_DIR and folder.is_dir()
    assert folder.stat().st_mode & 0o077 == 0  # only this user


def test_upload_inbox_deletes_at_once_and_serves_a_repeat_from_memory(tmp_path):
    folder = privacy.private_dir() / "0123abcd"
    folder.mkdir()
    upload = folder / "photo.jpg"
    upload.write_bytes(b"photo bytes")
    inbox = privacy.UploadInbox()
    assert inbox.take(upload) == b"photo bytes"
    assert not upload.exists() and not any(folder.iterdir())
    assert inbox.take(upload) == b"photo bytes"  # the same upload sent twice shares one path
    with pytest.raises(FileNotFoundError):
        privacy.UploadInbox().take(upload)
    outside = tmp_path / "not-an-upload.jpg"
    outside.write_bytes(b"keep me")
    with pytest.raises(FileNotFoundError):
        inbox.take(outside)
    privacy.discard(outside)
    assert outside.read_bytes() == b"keep me"


# ------------------------------------------------------------------ module shape


def test_upload_source_reads_every_payload_shape():
    assert ui.upload_source(None) is None and ui.upload_source([]) is None
    assert ui.upload_source({"path": "/x/y.jpg", "url": None}) == "/x/y.jpg"
    inline = base64.b64encode(b"camera bytes").decode()
    assert ui.upload_source({"path": None, "url": f"data:image/png;base64,{inline}"}) == b"camera bytes"
    assert ui.upload_source({"path": None, "url": "data:image/png;base64,%%%"}) == b""  # reported as damaged
    assert ui.upload_source({"path": None, "url": "http://example.org/a.jpg"}) is None  # never fetched


def test_importing_builds_nothing_and_demo_is_built_once():
    import gradio as gr

    assert "demo" not in vars(ui)  # importing the module loaded no model
    assert not Path(ui.__file__).with_suffix(".pyi").exists()  # gradio wrote no stub next to the module
    demo = ui.demo
    assert isinstance(demo, gr.Blocks) and ui.demo is demo
    names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert names == {"check_photo", "presort", "track_recovery"}  # each a named endpoint (docs/app.md: gradio_client)
    day = demo.get_api_info()["named_endpoints"]["/check_photo"]["parameters"][2]
    assert day["type"]["type"] == "integer" and day["example_input"] == 3  # a number, not free text ("Hello!!")
