"""The learned risk model: relative inputs, monotone fit, calibration, reasons, artifact, and
adaptation to an operator's labels (``learn``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from distillguard.errors import InvalidInputError
from distillguard.scoring.catalog import CATALOG, HAND_SET, feature_columns
from distillguard.scoring.learn import console_labels, read_label_csv
from distillguard.scoring.model import (
    RiskModel,
    align,
    input_names,
    kind_balanced_weights,
    model_inputs,
    percentile,
    resolve,
    training_table,
    volume_cohort,
)


def test_percentile_is_relative_to_the_deployment():
    assert np.allclose(percentile(np.array([1.0, 2.0, 3.0, 4.0])), [0.125, 0.375, 0.625, 0.875])
    # The same account reads the same in a world where every number is ten times larger.
    x = np.array([3.0, 1.0, 7.0, np.nan, 5.0])
    assert np.allclose(percentile(x), percentile(10 * x), equal_nan=True)
    assert np.isnan(percentile(x)[3])
    assert set(volume_cohort(np.arange(100.0))) == {0, 1, 2, 3}


def test_percentile_is_scipys_mid_rank_bit_for_bit():
    """Ties (after rounding to 9 decimals) share the average rank, as scipy's rankdata gives."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(3)
    for t in range(50):
        x = rng.integers(0, 15, 200).astype(float) if t % 2 else rng.random(200)
        x[:5] = x[5] + 1e-12  # equal once rounded: float noise must not order accounts
        x[rng.random(200) < 0.1] = np.nan
        ok = np.isfinite(x)
        want = np.full(200, np.nan)
        want[ok] = (rankdata(np.round(x[ok], 9), method="average") - 0.5) / ok.sum()
        assert np.array_equal(percentile(x), want, equal_nan=True)


def _features(n: int, rng: np.random.Generator) -> pa.Table:
    cols = {"account_id": [f"a{i}" for i in range(n)], "signup_route": ["standard"] * n}
    for c in feature_columns():
        if c not in ("cluster_size", "abused_route"):
            cols[c] = rng.random(n)
    cols["n_requests"] = rng.integers(1, 500, n).astype(float)
    return pa.table(cols)


def test_model_inputs_have_every_catalog_input():
    rng = np.random.default_rng(0)
    f = _features(50, rng)
    strengths = {e: rng.random(50) for e in HAND_SET}
    t = model_inputs(f, strengths, np.zeros(50))
    # every input a model trained now reads, and coh: for models trained before rcv:
    legacy = {n for n in t.column_names if n.startswith("coh:")}
    assert t.column_names[0] == "account_id"
    assert set(t.column_names[1:]) - legacy == set(input_names())
    assert {n[4:] for n in legacy} == {n[4:] for n in input_names() if n.startswith("rcv:")}
    assert all(0 < v < 1 for v in t.column("pct:harvest_share").to_pylist())
    # Every input belongs to one catalog evidence, so reasons can name it.
    names = {e.name for e in CATALOG}
    from distillguard.scoring.model import evidence_of

    assert {evidence_of(n) for n in input_names()} <= names


def _world(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Toy worlds: attackers have more harvest content; everything else is noise."""
    names = input_names()
    X = rng.random((n, len(names)))
    y = rng.random(n) < 0.2
    j = names.index("ev:harvest_content")
    X[:, j] = np.where(y, 0.5 + 0.5 * rng.random(n), 0.6 * rng.random(n)) * shift
    return X, y.astype(int)


@pytest.fixture(scope="module")
def fitted() -> RiskModel:
    rng = np.random.default_rng(1)
    parts = [_world(rng, 400, s) for s in (1.0, 0.9, 1.1)]
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    groups = np.repeat(["w1", "w2", "w3"], 400)
    return RiskModel(max_iter=60).fit(X, y, groups, input_names())


def test_fit_calibrates_out_of_world_and_ranks(fitted):
    X, y = _world(np.random.default_rng(9), 500, 1.0)
    risk = fitted.predict_risk(X)
    assert ((risk >= 0) & (risk <= 1)).all()
    assert risk[y == 1].mean() > 0.6 > 0.3 > risk[y == 0].mean()
    assert fitted.trained_on_ == ["w1", "w2", "w3"]
    assert len(fitted.predict_risk(np.zeros((0, X.shape[1])))) == 0
    # Reasons are measured in the risk's own log-odds, which never saturate at 0 or 1.
    from scipy.special import expit

    assert np.allclose(expit(fitted.log_odds(X)), risk, atol=1e-6)


def test_monotone_in_evidence_with_a_known_direction(fitted):
    X, _ = _world(np.random.default_rng(2), 50, 1.0)
    j = input_names().index("ev:harvest_content")
    lo, hi = X.copy(), X.copy()
    lo[:, j], hi[:, j] = 0.1, 0.9
    assert (fitted.predict_risk(hi) >= fitted.predict_risk(lo) - 1e-12).all()


def test_reasons_come_from_contributions(fitted):
    X, y = _world(np.random.default_rng(3), 200, 1.0)
    rows = np.nonzero(y == 1)[0]
    contrib = fitted.contributions(X, rows)
    top = {max(contrib, key=lambda e, i=i: contrib[e][i]) for i in rows}
    assert top == {"harvest_content"}
    assert all((contrib[e][np.setdiff1d(np.arange(len(X)), rows)] == 0).all() for e in contrib)


def _contributions_one_call_per_group(model: RiskModel, X: np.ndarray, rows: np.ndarray):
    """The definition: one ``log_odds`` call per evidence group, on every row of ``rows``."""
    from distillguard.scoring.model import evidence_groups

    median = np.nanmedian(np.where(np.isfinite(X), X, np.nan), axis=0)
    base = model.log_odds(X[rows])
    out = {}
    for ev, idx in evidence_groups(model.names_).items():
        Xo = X[rows].copy()
        Xo[:, idx] = median[idx]
        out[ev] = np.zeros(len(X))
        out[ev][rows] = np.maximum(base - model.log_odds(Xo), 0.0)
    return out


@pytest.mark.parametrize("adapted", [False, True])
def test_contributions_are_bit_equal_to_one_prediction_per_group(fitted, adapted):
    """Re-reading only the trees and rows a group's median moves gives the same floats."""
    import copy

    rng = np.random.default_rng(5)
    X, y = _world(rng, 300, 1.0)
    X[rng.random(X.shape) < 0.05] = np.nan  # missing inputs take the trees' NaN branches
    X[:40, :10] = np.nanmedian(X, axis=0)[:10]  # rows some groups' medians do not move
    model = fitted
    if adapted:
        labels = np.where(y == 1, 1, -1)
        model = copy.deepcopy(fitted).adapt(np.nan_to_num(X), labels)
    rows = np.nonzero(model.predict_risk(X) >= 0.2)[0]
    assert 0 < len(rows) < len(X)
    got = model.contributions(X, rows)
    want = _contributions_one_call_per_group(model, X, rows)
    assert got.keys() == want.keys()
    assert all(np.array_equal(got[e], want[e]) for e in want)
    assert any(got[e].any() for e in got)
    empty = model.contributions(X, np.zeros(0, np.intp))
    assert all(not v.any() for v in empty.values())


def test_artifact_round_trip(fitted, tmp_path: Path):
    path = fitted.save(tmp_path / "m.json", {"worlds": ["w1"]})
    again = RiskModel.load(path)
    X, _ = _world(np.random.default_rng(4), 30, 1.0)
    assert np.allclose(again.predict_risk(X), fitted.predict_risk(X))
    assert resolve(str(path)).names_ == fitted.names_
    assert resolve("none") is None
    with pytest.raises(InvalidInputError, match="not found"):
        RiskModel.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"format_version": 99, "weights_file": "m.pkl"}')
    with pytest.raises(InvalidInputError):
        RiskModel.load(tmp_path / "bad.json")


def test_builtin_model_is_shipped_and_reads_the_catalog():
    model = resolve("builtin")
    assert model is not None, "the builtin model is missing: run `distillguard train`"
    assert model.names_ == input_names()
    assert len(model.trained_on_) >= 8


def test_adapt_to_positive_only_labels_moves_the_labelled_kind_up(fitted):
    """A deployment whose attackers the model ranks low: labelling a few lifts the rest."""
    rng = np.random.default_rng(5)
    X, _ = _world(rng, 300, 1.0)
    names = input_names()
    j = names.index("ev:payment_ring")
    hidden = np.arange(30)  # attackers showing only a payment ring the model never saw
    X[:, j] = 0.0
    X[hidden, j] = 1.0
    before = fitted.predict_risk(X)
    labels = np.full(300, -1)
    labels[hidden[:10]] = 1  # the operator confirms ten of them
    adapted = RiskModel.load(fitted.save(Path("/tmp") / f"dg-adapt-{id(fitted)}.json"))
    adapted.adapt(X, labels)
    after = adapted.predict_risk(X)
    rest = hidden[10:]
    others = np.arange(30, 300)
    assert np.median(after[rest]) > np.quantile(after[others], 0.9)
    assert np.median(before[rest]) < np.quantile(before[others], 0.9)
    with pytest.raises(InvalidInputError, match="at least one account labelled attack"):
        adapted.adapt(X, np.full(300, -1))


def test_confirming_the_top_of_the_queue_demotes_no_other_attacker(fitted):
    """Confirming the top of the queue must not lower the risk of the attackers left unlabelled
    (an adapter that learns a base rate from positive-only labels demotes them)."""
    X, y = _world(np.random.default_rng(6), 400, 1.0)
    before = fitted.predict_risk(X)
    top = np.argsort(-before)[:10]
    assert y[top].all() and (before[top] > 0.8).all()
    labels = np.full(400, -1)
    labels[top] = 1
    adapted = RiskModel.load(fitted.save(Path("/tmp") / f"dg-agree-{id(fitted)}.json"))
    after = adapted.adapt(X, labels).predict_risk(X)
    rest = np.setdiff1d(np.arange(400), top)
    attackers = rest[y[rest] == 1]
    assert (after[attackers] >= before[attackers] - 0.02).all()
    assert np.mean(after[attackers] >= 0.5) >= np.mean(before[attackers] >= 0.5)


def test_label_csv(tmp_path: Path):
    p = tmp_path / "l.csv"
    p.write_text("account_id,label\na,attack\nb,benign\nc,false_positive\nd,1\n")
    assert read_label_csv(p) == {"a": 1, "b": 0, "c": 0, "d": 1}
    p.write_text("account_id,label\na,maybe\n")
    with pytest.raises(InvalidInputError, match=r"l.csv:2: label 'maybe'"):
        read_label_csv(p)
    p.write_text("who,label\na,attack\n")
    with pytest.raises(InvalidInputError, match="needs the columns account_id"):
        read_label_csv(p)


def test_console_decisions_become_labels(tmp_path: Path):
    from distillguard.online.actions import ActionStore

    store = ActionStore(tmp_path / "actions.sqlite")
    store.apply("account", "acc-1", "block", actor="analyst:ann", reason="confirmed")
    store.label("acc-2", "false_positive", "analyst:ann")
    store.label("acc-3", "attack", "analyst:bob")
    store.close()
    assert console_labels(tmp_path) == {"acc-1": 1, "acc-2": 0, "acc-3": 1}
    assert console_labels(tmp_path / "nowhere") == {}
    con = sqlite3.connect(tmp_path / "actions.sqlite")
    assert con.execute("SELECT count(*) FROM labels").fetchone()[0] == 2
    con.close()


def test_align_fills_missing_inputs_with_nan():
    t = pa.table({"account_id": ["a"], "ev:harvest_content": [0.5]})
    X = align(t, ["ev:harvest_content", "pct:cv_gaps"])
    assert X[0, 0] == 0.5 and np.isnan(X[0, 1])


@pytest.fixture(scope="module")
def unseen(lt):
    """The scoring tests' hand-written traffic: a world the learned model never saw."""
    traffic, engine, _ = lt.analyzed(0, risk_model="builtin")
    label = {r["account_id"]: r for r in traffic.labels}
    out = engine.fetch_arrow("SELECT account_id, risk, verdict, reasons FROM out_accounts")
    return label, out.to_pylist()


def test_learned_model_ranks_an_unseen_world(unseen):
    from sklearn.metrics import roc_auc_score


    label, out = unseen
    y = np.array([bool(label[r["account_id"]]["is_attack"]) for r in out])
    risk = np.array([r["risk"] for r in out])
    assert roc_auc_score(y, risk) >= 0.97
    flagged = [r for r in out if r["verdict"] != "benign"]
    # Every flagged account names its evidence, even where several pieces each suffice.
    assert all(r["reasons"] and "no harvest" not in r["reasons"] for r in flagged)


def test_learned_model_finds_every_campaign_of_an_unseen_world(unseen):
    # campD (one home IP, one browser, human pacing) is found since the random worlds' careful
    # campaigns stopped carrying incidental traits (sim/priors.yaml kind_tactics).
    from distillguard.bench.metrics import recall_at_fpr

    label, out = unseen
    y = np.array([bool(label[r["account_id"]]["is_attack"]) for r in out])
    risk = np.array([r["risk"] for r in out])
    assert recall_at_fpr(y, risk, 0.01)["recall"] >= 0.85
    for camp in ("campA", "campB", "campC", "campD"):
        members = [r for r in out if label[r["account_id"]]["campaign_id"] == camp]
        assert np.mean([r["verdict"] != "benign" for r in members]) >= 0.8, camp


def test_learned_model_leaves_hard_benign_unattacked_in_an_unseen_world(unseen):
    label, out = unseen
    hard = [r for r in out if label[r["account_id"]]["persona"] not in ("benign", "attack")]
    assert np.mean([r["verdict"] == "attack" for r in hard]) <= 0.005


def test_alert_volume_per_threshold_is_reported(lt):
    _, engine, findings = lt.analyzed(0, risk_model="builtin")
    volume = findings.counts["alert_volume"]
    assert list(volume) == ["0.5", "0.7", "0.8", "0.9", "0.95", "0.99"]
    counts = list(volume.values())
    assert counts == sorted(counts, reverse=True)
    n_review = engine.fetch_arrow(
        "SELECT count(*) AS n FROM out_accounts WHERE verdict <> 'benign'"
    ).column("n")[0].as_py()
    assert volume["0.5"] == n_review  # the default review threshold


def test_kind_balanced_weights_give_every_kind_the_same_total():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1])
    kinds = np.array(["", "", "", "hydra", "hydra", "hydra", "hydra", "careful", "careful"])
    w = kind_balanced_weights(y, kinds)
    assert (w[y == 0] == 1).all()  # benign accounts keep their weight
    assert w[y == 1].sum() == pytest.approx(6)  # and so does the attack side as a whole
    assert w[kinds == "hydra"].sum() == pytest.approx(w[kinds == "careful"].sum())


def _two_kind_world(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A big kind shows harvest content, a small one (1 in 12 attackers) machine timing only."""
    names = input_names()
    n_benign, n_big, n_small = 500, 110, 10
    X = 0.6 * rng.random((n_benign + n_big + n_small, len(names)))
    kinds = np.array([""] * n_benign + ["big"] * n_big + ["small"] * n_small, dtype=object)
    big, small = kinds == "big", kinds == "small"
    X[big, names.index("ev:harvest_content")] = 0.7 + 0.3 * rng.random(n_big)
    X[small, names.index("ev:machine_timing")] = 0.7 + 0.3 * rng.random(n_small)
    return X, (kinds != "").astype(int), kinds


def test_kind_balanced_training_raises_the_risk_of_a_small_kind():
    rng = np.random.default_rng(4)
    parts = [_two_kind_world(rng) for _ in range(3)]
    X, y = np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    groups = np.repeat(["w1", "w2", "w3"], len(parts[0][1]))
    weight = np.concatenate([kind_balanced_weights(p[1], p[2]) for p in parts])
    plain = RiskModel(max_iter=60).fit(X, y, groups, input_names())
    balanced = RiskModel(max_iter=60).fit(X, y, groups, input_names(), sample_weight=weight)
    Xt, yt, kt = _two_kind_world(np.random.default_rng(5))
    small, benign = kt == "small", yt == 0
    # Unweighted, the 10-in-120 kind stays below the attack verdict (0.9); weighted, it is an attack.
    assert plain.predict_risk(Xt[small]).max() < 0.9 <= balanced.predict_risk(Xt[small]).min()
    assert balanced.predict_risk(Xt[benign]).max() < 0.5  # no benign account pushed to review


def test_training_table_weighs_each_world_by_its_campaign_kinds(tmp_path: Path):
    import json

    import pyarrow.parquet as pq

    ids = [f"a{i}" for i in range(6)]
    world, found = tmp_path / "w", tmp_path / "f"
    world.mkdir(), found.mkdir()
    (world / "labels.csv").write_text(
        "account_id,is_attack,campaign_id,persona\n"
        + "a0,0,,casual\na1,0,,student\na2,1,hy-1,attack\na3,1,hy-1,attack\n"
        + "a4,1,hy-2,attack\na5,1,ca-3,attack\n"
    )
    campaigns = {"hy-1": {"type": "hydra"}, "hy-2": {"type": "hydra"}, "ca-3": {"type": "careful"}}
    (world / "sim_summary.json").write_text(json.dumps({"campaigns": campaigns}))
    pq.write_table(pa.table({"account_id": ids}), found / "model_inputs.parquet")
    *_, weight = training_table([world], [found], balance_kinds=True)
    # Two hydra campaigns are one kind: its 3 accounts share the weight careful's one carries.
    assert weight.tolist() == pytest.approx([1, 1, 2 / 3, 2 / 3, 2 / 3, 2])
    assert training_table([world], [found])[-1] is None  # off: unweighted
