"""Fetch the files a manifest lists by URL, verified by sha256, resuming partial downloads.

    skinfindings data download runs/data/scin/manifest.csv

Each row's URL is its ``url`` column (an extra column) or, when that is empty, its ``upstream_url``
when that is an http(s) address. The file goes to the row's ``path`` under the manifest's folder.

* A file already there with the right checksum is never touched, and nothing is fetched for it.
* Bytes arrive in ``<path>.part``; a later run asks the server for the rest (HTTP Range) and
  starts over when the server sends the whole file instead.
* Only a download whose sha256 matches replaces ``<path>``; a mismatch deletes the ``.part`` and is
  reported, as are HTTP errors (404 ...). A row without a checksum cannot be verified and is refused.
* Paths must stay inside the manifest's folder and URLs must be http(s): a manifest from the
  internet cannot write elsewhere or read local files.

Only the standard library (urllib) is used.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from skinfindings.data.manifest import Manifest, Record, sha256_file
from skinfindings.data.photo import MAX_FILE_BYTES

CHUNK_BYTES = 1 << 16
TIMEOUT_S = 30
USER_AGENT = "skinfindings-data-download"


class DownloadError(Exception):
    """One file that could not be fetched and verified; the message says why."""


@dataclass
class DownloadReport:
    downloaded: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason

    @property
    def ok(self) -> bool:
        return not self.failed


def url_of(record: Record) -> str:
    url = (record.extra.get("url") or "").strip()
    if not url and record.upstream_url.strip().lower().startswith(("http://", "https://")):
        url = record.upstream_url.strip()
    return url


def _destination(manifest: Manifest, record: Record) -> Path:
    root = manifest.root.resolve()
    path = (root / record.path).resolve()
    if not path.is_relative_to(root):
        raise DownloadError(f"path {record.path!r} leads outside the manifest's folder {root}")
    return path


def _open(url: str, offset: int):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)


def _fetch_into(url: str, part: Path) -> None:
    """Append the rest of ``url`` to ``part`` (or write it anew when the server ignores the range)."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing left to send: the .part may already be complete
            return
        raise DownloadError(f"HTTP {error.code} {error.reason} for {url}") from None
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"cannot reach {url}: {error}") from None
    with response:
        resumed = bool(offset) and response.status == 206 and _range_start(response) == offset
        announced = response.headers.get("Content-Length")
        with part.open("ab" if resumed else "wb") as handle:
            received = _copy_body(response, handle, url)
    if part.stat().st_size > MAX_FILE_BYTES:
        part.unlink()
        raise DownloadError(f"{url} is larger than {MAX_FILE_BYTES} bytes; not a photo")
    # http.client hands back a short body without complaint when the connection drops mid-way.
    if announced is not None and received != int(announced):
        raise DownloadError(f"download from {url} broke off after {received} of {announced} bytes; "
                            "run again to resume")  # the .part stays for the next run


def _copy_body(response, handle, url: str) -> int:
    """Write the body to ``handle``; the number of bytes received. Stops past the size limit."""
    received = 0
    try:
        for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
            handle.write(chunk)
            received += len(chunk)
            if handle.tell() > MAX_FILE_BYTES:
                break
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"download from {url} broke off after {received} bytes ({error}); "
                            "run again to resume") from None
    return received


def _range_start(response) -> int | None:
    """First byte of a 206 answer ("Content-Range: bytes 100-199/200")."""
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def download_one(manifest: Manifest, record: Record) -> bool:
    """Fetch one file; False when it was already there and verified. Raises DownloadError."""
    url = url_of(record)
    expected = record.sha256.strip().lower()
    if not expected:
        raise DownloadError("no sha256 in the manifest: a download could not be verified")
    path = _destination(manifest, record)
    if path.is_file() and sha256_file(path) == expected:
        return False
    if not url:
        raise DownloadError("no http(s) URL (url column or upstream_url)")
    if not url.lower().startswith(("http://", "https://")):
        raise DownloadError(f"only http(s) URLs are fetched, not {url!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    resumed = part.exists()
    _fetch_into(url, part)
    if sha256_file(part) != expected and resumed:
        part.unlink()  # the old .part may belong to an earlier version of the file: once more from the start
        _fetch_into(url, part)
    if sha256_file(part) != expected:
        part.unlink()
        raise DownloadError(f"sha256 of the download from {url} does not match the manifest; discarded")
    os.replace(part, path)
    return True


def download_manifest(manifest: Manifest, progress: bool = False) -> DownloadReport:
    """Fetch every row's file; failures are collected, not raised, so one bad URL stops nothing else."""
    report = DownloadReport()
    for record in tqdm(manifest.records, desc="download", unit="file", disable=not progress):
        try:
            fetched = download_one(manifest, record)
        except DownloadError as error:
            report.failed[record.path] = str(error)
            continue
        (report.downloaded if fetched else report.already_present).append(record.path)
    return report
