"""Repeated request ids: every later occurrence is quarantined, inside a batch and across files.

``Store._batch_repeats`` runs the ordering window only on ids whose hash repeats in the batch;
these tests pin that the result is the same as partitioning every id: the first line of each
id is stored, every later one (however many, interleaved with others) is quarantined.
"""

from __future__ import annotations

import pyarrow as pa

from distillguard.ingest import Store


def test_interleaved_repeats_in_one_batch(tmp_path, make_log, rec):
    order = [1, 2, 1, 3, 2, 1, 4, 5, 4, 6]  # ids 1 ×3, 2 ×2, 4 ×2, the rest once
    log = make_log("a.jsonl", [rec(i) for i in order])
    with Store(tmp_path / "s") as st:
        res = st.ingest([log], workers=1)
        stored = st.con.execute(
            "SELECT request_id, min(source_line) FROM requests GROUP BY request_id"
        ).fetchall()
        lines = sorted(r[0] for r in st.con.execute(
            "SELECT line FROM quarantine WHERE reason = 'duplicate_request_id'"
        ).fetchall())
    first = {}
    for line, i in enumerate(order, start=1):
        first.setdefault(f"req-{i}", line)
    assert dict(stored) == first
    assert lines == [3, 5, 6, 9]
    assert (res.accepted, res.quarantined) == (6, 4)


def test_batch_repeats_table(tmp_path):
    with Store(tmp_path / "s") as st:
        ids = pa.table({
            "request_id": ["a", "b", "a", "c", "a", "b"],
            "source_line": pa.array([10, 11, 12, 13, 14, 15], pa.int64()),
        })
        t = st._batch_repeats(ids)
        want = dict(st.con.execute(
            "SELECT source_line, hash(request_id) FROM (VALUES ('a', 10), ('b', 11), "
            "('a', 12), ('c', 13), ('a', 14), ('b', 15)) v(request_id, source_line)"
        ).fetchall())
    got = dict(zip(t.column("source_line").to_pylist(), t.column("again").to_pylist(), strict=True))
    assert got == {10: False, 11: False, 12: True, 13: False, 14: True, 15: True}
    assert dict(zip(t.column("source_line").to_pylist(), t.column("h").to_pylist(), strict=True)) == want


def test_repeat_of_a_stored_id_in_a_later_file(tmp_path, make_log, rec):
    a = make_log("a.jsonl", [rec(1), rec(2)])
    b = make_log("b.jsonl", [rec(3), rec(2), rec(3), rec(4)])
    with Store(tmp_path / "s") as st:
        st.ingest([a], workers=1)
        res = st.ingest([b], workers=1)
        q = st.con.execute(
            "SELECT line FROM quarantine WHERE reason = 'duplicate_request_id' ORDER BY line"
        ).fetchall()
    assert [r[0] for r in q] == [2, 3]
    assert (res.accepted, res.quarantined) == (2, 2)
