"""The safe loader against a generated bad-input corpus."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from skinfindings.data.photo import (
    MAX_DECODED_BYTES,
    MAX_PIXELS,
    CorruptPhotoError,
    DecodedTooLargeError,
    PhotoError,
    PhotoTooLargeError,
    PhotoTooSmallError,
    UnsupportedFormatError,
    heic_available,
    load_photo,
    load_photo_sized,
)
from conftest import skin_like
from skinfindings.model.bench_inputs import PNG_SIGNATURE, gradient_png, png_chunk


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims huge dimensions: the loader must refuse before decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + png_chunk(b"IEND", b"")


def exif_with_gps(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (52.0, 22.0, 1.0), "E", (4.0, 53.0, 2.0)
    return exif


def test_truncated_jpeg_is_refused():
    data = encode(skin_like(), "JPEG", quality=90)
    with pytest.raises(CorruptPhotoError):
        load_photo(data[: len(data) // 2])


@pytest.mark.parametrize("payload", [b"", b"just some text, not a photo\n" * 10, b"<svg xmlns='http://www.w3.org/2000/svg'><rect width='9' height='9'/></svg>"])
def test_non_images_are_refused_with_a_readable_message(tmp_path, payload):
    path = tmp_path / "photo.jpg"
    path.write_bytes(payload)
    with pytest.raises((UnsupportedFormatError, CorruptPhotoError)) as info:
        load_photo(path)
    assert "photo" in info.value.user_message.lower()


def test_bmp_is_outside_the_allow_list():
    with pytest.raises(UnsupportedFormatError):
        load_photo(encode(skin_like(), "BMP"))


def test_decompression_bomb_header_is_refused_before_decoding():
    with pytest.raises(PhotoTooLargeError):
        load_photo(png_header_only(20_000, 20_000))


def test_huge_dimensions_just_over_the_limit_are_refused():
    side = int(MAX_PIXELS**0.5) + 10
    with pytest.raises(PhotoTooLargeError):
        load_photo(png_header_only(side, side))


def test_one_pixel_image_is_too_small():
    with pytest.raises(PhotoTooSmallError):
        load_photo(encode(Image.new("RGB", (1, 1), (200, 150, 120)), "PNG"))


def test_16bit_png_is_scaled_not_clipped():
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    image = load_photo(encode(Image.fromarray(ramp), "PNG"))
    pixels = np.asarray(image)
    assert image.mode == "RGB" and pixels.shape == (64, 256, 3)
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255
    assert 120 <= pixels[0, 128, 0] <= 135  # mid-grey stays mid-grey


def test_cmyk_jpeg_becomes_rgb():
    image = load_photo(encode(skin_like().convert("CMYK"), "JPEG"))
    assert image.mode == "RGB"
    r, g, b = np.asarray(image).reshape(-1, 3).mean(axis=0)
    assert r > g > b  # still skin-toned, not inverted


def test_transparent_png_is_composited_on_white():
    rgba = Image.new("RGBA", (64, 64), (200, 100, 80, 0))
    rgba.paste((200, 100, 80, 255), (0, 0, 32, 64))
    pixels = np.asarray(load_photo(encode(rgba, "PNG")))
    assert tuple(pixels[10, 10]) == (200, 100, 80)
    assert tuple(pixels[10, 50]) == (255, 255, 255)


def test_palette_and_grayscale_convert_to_rgb():
    for image in (skin_like().convert("P"), skin_like().convert("L")):
        assert load_photo(encode(image, "PNG")).mode == "RGB"


def test_animated_gif_uses_its_first_frame():
    frames = [Image.new("RGB", (64, 64), c) for c in ((200, 40, 40), (40, 200, 40), (40, 40, 200))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    r, g, b = np.asarray(load_photo(data))[32, 32]
    assert r > 150 and g < 100 and b < 100


def test_exif_rotation_applied_and_gps_stripped(tmp_path):
    tall = skin_like(320).crop((0, 0, 320, 160))  # stored 320 wide x 160 high
    path = tmp_path / "phone.jpg"
    tall.save(path, "JPEG", exif=exif_with_gps(orientation=6))  # 6 = rotate 90 degrees on display
    with Image.open(path) as raw:
        assert raw.getexif().get_ifd(0x8825)  # the fixture really carries GPS
    image = load_photo(path)
    assert image.size == (160, 320)
    assert not image.getexif() and not image.info
    saved = io.BytesIO()
    image.save(saved, "JPEG")
    assert b"Exif" not in saved.getvalue() and b"PhoneMaker" not in saved.getvalue()


def test_jpeg_draft_mode_decodes_near_target_size():
    big = skin_like(256).resize((4000, 3000))
    image, stored = load_photo_sized(encode(big, "JPEG", quality=85), draft_size=256)
    assert stored == (4000, 3000)
    assert 256 <= min(image.size) < 1000


def test_webp_and_tiff_load():
    for fmt in ("WEBP", "TIFF"):
        assert load_photo(encode(skin_like(), fmt)).size == (320, 320)


def test_heic_without_the_extra_says_how_to_enable_it():
    if heic_available():
        pytest.skip("pillow-heif is installed here")
    fake_heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    with pytest.raises(UnsupportedFormatError, match="heic"):
        load_photo(fake_heic)


# ------------------------------------------------------------------ decoded size (small files, huge pixels)


def test_small_16bit_png_of_63_megapixels_is_refused_before_decoding(tmp_path):
    """The reported bomb: a few hundred KB of 16-bit grey that decoded to 2.2 GB per request."""
    bomb = gradient_png(tmp_path / "scan.png", 9000, 7000, channels=1, bit_depth=16)
    assert bomb.stat().st_size < 1_000_000 and 9000 * 7000 < MAX_PIXELS  # passes the file and pixel limits
    with pytest.raises(DecodedTooLargeError) as info:
        load_photo(bomb)
    message = info.value.user_message
    assert f"{MAX_DECODED_BYTES // 1_000_000} MB" in message and "53 megapixels" in message  # the largest accepted
    assert "9000 x 7000" in message and isinstance(info.value, PhotoTooLargeError)


def test_bytes_per_pixel_come_from_the_header(tmp_path):
    """The same 27 MP: 16-bit colour (6 bytes a pixel, 162 MB) is refused, 8-bit colour (81 MB) loads."""
    deep = gradient_png(tmp_path / "deep.png", 6000, 4500, channels=3, bit_depth=16)
    with pytest.raises(DecodedTooLargeError, match="6 bytes"):
        load_photo(deep)
    image = load_photo(gradient_png(tmp_path / "plain.png", 6000, 4500, channels=3, bit_depth=8))
    assert image.size == (6000, 4500) and image.mode == "RGB"


def test_16bit_rgba_decoded_size_bomb_is_refused(tmp_path):
    """8 bytes a pixel: 20 MP is 160 MB of samples, over the limit although far below the pixel limit."""
    with pytest.raises(DecodedTooLargeError, match="8 bytes"):
        load_photo(gradient_png(tmp_path / "alpha.png", 5000, 4001, channels=4, bit_depth=16))


def test_50_megapixel_phone_jpeg_still_loads_with_and_without_draft(tmp_path):
    phone = tmp_path / "phone50.jpg"
    skin_like(256).resize((8160, 6120)).save(phone, quality=85)
    drafted, stored = load_photo_sized(phone, draft_size=256)
    assert stored == (8160, 6120) and 256 <= min(drafted.size) < 1000
    assert load_photo(phone).size == (8160, 6120)  # every pixel: 150 MB, under the limit


def test_float_image_with_nan_and_inf_over_many_row_blocks_is_scaled(tmp_path):
    """The scaling runs in blocks of rows; values past the first block, NaN and inf must not break it."""
    values = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (700, 1))
    values[650, 5], values[100, 7], values[300, 9] = np.nan, np.inf, -np.inf
    path = tmp_path / "float.tif"
    Image.fromarray(values, "F").save(path)
    pixels = np.asarray(load_photo(path))[..., 0]
    assert pixels.shape == (700, 64) and pixels[650, -1] == 255 and pixels[650, 0] == 0
    assert pixels[650, 5] == 0 and pixels[100, 7] == 255 and pixels[300, 9] == 0  # NaN black, inf the range's ends


# ---------------------------------------------------------------- issue 21: the probe's cases that held


def mutated(data: bytes, rng: np.random.Generator) -> bytes:
    """One fuzzed file as the probe made them: bytes flipped, a slice cut out or repeated, or the file cut short."""
    data = bytearray(data)
    kind = rng.integers(4)
    if kind == 0:
        for at in rng.integers(0, len(data), size=rng.integers(1, 16)):
            data[at] = rng.integers(256)
    elif kind == 1:
        start = int(rng.integers(len(data)))
        del data[start : start + int(rng.integers(1, 512))]
    elif kind == 2:
        start = int(rng.integers(len(data)))
        data[start:start] = data[start : start + int(rng.integers(1, 512))]
    else:
        data = data[: int(rng.integers(1, len(data)))]
    return bytes(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF"])
def test_fuzzed_photos_load_or_are_refused_with_a_photo_error(fmt):
    """The probe's 10,000 fuzzed photos were all answered cleanly; 60 per format keep that so (a fixed seed)."""
    rng = np.random.default_rng(21)
    seed_photo = encode(skin_like(96, seed=1), fmt)
    for _ in range(60):
        try:
            image = load_photo(mutated(seed_photo, rng))
        except PhotoError as exc:
            assert exc.user_message  # a message a patient can read, never another exception
        else:
            assert image.mode == "RGB" and not image.info.get("exif")
