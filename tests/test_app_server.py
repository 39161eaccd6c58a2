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
import json
import logging
import re
import socket
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import httpx
import huggingface_hub.constants
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import QueueError, Status
from PIL import Image

from conftest import rendered_skin, skin_like
from test_photo_loading import png_header_only
from skinfindings.app import inputs, privacy, security, ui
from skinfindings.app.priority import RED_FLAGS
from skinfindings.data.photo import UnsupportedFormatError
from skinfindings.model.predictor import Predictor

UPLOAD_LIMIT = 2 * 1024 * 1024  # small, so the size test needs no big file
UPLOAD_TOTAL = 3 * UPLOAD_LIMIT  # one upload request, all files together (small for the same reason)
LOAD_PHOTO_SIDE = 128  # the model's input size, above the gate's 96 px minimum: the load check stays cheap


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


class Server(NamedTuple):
    url: str
    client: Client
    guard: OutsideRequests
    predictor: Predictor
    settings: privacy.AppSettings


@pytest.fixture(scope="module")
def server(untrained_checkpoint):
    guard = OutsideRequests()
    with pytest.MonkeyPatch.context() as monkeypatch:
        guard.install(monkeypatch)
        # The app sets HF_HUB_OFFLINE before gradio loads huggingface_hub; gradio_client (imported by this
        # test first) read it earlier, and it is the test's own tool, so it is put offline the same way.
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", True)
        settings = privacy.AppSettings(port=free_port(), max_file_bytes=UPLOAD_LIMIT, max_upload_bytes=UPLOAD_TOTAL)
        predictor = Predictor(untrained_checkpoint)
        app = ui.build_app(predictor, settings)
        app.launch(prevent_thread_lock=True, quiet=True, **ui.launch_kwargs(settings))
        try:
            url = f"http://127.0.0.1:{settings.port}/"
            yield Server(url, Client(url, verbose=False), guard, predictor, settings)
        finally:
            app.close()
    assert not guard.attempts, f"the app tried to reach outside hosts: {guard.attempts}"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for seed in range(4):
        path = folder / f"skin-{seed}.jpg"
        rendered_skin(seed, 256).save(path, quality=90)
        paths.append(path)
    return paths


def check(client: Client, path, procedure="microneedling", days="2", flags=()):
    upload = handle_file(str(path))
    photo, notice, results = client.predict(upload, procedure, days, list(flags), api_name="/check_photo")
    assert photo is None  # the upload is cleared once read
    return notice, results


def test_single_photo_gives_findings_guidance_and_notice(server, photos):
    client = server.client
    notice, results = check(client, photos[0], "halo_laser", "3")
    assert 'id="sf-provider-notice"' in notice and "provider" in notice
    assert "Model: an untrained placeholder" in notice
    assert "Your photo as the model saw it" in results
    assert "What the app found" in results or "could not be assessed" in results or "sf-next-step" in results
    assert "When to contact your provider" in results or "does not rule anything out" in results
    assert not privacy.leftover_files()


def test_red_flag_turns_the_notice_urgent(server, photos):
    client = server.client
    notice, _ = check(client, photos[1], flags=["fever"])
    assert "Contact your provider now" in notice and "emergency" in notice


def test_unreadable_file_is_an_error_and_the_app_keeps_working(server, photos, tmp_path):
    client = server.client
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"definitely not a photo")
    _, results = check(client, bad)
    assert "This file could not be read" in results and UnsupportedFormatError.user_message in results
    _, results = check(client, photos[2])
    assert "could not be read" not in results and "Your photo as the model saw it" in results
    assert not privacy.leftover_files()


def test_batch_presort_sorts_photos_and_zip_with_csv(server, photos, tmp_path):
    client = server.client
    archive = tmp_path / "inbox.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(photos[1], "visit/skin-1.jpg")
        buffer = io.BytesIO()
        Image.fromarray(np.full((256, 256, 3), 10, np.uint8)).save(buffer, format="PNG")
        zf.writestr("visit/dark.png", buffer.getvalue())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"broken")
    files, table = client.predict(
        [handle_file(str(photos[0])), handle_file(str(archive)), handle_file(str(broken))], None, api_name="/presort"
    )
    assert files is None
    tiers = re.findall(r'<tr data-tier="([a-z-]+)"', table)
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
    client = server.client
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
    url = server.url
    big = b"\xff\xd8" + bytes(UPLOAD_LIMIT + 1024)
    response = httpx.post(f"{url}gradio_api/upload", files=[("files", ("big.jpg", big))], timeout=60)
    assert response.status_code == 413
    assert not privacy.leftover_files()


def test_no_monitoring_no_outside_files(server, untrained_checkpoint):
    url = server.url
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("monitoring").status_code >= 400
        for path in (untrained_checkpoint, "/etc/hostname"):
            assert http.get(f"gradio_api/file={path}").status_code >= 400
        config = http.get("config").json()
    assert config.get("footer_links") == [] and not config.get("run_history", False)


def test_no_upload_left_after_many_sessions(server, photos):
    url = server.url
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


# ---------------------------------------------------------------- issue 13: what a client may send


def upload(url: str, path) -> str:
    """Upload one file the way the browser does; the server's path for it."""
    response = httpx.post(f"{url}gradio_api/upload", files=[("files", (Path(path).name, Path(path).read_bytes()))])
    response.raise_for_status()
    return response.json()[0]


def file_data(path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def call(url: str, api_name: str, *data):
    """One call over gradio's REST route, as any HTTP client can: ("complete", outputs) or ("error", message)."""
    with httpx.Client(base_url=url, timeout=120) as http:
        body = json.dumps({"data": list(data)})  # ASCII escapes: a lone surrogate travels as \\ud800, as JSON allows
        response = http.post(f"gradio_api/call/{api_name}", content=body, headers={"content-type": "application/json"})
        response.raise_for_status()
        stream = http.get(f"gradio_api/call/{api_name}/{response.json()['event_id']}").text
    kind = re.findall(r"^event: (\w+)", stream, re.M)[-1]
    return kind, json.loads(re.findall(r"^data: (.*)$", stream, re.M)[-1])


def refusal(url: str, api_name: str, *data) -> str:
    kind, payload = call(url, api_name, *data)
    assert kind == "error" and isinstance(payload, dict) and payload.get("error"), (kind, payload)  # not null
    return payload["error"]


def test_only_a_requests_own_uploads_are_accepted(server, photos):
    url = server.url
    own = Path(upload(url, photos[0]))
    folder = own.parent.parent  # the private upload folder, which the upload's answer reveals
    for path in (folder, own.parent, folder / own.parent.name / "made-up.jpg", "/etc/hostname"):
        assert refusal(url, "presort", [file_data(path)], None) == inputs.NOT_YOURS
        assert refusal(url, "check_photo", file_data(path), None, None, []) == inputs.NOT_YOURS
    kind, (_, table) = call(url, "presort", [file_data(own)], None)  # the uploader's own request still works
    assert kind == "complete" and table.count("<tr data-tier=") == 1
    assert refusal(url, "presort", [file_data(own)], None) == inputs.NOT_YOURS  # an upload serves one request
    assert httpx.get(f"{url}gradio_api/file={own}").status_code == 404
    assert not privacy.leftover_files()


def test_links_are_refused_and_nothing_is_fetched(server):
    attempts = list(server.guard.attempts)
    with socket.socket() as listener:  # a local "photo server": nobody may connect to it
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        for link in (f"http://127.0.0.1:{listener.getsockname()[1]}/photo.jpg", "https://photo.invalid/p.jpg"):
            assert refusal(server.url, "check_photo", file_data(link), None, None, []) == inputs.NO_LINKS
            assert refusal(server.url, "check_photo", {"url": link}, None, None, []) == inputs.NO_LINKS
            assert refusal(server.url, "presort", [file_data(link)], None) == inputs.NO_LINKS
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert server.guard.attempts == attempts  # and no name was looked up


def test_an_inline_photo_has_the_same_size_limit(server, photos):
    url = server.url
    inline = "data:image/jpeg;base64," + base64.b64encode(photos[0].read_bytes()).decode()
    kind, (*_, results) = call(url, "check_photo", {"url": inline}, None, None, [])
    assert kind == "complete" and "Your photo as the model saw it" in results
    over = "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8" + bytes(UPLOAD_LIMIT)).decode()
    assert "larger than the 2 MB limit" in refusal(url, "check_photo", {"url": over}, None, None, [])
    huge = b'{"data": [{"url": "data:image/jpeg;base64,' + b"A" * (3 * UPLOAD_LIMIT) + b'"}, null, null, []]}'
    response = httpx.post(f"{url}gradio_api/call/check_photo", content=huge, timeout=60)
    assert response.status_code == 413 and "at most 2 MB" in response.json()["detail"]


def test_malformed_inputs_get_a_clear_message(server, photos):
    url = server.url
    own = upload(url, photos[1])
    sub_folder = Path(own).parent
    cases = [
        ("check_photo", [None, ["microneedling"], None, []], "Unknown treatment"),
        ("check_photo", [None, {"key": "halo_laser"}, None, []], "Unknown treatment"),
        ("check_photo", [None, None, None, 3], "warning signs must be a list"),
        ("check_photo", [None, None, None, ["fever", "made-up"]], "Unknown warning sign(s): 'made-up'"),
        ("check_photo", [None, None, {"days": 2}, []], "whole number from 0 to 3650"),
        ("check_photo", [None, None, "three", []], "whole number from 0 to 3650"),
        ("check_photo", [12, None, None, []], "must be a file uploaded to the app"),
        ("presort", ["inbox.zip", None], "must be a list"),
        ("presort", [], "'presort' takes 2 input value(s), not 0"),
        ("check_photo", [None, None], "'check_photo' takes 4 input value(s), not 2"),
        ("presort", [[file_data(sub_folder)], None], inputs.NOT_YOURS),
    ]
    for api_name, data, expected in cases:
        assert expected in refusal(url, api_name, *data), (api_name, data)
    # A refused form leaves the photo usable: the corrected retry is answered.
    photo = file_data(upload(url, photos[2]))
    assert "whole number" in refusal(url, "check_photo", photo, None, "-1", [])
    kind, (*_, results) = call(url, "check_photo", photo, None, "1", [])
    assert kind == "complete" and "Your photo as the model saw it" in results
    assert call(url, "presort", [file_data(own)], None)[0] == "complete"  # the refusals left the upload usable, once
    assert not privacy.leftover_files()


def test_a_red_flag_in_any_form_escalates(server):
    warm = RED_FLAGS["warmth"]
    forms = ("fever", "Fever, pus", ["FEVER"], ["spreading redness"], [warm.upper()], "pain;swelling", ["pus,fever"])
    for flags in forms:
        kind, (*_, notice, _) = call(server.url, "check_photo", None, None, None, flags)
        assert kind == "complete" and "Contact your provider now" in notice, flags
    kind, (*_, notice, _) = call(server.url, "check_photo", None, None, None, [])
    assert "Contact your provider now" not in notice  # and no flag is no escalation


def test_an_event_without_its_own_validator_still_takes_only_own_uploads(photos):
    """The rule holds for any future tab too: its file inputs are checked even if it brings no validator."""
    import gradio as gr  # here, not at the top: the app module sets gradio's environment before gradio loads

    with gr.Blocks() as extra:
        files, paths = gr.File(file_count="multiple"), gr.JSON()
        names = lambda f: [Path(x["path"]).name for x in f]  # noqa: E731
        gr.Button().click(names, [files], [paths], api_name="names", preprocess=False)
    extra.queue()
    security.guard_events(extra, {}, privacy.TICKETS, UPLOAD_LIMIT)
    settings = privacy.AppSettings(port=free_port())
    extra.launch(prevent_thread_lock=True, quiet=True, **ui.launch_kwargs(settings))
    try:
        url = f"http://127.0.0.1:{settings.port}/"
        own = upload(url, photos[3])
        assert refusal(url, "names", [file_data(privacy.private_dir())]) == inputs.NOT_YOURS
        assert refusal(url, "names", [file_data("https://photo.invalid/a.jpg")]) == inputs.NO_LINKS
        assert call(url, "names", [file_data(own)]) == ("complete", [[photos[3].name]])
    finally:
        extra.close()
    privacy.discard(own)  # this test app reads nothing, so it deletes nothing


# ---------------------------------------------------------------- issue 13: headers and origins


def test_every_answer_has_the_security_headers(server):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        answers = [http.get(""), http.get("config"), http.get("gradio_api/info"), http.get("theme.css")]
        answers.append(http.post("gradio_api/upload", files=[("files", ("big.jpg", bytes(UPLOAD_LIMIT + 1)))]))
    for answer in answers:
        headers = answer.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], answer.url
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    assert not privacy.leftover_files()


def test_other_origins_and_host_names_are_refused(server, photos):
    url, port = server.url, server.settings.port
    own = httpx.get(f"{url}config", headers={"Origin": f"http://127.0.0.1:{port}"})
    assert own.status_code == 200 and own.headers.get("access-control-allow-origin") == f"http://127.0.0.1:{port}"
    for origin in (f"http://localhost:{port + 1}", f"http://127.0.0.1:{port + 1}", "http://evil.example", "null"):
        answer = httpx.get(f"{url}config", headers={"Origin": origin})
        assert answer.status_code == 403 and "other web pages" in answer.json()["detail"], origin
        files = [("files", ("skin.jpg", photos[0].read_bytes()))]
        assert httpx.post(f"{url}gradio_api/upload", headers={"Origin": origin}, files=files).status_code == 403
    assert httpx.get(f"{url}config", headers={"Origin": "http://evil.example"}).headers.get(
        "access-control-allow-origin"
    ) is None
    assert httpx.get(f"{url}config", headers={"Host": f"evil.example:{port}"}).status_code == 421  # DNS rebinding
    assert not privacy.leftover_files()


# ---------------------------------------------------------------- issue 13: load


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory):
    """130 small, different photos: identical ones would share one upload file and hide a left-behind upload."""
    folder = tmp_path_factory.mktemp("many")
    for seed in range(130):
        skin_like(LOAD_PHOTO_SIDE, seed=1000 + seed).save(folder / f"load-{seed}.jpg", quality=80)
    return sorted(folder.iterdir())


def test_load_fifty_parallel_all_answered_eighty_the_excess_refused(server, many_photos, monkeypatch, capsys):
    # The client itself must not hold requests back, nor give up on a busy 2-core machine.
    client = Client(server.url, verbose=False, max_workers=80, httpx_kwargs={"timeout": 300})
    started = time.monotonic()
    jobs = [client.submit(handle_file(str(p)), None, "2", [], api_name="/check_photo") for p in many_photos[:50]]
    answers = [job.result(timeout=600) for job in jobs]
    fifty = time.monotonic() - started
    assert all("Your photo as the model saw it" in results for _, _, results in answers)
    assert not privacy.leftover_files()

    # 80 at once while the model is held back, so that the queue really is full when they arrive.
    gate = threading.Event()
    predict = server.predictor.predict
    monkeypatch.setattr(server.predictor, "predict", lambda *a, **k: gate.wait(300) and predict(*a, **k))
    started = time.monotonic()
    jobs = [client.submit(handle_file(str(p)), None, "2", [], api_name="/check_photo") for p in many_photos[50:]]
    waiting = (Status.IN_QUEUE, Status.PROCESSING)
    while not all(job.done() or job.status().code in waiting for job in jobs):
        assert time.monotonic() - started < 300, "the 80 requests did not all reach the server"
        time.sleep(0.2)
    refused_at_once = sum(job.done() for job in jobs)
    gate.set()
    answered, refused = 0, []
    for job in jobs:
        try:
            assert "Your photo as the model saw it" in job.result(timeout=600)[2]
            answered += 1
        except QueueError as exc:
            refused.append(str(exc))
    eighty = time.monotonic() - started
    capacity = server.settings.queue_size + server.settings.concurrency
    assert answered + len(refused) == 80 and len(refused) == refused_at_once
    assert 80 - capacity <= len(refused) <= 80 - server.settings.queue_size
    assert set(refused) == {"Queue is full! Please try again."}
    assert not privacy.leftover_files()  # the refused requests' uploads are gone too
    with capsys.disabled():
        print(f"\nload: 50 parallel in {fifty:.1f} s, all answered; 80 parallel: {answered} answered, "
              f"{len(refused)} refused at once (queue {server.settings.queue_size}), {eighty:.1f} s")


# ---------------------------------------------------------------- issue 13: the sweep (own server, short age)


def test_unchecked_uploads_are_swept_whatever_was_sent_before(untrained_checkpoint, tmp_path, caplog):
    settings = privacy.AppSettings(port=free_port(), cache_seconds=2)
    options = ui.launch_kwargs(settings)
    sweeper = options["app_kwargs"]["lifespan"].sweeper
    app = ui.build_app(Predictor(untrained_checkpoint), settings)
    app.launch(prevent_thread_lock=True, quiet=True, **options)
    try:
        url = f"http://127.0.0.1:{settings.port}/"
        folder = privacy.private_dir()
        for bad in ([file_data(folder)], [file_data(f"{folder}/")], "x", [file_data("http://127.0.0.1:9/a.jpg")]):
            refusal(url, "presort", bad, None)
        skin_like(160, seed=99).save(tmp_path / "never-checked.jpg")
        left = Path(upload(url, tmp_path / "never-checked.jpg"))
        deadline = time.monotonic() + 30
        while left.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left.exists() and not privacy.TICKETS.holds(left) and sweeper.running
    finally:
        with caplog.at_level(logging.ERROR):
            app.close()
    assert "Application shutdown failed" not in caplog.text
    deadline = time.monotonic() + 10
    while sweeper.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sweeper.running  # stopped with the server: it cannot sweep another app's fresh uploads


# ---------------------------------------------------------------- issue 21: hardening, second round


def queue_call(http: httpx.Client, api_name: str, data: list, session_hash: str):
    """An event through gradio's queue by its index, as the browser (and the probe) sends it.

    ("complete", outputs), ("error", message) or ("refused", HTTP status) when the request itself is refused."""
    config = http.get("config").json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    joined = http.post("gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session_hash,
                                                      "event_data": None, "trigger_id": None})
    if joined.status_code != 200:
        return "refused", joined.status_code
    with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
        if stream.status_code != 200:
            return "refused", stream.status_code
        for line in stream.iter_lines():
            message = json.loads(line[6:]) if line.startswith("data: ") else {}
            if message.get("msg") == "process_completed":
                output = message.get("output") or {}
                return ("complete", output["data"]) if message.get("success") else ("error", output.get("error"))
    raise AssertionError("the event never completed")


def tiny_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 40, 3), seed % 250, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


FILE_ROUTES = ("gradio_api/file=", "gradio_api/file/")


def test_file_routes_serve_an_unused_upload_only_and_never_look_a_name_up(server, photos):
    attempts = list(server.guard.attempts)
    url = server.url
    own = upload(url, photos[0])
    for route in FILE_ROUTES:  # the browser's preview of an upload not yet checked
        assert httpx.get(f"{url}{route}{own}").status_code == 200, route
    used = upload(url, photos[1])
    assert call(url, "check_photo", file_data(used), None, None, [])[0] == "complete"
    targets = ["/etc/hostname", used, Path(own).parent, privacy.private_dir(), "http://probe.example.com/x.png",
               "http://93.184.216.34/a.jpg", "https://photo.invalid/p.jpg", "//probe.example.com/x.png",
               "/tmp/a%00b", "/tmp/%ED%A0%80.jpg"]
    for route in FILE_ROUTES:
        for target in targets:
            answer = httpx.get(f"{url}{route}{target}")
            assert answer.status_code == 404 and answer.json()["detail"] == "Not found.", (route, target)
    assert server.guard.attempts == attempts  # no name looked up, no connection opened
    privacy.discard(own)


def test_routes_that_write_state_or_reach_out_are_refused(server, photos):
    url = server.url
    with httpx.Client(base_url=url, timeout=60) as http:
        session = "deep-link-session"
        kind, _ = queue_call(http, "track_recovery", [[file_data(upload(url, photos[0]))], [["Photo 1", "2"]], "",
                                                      "microneedling", [], None, "", ""], session)
        assert kind == "complete"
        for path in (f"gradio_api/deep_link?session_hash={session}", "gradio_api/proxy=http://probe.example.com/",
                     "gradio_api/stream/x/y/1/playlist.m3u8", "monitoring"):
            assert http.get(path).status_code == 404, path
    assert not (privacy.private_dir() / "deep_links").exists()
    assert not privacy.leftover_files()


def test_another_clients_session_hash_gets_nothing_of_that_session(server, photos):
    url = server.url
    session = "patient-a-session"
    table = [["Photo 1", "3"]]
    with httpx.Client(base_url=url, timeout=120) as patient:
        kind, (_, _, _, results) = queue_call(
            patient, "track_recovery", [[file_data(upload(url, photos[2]))], table, "", "microneedling", [], None, "", ""],
            session)
        assert kind == "complete" and "sf-tl-plot" in results
        kind, (_, again) = queue_call(patient, "update_recovery", [None, table, "microneedling", [], "", "", ""], session)
        assert kind == "complete" and "sf-tl-plot" in again  # the same browser keeps its own timeline
    with httpx.Client(base_url=url, timeout=60) as stranger:  # another browser that learned the session hash
        assert queue_call(stranger, "update_recovery", [None, table, "microneedling", [], "", "", ""], session) == ("refused", 403)
        assert stranger.get("gradio_api/queue/data", params={"session_hash": session}).status_code == 403
        assert stranger.get(f"gradio_api/heartbeat/{session}").status_code == 403
    cookieless = httpx.get(f"{url}gradio_api/queue/data", params={"session_hash": session})  # curl, a script
    assert cookieless.status_code == 403
    assert not privacy.leftover_files()


def test_a_link_in_any_events_file_data_is_refused_without_a_lookup(server):
    attempts = list(server.guard.attempts)
    links = ("http://93.184.216.34/a.jpg", "https://probe.example.com/x.png", "file:///etc/passwd")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for link in links:
            kind, message = queue_call(http, "prefill_days", [[file_data(link)], ""], "links-session")
            assert kind == "error" and message == inputs.NO_LINKS, link
            kind, message = queue_call(http, "update_recovery", [file_data(link), [], "", [], "", "", ""], "links-session")
            assert kind == "error" and message == inputs.NO_LINKS, link
    assert server.guard.attempts == attempts


def test_a_nul_or_a_broken_character_gets_a_clear_refusal(server):
    for bad in ("/tmp/photo\x00.jpg", "/tmp/\ud800.jpg"):
        assert refusal(server.url, "check_photo", file_data(bad), None, None, []), bad
        assert refusal(server.url, "presort", [file_data(bad)], None), bad
        assert "not allowed" in refusal(server.url, "check_photo", None, None, None, [bad])
    assert httpx.get(f"{server.url}gradio_api/file=%00").status_code == 404  # answered, not dropped


def test_the_twin_guidance_events_go_through_the_same_validator(server):
    with httpx.Client(base_url=server.url, timeout=60) as http:
        config = http.get("config").json()
        twins = [d["api_name"] for d in config["dependencies"] if (d.get("api_name") or "").startswith("update_guidance")]
        assert len(twins) == 3  # one per control of "Check a photo": treatment, days, warning signs
        for name in twins:
            for flags in (["FEVER"], ["spreading redness"], [RED_FLAGS["fever"]], [RED_FLAGS["allergy"]]):
                kind, (notice, _) = queue_call(http, name, [None, None, "3", flags], "twins")
                assert kind == "complete" and "Contact your provider now" in notice, (name, flags)
            for days in ("-5", "three", "99999999"):
                kind, message = queue_call(http, name, [None, None, days, []], "twins")
                assert kind == "error" and "whole number" in message, (name, days)


def test_the_exact_fever_and_allergy_labels_are_accepted_everywhere(server):
    for label in (RED_FLAGS["fever"], RED_FLAGS["allergy"], f"{RED_FLAGS['fever']};pus"):
        kind, (*_, notice, _) = call(server.url, "check_photo", None, None, None, [label])
        assert kind == "complete" and "Contact your provider now" in notice, label
        assert inputs.parse_flags([label]) >= {"fever"} or inputs.parse_flags([label]) == {"allergy"}


def test_more_than_sixty_recovery_photos_are_refused_whole_and_deleted(server):
    url = server.url
    folder = privacy.private_dir()
    before = set(privacy.leftover_files())
    paths = [httpx.post(f"{url}gradio_api/upload", files=[("files", (f"day{i}.png", tiny_png(i)))]).json()[0]
             for i in range(61)]
    with httpx.Client(base_url=url, timeout=120) as http:
        kind, message = queue_call(http, "track_recovery", [[file_data(p) for p in paths], [], "", "", [], None, "", ""],
                                   "sixty-one")
    assert kind == "error" and "At most 60 photos" in message
    assert set(privacy.leftover_files()) == before and folder.exists()


def test_identical_uploads_from_two_tabs_do_not_share_a_path(server, photos):
    url = server.url
    first, second = upload(url, photos[3]), upload(url, photos[3])
    assert first != second
    for path in (first, second):
        kind, (_, table) = call(url, "presort", [file_data(path)], None)
        assert kind == "complete" and table.count('<tr data-tier="') == 1 and "no longer on the server" not in table
    assert not privacy.leftover_files()


def test_one_upload_request_has_a_byte_limit_and_leaves_no_file(server):
    url = server.url
    files = [("files", (f"part{i}.jpg", bytes(UPLOAD_LIMIT - 1024))) for i in range(4)]  # each fits, together not
    answer = httpx.post(f"{url}gradio_api/upload", files=files)
    assert answer.status_code == 413 and "at most 6 MB" in answer.json()["detail"]
    body = b"".join([b"x" * 65536] * (UPLOAD_TOTAL // 65536 + 2))

    def chunks():  # no Content-Length: the limit is counted as the bytes arrive
        boundary = b"--sfboundary\r\n"
        yield boundary + b'Content-Disposition: form-data; name="files"; filename="big.jpg"\r\n\r\n'
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    answer = httpx.post(f"{url}gradio_api/upload", content=chunks(),
                        headers={"content-type": "multipart/form-data; boundary=sfboundary"})
    assert answer.status_code == 413
    assert not privacy.leftover_files()


def test_an_upload_cut_off_midway_leaves_no_file(server):
    port = server.settings.port
    with socket.create_connection(("127.0.0.1", port)) as raw:
        head = (f"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: multipart/form-data; boundary=sfb\r\nContent-Length: 1000000\r\n\r\n")
        raw.sendall(head.encode() + b'--sfb\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n\r\n'
                    + b"\xff\xd8" + bytes(200_000))
        time.sleep(1)
    deadline = time.monotonic() + 10
    while privacy.leftover_files() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not privacy.leftover_files()


def test_a_request_may_not_unpack_too_many_photos_or_pixels(server):
    url = server.url
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(1001):
            archive.writestr(f"p{i}.png", b"")
    huge = io.BytesIO()
    header = png_header_only(7300, 7300)  # 53 MP each, declared in a few bytes: decoding them would take 3.2 GB
    with zipfile.ZipFile(huge, "w") as archive:
        for i in range(20):
            archive.writestr(f"big{i}.png", header)
    for data, message in ((many.getvalue(), "at most 1000 photos"), (huge.getvalue(), "megapixels of images")):
        path = httpx.post(f"{url}gradio_api/upload", files=[("files", ("inbox.zip", data))]).json()[0]
        assert message in refusal(url, "presort", [file_data(path)], None)
        assert not Path(path).exists()  # refused whole, and deleted at once


def test_formula_names_in_the_tabs_csv_are_escaped(server, tmp_path):
    url = server.url
    photo = tmp_path / "-2.jpg"
    skin_like(160, seed=5).save(photo)
    patients = tmp_path / "patients.csv"
    patients.write_text("file,patient,day\n-2.jpg,=2+5,3\n")
    paths = [upload(url, photo), upload(url, patients)]
    kind, (_, table) = call(url, "presort", [file_data(p) for p in paths], None)
    link = re.search(r'href="data:text/csv;base64,([^"]+)"', table)
    rows = list(csv.reader(io.StringIO(base64.b64decode(link.group(1)).decode())))
    assert kind == "complete" and "'-2.jpg" in rows[1] and "'=2+5" in rows[1]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
