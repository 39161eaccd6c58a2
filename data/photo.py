"""Safe photo loading: the one function the app, the CLI, training and evaluation use.

    from skinfindings.data.photo import load_photo
    image = load_photo("photo.jpg", draft_size=256)   # RGB, metadata-free PIL image

Photos come from patients' phones and from the internet, so every step assumes
the input may be hostile or broken:

* only an allow-list of formats is opened (Pillow's plugin sniffing is narrowed);
* the pixel count is checked from the header before any pixels are decoded, and
  Pillow's decompression-bomb *warning* is raised as an error (Pillow itself only
  raises at about twice its warning limit);
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


def _high_depth_to_uint8(image: Image.Image) -> np.ndarray:
    """Scale 16/32-bit integer and float single-channel images to 0..255 (never clip)."""
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    if image.mode == "F" and top <= 1.0:
        scale = 255.0  # float images in 0..1
    elif top <= 255:
        scale = 1.0  # already 8-bit range
    elif top <= 65535:
        scale = 255.0 / 65535.0  # 16-bit range
    else:
        scale = 255.0 / top
    return np.clip(np.nan_to_num(values) * scale, 0, 255).round().astype(np.uint8)


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = _high_depth_to_uint8(image)
        return np.stack([grey] * 3, axis=-1)
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA")
    elif mode in ("L", "1"):
        image = image.convert("RGB")
    elif mode == "LA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


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
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not lose the photo; orientation stays as stored
        pass
    pixels = _to_rgb_array(image)
    scale = stored_side / decoded_side
    stored_size = (round(image.width * scale), round(image.height * scale))
    # Rebuilt from the pixel array: no EXIF, GPS, ICC profile or text chunk survives.
    return Image.fromarray(np.ascontiguousarray(pixels)), stored_size


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
