"""The predictions file: what crossval writes and evaluate / compare read back."""

from __future__ import annotations

import numpy as np
import pytest

from skinfindings.findings import FINDINGS
from skinfindings.training.predictions import Predictions, read_predictions, write_predictions


def _predictions(n: int = 4) -> Predictions:
    rng = np.random.default_rng(0)
    probs = rng.random((n, len(FINDINGS)))
    probs[1] = np.nan  # a photo that was not assessed
    return Predictions(sha256=[f"{i:064x}" for i in range(n)], paths=[f"p{i}.jpg" for i in range(n)],
                       probabilities=probs, thresholds=np.full((n, len(FINDINGS)), 0.3), folds=[0, 0, 1, None],
                       abstained=["", "too dark", "", ""], kind="out-of-fold", about={"command": "x"})


def test_round_trip_keeps_values_gaps_folds_and_kind(tmp_path):
    original = _predictions()
    back = read_predictions(write_predictions(tmp_path / "p.csv", original))
    assert back.kind == "out-of-fold" and back.about == {"command": "x"}
    assert back.folds == [0, 0, 1, None] and back.abstained == original.abstained
    np.testing.assert_allclose(back.probabilities, original.probabilities, atol=1e-6)
    assert np.isnan(back.probabilities[1]).all()
    assert back.rows_for([f"{2:064x}", f"{0:064x}"]).tolist() == [2, 0]
    with pytest.raises(ValueError, match="no row"):
        back.rows_for(["f" * 64])


def test_shape_and_kind_are_checked():
    good = _predictions()
    with pytest.raises(ValueError, match="kind"):
        Predictions(good.sha256, good.paths, good.probabilities, good.thresholds, good.folds, good.abstained, kind="oof")
    with pytest.raises(ValueError, match="probabilities"):
        Predictions(good.sha256, good.paths, good.probabilities[:, :2], good.thresholds, good.folds, good.abstained)
