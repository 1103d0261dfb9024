"""Example request ids come out in their ranking order, whatever DuckDB's parallel plan."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from distillguard.scoring import definitions as d


def _con(n_acc: int = 400, per: int = 300) -> duckdb.DuckDBPyConnection:
    rng = np.random.default_rng(7)
    acc = np.repeat([f"a{i:04d}" for i in range(n_acc)], per)
    keys = pa.table({
        "account_id": acc,
        "request_id": [f"r{i:07d}" for i in rng.permutation(len(acc))],
        "harvest": rng.integers(0, 4, len(acc)) / 4.0,  # ties: broken by ts, then id
        "ts_ms": rng.integers(0, 50, len(acc)),
        "template": rng.integers(0, 40, len(acc)).astype(str),
    })
    con = duckdb.connect()
    con.execute("SET threads = 4")
    con.register("k_arrow", keys)
    con.execute("CREATE TABLE request_keys AS SELECT * FROM k_arrow")
    con.execute("CREATE TABLE flagged_accounts AS SELECT DISTINCT account_id FROM request_keys")
    return con


def _first_per_account(rows: list[tuple[str, str]], k: int) -> list[tuple[str, str]]:
    """The first ``k`` (account, request) rows of each account, accounts in order."""
    by_acc: dict[str, list[str]] = {}
    for a, r in rows:
        if len(by_acc.setdefault(a, [])) < k:
            by_acc[a].append(r)
    return [(a, r) for a, refs in sorted(by_acc.items()) for r in refs]


def test_example_requests_ordered_by_rank():
    con = _con()
    got = con.sql(d.EXAMPLE_REQUESTS.format(max_refs=5)).fetchall()
    want = con.sql(
        "SELECT account_id, request_id FROM request_keys ORDER BY account_id, harvest DESC, "
        "ts_ms, request_id"
    ).fetchall()
    assert got == _first_per_account(want, 5)


def test_template_affinity_refs_earliest_first():
    con = _con()
    con.execute("CREATE TABLE attack_members AS SELECT 'a0000' AS account_id, 'c1' AS cluster_id")
    con.execute(
        "CREATE TABLE attack_templates AS SELECT CAST(t AS VARCHAR) AS template, "
        "CASE WHEN t % 2 = 0 THEN 'c1' ELSE 'c2' END AS cluster_id FROM range(10) r(t)"
    )
    got = con.sql(d.TEMPLATE_AFFINITY.format(max_refs=5)).fetchall()
    rows = con.sql(
        "SELECT account_id, request_id FROM request_keys WHERE account_id <> 'a0000' "
        "AND CAST(template AS INTEGER) < 10 ORDER BY account_id, ts_ms, request_id"
    ).fetchall()
    assert [(a, r) for a, _, r, _, _ in got] == _first_per_account(rows, 5)
