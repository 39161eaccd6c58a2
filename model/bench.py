"""skinfindings bench [--quick] [--checkpoint C] [--out bench.json]: latency, throughput, memory, cold start.

    nice -n 10 skinfindings bench --out reports/bench.json          # a few minutes on a quiet machine
    skinfindings bench --quick                                      # fewer repeats: a smoke run

Every photo is generated here (nothing is downloaded, no real photo is used): a
12-MP phone JPEG, a 1080p PNG, a 256 px JPEG, and a folder of phone-sized JPEGs
for the pre-sort. Variants are timed side by side in the same run, in blocks of
consecutive runs taken forward then backward (see ``bench_timing._side_by_side``), and reported
as medians with the 10th-90th percentile range:

    naive  every pixel decoded (no JPEG draft mode), eager torch, one photo at a time
    torch  the Predictor with backend="torch" (draft decoding, resize once)
    onnx   the Predictor with backend="onnx" (the same, on ONNX Runtime)

Peak memory (also of one request for the largest photos the loader accepts) and cold
start are measured in fresh Python processes, so one measurement cannot inflate the
next. The report names the machine, the library versions, the load average and the
checkpoint, because numbers from a busy or different machine are not comparable.

The parts: ``bench_inputs`` (generated photos), ``bench_timing`` (in-process timing),
``bench_process`` (fresh-process memory and cold start), ``bench_report`` (settings,
rows, targets, the text report); this module runs them in order.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable

from skinfindings.model.bench_inputs import decode_memory_photos, describe_photos, make_photos
from skinfindings.model.bench_process import measure_cold_start, measure_decode_memory, measure_memory
from skinfindings.model.bench_report import (BenchConfig, Report, Row, checkpoint_facts, format_report, machine,
                                             plain_config, targets)
from skinfindings.model.bench_timing import (backend_predictors, default_backend_name, measure_latency, measure_parts,
                                             measure_throughput, model_facts, timed)
from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT


def run_bench(config: BenchConfig, log: Callable[[str], None] = print) -> Report:
    predictors = backend_predictors(config)
    default = default_backend_name(predictors)
    report = Report(machine(), checkpoint_facts(config, predictors[default]), plain_config(config))
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
            ("decode memory (fresh processes)",
             lambda: _decode_memory(config, predictors, Path(tmp), singles[phone_label])),
            ("cold start (fresh processes)",
             lambda: measure_cold_start(config, tuple(predictors), singles[phone_label], phone_label)),
            ("model facts", lambda: model_facts(config, predictors[default])),
        ]
        for title, step in steps:
            log(f"measuring {title} ...")
            seconds, rows = timed(step)
            report.rows += rows
            log(f"  {seconds:.0f} s")
    report.machine["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report.targets = targets(report, phone_label, predictors[default], default)
    return report


def _decode_memory(config: BenchConfig, predictors: dict, tmp: Path, phone: Path) -> list[Row]:
    if not config.decode_memory:
        return [Row("decode memory", "largest accepted photos", None, "MiB", note="skipped (--no-decode-memory)")]
    folder = tmp / "decode-memory"
    folder.mkdir()
    return measure_decode_memory(config, predictors, decode_memory_photos(folder, phone))


def _flatten(parts: tuple[list[Row], list[Row]]) -> list[Row]:
    return parts[0] + parts[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skinfindings bench", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint .json (default: shipped)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and photos: a smoke run, noisier numbers")
    parser.add_argument("--no-app", action="store_true", help="skip the app cold-start row (it imports gradio)")
    parser.add_argument("--no-decode-memory", action="store_true", help="skip the largest-photo memory rows (~1 min)")
    parser.add_argument("--out", help="also write the report as JSON here")
    args = parser.parse_args(argv)

    make = BenchConfig.quick if args.quick else BenchConfig
    config = make(checkpoint=Path(args.checkpoint), app=not args.no_app, decode_memory=not args.no_decode_memory)
    report = run_bench(config, log=lambda line: print(line, file=sys.stderr))
    print(format_report(report))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(dataclasses.asdict(report), indent=2) + "\n")
        print(f"\nwrote {out}")
    return 0
