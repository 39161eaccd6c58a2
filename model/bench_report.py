"""The benchmark's data model and its text form: settings, rows, targets, where it ran.

    report = Report(machine(), checkpoint_facts(config, predictor), config={...})
    print(format_report(report))

The report names the machine, the library versions, the load average and the
checkpoint, because numbers from a busy or different machine are not comparable.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT

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
    decode_memory: bool = True  # peak memory of the largest accepted photos (a fresh process each, ~1 min)
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


def throughput_name(backend: str, workers: int) -> str:
    return f"predict_many, {backend}, {workers} decode workers"


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
    throughput = report.value("throughput", throughput_name(default_name, default.decode_workers))
    naive_throughput = report.value("throughput", "naive, one at a time")
    app = report.value("cold start", "app ready (import + build)")
    accepted = [r.value for r in report.rows if r.section == "decode memory" and r.value is not None
                and "refused" not in r.note]
    worst_photo = max(accepted) * MIB / 1e6 if accepted else None

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
        target("memory per request, worst accepted photo", "<= 600 MB above the model", worst_photo, "MB",
               lambda v: v <= 600),
    ]


def plain_config(config: BenchConfig) -> dict:
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
