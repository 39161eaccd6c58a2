"""Privacy settings of the app. Photos of skin are health data: nothing leaves the machine, nothing stays on disk.

``prepare_environment()`` must run before gradio is imported (``ui.py`` does it first):
gradio reads its telemetry switch and its upload folder from the environment.

    SKINFINDINGS_AUTH="user:password"   ask for a login (one user)
    SKINFINDINGS_PORT=7860              port to listen on (127.0.0.1 only)
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from collections import Counter
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
    max_upload_bytes: int = 512 * 1024 * 1024  # one upload request, all its files together (security.RequestGuard)
    concurrency: int = 2  # model calls running at once (CPU-bound; more only queues inside torch)
    queue_size: int = 64  # requests waiting beyond that are refused with a "busy" message
    cache_seconds: int = 600  # an upload nobody checked is deleted at most this long after it arrived


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


FOLDER_PREFIX = "skinfindings-app-"
_folder_lock: int | None = None  # an open descriptor of our folder, locked while this process lives


def private_dir() -> Path:
    """A fresh folder only this user can read, removed when the process ends; gradio puts uploads there.

    A process killed outright (``kill -9``, a power cut) cannot remove its folder, so every new
    one first removes the folders of processes that are gone (``remove_abandoned_folders``)."""
    global _private_dir, _folder_lock
    if _private_dir is None:
        remove_abandoned_folders()
        _private_dir = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))  # mode 0700
        _folder_lock = _lock_folder(_private_dir)
        atexit.register(shutil.rmtree, _private_dir, True)
    return _private_dir


def _lock_folder(folder: Path) -> int | None:
    """Hold an exclusive lock on the folder itself for as long as this process lives (released by the kernel)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: abandoned folders are left to the system's temp cleaning
        return None
    handle = os.open(folder, os.O_RDONLY)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def remove_abandoned_folders(parent: str | os.PathLike | None = None) -> list[Path]:
    """Delete this user's upload folders whose process is gone (nobody holds their lock); returns them."""
    try:
        import fcntl
    except ImportError:
        return []
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(FOLDER_PREFIX + "*"):
        try:
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            handle = os.open(folder, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a running app holds it
        finally:
            os.close(handle)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


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
    os.environ.pop("GRADIO_NUM_WORKERS", None)  # separate file-serving workers would bypass the app's request guard
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

    Gradio stores an upload at ``<folder>/<sha256 of its bytes>/<file name>``; the app salts
    that hash per file (``security.unique_upload_folders``), so two uploads of the same photo
    no longer share a path. The bytes of recently taken uploads are still kept in memory for
    ``keep_seconds`` in case a path is read twice (an app without that salt, the tests).
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


def _in_private_dir(path: Path) -> bool:
    """``<private folder>/<hash>/<name>``: the only place gradio puts an upload."""
    return path.parent.parent == private_dir().resolve()


def _regular_or_gone(path: Path) -> bool:
    """A plain file (no folder, no link), or one already gone: a repeat whose bytes the inbox still holds."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except FileNotFoundError:
        return True


class UploadTickets:
    """Which uploads a request may use: one ticket per file the upload endpoint returned, used up by one request.

    Gradio accepts any path inside its upload folder, the folder itself included, from
    any client. The app instead accepts a path only while it holds a ticket, so a client
    can use what it uploaded itself (it alone was told the path, whose folder is a salted
    hash of the bytes) and nothing else: no folder, no made-up path, no upload twice.
    Should identical uploads share one path, they get one ticket each.
    """

    def __init__(self):
        self._tickets: Counter[Path] = Counter()
        self._lock = threading.Lock()

    def issue(self, paths) -> None:
        with self._lock:
            self._tickets.update(Path(p).resolve() for p in paths)

    def holds(self, path) -> bool:
        with self._lock:
            return self._tickets[Path(path).resolve()] > 0

    def take_all(self, paths) -> list[Path] | None:
        """Use one ticket per path, all or none; None when any path is not a ticketed plain upload file."""
        resolved = [Path(p).resolve() for p in paths]
        wanted = Counter(resolved)
        with self._lock:
            if not all(self._tickets[p] >= n and _in_private_dir(p) and _regular_or_gone(p) for p, n in wanted.items()):
                return None
            self._tickets.subtract(wanted)
            self._tickets = +self._tickets  # drop used-up entries
        return resolved

    def forget(self, path) -> None:
        with self._lock:
            self._tickets.pop(Path(path).resolve(), None)


TICKETS = UploadTickets()  # one upload folder per process, so one set of tickets


def discard_unused(paths, tickets: UploadTickets) -> None:
    """Delete uploads a refused request named (queue full, malformed call): only those it held a ticket for."""
    taken = [p for p in paths if tickets.take_all([p]) is not None]
    for path in taken:
        if not tickets.holds(path):  # an identical upload still waiting for its own request keeps the file
            discard(path)


class UploadsInFlight:
    """Upload requests being received now. One that failed (refused at the byte limit, cut off by the
    client) may leave gradio's half-written temporary file at the top of the folder; once no upload is
    being received, every such file is removed (finished uploads live one folder down)."""

    def __init__(self):
        self._running = 0
        self._failed = False
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def running(self):
        with self._lock:
            self._running += 1
        outcome = _UploadOutcome()
        try:
            yield outcome
        finally:
            with self._lock:
                self._running -= 1
                self._failed = self._failed or outcome.failed_
                if self._running == 0 and self._failed:
                    self._failed = False
                    remove_partial_uploads()


class _UploadOutcome:
    failed_ = False

    def failed(self) -> None:
        self.failed_ = True


def remove_partial_uploads() -> None:
    """Gradio's temporary upload files (``tmp...`` at the top of the folder): call only when none is being written."""
    for path in private_dir().glob("tmp*"):
        with contextlib.suppress(OSError):
            if stat.S_ISREG(path.lstat().st_mode) and not path.suffix:
                path.unlink()


class UploadSweeper:
    """Deletes uploads nobody checked, ``max_age`` seconds after they arrived, for as long as the app runs.

    Replaces gradio's ``delete_cache``, whose task stops for good at the first entry it
    cannot delete (a folder in its file list, for one); this loop logs and goes on.
    """

    def __init__(self, tickets: UploadTickets, max_age: float):
        self.tickets = tickets
        self.interval = max(0.5, min(30.0, max_age / 10))
        self.max_age = max(0.0, max_age - self.interval)  # swept at most max_age after arriving
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="skinfindings-upload-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - the sweep must outlive anything the folder holds
                logging.getLogger(__name__).exception("upload sweep failed; trying again")

    def sweep(self) -> None:
        # Files only: an upload's folder stays (see ``discard``), gradio may be writing into it.
        cutoff = time.time() - self.max_age
        for path in private_dir().rglob("*"):
            try:
                info = path.lstat()
                if not stat.S_ISDIR(info.st_mode) and info.st_mtime < cutoff:
                    path.unlink()
                    self.tickets.forget(path)
            except OSError:
                continue  # gone meanwhile


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
