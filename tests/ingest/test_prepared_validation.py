"""The validation query is prepared once per connection and re-run on every batch."""

from __future__ import annotations

import gc
import json

import pyarrow as pa

from distillguard.ingest import prepare, validate


def _raw(lines: list[str], first: int = 1) -> pa.Table:
    return pa.table({"line": pa.array(lines, pa.large_string()),
                     "line_no": pa.array(range(first, first + len(lines)), pa.int64())})


def _rec(i: int, **kw) -> str:
    r = {"request_id": f"r{i}", "ts": 1_704_067_200 + i, "account_id": "a",
         "model": "m", "messages": [{"role": "user", "content": f"hello {i}"}]}
    r.update(kw)
    return json.dumps(r)


def _fresh(sql: str, raw: pa.Table) -> pa.Table:
    """The query as it ran before: parsed and bound on a new connection for this batch."""
    con = prepare.connect()
    con.register("__dg_raw", raw)
    return con.sql(sql).to_arrow_table()


def test_prepared_statement_is_reused_and_reads_each_new_batch():
    sql = validate.request_sql("__dg_raw", "f.jsonl", True, None, within_batch_dedup=False)
    con = prepare.connect()
    # prepared on a batch that is then freed: nothing may still point at it
    prepare.validate_batch(con, sql, _raw([_rec(99)]), "f.jsonl", True)
    gc.collect()
    batches = [
        _raw([_rec(1), _rec(2)]),
        _raw(["{not json", _rec(3, ts="yesterday"), _rec(4, messages=[])], first=3),
        _raw([_rec(i) for i in range(5, 40)], first=6),
    ]
    outs = []
    for b in batches:
        outs.append(prepare.validate_batch(con, sql, b, "f.jsonl", True))
    assert len(prepare._PREPARED[con]) == 1  # one statement for the three batches
    for b, out in zip(batches, outs, strict=True):
        want = _fresh(sql, b)
        assert out.equals(want) and out.schema == want.schema
    assert outs[1].column("reason").to_pylist() == [
        "invalid_json", "bad_timestamp", "bad_messages"]
    assert outs[2].column("request_id").to_pylist() == [f"r{i}" for i in range(5, 40)]


def test_a_batch_that_breaks_the_engine_bisects_with_the_prepared_statement():
    sql = ("SELECT line_no AS source_line, CAST(line AS INTEGER) AS v, "
           "NULL::VARCHAR AS source_file, NULL::VARCHAR AS reason, NULL::VARCHAR AS raw "
           "FROM __dg_raw")
    con = prepare.connect()
    good = prepare.validate_batch(con, sql, _raw(["1", "2"]), "f", True)
    assert good.column("v").to_pylist() == [1, 2]
    out = prepare.validate_batch(con, sql, _raw(["1", "2", "x", "4"]), "f", True).to_pylist()
    assert [r["v"] for r in out] == [1, 2, None, 4]
    assert out[2]["reason"] == "unparseable_record:ConversionException" and out[2]["raw"] == "x"
    # the statement still works after the failed runs
    again = prepare.validate_batch(con, sql, _raw(["7"]), "f", True)
    assert again.column("v").to_pylist() == [7]


def test_old_statements_are_deallocated():
    con = prepare.connect()
    for i in range(prepare.PREPARED_PER_CONNECTION + 3):
        sql = validate.request_sql("__dg_raw", f"f{i}.jsonl", True, None, within_batch_dedup=False)
        out = prepare.validate_batch(con, sql, _raw([_rec(i)]), f"f{i}.jsonl", True)
        assert out.column("source_file").to_pylist() == [f"f{i}.jsonl"]
    assert len(prepare._PREPARED[con]) == prepare.PREPARED_PER_CONNECTION
    left = con.sql("SELECT count(*) FROM duckdb_prepared_statements()").fetchall()[0][0]
    assert left == prepare.PREPARED_PER_CONNECTION
