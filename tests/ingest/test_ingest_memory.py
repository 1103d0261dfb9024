"""The store's DuckDB memory limit while ingest runs: its share of the tree's budget."""

from __future__ import annotations

import duckdb
import pytest

from distillguard.errors import InvalidParameterError
from distillguard.ingest import Store
from distillguard.ingest.store import ingest_memory_limit, size_bytes


def _shown(size: str) -> str:
    """How DuckDB reports ``memory_limit`` once set to ``size``."""
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{size}'")
    return con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_share_splits_the_budget_between_store_and_workers():
    assert size_bytes("512MB") == 512 * 10**6
    assert size_bytes("1.5GiB") == 3 * 2**29
    assert ingest_memory_limit("1GiB", 1) == "512MiB"
    assert ingest_memory_limit("3GiB", 2) == "1024MiB"
    assert ingest_memory_limit("1GB", 2) == f"{-(-10**9 // 3 // 2**20)}MiB"
    assert ingest_memory_limit("1GiB", 1, floor=600 * 2**20) == "600MiB"
    with pytest.raises(InvalidParameterError):
        size_bytes("lots")
    with pytest.raises(InvalidParameterError, match="ingest_memory_limit"):
        Store("unused", ingest_memory_limit="lots")


class _Recording(Store):
    """A store that notes its connection's memory limit as each batch is inserted."""

    seen: list[str]

    def _store_prepared(self, raw, done):  # type: ignore[no-untyped-def]
        self.seen.append(self.con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0])
        return super()._store_prepared(raw, done)


@pytest.mark.parametrize("override", [None, "64MB"])
def test_limit_holds_during_ingest_and_is_restored(tmp_path, make_log, rec, override):
    log = make_log("a.jsonl", [rec(i) for i in range(50)])
    with _Recording(tmp_path / "s", memory_limit="1GiB", ingest_memory_limit=override) as st:
        st.seen = []
        st.ingest([log], workers=1)
        after = st.con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert st.con.sql("SELECT count(*) FROM requests").fetchall()[0][0] == 50
    assert st.seen and set(st.seen) == {_shown(override or "512MiB")}
    assert after == _shown("1GiB")


def test_share_below_the_append_floor_is_raised_to_it(tmp_path, make_log, rec):
    """A budget whose share DuckDB could not append under still ingests the same rows."""
    text = "word " * 400  # ~2 kB per prompt: ~16 MB of text in all
    log = make_log(
        "big.jsonl",
        [rec(i, messages=[{"role": "user", "content": f"{text}{i}"}]) for i in range(8000)],
    )
    with Store(tmp_path / "probe") as st:
        floor = st._append_floor()
    # with one worker the share is half the budget: just under the floor
    small = f"{(2 * floor - 2**20) // 2**10}KiB"
    rows = []
    for name, budget in (("full", "1GB"), ("small", small)):
        with Store(tmp_path / name, memory_limit=budget) as st:
            st.ingest([log], workers=1)
            limit = st.last_ingest_memory_limit
            # the final read runs under the budget itself: raise it to read the whole table
            st.con.execute("SET memory_limit = '1GB'")
            rows.append(st.con.sql("SELECT * FROM requests ORDER BY request_id").to_arrow_table())
    assert limit == f"{-(-floor // 2**20)}MiB"
    assert rows[0].num_rows == 8000
    assert rows[0].equals(rows[1])


def test_out_of_memory_is_reported_not_masked_by_the_rollback(tmp_path, make_log, rec):
    """An explicit share below DuckDB's working set fails with DuckDB's own error, and the
    file's transaction leaves nothing behind."""
    text = "word " * 400
    log = make_log(
        "big.jsonl",
        [rec(i, messages=[{"role": "user", "content": f"{text}{i}"}]) for i in range(8000)],
    )
    with Store(tmp_path / "s", threads=1, ingest_memory_limit="8MB") as st:
        with pytest.raises(duckdb.Error, match="could not allocate"):
            st.ingest([log], workers=1)
        assert st.con.sql("SELECT count(*) FROM requests").fetchall()[0][0] == 0
        assert st.con.sql("SELECT count(*) FROM ingested_files").fetchall()[0][0] == 0
