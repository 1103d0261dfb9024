"""A bagged risk model (``RiskModel(n_bags=K)``): K boosters on bootstraps of the train worlds,
merged into one booster whose log-odds are their mean, calibrated on out-of-bag predictions."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.scoring.booster import merge_boosters, world_draws
from distillguard.scoring.compiled import CompiledRiskModel
from distillguard.scoring.model import RiskModel, input_names

NAMES = input_names()
WORLDS = np.array([f"{s}-w{i}" for s in ("tiny", "small") for i in range(1, 5)])


def _world(rng: np.random.Generator, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Attackers show more harvest content; a world's noise moves the rest."""
    X = rng.random((n, len(NAMES)))
    y = (rng.random(n) < 0.2).astype(int)
    j = NAMES.index("ev:harvest_content")
    X[:, j] = np.where(y == 1, 0.5 + 0.5 * rng.random(n), 0.6 * rng.random(n))
    return X, y


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    parts = [_world(rng) for _ in WORLDS]
    X, y = np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return X, y, np.repeat(WORLDS, 200)


@pytest.fixture(scope="module")
def bagged() -> RiskModel:
    X, y, g = _data()
    return RiskModel(max_iter=20, n_bags=4).fit(X, y, g, NAMES)


def test_world_draws_keep_each_size_and_leave_every_world_out_once():
    draws = world_draws(WORLDS, 3, 0)
    assert len(draws) >= 3
    assert draws == world_draws(WORLDS, 3, 0)  # seeded
    for d in draws:  # 4 tiny and 4 small worlds in every draw
        assert sum(n for w, n in d.items() if w.startswith("tiny")) == 4
        assert sum(d.values()) == len(WORLDS)
    assert all(any(d[w] == 0 for d in draws) for w in WORLDS)


def test_merged_booster_is_the_mean_of_its_boosters():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y, _ = _data()
    boosters = [
        HistGradientBoostingClassifier(max_iter=10 + 5 * k, random_state=0).fit(X[k::2], y[k::2])
        for k in range(2)
    ]
    want = np.mean([b.decision_function(X) for b in boosters], axis=0)
    assert np.allclose(merge_boosters(boosters).decision_function(X), want)


def test_bagged_model_ranks_calibrates_and_explains(bagged):
    X, y = _world(np.random.default_rng(9), 400)
    risk = bagged.predict_risk(X)
    assert risk[y == 1].mean() > 0.6 > 0.3 > risk[y == 0].mean()
    draws = world_draws(np.repeat(WORLDS, 200), 4, 0)  # 4, or more until each world is out once
    assert len(bagged.booster_._predictors) == len(draws) * 20  # every booster's trees, one model
    rows = np.nonzero(y == 1)[0]
    contrib = bagged.contributions(X, rows)
    assert {max(contrib, key=lambda e, i=i: contrib[e][i]) for i in rows} == {"harvest_content"}
    # online reads the same merged trees: the same log-odds
    assert np.allclose(CompiledRiskModel(bagged).log_odds(X), bagged.log_odds(X))


def test_bagged_model_round_trips(bagged, tmp_path):
    again = RiskModel.load(bagged.save(tmp_path / "m.json"))
    assert again.n_bags == 4
    X, _ = _world(np.random.default_rng(4), 30)
    assert np.array_equal(again.predict_risk(X), bagged.predict_risk(X))
