"""Formats, folders, content parts, unknown fields, the account table, incremental runs."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard import contract
from distillguard.errors import InvalidInputError, InvalidParameterError
from distillguard.ingest import Store, discover


def _requests(st: Store) -> list[dict]:
    return st.con.sql("SELECT * FROM requests ORDER BY request_id").to_arrow_table().to_pylist()


def test_requests_table_has_exactly_the_stored_schema(tmp_path, make_log, rec):
    log = make_log("a.jsonl", [rec(1)])
    with Store(tmp_path / "s") as st:
        st.ingest([log])
        t = st.con.sql("SELECT * FROM requests").to_arrow_table()
    assert t.column_names == contract.STORED_REQUEST_SCHEMA.names
    assert t.num_rows == 1


def test_content_parts_system_prompt_turns_and_unknown_fields(tmp_path, make_log, rec):
    parts = [
        {"role": "developer", "content": [{"type": "text", "text": "Answer as JSON."}]},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "t1"}]},
        {"role": "tool", "content": [{"type": "tool_result", "content": "42"}]},
        {"role": "user", "content": [
            {"type": "text", "text": "Describe this image"},
            {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
            {"type": "text", "text": "in detail."},
        ]},
    ]
    log = make_log("parts.jsonl", [
        rec(1, messages=parts, tenant={"tier": "gold"}, trace_id="abc",
            tools=["search", {"type": "function", "function": {"name": "calc"}}],
            reasoning=2048),
        rec(2, system="Top-level system prompt."),
    ])
    with Store(tmp_path / "s") as st:
        st.ingest([log])
        r1, r2 = _requests(st)
    assert r1["prompt_text"] == "Describe this image\nin detail."
    assert r1["system_text"] == "Answer as JSON."
    assert (r1["n_messages"], r1["n_user_turns"]) == (5, 2)
    assert r1["prompt_chars"] == len(r1["prompt_text"])
    assert json.loads(r1["extra"]) == {"tenant": {"tier": "gold"}, "trace_id": "abc"}
    assert r1["tools"] == ["search", "calc"]
    assert r1["reasoning"] == "2048"
    assert r2["system_text"] == "Top-level system prompt."
    assert r2["extra"] is None
    assert r2["ts_ms"] == 1_714_564_802_000 and r2["ip"] == "203.0.113.7"


def test_gzip_parquet_and_folders_read_recursively_sorted(tmp_path, make_log, rec):
    make_log("day1/b.jsonl.gz", [rec(1), rec(2)])
    make_log("day1/a.jsonl", [rec(3)])
    make_log("day1/notes.txt", ["not a log"])
    make_log("day1/accounts.jsonl", [{"account_id": "x"}])  # not a request log
    rows = [rec(10, ts="2024-05-01T00:00:00+02:00"), rec(11, ts="2024-05-02T00:00:00Z")]
    tbl = pa.Table.from_pylist(rows)
    pq.write_table(tbl, tmp_path / "logs" / "day2.parquet")
    found = discover([tmp_path / "logs"])
    assert [f.path.relative_to(tmp_path / "logs").as_posix() for f in found] == [
        "day1/a.jsonl", "day1/b.jsonl.gz", "day2.parquet"]
    assert [f.fmt for f in found] == ["jsonl", "jsonl", "parquet"] and found[1].gzip
    with Store(tmp_path / "s") as st:
        res = st.ingest([tmp_path / "logs"])
        got = st.con.execute("SELECT request_id, source_line FROM requests ORDER BY 1").fetchall()
    assert res.files_read == 3 and res.quarantined == 0
    assert got == [("req-1", 1), ("req-10", 1), ("req-11", 2), ("req-2", 2), ("req-3", 1)]


def test_parquet_timestamp_column_and_bad_rows(tmp_path, rec):
    good = rec(1)
    tbl = pa.table({
        "request_id": ["p1", "p2", None],
        "ts": pa.array([1_714_564_800_000, 1_714_564_801_000, 1_714_564_802_000],
                       pa.timestamp("ms", tz="UTC")),
        "account_id": ["a", "a", "a"],
        "model": ["m", "m", "m"],
        "messages": [good["messages"], good["messages"], good["messages"]],
    })
    path = tmp_path / "x.parquet"
    pq.write_table(tbl, path)
    with Store(tmp_path / "s") as st:
        res = st.ingest([path])
        q = st.con.execute("SELECT line, reason FROM quarantine").fetchall()
        ts = st.con.execute("SELECT ts_ms FROM requests ORDER BY 1").fetchall()
    assert (res.accepted, res.quarantined) == (2, 1)
    assert q == [(3, "missing_field:request_id")]
    assert [t[0] for t in ts] == [1_714_564_800_000, 1_714_564_801_000]


def test_incremental_run_skips_known_files_and_quarantines_repeated_ids(tmp_path, make_log, rec):
    day1 = make_log("day1.jsonl", [rec(i) for i in range(10)])
    with Store(tmp_path / "s") as st:
        r1 = st.ingest([day1])
    day2 = make_log("day2.jsonl", [rec(i) for i in range(8, 15)])  # 8, 9 already stored
    with Store(tmp_path / "s") as st:
        r2 = st.ingest([day1, day2])
        n = st.con.execute("SELECT count(*), count(DISTINCT request_id) FROM requests").fetchall()
        files = st.con.execute("SELECT count(*) FROM ingested_files").fetchall()
    assert (r1.files_read, r1.accepted) == (1, 10)
    assert (r2.files_read, r2.files_skipped, r2.accepted, r2.quarantined) == (1, 1, 5, 2)
    assert r2.by_reason == {"duplicate_request_id": 2}
    assert n == [(15, 15)] and files == [(2,)]


def test_crash_mid_file_leaves_no_partial_file(tmp_path, make_log, rec, monkeypatch):
    from distillguard.ingest import readers

    good = make_log("good.jsonl", [rec(i) for i in range(5)])
    bad = make_log("bad.jsonl", [rec(100 + i) for i in range(20)])
    monkeypatch.setattr(readers, "BATCH_ROWS", 5)
    real = Store._insert_requests
    calls = {"n": 0}

    def crash_on_second_batch(self, *a, **k):
        if "bad.jsonl" in self._current_source:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt  # as if the process were killed mid-file
        return real(self, *a, **k)

    monkeypatch.setattr(Store, "_insert_requests", crash_on_second_batch)
    with Store(tmp_path / "s") as st, pytest.raises(KeyboardInterrupt):
        st.ingest([good, bad])
    monkeypatch.setattr(Store, "_insert_requests", real)
    with Store(tmp_path / "s") as st:
        assert st.con.execute("SELECT count(*) FROM requests").fetchall() == [(5,)]
        res = st.ingest([good, bad])  # the rerun reads only the file that did not finish
        assert (res.files_skipped, res.files_read, res.accepted) == (1, 1, 20)
        assert st.con.execute("SELECT count(*) FROM requests").fetchall() == [(25,)]


def test_account_table_csv_with_quarantine_and_upsert(tmp_path, make_log, rec):
    log = make_log("r.jsonl", [rec(1, account="a1")])
    acc = tmp_path / "accounts.csv"
    acc.write_text(
        "account_id,created_at,signup_route,verification,email_domain,payment_fingerprint,"
        "country,org_id,crm_tier\n"
        "a1,2024-01-02T00:00:00Z,standard,email,example.com,pf1,DE,,gold\n"
        "a2,1704153600000,Research,phone,uni.edu,,US,org9,\n"
        ",2024-01-01T00:00:00Z,standard,email,x.com,,US,,\n"
        "a3,not a date,standard,email,x.com,,US,,\n"
        "a4,2024-01-01,wormhole,email,x.com,,US,,\n"
        "a1,2024-01-03T00:00:00Z,standard,email,example.com,pf1,DE,,\n"
    )
    with Store(tmp_path / "s") as st:
        res = st.ingest([log], accounts=acc)
        rows = st.con.sql("SELECT * FROM accounts ORDER BY account_id").to_arrow_table().to_pylist()
        q = st.con.execute(
            "SELECT line, reason FROM quarantine WHERE source_file LIKE '%accounts.csv' ORDER BY line"
        ).fetchall()
    assert (res.accounts_accepted, res.accounts_quarantined) == (2, 4)
    assert q == [(4, "account:missing_field:account_id"), (5, "account:bad_timestamp"),
                 (6, "account:bad_value:signup_route"), (7, "account:duplicate_account_id")]
    assert res.by_reason == {r: 1 for _, r in q}
    a1, a2 = rows
    assert a1["created_at"] == 1_704_153_600_000 and json.loads(a1["extra"]) == {"crm_tier": "gold"}
    assert a2["signup_route"] == "research" and a2["created_at"] == 1_704_153_600_000
    acc2 = tmp_path / "accounts2.jsonl"
    acc2.write_text(json.dumps({"account_id": "a2", "verification": "business"}) + "\n")
    with Store(tmp_path / "s") as st:
        st.ingest([log], accounts=acc2)  # the log is skipped; the newer row replaces a2
        assert st.con.execute(
            "SELECT verification FROM accounts WHERE account_id = 'a2'").fetchall() == [("business",)]


def test_engine_error_costs_one_record_not_the_batch(tmp_path):
    raw = pa.table({"line": pa.array(["1", "2", "x", "4"], pa.large_string()),
                    "line_no": pa.array([1, 2, 3, 4], pa.int64())})
    sql = ("SELECT line_no AS source_line, CAST(line AS INTEGER) AS v, "
           "NULL::VARCHAR AS source_file, NULL::VARCHAR AS reason, NULL::VARCHAR AS raw "
           "FROM __dg_raw")
    with Store(tmp_path / "s") as st:
        st._current_source = "f.jsonl"
        out = st._validate(sql, raw, retain_content=True).to_pylist()
    assert [r["v"] for r in out] == [1, 2, None, 4]
    assert out[2]["reason"] == "unparseable_record:ConversionException" and out[2]["raw"] == "x"


def test_bad_arguments_raise_clear_errors(tmp_path, make_log, rec):
    with pytest.raises(InvalidInputError, match="input not found"):
        discover([tmp_path / "nope.jsonl"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no request log files"):
        discover([tmp_path / "empty"])
    with pytest.raises(InvalidParameterError, match="memory_limit"):
        Store(tmp_path / "s", memory_limit="lots")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidInputError, match="not a folder"):
        Store(tmp_path / "afile")
    with Store(tmp_path / "s2") as st, pytest.raises(InvalidInputError, match="account table"):
        st.ingest([make_log("a.jsonl", [rec(1)])], accounts=tmp_path / "missing.csv")


def test_id_index_runs_merge_and_membership():
    import numpy as np

    from distillguard.ingest.store import IdIndex

    rng = np.random.default_rng(0)
    stored = rng.integers(0, 2**63, 5000, dtype=np.uint64)
    idx = IdIndex(stored[:1000])
    for k in range(1000, 5000, 250):
        idx.add(stored[k : k + 250])
    assert len(idx) == 5000 and len(idx.runs) <= 8
    probe = np.concatenate([stored[::7], rng.integers(0, 2**63, 500, dtype=np.uint64)])
    expect = np.isin(probe, stored)
    assert (idx.contains(probe) == expect).all()


def test_hash_candidates_are_confirmed_on_the_strings(tmp_path, make_log, rec):
    import numpy as np

    from distillguard.ingest.store import IdIndex

    log = make_log("a.jsonl", [rec(i) for i in range(5)])
    with Store(tmp_path / "s") as st:
        # An index that (wrongly) holds every id of the batch: like 64-bit collisions.
        h = st.con.execute(
            "SELECT hash('req-' || i::VARCHAR) FROM range(5) t(i)").fetchall()
        st._ids = IdIndex(np.array([x[0] for x in h], dtype=np.uint64))
        res = st.ingest([log])
    assert (res.accepted, res.quarantined) == (5, 0)


def test_parquet_reader_memory_does_not_grow_with_rows_read(tmp_path, monkeypatch):
    """Arrow memory held while a Parquet log is read stays at a few batches, not the file."""
    import numpy as np

    from distillguard.ingest import readers

    rows, group = 60_000, 2_000
    # incompressible text: the file on disk is about as large as the text (~24 MB)
    rng = np.random.default_rng(15)
    text = pa.array([rng.bytes(200).hex() for _ in range(rows)])
    tbl = pa.table({"request_id": pa.array([f"r{i}" for i in range(rows)]),
                    "ts": pa.array([1_704_067_200 + i for i in range(rows)]), "prompt": text})
    path = tmp_path / "requests.parquet"
    pq.write_table(tbl, path, row_group_size=group)
    del tbl, text
    monkeypatch.setattr(readers, "BATCH_ROWS", group)
    f = readers.InputFile(path, "parquet")
    base = pa.total_allocated_bytes()  # what earlier tests still hold in the shared pool
    held = []
    for batch in readers.iter_parquet(f):
        held.append(pa.total_allocated_bytes())
        del batch
    assert len(held) == rows // group
    # A reader that keeps the file's bytes it read (pyarrow's pre-buffering: all of this small
    # file at once, a growing share of a large one) holds more than the file; a batch of
    # 2,000 rows is ~1 MB of text.
    size = path.stat().st_size
    assert size > 20_000_000
    assert max(held) - base < size / 4, (max(held), base, size)
