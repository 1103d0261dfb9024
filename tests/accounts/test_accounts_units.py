"""Evidence units: each fires on the behaviour it names and stays quiet on a benign look-alike."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from distillguard.accounts.fingerprint import AccountFingerprinter
from distillguard.accounts.ipintel import IP_INTEL_SCHEMA
from distillguard.accounts.param_tuples import SharedParameters
from distillguard.accounts.rotation import ProxyRotation
from distillguard.accounts.signup_burst import SignupBurst
from distillguard.accounts.units import DEFAULT_UNITS, make_unit
from distillguard.engines.base import DuckDBEngine
from distillguard.errors import InvalidParameterError, NotFittedError

H = 3_600_000
D = 24 * H


def unit_rows(lt, unit, rows, accounts=None, intel=None):
    """Run the fingerprinter with one unit; its features per account."""
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    if accounts is not None:
        engine.register_arrow("accounts", pa.Table.from_pylist(accounts))
    if intel is not None:
        engine.register_arrow("ip_intel", pa.Table.from_pylist(intel, schema=IP_INTEL_SCHEMA))
    fp = AccountFingerprinter(units=(unit,)).fit(engine)
    return {r["account_id"]: r for r in fp.features_.to_pylist()}


# ---- proxy rotation ---------------------------------------------------------------------------
def _residential(ips):
    return [
        {"ip": ip, "prefix": ip.rsplit(".", 1)[0] + ".0/24", "ip_kind": "residential"} for ip in ips
    ]


def test_rotation_fires_on_a_proxy_pool_not_on_a_commuter(lt):
    pool = [f"10.{i}.{i % 7}.{i}" for i in range(30)]  # a new /24 per request
    uas = ["Mozilla/5.0 A", "python-httpx/0.27", "Mozilla/5.0 B"]
    proxy = [
        {
            "account_id": "proxy",
            "ts_ms": lt.T0 + i * 60_000,
            "ip": pool[i],
            "user_agent": uas[i % 3],
        }
        for i in range(30)
    ]
    # A person: home in the evening, office by day, one browser throughout.
    commuter = [
        {
            "account_id": "commuter",
            "ts_ms": lt.T0 + i * H,
            "ip": "192.0.2.10" if (i // 5) % 2 else "198.51.100.7",
            "user_agent": "Mozilla/5.0 A",
        }
        for i in range(30)
    ]
    intel = _residential(pool + ["192.0.2.10", "198.51.100.7"])
    f = unit_rows(lt, "proxy_rotation", proxy + commuter, intel=intel)
    p, c = f["proxy"], f["commuter"]
    assert p["ip_switch_share"] == pytest.approx(1.0) and c["ip_switch_share"] < 0.25
    assert p["ua_switch_share"] == pytest.approx(1.0) and c["ua_switch_share"] == 0.0
    assert p["ip_ua_pairs_per_request"] == pytest.approx(1.0)
    assert c["ip_ua_pairs_per_request"] == pytest.approx(2 / 30)
    assert p["residential_prefixes_per_request"] == pytest.approx(1.0)
    assert c["residential_prefixes_per_request"] == pytest.approx(2 / 30)


def test_rotation_without_an_ip_is_the_deployments_median_not_zero(lt):
    rows = [{"account_id": "cloud", "ts_ms": lt.T0 + i} for i in range(5)]  # no client IP
    rows += [{"account_id": "once", "ts_ms": lt.T0, "ip": "192.0.2.1", "user_agent": "x/1"}]
    rows += [  # three accounts with IPs: switch shares 0, 0.5 and 1
        {
            "account_id": f"a{k}",
            "ts_ms": lt.T0 + i,
            "ip": f"192.0.2.{i if k == 2 else (i // 2 if k == 1 else 9)}",
            "user_agent": "x/1",
        }
        for k in range(3)
        for i in range(3)
    ]
    f = unit_rows(lt, "proxy_rotation", rows)
    assert [f[f"a{k}"]["ip_switch_share"] for k in range(3)] == [0.0, 0.5, 1.0]
    assert f["cloud"]["ip_switch_share"] == 0.5 and f["once"]["ip_switch_share"] == 0.5
    pairs = sorted(f[a]["ip_ua_pairs_per_request"] for a in ("a0", "a1", "a2", "once"))
    assert f["cloud"]["ip_ua_pairs_per_request"] == pytest.approx(np.median(pairs))


# ---- sign-up bursts -------------------------------------------------------------------------
def test_signup_burst_counts_a_bulk_registration_not_a_trickle(lt):
    start = lt.T0 - 30 * D
    burst = [
        {
            "account_id": f"b{i}",
            "created_at": (start + i * 20 * 60_000) // 1000,  # 12 in four hours
            "signup_route": "education",
            "verification": "email",
        }
        for i in range(12)
    ]
    trickle = [
        {
            "account_id": f"t{i}",
            "created_at": (start - (i + 1) * 9 * D) // 1000,  # one every nine days
            "signup_route": "standard",
            "verification": "phone",
        }
        for i in range(12)
    ]
    # Same day as the burst, another sign-up path: in the window, not in the burst.
    other = [
        {
            "account_id": "o",
            "created_at": start // 1000,
            "signup_route": "enterprise",
            "verification": "business",
        }
    ]
    accounts = burst + trickle + other
    rows = [{"account_id": a["account_id"], "ts_ms": lt.T0} for a in accounts]
    f = unit_rows(lt, "signup_burst", rows, accounts)
    assert f["b3"]["signup_burst_peers"] == 11 and f["b3"]["signup_window_peers"] == 12
    assert all(f[f"t{i}"]["signup_burst_peers"] == 0 for i in range(12))
    assert f["o"]["signup_burst_peers"] == 0 and f["o"]["signup_window_peers"] == 12


def test_signup_burst_across_a_window_edge_is_one_burst(lt):
    edge = (lt.T0 // D) * D  # a day boundary: half the burst before it, half after
    accounts = [
        {"account_id": f"b{i}", "created_at": (edge + (i - 5) * 30 * 60_000) // 1000}
        for i in range(10)
    ]
    rows = [{"account_id": a["account_id"], "ts_ms": lt.T0 + D} for a in accounts]
    f = unit_rows(lt, "signup_burst", rows, accounts)
    assert min(r["signup_burst_peers"] for r in f.values()) == 9


def test_signup_burst_is_missing_without_an_account_table(lt):
    f = unit_rows(lt, "signup_burst", [{"account_id": "a", "ts_ms": lt.T0}])
    assert f["a"]["signup_burst_peers"] is None


# ---- shared request-parameter tuples --------------------------------------------------------
def _harness(account, n, t0, **settings):
    return [{"account_id": account, "ts_ms": t0 + i * 1000, **settings} for i in range(n)]


def test_shared_parameters_one_harness_many_keys_vs_browser_defaults(lt):
    job = {
        "max_tokens": 4096.0,
        "temperature": 0.6,
        "reasoning": "high",
        "stream": False,
        "user_agent": "python-httpx/0.27",
    }
    rows = []
    for k in range(6):  # six keys of one job
        rows += _harness(f"job{k}", 10, lt.T0, **job)
    for k in range(6):  # six browser users on client defaults: nothing set
        rows += _harness(f"web{k}", 10, lt.T0, stream=True, user_agent="Mozilla/5.0 X")
    # A developer who tunes settings per request.
    rows += [
        {
            "account_id": "dev",
            "ts_ms": lt.T0 + i,
            "max_tokens": 256.0 * (1 + i % 4),
            "temperature": 0.1 * (i % 5),
            "user_agent": "python-httpx/0.27",
        }
        for i in range(20)
    ]
    f = unit_rows(lt, "shared_parameters", rows)
    assert f["job0"]["param_tuple_peers"] == 5
    assert f["web0"]["param_tuple_peers"] == 0  # defaults shared by everyone say nothing
    assert f["dev"]["param_tuple_peers"] == 0


def test_shared_parameters_system_prompt_splits_tuples(lt):
    base = {"max_tokens": 1024.0, "temperature": 0.0, "user_agent": "openai-python/1.0"}
    rows = _harness("a", 5, lt.T0, system_hash=11, **base)
    rows += _harness("b", 5, lt.T0, system_hash=11, **base)
    rows += _harness("c", 5, lt.T0, system_hash=22, **base)
    f = unit_rows(lt, "shared_parameters", rows)
    assert f["a"]["param_tuple_peers"] == 1 and f["c"]["param_tuple_peers"] == 0


# ---- conversation shape -----------------------------------------------------------------------


def test_sessions_per_request_single_shot_vs_conversation(lt):
    rows = [{"account_id": "tasks", "ts_ms": lt.T0 + i, "session_id": f"t{i}"} for i in range(10)]
    rows += [
        {"account_id": "chat", "ts_ms": lt.T0 + i, "session_id": f"c{i // 5}"} for i in range(10)
    ]
    rows += [{"account_id": "nosess", "ts_ms": lt.T0}]
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    fp = AccountFingerprinter(units=()).fit(engine)
    f = {r["account_id"]: r for r in fp.features_.to_pylist()}
    assert f["tasks"]["sessions_per_request"] == 1.0
    assert f["chat"]["sessions_per_request"] == 0.2
    assert f["nosess"]["sessions_per_request"] is None


# ---- the registry -----------------------------------------------------------------------------
def test_units_registry_and_contract():
    assert set(DEFAULT_UNITS) >= {"proxy_rotation", "signup_burst", "shared_parameters", "lockstep"}
    with pytest.raises(InvalidParameterError):
        make_unit("nope")
    with pytest.raises(InvalidParameterError):
        AccountFingerprinter(units=("nope",))._validate()
    with pytest.raises(NotFittedError):
        ProxyRotation().join(pa.table({"account_id": ["a"]}))
    with pytest.raises(InvalidParameterError):
        SignupBurst(window_hours=0).fit(DuckDBEngine())
    assert SharedParameters().get_params() == {}
    assert SignupBurst().get_params() == {"window_hours": 24.0, "base_rate": False}


def test_every_unit_column_is_read_by_the_catalog():
    from distillguard.scoring.catalog import feature_columns

    cols = {c for name in DEFAULT_UNITS for c in make_unit(name).output_columns()}
    assert cols <= set(feature_columns())


def _signup(aid, created_ms, route="standard", verification="email"):
    return {
        "account_id": aid,
        "created_at": created_ms // 1000,
        "signup_route": route,
        "verification": verification,
    }


def _rate_rows(lt, monkeypatch, rows, accounts):
    """The unit's features with ``base_rate=True`` (registered under its own name)."""
    from distillguard.accounts import units

    monkeypatch.setitem(units.UNITS, "signup_burst", lambda: SignupBurst(base_rate=True))
    return unit_rows(lt, "signup_burst", rows, accounts)


def test_signup_burst_base_rate_reads_a_same_day_pair_as_coincidence(lt, monkeypatch):
    # A path with a sign-up every 4 days for a year: two on one day is what that rate
    # predicts somewhere in the year; twelve in four hours is not.
    start = lt.T0 - 400 * D
    trickle = [_signup(f"t{i}", start + i * 4 * D + (i % 3) * H) for i in range(90)]
    pair = [_signup("p0", lt.T0 - 50 * D + 3 * H), _signup("p1", lt.T0 - 50 * D + 9 * H)]
    burst = [_signup(f"b{i}", lt.T0 - 20 * D + i * 20 * 60_000) for i in range(12)]
    accounts = trickle + pair + burst
    rows = [{"account_id": a["account_id"], "ts_ms": lt.T0} for a in accounts]
    raw = unit_rows(lt, "signup_burst", rows, accounts)
    rate = _rate_rows(lt, monkeypatch, rows, accounts)
    assert raw["p0"]["signup_burst_peers"] >= 1  # the raw count reads the pair as peers
    assert rate["p0"]["signup_burst_peers"] == 0 and rate["p0"]["signup_window_peers"] == 0
    assert rate["b3"]["signup_burst_peers"] == raw["b3"]["signup_burst_peers"] >= 11
    assert all(rate[f"t{i}"]["signup_burst_peers"] == 0 for i in range(90))


def test_signup_burst_base_rate_keeps_a_burst_with_no_rate_outside_it(lt, monkeypatch):
    edge = (lt.T0 // D) * D
    accounts = [_signup(f"b{i}", edge + (i - 5) * 30 * 60_000) for i in range(10)]
    rows = [{"account_id": a["account_id"], "ts_ms": lt.T0 + D} for a in accounts]
    f = _rate_rows(lt, monkeypatch, rows, accounts)
    assert min(r["signup_burst_peers"] for r in f.values()) == 9
