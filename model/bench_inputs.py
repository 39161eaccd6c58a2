"""The benchmark's inputs, all generated here: nothing is downloaded and no real photo is used.

    singles, folder = make_photos(tmp, config)      # phone JPEG, 1080p PNG, 256 px JPEG; pre-sort folder
"""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from skinfindings.data.photo import MAX_DECODED_BYTES
from skinfindings.model.bench_report import MIB, BenchConfig

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def phone_photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Skin-toned blotches plus sensor noise: it compresses like a phone photo (about 2-3 MiB as a 12-MP JPEG),
    which matters because JPEG decoding time follows the compressed size."""
    rng = np.random.default_rng(seed)
    width, height = size
    blotches = rng.normal(0, 1, (max(2, height // 100), max(2, width // 100), 3)).astype(np.float32)
    blotch_image = Image.fromarray(np.clip(128 + 40 * blotches, 0, 255).astype(np.uint8))
    smooth = np.asarray(blotch_image.resize(size, Image.BICUBIC))
    skin = np.array([190, 140, 115], np.float32)
    noise = rng.normal(0, 4, (height, width, 1)).astype(np.float32)
    pixels = 0.8 * skin + 0.2 * smooth.astype(np.float32) + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _save_jpeg(image: Image.Image, path: Path, rotated: bool = False) -> Path:
    exif = Image.Exif()
    if rotated:
        exif[0x0112] = 6  # phones store portrait shots sideways with this orientation tag
    image.save(path, quality=90, exif=exif)
    return path


def make_photos(folder: Path, config: BenchConfig) -> tuple[dict[str, Path], list[Path]]:
    """The single-photo inputs by label, and the pre-sort folder's photos."""
    phone = phone_photo(config.phone_size, seed=0)
    megapixels = config.phone_size[0] * config.phone_size[1] / 1e6
    screen = folder / "screen.png"
    phone_photo(config.screen_size, seed=2).save(screen)
    singles = {
        f"{round(megapixels, 1):g}-MP JPEG": _save_jpeg(phone, folder / "phone.jpg", rotated=True),
        f"{config.screen_size[1]}p PNG": screen,
        "256 px JPEG": _save_jpeg(phone_photo((256, 256), seed=1), folder / "small.jpg"),
    }
    # The folder cycles through a few shifted, re-tinted versions of one photo: decoding
    # cost follows pixel count and JPEG complexity, which match, and nothing is cached
    # between files, while encoding dozens of 12-MP JPEGs would outlast the benchmark.
    presort = folder / "presort"
    presort.mkdir()
    base = np.asarray(phone)
    rng = np.random.default_rng(3)
    versions = []
    for i in range(min(4, config.folder_photos)):
        shifted = np.roll(base, int(rng.integers(0, base.shape[1])), axis=1)
        tinted = np.clip(shifted.astype(np.int16) + rng.integers(-12, 12, 3), 0, 255).astype(np.uint8)
        versions.append(_save_jpeg(Image.fromarray(tinted), folder / f"version_{i}.jpg", rotated=i % 2 == 0))
    batch = [presort / f"photo_{i:03d}.jpg" for i in range(config.folder_photos)]
    for i, path in enumerate(batch):
        shutil.copyfile(versions[i % len(versions)], path)
    return singles, batch


def describe_photos(singles: dict[str, Path], folder: list[Path]) -> dict:
    def facts(path: Path) -> dict:
        with Image.open(path) as image:
            return {"width": image.width, "height": image.height, "MiB": round(path.stat().st_size / MIB, 2)}

    described = {label: facts(path) for label, path in singles.items()}
    described["pre-sort folder"] = {"photos": len(folder), **facts(folder[0])}
    return described


def gradient_png(path: Path, width: int, height: int, channels: int = 1, bit_depth: int = 16) -> Path:
    """A PNG of one smooth vertical gradient, written row by row: tiny on disk, as large as asked once decoded.

    Pillow cannot write 16-bit colour PNGs, and holding the whole image to save it would
    cost the memory this file is meant to make the loader spend, so the chunks are built
    here: an 8-bit-per-channel grey/RGB/RGBA or 16-bit image, ``channels`` 1, 3 or 4."""
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    dtype = ">u2" if bit_depth == 16 else "u1"
    top = 65535 if bit_depth == 16 else 255
    deflate = zlib.compressobj(6)
    idat = bytearray()
    for first in range(0, height, 64):  # 64 rows at a time: a few MB in memory, few Python steps
        y = np.arange(first, min(first + 64, height))
        levels = np.round(top * (0.3 + 0.4 * y / max(height - 1, 1))).astype(dtype)  # mid-tones, never clipped
        samples = np.repeat(levels[:, None], width * channels, axis=1).view(np.uint8)
        rows = np.hstack([np.zeros((len(y), 1), np.uint8), samples])  # each row starts with filter type 0
        idat += deflate.compress(rows.tobytes())
    idat += deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", bytes(idat))
                     + png_chunk(b"IEND", b""))
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def decode_memory_photos(folder: Path, phone_jpeg: Path) -> dict[str, Path]:
    """The worst photos the loader accepts, by decoded bytes, and the 16-bit bomb it must refuse.

    Sizes follow ``MAX_DECODED_BYTES``: each accepted PNG sits just under it (every photo
    costs at least 3 bytes a pixel, 16-bit colour 6). The 50-MP JPEG is the phone photo
    scaled up; JPEG draft decoding is what keeps it cheap."""
    height3, height6 = MAX_DECODED_BYTES // 3 // 8000, MAX_DECODED_BYTES // 6 // 6000
    pngs = [  # label, file, width, height, channels, bit depth
        ("largest 16-bit grey PNG", "grey16.png", 8000, height3, 1, 16),
        ("largest 16-bit colour PNG", "rgb16.png", 6000, height6, 3, 16),
        ("largest 8-bit RGB PNG", "rgb8.png", 8000, height3, 3, 8),
        ("refused: 16-bit grey PNG", "bomb16.png", 9000, 7000, 1, 16),  # the 63-MP, 180 KB file
    ]
    photos = {f"{label} ({w} x {h}, {w * h / 1e6:.1f} MP)": gradient_png(folder / name, w, h, channels, depth)
              for label, name, w, h, channels, depth in pngs}
    with Image.open(phone_jpeg) as phone:
        big = phone.convert("RGB").resize((8160, 6120), Image.BILINEAR)
    photos["50-MP phone JPEG (8160 x 6120)"] = _save_jpeg(big, folder / "phone50.jpg")
    return photos
