"""Near-duplicate photos by perceptual hash (pHash), reported and optionally removed or grouped.

    skinfindings data dedup runs/data/mine/manifest.csv                       # report
    skinfindings data dedup runs/data/mine/manifest.csv --remove --out runs/data/mine/dedup.csv
    skinfindings data dedup runs/data/mine/manifest.csv --calibrate           # how far apart copies are here

A resized, re-encoded, brightened or slightly cropped copy of a photo in another split lets a model
score well on a photo it has already seen. pHash keeps the 63 lowest-frequency DCT coefficients of a
32 x 32 grey thumbnail and records which lie above their median; copies differ in a few bits,
unrelated photos in many. Each photo is hashed in the eight symmetries of a square, so a mirrored or
rotated augmentation is still caught. Photos are read through the shared loader.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance
from tqdm import tqdm

from skinfindings.data.manifest import Manifest, Record
from skinfindings.data.photo import PhotoError, load_photo

THUMB_SIDE = 32
KEPT_SIDE = 8  # the 8 x 8 lowest frequencies, less the constant term: 63 bits
DEFAULT_MAX_DISTANCE = 10  # bits; data/REAL_DATA.md gives the command that measured the margin around it
SPLIT_RANK = {"test": 0, "val": 1, "train": 2, "": 3}  # which copy survives --remove: test first


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix: ``D @ x @ D.T`` is the 2-D DCT of x."""
    k, x = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT = _dct_matrix(THUMB_SIDE)
_BITS_IN_BYTE = np.array([bin(b).count("1") for b in range(256)], np.uint8)


@dataclass(frozen=True)
class DuplicatePair:
    first: int  # record indices, first < second
    second: int
    distance: int  # differing bits, 0..63
    cross_split: bool


@dataclass
class Hashes:
    values: np.ndarray  # (n, 8) uint64: per record, the hash in each of the eight symmetries
    unreadable: dict[int, str]  # record index -> why its photo could not be read (never compared)


def _symmetries(grey: np.ndarray) -> list[np.ndarray]:
    """The eight rotations and mirror images of a square array, identity first."""
    views = []
    for turned in (grey, np.rot90(grey, 1), np.rot90(grey, 2), np.rot90(grey, 3)):
        views += [turned, turned[:, ::-1]]
    return views


def phash_variants(image: Image.Image) -> np.ndarray:
    """(8,) uint64: the pHash of the photo in each symmetry (identity first)."""
    grey = np.asarray(image.convert("L").resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS), float)
    bits = []
    for view in _symmetries(grey):
        low = (_DCT @ view @ _DCT.T)[:KEPT_SIDE, :KEPT_SIDE].ravel()
        low[0] = -np.inf  # the constant term (mean brightness) carries no shape; its bit is always 0
        bits.append(low > np.median(low[1:]))
    return np.packbits(np.stack(bits), axis=1).view(">u8").astype(np.uint64).ravel()


def bit_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Differing bits between uint64 hashes (broadcast)."""
    xor = np.ascontiguousarray(np.bitwise_xor(a, b))
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(xor).astype(int)
    return _BITS_IN_BYTE[xor.view(np.uint8)].reshape(*xor.shape, 8).sum(axis=-1).astype(int)


def hash_manifest(manifest: Manifest, progress: bool = False) -> Hashes:
    values = np.zeros((len(manifest), 8), np.uint64)
    unreadable = {}
    for index, record in enumerate(tqdm(manifest.records, desc="phash", unit="img", disable=not progress)):
        try:
            values[index] = phash_variants(load_photo(manifest.resolve(record), draft_size=2 * THUMB_SIDE))
        except PhotoError as error:
            unreadable[index] = str(error)
    return Hashes(values, unreadable)


def _readable(hashes: Hashes) -> np.ndarray:
    return np.array([i for i in range(len(hashes.values)) if i not in hashes.unreadable], int)


def _distances(hashes: Hashes, i: int, others: np.ndarray) -> np.ndarray:
    """Photo i as stored against the others in each of their symmetries: the smallest distance per other."""
    return bit_distance(hashes.values[others], hashes.values[i, 0]).min(axis=1)


def find_duplicates(manifest: Manifest, hashes: Hashes,
                    max_distance: int = DEFAULT_MAX_DISTANCE) -> list[DuplicatePair]:
    """Pairs within ``max_distance`` bits under some symmetry, closest first."""
    records = manifest.records
    readable = _readable(hashes)
    pairs = []
    for i in readable:
        later = readable[readable > i]
        distances = _distances(hashes, i, later)
        for j, distance in zip(later[distances <= max_distance], distances[distances <= max_distance]):
            pairs.append(DuplicatePair(int(i), int(j), int(distance), records[i].split != records[j].split))
    return sorted(pairs, key=lambda p: (p.distance, p.first, p.second))


def remove_duplicates(records: list[Record], pairs: list[DuplicatePair], cross_split_only: bool = True) -> list[Record]:
    """Drop one photo of each pair: the copy in the split that matters least (train before val before
    test), so held-out sets stay as they are."""
    dropped: set[int] = set()
    for pair in pairs:
        if (cross_split_only and not pair.cross_split) or pair.first in dropped or pair.second in dropped:
            continue
        ranked = sorted((pair.first, pair.second), key=lambda i: (SPLIT_RANK.get(records[i].split, 3), -i))
        dropped.add(ranked[-1])
    return [r for i, r in enumerate(records) if i not in dropped]


def merge_groups(records: list[Record], pairs: list[DuplicatePair]) -> list[Record]:
    """Give the photos of every pair (and chains of pairs) one group, so the next split keeps them together."""
    leader = list(range(len(records)))

    def root(i: int) -> int:
        while leader[i] != i:
            i = leader[i]
        return i

    for pair in pairs:
        leader[root(pair.second)] = root(pair.first)
    in_pair = {i for pair in pairs for i in (pair.first, pair.second)}
    merged = []
    for index, record in enumerate(records):
        head = records[root(index)]
        merged.append(dataclasses.replace(record, group=head.group or head.path) if index in in_pair else record)
    return merged


def _half_size_jpeg(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.resize((max(1, image.width // 2), max(1, image.height // 2))).save(buffer, "JPEG", quality=60)
    return load_photo(buffer.getvalue())


def _crop(image: Image.Image, share: float) -> Image.Image:
    dx, dy = round(image.width * share), round(image.height * share)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


COPY_KINDS = {
    "half size, JPEG q60": _half_size_jpeg,
    "brightness x1.2": lambda image: ImageEnhance.Brightness(image).enhance(1.2),
    "rotated 90 and mirrored": lambda image: image.transpose(Image.Transpose.TRANSVERSE),
    "cropped 3% each side": lambda image: _crop(image, 0.03),
    "cropped 5% each side": lambda image: _crop(image, 0.05),
}


@dataclass
class Calibration:
    different_photos: list[int]  # per photo, the distance to its nearest other photo
    copies: dict[str, list[int]]  # copy kind -> per photo, the distance between the photo and that copy


def calibrate(manifest: Manifest, progress: bool = False) -> Calibration:
    """How far apart different photos of this set are, against how far each photo is from made copies.

    A threshold between the two keeps the copies and leaves the different photos; pairs of genuinely
    different photos that sit very close (the same lesion photographed twice) show up here too."""
    hashes = hash_manifest(manifest, progress)
    readable = _readable(hashes)
    nearest = [int(_distances(hashes, i, readable[readable != i]).min()) for i in readable] if len(readable) > 1 else []
    copies: dict[str, list[int]] = {kind: [] for kind in COPY_KINDS}
    for index, record in enumerate(tqdm(manifest.records, desc="copies", unit="img", disable=not progress)):
        if index in hashes.unreadable:
            continue
        image = load_photo(manifest.resolve(record))
        for kind, make in COPY_KINDS.items():
            copy_hash = phash_variants(make(image))[0]
            copies[kind].append(int(bit_distance(hashes.values[index], copy_hash).min()))
    return Calibration(nearest, copies)
