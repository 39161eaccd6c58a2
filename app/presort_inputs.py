"""Pre-sort inputs: files, folders (recursive) and .zip archives -> photos to read, under caps.

Zip archives come from uploads too, so every archive is read under caps: nothing is
ever extracted to disk, and a zip bomb runs out of budget instead of out of memory.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from skinfindings.data.photo import ALLOWED_FORMATS, MAX_FILE_BYTES, CorruptPhotoError, PhotoTooLargeError

ID_LENGTH = 12
MAX_ZIP_MEMBERS = 20_000
MAX_ZIP_TOTAL_BYTES = 4 * 1024**3
HEADER_BYTES = 256 * 1024  # enough for an image's size, EXIF included
MAX_COMPRESSION_RATIO = 200  # photos barely compress; a member that shrinks 200x is not a photo
IGNORED_FILES = {"thumbs.db", "desktop.ini"}  # operating-system clutter, never a photo
# A folder is sorted as itself: a link in it to a file elsewhere (/etc/passwd, another patient's folder) is a
# row saying so, never read.
LINK_OUT_OF_FOLDER = "This is a link to a file outside the folder being sorted, so it was not opened."


@dataclass(frozen=True)
class PhotoInput:
    """One photo to sort: a file, or a member of a zip archive."""

    name: str
    path: Path  # the file, or the archive that holds it
    member: str | None = None
    problem: str | None = None  # known before reading (bad archive, unsafe member name)



def collect_inputs(paths: Iterable[str | os.PathLike], exclude: Iterable[str | os.PathLike] = ()) -> list[PhotoInput]:
    """Files, folders (recursive, hidden files skipped) and .zip archives -> photos, in a stable order.

    Every other file in a folder becomes an input too, so a photo in an unexpected
    format shows up as a row with an error instead of silently going missing.
    Raises FileNotFoundError for a path that does not exist.
    """
    excluded = {Path(p).resolve() for p in exclude}
    inputs: list[PhotoInput] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir():
            root = path.resolve()
            for file, name in _walk(path):
                if file.resolve() in excluded:
                    continue
                if file.is_symlink() and root not in file.resolve().parents:
                    inputs.append(PhotoInput(name, file, problem=LINK_OUT_OF_FOLDER))
                else:
                    inputs.extend(_inputs_for_file(file, name))
        elif path.resolve() not in excluded:
            inputs.extend(_inputs_for_file(path, path.name))
    return inputs


def _walk(folder: Path) -> Iterable[tuple[Path, str]]:
    for root, dirs, files in os.walk(folder):  # symlinked folders are not followed: no loops
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file in sorted(files):
            if file.startswith(".") or file.lower() in IGNORED_FILES:
                continue
            full = Path(root) / file
            yield full, (PurePosixPath(folder.name) / full.relative_to(folder).as_posix()).as_posix()


def _inputs_for_file(path: Path, name: str) -> list[PhotoInput]:
    if path.suffix.lower() != ".zip":
        return [PhotoInput(name, path)]
    try:
        with zipfile.ZipFile(path) as archive:
            return _zip_members(archive, path, name)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        return [PhotoInput(name, path, problem=f"This zip archive could not be opened ({exc}).")]


def _zip_members(archive: zipfile.ZipFile, path: Path, name: str) -> list[PhotoInput]:
    members = [m for m in archive.infolist() if not m.is_dir() and not _hidden_member(m.filename)]
    if len(members) > MAX_ZIP_MEMBERS:
        return [PhotoInput(name, path, problem=f"This zip archive holds {len(members)} files; at most "
                                               f"{MAX_ZIP_MEMBERS} are read. Split it into smaller archives.")]
    total = sum(m.file_size for m in members)
    if total > MAX_ZIP_TOTAL_BYTES:
        return [PhotoInput(name, path, problem=f"This zip archive unpacks to {total:,} bytes; at most "
                                               f"{MAX_ZIP_TOTAL_BYTES:,} are read. Split it into smaller archives.")]
    return [PhotoInput(f"{name}/{m.filename}", path, m.filename, _member_problem(m)) for m in members]


def _hidden_member(filename: str) -> bool:
    """macOS resource forks, dot files and operating-system clutter: never a photo."""
    parts = PurePosixPath(filename.replace("\\", "/")).parts
    return bool(parts) and (parts[0] == "__MACOSX" or parts[-1].startswith(".") or parts[-1].lower() in IGNORED_FILES)


def _member_problem(member: zipfile.ZipInfo) -> str | None:
    """Why a member is refused before reading it, or None. Members are never written to disk,
    but a name that climbs out of the archive is a sign of a hostile archive, so it is refused."""
    pure = PurePosixPath(member.filename.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or ":" in member.filename:
        return "This archive entry has an unsafe path and was not opened."
    if member.flag_bits & 0x1:
        return "This archive entry is password-protected and could not be opened."
    if member.filename.lower().endswith(".zip"):
        return "Archives inside an archive are not opened; unpack it and sort the inner archive itself."
    if member.file_size > MAX_FILE_BYTES:
        return PhotoTooLargeError.user_message
    if member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1) and member.file_size > 1 << 20:
        return "This archive entry is compressed far more than a photo can be and was not opened."
    return None


@dataclass(frozen=True)
class RequestLimits:
    """What one request to the app may ask the pre-sort to read (the command line has no such limits)."""

    max_photos: int = 1000  # files and zip entries together
    max_zip_pixels: int = 1_000_000_000  # decoded pixels of all zip entries together: about 80 phone photos of 12 MP


def request_problem(paths: Iterable[str | os.PathLike], limits: RequestLimits = RequestLimits()) -> str | None:
    """Why the app refuses these uploads as one request, or None. Reads zip directories and photo headers only."""
    count, pixels = 0, 0
    for path in map(Path, paths):
        if path.suffix.lower() != ".zip":
            count += 1
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir() and not _hidden_member(m.filename)]
                count += len(members)
                if count > limits.max_photos:
                    break
                pixels += sum(_header_pixels(archive, m) for m in members if _member_problem(m) is None)
        except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError):
            count += 1  # the sort itself reports the damaged archive as a row
    if count > limits.max_photos:
        return (f"One request may sort at most {limits.max_photos} photos (zip entries included); this one holds "
                f"more. Please send fewer at a time, or use skinfindings sort for a large set.")
    if pixels > limits.max_zip_pixels:
        return (f"The zip archives in this request hold {pixels / 1e6:,.0f} megapixels of images; one request may "
                f"hold at most {limits.max_zip_pixels / 1e6:,.0f} (about 80 phone photos). Please split them, or "
                "use skinfindings sort for a large set.")
    return None


def _header_pixels(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> int:
    """Width x height from the entry's header (no pixel is decoded); 0 when it is not a readable image."""
    from PIL import Image

    try:
        with archive.open(member) as handle:
            head = handle.read(HEADER_BYTES)
        with Image.open(io.BytesIO(head), formats=ALLOWED_FORMATS) as image:
            return image.width * image.height
    except Exception:  # noqa: BLE001 - any failure here is the loader's to report, row by row
        return 0


def _read(item: PhotoInput, archives: dict[Path, zipfile.ZipFile], stack: ExitStack) -> bytes:
    """The file's bytes, at most MAX_FILE_BYTES of them; raises PhotoError.

    Archives are opened once per batch (``archives`` caches them, ``stack`` closes them)."""
    try:
        if item.member is None:
            with open(item.path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        else:
            if item.path not in archives:
                archives[item.path] = stack.enter_context(zipfile.ZipFile(item.path))
            with archives[item.path].open(item.member) as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError) as exc:
        raise CorruptPhotoError(str(exc)) from exc
    if len(data) > MAX_FILE_BYTES:
        raise PhotoTooLargeError(f"over {MAX_FILE_BYTES} bytes")
    return data


def photo_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:ID_LENGTH]

