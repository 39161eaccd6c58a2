"""skinfindings bench [--quick] [--checkpoint C] [--out bench.json]: latency, throughput, memory, cold start.

    nice -n 10 skinfindings bench --out reports/bench.json          # a few minutes on a quiet machine
    skinfindings bench --quick                                      # fewer repeats: a smoke run

Every photo is generated here (nothing is downloaded, no real photo is used): a
12-MP phone JPEG, a 1080p PNG, a 256 px JPEG, and a folder of phone-sized JPEGs
for the pre-sort. Variants are timed side by side in the same run, in blocks of
consecutive runs taken forward then backward (see ``_side_by_side``), and reported
as medians with the 10th-90th percentile range:

    naive  every pixel decoded (no JPEG draft mode), eager torch, one photo at a time
    torch  the Predictor with backend="torch" (draft decoding, resize once)
    onnx   the Predictor with backend="onnx" (the same, on ONNX Runtime)

Peak memory and cold start are measured in fresh Python processes, so one
measurement cannot inflate the next. The report names the machine, the library
versions, the load average and the checkpoint, because numbers from a busy or
different machine are not comparable.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from skinfindings.data.photo import load_photo_sized
from skinfindings.model import quality
from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT
from skinfindings.model.transforms import resize_photo

PHONE_SIZE = (4000, 3000)  # 12 MP, the common phone main-camera size
MIB = 1024 * 1024


@dataclass
class BenchConfig:
    checkpoint: Path = DEFAULT_CHECKPOINT
    repeats: int = 21  # timed runs per photo and variant, after one untimed warm-up run
    folder_photos: int = 32  # phone-sized JPEGs in the pre-sort folder
    folder_repeats: int = 3
    decode_workers: tuple[int, ...] = (1, 2, 4)  # tried for the pre-sort; the Predictor's default is 2
    process_repeats: int = 3  # fresh processes per cold-start row
    app: bool = True  # time the app's cold start (imports gradio: seconds)
    phone_size: tuple[int, int] = PHONE_SIZE
    screen_size: tuple[int, int] = (1920, 1080)  # a screenshot or exported PNG

    @classmethod
    def quick(cls, **changes) -> "BenchConfig":
        return cls(**{"repeats": 7, "folder_photos": 16, "folder_repeats": 1, "decode_workers": (2,),
                      "process_repeats": 1, **changes})


@dataclass
class Row:
    section: str
    name: str
    value: float | None  # median; None = not measured ("n/a")
    unit: str
    low: float | None = None  # 10th percentile of the runs
    high: float | None = None  # 90th percentile
    runs: int = 0
    note: str = ""
    cpu_ms: float | None = None  # median CPU time per photo, all of this process's threads


@dataclass
class Target:
    name: str
    goal: str
    measured: float | None
    unit: str
    met: bool | None  # None: could not be measured


@dataclass
class Report:
    machine: dict
    checkpoint: dict
    config: dict
    photos: dict = field(default_factory=dict)  # label -> pixel size and file size of each generated input
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def value(self, section: str, name: str) -> float | None:
        return next((r.value for r in self.rows if r.section == section and r.name == name), None)


# ---------------------------------------------------------------- photos


def phone_photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Skin-toned blotches plus sensor noise: it compresses like a phone photo (about 2-3 MiB as a 12-MP JPEG),
    which matters because JPEG decoding time follows the compressed size."""
    rng = np.random.default_rng(seed)
    width, height = size
    blotches = rng.normal(0, 1, (max(2, height // 100), max(2, width // 100), 3)).astype(np.float32)
    blotch_image = Image.fromarray(np.clip(128 + 40 * blotches, 0, 255).astype(np.uint8))
    smooth = np.asarray(blotch_image.resize(size, Image.BICUBIC))
    skin = np.array([190, 140, 115], np.float32)
    noise = rng.normal(0, 4, (height, width, 1)).astype(np.float32)
    pixels = 0.8 * skin + 0.2 * smooth.astype(np.float32) + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _save_jpeg(image: Image.Image, path: Path, rotated: bool = False) -> Path:
    exif = Image.Exif()
    if rotated:
        exif[0x0112] = 6  # phones store portrait shots sideways with this orientation tag
    image.save(path, quality=90, exif=exif)
    return path


def make_photos(folder: Path, config: BenchConfig) -> tuple[dict[str, Path], list[Path]]:
    """The single-photo inputs by label, and the pre-sort folder's photos."""
    phone = phone_photo(config.phone_size, seed=0)
    megapixels = config.phone_size[0] * config.phone_size[1] / 1e6
    screen = folder / "screen.png"
    phone_photo(config.screen_size, seed=2).save(screen)
    singles = {
        f"{round(megapixels, 1):g}-MP JPEG": _save_jpeg(phone, folder / "phone.jpg", rotated=True),
        f"{config.screen_size[1]}p PNG": screen,
        "256 px JPEG": _save_jpeg(phone_photo((256, 256), seed=1), folder / "small.jpg"),
    }
    # The folder cycles through a few shifted, re-tinted versions of one photo: decoding
    # cost follows pixel count and JPEG complexity, which match, and nothing is cached
    # between files, while encoding dozens of 12-MP JPEGs would outlast the benchmark.
    presort = folder / "presort"
    presort.mkdir()
    base = np.asarray(phone)
    rng = np.random.default_rng(3)
    versions = []
    for i in range(min(4, config.folder_photos)):
        shifted = np.roll(base, int(rng.integers(0, base.shape[1])), axis=1)
        tinted = np.clip(shifted.astype(np.int16) + rng.integers(-12, 12, 3), 0, 255).astype(np.uint8)
        versions.append(_save_jpeg(Image.fromarray(tinted), folder / f"version_{i}.jpg", rotated=i % 2 == 0))
    batch = [presort / f"photo_{i:03d}.jpg" for i in range(config.folder_photos)]
    for i, path in enumerate(batch):
        shutil.copyfile(versions[i % len(versions)], path)
    return singles, batch


# ---------------------------------------------------------------- pipelines


class NaivePipeline:
    """The baseline: the same loader, weights and calibration, but every pixel decoded
    (no JPEG draft mode) and eager torch, one photo at a time."""

    def __init__(self, torch_predictor):
        self.predictor = torch_predictor

    def prepare(self, photo: Path) -> tuple[np.ndarray, tuple[int, int]]:
        image, stored_size = load_photo_sized(photo)  # no draft_size
        return resize_photo(image, self.predictor.input_size), stored_size

    def predict(self, photo: Path) -> np.ndarray:
        pixels, stored_size = self.prepare(photo)
        quality.assess(pixels, stored_size)
        logits = self.predictor.logits(self.predictor.tensor(pixels)[None])
        return self.predictor.calibrate(logits)[0]


def _probabilities(prediction) -> np.ndarray:
    return np.array(list(prediction.probabilities.values()))


def backend_predictors(config: BenchConfig) -> dict:
    """A Predictor per backend that can run here: torch always, onnx when ONNX Runtime works."""
    from skinfindings.model.backends import BackendError
    from skinfindings.model.predictor import Predictor

    predictors = {"torch": Predictor(config.checkpoint, backend="torch")}
    try:
        predictors["onnx"] = Predictor(config.checkpoint, backend="onnx")
    except BackendError as exc:
        print(f"skinfindings bench: measuring torch only: {exc}", file=sys.stderr)
    return predictors


# ---------------------------------------------------------------- timing


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


@dataclass
class Timings:
    wall: dict[str, list[float]]  # seconds per run
    # CPU seconds per run, all threads: unlike wall time it hardly changes when other
    # programs share the cores, so it shows what a run costs on a busy machine.
    cpu: dict[str, list[float]]
    outputs: dict[str, object]


def _row(section: str, name: str, samples: list[float], unit: str, scale: float = 1.0, note: str = "",
         cpu_seconds: list[float] | None = None, photos: int = 1) -> Row:
    values = np.asarray(samples, dtype=np.float64) * scale
    low, median, high = np.percentile(values, [10, 50, 90])
    cpu_ms = float(np.median(cpu_seconds)) * 1e3 / photos if cpu_seconds else None
    return Row(section, name, float(median), unit, float(low), float(high), len(values), note, cpu_ms)


def _side_by_side(variants: dict[str, Callable[[], object]], repeats: int, warm_up: bool = True) -> Timings:
    """Wall and CPU seconds per run for each variant, all measured in this run, and each variant's last output.

    Each variant runs in a block of consecutive runs, so what one leaves behind (torch's
    busy thread pool, hundreds of MB just freed) is not timed as part of the next. The
    blocks run in order, then in reverse order, so a drift in machine load reaches every
    variant alike. With ``warm_up`` each block starts with an untimed run."""
    timings = Timings({name: [] for name in variants}, {name: [] for name in variants}, {})
    orders = (list(variants), list(reversed(variants)))
    for order, count in zip(orders, ((repeats + 1) // 2, repeats // 2)):
        for name in order:
            if warm_up and count:
                timings.outputs[name] = variants[name]()
            for _ in range(count):
                cpu_start = time.process_time()
                seconds, timings.outputs[name] = _timed(variants[name])
                timings.cpu[name].append(time.process_time() - cpu_start)
                timings.wall[name].append(seconds)
    return timings


def measure_latency(config: BenchConfig, predictors: dict, singles: dict[str, Path]) -> tuple[list[Row], list[Row]]:
    """End-to-end single-photo latency per input and variant, and agreement between variants."""
    naive = NaivePipeline(predictors["torch"])
    rows, agreement = [], []
    worst_backend, worst_draft = 0.0, 0.0
    for label, photo in singles.items():
        variants = {"naive": lambda p=photo: naive.predict(p)}
        variants |= {name: (lambda p=photo, pr=pr: _probabilities(pr.predict(p))) for name, pr in predictors.items()}
        timings = _side_by_side(variants, config.repeats)
        rows += [_row("latency", f"{label}: {name}", t, "ms", 1e3, cpu_seconds=timings.cpu[name])
                 for name, t in timings.wall.items()]
        outputs = timings.outputs
        fast = outputs[_default_backend(predictors)]
        worst_draft = max(worst_draft, float(np.abs(fast - outputs["naive"]).max()))
        if "onnx" in outputs:
            worst_backend = max(worst_backend, float(np.abs(outputs["onnx"] - outputs["torch"]).max()))
    if "onnx" in predictors:
        agreement.append(Row("agreement", "max |p(onnx) - p(torch)|, same pixels", worst_backend, "",
                             note="calibrated probabilities, all single photos"))
    agreement.append(Row("agreement", "max |p(default) - p(naive)|", worst_draft, "",
                         note="draft decoding changes pixels slightly"))
    return rows, agreement


def measure_parts(config: BenchConfig, predictors: dict, photo: Path, label: str) -> list[Row]:
    """Where the 12-MP time goes: decoding with and without draft mode, and the model alone."""
    any_predictor = predictors["torch"]
    naive = NaivePipeline(any_predictor)
    pixels, _ = any_predictor.prepare(photo)
    one = any_predictor.tensor(pixels)[None]
    variants = {
        "decode + resize, every pixel": lambda: naive.prepare(photo),
        "decode + resize, draft mode": lambda: any_predictor.prepare(photo),
    }
    variants |= {f"model only, {name}, 1 photo": (lambda pr=pr: pr.logits(one)) for name, pr in predictors.items()}
    timings = _side_by_side(variants, config.repeats)
    drafted, stored = load_photo_sized(photo, draft_size=any_predictor.input_size)
    draft_note = (f"decoded at {drafted.width}x{drafted.height} of {stored[0]}x{stored[1]}, "
                  f"then resized once to {any_predictor.input_size} px")
    notes = {"decode + resize, draft mode": draft_note}
    return [_row("latency parts", f"{label}: {name}", t, "ms", 1e3, note=notes.get(name, ""),
                 cpu_seconds=timings.cpu[name]) for name, t in timings.wall.items()]


def describe_photos(singles: dict[str, Path], folder: list[Path]) -> dict:
    def facts(path: Path) -> dict:
        with Image.open(path) as image:
            return {"width": image.width, "height": image.height, "MiB": round(path.stat().st_size / MIB, 2)}

    described = {label: facts(path) for label, path in singles.items()}
    described["pre-sort folder"] = {"photos": len(folder), **facts(folder[0])}
    return described


def measure_throughput(config: BenchConfig, predictors: dict, photos: list[Path]) -> list[Row]:
    """Pre-sort throughput: predict_many over the folder, against the naive one-at-a-time loop."""
    naive = NaivePipeline(predictors["torch"])
    variants: dict[str, Callable[[], object]] = {"naive, one at a time": lambda: [naive.predict(p) for p in photos]}
    default = _default_backend(predictors)
    for name, predictor in predictors.items():
        predictor.predict_many(photos[: predictor.batch_size])  # warm-up at the full batch shape
        for workers in config.decode_workers if name == default else (predictor.decode_workers,):
            variants[_throughput_name(name, workers)] = _with_workers(predictor, photos, workers)
    # A folder is long enough to be its own warm-up; the untimed batch-shape run is above.
    timings = _side_by_side(variants, config.folder_repeats, warm_up=False)
    cores = machine()["usable_cores"]
    rows = []
    for name, wall in timings.wall.items():
        row = _row("throughput", name, [len(photos) / s for s in wall], "photos/s",
                   cpu_seconds=timings.cpu[name], photos=len(photos))
        row.note = f"CPU-bound ceiling on {cores} idle cores: {cores * 1e3 / row.cpu_ms:.0f} photos/s"
        rows.append(row)
    return rows


def _with_workers(predictor, photos: list[Path], workers: int) -> Callable[[], object]:
    def run():
        saved, predictor.decode_workers = predictor.decode_workers, workers
        try:
            return predictor.predict_many(photos)
        finally:
            predictor.decode_workers = saved

    return run


def _throughput_name(backend: str, workers: int) -> str:
    return f"predict_many, {backend}, {workers} decode workers"


def _default_backend(predictors: dict) -> str:
    """The backend a plain Predictor() picks here."""
    return "onnx" if "onnx" in predictors else "torch"


# ---------------------------------------------------------------- fresh processes


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
    if variant == "naive":
        for photo in photos:
            NaivePipeline(predictor).predict(Path(photo))
    else:
        predictor.predict_many(photos)
    python_peak = tracemalloc.get_traced_memory()[1] / MIB
    print(json.dumps({"loaded_mib": loaded, "peak_mib": peak_rss_mib(), "python_peak_mib": python_peak}))


def measure_memory(
    config: BenchConfig, predictors: dict, phone: Path, phone_label: str, folder: list[Path]
) -> list[Row]:
    rows = []
    default = _default_backend(predictors)
    cases = [(name, f"one {phone_label}, {name}", [phone]) for name in ("naive", *predictors)]
    cases.append((default, f"pre-sort folder ({len(folder)} photos), {default}", folder))
    for variant, label, photos in cases:
        code = (f"from skinfindings.model.bench import memory_probe; "
                f"memory_probe({variant!r}, {str(config.checkpoint)!r}, {[str(p) for p in photos]!r})")
        _, probe = _child(code)
        note = (f"{probe['peak_mib'] - probe['loaded_mib']:.0f} MiB above the loaded model; "
                f"Python-side peak (tracemalloc) {probe['python_peak_mib']:.1f} MiB")
        rows.append(Row("memory", f"peak RSS, {label}", probe["peak_mib"], "MiB", runs=1, note=note))
    return rows


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
        rows.append(_row("cold start", f"fresh process to first findings, {backend}", times, "s",
                         note=f"python start, imports, checkpoint load, one {phone_label}"))
    if "onnx" in backends:
        times = []
        for _ in range(config.process_repeats):
            with tempfile.TemporaryDirectory() as empty_cache:
                times.append(_child(first.format(b="onnx"), env={"SKINFINDINGS_CACHE": empty_cache})[0])
        shipped = config.checkpoint.with_suffix(".onnx").is_file()
        note = "a shipped .onnx is present, so nothing is exported" if shipped else "includes the one-time ONNX export"
        rows.append(_row("cold start", "fresh process to first findings, onnx, empty cache", times, "s", note=note))
    if not config.app:
        rows.append(Row("cold start", "app ready (import + build)", None, "s", note="skipped (--no-app)"))
    elif not app_available():
        rows.append(Row("cold start", "app ready (import + build)", None, "s", note="n/a: there is no app/ui.py"))
    else:
        rows.append(_app_ready(config))
    return rows


def _app_ready(config: BenchConfig) -> Row:
    name = "app ready (import + build)"
    code = f"from skinfindings.model.bench import app_probe; app_probe({str(config.checkpoint)!r})"
    try:
        times = [_child(code)[0] for _ in range(config.process_repeats)]
    except (RuntimeError, subprocess.TimeoutExpired) as exc:  # a broken app must not cost the rest of the report
        return Row("cold start", name, None, "s", note=f"n/a: the app failed to build: {str(exc)[-200:]}")
    return _row("cold start", name, times, "s",
                note="fresh process: python start, import skinfindings.app.ui, Predictor(), build_app(); no server")


# ---------------------------------------------------------------- model facts


def model_facts(config: BenchConfig, predictor) -> list[Row]:
    from torch.utils.flop_counter import FlopCounterMode

    size = predictor.input_size
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        predictor.model(torch.zeros(1, 3, size, size))
    weights = config.checkpoint.with_suffix(".safetensors")
    rows = [
        Row("model", "FLOPs per photo", counter.get_total_flops() / 1e9, "GFLOP",
            note=f"torch FlopCounterMode at {size} px (1 multiply-add = 2 FLOPs)"),
        Row("model", "parameters", sum(p.numel() for p in predictor.model.parameters()) / 1e6, "M"),
        Row("model", "checkpoint weights (.safetensors)", weights.stat().st_size / MIB, "MiB"),
    ]
    onnx_path = getattr(predictor.backend, "path", None)
    if onnx_path is not None:
        rows.append(Row("model", "ONNX graph", onnx_path.stat().st_size / MIB, "MiB", note=str(onnx_path)))
    return rows


def machine() -> dict:
    from PIL import features

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": _version("onnxruntime"),
        "pillow": Image.__version__,
        "libjpeg_turbo": bool(features.check_feature("libjpeg_turbo")),
        "numpy": np.__version__,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def checkpoint_facts(config: BenchConfig, predictor) -> dict:
    meta = predictor.meta
    return {
        "path": str(config.checkpoint),
        "arch": meta.arch,
        "input_size": meta.input_size,
        "trained": meta.trained,
        "status": meta.status,
        "weights_sha256": meta.weights_sha256,
        "default_backend": predictor.backend.name,
        "backend_note": predictor.backend.note,
    }


# ---------------------------------------------------------------- targets and output


def targets(report: Report, phone_label: str, default, default_name: str) -> list[Target]:
    """The issue's goals, for what a plain Predictor() does here."""
    latency = report.value("latency", f"{phone_label}: {default_name}")
    naive = report.value("latency", f"{phone_label}: naive")
    throughput = report.value("throughput", _throughput_name(default_name, default.decode_workers))
    naive_throughput = report.value("throughput", "naive, one at a time")
    app = report.value("cold start", "app ready (import + build)")

    def target(name, goal, measured, unit, ok):
        return Target(name, goal, measured, unit, None if measured is None else bool(ok(measured)))

    return [
        target(f"{phone_label} -> findings, {default_name}", "<= 60 ms median", latency, "ms", lambda v: v <= 60),
        target(f"pre-sort throughput, {default_name}", ">= 20 photos/s", throughput, "photos/s", lambda v: v >= 20),
        target(f"speed-up over naive, one {phone_label}", ">= 3x",
               naive / latency if naive and latency else None, "x", lambda v: v >= 3),
        target("speed-up over naive, pre-sort", ">= 3x",
               throughput / naive_throughput if throughput and naive_throughput else None, "x", lambda v: v >= 3),
        target("app ready", "<= 10 s", app, "s", lambda v: v <= 10),
    ]


def run_bench(config: BenchConfig, log: Callable[[str], None] = print) -> Report:
    predictors = backend_predictors(config)
    default = _default_backend(predictors)
    report = Report(machine(), checkpoint_facts(config, predictors[default]), _plain(config))
    with tempfile.TemporaryDirectory(prefix="skinfindings-bench-") as tmp:
        log("generating photos ...")
        singles, folder = make_photos(Path(tmp), config)
        phone_label = next(iter(singles))
        report.photos = describe_photos(singles, folder)
        steps = [
            ("single-photo latency", lambda: _flatten(measure_latency(config, predictors, singles))),
            ("latency parts", lambda: measure_parts(config, predictors, singles[phone_label], phone_label)),
            ("pre-sort throughput", lambda: measure_throughput(config, predictors, folder)),
            ("peak memory (fresh processes)",
             lambda: measure_memory(config, predictors, singles[phone_label], phone_label, folder)),
            ("cold start (fresh processes)",
             lambda: measure_cold_start(config, tuple(predictors), singles[phone_label], phone_label)),
            ("model facts", lambda: model_facts(config, predictors[default])),
        ]
        for title, step in steps:
            log(f"measuring {title} ...")
            seconds, rows = _timed(step)
            report.rows += rows
            log(f"  {seconds:.0f} s")
    report.machine["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report.targets = targets(report, phone_label, predictors[default], default)
    return report


def _flatten(parts: tuple[list[Row], list[Row]]) -> list[Row]:
    return parts[0] + parts[1]


def _plain(config: BenchConfig) -> dict:
    raw = dataclasses.asdict(config)
    raw["checkpoint"] = str(config.checkpoint)
    return raw


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def format_report(report: Report) -> str:
    m, c = report.machine, report.checkpoint
    lines = [
        f"machine: {m['cpu']}, {m['usable_cores']} usable of {m['cores']} cores, load average "
        f"{_number(m['load_average_start'])} at start / {_number(m['load_average_end'])} at end",
        f"software: python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads), onnxruntime "
        f"{m['onnxruntime']}, pillow {m['pillow']} (libjpeg-turbo: {m['libjpeg_turbo']}), numpy {m['numpy']}",
        f"checkpoint: {c['path']} ({c['arch']}, {c['input_size']} px, trained={c['trained']}: {c['status']})",
        f"default backend: {c['default_backend']} ({c['backend_note']})",
    ]
    for label, facts in report.photos.items():
        lines.append(f"photo {label}: " + ", ".join(f"{key} {value}" for key, value in facts.items()))
    lines.append("")
    width = max(len(r.name) for r in report.rows)
    section = None
    for r in report.rows:
        if r.section != section:
            section = r.section
            lines += ["", f"== {section}"]
        spread = f"[{_number(r.low)} - {_number(r.high)}]" if r.low is not None else ""
        cpu = f"cpu {_number(r.cpu_ms)} ms/photo" if r.cpu_ms is not None else ""
        unit = r.unit if r.value is not None else ""
        lines.append(f"  {r.name:<{width}}  {_number(r.value):>8} {unit:<9} {spread:<17} {cpu:<20} {r.note}".rstrip())
    lines += ["", "== targets"]
    for t in report.targets:
        verdict = {True: "met", False: "NOT MET", None: "n/a"}[t.met]
        unit = t.unit if t.measured is not None else ""
        lines.append(f"  {t.name:<{width}}  {_number(t.measured):>8} {unit:<9} goal {t.goal:<16} {verdict}")
    lines += ["", "Wall-clock numbers depend on what else runs on the machine (see the load average above);",
              "the CPU column is what a run costs in CPU time, which shared cores change far less."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skinfindings bench", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint .json (default: shipped)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and photos: a smoke run, noisier numbers")
    parser.add_argument("--no-app", action="store_true", help="skip the app cold-start row (it imports gradio)")
    parser.add_argument("--out", help="also write the report as JSON here")
    args = parser.parse_args(argv)

    make = BenchConfig.quick if args.quick else BenchConfig
    config = make(checkpoint=Path(args.checkpoint), app=not args.no_app)
    report = run_bench(config, log=lambda line: print(line, file=sys.stderr))
    print(format_report(report))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(dataclasses.asdict(report), indent=2) + "\n")
        print(f"\nwrote {out}")
    return 0
