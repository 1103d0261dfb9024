"""CTEs read twice are computed once on Spark (``engines/spark/ctes.py``), same results."""

from __future__ import annotations

import pyarrow as pa
import pytest

from distillguard.coordination import definitions as d
from distillguard.coordination.lockstep import ACCOUNT_LOCKSTEP
from distillguard.engines.spark.ctes import plan_ctes, references, split_ctes


def _edges_sql() -> str:
    union = d.edge_union(("ip", "payment"), window_ms=60_000, pivot_bucket_ms=3_600_000,
                         pivot_min_share=0.5, pivot_max_delay_h=24.0, pivot_min_requests=2)
    return f"SELECT * FROM ({union}) AS edges ORDER BY account_id, key_kind, key"


def test_split_finds_a_with_list_inside_a_subquery() -> None:
    prefix, ctes, rest = split_ctes(_edges_sql())
    assert prefix.strip() == "SELECT * FROM ("
    assert [c.name for c in ctes] == ["e", "o", "eo", "d"]  # o, eo: each key's owners
    assert "max(n) AS n" in ctes[0].body and "FROM eo GROUP BY" in ctes[3].body
    assert rest.strip().endswith("ORDER BY account_id, key_kind, key")


def test_only_ctes_read_twice_are_planned() -> None:
    once, stmt = plan_ctes(_edges_sql())
    assert [n for n, _ in once] == ["eo"]  # read by d and by the final join; d only once
    assert " d AS (" in stmt and "eo AS (" not in stmt
    # the lockstep pairs' Jaccard, read twice by the union of both ends
    once, stmt = plan_ctes(ACCOUNT_LOCKSTEP.format(p="ls", min_jaccard=0.1))
    assert [n for n, _ in once] == ["j"]
    assert stmt.lstrip().startswith("WITH d AS (")


def test_what_is_not_rewritten() -> None:
    assert plan_ctes("SELECT 1 AS x") == ([], "SELECT 1 AS x")
    once_only = "WITH a AS (SELECT 1 AS x) SELECT * FROM a"
    assert plan_ctes(once_only) == ([], once_only)
    commented = "WITH a AS (SELECT 1 AS x) -- it's\nSELECT * FROM a JOIN a b ON a.x = b.x"
    assert plan_ctes(commented) == ([], commented)
    twice = "WITH a AS (SELECT 1 AS x) SELECT * FROM a JOIN a b ON a.x = b.x"
    assert plan_ctes(twice, exists=lambda n: n == "a") == ([], twice)  # would hide a table
    assert [n for n, _ in plan_ctes(twice)[0]] == ["a"]
    # a column qualified by the name after FROM is not a read of the relation
    assert references("d", "FROM e JOIN d ON e.k IS NOT DISTINCT FROM d.key") == 1


def test_a_quoted_with_is_not_a_cte() -> None:
    sql = "SELECT 'WITH a AS (' AS s FROM t"
    assert split_ctes(sql) is None


@pytest.mark.spark
def test_spark_results_equal_and_views_dropped(spark) -> None:
    """The edge query and a chained CTE give the same rows computed once as inlined."""
    from distillguard.engines.spark.engine import SparkEngine

    eng = SparkEngine(spark)
    keys = pa.table({
        "account_id": ["a", "a", "b", "b", "c", "d"],
        "ip": ["1.1.1.1", "2.2.2.2", "1.1.1.1", None, "2.2.2.2", "1.1.1.1"],
        "payment": ["p1", "p1", "p1", "p2", None, "p2"],
    })
    eng.register_arrow("request_keys", keys)
    eng.register_arrow("account_base", pa.table({"account_id": ["a", "b", "c", "d"],
                                                 "n_requests": [2, 2, 1, 1]}))
    eng.register_arrow("account_meta", pa.table({
        "account_id": ["a"], "payment_fingerprint": ["p9"],
        "org_id": pa.array([None], pa.string()), "verification": ["email"],
    }))
    chained = ("WITH a AS (SELECT account_id, count(*) AS n FROM request_keys GROUP BY "
               "account_id), b AS (SELECT x.account_id, x.n + y.n AS m FROM a x JOIN a y "
               "ON x.account_id = y.account_id) SELECT * FROM b JOIN b c USING (account_id) "
               "ORDER BY account_id")
    for sql in (_edges_sql(), chained):
        assert plan_ctes(sql)[0]  # something is computed once
        want = spark.sql(sql).toArrow()  # Spark's own inlined CTEs
        got = eng.fetch_arrow(sql)
        assert got.num_rows > 0 and got.to_pylist() == want.to_pylist()
        for name in ("a", "b", "e", "o", "eo", "d"):
            assert not spark.catalog.tableExists(name)
    eng.create_table("edges_once", _edges_sql())
    assert eng.fetch_arrow("SELECT count(*) AS n FROM edges_once").column("n")[0].as_py() == 9
