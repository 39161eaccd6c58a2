"""The app's request guard: who may talk to it, what comes in, what the answers say about caching and framing.

Two hooks, both installed by ``ui.build_app`` / ``ui.launch_kwargs``:

* ``RequestGuard``, an ASGI middleware on the FastAPI app gradio serves: only this
  machine's own origin, security headers on every answer, a body-size limit for every
  API call, a ticket for every upload (``privacy.UploadTickets``), no serving of other
  people's uploads, and removal of the uploads a refused call named (queue full: 503).
* ``guard_events``: every event's inputs are validated by ``inputs`` *before* gradio's
  own preprocessing, which would download a URL or accept any path in its upload folder.

The guard is also where the limits per request live (docs/app.md, "Limits per request"):
one upload request may carry ``MAX_UPLOAD_BYTES``; gradio routes that write state to disk
or reach other hosts (deep links, the proxy, streams, run history) are refused; files are
served only while their upload is unused; a session's state answers only the browser
(cookie) that made it.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import secrets
import threading
from pathlib import Path
from urllib.parse import parse_qs

from skinfindings.app import inputs, privacy

UPLOAD_ROUTE = "/gradio_api/upload"
FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/")  # the second is gradio's older ("deprecated") route
# Gradio routes the app never uses, each of which writes to disk, reaches another host or serves saved state:
# deep links write a session's components (results, the model's view of the photo) to deep_links/<hash>/.
REFUSED_ROUTES = ("/gradio_api/deep_link", "/gradio_api/proxy=", "/gradio_api/stream/", "/gradio_api/runs",
                  "/gradio_api/run-history/", "/gradio_api/vibe-", "/gradio_api/undo-vibe-", "/gradio_api/vibe-code",
                  "/gradio_api/process_recording", "/gradio_api/dev/", "/monitoring", "/gradio_api/monitoring")
MAX_UPLOAD_BYTES = privacy.AppSettings.max_upload_bytes  # one upload request, all its files together
CLIENT_COOKIE = "sf-client"  # which browser (or API client) a session hash belongs to
ANONYMOUS = "-"  # every client without the cookie
_HEARTBEAT = re.compile(r"^/gradio_api/heartbeat/([^/]+)$")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
SLACK_BYTES = 1024 * 1024  # room in an API call for everything but the photo itself

# Gradio's page needs inline scripts (its config), eval (gr.HTML renders its templates with Function) and inline
# styles, and sets a <base>; everything else comes from the app itself and no other site may frame it.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",  # health photos and results: never kept by the browser or a proxy
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(self), microphone=(), geolocation=()",
}


class RequestGuard:
    """ASGI middleware; see the module docstring. ``max_file_bytes`` is the one photo size limit."""

    def __init__(self, app, tickets: privacy.UploadTickets, max_file_bytes: int,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES):
        self.app = app
        self.tickets = tickets
        self.max_file_bytes = max_file_bytes
        self.max_body = max_file_bytes * 4 // 3 + SLACK_BYTES  # an inline photo is base64: 4 bytes per 3
        self.max_upload_bytes = max_upload_bytes
        self.sessions = SessionOwners()
        self.uploads = privacy.UploadsInFlight()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client, new_cookie = _client_id(scope)
        send = _with_headers(send, new_cookie)
        refusal = self._refusal(scope) or self._session_refusal(client, _query_session(scope))
        if refusal:
            await _answer(send, *refusal)
        elif scope["method"] == "POST" and scope["path"] == UPLOAD_ROUTE:
            await self._upload(scope, receive, send)
        elif scope["method"] == "POST":
            await self._api_call(scope, receive, send, client)
        else:
            await self.app(scope, receive, send)

    def _refusal(self, scope) -> tuple[int, str] | None:
        headers = _headers(scope)
        port = scope["server"][1] if scope.get("server") else None
        host = headers.get("host", "")
        if host not in {f"{name}:{port}" for name in LOCAL_HOSTS}:
            return 421, "This app answers only under its own local address (127.0.0.1)."
        origin = headers.get("origin")
        if origin is not None and origin != f"http://{host}":
            return 403, "Requests from other web pages are not allowed."
        path = scope["path"]
        if path.startswith(REFUSED_ROUTES):
            return 404, "Not found."
        route = next((r for r in FILE_ROUTES if path.startswith(r)), None)
        if route is not None and not self._may_serve(path[len(route):]):
            return 404, "Not found."
        return None

    def _may_serve(self, raw_path: str) -> bool:
        """Only an upload still waiting for its check (the preview): nothing else, and never a link.

        Decided from the text alone, before anything is opened or looked up: a URL, a NUL or a
        broken character is simply not an upload's path."""
        path = inputs.plain_path(raw_path)  # the server decoded it once, as gradio's own route reads it
        return path is not None and self.tickets.holds(path)

    def _session_refusal(self, client: str, session_hash) -> tuple[int, str] | None:
        if session_hash is None or self.sessions.claim(session_hash, client):
            return None
        return 403, "This session belongs to another window. Please reload the page."

    async def _upload(self, scope, receive, send):
        """Gradio's upload, under the per-request byte limit; a refused or broken upload leaves no file behind."""
        declared = _headers(scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_upload_bytes:
            await _answer(send, 413, self._upload_too_large())
            return
        counted = _counting(receive, self.max_upload_bytes)
        answered = {}

        async def send_unless_over(message):  # over the limit: gradio's own answer is replaced by ours
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            if not counted.over:
                await send(message)

        with self.uploads.running() as upload:
            try:
                await self.app(scope, counted, self._issuing_tickets(send_unless_over))
            except Exception:
                if "status" in answered and not counted.over:
                    upload.failed()
                    raise
                answered["status"] = None  # the client went away mid-upload, or was stopped at the limit
            if answered.get("status") != 200 or counted.over:
                upload.failed()
            if counted.over:
                await _answer(send, 413, self._upload_too_large())

    def _upload_too_large(self) -> str:
        return (f"The upload is too large: one request may carry at most {inputs.megabytes(self.max_upload_bytes)} "
                "of files. Please send fewer photos at a time, or use skinfindings sort for a large folder.")

    def _issuing_tickets(self, send):
        """Read the upload endpoint's answer (a JSON list of paths) and issue tickets before the client sees it."""
        start, chunks = {}, []

        async def send_after_issuing(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start.get("status") == 200:
                self.tickets.issue(json.loads(body))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        return send_after_issuing

    async def _api_call(self, scope, receive, send, client: str):
        body = await _read_body(receive, self.max_body)
        if body is None:
            limit = inputs.megabytes(self.max_file_bytes)
            await _answer(send, 413, f"The request is too large: a photo may have at most {limit}.")
            return
        refusal = self._session_refusal(client, _body_session(body))
        if refusal:
            await _answer(send, *refusal)
            return
        status = {}

        async def send_noting_status(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, _replay(body), send_noting_status)
        if status.get("code", 500) >= 400:  # refused (queue full, malformed): its uploads are never checked
            privacy.discard_unused(_named_paths(body), self.tickets)


class SessionOwners:
    """Which client (its ``sf-client`` cookie) made each session hash.

    Gradio keeps a session's state (``gr.State``: the recovery tab's photos and results)
    under a session hash the client itself sends. The first client to use a hash owns it;
    another client sending the same hash is refused, so it can never read that state.
    """

    def __init__(self):
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def claim(self, session_hash: str, client: str) -> bool:
        with self._lock:
            return self._owners.setdefault(session_hash, client) == client


def _client_id(scope) -> tuple[str, str | None]:
    """(who sends this request, a cookie to hand out or None).

    A browser keeps the ``sf-client`` cookie from its first answer (the page), so its sessions
    are its own. A client without the cookie (curl, a script) counts as one "anonymous" client:
    it can never use a browser's session, and its own calls work without cookies."""
    for part in _headers(scope).get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == CLIENT_COOKIE and re.fullmatch(r"[A-Za-z0-9_-]{32,64}", value):
            return value, None
    return ANONYMOUS, secrets.token_urlsafe(32)


def _query_session(scope):
    """The session hash a GET names (the queue's event stream, the heartbeat), or None."""
    heartbeat = _HEARTBEAT.match(scope["path"])
    if heartbeat:
        return heartbeat.group(1)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query["session_hash"][0] if "session_hash" in query else None


def _body_session(body: bytes):
    try:
        value = json.loads(body or b"null")
    except ValueError:
        return None
    return value.get("session_hash") if isinstance(value, dict) and isinstance(value.get("session_hash"), str) else None


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _with_headers(send, new_client: str | None = None):
    extra = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
    if new_client is not None:
        cookie = f"{CLIENT_COOKIE}={new_client}; Path=/; HttpOnly; SameSite=Strict"
        extra.append((b"set-cookie", cookie.encode()))

    async def send_with_headers(message):
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", []) if k.decode("latin-1").lower() not in HEADERS]
            message = {**message, "headers": kept + extra}
        await send(message)

    return send_with_headers


def _counting(receive, limit: int):
    """``receive`` that stops the request (as a disconnect) once more than ``limit`` body bytes came in."""

    async def counted():
        message = await receive()
        counted.size += len(message.get("body", b""))
        if counted.size > limit:
            counted.over = True
            return {"type": "http.disconnect"}
        return message

    counted.size, counted.over = 0, False
    return counted


async def _answer(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message, "error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _named_paths(body: bytes) -> list[str]:
    """Every ``"path"`` string in a JSON request body (the uploads it names)."""
    found: list[str] = []

    def note(obj: dict) -> None:
        if isinstance(obj.get("path"), str):
            found.append(obj["path"])

    try:
        json.loads(body or b"null", object_hook=note)
    except ValueError:
        pass  # not JSON: names no upload
    return found


# ---------------------------------------------------------------- events


def guard_events(app, validators: dict, tickets: privacy.UploadTickets, max_file_bytes: int) -> None:
    """Run ``validators[api_name](raw inputs)`` before gradio's own preprocessing of an event.

    Gradio (6.31) has no public hook that early: its preprocessing downloads URLs given as
    files and accepts any path in the upload folder, before an event's function or
    validator runs. ``preprocess_data`` is the one step every route (queue, /call, /run)
    goes through, so it is wrapped on this app only. An event without a validator of its
    own still has each file input held to the same rule. A refusal becomes ``gr.Error``,
    whose message gradio always shows (other errors arrive as ``{"error": null}``).
    """
    import anyio
    import gradio as gr

    original = app.preprocess_data
    unique_upload_folders()

    def files_only(block_fn, raw: list) -> list:
        return [_checked_file_input(b, value, tickets, max_file_bytes) for b, value in zip(block_fn.inputs, raw)]

    def check(block_fn, raw: list) -> list:
        if len(raw) != len(block_fn.inputs):  # gradio checks this only after it has handled the files
            wanted = len(block_fn.inputs)
            raise inputs.BadInput(f"'{block_fn.api_name}' takes {wanted} input value(s), not {len(raw)}.")
        inputs.refuse_links_anywhere(raw)  # whatever the event: gradio would fetch a URL given as a file
        validate = validator_for(validators, block_fn.api_name)
        return validate(raw) if validate else files_only(block_fn, raw)

    async def preprocess_data(block_fn, raw, state, *args, **kwargs):
        try:
            # In a worker thread: a validator may read zip directories (inputs.check_file_list).
            raw = await anyio.to_thread.run_sync(check, block_fn, list(raw))
        except inputs.BadInput as exc:
            # gr.Error renders its message as HTML, and the message may quote what the client sent.
            raise gr.Error(html.escape(str(exc), quote=False), print_exception=False) from None
        return await original(block_fn, raw, state, *args, **kwargs)

    app.preprocess_data = preprocess_data


def validator_for(validators: dict, api_name: str | None):
    """The validator of an event by its name; gradio renames a repeated name ``name_1``, ``name_2``...

    (check_tab wires one function to three controls' changes under one name: all three are its events.)"""
    if api_name in validators:
        return validators[api_name]
    base = re.sub(r"_\d+$", "", api_name or "")
    return validators.get(base)


def unique_upload_folders() -> None:
    """Every upload in a folder of its own, even two identical photos sent at once from two tabs.

    Gradio names an upload's folder by a hash of its bytes, so identical uploads share one
    path and the first request to use it deletes the second's photo. A random salt per file
    (here, for this process's gradio) makes each folder name unique; it stays unguessable."""
    from gradio import route_utils

    upload_file = route_utils.GradioUploadFile
    if getattr(upload_file, "_sf_unique", False):
        return
    original_init = upload_file.__init__

    def init_with_salt(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.sha.update(secrets.token_bytes(16))

    upload_file.__init__ = init_with_salt
    upload_file._sf_unique = True


def _checked_file_input(block, value, tickets: privacy.UploadTickets, max_file_bytes: int):
    if getattr(block, "data_model", None) is None:
        return value  # not a file: the event's own function must check it
    if getattr(block, "file_count", "single") != "single":
        return inputs.check_file_list(value, tickets)
    return inputs.check_photo_payload(value, tickets, max_file_bytes)


def sweeping(sweeper: privacy.UploadSweeper):
    """A FastAPI lifespan: the upload sweep runs exactly while the server does (``.sweeper`` for the tests)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        sweeper.start()
        try:
            yield
        finally:
            sweeper.stop()

    lifespan.sweeper = sweeper
    return lifespan
