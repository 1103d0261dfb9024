"""One raw batch of request records → validated rows and their text features.

What a batch goes through before the store, with nothing the store knows (its ids, its
transaction): validation (:mod:`.validate`: its common records in Arrow, the others by the
validation SQL on a DuckDB connection; the same rows either way), then ``signals.featurize``
on the accepted rows. It runs in a featurize worker process
(:mod:`.parallel`, with the worker's own in-memory DuckDB) or in-process (on the store's
validation cursor); the rows are the same either way. Repeated request ids are left to the
store, which sees every earlier batch.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import contract
from ..errors import DistillguardError
from . import validate

# Not lower: under a 256 MB limit the validation query costs ~50% more CPU (DuckDB's buffer
# manager evicts and re-allocates its working memory), at 1 GB as without a limit.
WORKER_DUCKDB_MEMORY = "1GB"


@dataclass(frozen=True)
class BatchJob:
    """How to validate the batches of one file.

    ``sql`` is the validation query over ``__dg_raw``. On a file's first batch
    ``metadata_sql`` is the query of an access log: when no record of that batch carries user
    text, the batch is validated again with it and the file is metadata-only.
    """

    sql: str
    source: str
    retain_content: bool
    metadata_sql: str | None = None


@dataclass
class Prepared:
    """A validated batch: every record with its reason (``res``), the text features of the
    accepted ones in the same order (``feats``), and whether it read as an access log."""

    res: pa.Table
    feats: pa.Table
    metadata_only: bool = False


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the validation macros (one per worker)."""
    con = duckdb.connect()
    con.execute("SET threads = 1")  # one worker process per core already
    con.execute("SET enable_progress_bar = false")  # workers share the user's terminal
    con.execute(f"SET memory_limit = '{WORKER_DUCKDB_MEMORY}'")
    # A validation query's working memory (~20 kB per record) is handed back to the system
    # after the batch, before featurize needs its own.
    con.execute("SET allocator_background_threads = true")
    con.execute("SET allocator_flush_threshold = '8MB'")
    configure(con)
    return con


def configure(con: duckdb.DuckDBPyConnection) -> None:
    """Time parsing independent of the machine's zone, and the validation macros."""
    con.execute("SET TimeZone = 'UTC'")
    for macro in validate.MACROS:
        con.execute(macro)


# Validation statements prepared on each connection: a file's query is parsed once per
# connection instead of once per batch. DuckDB still binds and plans it again on every EXECUTE
# (a plan that reads a table is never cached: ``PreparedStatement::CanCachePlan``, see
# duckdb/duckdb#23712): ~30-35 ms of CPU per query on DuckDB 2.0 (measured: a 1-record
# EXECUTE of the same registration), hence several small batches per worker task
# (``parallel.MERGE_SHARE``). Keyed by the SQL and the raw table's schema (a statement is bound
# to the column types of ``__dg_raw``); the least recently used is deallocated past
# ``PREPARED_PER_CONNECTION`` (every file has its own query: its name is a literal in it).
PREPARED_PER_CONNECTION = 8
_PREPARED: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, OrderedDict[tuple[str, str], str]]
_PREPARED = weakref.WeakKeyDictionary()


def _run(con: duckdb.DuckDBPyConnection, sql: str, raw: pa.Table) -> pa.Table:
    """The result of ``sql`` over the registered ``__dg_raw`` (``raw``), by a statement
    prepared once on ``con``."""
    cache = _PREPARED.setdefault(con, OrderedDict())
    key = (sql, raw.schema.to_string())
    name = cache.get(key)
    if name is None:
        digest = hashlib.sha1("\0".join(key).encode()).hexdigest()[:16]
        name = f"dg_validate_{digest}"
        con.execute(f"PREPARE {name} AS {sql}")
        cache[key] = name
        while len(cache) > PREPARED_PER_CONNECTION:
            _, old = cache.popitem(last=False)
            con.execute(f"DEALLOCATE {old}")
    else:
        cache.move_to_end(key)
    return con.sql(f"EXECUTE {name}").to_arrow_table()


# Below this many records a batch goes to the query alone: the Arrow path's own fixed costs
# (a timestamp query, the reader's setup) would not pay.
ARROW_MIN_ROWS = 256
_SCHEMAS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, dict[tuple[str, str], pa.Schema]]
_SCHEMAS = weakref.WeakKeyDictionary()


def _result_schema(con: duckdb.DuckDBPyConnection, sql: str, raw: pa.Table) -> pa.Schema:
    """The schema of ``sql``'s result over ``raw`` (asked of DuckDB once per connection)."""
    cache = _SCHEMAS.setdefault(con, {})
    key = (sql, raw.schema.to_string())
    if key not in cache:
        con.register("__dg_raw", raw.slice(0, 0))
        try:
            cache[key] = _run(con, sql, raw.slice(0, 0)).schema
        finally:
            con.unregister("__dg_raw")
    return cache[key]


def validate_batch(
    con: duckdb.DuckDBPyConnection, sql: str, raw: pa.Table, source: str, retain_content: bool
) -> pa.Table:
    """Validate a batch: its common records in Arrow (``validate.arrow_requests``), the others
    by the validation SQL; the rows come back in the batch's order, equal to the SQL's."""
    params = validate.request_params(sql)
    if raw.num_rows < ARROW_MIN_ROWS or not validate.arrow_eligible(params):
        return sql_batch(con, sql, raw, source, retain_content)
    rows, fast = validate.arrow_requests(con, raw, params, _result_schema(con, sql, raw))
    if not len(rows):
        return sql_batch(con, sql, raw, source, retain_content)
    if len(rows) == raw.num_rows:
        return fast
    rest = np.setdiff1d(np.arange(raw.num_rows), rows, assume_unique=True)
    slow = sql_batch(con, sql, raw.take(pa.array(rest)), source, retain_content)
    order = np.argsort(np.concatenate([rows, rest]), kind="stable")
    return pa.concat_tables([fast, slow.cast(fast.schema)]).take(pa.array(order))


def sql_batch(
    con: duckdb.DuckDBPyConnection, sql: str, raw: pa.Table, source: str, retain_content: bool
) -> pa.Table:
    """Run the validation SQL on a batch; on an engine error, bisect down to the record.

    A record that makes DuckDB itself fail (a case the SQL does not foresee) is
    quarantined as ``unparseable_record``; the rest of its batch is validated normally.
    """
    con.register("__dg_raw", raw)
    try:
        return _run(con, sql, raw)
    except duckdb.Error as exc:
        if raw.num_rows > 1:
            half = raw.num_rows // 2
            return pa.concat_tables(
                [
                    sql_batch(con, sql, raw.slice(0, half), source, retain_content),
                    sql_batch(con, sql, raw.slice(half), source, retain_content),
                ]
            )
        return _unparseable(con, sql, raw, source, retain_content, exc)
    finally:
        con.unregister("__dg_raw")


def _unparseable(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    raw: pa.Table,
    source: str,
    retain_content: bool,
    exc: duckdb.Error,
) -> pa.Table:
    empty = con.sql(sql.replace("FROM __dg_raw", "FROM __dg_raw LIMIT 0")).to_arrow_table()
    row: dict[str, list[Any]] = {name: [None] for name in empty.column_names}
    row["source_file"] = [source]
    row["source_line"] = [raw.column("line_no")[0].as_py()]
    row["reason"] = [f"unparseable_record:{type(exc).__name__}"]
    row["raw"] = [raw.column("line")[0].as_py() if retain_content else validate.RAW_NOT_RETAINED]
    return pa.table(row, schema=empty.schema)


def no_text_at_all(res: pa.Table) -> bool:
    """True when no record of a batch carries user text (accepted or not) and some were
    quarantined for lacking it: the log is an access log."""
    any_text = pc.any(pc.fill_null(res.column("has_text"), False)).as_py()
    no_text = pc.any(pc.equal(pc.fill_null(res.column("reason"), ""), "no_text")).as_py()
    return bool(no_text) and not any_text


def validate_requests(con: duckdb.DuckDBPyConnection, raw: pa.Table, job: BatchJob) -> Prepared:
    """Validate a batch of requests (``feats`` left empty)."""
    res = validate_batch(con, job.sql, raw, job.source, job.retain_content)
    if job.metadata_sql is not None and no_text_at_all(res):
        res = validate_batch(con, job.metadata_sql, raw, job.source, job.retain_content)
        return Prepared(res, pa.table({}), metadata_only=True)
    return Prepared(res, pa.table({}))


def accepted_rows(res: pa.Table) -> pa.Table:
    """The accepted rows of a validated batch, as ``contract.NORMALIZED_REQUEST_SCHEMA``."""
    reason = res.column("reason")
    # A filter copies every column (the texts too) even when it keeps every row.
    good = res if reason.null_count == res.num_rows else res.filter(pc.is_null(reason))
    names = contract.NORMALIZED_REQUEST_SCHEMA.names
    return good.select(names).cast(contract.NORMALIZED_REQUEST_SCHEMA)


FEATURE_NAMES: tuple[str, ...] = tuple(
    n for n in contract.STORED_REQUEST_SCHEMA.names
    if n not in contract.NORMALIZED_REQUEST_SCHEMA.names
)


def features(table: pa.Table, policy: Any = None) -> pa.Table:
    """The feature columns (``FEATURE_NAMES`` that featurize returned) of normalised rows."""
    try:
        from ..signals import featurize
    except ImportError as exc:  # pragma: no cover - the package ships it
        raise DistillguardError(
            f"the text featurizer distillguard.signals.featurize is not available: {exc}"
        ) from exc
    out = featurize(table, policy=policy)
    out = pa.Table.from_batches([out]) if isinstance(out, pa.RecordBatch) else out
    return out.select([n for n in FEATURE_NAMES if n in out.column_names])


def prepare(
    con: duckdb.DuckDBPyConnection, raw: pa.Table, job: BatchJob, policy: Any = None
) -> Prepared:
    """Validate a raw batch and featurize its accepted rows."""
    done = validate_requests(con, raw, job)
    done.feats = features(accepted_rows(done.res), policy)
    return done
