"""analyze's run engine: request_keys is a TEMP table (not written to the store) when it fits
its share of DuckDB's memory_limit, a stored table otherwise; a stale stored copy is dropped."""

from __future__ import annotations

from pathlib import Path

import duckdb

from distillguard.engines.base import DuckDBEngine
from distillguard.scoring.analyze import _TEMP_ROW_BYTES, _RunEngine


def _kinds(con: duckdb.DuckDBPyConnection, name: str) -> list[bool]:
    return [t for (t,) in con.execute(
        "SELECT temporary FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()]


def _store(path: Path, n: int, limit: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path / "s.duckdb"))
    con.execute(f"SET memory_limit = '{limit}'")
    con.execute(f"CREATE TABLE requests AS SELECT range AS request_id FROM range({n})")
    con.execute("CREATE TABLE request_keys AS SELECT 0 AS stale")  # an older version's copy
    return con


def test_request_keys_is_temp_when_it_fits(tmp_path: Path) -> None:
    con = _store(tmp_path, 1000, "1GB")
    engine = _RunEngine.wrap(DuckDBEngine(con))
    assert _kinds(con, "request_keys") == []  # the stale stored copy is gone
    engine.create_table("request_keys", "SELECT request_id FROM requests")
    engine.create_table("account_base", "SELECT 1 AS n")
    assert _kinds(con, "request_keys") == [True] and _kinds(con, "account_base") == [False]
    assert engine.fetch_arrow("SELECT count(*) AS n FROM request_keys").column("n")[0].as_py() == 1000
    con.close()
    reopened = duckdb.connect(str(tmp_path / "s.duckdb"))
    assert _kinds(reopened, "request_keys") == [] and _kinds(reopened, "account_base") == [False]


def test_request_keys_is_stored_when_it_would_fill_the_memory_limit(tmp_path: Path) -> None:
    n = (64 * 2**20) // _TEMP_ROW_BYTES  # the whole of a 64 MiB limit
    con = _store(tmp_path, n, "64MiB")
    engine = _RunEngine.wrap(DuckDBEngine(con))
    engine.create_table("request_keys", "SELECT request_id FROM requests")
    assert _kinds(con, "request_keys") == [False]
