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


def test_round_5_challengers_take_the_incumbents_backbone_size_and_weights():
    from skinfindings.training.recipe_spread import candidates

    chosen = candidates(["efficientnet_lite0_avgmax:224:1,1,1,3"], tail=False, challengers=["nested-c", "attention"])
    assert [c.recipe for c in chosen] == ["probe", "nested-c", "attention"]
    assert {(c.arch, c.input_size, c.source_weights) for c in chosen} == {("efficientnet_lite0_avgmax", 224, (1, 1, 1, 3))}
    assert chosen[2].name == "attention lite0_avgmax 224, faces 3"


def test_the_nested_choice_of_c_reads_only_the_training_rows():
    import numpy as np

    from skinfindings.findings import FINDINGS
    from skinfindings.training.crossval import COMPOSITES, REAL, Pool
    from skinfindings.training.recipe_spread import C_GRID, inner_choice

    rng = np.random.default_rng(0)
    n = 200
    source = np.where(np.arange(n) % 2 == 0, REAL, COMPOSITES)
    fold = np.arange(n) % 5
    labels = rng.integers(0, 2, (n, len(FINDINGS))).astype(float)
    features = rng.normal(0, 1, (n, 2, 12)) + labels[:, None, :1] * 0.8  # signal for the first finding only
    pool = Pool([], [""] * n, labels, source, fold)
    rows = np.flatnonzero(fold != 0)
    chosen = inner_choice(features, pool, rows, [1, 1, 1, 1])
    assert chosen.shape == (len(FINDINGS),) and set(chosen) <= set(C_GRID)
    scrambled = features.copy()
    scrambled[fold == 0] = rng.normal(0, 5, scrambled[fold == 0].shape)  # the held-out fold: never read
    np.testing.assert_array_equal(inner_choice(scrambled, pool, rows, [1, 1, 1, 1]), chosen)


def test_an_earlier_blocks_pooled_output_is_what_its_trunk_gives_and_is_cached(tmp_path):
    import numpy as np
    import torch

    from skinfindings.data.manifest import read_manifest
    from skinfindings.model.transforms import prepare_photo, to_tensor
    from skinfindings.training.probe import BlockFeatures
    from test_training import easy_set

    manifest = read_manifest(easy_set(tmp_path / "photos", 3, seed=5))
    paths = [str(manifest.root / r.path) for r in manifest.records]
    features = BlockFeatures("efficientnet_lite0", 64, block=2, cache_root=tmp_path / "cache")
    pooled = features.of(paths, progress=False)
    assert pooled.shape == (3, 2, 80)  # block 2 of Lite0: 40 channels, average then maximum, photo and mirror
    assert len(list(features.cache.glob("*.npy"))) == 3 and features.cache.name.endswith("-block2")
    with torch.no_grad():  # the stem and blocks 0-2 of the same pretrained model, run by hand on the first photo
        x = to_tensor(prepare_photo(paths[0], 64)[0], features.mean, features.std)[None]
        x = features.model.blocks[:3](features.model.bn1(features.model.conv_stem(x)))
    expected = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)[0].numpy()
    np.testing.assert_allclose(pooled[0, 0], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(BlockFeatures("efficientnet_lite0", 64, block=2, cache_root=tmp_path / "cache")
                                  .of(paths, progress=False), pooled)  # read back from the cache


def test_a_probe_architecture_names_what_its_classifier_reads():
    from skinfindings.training.probe import base_arch, probe_layout

    assert probe_layout("efficientnet_lite0") == ("efficientnet_lite0", "avg", None, False)
    assert probe_layout("efficientnet_lite1_avgmax_block4") == ("efficientnet_lite1", "avgmax", 4, False)
    assert probe_layout("efficientnet_lite0_avgmax_block4_colour") == ("efficientnet_lite0", "avgmax", 4, True)
    assert base_arch("efficientnet_lite2_avgmax_block2_colour") == "efficientnet_lite2"


def test_the_colour_features_are_the_statistics_of_the_prepared_photo_and_are_cached(tmp_path):
    import numpy as np
    import torch

    from skinfindings.data.manifest import read_manifest
    from skinfindings.model.colour_stats import colour_statistics
    from skinfindings.model.transforms import prepare_photo, to_tensor
    from skinfindings.training.probe import ColourFeatures
    from test_training import easy_set

    manifest = read_manifest(easy_set(tmp_path / "photos", 3, seed=6))
    paths = [str(manifest.root / r.path) for r in manifest.records]
    features = ColourFeatures("efficientnet_lite0", 64, cache_root=tmp_path / "cache")
    stats = features.of(paths, progress=False)
    assert stats.shape == (3, 2, 12) and features.cache.name.endswith("-colour")
    x = to_tensor(prepare_photo(paths[1], 64)[0], features.mean, features.std)[None]
    np.testing.assert_allclose(stats[1, 0], colour_statistics(x, features.mean, features.std)[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(stats[:, 1], stats[:, 0], atol=1e-6)  # the mirror image: the same statistics
    np.testing.assert_array_equal(ColourFeatures("efficientnet_lite0", 64, cache_root=tmp_path / "cache")
                                  .of(paths, progress=False), stats)


def test_rounds_8_and_9_need_calmer_recompressed_faces_at_no_real_loss_of_score():
    from skinfindings.training.recipe_spread import decide_on_recompressed

    def summary(recompressed, score, sd=0.01):
        return {"faces recompressed": {"mean": recompressed, "sd": sd}, "score": {"mean": score, "sd": sd}}

    pick = summary(0.35, 0.750)
    calmer = decide_on_recompressed({"pick": pick, "new": summary(0.20, 0.745)}, "pick")
    assert calmer.startswith("new replaces pick")
    assert decide_on_recompressed({"pick": pick, "new": summary(0.34, 0.760)}, "pick").startswith("pick stays")
    assert decide_on_recompressed({"pick": pick, "new": summary(0.20, 0.730)}, "pick").startswith("pick stays")
    # several challengers: the calmest of those that keep the score wins, not the calmest of all
    three = {"pick": pick, "calmest": summary(0.15, 0.730), "calm": summary(0.25, 0.748), "loud": summary(0.34, 0.755)}
    assert decide_on_recompressed(three, "pick").startswith("calm replaces pick")


def test_a_recompressed_copy_is_a_metadata_free_jpeg_of_its_quality_the_same_every_time(tmp_path):
    import io

    from PIL import Image

    from skinfindings.training.probe import RECOMPRESSED_QUALITY, recompressed
    from test_training import easy_set
    from skinfindings.data.manifest import read_manifest

    manifest = read_manifest(easy_set(tmp_path / "photos", 2, seed=7))
    path = str(manifest.root / manifest.records[0].path)
    low, high = Image.open(io.BytesIO(recompressed(path, 30))), Image.open(io.BytesIO(recompressed(path, 90)))
    assert low.format == high.format == "JPEG" and low.size == high.size == Image.open(path).size
    assert sum(low.quantization[0]) > sum(high.quantization[0])  # coarser quantisation at the lower quality
    assert "exif" not in low.info
    drawn = recompressed(path)
    assert drawn == recompressed(path)  # drawn by the file's name: the same copy, so the same cached features
    quantisation = sum(Image.open(io.BytesIO(drawn)).quantization[0])
    lowest, highest = (sum(Image.open(io.BytesIO(recompressed(path, q))).quantization[0]) for q in RECOMPRESSED_QUALITY)
    assert highest <= quantisation <= lowest


def test_round_10_drops_a_challenger_that_misses_re_saved_crusts():
    from skinfindings.training.recipe_spread import decide_guarding_real

    def summary(recompressed, score, sd=0.01):
        return {"faces recompressed": {"mean": recompressed, "sd": sd}, "score": {"mean": score, "sd": sd}}

    def rows(name, flagged):
        return [{"recipe": name, "real_flagged": {"as taken": 0.93, "recompressed": flagged}}] * 2

    summaries = {"pick": summary(0.33, 0.750), "new": summary(0.15, 0.750)}
    assert decide_guarding_real(summaries, rows("pick", 0.92) + rows("new", 0.90), "pick").startswith("new replaces")
    blind = decide_guarding_real(summaries, rows("pick", 0.92) + rows("new", 0.80), "pick")
    assert blind.startswith("pick stays") and "new misses re-saved crusts" in blind
