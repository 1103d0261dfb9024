"""The numpy evaluation of a fitted risk model computes scikit-learn's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.scoring.compiled import CompiledRiskModel
from distillguard.scoring.model import resolve


@pytest.fixture(scope="module")
def builtin():
    model = resolve("builtin")
    if model is None:
        pytest.skip("no shipped risk model in this tree (run `distillguard train`)")
    return model


def _inputs(model, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.random((n, len(model.names_)))
    X[rng.random(X.shape) < 0.25] = np.nan  # missing inputs take the learned side
    return X


def test_compiled_trees_match_scikit_learn(builtin) -> None:
    X = _inputs(builtin, 2000, 0)
    fast = CompiledRiskModel(builtin)
    assert np.allclose(fast.raw_proba(X), builtin.booster_.predict_proba(X)[:, 1], atol=1e-12)
    assert np.allclose(fast.predict_risk(X), builtin.predict_risk(X), atol=1e-12)
    assert np.allclose(fast.predict_risk(X[:1]), builtin.predict_risk(X[:1]), atol=1e-12)
    assert np.allclose(fast.log_odds(X), builtin.log_odds(X), atol=1e-9)  # reasons' unit


def test_compiled_model_follows_a_deployment_adapter(builtin) -> None:
    import copy

    model = copy.deepcopy(builtin)
    X = _inputs(model, 400, 1)
    labels = np.full(400, -1)
    labels[:20], labels[20:60] = 1, 0
    model.adapt(X, labels)
    fast = CompiledRiskModel(model)
    assert np.allclose(fast.predict_risk(X), model.predict_risk(X), atol=1e-12)
    assert np.allclose(fast.log_odds(X), model.log_odds(X), atol=1e-9)
    assert not np.allclose(fast.predict_risk(X), CompiledRiskModel(builtin).predict_risk(X))
