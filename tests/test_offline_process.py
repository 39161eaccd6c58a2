"""The real app process makes no connection and no name lookup beyond this machine, native code included.

    python -m pytest -q tests/test_offline_process.py      # about 2 minutes: 60 s of it is idling

tests/test_app_server.py guards Python's own sockets inside the test process; a native
library (ONNX Runtime's telemetry, for one) opens its sockets below Python and slips past
that. So here ``skinfindings demo`` runs as its own process under ``strace -f``, which sees
every ``connect`` and ``send*`` of every thread and child. The run checks one photo, sorts
a few, sends links to every file route and event (issue 21's list), then idles for 60 s
(ONNX Runtime's telemetry looked its host up every ~5 s), with a temporary HOME so that a
device id written under ~/.cache/Microsoft is seen too.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import skin_like

IDLE_SECONDS = 60  # the idle period; ONNX Runtime's lookups came every ~5 s
START_TIMEOUT = 300  # the app starts slowly under strace on a busy machine
SYSCALLS = "connect,sendto,sendmsg,sendmmsg"
ADDRESS = re.compile(r'sa_family=AF_INET6?, sin6?_port=htons\((\d+)\).*?inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"')


def strace_usable() -> str | None:
    """Why this test cannot run here, or None. Nothing is installed from a test (.ci/run installs strace)."""
    if shutil.which("strace") is None:
        return "strace is not installed (apt-get install strace; .ci/run installs it)"
    probe = subprocess.run(["strace", "-f", "-qq", "-e", "trace=none", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"strace cannot trace here (ptrace not permitted?): {probe.stderr.strip()[-200:]}"
    return None


def addresses(trace: str) -> list[tuple[str, int, str]]:
    """(host, port, line) of every traced call that names an internet address."""
    found = []
    for line in trace.splitlines():
        match = ADDRESS.search(line)
        if match:
            found.append((match.group(2), int(match.group(1)), line.strip()))
    return found


def is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")


def outside_traffic(trace: str) -> list[str]:
    """Calls that address another host, or port 53 anywhere (a DNS query)."""
    return [line for host, port, line in addresses(trace) if port == 53 or not is_loopback(host)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    # The ONNX backend for certain (an empty cache: exported on first use), so onnxruntime is loaded.
    return {**env, "HOME": str(home), "SKINFINDINGS_BACKEND": "onnx", "SKINFINDINGS_CACHE": str(home / "sf-cache")}


def start_traced_app(checkpoint: Path, home: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = ["strace", "-f", "-qq", "-e", f"trace={SYSCALLS}", "-o", str(log), sys.executable, "-m",
               "skinfindings.cli", "demo", "--checkpoint", str(checkpoint), "--port", str(port)]
    output = log.with_suffix(".out")
    with output.open("w") as sink:  # a file, not a pipe: a full pipe would stall the app
        proc = subprocess.Popen(command, env=app_env(home), stdout=sink, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + START_TIMEOUT
    while "open http" not in output.read_text():  # the app prints its URL once it serves
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            pytest.fail("the app did not start:\n" + output.read_text()[-3000:])
        time.sleep(1)
    return proc, f"http://127.0.0.1:{port}/"


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the app itself (strace would only detach and leave it running); strace exits with it."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    for pid in children.read_text().split() if children.exists() else []:
        os.kill(int(pid), signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def use_the_app(url: str, photos: list[Path]) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    _, notice, results = client.predict(handle_file(str(photos[0])), "microneedling", "2", [], api_name="/check_photo")
    assert "sf-provider-notice" in notice and "Your photo as the model saw it" in results
    _, table = client.predict([handle_file(str(p)) for p in photos], None, api_name="/presort")
    assert table.count("<tr data-tier=\"") == len(photos)
    probe_with_links(url)


# Issue 21: the routes and events that looked a name up or connected out (the probe's list).
LINKS = ("http://probe.example.com/x.png", "http://93.184.216.34/a.jpg")


def probe_with_links(url: str) -> None:
    import httpx

    from test_app_server import file_data, queue_call

    with httpx.Client(base_url=url, timeout=120) as http:
        for link in LINKS:
            for route in ("gradio_api/file=", "gradio_api/file/", "gradio_api/proxy="):
                assert http.get(f"{route}{link}").status_code == 404, (route, link)
            for api_name, data in (("prefill_days", [[file_data(link)], ""]),
                                   ("track_recovery", [[file_data(link)], [], "", "", [], None, "", ""]),
                                   ("check_photo", [file_data(link), None, None, []]),
                                   ("presort", [[file_data(link)], None])):
                assert queue_call(http, api_name, data, "offline-probe")[0] == "error", (api_name, link)
        assert http.get("gradio_api/deep_link?session_hash=offline-probe").status_code == 404


@pytest.mark.timeout(START_TIMEOUT + IDLE_SECONDS + 300)
def test_app_process_reaches_no_outside_host_and_writes_no_device_id(untrained_checkpoint, tmp_path, monkeypatch):
    reason = strace_usable()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: nothing loads ONNX Runtime")
    import huggingface_hub.constants

    # The test's own client (gradio_client loads huggingface_hub) stays offline too; it is not traced.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    home, log = tmp_path / "home", tmp_path / "strace.log"
    home.mkdir()
    photos = []
    for seed in range(3):
        photos.append(tmp_path / f"skin-{seed}.jpg")
        skin_like(256, seed).save(photos[-1], quality=90)
    proc, url = start_traced_app(untrained_checkpoint, home, log)
    try:
        use_the_app(url, photos)
        time.sleep(IDLE_SECONDS)
    finally:
        stop(proc)
    trace = log.read_text()
    # strace really saw the app's sockets and this test can read them: its own loopback traffic, at least.
    assert any(is_loopback(host) for host, _, _ in addresses(trace)), trace[-2000:]
    assert not outside_traffic(trace), "\n".join(outside_traffic(trace)[:20])
    assert not (home / ".cache" / "Microsoft").exists(), sorted(p.name for p in (home / ".cache").rglob("*"))
