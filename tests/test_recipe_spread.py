"""The recipe search's later rounds: candidates as written on the command line, and the rule that picks."""

from __future__ import annotations

import pytest

from skinfindings.training.recipe_spread import decide, parse_probe, recipe_config, spread
from skinfindings.training.crossval import CrossValConfig


def test_a_probe_reads_its_architecture_size_and_source_weights():
    plain = parse_probe("efficientnet_lite0_avgmax:224")
    assert (plain.arch, plain.input_size, plain.source_weights) == ("efficientnet_lite0_avgmax", 224, (1, 1, 1, 1))
    faces = parse_probe("efficientnet_lite0_avgmax:224:1,1,1,3")
    assert faces.name == "probe lite0_avgmax 224, faces 3"
    config = recipe_config(CrossValConfig(real="r.csv", out="o"), faces)
    assert config.source_weights == [1, 1, 1, 3] and config.input_size == 224 and config.recipe == "probe"
    with pytest.raises(SystemExit, match="one weight per source"):
        parse_probe("efficientnet_lite0_avgmax:224:1,3")


def _rows(scores):
    finding = {"erythema": 0.8, "crusting": 0.8, "hyperpigmentation": 0.7, "milia": 0.6, "pustules": 0.7}
    return [{"real": finding, "composites": finding, "faces": {"possible_or_likely": 0.2, "likely": 0.0},
             "score": s} for s in scores]


def test_a_challenger_must_beat_the_incumbent_by_more_than_its_spread():
    incumbent = spread(_rows([0.60, 0.64, 0.56, 0.60, 0.60]))  # sd 0.028
    near = spread(_rows([0.62, 0.63, 0.62, 0.63, 0.62]))  # +0.024: inside the incumbent's spread
    far = spread(_rows([0.70, 0.71, 0.69, 0.70, 0.70]))
    assert decide({"pick": incumbent, "near": near}, "pick").startswith("pick stays")
    assert decide({"pick": incumbent, "near": near, "far": far}, "pick").startswith("far replaces pick")
    assert "nothing to decide" in decide({"pick": incumbent}, "pick")
