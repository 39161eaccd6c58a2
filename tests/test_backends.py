"""The Predictor's backends: ONNX Runtime agrees with torch, the choice falls back cleanly, graphs are cached
per weights sha256; and the benchmark measures the variants side by side."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from conftest import skin_like
from skinfindings.data.photo import MAX_DECODED_BYTES, DecodedTooLargeError, bytes_per_pixel, load_photo_sized
from skinfindings.model import backends, bench_inputs, bench_process, bench_report, bench_timing
from skinfindings.model.backends import BackendError, cached_onnx_path
from skinfindings.model.checkpoint import load_checkpoint, read_meta, save_checkpoint
from skinfindings.model.export import main as export_main
from skinfindings.model.predictor import Predictor

def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# Exporting needs onnx, running needs onnxruntime (the ``onnx`` extra); the fallback tests need neither.
needs_onnx = pytest.mark.skipif(
    not (_installed("onnx") and _installed("onnxruntime")), reason="the onnx extra is not installed"
)


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    """One ONNX cache for the module: exporting once keeps the file fast."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(backends.CACHE_ENV, str(tmp_path_factory.mktemp("onnx-cache")))
        patch.delenv(backends.BACKEND_ENV, raising=False)
        yield


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(backends.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(backends.BACKEND_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture()
def photos(tmp_path):
    paths = []
    for seed in range(3):
        paths.append(tmp_path / f"photo_{seed}.jpg")
        skin_like(size=400, seed=seed).save(paths[-1], quality=90)
    return paths


@needs_onnx
def test_onnx_and_torch_predictors_agree(module_cache, untrained_checkpoint, photos):
    on_onnx = Predictor(untrained_checkpoint, backend="onnx")
    on_torch = Predictor(untrained_checkpoint, backend="torch")
    assert (on_onnx.backend.name, on_torch.backend.name) == ("onnx", "torch")
    assert isinstance(on_onnx.model, nn.Module)  # Grad-CAM still has the torch model

    batch = np.stack([on_onnx.tensor(on_onnx.prepare(p)[0]).numpy() for p in photos])
    logits_onnx = on_onnx.logits(torch.from_numpy(batch)).numpy()
    logits_torch = on_torch.logits(torch.from_numpy(batch)).numpy()
    assert np.abs(logits_onnx - logits_torch).max() <= 1e-4

    for a, b in zip(on_onnx.predict_many(photos), on_torch.predict_many(photos)):
        assert a.error is None and b.error is None
        assert max(abs(a.probabilities[f] - b.probabilities[f]) for f in a.probabilities) <= 1e-4
        assert a.abstention == b.abstention


@needs_onnx
def test_auto_picks_onnx_and_reuses_the_cached_graph(empty_cache, untrained_checkpoint, monkeypatch):
    first = Predictor(untrained_checkpoint)
    assert first.backend.name == "onnx" and "exported on first use" in first.backend.note
    cached = cached_onnx_path(first.meta)
    assert cached.is_file() and cached.parent == empty_cache / "onnx"
    assert first.meta.weights_sha256[:16] in cached.name

    def no_export(*args, **kwargs):
        raise AssertionError("the cached graph should have been used")

    monkeypatch.setattr(backends, "export_onnx", no_export)
    again = Predictor(untrained_checkpoint)
    assert again.backend.name == "onnx" and "cached graph" in again.backend.note


def test_without_onnxruntime_auto_falls_back_to_torch(module_cache, untrained_checkpoint, photos, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail, as when not installed
    predictor = Predictor(untrained_checkpoint)
    assert predictor.backend.name == "torch"
    assert "onnxruntime is not installed" in predictor.backend.note
    result = predictor.predict(photos[0])
    assert result.error is None and set(result.probabilities) == set(predictor.meta.findings)

    with pytest.raises(BackendError, match="onnxruntime is not installed"):
        Predictor(untrained_checkpoint, backend="onnx")


@needs_onnx
def test_a_failed_export_falls_back_to_torch(empty_cache, untrained_checkpoint, monkeypatch):
    def broken_export(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(backends, "export_onnx", broken_export)
    corrupt = cached_onnx_path(read_meta(untrained_checkpoint))
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"not an onnx graph")  # a damaged cache file is skipped, not fatal
    predictor = Predictor(untrained_checkpoint)
    assert predictor.backend.name == "torch" and "exporter exploded" in predictor.backend.note
    with pytest.raises(BackendError, match="could not export"):
        Predictor(untrained_checkpoint, backend="onnx")


def _copy_checkpoint(checkpoint, folder):
    folder.mkdir(exist_ok=True)
    copy = folder / "model.json"
    copy.write_bytes(checkpoint.read_bytes())
    (folder / "model.safetensors").write_bytes(checkpoint.with_suffix(".safetensors").read_bytes())
    return copy


@needs_onnx
def test_a_shipped_graph_is_used_and_a_stale_one_is_not(empty_cache, untrained_checkpoint, tmp_path):
    copy = _copy_checkpoint(untrained_checkpoint, tmp_path / "shipped")
    assert export_main(["onnx", "--checkpoint", str(copy)]) == 0
    shipped = Predictor(copy)
    assert shipped.backend.name == "onnx" and "shipped graph" in shipped.backend.note
    assert not empty_cache.exists()  # nothing exported on first use

    # The same graph next to retrained weights is stale: it must not run them.
    retrained = _retrained_copy(untrained_checkpoint, tmp_path / "retrained" / "model.json")
    retrained.with_suffix(".onnx").write_bytes(copy.with_suffix(".onnx").read_bytes())
    predictor = Predictor(retrained)
    assert predictor.backend.name == "onnx" and "exported on first use" in predictor.backend.note
    photo = skin_like(seed=5)
    on_torch = Predictor(retrained, backend="torch")
    assert on_torch.predict(photo).probabilities == pytest.approx(predictor.predict(photo).probabilities, abs=1e-4)


def _retrained_copy(source, target):
    """The same architecture with other weights, saved with their own sha256."""
    model, meta = load_checkpoint(source)
    with torch.no_grad():
        model.classifier[-1].bias.add_(0.25)
    return save_checkpoint(target, model, meta)


def test_backend_can_be_forced_by_environment_and_bad_names_are_refused(
    module_cache, untrained_checkpoint, monkeypatch
):
    monkeypatch.setenv(backends.BACKEND_ENV, "torch")
    assert Predictor(untrained_checkpoint).backend.name == "torch"
    monkeypatch.setenv(backends.BACKEND_ENV, "tensorrt")
    with pytest.raises(BackendError, match="unknown backend"):
        Predictor(untrained_checkpoint)


def test_big_jpegs_are_decoded_at_a_reduced_scale(tmp_path, module_cache, untrained_checkpoint):
    """The fast path rests on libjpeg's DCT scaling: a photo 16 times the model input decodes at 1/8."""
    predictor = Predictor(untrained_checkpoint)
    path = tmp_path / "big.jpg"
    skin_like(size=64).resize((16 * predictor.input_size, 12 * predictor.input_size)).save(path)
    decoded, stored = load_photo_sized(path, draft_size=predictor.input_size)
    assert stored == (16 * predictor.input_size, 12 * predictor.input_size)
    assert decoded.size == (2 * predictor.input_size, round(1.5 * predictor.input_size))
    pixels, original = predictor.prepare(path)
    assert pixels.shape == (predictor.input_size, predictor.input_size, 3) and original == stored


@needs_onnx
def test_benchmark_measures_each_variant_side_by_side(module_cache, untrained_checkpoint, tmp_path, capsys):
    config = bench_report.BenchConfig.quick(checkpoint=untrained_checkpoint, repeats=1, folder_photos=3,
                                            phone_size=(640, 480), screen_size=(320, 180), app=False)
    predictors = bench_timing.backend_predictors(config)
    singles, folder = bench_inputs.make_photos(tmp_path, config)
    latency, agreement = bench_timing.measure_latency(config, predictors, singles)
    throughput = bench_timing.measure_throughput(config, predictors, folder)
    parts = bench_timing.measure_parts(config, predictors, next(iter(singles.values())), "phone")
    rows = latency + agreement + throughput + parts + bench_timing.model_facts(config, predictors["onnx"])

    names = {r.name for r in rows}
    for label in singles:
        assert {f"{label}: naive", f"{label}: torch", f"{label}: onnx"} <= names
    timed = latency + throughput + parts
    assert all(math.isfinite(r.value) and r.value > 0 and r.runs >= 1 for r in timed)
    assert all(r.cpu_ms is not None and r.cpu_ms > 0 for r in timed)
    backend_gap = next(r for r in agreement if "onnx" in r.name)
    assert backend_gap.value <= 1e-4
    flops = next(r for r in rows if r.name == "FLOPs per photo")
    assert flops.value > 0

    not_a_photo = tmp_path / "notes.png"
    not_a_photo.write_bytes(b"not a photo")
    bench_process.memory_probe("onnx", str(untrained_checkpoint), [str(folder[0]), str(not_a_photo)])
    probe = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert probe["peak_mib"] >= probe["loaded_mib"] > 0
    assert len(probe["errors"]) == 1  # a refused photo is reported, so a refusal is never read as a cheap success

    report = bench_report.Report(bench_report.machine(), bench_report.checkpoint_facts(config, predictors["onnx"]),
                                 config={}, rows=rows)
    report.machine["load_average_end"] = 0.0
    report.targets = bench_report.targets(report, next(iter(singles)), predictors["onnx"], "onnx")
    text = bench_report.format_report(report)
    assert "trained=False" in text and report.machine["cores"] >= 1
    not_measured = {"app ready", "memory per request, worst accepted photo"}
    assert {t.name: t.met for t in report.targets if t.name in not_measured} == dict.fromkeys(not_measured)  # "n/a"


def test_decode_memory_photos_are_small_files_at_the_decoded_size_limit(tmp_path, untrained_checkpoint):
    """The benchmark's worst accepted photos sit just under the loader's limit; its bomb is over it."""
    phone = tmp_path / "phone.jpg"
    skin_like(256).save(phone, quality=90)
    photos = bench_inputs.decode_memory_photos(tmp_path, phone)
    predictor = Predictor(untrained_checkpoint, backend="torch")
    for label, path in photos.items():
        if label.startswith("refused"):
            with pytest.raises(DecodedTooLargeError):
                predictor.prepare(path)
            continue
        with Image.open(path) as image:  # header only: decoding all of them is the benchmark's job
            decoded = image.width * image.height * bytes_per_pixel(image)
        assert decoded <= MAX_DECODED_BYTES, label
        if path.suffix == ".png":  # the PNGs are the worst case, so they sit right at the limit
            assert decoded >= 0.95 * MAX_DECODED_BYTES and path.stat().st_size < bench_report.MIB, label
