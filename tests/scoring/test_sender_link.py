"""An account at review inherits its attack cluster's verdict through a sender key only
(``scoring.analyze.sender_links`` / ``inherit_attack``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from distillguard.coordination.cluster import LeidenClusterer
from distillguard.policy import Policy, default_policy
from distillguard.scoring.analyze import inherit_attack, sender_links
from distillguard.scoring.policy import ACCOUNT_EVIDENCE
from distillguard.scoring.scorer import AccountScorer

IDS = ["boss", "card_mate", "wording_mate", "quiet_mate", "outsider", "other_member"]


def _scorer(risk: list[float]) -> AccountScorer:
    """A hand-set scorer whose only evidence puts each account at ``risk``."""
    r = np.asarray(risk, float)
    strengths = {k: np.zeros(len(r)) for k in ACCOUNT_EVIDENCE}
    strengths["harvest_content"] = np.log(r / (1 - r))
    weights = {k: 0.0 for k in ACCOUNT_EVIDENCE} | {"harvest_content": 1.0}
    return AccountScorer(bias=0.0, weights=weights).fit(strengths)


def _world(cluster_risk: float = 0.97) -> tuple:
    # boss (attack) pays with card-1 and shares it with card_mate and quiet_mate; wording_mate
    # only sends the cluster's prompt template; outsider (not a member) also pays with card-1;
    # other_member is in a benign cluster.
    edges = pa.table(
        {
            "account_id": [
                "boss", "card_mate", "quiet_mate", "outsider",
                "boss", "card_mate", "wording_mate", "other_member",
            ],
            "key_kind": ["payment"] * 4 + ["template"] * 4,
            "key": ["card-1"] * 4 + ["tpl-1"] * 3 + ["tpl-2"],
            "weight": [1.0] * 8,
        }
    )
    members = pa.table(
        {
            "account_id": ["boss", "card_mate", "wording_mate", "quiet_mate", "other_member"],
            "cluster_id": ["C1", "C1", "C1", "C1", "C2"],
        }
    )
    keys = LeidenClusterer._cluster_keys(edges, members)
    clusters = pa.table({"cluster_id": ["C1", "C2"], "risk": [cluster_risk, 0.2]})
    acc_cluster = np.array(["C1", "C1", "C1", "C1", "", "C2"], dtype=object)
    return pa.array(IDS), acc_cluster, edges, keys, clusters


RISK = [0.97, 0.7, 0.7, 0.3, 0.7, 0.7]


def _run(risk: list[float] = RISK, policy: Policy | None = None, **world) -> AccountScorer:
    pol = (policy or default_policy()).scoring
    ids, acc_cluster, edges, keys, clusters = _world(**world)
    sc = _scorer(risk)
    inherit_attack(sc, sender_links(ids, acc_cluster, edges, keys, clusters, sc, pol))
    return sc


def test_a_card_passes_attack_on_and_a_wording_does_not() -> None:
    sc = _run()
    verdict = dict(zip(IDS, sc.verdict_, strict=True))
    assert verdict["card_mate"] == "attack"  # a member at review sharing the cluster's card
    assert verdict["wording_mate"] == "review"  # shares only the cluster's template
    assert verdict["quiet_mate"] == "benign"  # shares the card but its own risk is below review
    assert verdict["outsider"] == "review"  # pays with the card but is not a member
    assert verdict["other_member"] == "review"  # a member of a benign cluster
    link = sc.sender_links_[IDS.index("card_mate")]
    assert (link.cluster_id, link.key_kind, link.n_members) == ("C1", "payment", 3)


def test_the_lift_is_to_the_attack_line_and_is_the_sender_link_contribution() -> None:
    sc = _run()
    i = IDS.index("card_mate")
    assert sc.risk_[i] == pytest.approx(0.9)
    assert sc.risk_[IDS.index("boss")] == pytest.approx(0.97)  # attacks keep their own risk
    lift = sc.contributions_["sender_link"]
    assert lift[i] == pytest.approx(np.log(0.9 / 0.1) - np.log(0.7 / 0.3))
    assert np.count_nonzero(lift) == 1


def test_no_inheritance_from_a_cluster_below_attack_or_when_turned_off() -> None:
    assert not _run(cluster_risk=0.85).sender_links_
    off = Policy.from_dict({"scoring": {"sender_link_kinds": []}})
    assert "attack" not in set(_run(policy=off).verdict_[1:])


def test_a_key_mostly_used_outside_the_cluster_links_no_one() -> None:
    # card-1 is also used by many non-members: a processor, not the cluster's own card.
    ids, acc_cluster, edges, keys, clusters = _world()
    crowd = [f"crowd{i}" for i in range(6)]
    edges = pa.concat_tables(
        [edges, pa.table({"account_id": crowd, "key_kind": ["payment"] * 6,
                          "key": ["card-1"] * 6, "weight": [1.0] * 6})]
    )
    members = pa.table({"account_id": ["boss", "card_mate", "wording_mate", "quiet_mate"],
                        "cluster_id": ["C1"] * 4})
    keys = LeidenClusterer._cluster_keys(edges, members)
    sc = _scorer(RISK)
    pol = default_policy().scoring
    assert sender_links(ids, acc_cluster, edges, keys, clusters, sc, pol) == {}


def test_hand_written_agentic_campaign_inherits_with_its_reason() -> None:
    """On the hand-written world (another generator), the agentic campaign B's members sit at
    review in a cluster at attack; they share one network and client. No hard-benign account
    becomes attack; turning the rule off leaves B at review."""
    import labelled_traffic as lt

    from distillguard.engines.base import DuckDBEngine
    from distillguard.scoring import analyze

    def run(kinds: list[str] | None) -> dict[str, dict]:
        traffic, engine = lt.build(0), DuckDBEngine()
        lt.load(engine, traffic)
        scoring = {"risk_model": "builtin", "request_model": "none"}
        if kinds is not None:
            scoring["sender_link_kinds"] = kinds
        analyze(engine, Policy.from_dict({"scoring": scoring}))
        out = engine.fetch_arrow("SELECT account_id, verdict, reasons FROM out_accounts")
        label = {r["account_id"]: r for r in traffic.labels}
        return {r["account_id"]: {**r, **label[r["account_id"]]} for r in out.to_pylist()}

    on, off = run(None), run([])
    b_on = [r for r in on.values() if r["campaign_id"] == "campB"]
    b_off = [r for r in off.values() if r["campaign_id"] == "campB"]
    assert all(r["verdict"] == "attack" for r in b_on)
    assert all(r["reasons"].startswith("linked by a network (ASN) with the same user agent to "
                                       "coordinated cluster") for r in b_on)
    assert sum(r["verdict"] == "attack" for r in b_off) < len(b_off) / 2
    hard = [r for r in on.values() if r["persona"] not in ("benign", "attack")]
    assert hard and not any(r["verdict"] == "attack" for r in hard)
    changed = {a for a in on if on[a]["verdict"] != off[a]["verdict"]}
    assert changed and all(on[a]["campaign_id"] for a in changed)  # only campaign accounts moved


def test_with_shared_intel_only_the_local_pass_links_count() -> None:
    """A link the pass with partners' indicators found, and the pass without did not, makes no
    attack (shared intel never does); a local link keeps its attack and its reason."""
    from types import SimpleNamespace

    from distillguard.scoring.analyze import SenderLink, apply_shared_intel

    ids = pa.array(["boss", "local_link", "shared_only"])
    link = SenderLink("C1", 0.97, "payment", 3)
    local = _scorer([0.97, 0.7, 0.6])
    inherit_attack(local, {1: link})
    shared = _scorer([0.97, 0.7, 0.6])
    inherit_attack(shared, {1: link, 2: link})
    matches = pa.table({"account_id": ["shared_only"], "strength": [1.0], "producer": ["p"],
                        "kinds": ["ip"]})
    cs = SimpleNamespace(clusters_=pa.table({"cluster_id": ["C1"], "risk": [0.97]}))
    cl = SimpleNamespace(members_=pa.table({"account_id": ["boss", "local_link", "shared_only"],
                                            "cluster_id": ["C1"] * 3}))
    apply_shared_intel(shared, cs, cl, ids, matches, SimpleNamespace(sc=local), cap=0.75)
    assert list(shared.verdict_) == ["attack", "attack", "review"]
    assert shared.risk_[2] <= 0.75
    assert set(shared.sender_links_) == {1}
    assert shared.contributions_["sender_link"][2] == 0.0
