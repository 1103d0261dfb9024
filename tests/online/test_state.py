"""Online state objects (update/get/merge) and the memory vs Redis stores."""

from __future__ import annotations

import random

import numpy as np
import pytest

from distillguard.online.state import (
    AccountState,
    DistinctCount,
    GapStats,
    MemoryState,
    RedisState,
    TopShare,
    WindowCount,
    derive_features,
)

T0 = 1_767_225_600_000


def test_window_counts_slide() -> None:
    w = WindowCount(bucket_s=60, n_buckets=5)  # a 5-minute window
    for t in range(0, 600, 30):  # two requests per minute for 10 minutes
        w.update(t)
    assert w.get(599) == 10
    assert w.get(599 + 300) == 0
    assert len(w.buckets) <= 6


def test_gap_stats_match_numpy_and_merge() -> None:
    rng = random.Random(3)
    ts = sorted(T0 + rng.randint(0, 10_000_000) for _ in range(200))
    g = GapStats()
    for t in ts:
        g.update(t)
    gaps = np.diff(ts).astype(float)
    got = g.get()
    assert got["gap_mean_ms"] == pytest.approx(gaps.mean())
    assert got["gap_sd_ms"] == pytest.approx(gaps.std(ddof=1))
    a, b = GapStats(), GapStats()
    for t in ts[:100]:
        a.update(t)
    for t in ts[100:]:
        b.update(t)
    merged = a.merge(b).get()
    # The gap between the halves is not seen by either part: merge is over the within-part gaps.
    within = np.concatenate([np.diff(ts[:100]), np.diff(ts[100:])]).astype(float)
    assert merged["gap_mean_ms"] == pytest.approx(within.mean())
    assert merged["gap_sd_ms"] == pytest.approx(within.std(ddof=1))


def test_distinct_counts_exact_then_sketch_and_merge() -> None:
    d = DistinctCount()
    for i in range(5):
        d.update(f"10.0.0.{i}")
        d.update(f"10.0.0.{i}")
    assert d.get() == 5 and d.exact is not None
    for i in range(5, 500):
        d.update(f"10.0.{i // 256}.{i % 256}")
    assert d.hll is not None and 400 <= d.get() <= 600  # HLL p=8: ~6.5% error
    other = DistinctCount()
    for i in range(500, 1000):
        other.update(f"10.0.{i // 256}.{i % 256}")
    assert 800 <= d.merge(other).get() <= 1200


def test_top_share_is_bounded_and_merges() -> None:
    t = TopShare()
    for i in range(1000):
        t.update("tpl-A" if i % 2 else f"rare-{i}")
    assert len(t.counts) <= 16
    assert t.get() == pytest.approx(0.5, abs=0.05)
    u = TopShare()
    for _ in range(1000):
        u.update("tpl-A")
    assert t.merge(u).get() == pytest.approx(0.75, abs=0.05)


def _rows(n: int, account: str = "a", seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out, ts = [], T0
    for i in range(n):
        ts += rng.randint(500, 5000)
        out.append(
            {
                "ts_ms": ts,
                "account_id": account,
                "ip": f"10.0.0.{rng.randint(0, 3)}",
                "user_agent": "sdk/1",
                "template": rng.choice(["t1", "t1", "t2"]),
                "capability": rng.choice(["math", "code"]),
                "sig_cot": rng.random(),
                "sig_rubric": 0.0,
                "sig_synth": 0.0,
                "sig_format": 0.0,
                "sig_rewrite": 0.0,
                "n_user_turns": 1,
                "reasoning": "high" if i % 3 == 0 else None,
                "template_attack_share": 0.9 if i % 4 == 0 else 0.0,
            }
        )
    return out


def test_account_state_merge_equals_sequential_counts() -> None:
    rows = _rows(60)
    whole, a, b = AccountState(), AccountState(), AccountState()
    for r in rows:
        whole.update(r)
    for r in rows[:30]:
        a.update(r)
    for r in rows[30:]:
        b.update(r)
    now = rows[-1]["ts_ms"]
    fw = derive_features(whole.raw(now), 3600)
    fm = derive_features(a.merge(b).raw(now), 3600)
    for k in (
        "n_total",
        "n_window",
        "signal_rate",
        "mean_harvest",
        "reasoning_share",
        "attack_template_share",
        "distinct_ips",
        "template_share",
        "capability_share",
    ):
        assert fm[k] == pytest.approx(fw[k]), k


@pytest.mark.redis
def test_redis_state_matches_memory_state(redis_url: str) -> None:
    mem = MemoryState()
    red = RedisState(redis_url, prefix="t1:")
    for r in _rows(80, "acct-x", seed=5):
        fm = mem.observe("acct-x", r)
        fr = red.observe("acct-x", r)
    for k, v in fm.items():
        assert fr[k] == pytest.approx(v, rel=1e-6, abs=1e-6, nan_ok=True), k
    mem.learn_events(
        [
            {"account_id": "acct-x", "input_tokens": 100, "output_tokens": 900, "status": 200},
            {"account_id": "acct-x", "status": 500},
        ]
    )
    red.learn_events(
        [
            {"account_id": "acct-x", "input_tokens": 100, "output_tokens": 900, "status": 200},
            {"account_id": "acct-x", "status": 500},
        ]
    )
    now = T0 + 10**7
    pm, pr = mem.peek("acct-x", now), red.peek("acct-x", now)
    assert pr["out_in_ratio"] == pytest.approx(pm["out_in_ratio"]) == pytest.approx(9.0)
    assert pr["error_rate"] == pytest.approx(pm["error_rate"]) == pytest.approx(0.5)
    assert red.n_accounts() == 1 and red.memory_bytes() > 0
    # Token buckets: same answers from both stores.
    for store in (mem, red):
        got = [store.take_token("account:z", rate=1.0, burst=2, now_s=1000.0) for _ in range(3)]
        assert got == [True, True, False]
        assert store.take_token("account:z", rate=1.0, burst=2, now_s=1001.5)


def test_memory_state_size_estimate() -> None:
    mem = MemoryState()
    for i in range(200):
        for r in _rows(5, f"acct-{i}", seed=i):
            mem.observe(f"acct-{i}", r)
    per = mem.memory_bytes() / mem.n_accounts()
    assert 500 < per < 20000


def _intel_rows(n: int, seed: int = 0) -> list[dict]:
    """Requests over several hours and days, with IP intelligence on most of them."""
    rng = random.Random(seed)
    out, ts = [], T0
    for i in range(n):
        ts += rng.randint(60_000, 3 * 3_600_000)
        kind = rng.choice(["datacenter", "vpn", "residential", None])
        out.append(
            {
                "ts_ms": ts,
                "account_id": "acct-i",
                "ip": f"10.0.{i % 3}.{rng.randint(0, 5)}",
                "user_agent": f"sdk/{i % 2}",
                "session_id": f"s{i // 4}",
                "ip_kind": kind,
                "asn": None if kind is None else f"AS{rng.randint(1, 4)}",
                "prefix": None if kind is None else f"10.0.{i % 3}.0/24",
                "template": rng.choice(["t1", "t2", "t3"]),
                "capability": "math",
                "sig_cot": 0.9 if i % 2 else 0.0,
                "n_user_turns": rng.choice([1, 1, 3]),
                "input_tokens": 100,
                "output_tokens": rng.randint(100, 900),
                "model": "m-new" if i > n // 2 else "m-old",
                "pivot_window": i > n // 3,
                "pivot_new": i > n // 2,
                "new_model": i > n // 2,
                "campaign_template": i % 4 == 0,
            }
        )
    return out


def test_account_features_follow_the_batch_definitions() -> None:
    rows = _intel_rows(40)
    mem = MemoryState()
    for r in rows:
        f = mem.observe("acct-i", r)
    n = len(rows)
    hours = {r["ts_ms"] // 3_600_000 for r in rows}
    hod = np.bincount([(r["ts_ms"] // 3_600_000) % 24 for r in rows], minlength=24) / n
    gaps = np.diff([r["ts_ms"] for r in rows]).astype(float)
    assert f["n_requests"] == n
    assert f["active_hours"] == len(hours)
    assert f["active_days"] == len({r["ts_ms"] // 86_400_000 for r in rows})
    assert f["rate_per_active_hour"] == pytest.approx(n / len(hours))
    assert f["cv_gaps"] == pytest.approx(gaps.std(ddof=1) / gaps.mean())
    p = hod[hod > 0]
    assert f["hod_entropy"] == pytest.approx(-(p * np.log(p)).sum() / np.log(24))
    assert f["hod_top_share"] == pytest.approx(p.max())
    assert f["mean_user_turns"] == pytest.approx(np.mean([r["n_user_turns"] for r in rows]))
    assert f["out_in_ratio"] == pytest.approx(sum(r["output_tokens"] for r in rows) / (100 * n))
    assert f["datacenter_share"] == pytest.approx(sum(r["ip_kind"] == "datacenter" for r in rows) / n)
    assert f["tor_share"] == 0.0  # intel present, no Tor: a real zero, not unknown
    assert f["asns_per_request"] == pytest.approx(len({r["asn"] for r in rows if r["asn"]}) / n)
    assert f["templates_per_request"] == pytest.approx(3 / n)
    assert f["pivot_share"] == pytest.approx(
        sum(r["pivot_new"] for r in rows) / sum(r["pivot_window"] for r in rows)
    )
    assert f["pivot_first_new_ts"] == min(r["ts_ms"] for r in rows if r["new_model"])
    # Without IP intelligence the network features are unknown (NaN), never a made-up zero.
    bare = MemoryState()
    for r in _rows(10):
        g = bare.observe("a", r)
    assert np.isnan(g["datacenter_share"]) and np.isnan(g["asns_per_request"])


def test_online_row_covers_every_catalog_feature() -> None:
    from distillguard.online.risk import account_row
    from distillguard.scoring.catalog import feature_columns

    mem = MemoryState()
    for r in _intel_rows(30):
        f = mem.observe("acct-i", r)
    row = account_row(f, {"created_ms": T0 - 86_400_000, "signup_route": "education"})
    assert set(feature_columns()) <= set(row)
    assert row["account_age_days"] == pytest.approx(1.0 + (f["first_ts"] - T0) / 86_400_000)
    unknown = {c for c in feature_columns() if isinstance(row[c], float) and np.isnan(row[c])}
    # Only what batch alone knows: cluster size, the sign-up route flag (computed from
    # signup_route by model_inputs), and the features online reads from batch's results
    # (payment sharing and the cross-account evidence units).
    from distillguard.online.verdicts import batch_only_features

    assert {"card_owners", "lockstep_peers", "signup_burst_peers"} <= set(batch_only_features())
    assert unknown <= {"cluster_size", "abused_route", *batch_only_features()}
    meta = {"created_ms": T0, **dict.fromkeys(batch_only_features(), 3.0)}
    assert all(account_row(f, meta)[c] == 3.0 for c in batch_only_features())


@pytest.mark.redis
def test_redis_account_features_match_memory(redis_url: str) -> None:
    mem, red = MemoryState(), RedisState(redis_url, prefix="t9:")
    for r in _intel_rows(40, seed=4):
        fm = mem.observe("acct-i", r)
        fr = red.observe("acct-i", r)
    for k, v in fm.items():
        assert fr[k] == pytest.approx(v, rel=1e-6, abs=1e-6, nan_ok=True), k


def test_distinct_count_estimate_is_datasketchs_count() -> None:
    """``get`` reads the HyperLogLog estimate from sums kept as registers change: the same
    number ``HyperLogLog.count`` scans the registers for, before and after a merge."""
    import warnings

    rng = random.Random(5)
    for p in (8, 10):
        d, other = DistinctCount(p), DistinctCount(p)
        for i in range(3000):
            d.update(f"v{rng.randint(0, 2500)}")
            if d.hll is not None and i % 50 == 0:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    assert d.get() == int(round(d.hll.count()))
        for i in range(400):
            other.update(f"w{i}")
        d.merge(other)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert d.get() == int(round(d.hll.count()))
