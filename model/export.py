"""skinfindings export onnx [--checkpoint C] [--out F]: the model as an ONNX graph for ONNX Runtime.

    skinfindings export onnx                      # shipped model -> model/weights/skinfindings-demo.onnx
    skinfindings export onnx --checkpoint runs/a/model.json --out /tmp/model.onnx

Without ``--out`` the graph lands next to the checkpoint (``NAME.onnx``), where the
Predictor picks it up. Nothing has to be exported by hand: the Predictor exports on
first use into its cache (model/backends.py). ``*.onnx`` files are git-ignored.

Every export is checked against the torch model on a random batch before it is
kept: the largest logit difference must stay within ``TOLERANCE``. The graph carries
the checkpoint's weights sha256 and input size, so a stale file is recognised.
Needs the ``onnx`` extra (``pip install 'skinfindings[onnx]'``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT, CheckpointMeta

TOLERANCE = 1e-4  # largest allowed |onnx - torch| logit difference
OPSET = 17
INPUT_NAME = "pixels"
OUTPUT_NAME = "logits"
# Keys written into the graph's metadata_props; model/backends.py reads them back.
SHA_KEY = "skinfindings.weights_sha256"
SIZE_KEY = "skinfindings.input_size"


class ExportError(RuntimeError):
    """The model could not be exported, or the export does not match torch."""


@dataclass(frozen=True)
class OnnxExport:
    path: Path
    max_abs_diff: float  # largest |onnx - torch| logit difference on the check batch


def export_onnx(model: nn.Module, meta: CheckpointMeta, out: str | Path, opset: int = OPSET) -> OnnxExport:
    """Export, stamp with the weights sha256, verify against torch, then move into place.

    The file appears at ``out`` only once it is verified (written to a temporary
    file first), so a half-written or wrong graph is never picked up by another
    process sharing the cache."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(suffix=".onnx.part", dir=out.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        _trace_to_onnx(model.eval(), meta.input_size, tmp, opset)
        _stamp(tmp, meta)
        diff = verify_onnx(model, _session(tmp), meta.input_size)
        if not diff <= TOLERANCE:
            raise ExportError(f"ONNX logits differ from torch by {diff:.2e} (limit {TOLERANCE:.0e})")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shipped graph must be readable by all
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return OnnxExport(out, diff)


def _trace_to_onnx(model: nn.Module, input_size: int, path: Path, opset: int) -> None:
    example = torch.zeros(2, 3, input_size, input_size)
    batch_axis = {0: "batch"}
    # The TorchScript exporter needs no onnxscript; torch warns that it is the legacy path.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        # A size read while tracing (colour_stats: the tail's length) is a constant of the graph, as it should be:
        # the graph is exported for one input size.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: batch_axis, OUTPUT_NAME: batch_axis},
            opset_version=opset,
        )


def _stamp(path: Path, meta: CheckpointMeta) -> None:
    try:
        import onnx
    except ImportError as exc:
        raise ExportError("the onnx package is missing: pip install 'skinfindings[onnx]'") from exc
    graph = onnx.load(str(path))
    for key, value in ((SHA_KEY, meta.weights_sha256), (SIZE_KEY, str(meta.input_size))):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, str(path))


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def verify_onnx(model: nn.Module, session, input_size: int, batch: int = 3) -> float:
    """Largest |onnx - torch| logit difference on a fixed random batch (``session``: an ORT InferenceSession).

    The batch size differs from the traced one, so a graph whose batch axis is
    not dynamic fails here rather than in the pre-sort."""
    x = torch.randn(batch, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    onnx_logits = session.run(None, {INPUT_NAME: x.numpy()})[0]
    with torch.inference_mode():
        torch_logits = model.eval()(x).float().numpy()
    return float(np.abs(onnx_logits - torch_logits).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skinfindings export", description=__doc__.splitlines()[0])
    formats = parser.add_subparsers(dest="format", required=True)
    onnx_cmd = formats.add_parser("onnx", help="ONNX graph for ONNX Runtime, verified against torch")
    onnx_cmd.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint .json (default: shipped)")
    onnx_cmd.add_argument("--out", help="output .onnx (default: next to the checkpoint, where the Predictor finds it)")
    onnx_cmd.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    args = parser.parse_args(argv)

    from skinfindings.model.checkpoint import load_checkpoint

    model, meta = load_checkpoint(args.checkpoint)
    out = Path(args.out) if args.out else Path(args.checkpoint).with_suffix(".onnx")
    try:
        result = export_onnx(model, meta, out, opset=args.opset)
    except (ExportError, ImportError) as exc:
        print(f"skinfindings export: {exc}")
        return 1
    size_mb = result.path.stat().st_size / 1e6
    print(f"wrote {result.path} ({size_mb:.1f} MB, {meta.arch}, {meta.input_size} px, status: {meta.status})")
    print(f"max |onnx - torch| logit difference: {result.max_abs_diff:.2e} (limit {TOLERANCE:.0e})")
    return 0
