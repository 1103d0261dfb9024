"""Common estimator checks for every fingerprinter, graph builder, clusterer and scorer, and the
scorers' behaviour evidence by evidence."""

from __future__ import annotations

import inspect

import numpy as np
import pyarrow as pa
import pytest

from distillguard.accounts.fingerprint import AccountFingerprinter
from distillguard.accounts.ipintel import IpIntel
from distillguard.coordination.cluster import LeidenClusterer
from distillguard.coordination.graph import EdgeBuilder
from distillguard.errors import InvalidParameterError, NotFittedError
from distillguard.scoring.policy import ACCOUNT_EVIDENCE, CLUSTER_EVIDENCE
from distillguard.scoring.scorer import AccountScorer, ClusterScorer, account_strengths

ESTIMATORS = [
    IpIntel,
    AccountFingerprinter,
    EdgeBuilder,
    LeidenClusterer,
    ClusterScorer,
    AccountScorer,
]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_common_checks(cls):
    est = cls()  # default-constructible
    params = est.get_params()
    assert list(params) == [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    assert cls(**params).get_params() == params  # clone from params
    assert est.set_params(**params) is est
    with pytest.raises(InvalidParameterError, match="no parameter"):
        est.set_params(bogus=1)
    assert not [k for k in vars(est) if k.endswith("_")]  # nothing learned before fit
    assert cls.__name__ in repr(est)


@pytest.mark.parametrize(
    "call",
    [
        lambda: IpIntel().transform(["1.1.1.1"]),
        lambda: AccountFingerprinter().transform(),
        lambda: LeidenClusterer().labels(),
    ],
)
def test_not_fitted_error(call):
    with pytest.raises(NotFittedError, match="not fitted"):
        call()


def zero_strengths(n: int) -> dict[str, np.ndarray]:
    return {k: np.zeros(n) for k in ACCOUNT_EVIDENCE}


@pytest.mark.parametrize("evidence", ACCOUNT_EVIDENCE)
def test_each_account_evidence_moves_risk_its_way(evidence):
    s = zero_strengths(2)
    s[evidence] = np.array([0.0, 1.0])
    sc = AccountScorer().fit(s)
    if evidence in ("strong_verification", "established_account"):
        assert sc.risk_[1] < sc.risk_[0]
    else:
        assert sc.risk_[1] > sc.risk_[0]
    assert sc.risk_[0] == pytest.approx(1 / (1 + np.exp(5.0)))  # no evidence: bias only


def test_one_trait_is_not_an_attack_but_coordinated_harvest_is():
    s = zero_strengths(4)
    s["harvest_content"][:] = [1, 0, 1, 0.6]  # eval runner, cloud user, campaign, hydra member
    s["datacenter_ips"][1] = 1.0
    s["machine_timing"][1] = 1.0
    s["coordinated_cluster"][2:] = [0.99, 0.95]
    s["weak_verification"][2:] = [1.0, 1.0]
    s["strong_verification"][0] = 1.0
    sc = AccountScorer().fit(s)
    assert list(sc.verdict_[:3]) == ["benign", "benign", "attack"]
    assert sc.verdict_[3] != "benign"
    custom = AccountScorer(weights={"harvest_content": 9.0}).fit(s)
    assert custom.verdict_[0] == "attack"
    with pytest.raises(InvalidParameterError, match="unknown evidence"):
        AccountScorer(weights={"nope": 1.0}).fit(s)
    with pytest.raises(InvalidParameterError, match="missing evidence"):
        AccountScorer().fit({"harvest_content": np.zeros(1)})
    with pytest.raises(InvalidParameterError, match="review_threshold"):
        AccountScorer(review_threshold=0.95, attack_threshold=0.9).fit(s)


def test_cluster_scorer_rewards_size_harvest_and_synchrony():
    members = pa.table(
        {
            "account_id": [f"a{i}" for i in range(30)] + ["b0", "b1", "b2"],
            "cluster_id": ["C1"] * 30 + ["C2"] * 3,
        }
    )
    ids = pa.array([f"a{i}" for i in range(30)] + ["b0", "b1", "b2"])
    s = zero_strengths(33)
    s["harvest_content"][:30] = 0.8
    s["weak_verification"][:30] = 1.0
    edges = pa.table(
        {
            "account_id": ["a0", "a1", "b0"],
            "key_kind": ["template_window", "template_window", "ip"],
            "weight": [0.5, 0.5, 0.5],
        }
    )
    cs = ClusterScorer().fit(members, ids, s, edges)
    got = {r["cluster_id"]: r for r in cs.clusters_.to_pylist()}
    assert (
        got["C1"]["n_accounts"] == 30
        and got["C1"]["s_size"] == 1.0
        and got["C1"]["s_synchrony"] == 1.0
    )
    assert got["C1"]["risk"] > 0.9 > 0.1 > got["C2"]["risk"]
    assert set(f"s_{k}" for k in CLUSTER_EVIDENCE) <= set(cs.clusters_.column_names)
    with pytest.raises(InvalidParameterError, match="size_saturation"):
        ClusterScorer(size_saturation=1).fit(members, ids, s, edges)


def test_content_strength_is_shrunk_for_tiny_accounts():
    t = pa.table({"n_requests": [1, 100], "cot_share": [1.0, 1.0]})
    s = account_strengths(t, {"cot": 1.0})
    assert s["harvest_content"][0] == pytest.approx(1 / 3)
    assert s["harvest_content"][1] == pytest.approx(100 / 102)
