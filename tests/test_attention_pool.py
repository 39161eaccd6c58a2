"""Attention pooling over a feature map: it starts as the average, learns where a small finding is, and the module
that would ship gives the logits the fit optimised."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from skinfindings.training.attention_pool import AttentionPool, attention_logits, fit_attention


def _maps(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2 views, 8 channels, 4, 4) noise; positives carry a strong value in channel 0 at ONE random position
    (a milium in a 4 x 4 map), which the average dilutes 16-fold. Finding 1 has no signal."""
    rng = np.random.default_rng(seed)
    maps = rng.normal(0, 1, (n, 2, 8, 4, 4)).astype(np.float16)
    labels = np.zeros((n, 2))
    labels[: n // 2, 0] = 1
    for i in range(n // 2):
        y, x = rng.integers(0, 4, 2)
        maps[i, :, 0, y, x] += 4.0
    labels[:, 1] = rng.integers(0, 2, n)
    return maps, labels


def test_uniform_attention_is_average_pooling():
    pool = AttentionPool(8, 2)
    with torch.no_grad():
        pool.score.normal_()
    maps = torch.randn(3, 8, 4, 4)
    expected = maps.mean(dim=(2, 3)) @ pool.score.T.detach()
    assert torch.allclose(pool(maps), expected, atol=1e-5)


def test_it_finds_a_small_finding_the_average_dilutes_and_is_deterministic():
    maps, labels = _maps(400, seed=0)
    test_maps, test_labels = _maps(400, seed=1)
    weights = np.ones(len(maps))
    head = fit_attention(maps, labels, weights, c=1.0)
    logits = attention_logits(head, test_maps[:, 0])
    average = test_maps[:, 0, 0].astype(float).mean(axis=(1, 2))
    assert roc_auc_score(test_labels[:, 0], logits[:, 0]) > roc_auc_score(test_labels[:, 0], average) + 0.05
    assert abs(roc_auc_score(test_labels[:, 1], logits[:, 1]) - 0.5) < 0.1  # no signal: no skill
    again = attention_logits(fit_attention(maps, labels, weights, c=1.0), test_maps[:, 0])
    np.testing.assert_array_equal(logits, again)


def test_unlabelled_rows_and_a_finding_without_positives_are_left_out():
    maps, labels = _maps(200, seed=2)
    labels[:50, 0] = np.nan
    labels[:, 1] = 0  # nothing to separate
    head = fit_attention(maps, labels, np.ones(len(maps)), c=1.0)
    assert torch.all(head.score[1] == 0) and torch.all(head.attend[1] == 0)
    assert np.isfinite(attention_logits(head, maps[:, 0])).all()
