"""Template affinity to attack clusters: accounts outside a cluster that lean on its campaign
templates gain risk; accounts on a popular template a benign crowd also sends do not."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from distillguard.engines.base import DuckDBEngine
from distillguard.policy import default_policy
from distillguard.scoring import definitions as d
from distillguard.scoring.analyze import _account_evidence, _template_affinity
from distillguard.scoring.policy import ACCOUNT_EVIDENCE
from distillguard.scoring.scorer import AccountScorer, account_strengths

POL = default_policy().scoring


def _traffic() -> tuple[DuckDBEngine, pa.Array, pa.Table, pa.Table, pa.Table]:
    """Cluster C1 (attack): m0..m4 on campaign templates T1/T2 and the popular template P.
    Cluster C2 (review): r0..r2 on template R. Outsiders: h0 (a hydra account, 3 of 4 requests
    on T1/T2), b0..b9 (a benign crowd on P), k0 (one request on R)."""
    rows: list[tuple[str, str]] = []
    for i in range(5):
        rows += [(f"m{i}", "T1"), (f"m{i}", "T2"), (f"m{i}", "P")]
    for i in range(3):
        rows += [(f"r{i}", "R"), (f"r{i}", "R")]
    rows += [("h0", "T1"), ("h0", "T2"), ("h0", "T1"), ("h0", "own")]
    for i in range(10):
        rows += [(f"b{i}", "P"), (f"b{i}", "P"), (f"b{i}", f"q{i}")]
    rows += [("k0", "R"), ("k0", "x")]
    keys = pa.table(
        {
            "request_id": [f"req{j}" for j in range(len(rows))],
            "account_id": [a for a, _ in rows],
            "template": [t for _, t in rows],
            "ts_ms": pa.array(range(len(rows)), pa.int64()),
        }
    )
    eng = DuckDBEngine()
    eng.register_arrow("request_keys", keys)
    ids = pa.array(sorted({a for a, _ in rows}), pa.string())
    counts = {a: sum(1 for x, _ in rows if x == a) for a in ids.to_pylist()}
    features = pa.table(
        {"account_id": ids, "n_requests": [float(counts[a]) for a in ids.to_pylist()]}
    )
    members = pa.table(
        {
            "account_id": [f"m{i}" for i in range(5)] + [f"r{i}" for i in range(3)],
            "cluster_id": ["C1"] * 5 + ["C2"] * 3,
        }
    )
    clusters = pa.table({"cluster_id": ["C1", "C2"], "risk": [0.97, 0.6]})
    return eng, ids, features, members, clusters


@pytest.fixture(scope="module")
def affinity():
    eng, ids, features, members, clusters = _traffic()
    strength, info = _template_affinity(eng, ids, features, members, clusters, POL)
    pos = {a: i for i, a in enumerate(ids.to_pylist())}
    return eng, pos, strength, info, features


def test_campaign_templates_are_the_attack_clusters_exclusive_ones(affinity):
    eng = affinity[0]
    got = {r["template"]: r for r in eng.fetch_arrow("SELECT * FROM attack_templates").to_pylist()}
    # P is used by all of C1 but also by ten benign accounts; R belongs to a review cluster.
    assert set(got) == {"T1", "T2"}
    assert got["T1"]["cluster_id"] == "C1" and got["T1"]["n_attack"] == 5


def test_fires_on_an_outsider_leaning_on_the_campaign_templates(affinity):
    _, pos, strength, info, _ = affinity
    h = pos["h0"]
    assert strength[h] == pytest.approx(0.75 * 4 / 6)  # share 3/4, shrunk by n/(n+2)
    cluster, share, refs = info[h]
    assert (cluster, share) == ("C1", 0.75) and len(refs) == 3
    # Members are scored by their cluster already: no affinity for them.
    assert all(strength[pos[f"m{i}"]] == 0 for i in range(5))


def test_quiet_on_a_benign_crowd_sharing_a_popular_template(affinity):
    _, pos, strength, info, _ = affinity
    quiet = [f"b{i}" for i in range(10)] + ["k0"] + [f"r{i}" for i in range(3)]
    assert all(strength[pos[a]] == 0 and pos[a] not in info for a in quiet)


def test_affinity_raises_risk_with_a_reason_naming_the_cluster(affinity):
    _, pos, strength, info, features = affinity
    n = features.num_rows
    # h0 also carries a few weak traits of its own (as an unclustered hydra account does).
    s = account_strengths(features, POL.signal_weights, np.zeros(n), strength)
    assert set(s) == set(ACCOUNT_EVIDENCE)
    for k in ("weak_verification", "new_account", "ip_rotation"):
        s[k][pos["h0"]] = s[k][pos["b0"]] = 1.0
    with_it = AccountScorer(weights=dict(POL.account_weights)).fit(s)
    s["attack_template_affinity"][:] = 0
    without = AccountScorer(weights=dict(POL.account_weights)).fit(s)
    h, b = pos["h0"], pos["b0"]
    assert without.verdict_[h] == "benign" and with_it.verdict_[h] == "attack"
    assert with_it.risk_[b] == without.risk_[b] and with_it.verdict_[b] == "benign"
    f = {"n_requests": np.asarray(features.column("n_requests").to_pylist(), float)}
    contrib = {"attack_template_affinity": with_it.contributions_["attack_template_affinity"]}
    evs = _account_evidence(h, f, contrib, float(with_it.risk_[h]), "", {}, {}, None, info)
    assert any(
        e.source == "account:attack_template_affinity"
        and e.summary
        == "75% of its requests use prompt templates characteristic of coordinated cluster C1 (attack)"
        for e in evs
    )


def test_request_scores_mark_campaign_template_requests_of_affine_accounts_only(affinity):
    eng, pos, strength, _, _ = affinity
    keys = eng.fetch_arrow("SELECT request_id, account_id, template, ts_ms FROM request_keys")
    n = keys.num_rows
    zero = pa.array(np.zeros(n), pa.float32())
    rk = keys.append_column("session_id", pa.nulls(n, pa.string()))
    for c in ("ip", "prefix", "asn", "model", "signal_hits"):
        rk = rk.append_column(c, pa.nulls(n, pa.string()))
    rk = rk.append_column("n_user_turns", pa.array([1] * n, pa.int32()))
    for c in ("harvest", "sig_cot", "sig_rubric", "sig_synth", "sig_format", "sig_rewrite"):
        rk = rk.append_column(c, zero)
    eng.register_arrow("request_keys", rk)
    ids = sorted(pos, key=pos.get)
    risk = [0.95 if a == "h0" else 0.01 for a in ids]
    eng.register_arrow(
        "score_accounts",
        pa.table(
            {
                "account_id": ids,
                "risk": risk,
                "verdict": ["attack" if r > 0.9 else "benign" for r in risk],
                "cluster_id": pa.nulls(len(ids), pa.string()),
                "rotation": np.zeros(len(ids)),
                "pivot": np.zeros(len(ids)),
                "affinity": strength,
            }
        ),
    )
    eng.register_arrow(
        "cluster_templates",
        pa.table(
            {
                "cluster_id": pa.array([], pa.string()),
                "template": pa.array([], pa.string()),
                "risk": pa.array([], pa.float64()),
            }
        ),
    )
    sw = {f"w_{k}": 1.0 for k in ("cot", "rubric", "synth", "format", "rewrite")}
    sql = d.REQUEST_SCORES.format(
        floor=0.3,
        w_template=0.9,
        thr=0.5,
        w_ip_once=0.7,
        w_net_once=0.3,
        followup=0.3,
        w_pivot=0.5,
        new_model="",
        **sw,
    )
    out = {r["request_id"]: r for r in eng.fetch_arrow(sql).to_pylist()}
    tpl = dict(
        zip(keys.column("request_id").to_pylist(), keys.column("template").to_pylist(), strict=True)
    )
    acc = dict(
        zip(
            keys.column("request_id").to_pylist(),
            keys.column("account_id").to_pylist(),
            strict=True,
        )
    )
    h_rows = {r: out[r] for r in out if acc[r] == "h0"}
    assert {r for r, v in h_rows.items() if v["risk"] >= 0.5} == {
        r for r in h_rows if tpl[r] in ("T1", "T2")
    }
    assert all("campaign_template:C1" in h_rows[r]["signals"] for r in h_rows if tpl[r] != "own")
    # Benign crowd: nothing marked.
    assert not [r for r, v in out.items() if acc[r].startswith("b") and v["risk"] >= 0.5]
