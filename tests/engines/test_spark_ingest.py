"""Spark ingest = the embedded ingest: same accepted rows, same quarantine (line, reason)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.spark]


def _rec(i: int, acc: str) -> dict:
    return {
        "request_id": f"r{i}", "ts": 1_767_225_600_000 + i * 1000, "account_id": acc,
        "model": "m1", "ip": f"10.0.{i % 3}.{i % 7}", "max_tokens": 512,
        "messages": [{"role": "system", "content": "You are a grader."},
                     {"role": "user", "content": f"Let's think step by step: {i}+{i}?"}],
    }


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three files in a Hive-style lake layout: JSONL with every kind of bad record, CRLF and a
    blank line; gzip JSONL repeating ids of the first file; Parquet."""
    root = tmp_path_factory.mktemp("lake")
    (root / "day=1").mkdir()
    (root / "day=2").mkdir()
    lines = [json.dumps(_rec(i, f"a{i % 5}")) for i in range(30)]
    lines[3] = "{not json"
    lines[5] = json.dumps({k: v for k, v in _rec(5, "a1").items() if k != "model"})
    r = _rec(7, "a2")
    r["ts"] = "yesterday"
    lines[7] = json.dumps(r)
    r = _rec(9, "a2")
    r["max_tokens"] = "big"
    lines[9] = json.dumps(r)
    r = _rec(11, "a2")
    r["ts"] = "2026-01-01T10:00:00+02:00"
    r["messages"][1]["content"] = [{"type": "text", "text": "Grade this answer: 7/10"}]
    lines[11] = json.dumps(r) + "\r"
    lines[12] = json.dumps(_rec(10, "a3"))  # duplicate id inside the file
    lines.insert(20, "")
    (root / "day=1" / "a.jsonl").write_text("\n".join(lines) + "\n")
    again = [json.dumps(_rec(i, f"a{i % 4}")) for i in range(26, 40)]  # 26..29 repeat
    with gzip.open(root / "day=2" / "b.jsonl.gz", "wt") as fh:
        fh.write("\n".join(again) + "\n")
    pq.write_table(pa.Table.from_pylist([_rec(i, f"b{i % 3}") for i in range(40, 52)]),
                   root / "day=2" / "c.parquet")
    return root


def test_ingest_matches_embedded_store(spark, logs, tmp_path):
    from distillguard.engines.spark.store import SparkStore
    from distillguard.ingest import Store

    emb = Store(tmp_path / "emb")
    want = emb.ingest([logs])
    want_q = sorted(emb.con.execute("SELECT source_file, line, reason FROM quarantine").fetchall())
    want_ids = sorted(r[0] for r in emb.con.execute("SELECT request_id FROM requests").fetchall())
    want_feats = emb.con.execute(
        "SELECT request_id, sig_cot, capability, CAST(skeleton_hash AS VARCHAR) "
        "FROM requests ORDER BY request_id").fetchall()
    emb.close()

    st = SparkStore(spark, tmp_path / "spk")
    got = st.ingest([logs])
    assert (got.accepted, got.quarantined, got.by_reason) == (
        want.accepted, want.quarantined, want.by_reason)
    assert got.by_reason["duplicate_request_id"] == 5  # 1 inside a file, 4 across files
    q = st.read("quarantine")
    got_q = sorted((r["source_file"], r["line"], r["reason"]) for r in q.collect())
    assert got_q == want_q
    req = st.requests()
    assert sorted(r["request_id"] for r in req.select("request_id").collect()) == want_ids
    got_feats = [
        (r[0], r[1], r[2], r[3]) for r in req.selectExpr(
            "request_id", "sig_cot", "capability", "CAST(skeleton_hash AS STRING)"
        ).orderBy("request_id").collect()
    ]
    assert got_feats == want_feats

    # Incremental: the same files again are skipped, nothing is added.
    second = st.ingest([logs])
    assert second.files_read == 0 and second.files_skipped == 3
    assert st.counts()["requests"] == want.accepted


def test_duplicates_removed_without_joining_every_row(spark) -> None:
    """No duplicate: the accepted rows as they are (no join); a few: a broadcast anti-join;
    more than the broadcast bound: a plain anti-join. The same rows either way."""
    from distillguard.engines.spark.store import _broadcast_rows, _session_conf, _without

    accepted = spark.createDataFrame(
        [("f", i, f"r{i}") for i in range(20)], "source_file string, source_line long, id string")
    none = spark.createDataFrame([], "source_file string, source_line long")
    assert _without(accepted, none, 0, 10) is accepted
    dups = spark.createDataFrame([("f", 3), ("f", 7)], "source_file string, source_line long")
    want = sorted(f"r{i}" for i in range(20) if i not in (3, 7))
    for bound in (10, 1):  # broadcast, then too many to broadcast
        got = _without(accepted, dups, 2, bound)
        assert sorted(r["id"] for r in got.collect()) == want
        plan = got._jdf.queryExecution().optimizedPlan().toString()
        assert ("broadcast" in plan.lower()) == (bound == 10)
    assert _broadcast_rows(spark) > 1000  # Spark's 10 MiB threshold over 256-byte keys
    key = "spark.sql.maxConcurrentOutputFileWriters"
    before = spark.conf.get(key)
    with _session_conf(spark, {key: "7"}):
        assert spark.conf.get(key) == "7"
    assert spark.conf.get(key) == before
