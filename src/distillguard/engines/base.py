"""The few nouns every engine offers, so feature definitions are written once.

Per-request work is SQL (in the common subset of DuckDB and Spark SQL, see ``DIALECT_RULES``)
or an Arrow batch function; account-level work (graph clustering, scoring) is shared Python on
Arrow tables, which are small (one row per account or edge). An ``Engine`` runs the SQL.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import duckdb
import pyarrow as pa

# SQL written for both engines keeps to this subset.
DIALECT_RULES = """
- types: STRING, BIGINT, INT, DOUBLE, BOOLEAN (no VARCHAR(n), no UBIGINT in DDL)
- time: ts_ms is epoch milliseconds; hours = floor(ts_ms / 3600000.0); no timestamp functions
- aggregates: count, count(DISTINCT x), sum, avg, min, max, stddev_samp, approx_count_distinct
- strings: concat, lower, length, split_part, coalesce, regexp_extract(s, pattern, group)
- windows: lag/lead/row_number OVER (PARTITION BY ... ORDER BY ...)
- no list/array functions in SQL: list work happens in Arrow batch functions
- no backslashes in string literals (Spark unescapes them, DuckDB does not)
- sorting a nullable column: say NULLS FIRST / NULLS LAST (Spark puts NULLs first on ASC)
- floor() is BIGINT in Spark and DOUBLE in DuckDB: CAST it
- x / 0 is inf in DuckDB 2.0 and NULL in Spark: divide by nullif(d, 0)
"""


@runtime_checkable
class Engine(Protocol):
    """Runs dialect-neutral SQL over named tables; results come back as Arrow."""

    name: str

    def create_table(self, name: str, sql: str) -> None:
        """Materialise ``sql`` as table ``name`` (replacing it)."""

    def fetch_arrow(self, sql: str) -> pa.Table:
        """Run ``sql`` and return the (small) result as Arrow."""

    def fetch_batches(self, sql: str, rows: int) -> pa.RecordBatchReader:
        """Run ``sql`` and read its (large) result ``rows`` at a time; read it to the end
        before the next query."""

    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as ``name`` (replacing it)."""

    def has_table(self, name: str) -> bool:
        """Whether ``name`` exists."""


class DuckDBEngine:
    """The embedded engine: one DuckDB connection (in memory or on a store file)."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = con if con is not None else duckdb.connect()

    def create_table(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")

    def fetch_arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def fetch_batches(self, sql: str, rows: int) -> pa.RecordBatchReader:
        return self.con.sql(sql).to_arrow_reader(rows)

    def register_arrow(self, name: str, table: pa.Table) -> None:
        # A real table, not a view over Python memory: it survives the Arrow object.
        self.con.register("__dg_arrow_tmp", table)
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM __dg_arrow_tmp")
        finally:
            self.con.unregister("__dg_arrow_tmp")

    def has_table(self, name: str) -> bool:
        # fetchall, not fetchone: a half-read result would block the next query.
        rows = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()
        return bool(rows and rows[0][0])
