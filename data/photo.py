"""Safe photo loading: the one function the app, the CLI, training and evaluation use.

    from skinfindings.data.photo import load_photo
    image = load_photo("photo.jpg", draft_size=256)   # RGB, metadata-free PIL image

Photos come from patients' phones and from the internet, so every step assumes
the input may be hostile or broken:

* only an allow-list of formats is opened (Pillow's plugin sniffing is narrowed);
* the pixel count is checked from the header before any pixels are decoded, and
  Pillow's decompression-bomb *warning* is raised as an error (Pillow itself only
  raises at about twice its warning limit);
* so are the decoded bytes (pixels x bytes per pixel, after JPEG draft scaling): a
  small file of 16-bit pixels can otherwise cost gigabytes per request;
* pixels are always fully decoded (``verify()`` lets a truncated JPEG through);
* EXIF orientation is applied, then the image is rebuilt from its pixels so that
  no metadata (EXIF, GPS, ICC, comments) survives;
* 16-bit and float images are scaled (not clipped) to 8 bits, palette, CMYK and
  grey images are converted, transparency is composited onto white.

Every refusal is a ``PhotoError`` subclass whose ``user_message`` a patient can
read; ``str(error)`` adds the technical detail for logs and tests.
"""

from __future__ import annotations

import datetime
import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

MAX_PIXELS = 64_000_000  # about 64 MP: larger than any phone photo, far below a bomb
# Decoded bytes per photo (pixels x bytes per pixel, at least 3: every photo becomes 8-bit RGB).
# 160 MB is a 53-MP 8-bit photo, so every 50-MP phone photo is read even without JPEG draft
# scaling, and a 26-MP 16-bit colour one. The worst accepted photo then costs under 0.5 GB per
# request above the loaded model (docs/performance.md, "Decoding memory per request").
MAX_DECODED_BYTES = 160_000_000
MIN_SIDE = 32  # below this there is nothing to assess
MAX_FILE_BYTES = 60 * 1024 * 1024
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF")  # the JPEG opener also reads phones' MPO files
HEIC_FORMATS = ("HEIF",)

PhotoSource = Union[str, os.PathLike, bytes, bytearray, BinaryIO, Image.Image]

# A truncated file must fail, never decode as half a photo.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class PhotoError(ValueError):
    """A photo that cannot be used. ``user_message`` is written for a patient."""

    user_message = "This file could not be used as a photo."

    def __init__(self, detail: str = ""):
        super().__init__(f"{self.user_message} ({detail})" if detail else self.user_message)
        self.detail = detail


class UnsupportedFormatError(PhotoError):
    user_message = (
        "This file is not a photo format we can read. Please send a JPEG, PNG, WebP, GIF or TIFF photo "
        "(HEIC works when HEIC support is installed)."
    )


class CorruptPhotoError(PhotoError):
    user_message = "This photo file is damaged or incomplete. Please take or export the photo again and resend it."


class MissingPhotoError(PhotoError):
    user_message = "The photo file could not be found. Please choose the photo again."


class PhotoTooLargeError(PhotoError):
    user_message = "This image is too large to process. Please send an ordinary phone photo (under 64 megapixels)."


class DecodedTooLargeError(PhotoTooLargeError):
    """Few megapixels perhaps, but too many bytes once decoded (16-bit samples, many channels)."""

    def __init__(self, width: int, height: int, bytes_per_pixel: int):
        decoded = width * height * bytes_per_pixel
        self.user_message = (
            f"This image is too large to process: {width} x {height} pixels at {bytes_per_pixel} bytes each would "
            f"take {decoded / 1e6:.0f} MB to decode, and the largest accepted is {MAX_DECODED_BYTES / 1e6:.0f} MB: "
            f"about {_megapixels(3)} megapixels for an ordinary photo, {_megapixels(6)} for a 16-bit colour image. "
            "Please send the photo as an ordinary JPEG from your phone."
        )
        super().__init__(f"{decoded:,} decoded bytes is over the {MAX_DECODED_BYTES:,}-byte limit")


def _megapixels(bytes_per_pixel: int) -> int:
    return MAX_DECODED_BYTES // bytes_per_pixel // 1_000_000


class PhotoTooSmallError(PhotoError):
    user_message = "This image is too small to assess. Please send the original photo, not a thumbnail."


def heic_available() -> bool:
    """True when the optional pillow-heif plugin (the ``heic`` extra) can be registered."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def _allowed_formats() -> tuple[str, ...]:
    Image.init()  # registers every plugin, so each allowed name is known to Image.open
    return ALLOWED_FORMATS + (HEIC_FORMATS if heic_available() else ())


def _open_stream(source: PhotoSource) -> BinaryIO:
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise MissingPhotoError(f"no such file: {path.name}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise PhotoTooLargeError(f"file is {path.stat().st_size} bytes")
        return io.BytesIO(path.read_bytes())
    return source  # an open binary file object


def _looks_like_heic(stream: BinaryIO) -> bool:
    stream.seek(0)
    head = stream.read(32)
    stream.seek(0)
    return head[4:8] == b"ftyp" and any(brand in head[8:32] for brand in (b"heic", b"heix", b"mif1", b"heif", b"hevc"))


def _decode(source: PhotoSource, draft_size: int | None) -> tuple[Image.Image, int]:
    """Open with the allow-list, check the size from the header, then decode fully.

    Returns the image and the longer side it has in the file (before draft scaling)."""
    stream = _open_stream(source)
    if stream.read(1) == b"":
        raise CorruptPhotoError("empty file")
    stream.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(stream, formats=_allowed_formats())
        except UnidentifiedImageError as exc:
            if _looks_like_heic(stream):
                raise UnsupportedFormatError("HEIC photo, but HEIC support is not installed (pip install 'skinfindings[heic]')") from exc
            raise UnsupportedFormatError("not a recognised image") from exc
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise PhotoTooLargeError(str(exc)) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise CorruptPhotoError(str(exc)) from exc
        _check_dimensions(image.size)
        stored_side = max(image.size)
        if getattr(image, "is_animated", False):
            image.seek(0)  # the first frame of an animation is the photo
        if draft_size and image.format in ("JPEG", "MPO"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, never below the size we need.
            image.draft("RGB", (draft_size, draft_size))
        _check_decoded_bytes(image)  # after draft(): the size that will really be decoded
        try:
            image.load()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise PhotoTooLargeError(str(exc)) from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise CorruptPhotoError(str(exc)) from exc
    return image, stored_side


def _check_dimensions(size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise PhotoTooLargeError(f"{width}x{height} pixels is over the {MAX_PIXELS:,}-pixel limit")
    if min(width, height) < MIN_SIDE:
        raise PhotoTooSmallError(f"{width}x{height} pixels; at least {MIN_SIDE} px per side is needed")


def bytes_per_pixel(image: Image.Image) -> int:
    """Bytes per pixel of the photo's own samples, read from the header (mode and raw mode), at least 3.

    Pillow reads 16-bit colour PNG/TIFF samples into an 8-bit mode, so their depth shows
    only in the raw mode of the file's tiles ("RGB;16B"). At least 3, because every photo
    ends up as 8-bit RGB, whatever its own depth."""
    # A tile is (codec, extents, offset, args); args hold the raw mode. Indexed, not by name:
    # Pillow before 11 used plain tuples.
    raw_modes = " ".join(str(tile[3]) for tile in getattr(image, "tile", None) or [] if len(tile) > 3)
    if image.mode in ("I", "F"):
        bits = 32
    elif image.mode.startswith("I;16") or ";16" in raw_modes:
        bits = 16
    else:
        bits = 8
    return max(3, len(image.getbands()) * bits // 8)


def _check_decoded_bytes(image: Image.Image) -> None:
    per_pixel = bytes_per_pixel(image)
    if image.width * image.height * per_pixel > MAX_DECODED_BYTES:
        raise DecodedTooLargeError(image.width, image.height, per_pixel)


ROWS_PER_BLOCK = 256  # rows scaled at a time: their copies are all the extra memory the scaling needs


def _row_blocks(image: Image.Image):
    """(rows, samples) for each block of rows. Never the whole image as one array: Pillow's array
    export goes through ``tobytes()``, which holds the samples twice more while it joins them."""
    for top in range(0, image.height, ROWS_PER_BLOCK):
        bottom = min(top + ROWS_PER_BLOCK, image.height)
        yield slice(top, bottom), np.asarray(image.crop((0, top, image.width, bottom)))


def _finite_max(image: Image.Image) -> float:
    if image.mode != "F":
        return float(image.getextrema()[1])  # integers are always finite; Pillow scans them in C
    tops = (float(np.max(block, initial=0.0, where=np.isfinite(block))) for _, block in _row_blocks(image))
    return max(tops, default=0.0)


def _high_depth_to_uint8(image: Image.Image) -> np.ndarray:
    """Scale 16/32-bit integer and float single-channel images to 0..255 (never clip).

    Block by block in float32: a float64 copy of the whole image (and its temporaries)
    cost 8 bytes a pixel several times over, over 2 GB for a 63-MP 16-bit PNG."""
    top = _finite_max(image)
    if image.mode == "F" and top <= 1.0:
        scale = 255.0  # float images in 0..1
    elif top <= 255:
        scale = 1.0  # already 8-bit range
    elif top <= 65535:
        scale = 255.0 / 65535.0  # 16-bit range
    else:
        scale = 255.0 / top
    grey = np.empty((image.height, image.width), np.uint8)
    for rows, block in _row_blocks(image):
        # NaN reads as black and infinities as the ends of the range, as np.nan_to_num would have it.
        scaled = np.nan_to_num(block.astype(np.float32), nan=0.0, posinf=top, neginf=0.0) * np.float32(scale)
        grey[rows] = np.clip(scaled, 0, 255).round()
    return grey


def _to_displayable(image: Image.Image) -> Image.Image:
    """An 8-bit image that pastes onto RGB as the photo looks: L, RGB, or RGBA composited onto white."""
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return Image.fromarray(_high_depth_to_uint8(image), "L")
    if mode in ("P", "PA", "LA"):
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    if image.mode in ("RGBA", "RGBa"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image if image.mode in ("L", "RGB", "RGBA") else image.convert("RGB")


def _rebuilt_rgb(displayable: Image.Image) -> Image.Image:
    """A new RGB image holding only the pixels: no EXIF, GPS, ICC profile or text chunk survives.

    Pasted in C rather than rebuilt from a numpy array, which would go through ``tobytes()``
    (see ``_row_blocks``): over 500 MB above the model for a 53-MP PNG, about 400 MB this way."""
    clean = Image.new("RGB", displayable.size)
    clean.paste(displayable)
    return clean


def load_photo(source: PhotoSource, *, draft_size: int | None = None) -> Image.Image:
    """Decode a photo safely into a metadata-free RGB image, upright.

    ``draft_size``: the smallest side the caller needs; JPEGs are then decoded at
    a reduced scale that is still at least that large (a 12-MP photo for a 256 px
    model decodes at 1/8 scale). The result is not resized further here.
    """
    return load_photo_sized(source, draft_size=draft_size)[0]


def load_photo_sized(source: PhotoSource, *, draft_size: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """``load_photo`` plus the photo's stored (upright) size, which draft decoding hides."""
    if isinstance(source, Image.Image):
        image = source
        _check_dimensions(image.size)
        stored_side = max(image.size)
    else:
        image, stored_side = _decode(source, draft_size)
    decoded_side = max(image.size)
    try:
        # In place when the image is ours: otherwise a photo without rotation is copied whole.
        image = _upright(image, in_place=image is not source)
    except Exception:  # a broken EXIF block must not lose the photo; orientation stays as stored
        pass
    scale = stored_side / decoded_side
    stored_size = (round(image.width * scale), round(image.height * scale))
    displayable = _to_displayable(image)
    del image  # a 16-bit photo's own samples go before the RGB copy is made
    return _rebuilt_rgb(displayable), stored_size


def _upright(image: Image.Image, in_place: bool) -> Image.Image:
    if not in_place:
        return ImageOps.exif_transpose(image)
    ImageOps.exif_transpose(image, in_place=True)
    return image


def capture_date(source: PhotoSource) -> datetime.date | None:
    """The day the photo was taken (EXIF DateTimeOriginal), read from the file *before* ``load_photo`` strips it.

    Only the date comes back, never the time, the camera or the place: the caller turns it into a day
    since the treatment and keeps nothing else. None when the file has no such tag or cannot be read;
    reading it never refuses a photo (``load_photo`` does that). Only the header is parsed, no pixels.
    Pass a path or bytes (a file object would be left at the end of its header).
    """
    if isinstance(source, Image.Image):
        return None  # already decoded elsewhere: its metadata is not ours to read
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(_open_stream(source), formats=_allowed_formats()) as image:
                raw = image.getexif().get_ifd(0x8769).get(0x9003)  # Exif IFD, DateTimeOriginal
        return datetime.datetime.strptime(str(raw).strip()[:10], "%Y:%m:%d").date()
    except Exception:  # a broken or missing EXIF block only means "no date": the patient types the day
        return None
