"""``SparkEngine`` runs the shared SQL definitions and gives the same answers as DuckDB."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from distillguard import contract
from distillguard.engines.base import DuckDBEngine

pytestmark = [pytest.mark.spark]

PROMPTS = (
    "Let's think step by step. What is {a} times {b}? Show your full reasoning.",
    "Rate the following answer on a scale of 1-10 and explain the score: {a} + {b} = {c}",
    "Write a Python function that returns the {a}th prime number below {b}.",
    "Bonjour, peux-tu me recommander un restaurant près de la gare {a} ?",
    "Generate 20 diverse question-answer pairs about topic {a} in JSONL format.",
)


@pytest.fixture(scope="module")
def requests_table() -> pa.Table:
    """~300 featurized requests from 10 accounts over 3 days, 2 models, shared IPs."""
    from distillguard.signals import featurize

    rng = np.random.default_rng(5)
    n = 300
    acc = rng.integers(0, 10, n)
    tpl = (acc % len(PROMPTS) + (rng.random(n) < 0.2)) % len(PROMPTS)
    ts = 1_767_225_600_000 + np.sort(rng.integers(0, 3 * 86_400_000, n))
    cols: dict[str, pa.Array] = {f.name: pa.nulls(n, f.type) for f in contract.NORMALIZED_REQUEST_SCHEMA}
    cols["request_id"] = pa.array([f"r{i}" for i in range(n)])
    cols["ts_ms"] = pa.array(ts, pa.int64())
    cols["account_id"] = pa.array([f"acct{a}" for a in acc])
    cols["model"] = pa.array(np.where(ts > ts[0] + 2 * 86_400_000, "m-new", "m-old").tolist())
    cols["ip"] = pa.array([f"203.0.113.{a % 4}" if a < 6 else f"198.51.100.{i % 50}"
                           for i, a in enumerate(acc)])
    cols["user_agent"] = pa.array(["python-httpx/0.27" if a < 6 else "Mozilla/5.0" for a in acc])
    cols["payment_fingerprint"] = pa.array([f"pay{a // 3}" for a in acc])
    cols["session_id"] = pa.array([f"s{a}-{i // 7}" for i, a in enumerate(acc)])
    cols["max_tokens"] = pa.array(rng.choice([256.0, 1024.0, 4096.0], n))
    cols["input_tokens"] = pa.array(rng.integers(10, 500, n), pa.int64())
    cols["output_tokens"] = pa.array(rng.integers(10, 2000, n), pa.int64())
    cols["n_messages"] = pa.array(rng.integers(1, 4, n), pa.int32())
    cols["n_user_turns"] = pa.array(rng.integers(1, 3, n), pa.int32())
    text = [PROMPTS[t].format(a=int(rng.integers(2, 99)), b=int(rng.integers(2, 99)), c=7)
            for t in tpl]
    cols["prompt_text"] = pa.array(text)
    cols["prompt_chars"] = pa.array([len(t) for t in text], pa.int32())
    cols["system_text"] = pa.array(["You are a helpful grader." if a % 3 == 0 else None for a in acc])
    cols["source_file"] = pa.array(["mem"] * n)
    cols["source_line"] = pa.array(np.arange(1, n + 1), pa.int64())
    base = pa.table(cols, schema=contract.NORMALIZED_REQUEST_SCHEMA)
    return featurize(base).select(contract.STORED_REQUEST_SCHEMA.names).cast(
        contract.STORED_REQUEST_SCHEMA
    )


def _sorted(t: pa.Table, keys: list[str]) -> pa.Table:
    return t.sort_by([(k, "ascending") for k in keys])


def _assert_tables_close(a: pa.Table, b: pa.Table, keys: list[str]) -> None:
    assert a.num_rows == b.num_rows
    a, b = _sorted(a, keys), _sorted(b.select(a.column_names), keys)
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_floating(x.type) or pa.types.is_decimal(x.type) or pa.types.is_integer(x.type):
            xv = np.asarray(pc.cast(x, pa.float64()).to_numpy(zero_copy_only=False), float)
            yv = np.asarray(pc.cast(y, pa.float64()).to_numpy(zero_copy_only=False), float)
            np.testing.assert_allclose(xv, yv, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)
        else:
            assert x.to_pylist() == y.to_pylist(), name


def test_types_round_trip(spark):
    """uint64 hashes survive Spark (as DECIMAL(20,0)) bit for bit and print like DuckDB's.

    NULL order differs by default (Spark: NULLS FIRST on ASC), so shared SQL says it.
    """
    from distillguard.engines.spark.engine import SparkEngine

    eng = SparkEngine(spark)
    big = 2**64 - 5
    t = pa.table({"h": pa.array([big, 7, None], pa.uint64()),
                  "bands": pa.array([[big, 1], [], None], pa.list_(pa.uint64())),
                  "s": pa.array(["a", "b", None], pa.large_string())})
    eng.register_arrow("t_types", t)
    assert eng.has_table("t_types") and not eng.has_table("t_absent")
    got = eng.fetch_arrow("SELECT h, bands, s, CAST(h AS STRING) AS hs, "
                          "avg(length(s) * 1.0) OVER () / 3.0 AS third FROM t_types ORDER BY h NULLS LAST")
    duck = DuckDBEngine()
    duck.register_arrow("t_types", t)
    want = duck.fetch_arrow("SELECT h, bands, s, CAST(h AS STRING) AS hs, "
                            "avg(length(s) * 1.0) OVER () / 3.0 AS third FROM t_types ORDER BY h NULLS LAST")
    assert got.column("h").type == pa.uint64()
    assert got.column("h").to_pylist() == want.column("h").to_pylist() == [7, big, None]
    assert got.column("bands").to_pylist() == [[], [big, 1], None]
    assert got.column("hs").to_pylist() == want.column("hs").to_pylist()
    # Fractional literals are DOUBLE on both engines (Spark would use DECIMAL(…) otherwise).
    assert got.column("third").type == want.column("third").type == pa.float64()
    assert got.column("third").to_pylist() == want.column("third").to_pylist()


def test_large_tables_pass_through_parquet_files_not_the_driver_jvm(spark, tmp_path, monkeypatch):
    """Above the driver limit, ``fetch_arrow`` and ``register_arrow`` go through Parquet in
    the local warehouse, with the same rows, order and types as the in-memory path, and
    leave no files behind."""
    from distillguard.engines.spark import engine as engine_mod
    from distillguard.engines.spark.engine import SparkEngine

    big = 2**64 - 5
    n = 5_000
    t = pa.table({"h": pa.array([big - i for i in range(n)], pa.uint64()),
                  "bands": pa.array([[big, i] for i in range(n)], pa.list_(pa.uint64())),
                  "s": pa.array([f"v{i % 97}" if i % 11 else None for i in range(n)]),
                  "x": pa.array(np.arange(n) / 7.0)})
    sql = ("SELECT h, bands, s, x, CAST(h AS STRING) AS hs, timestamp_millis(CAST(1000 + x AS BIGINT)) AS ts "
           "FROM t_spool ORDER BY s NULLS FIRST, x DESC")
    small = SparkEngine(spark)  # no warehouse: always the in-memory path
    small.register_arrow("t_spool", t)
    want = small.fetch_arrow(sql)
    eng = SparkEngine(spark, warehouse=str(tmp_path / "wh"))
    spooled = []  # which tables took the file path
    fetch, write = engine_mod._fetch_via_parquet, engine_mod.pq.write_table
    monkeypatch.setattr(engine_mod, "_fetch_via_parquet",
                        lambda df, sp: spooled.append("fetch") or fetch(df, sp))
    monkeypatch.setattr(engine_mod.pq, "write_table",
                        lambda t, p, **k: spooled.append("register") or write(t, p, **k))
    old = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "1k")
    try:
        assert eng.driver_limit_bytes() == 1024 and t.nbytes > 1024
        eng.register_arrow("t_spool", t)
        got = eng.fetch_arrow(sql)
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", old)
    assert spooled == ["register", "fetch"]
    assert got.schema == want.schema
    assert got.equals(want)
    assert got.column("h").type == pa.uint64() and got.num_rows == n
    assert not list((tmp_path / "wh" / "_spool").glob("*"))


def test_account_definitions_agree_with_duckdb(spark, requests_table, tmp_path):
    """Fingerprints and graph edges: the same definitions, the same numbers on both engines."""
    from distillguard.accounts.fingerprint import AccountFingerprinter
    from distillguard.accounts.ipintel import IpIntel, enrich_ips
    from distillguard.coordination.graph import EdgeBuilder
    from distillguard.engines.spark.engine import SparkEngine

    intel = IpIntel().fit()
    results = {}
    for name, eng in (("duckdb", DuckDBEngine()),
                      ("spark", SparkEngine(spark, warehouse=str(tmp_path / "wh")))):
        eng.register_arrow("requests", requests_table)
        enrich_ips(eng, intel)
        fp = AccountFingerprinter(pivot_min_requests=5).fit(eng)
        eb = EdgeBuilder().fit(eng)
        results[name] = (fp, eb, eng.fetch_arrow("SELECT * FROM ip_intel"))
    (fd, ed, ipd), (fs, es, ips) = results["duckdb"], results["spark"]
    assert fd.features_.num_rows == 10
    assert fd.new_model_ == fs.new_model_ == "m-new"
    _assert_tables_close(fd.features_, fs.features_, ["account_id"])
    assert ed.edges_.num_rows > 20
    _assert_tables_close(ed.edges_, es.edges_, ["account_id", "key_kind", "key"])
    _assert_tables_close(ipd, ips, ["ip"])
