"""Client churn and sessions online: the online state computes ``accounts/rotation.py``'s
proxy-rotation features and ``sessions_per_request`` with batch's definitions.

A small world of hand-written accounts goes through batch (``AccountFingerprinter`` with the
``proxy_rotation`` unit, DuckDB) and, request by request in batch's order, through the
in-memory and the Redis state, with the IP intelligence batch used (as ``OnlineScorer``
reads it from the verdict cache).

Tolerance: the switch shares are exact counters (equal to 1e-9); the distinct IP–UA pairs,
residential /24s and sessions are exact up to 8 distinct values, then a HyperLogLog (in memory
``datasketch`` p=10, ~3.3% standard error, ~2% at 30 distinct values where it counts
linearly; in Redis ``PFADD``/``PFCOUNT``, p=14): within 10% relative. Measured on this world
(30 distinct values on the proxy account): memory at most 6.7% off (28 /24s for 30), Redis
exact.
Accounts batch gives the deployment median (no IP, one request) are NaN in the state and get
the reference's median online (``online.risk.fill_medians``), which is batch's value.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from distillguard.accounts.fingerprint import AccountFingerprinter
from distillguard.accounts.ipintel import IP_INTEL_SCHEMA
from distillguard.engines.base import DuckDBEngine
from distillguard.online.risk import fill_medians, median_columns, reference_median
from distillguard.online.state import AccountState, MemoryState, RedisState
from distillguard.online.verdicts import batch_only_features
from distillguard.scoring.reference import DeploymentReference

ROTATION = (
    "ip_switch_share",
    "ua_switch_share",
    "ip_ua_pairs_per_request",
    "residential_prefixes_per_request",
)
FEATURES = (*ROTATION, "sessions_per_request")
EXACT = ("ip_switch_share", "ua_switch_share")
SKETCH_TOL = 0.10
MIN = 60_000


def _world(T0: int) -> tuple[list[dict], list[dict]]:
    """Requests (in batch's order: ts_ms, then request_id) and batch's IP intelligence."""
    rows: list[dict] = []

    def add(account: str, i: int, **kw) -> None:
        rows.append({"account_id": account, "ts_ms": T0 + i * MIN, **kw})

    pool = [f"81.{i}.{i % 7}.{i + 1}" for i in range(30)]  # a new residential /24 each time
    uas = ["Mozilla/5.0 A", "python-httpx/0.27", "Mozilla/5.0 B"]
    for i in range(30):  # a rotating proxy pool, a new conversation per request
        add("proxy", i, ip=pool[i], user_agent=uas[i % 3], session_id=f"p{i}")
    for i in range(30):  # a person: home and office, one browser, conversations of five
        ip = "82.1.1.10" if (i // 5) % 2 else "82.2.2.7"
        add("commuter", i, ip=ip, user_agent="Mozilla/5.0 A", session_id=f"c{i // 5}")
    for i in range(12):  # no IP on every third request, no user agent on every fourth
        add(
            "gappy",
            i,
            ip=None if i % 3 == 2 else f"82.3.{i % 2}.1",
            user_agent=None if i % 4 == 3 else f"sdk/{i % 3}",
        )
    for i in range(6):  # data-centre IPs only: no residential /24
        add("cloudvm", i, ip=f"8.8.{i}.8", user_agent="sdk/1")
    for i in range(4):  # a cloud marketplace forwards no client IP
        add("cloud", i, user_agent="sdk/2")
    add("once", 0, ip="82.4.4.4", user_agent="sdk/3", session_id="o")
    for i in range(3):  # two requests in the same millisecond: batch orders by request_id
        add("tie", 0, ip=f"82.5.{i}.1", user_agent="sdk/4")
    # lt.requests_table numbers the requests in list order, so this is batch's order too.
    rows.sort(key=lambda r: (r["ts_ms"], r["account_id"]))
    intel = [
        {"ip": ip, "prefix": ip.rsplit(".", 1)[0] + ".0/24", "ip_kind": "residential"}
        for ip in sorted({r["ip"] for r in rows if r.get("ip") and not r["ip"].startswith("8.")})
    ]
    intel += [
        {"ip": f"8.8.{i}.8", "prefix": f"8.8.{i}.0/24", "ip_kind": "datacenter"} for i in range(6)
    ]
    return rows, intel


@pytest.fixture(scope="module")
def world(lt) -> tuple[list[dict], dict[str, dict], dict[str, dict]]:
    """The requests, batch's features per account, and the IP intelligence by address."""
    rows, intel = _world(lt.T0)
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    engine.register_arrow("ip_intel", pa.Table.from_pylist(intel, schema=IP_INTEL_SCHEMA))
    fp = AccountFingerprinter(units=("proxy_rotation",)).fit(engine)
    batch = {r["account_id"]: r for r in fp.features_.to_pylist()}
    by_ip = {i["ip"]: {"prefix": i["prefix"], "ip_kind": i["ip_kind"]} for i in intel}
    return rows, batch, by_ip


def _online_rows(rows: list[dict], by_ip: dict[str, dict]) -> list[dict]:
    """Each request as ``OnlineScorer.decide`` hands it to the state: plus batch's intel."""
    return [{**r, **by_ip.get(r.get("ip") or "", {})} for r in rows]


def _reference(batch: dict[str, dict]) -> DeploymentReference:
    """The deployment batch would publish for these features (one cohort)."""
    ids = sorted(batch)
    cols = {
        c: np.array([np.nan if batch[a][c] is None else batch[a][c] for a in ids], float)
        for c in FEATURES
    }
    n = np.array([batch[a]["n_requests"] for a in ids], float)
    return DeploymentReference.fit(cols, np.zeros(len(ids), int), np.log1p(n), {}, 1)


def _check(state, rows, batch, reference) -> None:
    for r in rows:
        state.observe(r["account_id"], r)
    now = rows[-1]["ts_ms"]
    for acct, want in batch.items():
        got = state.peek(acct, now)
        assert got is not None
        table = {c: np.array([got[c]]) for c in FEATURES}
        fill_medians(table, reference)
        for c in FEATURES:
            w = math.nan if want[c] is None else want[c]
            g = float(table[c][0])
            if math.isnan(w):
                assert math.isnan(g), (acct, c, g)
                continue
            tol = 1e-9 if c in EXACT else SKETCH_TOL * max(w, 1e-9)
            assert g == pytest.approx(w, abs=max(tol, 1e-9)), (acct, c, g, w)


def test_the_online_state_computes_churn_and_sessions() -> None:
    online = MemoryState().observe("probe", {"ts_ms": 0, "account_id": "probe"})
    assert all(c in online for c in FEATURES)
    assert not set(FEATURES) & set(batch_only_features())
    assert set(median_columns()) == set(ROTATION)


def test_memory_state_equals_batch(world) -> None:
    rows, batch, by_ip = world
    _check(MemoryState(), _online_rows(rows, by_ip), batch, _reference(batch))


@pytest.mark.redis
def test_redis_state_equals_batch(world, redis_url: str) -> None:
    rows, batch, by_ip = world
    _check(RedisState(redis_url, prefix="churn:"), _online_rows(rows, by_ip), batch, _reference(batch))


def test_the_worlds_accounts_are_what_they_say(world) -> None:
    """Guard the fixture: the proxy rotates, the commuter does not, the medians are filled."""
    _, batch, _ = world
    p, c = batch["proxy"], batch["commuter"]
    assert p["ip_switch_share"] == 1.0 and c["ip_switch_share"] < 0.25
    assert p["ip_ua_pairs_per_request"] == 1.0 and p["residential_prefixes_per_request"] == 1.0
    assert batch["cloudvm"]["residential_prefixes_per_request"] == 0.0
    assert p["sessions_per_request"] == 1.0 and c["sessions_per_request"] == pytest.approx(0.2)
    assert batch["gappy"]["sessions_per_request"] is None  # no session ids: missing, no median
    med = _reference(batch)
    for c in ROTATION:  # no IP, or one request: the deployment's median, online as in batch
        assert batch["cloud"][c] == pytest.approx(reference_median(med, c))
    assert batch["once"]["ip_switch_share"] == pytest.approx(reference_median(med, "ip_switch_share"))


def test_one_request_gets_the_median_online() -> None:
    st = MemoryState()
    f = st.observe("new", {"ts_ms": 0, "ip": "82.9.9.9", "user_agent": "sdk/1"})
    assert math.isnan(f["ip_switch_share"]) and math.isnan(f["ua_switch_share"])
    assert f["ip_ua_pairs_per_request"] == 1.0
    assert math.isnan(f["residential_prefixes_per_request"])  # kind unknown: no evidence
    ref = DeploymentReference.fit(
        {"ip_switch_share": np.array([0.0, 0.2, 0.9, 1.0, 0.2])},
        np.zeros(5, int),
        np.zeros(5),
        {},
        1,
    )
    table = {c: np.array([f[c]]) for c in ROTATION}
    fill_medians(table, ref)
    assert table["ip_switch_share"][0] == 0.2  # np.median of the deployment
    assert math.isnan(table["ua_switch_share"][0])  # the reference has no such distribution
    assert table["ip_ua_pairs_per_request"][0] == 1.0  # known: kept


def test_unknown_ip_kind_counts_only_the_requests_with_a_known_kind() -> None:
    st = MemoryState()
    for i in range(4):  # two addresses batch looked up (residential), two it never saw
        x = {"ts_ms": i, "ip": f"82.7.{i}.1", "user_agent": "sdk/1"}
        if i < 2:
            x.update(ip_kind="residential", prefix=f"82.7.{i}.0/24")
        f = st.observe("a", x)
    assert f["residential_prefixes_per_request"] == 1.0  # 2 /24s over the 2 known requests
    assert f["ip_switch_share"] == 1.0  # the switches need no intelligence


def test_merge_keeps_the_counts_and_the_later_previous_request() -> None:
    a, b, whole = AccountState(), AccountState(), AccountState()
    reqs = [{"ts_ms": i, "ip": f"82.8.{i % 3}.1", "user_agent": f"u{i % 2}"} for i in range(10)]
    for i, x in enumerate(reqs):
        (a if i < 5 else b).update(x)
        whole.update(x)
    m = a.merge(b)
    assert (m.ip_cmp, m.ua_cmp) == (whole.ip_cmp - 1, whole.ua_cmp - 1)  # the seam is lost
    assert m.prev_ip == whole.prev_ip and m.pairs.get() == whole.pairs.get()
    assert m.sessions is None  # made at the first session id only
