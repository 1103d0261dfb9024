"""Reasons show what lowered an account's risk, not only what raised it (issue 11 §3).

The hand-written world with its honest reasoning users (math teachers older than most of the
deployment), scored by the shipped learned model, for which this traffic is an unseen world."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

from distillguard.engines.outputs import ACCOUNT_REASONS_SQL
from distillguard.scoring.model import align, evidence_groups, resolve


@pytest.fixture(scope="module")
def world(lt):
    if resolve("builtin") is None:
        pytest.skip("no shipped risk model in this tree")
    traffic, engine, _ = lt.analyzed(0, risk_model="builtin", reasoning_users=True)
    return traffic, engine


def _rows(engine, sql: str) -> list[dict]:
    return engine.fetch_arrow(sql).to_pylist()


def test_an_old_account_shows_its_age_lowering_the_risk(world):
    traffic, engine = world
    persona = {r["account_id"]: r["persona"] for r in traffic.labels}
    aged = _rows(
        engine,
        "SELECT subject_id, weight, summary FROM evidence WHERE source = 'lowered:new_account'",
    )
    assert any(persona[r["subject_id"]] == "math_teacher" for r in aged)
    model = resolve("builtin")
    inputs = engine.fetch_arrow("SELECT * FROM model_inputs")
    X = align(inputs, model.names_)
    ids = inputs.column("account_id").to_pylist()
    median = np.nanmedian(np.where(np.isfinite(X), X, np.nan), axis=0)
    age = evidence_groups(model.names_)["new_account"]
    out = {r["account_id"]: r for r in _rows(engine, "SELECT * FROM out_accounts")}
    for r in aged:
        i = ids.index(r["subject_id"])
        assert X[i, model.names_.index("pct:account_age_days")] > 0.5  # older than the median
        assert r["summary"].startswith("older account than most (account age days")
        # The weight is the risk the age took away: the account's risk with its age inputs
        # at the deployment's median, minus its risk.
        moved = X[i : i + 1].copy()
        moved[:, age] = median[age]
        risk = out[r["subject_id"]]["risk"]
        assert model.predict_risk(moved)[0] - risk == pytest.approx(r["weight"], abs=2e-4)
        assert "older account" not in out[r["subject_id"]]["reasons"]  # reasons: what raised it
    # account_reasons.csv: the same reason, its weight with a minus sign
    signed = _rows(engine, ACCOUNT_REASONS_SQL)
    for r in aged:
        (row,) = [
            s for s in signed if s["account_id"] == r["subject_id"] and s["evidence"] == "new_account"
        ]
        assert row["sign"] == "-" and row["weight"] == -r["weight"] and row["reason"] == r["summary"]
    assert {s["sign"] for s in signed} == {"+", "-"}
    assert all((s["sign"] == "-") == (s["weight"] <= 0) for s in signed)


def test_signed_contributions_keep_the_positive_ones_bit_equal(world):
    _, engine = world
    model = resolve("builtin")
    X = align(engine.fetch_arrow("SELECT * FROM model_inputs"), model.names_)
    rows = np.flatnonzero(model.predict_risk(X) >= 0.25)
    signed = model.contributions(X, rows, signed=True)
    raised = model.contributions(X, rows)
    assert all(np.array_equal(np.maximum(signed[e], 0.0), raised[e]) for e in raised)
    assert any((signed[e][rows] < -0.05).any() for e in signed)


def test_lowered_reasons_add_up_to_the_log_odds_they_name(world):
    """Each lowered reason's text names its log-odds; the weight is the same drop in risk."""
    _, engine = world
    got = _rows(
        engine,
        "SELECT e.weight, e.summary, o.risk FROM evidence e "
        "JOIN out_accounts o ON o.account_id = e.subject_id WHERE e.source LIKE 'lowered:%'",
    )
    assert got
    for r in got:
        c = float(r["summary"].split(": ")[-1].split(" log-odds")[0])
        assert c <= -0.05  # below -0.05 before the text rounds it
        want = expit(logit(np.clip(r["risk"], 1e-9, 1 - 1e-9)) - c) - r["risk"]
        # the text rounds the log-odds to 0.01: at most 0.25 x 0.005 in risk
        assert r["weight"] == pytest.approx(want, abs=1.3e-3)


def test_hand_set_weights_show_strong_verification_lowering_the_risk(lt):
    traffic, engine, _ = lt.analyzed(0, risk_model="none")
    verification = {r["account_id"]: r["verification"] for r in traffic.accounts}
    got = _rows(
        engine,
        "SELECT subject_id, summary FROM evidence WHERE source = 'lowered:strong_verification'",
    )
    assert got
    for r in got:
        assert f"(verification {verification[r['subject_id']]})" in r["summary"]
        assert verification[r["subject_id"]] in ("id", "business")
        assert r["summary"].endswith("without it")


def test_online_shows_the_same_lowered_reasons_as_batch(tiny_findings, tiny_data, tmp_path):
    """``/v1/score``'s account risk (the compiled model) lowers by the same evidence as batch,
    worded with the catalog's label and a minus sign, after everything that raised it."""
    import shutil

    import duckdb
    import yaml

    from distillguard.online.normalize import normalize_record
    from distillguard.online.replay import iter_records
    from distillguard.online.scorer import OnlineScorer
    from distillguard.scoring.catalog import lowered_label

    if resolve("builtin") is None:
        pytest.skip("no shipped risk model in this tree")
    root = tiny_findings[0]
    con = duckdb.connect(str(root / "store" / "store.duckdb"), read_only=True)
    batch: dict[str, list[str]] = {}
    for a, src in con.execute(
        "SELECT subject_id, source FROM evidence WHERE source LIKE 'lowered:%' "
        "ORDER BY subject_id, weight DESC"
    ).fetchall():
        batch.setdefault(a, []).append(src)
    con.close()
    chosen = set(sorted(batch)[:40])
    rows = sorted(
        (
            normalize_record(r)
            for r in iter_records(tiny_data / "requests.jsonl.gz")
            if r.get("account_id") in chosen
        ),
        key=lambda r: (r["ts_ms"], r["request_id"]),
    )
    data = tmp_path / "online"
    data.mkdir()
    shutil.copy(root / "store" / "store.duckdb", data / "store.duckdb")
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump({"scoring": {}}))
    scorer = OnlineScorer(data, policy_path=tmp_path / "policy.yaml", load_results=True)
    try:
        decisions = []
        for i in range(0, len(rows), 256):
            decisions += scorer.score_rows([dict(r) for r in rows[i : i + 256]])
        got = {a: scorer.account_risk(a, rows[-1]["ts_ms"]) for a in chosen}
    finally:
        scorer.close()
    agree = []
    for a, r in got.items():
        for e in r.lowered:
            k = e.source.removeprefix("lowered:")
            assert e.summary.startswith(f"- {lowered_label(k)} (-") and 0 <= e.weight <= 1
        if r.lowered:
            agree.append(r.lowered[0].source in batch[a])
    assert len(agree) >= 20 and np.mean(agree) >= 0.8
    # In a decision's reasons what lowered the risk comes after what raised it.
    for d in decisions:
        signs = [x.startswith("- ") for x in d.reasons]
        assert signs == sorted(signs)
    assert any(x.startswith("- ") for d in decisions for x in d.reasons)


def test_batch_and_online_share_one_contributions_function(world):
    """Online's reasons (the compiled trees) are the same function as batch's: the same
    floats as re-scoring every variant whole, and batch's numbers up to the summing order of
    the trees' leaves (scikit-learn adds them one by one, numpy pairwise)."""
    from distillguard.scoring.compiled import CompiledRiskModel

    _, engine = world
    model = resolve("builtin")
    X = align(engine.fetch_arrow("SELECT * FROM model_inputs"), model.names_)
    X[np.random.default_rng(0).random(X.shape) < 0.05] = np.nan  # NaN branches too
    median = np.nanmedian(np.where(np.isfinite(X), X, np.nan), axis=0)
    groups = evidence_groups(model.names_)
    idx = [np.asarray(i, np.intp) for i in groups.values()]
    compiled = CompiledRiskModel(model)
    drops = compiled.drops(X, idx, median)
    whole = compiled.log_odds(X)[:, None] - compiled.variant_log_odds(X, idx, median)
    assert np.array_equal(drops, whole)
    batch = model.contributions(X, np.arange(len(X)), signed=True)
    for g, ev in enumerate(groups):
        assert np.allclose(batch[ev], drops[:, g], rtol=0, atol=1e-9)
    assert (drops < -0.05).any() and (drops > 0.05).any()
