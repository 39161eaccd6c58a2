"""The benchmark's fresh-process measurements: peak memory and cold start.

A fresh Python process per measurement, so one cannot inflate the next (a peak can
only grow) and start-up is timed from the interpreter on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skinfindings.model.bench_report import MIB, BenchConfig, Row
from skinfindings.model.bench_timing import NaivePipeline, default_backend_name, timing_row


def _child(code: str, env: dict | None = None, timeout: float = 300) -> tuple[float, dict]:
    """Wall seconds of a fresh ``python -c code`` (interpreter start included) and the JSON it printed last."""
    full_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", **(env or {})}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=timeout)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return seconds, (json.loads(lines[-1]) if lines else {})


def peak_rss_mib() -> float:
    """This process's peak resident memory.

    Linux's VmHWM, because ``getrusage``'s ru_maxrss survives exec and so reports a
    forked child at its parent's size; ru_maxrss elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def memory_probe(variant: str, checkpoint: str, photos: list[str]) -> None:
    """Run in a fresh process: print peak RSS after loading and after predicting, and the Python-side peak."""
    import tracemalloc

    from skinfindings.model.predictor import Predictor

    predictor = Predictor(checkpoint, backend="torch" if variant == "naive" else variant)
    loaded = peak_rss_mib()
    tracemalloc.start()
    errors = []
    if variant == "naive":
        for photo in photos:
            NaivePipeline(predictor).predict(Path(photo))
    else:
        errors = [result.error for result in predictor.predict_many(photos) if result.error]
    python_peak = tracemalloc.get_traced_memory()[1] / MIB
    print(json.dumps({"loaded_mib": loaded, "peak_mib": peak_rss_mib(), "python_peak_mib": python_peak,
                      "errors": errors}))


def measure_memory(
    config: BenchConfig, predictors: dict, phone: Path, phone_label: str, folder: list[Path]
) -> list[Row]:
    default = default_backend_name(predictors)
    cases = [(name, f"one {phone_label}, {name}", [phone]) for name in ("naive", *predictors)]
    cases.append((default, f"pre-sort folder ({len(folder)} photos), {default}", folder))
    rows = []
    for variant, label, photos in cases:
        probe = probe_memory(config, variant, photos)
        rows.append(Row("memory", f"peak RSS, {label}", probe["peak_mib"], "MiB", runs=1, note=_memory_note(probe)))
    return rows


def measure_decode_memory(config: BenchConfig, predictors: dict, photos: dict[str, Path]) -> list[Row]:
    """Memory one request adds for each of the worst photos the loader accepts, and for the bomb it refuses.

    One photo per fresh process through the default backend, as the app does per request.
    The value is the peak above the loaded model, which is what the goal is about; the app
    runs two requests at a time, so a busy app can add twice as much."""
    default = default_backend_name(predictors)
    rows = []
    for label, path in photos.items():
        probe = probe_memory(config, default, [path])
        above = probe["peak_mib"] - probe["loaded_mib"]
        note = f"peak RSS {probe['peak_mib']:.0f} MiB; " + _memory_note(probe)
        rows.append(Row("decode memory", f"one request, {label}", above, "MiB above the model", runs=1, note=note))
    return rows


def probe_memory(config: BenchConfig, variant: str, photos: list[Path]) -> dict:
    """``memory_probe`` in a fresh process: a peak can only grow, so each measurement gets its own."""
    code = (f"from skinfindings.model.bench_process import memory_probe; "
            f"memory_probe({variant!r}, {str(config.checkpoint)!r}, {[str(p) for p in photos]!r})")
    return _child(code)[1]


def _memory_note(probe: dict) -> str:
    note = (f"{probe['peak_mib'] - probe['loaded_mib']:.0f} MiB above the loaded model; "
            f"Python-side peak (tracemalloc) {probe['python_peak_mib']:.1f} MiB")
    if probe.get("errors"):
        note += f"; refused: {probe['errors'][0][:100]}"
    return note


def app_probe(checkpoint: str) -> None:
    """Run in a fresh process: what ``skinfindings demo`` does before it starts serving."""
    import skinfindings.app.ui as ui
    from skinfindings.model.predictor import Predictor

    ui.build_app(Predictor(checkpoint))
    print(json.dumps({"ready": True}))


def app_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("skinfindings.app.ui") is not None


def measure_cold_start(config: BenchConfig, backends: tuple[str, ...], phone: Path, phone_label: str) -> list[Row]:
    rows = []
    first = (f"from skinfindings.model.predictor import Predictor; "
             f"Predictor({str(config.checkpoint)!r}, backend={{b!r}}).predict({str(phone)!r})")
    for backend in backends:
        times = [_child(first.format(b=backend))[0] for _ in range(config.process_repeats)]
        rows.append(timing_row("cold start", f"fresh process to first findings, {backend}", times, "s",
                         note=f"python start, imports, checkpoint load, one {phone_label}"))
    if "onnx" in backends:
        times = []
        for _ in range(config.process_repeats):
            with tempfile.TemporaryDirectory() as empty_cache:
                times.append(_child(first.format(b="onnx"), env={"SKINFINDINGS_CACHE": empty_cache})[0])
        shipped = config.checkpoint.with_suffix(".onnx").is_file()
        note = "a shipped .onnx is present, so nothing is exported" if shipped else "includes the one-time ONNX export"
        rows.append(timing_row("cold start", "fresh process to first findings, onnx, empty cache", times, "s", note=note))
    if not config.app:
        rows.append(Row("cold start", "app ready (import + build)", None, "s", note="skipped (--no-app)"))
    elif not app_available():
        rows.append(Row("cold start", "app ready (import + build)", None, "s", note="n/a: there is no app/ui.py"))
    else:
        rows.append(_app_ready(config))
    return rows


def _app_ready(config: BenchConfig) -> Row:
    name = "app ready (import + build)"
    code = f"from skinfindings.model.bench_process import app_probe; app_probe({str(config.checkpoint)!r})"
    try:
        times = [_child(code)[0] for _ in range(config.process_repeats)]
    except (RuntimeError, subprocess.TimeoutExpired) as exc:  # a broken app must not cost the rest of the report
        return Row("cold start", name, None, "s", note=f"n/a: the app failed to build: {str(exc)[-200:]}")
    return timing_row("cold start", name, times, "s",
                note="fresh process: python start, import skinfindings.app.ui, Predictor(), build_app(); no server")
