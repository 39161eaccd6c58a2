"""Registry forward passes, checkpoint round trip and refusals, and the Predictor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from skinfindings.findings import FINDINGS
from skinfindings.model.checkpoint import CheckpointError, load_checkpoint, read_meta
from skinfindings.model.predictor import Predictor
from skinfindings.model.registry import ARCHITECTURES, Architecture, build_model, register
from conftest import skin_like


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_registered_architecture_does_a_forward_pass(arch):
    model = build_model(arch, len(FINDINGS)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 128, 128))
    assert out.shape == (2, len(FINDINGS)) and torch.isfinite(out).all()


def test_registry_refuses_duplicates_and_unknown_names():
    with pytest.raises(ValueError, match="twice"):
        register(Architecture("resnet18", lambda n: None, "layer4"))
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("vit_giant", 5)


def test_checkpoint_round_trip_gives_identical_outputs(untrained_checkpoint):
    model, meta = load_checkpoint(untrained_checkpoint)
    again, _ = load_checkpoint(untrained_checkpoint.with_suffix(".safetensors"))
    x = torch.randn(3, 3, meta.input_size, meta.input_size)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert meta.trained is False and "untrained" in meta.status


def _copy_with(tmp_path, checkpoint, **changes):
    raw = json.loads(checkpoint.read_text())
    raw.update(changes)
    target = tmp_path / "edited.json"
    target.write_text(json.dumps(raw))
    (tmp_path / "edited.safetensors").write_bytes(checkpoint.with_suffix(".safetensors").read_bytes())
    return target


def test_unknown_format_version_is_refused(tmp_path, untrained_checkpoint):
    with pytest.raises(CheckpointError, match="format version 99"):
        read_meta(_copy_with(tmp_path, untrained_checkpoint, format_version=99))


def test_findings_mismatch_is_refused(tmp_path, untrained_checkpoint):
    with pytest.raises(CheckpointError, match="expects"):
        read_meta(_copy_with(tmp_path, untrained_checkpoint, findings=["erythema", "acne"]))


def test_swapped_weights_are_refused(tmp_path, untrained_checkpoint):
    edited = _copy_with(tmp_path, untrained_checkpoint)
    blob = bytearray(edited.with_suffix(".safetensors").read_bytes())
    blob[-1] ^= 0xFF
    edited.with_suffix(".safetensors").write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(edited)


def test_weights_file_is_not_a_pickle(untrained_checkpoint):
    head = untrained_checkpoint.with_suffix(".safetensors").read_bytes()[:16]
    assert not head.startswith(b"\x80")  # pickle protocol marker
    header_len = int.from_bytes(head[:8], "little")
    assert 0 < header_len < 1_000_000


def test_predictor_runs_on_generated_photos(tmp_path, untrained_checkpoint):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"p{i}.jpg")
        skin_like(300, seed=i).save(paths[-1], quality=90)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a photo")
    predictor = Predictor(untrained_checkpoint, batch_size=2)
    results = predictor.predict_many([*paths, broken])
    assert [r.name for r in results] == ["p0.jpg", "p1.jpg", "p2.jpg", "broken.jpg"]
    for r in results[:3]:
        assert r.error is None and set(r.probabilities) == set(FINDINGS)
        assert all(0.0 <= p <= 1.0 for p in r.probabilities.values())
        assert set(r.present) <= set(FINDINGS)
    assert results[3].error and "photo" in results[3].error.lower()
    single = predictor.predict(paths[0])
    assert single.probabilities == pytest.approx(results[0].probabilities, abs=1e-5)


def test_predictor_uses_checkpoint_thresholds_and_temperature(tmp_path, untrained_checkpoint):
    raw = json.loads(untrained_checkpoint.read_text())
    base = Predictor(untrained_checkpoint).predict(skin_like())
    edited = _copy_with(tmp_path, untrained_checkpoint, thresholds=[0.0] * 5, temperature=[1000.0] * 5)
    flat = Predictor(edited).predict(skin_like())
    assert sorted(flat.present) == sorted(FINDINGS)  # threshold 0: everything is above it
    assert all(abs(p - 0.5) < 0.01 for p in flat.probabilities.values())  # huge temperature: all near 0.5
    assert raw["temperature"] == [1.0] * 5 and base.probabilities != flat.probabilities


def test_dark_photo_abstains_and_reports_no_findings(untrained_checkpoint):
    from PIL import Image

    result = Predictor(untrained_checkpoint).predict(Image.new("RGB", (300, 300), (8, 6, 5)))
    assert result.abstention is not None and result.abstention.code == "too_dark"
    assert result.present == [] and result.abstention.tip


def test_the_predictor_exposes_both_operating_points_and_each_finding_s_level(tmp_path, untrained_checkpoint):
    photo = skin_like(256, seed=3)
    p = Predictor(untrained_checkpoint, backend="torch").predict(photo).probabilities
    erythema, crusting, milia, pustules, pigment = (p[f] for f in FINDINGS)
    edited = _copy_with(tmp_path, untrained_checkpoint,
                        thresholds=[erythema - 0.01, crusting - 0.01, milia + 0.01, pustules - 0.01, pigment + 0.01],
                        rule_in=[erythema - 0.01, crusting + 0.01, milia + 0.02, pustules + 0.01, pigment + 0.02])
    result = Predictor(edited, backend="torch").predict(photo)
    assert result.levels == {"erythema": "likely", "crusting": "possible", "milia": "not_seen",
                             "pustules": "possible", "hyperpigmentation": "not_seen"}
    assert result.rule_in["crusting"] == pytest.approx(crusting + 0.01)
    assert result.thresholds["milia"] == pytest.approx(milia + 0.01)
    assert set(result.present) == {"erythema", "crusting", "pustules"}  # possible counts as present


def test_a_rule_in_point_below_its_rule_out_point_is_refused(tmp_path, untrained_checkpoint):
    with pytest.raises(CheckpointError, match="rule_in"):
        read_meta(_copy_with(tmp_path, untrained_checkpoint, thresholds=[0.5] * 5, rule_in=[0.4] * 5))


def test_a_photo_that_cannot_be_assessed_has_no_levels(untrained_checkpoint):
    dark = Image.new("RGB", (256, 256))
    result = Predictor(untrained_checkpoint, backend="torch").predict(dark)
    assert result.abstention is not None and result.levels == {} and result.present == []
