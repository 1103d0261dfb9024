"""Account fingerprints: each feature fires on attack-like traffic and stays quiet on benign."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from distillguard.accounts.fingerprint import AccountFingerprinter
from distillguard.accounts.units import DEFAULT_UNITS
from distillguard.engines.base import DuckDBEngine
from distillguard.errors import InvalidInputError, InvalidParameterError, NotFittedError

H = 3_600_000


def features(lt, rows, accounts=None, **params):
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    if accounts is not None:
        engine.register_arrow("accounts", pa.Table.from_pylist(accounts))
    fp = AccountFingerprinter(**params).fit(engine)
    return {r["account_id"]: r for r in fp.features_.to_pylist()}, fp, engine


def test_timing_regular_bot_vs_human(lt):
    rng = np.random.default_rng(0)
    bot = [{"account_id": "bot", "ts_ms": lt.T0 + i * 60_000} for i in range(60)]
    human_ts = lt.T0 + np.cumsum(rng.exponential(20 * 60_000, 60) * rng.choice([0.05, 1, 8], 60))
    human = [{"account_id": "human", "ts_ms": int(t)} for t in human_ts]
    f, _, _ = features(lt, bot + human)
    assert f["bot"]["cv_gaps"] == pytest.approx(0.0)
    assert f["bot"]["burstiness"] == pytest.approx(-1.0)
    assert f["human"]["cv_gaps"] > 1.0 and f["human"]["burstiness"] > 0
    assert f["bot"]["rate_per_active_hour"] > f["human"]["rate_per_active_hour"]
    assert f["bot"]["n_requests"] == 60 and f["bot"]["active_hours"] == 1
    assert f["bot"]["peak_hour_requests"] == 60


def test_hour_of_day_entropy(lt):
    round_clock = [{"account_id": "farm", "ts_ms": lt.T0 + h * H} for h in range(48)]
    office = [
        {"account_id": "office", "ts_ms": lt.T0 + d * 24 * H + 10 * H + m * 60_000}
        for d in range(4)
        for m in range(12)
    ]
    f, _, _ = features(lt, round_clock + office)
    assert f["farm"]["hod_entropy"] == pytest.approx(1.0)
    assert f["office"]["hod_entropy"] == pytest.approx(0.0, abs=1e-9)
    assert f["office"]["active_days"] == 4


def test_sessions_tokens_max_tokens_reasoning(lt):
    harvest = [
        {
            "account_id": "h",
            "ts_ms": lt.T0 + i,
            "n_user_turns": 1,
            "max_tokens": 8192.0,
            "reasoning": "high",
            "input_tokens": 100,
            "output_tokens": 3000,
        }
        for i in range(20)
    ]
    chat = [
        {
            "account_id": "c",
            "ts_ms": lt.T0 + i,
            "n_user_turns": 1 + i % 4,
            "max_tokens": [256.0, 1024.0, None][i % 3],
            "reasoning": [None, "none"][i % 2],
            "input_tokens": 400,
            "output_tokens": 300,
        }
        for i in range(20)
    ]
    f, _, _ = features(lt, harvest + chat)
    assert f["h"]["multi_turn_share"] == 0 and f["c"]["multi_turn_share"] == pytest.approx(0.75)
    assert f["c"]["mean_user_turns"] == pytest.approx(2.5)
    assert f["h"]["out_in_ratio"] == pytest.approx(30.0) and f["c"]["out_in_ratio"] < 1
    assert f["h"]["mt_top_share"] == 1.0 and f["c"]["mt_top_share"] == pytest.approx(7 / 20)
    assert f["h"]["reasoning_share"] == 1.0 and f["c"]["reasoning_share"] == 0.0


def test_signal_shares_and_threshold(lt):
    rows = [
        {
            "account_id": "h",
            "ts_ms": lt.T0 + i,
            "sig_cot": 0.9,
            "sig_rubric": 0.6 if i % 2 else 0.0,
            "sig_rewrite": 0.4,
        }
        for i in range(10)
    ]
    rows += [
        {
            "account_id": "b",
            "ts_ms": lt.T0 + i,
            "sig_cot": 0.2,
            "sig_format": 0.7 if i == 0 else 0.0,
        }
        for i in range(10)
    ]
    f, _, _ = features(lt, rows)
    assert (
        f["h"]["cot_share"] == 1.0
        and f["h"]["rubric_share"] == 0.5
        and f["h"]["rewrite_share"] == 0.0
    )
    assert f["h"]["harvest_share"] == 1.0
    assert f["b"]["cot_share"] == 0.0 and f["b"]["format_share"] == pytest.approx(0.1)
    f2, _, _ = features(lt, rows, signal_threshold=0.3)
    assert f2["h"]["rewrite_share"] == 1.0


def test_template_and_capability_concentration_and_script(lt):
    rows = [
        {
            "account_id": "t",
            "ts_ms": lt.T0 + i,
            "skeleton_hash": 7,
            "capability": "math",
            "script": "cjk" if i % 2 else "latin",
        }
        for i in range(20)
    ]
    rows += [
        {
            "account_id": "u",
            "ts_ms": lt.T0 + i,
            "skeleton_hash": 100 + i,
            "capability": ["math", "code", "chat", "other"][i % 4],
        }
        for i in range(20)
    ]
    f, _, _ = features(lt, rows)
    assert f["t"]["tpl_top_share"] == 1.0 and f["t"]["templates_per_request"] == pytest.approx(0.05)
    assert f["u"]["tpl_top_share"] == pytest.approx(0.05) and f["u"]["templates_per_request"] == 1.0
    assert f["t"]["cap_top_share"] == 1.0 and f["t"]["cap_entropy"] == pytest.approx(0.0, abs=1e-9)
    assert f["u"]["cap_entropy"] == pytest.approx(np.log(4) / np.log(6))
    assert f["t"]["non_latin_share"] == 0.5 and f["u"]["non_latin_share"] == 0.0


def test_templates_table_groups_near_duplicate_skeletons(lt):
    rows = [{"account_id": "p", "ts_ms": lt.T0 + i, "skeleton_hash": 1000 + i} for i in range(10)]
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    # The TemplateIndex maps the paraphrases (different skeletons) to one template.
    engine.register_arrow(
        "templates",
        pa.table(
            {
                "skeleton_hash": pa.array(range(1000, 1010), pa.uint64()),
                "template_id": pa.array([5] * 10, pa.int64()),
            }
        ),
    )
    f = AccountFingerprinter().fit(engine).features_.to_pylist()[0]
    assert f["tpl_top_share"] == 1.0 and f["n_templates"] == 1


def test_infrastructure_diversity_and_kinds(lt):
    rot = [
        {"account_id": "rot", "ts_ms": lt.T0 + i, "ip": f"52.95.{i}.7", "user_agent": f"ua{i % 5}"}
        for i in range(20)
    ]
    home = [
        {"account_id": "home", "ts_ms": lt.T0 + i, "ip": "81.2.69.160", "user_agent": "Firefox"}
        for i in range(20)
    ]
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rot + home))
    from distillguard.accounts.ipintel import IpIntel, enrich_ips

    enrich_ips(engine, IpIntel().fit())
    f = {r["account_id"]: r for r in AccountFingerprinter().fit(engine).features_.to_pylist()}
    assert f["rot"]["n_ips"] == 20 and f["rot"]["n_prefixes"] == 20 and f["rot"]["n_uas"] == 5
    assert f["rot"]["datacenter_share"] == 1.0 and f["rot"]["ips_per_request"] == 1.0
    assert (
        f["home"]["n_ips"] == 1
        and f["home"]["datacenter_share"] == 0.0
        and f["home"]["n_asns"] == 1
    )


def test_signup_verification_age_from_account_table(lt):
    rows = [
        {"account_id": "new", "ts_ms": lt.T0 + 36 * H},
        {"account_id": "old", "ts_ms": lt.T0},
        {"account_id": "none", "ts_ms": lt.T0},
    ]
    accounts = [
        {
            "account_id": "new",
            "created_at": "2026-01-01T00:00:00Z",
            "signup_route": "Education",
            "verification": "none",
        },
        {
            "account_id": "old",
            "created_at": "2025-01-01T00:00:00+00:00",
            "signup_route": "enterprise",
            "verification": "business",
        },
    ]
    f, _, _ = features(lt, rows, accounts)
    assert f["new"]["account_age_days"] == pytest.approx(1.5)
    assert f["new"]["signup_route"] == "education" and f["new"]["verification"] == "none"
    assert f["old"]["account_age_days"] == pytest.approx(365.0)
    assert f["none"]["account_age_days"] is None and f["none"]["verification"] is None


def test_account_table_epoch_and_timestamp_types(lt):
    rows = [
        {"account_id": "a", "ts_ms": lt.T0 + 24 * H},
        {"account_id": "b", "ts_ms": lt.T0 + 24 * H},
    ]
    t = pa.table({"account_id": ["a", "b"], "created_at": pa.array([lt.T0, lt.T0], pa.int64())})
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    engine.register_arrow("accounts", t)
    f = AccountFingerprinter().fit(engine).features_.to_pylist()
    assert [r["account_age_days"] for r in f] == [pytest.approx(1.0)] * 2
    engine.register_arrow(
        "accounts", t.set_column(1, "created_at", pa.array([lt.T0 // 1000] * 2, pa.timestamp("s")))
    )
    f = AccountFingerprinter().fit(engine).features_.to_pylist()
    assert [r["account_age_days"] for r in f] == [pytest.approx(1.0)] * 2


def test_model_pivot(lt):
    rel = lt.T0 + 3 * 24 * H
    base = [
        {"account_id": a, "ts_ms": lt.T0 + i * H, "model": lt.OLD}
        for a in ("piv", "slow")
        for i in range(40)
    ]
    piv = [
        {"account_id": "piv", "ts_ms": rel + 60_000 + i * 1000, "model": lt.NEW} for i in range(30)
    ]
    slow = [
        {"account_id": "slow", "ts_ms": rel + i * H, "model": lt.OLD if i < 20 else lt.NEW}
        for i in range(24)
    ]
    f, fp, _ = features(
        lt,
        base + piv + slow + [{"account_id": "x", "ts_ms": rel, "model": lt.NEW}],
        pivot_min_requests=5,
    )
    assert fp.new_model_ == lt.NEW and fp.release_ms_ == rel
    assert f["piv"]["pivot_share"] == 1.0 and f["piv"]["pivot_delay_hours"] < 0.1
    assert f["slow"]["pivot_share"] == pytest.approx(4 / 24) and f["slow"][
        "pivot_delay_hours"
    ] == pytest.approx(20)


def test_no_new_model_when_all_models_start_with_the_data(lt):
    rows = [
        {"account_id": "a", "ts_ms": lt.T0 + i * H, "model": [lt.OLD, lt.NEW][i % 2]}
        for i in range(100)
    ]
    f, fp, _ = features(lt, rows)
    assert fp.new_model_ is None and f["a"]["pivot_share"] == 0.0


def test_labelled_traffic_attackers_stand_out(lt):
    _, engine, _ = lt.analyzed(0)
    f = {
        r["account_id"]: r for r in engine.fetch_arrow("SELECT * FROM account_features").to_pylist()
    }
    assert f["atkA00"]["cot_share"] > 0.9 and f["ben0000"]["cot_share"] < 0.3
    assert f["atkA00"]["cv_gaps"] < 0.2  # round-robin timing
    assert f["atkC30"]["ips_per_request"] > 0.9 > f["ben0000"]["ips_per_request"]
    assert f["atkC30"]["card_owners"] == 12 and f["ben0000"]["card_owners"] == 1
    assert f["atkB00"]["synth_share"] == 1.0 and f["agent0"]["synth_share"] == 0.0
    assert len(f) == len({r["account_id"] for r in lt.analyzed(0)[0].labels})


def test_estimator_contract(lt):
    fp = AccountFingerprinter()
    assert fp.get_params() == {
        "signal_threshold": 0.5,
        "pivot_min_delay_days": 1.0,
        "pivot_window_hours": 24.0,
        "pivot_min_requests": 20,
        "units": DEFAULT_UNITS,
    }
    with pytest.raises(NotFittedError):
        fp.transform()
    with pytest.raises(InvalidParameterError, match="signal_threshold"):
        AccountFingerprinter(signal_threshold=2).fit(DuckDBEngine())
    with pytest.raises(InvalidInputError, match="requests"):
        AccountFingerprinter().fit(DuckDBEngine())
    engine = DuckDBEngine()
    table = lt.requests_table([{"account_id": "a", "ts_ms": lt.T0}])
    engine.register_arrow("requests", table)
    assert fp.fit(engine) is fp
    assert engine.fetch_arrow("SELECT * FROM requests").equals(table)  # input not mutated


def test_payment_ring_counts_owners_not_accounts(lt):
    rows = [
        {"account_id": a, "ts_ms": lt.T0}
        for a in ("r1", "r2", "r3", "r4", "e1", "e2", "e3", "solo")
    ]
    accounts = [
        {"account_id": a, "payment_fingerprint": "ring-card", "org_id": None,
         "verification": "email"}  # every row names the columns (from_pylist reads the first)
        for a in ("r1", "r2", "r3", "r4")
    ]
    accounts += [  # one verified company: its card is one owner's
        {"account_id": a, "payment_fingerprint": "corp-card", "org_id": "acme",
         "verification": "business" if a == "e1" else "email"}
        for a in ("e1", "e2", "e3")
    ]
    accounts += [{"account_id": "solo", "payment_fingerprint": "own-card", "org_id": None}]
    accounts += [
        {"account_id": "r5", "payment_fingerprint": "ring-card", "org_id": None}
    ]  # signed up, no traffic yet
    f, _, _ = features(lt, rows, accounts)
    assert (
        f["r1"]["card_owners"] == 5 and f["r1"]["card_accounts"] == 5
    )  # four unrelated accounts and r5
    assert f["e1"]["card_owners"] == 1 and f["e1"]["card_accounts"] == 3  # one organisation
    assert f["solo"]["card_owners"] == 1


def test_accounts_claiming_an_unverified_org_still_form_a_payment_ring(lt):
    """A self-serve org anyone can declare is no owner until one of its accounts passed
    business verification: unrelated accounts claiming one on one card are still a ring."""
    rows = [{"account_id": a, "ts_ms": lt.T0} for a in ("u1", "u2", "u3", "u4")]
    accounts = [
        {"account_id": a, "payment_fingerprint": "ring-card", "org_id": "claimed",
         "verification": "email"}
        for a in ("u1", "u2", "u3", "u4")
    ]
    f, _, _ = features(lt, rows, accounts)
    assert f["u1"]["card_owners"] == 4 and f["u1"]["card_accounts"] == 4


def test_sql_is_in_the_common_dialect():
    import re

    for has_templates in (True, False):
        for name, sql in AccountFingerprinter().sql(has_templates).items():
            assert "\\" not in sql, name
            for banned in (
                "list_",
                "array_",
                "unnest",
                "::",
                "epoch(",
                "to_timestamp",
                "UBIGINT",
                "VARCHAR",
                "{",
            ):
                assert banned.lower() not in sql.lower(), (name, banned)
            assert not re.search(r"count\\(\\s*DISTINCT[^)]*\\)\\s*OVER", sql, re.I), name
