"""The app's request guard: who may talk to it, what comes in, what the answers say about caching and framing.

Two hooks, both installed by ``ui.build_app`` / ``ui.launch_kwargs``:

* ``RequestGuard``, an ASGI middleware on the FastAPI app gradio serves: only this
  machine's own origin, security headers on every answer, a body-size limit for every
  API call, a ticket for every upload (``privacy.UploadTickets``), no serving of other
  people's uploads, and removal of the uploads a refused call named (queue full: 503).
* ``guard_events``: every event's inputs are validated by ``inputs`` *before* gradio's
  own preprocessing, which would download a URL or accept any path in its upload folder.
"""

from __future__ import annotations

import contextlib
import html
import json
from pathlib import Path
from urllib.parse import unquote

from skinfindings.app import inputs, privacy

UPLOAD_ROUTE = "/gradio_api/upload"
FILE_ROUTE = "/gradio_api/file="
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

    def __init__(self, app, tickets: privacy.UploadTickets, max_file_bytes: int):
        self.app = app
        self.tickets = tickets
        self.max_file_bytes = max_file_bytes
        self.max_body = max_file_bytes * 4 // 3 + SLACK_BYTES  # an inline photo is base64: 4 bytes per 3

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        refusal = self._refusal(scope)
        if refusal:
            await _answer(send, *refusal)
        elif scope["method"] == "POST" and scope["path"] == UPLOAD_ROUTE:
            await self.app(scope, receive, self._issuing_tickets(send))
        elif scope["method"] == "POST":
            await self._api_call(scope, receive, send)
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
        if scope["path"].startswith(FILE_ROUTE) and not self._may_serve(scope["path"][len(FILE_ROUTE):]):
            return 404, "Not found."
        return None

    def _may_serve(self, raw_path: str) -> bool:
        """Files in the upload folder are served only while their upload is unused (the preview before a check)."""
        path = Path(unquote(raw_path)).resolve()
        return privacy.private_dir().resolve() not in path.parents or self.tickets.holds(path)

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

    async def _api_call(self, scope, receive, send):
        body = await _read_body(receive, self.max_body)
        if body is None:
            limit = inputs.megabytes(self.max_file_bytes)
            await _answer(send, 413, f"The request is too large: a photo may have at most {limit}.")
            return
        status = {}

        async def send_noting_status(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, _replay(body), send_noting_status)
        if status.get("code", 500) >= 400:  # refused (queue full, malformed): its uploads are never checked
            privacy.discard_unused(_named_paths(body), self.tickets)


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _with_headers(send):
    async def send_with_headers(message):
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", []) if k.decode("latin-1").lower() not in HEADERS]
            message = {**message, "headers": kept + [(k.encode(), v.encode()) for k, v in HEADERS.items()]}
        await send(message)

    return send_with_headers


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
    import gradio as gr

    original = app.preprocess_data

    def files_only(block_fn, raw: list) -> list:
        return [_checked_file_input(b, value, tickets, max_file_bytes) for b, value in zip(block_fn.inputs, raw)]

    async def preprocess_data(block_fn, raw, state, *args, **kwargs):
        validate = validators.get(block_fn.api_name)
        try:
            if len(raw) != len(block_fn.inputs):  # gradio checks this only after it has handled the files
                wanted = len(block_fn.inputs)
                raise inputs.BadInput(f"'{block_fn.api_name}' takes {wanted} input value(s), not {len(raw)}.")
            raw = validate(list(raw)) if validate else files_only(block_fn, list(raw))
        except inputs.BadInput as exc:
            # gr.Error renders its message as HTML, and the message may quote what the client sent.
            raise gr.Error(html.escape(str(exc), quote=False), print_exception=False) from None
        return await original(block_fn, raw, state, *args, **kwargs)

    app.preprocess_data = preprocess_data


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
