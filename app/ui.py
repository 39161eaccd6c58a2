"""``skinfindings demo`` — the app: one photo with guidance, a clinician pre-sort, and the model card.

    skinfindings demo                      # http://127.0.0.1:7860, the shipped model, offline
    skinfindings demo --checkpoint runs/a/model.json --port 7861
    SKINFINDINGS_AUTH="user:password" skinfindings demo

The UI is built by ``build_app(predictor)``: the provider notice on top, then one tab per
module (``check_tab``, ``presort_tab``, ``about_tab``; each has ``build(...)``), so a new tab
is one module and one line in ``build_app``. The module-level ``demo`` is built on first use
with the shipped checkpoint, so importing this module loads no model and starts no server.
Everything the app shows about a photo comes from the Predictor (metadata-free pixels,
calibrated probabilities, abstention); images are sent to the browser inline, so nothing
derived from a photo is written to disk, and each upload is deleted as soon as it has been
read (``privacy.py``).
"""

from __future__ import annotations

from skinfindings.app import privacy

PRIVATE_DIR = privacy.prepare_environment()  # before gradio is imported: telemetry off, uploads in a private folder

import argparse  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from starlette.middleware import Middleware  # noqa: E402

from skinfindings.app import about_tab, accessibility, check_tab, presort_tab, security, timeline_tab  # noqa: E402
from skinfindings.app.about_tab import about_markdown  # noqa: E402, F401  (the app's public names, used by tests)
from skinfindings.app.check_tab import UNCERTAINTY, PhotoResult, analyse, results_html  # noqa: E402, F401
from skinfindings.app.inputs import clean_days, clean_flags, upload_source  # noqa: E402, F401
from skinfindings.app.notice import model_status, notice_html  # noqa: E402
from skinfindings.app.presort_tab import presort_html, run_presort  # noqa: E402, F401
from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT  # noqa: E402

STYLE_FILE = Path(__file__).resolve().parent / "style.css"
TITLE = "skin-findings: possible skin findings after microneedling or laser"


def build_app(predictor, settings: privacy.AppSettings | None = None) -> gr.Blocks:
    """The whole UI around one Predictor; nothing runs until the caller launches it."""
    settings = settings or privacy.AppSettings()
    inbox = privacy.UploadInbox()
    # No delete_cache: gradio's sweep stops at the first entry it cannot delete; privacy.UploadSweeper replaces it.
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"# {TITLE}")
        notice = gr.HTML(notice_html(predictor.meta, None, []), js_on_load=None, elem_id="sf-notice")
        with gr.Tabs(overflow_behavior="wrap"):  # every tab visible by name on a phone (no "⋯" menu)
            check_tab.build(predictor, inbox, notice)
            timeline_tab.build(predictor, inbox, notice)
            presort_tab.build(predictor)
            about_tab.build(predictor.meta)
    app.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    validators = {
        **check_tab.validators(settings.max_file_bytes, privacy.TICKETS),
        **presort_tab.validators(privacy.TICKETS),
        **timeline_tab.validators(privacy.TICKETS),
    }
    security.guard_events(app, validators, privacy.TICKETS, settings.max_file_bytes)
    return app


def launch_kwargs(settings: privacy.AppSettings) -> dict:
    """Everything ``launch`` needs: the privacy settings plus the look (gradio 6 takes theme and CSS here)."""
    theme = gr.themes.Default(primary_hue="blue", neutral_hue="slate")
    guard = Middleware(security.RequestGuard, tickets=privacy.TICKETS, max_file_bytes=settings.max_file_bytes,
                       max_upload_bytes=settings.max_upload_bytes)
    sweeper = privacy.UploadSweeper(privacy.TICKETS, settings.cache_seconds)
    app_kwargs = {"middleware": [guard], "lifespan": security.sweeping(sweeper)}
    return {**privacy.launch_options(settings), "theme": theme, "css_paths": [STYLE_FILE], "head": accessibility.HEAD, "app_kwargs": app_kwargs}


def __getattr__(name: str):
    # ``demo`` is built on first use, so importing this module stays cheap for the tests and the CLI.
    if name == "demo":
        from skinfindings.model.predictor import Predictor

        globals()["demo"] = build_app(Predictor())
        return globals()["demo"]
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> int:
    from skinfindings.model.predictor import Predictor

    parser = argparse.ArgumentParser(prog="skinfindings demo", description="Start the app on 127.0.0.1.")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint JSON (default: shipped)")
    parser.add_argument("--port", type=int, default=None, help="port (default: SKINFINDINGS_PORT or 7860 upwards)")
    args = parser.parse_args(argv)
    settings = privacy.settings_from_env()
    if args.port is not None:
        settings = replace(settings, port=args.port)
    predictor = Predictor(args.checkpoint)
    print(f"skinfindings demo: the model is {model_status(predictor.meta)}")
    # A plain `kill` should also run the exit handlers, which remove the private upload folder.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = build_app(predictor, settings)
    _, url, _ = app.launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(settings))
    print(f"skinfindings demo: open {url} in a browser on this computer; Ctrl+C stops the app.")
    try:
        app.block_thread()
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
