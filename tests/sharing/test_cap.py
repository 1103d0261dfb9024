"""Shared intel alone never reaches ``attack``: the cap, for accounts and clusters."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from distillguard.errors import PolicyError
from distillguard.policy import Policy
from distillguard.scoring.analyze import apply_shared_intel
from distillguard.scoring.scorer import AccountScorer


def _scorer(risk: list[float]) -> AccountScorer:
    sc = AccountScorer(review_threshold=0.5, attack_threshold=0.9)
    sc.risk_ = np.array(risk)
    sc.verdict_ = sc.verdicts(sc.risk_)
    sc.contributions_ = {"harvest_content": np.zeros(len(risk))}
    return sc


@pytest.mark.parametrize(
    ("local", "shared", "strength", "verdict"),
    [
        (0.05, 0.99, 1.0, "review"),  # the shared pass said attack: capped at 0.75
        (0.05, 0.05, 1.0, "review"),  # no lift in the graph: cap x strength
        (0.05, 0.05, 0.2, "benign"),  # a weak match (a few requests) barely counts
        (0.95, 0.97, 1.0, "attack"),  # a local attack stays one
        (0.60, 0.10, 0.0, "review"),  # never lowered by the shared pass
    ],
)
def test_cap(local, shared, strength, verdict):
    ids = pa.array(["a", "b"])
    sc, loc = _scorer([shared, 0.0]), SimpleNamespace(sc=_scorer([local, 0.0]))
    matches = pa.table({"account_id": ["a"], "strength": [strength], "producer": ["p"],
                        "kinds": ["ip"]})
    clusters = SimpleNamespace(clusters_=pa.table({"cluster_id": ["C1"], "risk": [0.99]}))
    members = SimpleNamespace(members_=pa.table({"account_id": ["a", "b"],
                                                 "cluster_id": ["C1", "C1"]}))
    apply_shared_intel(sc, clusters, members, ids, matches, loc, cap=0.75)
    assert sc.verdict_[0] == verdict
    assert sc.risk_[0] >= local
    if local < 0.9:
        assert sc.risk_[0] <= 0.75
        assert clusters.clusters_.column("risk").to_pylist() == [0.75]
    else:
        assert clusters.clusters_.column("risk").to_pylist() == [0.99]


def test_policy_refuses_a_cap_at_or_above_attack(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("scoring:\n  shared_intel_cap: 0.95\n")
    with pytest.raises(PolicyError, match="shared_intel_cap must be below attack_threshold"):
        Policy.load(p)
