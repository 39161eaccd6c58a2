"""The downloader against a local http.server on 127.0.0.1: resume, bad checksum, 404, no overwrite."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from skinfindings.data.cli import main as data_main
from skinfindings.data.download import download_manifest
from skinfindings.data.manifest import Record, read_manifest, write_manifest

PHOTO = bytes(range(256)) * 400  # 100 kB: content only, the downloader does not decode


class FileServer(ThreadingHTTPServer):
    """Serves ``files`` (path -> bytes) with HTTP Range support; records every request's Range header."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.ranges: list[str | None] = []
        self.honour_range = True
        self.cut_after: int | None = None  # send only this many body bytes, then drop the connection

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        server: FileServer = self.server
        server.ranges.append(self.headers.get("Range"))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if server.honour_range and self.headers.get("Range"):
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        sent = body[start:] if server.cut_after is None else body[start:start + server.cut_after]
        self.wfile.write(sent)
        if server.cut_after is not None:
            self.close_connection = True


@pytest.fixture
def server():
    httpd = FileServer()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _manifest(folder: Path, rows: list[tuple[str, str, bytes]]) -> Path:
    """rows: (file name, url, bytes whose sha256 the manifest records)."""
    records = [Record(path=f"images/{name}", sha256=hashlib.sha256(content).hexdigest(), labels={},
                      license="CC0", extra={"url": url}) for name, url, content in rows]
    return write_manifest(folder / "manifest.csv", records)


def test_downloads_verify_and_a_good_file_is_never_fetched_again(tmp_path, server):
    server.files["/a.jpg"] = PHOTO
    manifest = read_manifest(_manifest(tmp_path, [("a.jpg", f"{server.url}/a.jpg", PHOTO)]))
    report = download_manifest(manifest)
    assert report.ok and report.downloaded == ["images/a.jpg"]
    assert (tmp_path / "images" / "a.jpg").read_bytes() == PHOTO
    requests = len(server.ranges)
    again = download_manifest(manifest)
    assert again.already_present == ["images/a.jpg"] and len(server.ranges) == requests


def test_a_partial_download_resumes_with_a_range_request(tmp_path, server):
    server.files["/a.jpg"] = PHOTO
    manifest = read_manifest(_manifest(tmp_path, [("a.jpg", f"{server.url}/a.jpg", PHOTO)]))
    server.cut_after = 30_000
    first = download_manifest(manifest)
    assert "broke off" in first.failed["images/a.jpg"]
    part = tmp_path / "images" / "a.jpg.part"
    assert part.stat().st_size == 30_000 and not (tmp_path / "images" / "a.jpg").exists()
    server.cut_after = None
    second = download_manifest(manifest)
    assert second.downloaded == ["images/a.jpg"] and server.ranges[-1] == "bytes=30000-"
    assert (tmp_path / "images" / "a.jpg").read_bytes() == PHOTO and not part.exists()


def test_a_server_that_ignores_ranges_still_gives_the_right_file(tmp_path, server):
    server.files["/a.jpg"] = PHOTO
    server.honour_range = False
    manifest = read_manifest(_manifest(tmp_path, [("a.jpg", f"{server.url}/a.jpg", PHOTO)]))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg.part").write_bytes(PHOTO[:5000])
    assert download_manifest(manifest).ok
    assert (tmp_path / "images" / "a.jpg").read_bytes() == PHOTO


def test_a_wrong_checksum_is_reported_and_leaves_no_file(tmp_path, server):
    server.files["/a.jpg"] = PHOTO
    manifest = read_manifest(_manifest(tmp_path, [("a.jpg", f"{server.url}/a.jpg", b"other bytes")]))
    report = download_manifest(manifest)
    assert "sha256" in report.failed["images/a.jpg"]
    assert not list((tmp_path / "images").iterdir())


def test_a_bad_file_on_disk_is_replaced_only_by_a_verified_download(tmp_path, server):
    server.files["/a.jpg"] = PHOTO
    manifest = read_manifest(_manifest(tmp_path, [("a.jpg", f"{server.url}/a.jpg", PHOTO)]))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"truncated")
    assert download_manifest(manifest).downloaded == ["images/a.jpg"]
    assert (tmp_path / "images" / "a.jpg").read_bytes() == PHOTO


def test_404_is_reported_and_other_files_still_arrive(tmp_path, server, capsys):
    server.files["/a.jpg"] = PHOTO
    path = _manifest(tmp_path, [("gone.jpg", f"{server.url}/gone.jpg", PHOTO), ("a.jpg", f"{server.url}/a.jpg", PHOTO)])
    report = download_manifest(read_manifest(path))
    assert "HTTP 404" in report.failed["images/gone.jpg"] and report.downloaded == ["images/a.jpg"]
    assert data_main(["download", str(path)]) == 1
    assert "gone.jpg" in capsys.readouterr().err


def test_unsafe_rows_are_refused_without_any_request(tmp_path, server):
    records = [
        Record(path="../outside.jpg", sha256="0" * 64, labels={}, extra={"url": f"{server.url}/a.jpg"}),
        Record(path="local.jpg", sha256="0" * 64, labels={}, extra={"url": "file:///etc/hostname"}),
        Record(path="unverifiable.jpg", labels={}, extra={"url": f"{server.url}/a.jpg"}),
    ]
    report = download_manifest(read_manifest(write_manifest(tmp_path / "m" / "manifest.csv", records)))
    assert "outside" in report.failed["../outside.jpg"]
    assert "http(s)" in report.failed["local.jpg"]
    assert "no sha256" in report.failed["unverifiable.jpg"]
    assert server.ranges == [] and not (tmp_path / "outside.jpg").exists()
