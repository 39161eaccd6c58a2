"""The abstention gate: every reason fires on a generated photo that has that defect, good skin passes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from conftest import skin_like
from skinfindings.data.nonskin import BAD_PHOTOS, EXPECTED, OUT_OF_SCOPE, bad_photo_file, encode, out_of_scope_file
from skinfindings.model import quality
from skinfindings.model.predictor import Predictor
from test_skin_crop import portrait

INPUT_SIZES = (128, 224)  # the smallest and the largest model input the thresholds were measured at


def structured_skin(seed: int = 0, size: int = 480) -> np.ndarray:
    """Skin as a camera sees it: light falling off across the frame, spots and a few hairs."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size] / size
    light = 0.8 + 0.35 * (xs * np.cos(seed) + ys * np.sin(seed) + 0.5) / 2
    lit = np.asarray(skin_like(size, seed), np.float32) * light[..., None]
    image = Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y, r = *rng.uniform(0, size, 2), rng.uniform(3, 14)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.uniform([120, 60, 50], [170, 100, 80])))
    for _ in range(12):
        x, y = rng.uniform(0, size, 2)
        draw.line((x, y, x + rng.uniform(-60, 60), y + rng.uniform(-60, 60)), fill=(70, 50, 40), width=2)
    return np.asarray(image)


@pytest.fixture(scope="module")
def prepare(untrained_checkpoint):
    """The Predictor's own preprocessing, at each input size the gate must work at."""
    predictor = Predictor(untrained_checkpoint, backend="torch")
    size = predictor.meta.input_size

    def at(data, input_size: int):
        predictor.meta.input_size = input_size
        try:
            return predictor.prepare(data)
        finally:
            predictor.meta.input_size = size

    return at


def gate(prepare, data, input_size: int):
    pixels, original_size = prepare(data, input_size)
    return quality.assess(pixels, original_size)


def test_every_reason_has_a_message_and_a_retake_tip():
    assert set(EXPECTED.values()) == set(quality.REASONS)  # each reason has a generated photo that should trigger it
    for code, reason in quality.REASONS.items():
        assert reason.code == code and reason.message.endswith(".") and len(reason.tip) > 20
        text = f"{reason.message} {reason.tip}".lower()
        assert "normal" not in text and "all clear" not in text


@pytest.mark.parametrize("input_size", INPUT_SIZES)
@pytest.mark.parametrize("seed", range(3))
def test_good_skin_is_not_refused(prepare, seed, input_size):
    for data in (encode(structured_skin(seed), "JPEG", 90), encode(np.asarray(skin_like(400, seed)), "PNG")):
        abstention, stats = gate(prepare, data, input_size)
        assert abstention is None, (abstention, stats)


@pytest.mark.parametrize("seed", range(2))
def test_synthetic_skin_is_not_refused(prepare, seed):
    synth = pytest.importorskip("skinfindings.data.synth")
    sample = synth.render_sample(seed, synth.SynthConfig(size=256))
    abstention, stats = gate(prepare, encode(sample.image, "JPEG", sample.jpeg_quality), 224)
    assert abstention is None, (sample.fitzpatrick, abstention, stats)


@pytest.mark.parametrize("input_size", INPUT_SIZES)
# Blur has its own test below, with blur strong enough to be unambiguous; the generated blur kinds sit closer to
# the threshold (docs/gate.md measures them, and motion blur along one axis is caught only in part).
@pytest.mark.parametrize("kind", [k for k in BAD_PHOTOS if EXPECTED[k] != "blurred"])
def test_each_bad_photo_kind_triggers_its_reason(prepare, kind, input_size):
    data = bad_photo_file(structured_skin(1), kind, seed=0)
    abstention, stats = gate(prepare, data, input_size)
    assert abstention is not None and abstention.code == EXPECTED[kind], (abstention, stats)


@pytest.mark.parametrize("input_size", INPUT_SIZES)
@pytest.mark.parametrize("radius", [0.03, 0.05])
def test_an_out_of_focus_photo_is_refused_as_blurred(prepare, input_size, radius):
    """Blur hiding details about 3-5 % of the frame across, with sensor noise added after it."""
    sharp = Image.fromarray(structured_skin(2))
    blurred = np.asarray(sharp.filter(ImageFilter.GaussianBlur(radius * sharp.width)), np.float32)
    noisy = np.clip(blurred + np.random.default_rng(0).normal(0, 1.5, blurred.shape), 0, 255).astype(np.uint8)
    abstention, stats = gate(prepare, encode(noisy, "JPEG", 90), input_size)
    assert abstention is not None and abstention.code == "blurred", stats


@pytest.mark.parametrize("input_size", INPUT_SIZES)
@pytest.mark.parametrize(("kind", "refused", "as_not_skin"), [("document", 5, 4), ("screenshot", 5, 4), ("landscape", 3, 3)])
def test_out_of_scope_images_are_refused_as_not_skin(prepare, kind, refused, as_not_skin, input_size):
    """Text, screens, sky and greenery are what the scope check is built for (a bright, clean page may be
    called overexposed instead). A landscape of sand is skin-coloured and can pass: a known gap (docs/gate.md)."""
    codes = [getattr(gate(prepare, out_of_scope_file(kind, seed), input_size)[0], "code", None) for seed in range(5)]
    assert len(codes) - codes.count(None) >= refused and codes.count("not_skin") >= as_not_skin, codes


def test_a_white_screenshot_is_not_called_overexposed(prepare):
    """Order of the checks: text and graphics are out of scope before brightness is judged."""
    screen = Image.new("RGB", (400, 400), (255, 255, 255))
    draw = ImageDraw.Draw(screen)
    for y in range(20, 380, 18):
        draw.text((10, y), "Your appointment is confirmed for Tuesday", fill=(0, 0, 0))
    abstention, stats = gate(prepare, encode(np.asarray(screen), "PNG"), 224)
    assert abstention is not None and abstention.code == "not_skin", stats
    assert stats.clipped_fraction > quality.THRESHOLDS.max_clipped  # it would have read as overexposed


def test_blur_score_rises_with_blur_and_ignores_sensor_noise():
    image = Image.fromarray(structured_skin(2, 224)).convert("L")

    def score(luma) -> float:
        return quality.blur_score(np.asarray(luma, np.float32))

    scores = [score(image.filter(ImageFilter.GaussianBlur(r))) for r in (0, 2, 5, 9)]
    assert scores == sorted(scores) and scores[0] < quality.THRESHOLDS.max_blur < scores[-1]
    noise = np.random.default_rng(0).normal(0, 1.5, (224, 224))
    assert score(np.asarray(image.filter(ImageFilter.GaussianBlur(9)), np.float32) + noise) > quality.THRESHOLDS.max_blur


def test_blockiness_is_zero_where_the_block_grid_cannot_be_seen():
    pixels = np.asarray(skin_like(224))
    assert quality.blockiness(pixels.astype(np.float32).mean(-1), (4000, 3000)) == 0.0


def test_stats_as_dict_are_plain_floats_for_every_field():
    _, stats = quality.assess(np.asarray(skin_like(224)), (1000, 1000))
    values = stats.as_dict()
    assert list(values) == [f for f in stats.__dataclass_fields__]
    assert all(type(v) is float and np.isfinite(v) for v in values.values())


def test_predictor_abstains_on_a_document_and_reports_no_findings(untrained_checkpoint):
    result = Predictor(untrained_checkpoint).predict(out_of_scope_file("document", 0))
    assert result.abstention is not None and result.abstention.code == "not_skin"
    assert result.present == [] and not result.assessed and result.quality["hard_edges"] >= 0


def test_renders_are_deterministic_and_photo_shaped():
    for kind in OUT_OF_SCOPE:
        first, again = out_of_scope_file(kind, 5), out_of_scope_file(kind, 5)
        assert first == again
        image = Image.open(io.BytesIO(first))
        assert image.size == (384, 384) and image.mode == "RGB"
    assert bad_photo_file(structured_skin(), "shaken", 3) == bad_photo_file(structured_skin(), "shaken", 3)
    with pytest.raises(ValueError):
        bad_photo_file(structured_skin(), "sunburn", 0)


def blue_sky(width: int = 1600, height: int = 1200) -> np.ndarray:
    """A clear sky, as a phone shoots it: a smooth blue gradient with sensor noise and no detail at all."""
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky = (1 - rows) * np.array([60, 120, 210], np.float32) + rows * np.array([150, 195, 235], np.float32)
    noisy = sky + np.random.default_rng(0).normal(0, 2, (height, width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def text_page(width: int = 1240, height: int = 1754) -> np.ndarray:
    """A printed aftercare sheet: small black text on white paper, too fine to stay sharp at the model's size."""
    page = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    for y in range(60, height - 60, 24):
        draw.text((60, y), "Aftercare: apply the cream twice daily and avoid the sun for two weeks.", fill=(0, 0, 0))
    return np.asarray(page)


@pytest.mark.parametrize("input_size", INPUT_SIZES)
@pytest.mark.parametrize(("scene", "image_format"), [("blue sky", "JPEG"), ("text page", "PNG"), ("text page", "JPEG")])
def test_a_scene_that_is_not_skin_is_refused_as_not_skin(prepare, scene, image_format, input_size):
    """Not "blurred" (the sky is smooth) nor "overexposed" (the page is white): retaking it sharper or
    darker would not help, so the reason shown is the real one."""
    pixels = blue_sky() if scene == "blue sky" else text_page()
    abstention, stats = gate(prepare, encode(pixels, image_format, 90), input_size)
    assert abstention is not None and abstention.code == "not_skin", stats
    assert stats.blur > quality.THRESHOLDS.max_blur or stats.brightness > quality.THRESHOLDS.max_brightness  # the trap


def dark_skinned(pixels: np.ndarray) -> np.ndarray:
    return np.clip(pixels.astype(np.float32) * np.array([0.45, 0.38, 0.35]), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("input_size", INPUT_SIZES)
@pytest.mark.parametrize(("kind", "code"), [("dark", "too_dark"), ("overexposed", "too_bright")])
@pytest.mark.parametrize("tone", ["light", "dark"])
def test_skin_photos_keep_their_own_reason_after_the_scope_checks(prepare, kind, code, tone, input_size):
    """The scope checks that now come first do not take over a skin photo's own defect: a dark photo of
    dark skin still reads "too dark", an overexposed one "too bright" (blur: the out-of-focus test above)."""
    for seed in range(3):
        skin = structured_skin(seed)
        abstention, stats = gate(prepare, bad_photo_file(dark_skinned(skin) if tone == "dark" else skin, kind, seed),
                                 input_size)
        assert abstention is not None and abstention.code == code, (seed, stats)


# ----------------------------------------------------------------------------- faces (issue 20) and heavy JPEG (issue 21)

FACE_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "images"  # ../shared, as in CI


@pytest.mark.parametrize("input_size", INPUT_SIZES)
@pytest.mark.parametrize("seed", range(2))
def test_a_portrait_is_assessed(prepare, seed, input_size):
    """A face on a grey backdrop over a white shirt: skin need not fill the frame (the crop and the skin
    region see to it); before, the backdrop and shirt made it "not skin"."""
    abstention, stats = gate(prepare, encode(portrait(seed=seed), "JPEG", 90), input_size)
    assert abstention is None, stats


@pytest.mark.skipif(not FACE_PHOTOS.is_dir(), reason="../shared/data/faces is not beside the clone")
@pytest.mark.parametrize("input_size", INPUT_SIZES)
def test_real_portraits_are_assessed(prepare, input_size):
    photos = sorted(FACE_PHOTOS.glob("*.jpg"))[:4]
    for photo in photos:
        abstention, stats = gate(prepare, str(photo), input_size)
        assert abstention is None, (photo.name, stats)


@pytest.mark.parametrize("input_size", INPUT_SIZES)
@pytest.mark.parametrize("jpeg_quality", [2, 3, 5])
def test_heavily_compressed_skin_is_called_compressed_not_out_of_scope(prepare, jpeg_quality, input_size):
    """At full size its 8x8 blocks are too fine for the block-grid measure at the model's input, but the
    skin is posterised into a handful of exact colours: issue 21 found such photos told "not skin"."""
    photo = np.asarray(Image.fromarray(structured_skin(3)).resize((1024, 1024), Image.Resampling.BILINEAR))
    abstention, stats = gate(prepare, encode(photo, "JPEG", jpeg_quality), input_size)
    assert abstention is not None and abstention.code == "compressed", stats
    assert stats.blockiness == 0.0  # the grid is invisible: the posterised palette is what tells


def test_the_skin_region_keeps_a_portraits_backdrop_out_of_the_colour_check():
    """A selfie framed on the face still shows backdrop and hair around it; only the face is judged."""
    selfie = portrait()[64:480, 132:468]
    pixels = np.asarray(Image.fromarray(selfie).resize((224, 224)))
    stats = quality.measure(pixels, selfie.shape[1::-1])
    assert stats.skin_region >= quality.MIN_SKIN_REGION
    assert stats.region_non_skin_colour < quality.THRESHOLDS.max_non_skin_colour < stats.non_skin_colour
