"""Training on a tiny generated set: it learns, resumes exactly, calibrates, and runs under DDP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from skinfindings.data.manifest import Record, sha256_file, write_manifest
from skinfindings.findings import FINDINGS
from skinfindings.model.checkpoint import load_checkpoint, read_meta
from skinfindings.model.predictor import Predictor
from skinfindings.training.calibrate import calibrate, sensitivity_threshold
from skinfindings.training.config import TrainConfig
from skinfindings.training.train import run

# An easy task on purpose: each finding adds a bold, distinct pattern to skin-toned noise.
PATTERNS = {
    "erythema": lambda px, rng: px * np.array([1.0, 0.65, 0.65]),
    "crusting": lambda px, rng: _spots(px, rng, (120, 70, 20), 6, 9),
    "milia": lambda px, rng: _spots(px, rng, (250, 250, 240), 10, 3),
    "pustules": lambda px, rng: _spots(px, rng, (240, 230, 90), 6, 5),
    "hyperpigmentation": lambda px, rng: _spots(px, rng, (70, 45, 30), 3, 14),
}


def _spots(px, rng, colour, count, radius):
    yy, xx = np.mgrid[: px.shape[0], : px.shape[1]]
    for _ in range(count):
        cy, cx = rng.integers(radius, px.shape[0] - radius, 2)
        px[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = colour
    return px


def easy_set(folder: Path, n: int, seed: int = 0, size: int = 64) -> Path:
    rng = np.random.default_rng(seed)
    records = []
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        labels = {f: int(rng.random() < 0.4) for f in FINDINGS}
        px = np.clip(np.array([205, 160, 135]) + rng.normal(0, 6, (size, size, 3)), 0, 255)
        for finding, present in labels.items():
            if present:
                px = PATTERNS[finding](px, rng)
        path = folder / "images" / f"easy_{i:04d}.png"
        Image.fromarray(np.clip(px, 0, 255).astype(np.uint8)).save(path)
        split = "train" if i < int(n * 0.7) else "val" if i < int(n * 0.85) else "test"
        records.append(Record(path=f"images/{path.name}", sha256=sha256_file(path), labels=labels, group=f"g{i}",
                              source="test-generated", license="CC0-1.0", split=split))
    return write_manifest(folder / "manifest.csv", records)


@pytest.fixture(scope="module")
def easy_manifest(tmp_path_factory):
    return easy_set(tmp_path_factory.mktemp("easy"), 240)


def _config(manifest: Path, out: Path, **overrides) -> TrainConfig:
    # resnet18: its BatchNorm (momentum 0.1) settles within a tiny run; MobileNetV3 uses 0.01.
    base = dict(manifests=[str(manifest)], out=str(out), arch="resnet18", input_size=64, batch_size=16, epochs=1, workers=0,
                lr=3e-3, warmup_epochs=0.2, ema_decay=0.0, augment=False)
    base.update(overrides)
    return TrainConfig(**base)


def test_one_epoch_learns_something_measurable(easy_manifest, tmp_path):
    path = run(_config(easy_manifest, tmp_path / "run", epochs=2))
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < log[0]["loss"]  # the loss falls
    meta = read_meta(path)
    assert meta.trained and meta.metrics["test_macro_auroc"] > 0.6  # above chance on the easy split
    assert json.loads((tmp_path / "run" / "config.json").read_text())["input_size"] == 64


def test_resume_gives_the_same_next_step(easy_manifest, tmp_path, monkeypatch):
    import skinfindings.training.train as train_module

    settings = dict(epochs=2, max_steps=3, augment=True, ema_decay=0.9)
    run(_config(easy_manifest, tmp_path / "straight", **settings))

    real_save = train_module._save_resume

    def crash_after_first_epoch(path, *args):
        real_save(path, *args)
        raise KeyboardInterrupt  # the machine goes away right after epoch 1 was saved

    monkeypatch.setattr(train_module, "_save_resume", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(_config(easy_manifest, tmp_path / "resumed", **settings))
    monkeypatch.setattr(train_module, "_save_resume", real_save)
    run(_config(easy_manifest, tmp_path / "resumed", **settings))  # picks up resume.pt after epoch 1

    a, _ = load_checkpoint(tmp_path / "straight" / "model.json")
    b, _ = load_checkpoint(tmp_path / "resumed" / "model.json")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.allclose(x.float(), y.float(), atol=1e-6), name


def test_thresholds_and_temperature_are_saved_and_used_by_the_predictor(easy_manifest, tmp_path):
    path = run(_config(easy_manifest, tmp_path / "cal", max_steps=4))
    meta = read_meta(path)
    assert len(meta.thresholds) == len(FINDINGS) and "pustules" in meta.threshold_rule
    predictor = Predictor(path)
    assert predictor.meta.thresholds == meta.thresholds
    photo = Path(easy_manifest).parent / "images" / "easy_0000.png"
    result = predictor.predict(photo)
    with torch.no_grad():
        logits = predictor.model(predictor.tensor(predictor.prepare(photo)[0])[None])[0].numpy()
    expected = 1 / (1 + np.exp(-logits / np.array(meta.temperature)))
    assert [result.probabilities[f] for f in FINDINGS] == pytest.approx(expected.tolist(), abs=1e-5)


def test_escalating_thresholds_keep_the_sensitivity_target():
    probs = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    assert sensitivity_threshold(probs, np.ones(10), 0.9) == 0.2  # one miss of ten allowed
    rng = np.random.default_rng(1)
    labels = (rng.random((400, len(FINDINGS))) < 0.3).astype(float)
    logits = labels * 1.5 + rng.normal(0, 1, labels.shape)
    temperatures, thresholds, _ = calibrate(logits, labels, escalate_sensitivity=0.9)
    for finding in ("pustules", "crusting"):
        i = FINDINGS.index(finding)
        calibrated = 1 / (1 + np.exp(-logits[:, i] / temperatures[i]))
        assert np.mean(calibrated[labels[:, i] == 1] >= thresholds[i]) >= 0.9
        assert thresholds[i] <= 0.5  # an escalating finding is reported once it is as likely as not


def test_real_photos_never_in_two_splits(easy_manifest, tmp_path):
    leaky = Path(easy_manifest).parent / "leaky.csv"
    text = Path(easy_manifest).read_text().splitlines()
    # The same image (same checksum and group) listed once more in the test split.
    assert text[0].endswith(",split") and text[1].endswith(",train")
    copy = text[1][: -len("train")] + "test"
    leaky.write_text("\n".join([*text, copy]) + "\n")
    with pytest.raises(SystemExit, match="two splits"):
        run(_config(leaky, tmp_path / "leak"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_with_two_cpu_processes_runs_a_few_steps(easy_manifest, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "skinfindings", "train", "--manifests", str(easy_manifest),
               "--out", str(tmp_path / "ddp"), "--input-size", "64", "--batch-size", "8", "--epochs", "1",
               "--max-steps", "3", "--workers", "0", "--augment", "false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 rank(s)" in done.stdout
    model, meta = load_checkpoint(tmp_path / "ddp" / "model.json")
    assert meta.trained and not any(k.startswith("module.") for k in model.state_dict())


def test_training_photos_are_prepared_as_the_predictor_prepares_them(tmp_path):
    # A portrait-like photo: skin in the middle of a large dark background. The Predictor crops to the skin before
    # resizing; a training set that only resized would teach the model a view it never gets at run time.
    from conftest import rendered_skin

    from skinfindings.training.dataset import Item, PhotoDataset

    canvas = Image.new("RGB", (900, 700), (25, 30, 45))
    canvas.paste(rendered_skin(3, 320), (290, 190))
    path = tmp_path / "portrait.jpg"
    canvas.save(path, quality=95)
    predictor = Predictor()
    expected, _ = predictor.prepare(str(path))
    item = Item(str(path), np.zeros(len(FINDINGS), np.float32), "test-generated", "g0", "")
    image, _, _ = PhotoDataset([item], predictor.input_size, (0, 0, 0), (1, 1, 1))[0]
    seen = np.round(image.numpy().transpose(1, 2, 0) * 255).astype(int)
    assert np.abs(seen - expected.astype(int)).max() <= 1
