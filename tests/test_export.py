"""``skinfindings export onnx``: a graph that matches torch, carries its weights' sha256, and is never half-written."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skinfindings.model import export
from skinfindings.model.checkpoint import load_checkpoint

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def _onnx_logits(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def test_export_command_writes_a_graph_that_matches_torch(tmp_path, untrained_checkpoint, capsys):
    out = tmp_path / "model.onnx"
    assert export.main(["onnx", "--checkpoint", str(untrained_checkpoint), "--out", str(out)]) == 0
    assert "max |onnx - torch|" in capsys.readouterr().out

    model, meta = load_checkpoint(untrained_checkpoint)
    for batch in (1, 5):  # the batch axis is dynamic: the pre-sort sends whole batches
        x = torch.randn(batch, 3, meta.input_size, meta.input_size, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = model(x).numpy()
        got = _onnx_logits(out, x)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-4

    # The stamp is how the Predictor tells a graph of these weights from a stale one.
    stamp = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert stamp[export.SHA_KEY] == meta.weights_sha256
    assert stamp[export.SIZE_KEY] == str(meta.input_size)


def test_default_output_lands_next_to_the_checkpoint(tmp_path, untrained_checkpoint):
    copy = tmp_path / "copy.json"
    copy.write_bytes(untrained_checkpoint.read_bytes())
    (tmp_path / "copy.safetensors").write_bytes(untrained_checkpoint.with_suffix(".safetensors").read_bytes())
    assert export.main(["onnx", "--checkpoint", str(copy)]) == 0
    assert (tmp_path / "copy.onnx").is_file()


def test_a_graph_that_disagrees_with_torch_is_not_kept(tmp_path, untrained_checkpoint, monkeypatch, capsys):
    monkeypatch.setattr(export, "verify_onnx", lambda *args, **kwargs: 0.5)
    out = tmp_path / "bad.onnx"
    assert export.main(["onnx", "--checkpoint", str(untrained_checkpoint), "--out", str(out)]) == 1
    assert "differ" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # neither the graph nor its temporary file is left behind
