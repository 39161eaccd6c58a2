"""Privacy settings of the app. Photos of skin are health data: nothing leaves the machine, nothing stays on disk.

``prepare_environment()`` must run before gradio is imported (``ui.py`` does it first):
gradio reads its telemetry switch and its upload folder from the environment.

    SKINFINDINGS_AUTH="user:password"   ask for a login (one user)
    SKINFINDINGS_PORT=7860              port to listen on (127.0.0.1 only)
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from skinfindings.data.photo import MAX_FILE_BYTES

_private_dir: Path | None = None


@dataclass(frozen=True)
class AppSettings:
    """How the app is served; ``settings_from_env`` fills the parts a user may change."""

    host: str = "127.0.0.1"  # the app is for the machine it runs on; never 0.0.0.0
    port: int | None = None  # None: the first free port from 7860
    auth: tuple[str, str] | None = None
    max_file_bytes: int = MAX_FILE_BYTES  # the photo loader's own limit; larger uploads are refused by the server
    concurrency: int = 2  # model calls running at once (CPU-bound; more only queues inside torch)
    queue_size: int = 64  # requests waiting beyond that are refused with a "busy" message
    cache_seconds: int = 600  # gradio's own cache (anything it kept) is swept this often and at this age


def settings_from_env(env: dict[str, str] | None = None) -> AppSettings:
    env = dict(os.environ if env is None else env)
    auth = None
    if env.get("SKINFINDINGS_AUTH"):
        user, _, password = env["SKINFINDINGS_AUTH"].partition(":")
        if not user or not password:
            raise ValueError('SKINFINDINGS_AUTH must look like "user:password"')
        auth = (user, password)
    port = int(env["SKINFINDINGS_PORT"]) if env.get("SKINFINDINGS_PORT") else None
    return AppSettings(port=port, auth=auth)


def private_dir() -> Path:
    """A fresh folder only this user can read, removed when the process ends; gradio puts uploads there."""
    global _private_dir
    if _private_dir is None:
        _private_dir = Path(tempfile.mkdtemp(prefix="skinfindings-app-"))  # mode 0700
        atexit.register(shutil.rmtree, _private_dir, True)
    return _private_dir


def prepare_environment() -> Path:
    """Telemetry and run history off; gradio uploads into the private folder, which is returned."""
    folder = private_dir()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    os.environ["GRADIO_RUN_HISTORY"] = "False"
    os.environ.setdefault("GRADIO_MCP_SERVER", "False")
    # gradio imports huggingface_hub, which otherwise phones home (telemetry, agent registry) on some calls.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.pop("GRADIO_ALLOWED_PATHS", None)  # nothing outside the private folder is served
    os.environ.pop("GRADIO_SHARE", None)
    return folder


def discard(path: str | os.PathLike | None) -> None:
    """Delete an uploaded file once it has been read; only inside the private folder.

    Its folder (named by a salted hash of the bytes) stays until the app stops: gradio may be
    writing another upload of the same photo into it at this moment.
    """
    if not path:
        return
    path = Path(path).resolve()
    if private_dir().resolve() not in path.parents:
        return  # not ours: never delete a file the app did not receive as an upload
    path.unlink(missing_ok=True)


class UploadInbox:
    """Reads an upload into memory and deletes the file at once.

    Gradio stores an upload at ``<folder>/<sha256 of its bytes>/<file name>``, so two
    requests sending the same photo under the same name (a double submit, a second tab,
    a load test) share one path: deleting it after the first read would break the
    second. The bytes of recently taken uploads are therefore kept in memory for
    ``keep_seconds``; the path names the content, so serving them again is safe.
    """

    def __init__(self, keep_seconds: float = 120.0, keep_bytes: int = 256 * 1024 * 1024):
        self.keep_seconds = keep_seconds
        self.keep_bytes = keep_bytes
        self._recent: dict[Path, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def take(self, path: str | os.PathLike) -> bytes:
        """The upload's bytes; the file is gone afterwards. FileNotFoundError if it was never (or long ago) there."""
        path = Path(path).resolve()
        if private_dir().resolve() not in path.parents:
            raise FileNotFoundError(f"{path.name} is not an upload")  # the app never reads files it was not sent
        with self._lock:
            self._forget_old()
            _, kept = self._recent.pop(path, (0.0, None))
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                if kept is None:
                    raise
                data = kept
            self._recent[path] = (time.monotonic(), data)  # re-inserted: the dict stays oldest-first
            while sum(len(kept_bytes) for _, kept_bytes in self._recent.values()) > self.keep_bytes:
                self._recent.pop(next(iter(self._recent)))  # oldest first
        discard(path)
        return data

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - self.keep_seconds
        for path in [p for p, (taken, _) in self._recent.items() if taken < cutoff]:
            del self._recent[path]


def leftover_files() -> list[Path]:
    """Files still in the private folder (the tests and the docs use it to show nothing stays)."""
    return [p for p in private_dir().rglob("*") if p.is_file()]


def launch_options(settings: AppSettings) -> dict:
    """Keyword arguments for ``Blocks.launch``: local only, no share link, no monitoring, no run history."""
    return dict(
        server_name=settings.host,
        server_port=settings.port,
        auth=settings.auth,
        share=False,
        max_file_size=settings.max_file_bytes,
        enable_monitoring=False,
        run_history=False,
        footer_links=[],
        allowed_paths=None,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        show_error=False,
        inbrowser=False,
    )
