"""The benchmark's in-process measurements: latency, its parts, pre-sort throughput, model facts.

Variants are timed side by side in the same run, in blocks of consecutive runs taken
forward then backward (``_side_by_side``), and reported as medians with the 10th-90th
percentile range and the CPU time per photo.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from skinfindings.data.photo import load_photo_sized
from skinfindings.model import quality
from skinfindings.model.bench_report import MIB, BenchConfig, Row, throughput_name, machine
from skinfindings.model.transforms import resize_photo


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


def default_backend_name(predictors: dict) -> str:
    """The backend a plain Predictor() picks here."""
    return "onnx" if "onnx" in predictors else "torch"


# ---------------------------------------------------------------- timing


def timed(fn: Callable[[], object]) -> tuple[float, object]:
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


def timing_row(section: str, name: str, samples: list[float], unit: str, scale: float = 1.0, note: str = "",
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
                seconds, timings.outputs[name] = timed(variants[name])
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
        rows += [timing_row("latency", f"{label}: {name}", t, "ms", 1e3, cpu_seconds=timings.cpu[name])
                 for name, t in timings.wall.items()]
        outputs = timings.outputs
        fast = outputs[default_backend_name(predictors)]
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
    return [timing_row("latency parts", f"{label}: {name}", t, "ms", 1e3, note=notes.get(name, ""),
                 cpu_seconds=timings.cpu[name]) for name, t in timings.wall.items()]


def measure_throughput(config: BenchConfig, predictors: dict, photos: list[Path]) -> list[Row]:
    """Pre-sort throughput: predict_many over the folder, against the naive one-at-a-time loop."""
    naive = NaivePipeline(predictors["torch"])
    variants: dict[str, Callable[[], object]] = {"naive, one at a time": lambda: [naive.predict(p) for p in photos]}
    default = default_backend_name(predictors)
    for name, predictor in predictors.items():
        predictor.predict_many(photos[: predictor.batch_size])  # warm-up at the full batch shape
        for workers in config.decode_workers if name == default else (predictor.decode_workers,):
            variants[throughput_name(name, workers)] = _with_workers(predictor, photos, workers)
    # A folder is long enough to be its own warm-up; the untimed batch-shape run is above.
    timings = _side_by_side(variants, config.folder_repeats, warm_up=False)
    cores = machine()["usable_cores"]
    rows = []
    for name, wall in timings.wall.items():
        row = timing_row("throughput", name, [len(photos) / s for s in wall], "photos/s",
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
