"""Online places an account in the comparable cohort batch ranks it in (route kind × client
kind × volume, ``scoring.model.cohort_levels``).

The online state counts what batch's ``ACCOUNT_COHORT_KEYS`` reads, one request at a time
(``scoring.definitions.request_cohort_counts``); the keys come from the same majority rule
(``cohort_keys``). Checked here: the Python twin equals the SQL on the same requests, memory
and Redis count alike, batch's keys fill in for an account online has no route for, and on the
tiny world every replayed account reads its ``rcv:`` percentiles in the cohort batch used.
"""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from distillguard.online.risk import account_row, as_columns
from distillguard.online.state import AccountState, MemoryState, RedisState, derive_features
from distillguard.online.verdicts import VerdictCache
from distillguard.scoring.definitions import (
    ACCOUNT_COHORT_KEYS,
    COHORT_COUNTS,
    cohort_keys,
    request_cohort_counts,
)
from distillguard.scoring.model import ANY, cohort_levels

from .test_online_risk import _replay, _scorer, batch, sample  # noqa: F401

T0 = 1_767_225_600_000
# Every case of the rule: each route kind, no route, odd spellings the SQL does not count
# (LIKE is case-sensitive), browser and program agents, empty and missing agents.
ROUTES = ["direct", "cloud:bedrock", "cloud:vertex", "reseller:acme", None, "Direct", "cloud"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64)", "python-requests/2.32", "mozilla/5.0", "", None,
          "openai-python/1.40", "Mozilla/"]


def _requests(n_accounts: int = 300, seed: int = 0) -> list[dict]:
    """Requests of accounts with few requests each (so ties of the majority rule happen),
    each account leaning on one route and agent, with some of every other."""
    rng = random.Random(seed)
    out = []
    for a in range(n_accounts):
        route, agent = rng.choice(ROUTES), rng.choice(AGENTS)
        for i in range(rng.randint(1, 6)):
            out.append({
                "account_id": f"acct-{a}",
                "request_id": f"r-{a}-{i}",
                "ts_ms": T0 + 1000 * i,
                "access_route": route if rng.random() < 0.6 else rng.choice(ROUTES),
                "user_agent": agent if rng.random() < 0.6 else rng.choice(AGENTS),
            })
    return out


def _sql_keys(rows: list[dict]) -> dict[str, tuple]:
    con = duckdb.connect()
    requests = pa.Table.from_pylist(  # noqa: F841 (read by DuckDB's replacement scan)
        rows,
        schema=pa.schema([("account_id", pa.string()), ("request_id", pa.string()),
                          ("ts_ms", pa.int64()), ("access_route", pa.string()),
                          ("user_agent", pa.string())]),
    )
    got = {a: (r, c) for a, r, c in con.execute(ACCOUNT_COHORT_KEYS).fetchall()}
    con.close()
    return got


def test_python_twin_equals_the_sql_on_the_same_requests() -> None:
    rows = _requests()
    want = _sql_keys(rows)
    counts: dict[str, np.ndarray] = {}
    for r in rows:
        add = np.array(request_cohort_counts(r["access_route"], r["user_agent"]))
        counts[r["account_id"]] = counts.get(r["account_id"], 0) + add
    got = {a: cohort_keys(*c) for a, c in counts.items()}
    assert got == want
    # the rows exercise every outcome, ties and NULLs included
    assert {k for k, _ in want.values()} == {"direct", "cloud", "reseller", None}
    assert {k for _, k in want.values()} == {"browser", "program", None}


def test_memory_state_counts_give_batchs_keys() -> None:
    rows = _requests(seed=1)
    want = _sql_keys(rows)
    mem = MemoryState()
    features = {r["account_id"]: mem.observe(r["account_id"], r) for r in rows}
    for a, f in features.items():
        row = account_row(f, None)
        assert (row["route_kind"], row["client_kind"]) == want[a], a


def test_merged_states_count_as_one() -> None:
    rows = [r for r in _requests(seed=2) if r["account_id"] == "acct-7"] * 5
    whole, a, b = AccountState(), AccountState(), AccountState()
    for i, r in enumerate(rows):
        whole.update(r)
        (a if i % 2 else b).update(r)
    now = T0 + 10_000
    fw, fm = derive_features(whole.raw(now), 3600), derive_features(a.merge(b).raw(now), 3600)
    for c in COHORT_COUNTS:
        assert fm[f"cohort_{c}"] == fw[f"cohort_{c}"]
    assert sum(fw[f"cohort_{c}"] for c in COHORT_COUNTS[:3]) == sum(
        r["access_route"] in ("direct", "cloud:bedrock", "cloud:vertex", "reseller:acme")
        for r in rows
    )


@pytest.mark.redis
def test_redis_counts_as_memory(redis_url: str) -> None:
    rows = _requests(n_accounts=60, seed=3)
    want = _sql_keys(rows)
    mem, red = MemoryState(), RedisState(redis_url, prefix="coh:")
    for r in rows:
        fm = mem.observe(r["account_id"], r)
        fr = red.observe(r["account_id"], r)
        assert {c: fr[f"cohort_{c}"] for c in COHORT_COUNTS} == {
            c: fm[f"cohort_{c}"] for c in COHORT_COUNTS
        }
    for a in want:
        row = account_row(red.peek(a, T0 + 10_000), None)
        assert (row["route_kind"], row["client_kind"]) == want[a], a


def test_batch_keys_fill_in_where_online_counted_none() -> None:
    no_route = MemoryState().observe("a", {"ts_ms": T0, "account_id": "a"})
    meta = {"route_kind": "cloud", "client_kind": "program"}
    row = account_row(no_route, meta)
    assert (row["route_kind"], row["client_kind"]) == ("cloud", "program")
    # what online counted wins: the same cohort batch would place these requests in
    seen = MemoryState().observe(
        "a", {"ts_ms": T0, "account_id": "a", "access_route": "direct", "user_agent": "Mozilla/5"}
    )
    row = account_row(seen, meta)
    assert (row["route_kind"], row["client_kind"]) == ("direct", "browser")
    assert account_row(no_route, None)["route_kind"] is None


def test_batch_keys_load_from_the_stored_log(tmp_path: Path) -> None:
    """A store whose account_features lack the keys: batch's query over its stored requests."""
    rows = _requests(n_accounts=40, seed=4)
    want = _sql_keys(rows)
    tmp_path.mkdir(exist_ok=True)
    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    con.execute("CREATE TABLE account_features(account_id VARCHAR, n_requests BIGINT)")
    con.execute(
        "CREATE TABLE requests(account_id VARCHAR, request_id VARCHAR, ts_ms BIGINT,"
        " access_route VARCHAR, user_agent VARCHAR)"
    )
    con.executemany(
        "INSERT INTO requests VALUES (?, ?, ?, ?, ?)",
        [[r["account_id"], r["request_id"], r["ts_ms"], r["access_route"], r["user_agent"]]
         for r in rows],
    )
    con.close()
    cache = VerdictCache.load(tmp_path)
    got = {a: (m["route_kind"], m["client_kind"]) for a, m in cache.meta.items()}
    assert got == want


def test_online_ranks_each_account_in_batchs_cohort(batch, sample, tmp_path) -> None:  # noqa: F811
    """Replayed accounts of the tiny world: online reads each ``rcv:`` percentile in the cohort
    batch ranked the account in, so it equals batch's (features online computes exactly)."""
    accounts, rows = sample
    scorer = _scorer(batch, tmp_path)
    try:
        now = _replay(scorer, rows)
        online = {a: account_row(scorer.state.peek(a, now), scorer.cache.meta.get(a))
                  for a in accounts}
        ref = scorer.cache.reference
    finally:
        scorer.close()
    con = duckdb.connect(str(batch / "store" / "store.duckdb"), read_only=True)
    keys = {a: (r, c) for a, r, c in con.execute(ACCOUNT_COHORT_KEYS).fetchall()}
    exact = ["n_requests", "harvest_share", "reasoning_share", "mean_user_turns"]
    cols = ", ".join(f'"rcv:{c}"' for c in exact)
    want = {r[0]: r[1:] for r in con.execute(f"SELECT account_id, {cols} FROM model_inputs").fetchall()}
    con.close()
    assert ref is not None
    moved = 0
    for a in accounts:
        row = online[a]
        assert (row["route_kind"], row["client_kind"]) == keys[a], a
        table = as_columns([row])
        volume = ref.cohort(np.log1p(table["n_requests"]))
        levels = cohort_levels(table, volume)
        volume_only = [np.array([ANY], object), np.array([ANY], object), levels[2]]
        for c, w in zip(exact, want[a], strict=True):
            got = ref.route_percentile(c, table[c], levels)[0]
            assert got == pytest.approx(w, abs=1 / 128), (a, c)
            moved += abs(ref.route_percentile(c, table[c], volume_only)[0] - w) > 1 / 128
    assert moved > 0  # ranked in its volume cohort alone, some accounts would read otherwise
