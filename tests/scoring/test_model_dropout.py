"""Evidence dropout: the risk model also trains on copies of campaign accounts with one piece
of evidence read from an ordinary account of their deployment (``fit_risk_model(dropout=...)``),
so evidence a held-out kind still shows keeps its weight."""

from __future__ import annotations

import numpy as np

from distillguard.scoring.model import (
    RiskModel,
    evidence_dropout,
    evidence_groups,
    input_names,
    masking_units,
)

NAMES = input_names()


def _world(rng: np.random.Generator, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Attackers show loud harvest content AND machine timing; benign accounts neither."""
    X = 0.5 * rng.random((n, len(NAMES)))
    y = (rng.random(n) < 0.2).astype(int)
    for name in ("ev:harvest_content", "ev:machine_timing"):
        j = NAMES.index(name)
        X[y == 1, j] = 0.8 + 0.2 * rng.random(int(y.sum()))
    return X, y


def _fit(dropout: bool) -> RiskModel:
    rng = np.random.default_rng(7)
    parts = [_world(rng) for _ in range(3)]
    X, y = np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    dep = np.repeat([0, 1, 2], 600)
    groups = np.array(["w1", "w2", "w3"], dtype=object)[dep]
    extra = None
    if dropout:
        cX, cy, src = evidence_dropout(X, y, dep, NAMES)
        extra = (cX, cy, groups[src], np.full(len(cy), 1 / len(masking_units(NAMES))))
    return RiskModel(max_iter=60).fit(X, y, groups, NAMES, extra=extra)


def test_a_copy_changes_one_unit_to_a_benign_account_of_its_own_deployment():
    rng = np.random.default_rng(0)
    (X0, y0), (X1, y1) = _world(rng, 80), _world(rng, 90)
    X, y, dep = np.vstack([X0, X1]), np.r_[y0, y1], np.repeat([0, 1], [80, 90])
    cX, cy, src = evidence_dropout(X, y, dep, NAMES)
    units = masking_units(NAMES)
    assert (cy == 1).all() and (y[src] == 1).all()  # only campaign accounts are copied
    assert len(cy) == int(y.sum()) * len(units)  # once per unit
    # every input sits in exactly one unit; age's flag and rank are masked together
    assert sorted(np.concatenate(units).tolist()) == list(range(len(NAMES)))
    age = next(u for u in units if NAMES.index("pct:account_age_days") in u)
    assert NAMES.index("ev:established_account") in age
    for row, s in zip(cX, src, strict=True):
        changed = np.nonzero(row != X[s])[0]
        unit = next(u for u in units if set(changed) <= set(u.tolist()))
        donors = np.nonzero((dep == dep[s]) & (y == 0))[0]
        assert any(np.array_equal(row[unit], X[d, unit]) for d in donors)


def test_the_copies_are_reproducible():
    X, y = _world(np.random.default_rng(1), 100)
    dep = np.zeros(100, int)
    a, b = evidence_dropout(X, y, dep, NAMES), evidence_dropout(X, y, dep, NAMES)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))


def test_dropout_keeps_weight_on_the_quieter_evidence():
    """A kind never seen in training that shows machine timing but no harvest content: the
    plain model leans on the louder harvest content; with dropout, timing alone carries risk,
    and benign accounts stay low."""
    plain, dropped = _fit(False), _fit(True)
    X, y = _world(np.random.default_rng(11))
    quiet = X[y == 1].copy()
    quiet[:, NAMES.index("ev:harvest_content")] = 0.25  # a benign account's content
    assert np.median(dropped.predict_risk(quiet)) > np.median(plain.predict_risk(quiet)) + 0.2
    assert dropped.predict_risk(X[y == 0]).max() < 0.5
    # calibrated on the real accounts only: every real row counted once
    assert dropped.n_train_ == plain.n_train_ == 1800


def test_every_evidence_group_is_in_one_unit():
    units = masking_units(NAMES)
    groups = evidence_groups(NAMES)
    assert len(units) == len(groups) - 2  # two evidence share a field with another
