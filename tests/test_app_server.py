"""The launched app through gradio_client: single and batch endpoints, errors, concurrency, privacy.

    python -m pytest -q tests/test_app_server.py

One server (random-weight checkpoint, free port) serves the whole module. While it is
built, launched and used, every socket connection and name lookup is checked: any
attempt to reach a host other than this machine fails the tests.
"""

from __future__ import annotations

import base64
import csv
import io
import ipaddress
import re
import socket
import zipfile
from concurrent.futures import ThreadPoolExecutor

import httpx
import huggingface_hub.constants
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from conftest import skin_like
from skinfindings.app import privacy, ui
from skinfindings.data.photo import UnsupportedFormatError
from skinfindings.model.predictor import Predictor

UPLOAD_LIMIT = 2 * 1024 * 1024  # small, so the size test needs no big file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_local(host) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class OutsideRequests:
    """Refuses and records every connection or lookup that leaves this machine."""

    def __init__(self):
        self.attempts: list[str] = []
        self._connect = socket.socket.connect
        self._connect_ex = socket.socket.connect_ex
        self._getaddrinfo = socket.getaddrinfo

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        guard = self

        def check(address):
            if isinstance(address, tuple) and not is_local(address[0]):
                guard.attempts.append(str(address))
                raise ConnectionRefusedError(f"test: no outside requests ({address})")

        def connect(sock, address):
            check(address)
            return guard._connect(sock, address)

        def connect_ex(sock, address):
            check(address)
            return guard._connect_ex(sock, address)

        def getaddrinfo(host, *args, **kwargs):
            if not is_local(host if not isinstance(host, bytes) else host.decode()):
                guard.attempts.append(f"lookup {host}")
                raise socket.gaierror(f"test: no outside lookups ({host})")
            return guard._getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="module")
def server(untrained_checkpoint):
    guard = OutsideRequests()
    with pytest.MonkeyPatch.context() as monkeypatch:
        guard.install(monkeypatch)
        # The app sets HF_HUB_OFFLINE before gradio loads huggingface_hub; gradio_client (imported by this
        # test first) read it earlier, and it is the test's own tool, so it is put offline the same way.
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", True)
        settings = privacy.AppSettings(port=free_port(), max_file_bytes=UPLOAD_LIMIT)
        app = ui.build_app(Predictor(untrained_checkpoint), settings)
        app.launch(prevent_thread_lock=True, quiet=True, **ui.launch_kwargs(settings))
        try:
            url = f"http://127.0.0.1:{settings.port}/"
            yield url, Client(url, verbose=False), guard
        finally:
            app.close()
    assert not guard.attempts, f"the app tried to reach outside hosts: {guard.attempts}"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for seed in range(4):
        path = folder / f"skin-{seed}.jpg"
        skin_like(256, seed=seed).save(path, quality=90)
        paths.append(path)
    return paths


def check(client: Client, path, procedure="microneedling", days="2", flags=()):
    upload = handle_file(str(path))
    photo, notice, results = client.predict(upload, procedure, days, list(flags), api_name="/check_photo")
    assert photo is None  # the upload is cleared once read
    return notice, results


def test_single_photo_gives_findings_guidance_and_notice(server, photos):
    url, client, guard = server
    notice, results = check(client, photos[0], "halo_laser", "3")
    assert 'id="sf-provider-notice"' in notice and "provider" in notice
    assert "Model: an untrained placeholder" in notice
    assert "Your photo as the model saw it" in results
    assert "Possible findings" in results or "No finding recognised" in results
    assert "When to contact your provider" in results or "does not rule anything out" in results
    assert not privacy.leftover_files()


def test_red_flag_turns_the_notice_urgent(server, photos):
    _, client, _ = server
    notice, _ = check(client, photos[1], flags=["fever", "not-a-flag"])  # unknown flags are ignored
    assert "Contact your provider now" in notice and "emergency" in notice


def test_unreadable_file_is_an_error_and_the_app_keeps_working(server, photos, tmp_path):
    _, client, _ = server
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"definitely not a photo")
    _, results = check(client, bad)
    assert "This file could not be read" in results and UnsupportedFormatError.user_message in results
    _, results = check(client, photos[2])
    assert "could not be read" not in results and "Your photo as the model saw it" in results
    assert not privacy.leftover_files()


def test_batch_presort_sorts_photos_and_zip_with_csv(server, photos, tmp_path):
    _, client, _ = server
    archive = tmp_path / "inbox.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(photos[1], "visit/skin-1.jpg")
        buffer = io.BytesIO()
        Image.fromarray(np.full((256, 256, 3), 10, np.uint8)).save(buffer, format="PNG")
        zf.writestr("visit/dark.png", buffer.getvalue())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"broken")
    files, table = client.predict(
        [handle_file(str(photos[0])), handle_file(str(archive)), handle_file(str(broken))], api_name="/presort"
    )
    assert files is None
    tiers = re.findall(r'<tr class="sf-tier-([a-z-]+)"', table)
    assert len(tiers) == 4
    ranks = {"urgent": 1, "review": 2, "check": 3, "routine": 4, "routine-none": 5}
    assert [ranks[t] for t in tiers] == sorted(ranks[t] for t in tiers)
    assert tiers.count("check") >= 2  # the dark photo and the broken file are listed, not dropped
    link = re.search(r'download="skinfindings-presort.csv" href="data:text/csv;base64,([^"]+)"', table)
    rows = list(csv.DictReader(io.StringIO(base64.b64decode(link.group(1)).decode())))
    names = {"skin-0.jpg", "inbox.zip/visit/skin-1.jpg", "inbox.zip/visit/dark.png", "broken.jpg"}
    assert {r["name"] for r in rows} == names
    assert not privacy.leftover_files()


def test_twenty_parallel_requests_are_all_answered(server, photos):
    _, client, _ = server
    # Repeats of the same photo share one upload path: the app must serve every one of them.
    jobs = [
        client.submit(handle_file(str(photos[i % len(photos)])), "microneedling", str(i), [], api_name="/check_photo")
        for i in range(20)
    ]
    answers = [job.result(timeout=240) for job in jobs]
    assert len(answers) == 20
    for _, notice, results in answers:
        assert "sf-provider-notice" in notice
        assert "Your photo as the model saw it" in results, results[:300]
    assert not privacy.leftover_files()


def test_oversized_upload_is_refused(server):
    url, _, _ = server
    big = b"\xff\xd8" + bytes(UPLOAD_LIMIT + 1024)
    response = httpx.post(f"{url}gradio_api/upload", files=[("files", ("big.jpg", big))], timeout=60)
    assert response.status_code == 413
    assert not privacy.leftover_files()


def test_no_monitoring_no_outside_files(server, untrained_checkpoint):
    url, _, _ = server
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("monitoring").status_code >= 400
        for path in (untrained_checkpoint, "/etc/hostname"):
            assert http.get(f"gradio_api/file={path}").status_code >= 400
        config = http.get("config").json()
    assert config.get("footer_links") == [] and not config.get("run_history", False)


def test_no_upload_left_after_many_sessions(server, photos):
    url, _, _ = server
    clients = [Client(url, verbose=False) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda c: check(c, photos[3]), clients))
    assert not privacy.leftover_files()


def test_login_is_required_when_configured(untrained_checkpoint):
    settings = privacy.settings_from_env({"SKINFINDINGS_AUTH": "nurse:s3cret"})
    settings = privacy.AppSettings(port=free_port(), auth=settings.auth)
    app = ui.build_app(Predictor(untrained_checkpoint), settings)
    app.launch(prevent_thread_lock=True, quiet=True, **ui.launch_kwargs(settings))
    try:
        url = f"http://127.0.0.1:{settings.port}/"
        assert httpx.get(f"{url}config", timeout=30).status_code == 401
        with pytest.raises(Exception):
            Client(url, verbose=False)
        Client(url, auth=("nurse", "s3cret"), verbose=False)
    finally:
        app.close()
