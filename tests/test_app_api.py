"""The app's public API as docs/app.md shows it (gradio_client): a whole-number day, one day range for every tab,
the named /track_recovery endpoint and the pre-sort's treatment (issue 22, point 7).

    python -m pytest -q tests/test_app_api.py
"""

from __future__ import annotations

import time

import huggingface_hub
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from skinfindings.app import privacy, ui
from skinfindings.data.synth import SynthConfig, render_sample
from skinfindings.model.predictor import Predictor
from test_app_browser import free_port


@pytest.fixture(scope="module")
def client(untrained_checkpoint):
    with pytest.MonkeyPatch.context() as monkeypatch:
        # gradio_client loads huggingface_hub, which would go online unless told not to (docs/app.md).
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        # A refused call's upload is never checked, so it waits for the sweep (docs/app.md): a short one here, so the
        # refusal test below can see it go and no later test finds it.
        settings = privacy.AppSettings(port=free_port(), cache_seconds=2)
        app = ui.build_app(Predictor(untrained_checkpoint), settings)
        app.launch(prevent_thread_lock=True, quiet=True, **ui.launch_kwargs(settings))
        try:
            yield Client(f"http://127.0.0.1:{settings.port}/", verbose=False)
        finally:
            app.close()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api-photos")
    paths = []
    for seed in (41, 42):
        path = folder / f"render-{seed}.jpg"
        Image.fromarray(render_sample(seed, SynthConfig(size=320, findings=("erythema",))).image).save(path)
        paths.append(path)
    return paths


def test_the_api_declares_the_day_as_a_whole_number(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/check_photo", "/track_recovery", "/presort"} <= set(endpoints)
    day = endpoints["/check_photo"]["parameters"][2]  # photo, treatment, days, warning signs
    assert day["type"]["type"] == "integer" and day["label"].startswith("Days since the treatment")


def test_check_photo_with_an_integer_day(client, photos):
    photo, notice, results = client.predict(handle_file(str(photos[0])), "microneedling", 3, [],
                                            api_name="/check_photo")
    assert photo is None and 'id="sf-provider-notice"' in notice and "sf-next-step" in results
    assert "Timing." in results or "could not be assessed" in results or "No finding recognised" in results


def test_day_400_is_refused_with_the_same_range_as_the_recovery_tab(client, photos):
    with pytest.raises(Exception, match="from 0 .* to 365"):
        client.predict(handle_file(str(photos[0])), "microneedling", 400, [], api_name="/check_photo")
    deadline = time.monotonic() + 30
    while privacy.leftover_files() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not privacy.leftover_files()  # the refused call's upload was swept, not kept


def test_track_recovery_is_a_named_endpoint(client, photos):
    days = {"headers": ["Photo", "Day since the treatment"], "data": [["Photo 1", "1"], ["Photo 2", "9"]]}
    outputs = client.predict([handle_file(str(p)) for p in photos], days, "", "microneedling", [],
                             api_name="/track_recovery")
    notice, results = outputs[-2], outputs[-1]
    assert 'id="sf-provider-notice"' in notice and "sf-verdicts" in results


def test_presort_takes_a_treatment(client, photos):
    _, page = client.predict([handle_file(str(p)) for p in photos], "fractional_laser", api_name="/presort")
    assert page.count("<tr data-tier=") == 2 and "Why here" in page
