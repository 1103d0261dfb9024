"""Validation and text features on Spark, with the embedded engine's own code.

Raw records ``(line, line_no, source_file, file_order)`` (see :mod:`.reading`) go through one
``mapInArrow`` call. Inside each Python worker, every Arrow batch is validated by the embedded
ingest's SQL (``ingest.validate.request_sql``, run by an in-process DuckDB, the same macros, the
same reason codes) and the accepted rows are featurized by ``distillguard.signals.featurize``.
Nothing is re-implemented, so the two engines cannot drift: the equivalence test checks it.

What a batch cannot see is done in Spark afterwards: a request id seen in an earlier batch or
file (or already in the store) is quarantined as ``duplicate_request_id``; the first occurrence
in input order (files in discovery order, then lines) is kept, as in the embedded engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ... import contract
from .engine import to_spark_arrow

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

CONTENT_COLUMNS = ("prompt_text", "system_text")
# The staged row: the stored request, the quarantine reason and the raw record, input order.
STAGED_EXTRA = pa.schema([("reason", pa.string()), ("raw", pa.string()), ("file_order", pa.int32())])
STAGED_SCHEMA = pa.schema(list(contract.STORED_REQUEST_SCHEMA) + list(STAGED_EXTRA))

_CON: Any = None  # one DuckDB connection per Python worker process


def _duckdb():
    """The worker's DuckDB connection, with the embedded ingest's macros."""
    global _CON
    if _CON is None:
        import duckdb

        from ...ingest import validate

        con = duckdb.connect()
        con.execute("SET threads = 1")  # Spark runs one task per core already
        con.execute("SET memory_limit = '512MB'")
        con.execute("SET TimeZone = 'UTC'")
        for macro in validate.MACROS:
            con.execute(macro)
        _CON = con
    return _CON


def _request_sql(validate: Any, source: str, retain_content: bool) -> str:
    """The embedded validation SQL; duplicates are left to the global Spark window (as the
    embedded store leaves them to its id index) when the SQL offers that switch."""
    import inspect

    if "within_batch_dedup" in inspect.signature(validate.request_sql).parameters:
        return validate.request_sql("__dg_raw", source, retain_content, None,
                                    within_batch_dedup=False)
    return validate.request_sql("__dg_raw", source, retain_content, None)


class _Validator:
    """Runs the validation SQL with the embedded store's own ``Store._validate`` (which
    bisects a batch down to a record that makes DuckDB itself fail and quarantines it as
    ``unparseable_record``), on this worker's connection."""

    def __init__(self, con: Any, source: str) -> None:
        self._con = con
        self._current_source = source

    def _validator(self) -> Any:
        return self._con

    def run(self, sql: str, raw: pa.Table, retain_content: bool) -> pa.Table:
        from ...ingest.store import Store

        method = getattr(Store, "_validate", None)
        if method is None:
            self._con.register("__dg_raw", raw)
            try:
                return self._con.sql(sql).to_arrow_table()
            finally:
                self._con.unregister("__dg_raw")
        return method(self, sql, raw, retain_content)

    def _validate(self, sql: str, raw: pa.Table, retain_content: bool) -> pa.Table:
        from ...ingest.store import Store

        return Store._validate(self, sql, raw, retain_content)  # type: ignore[arg-type]


def spark_staged_schema():  # -> pyspark StructType
    """The Spark schema of staged rows (hashes as DECIMAL(20,0), see ``engine``)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(to_spark_arrow(STAGED_SCHEMA.empty_table())[0].schema)


def validate_table(raw: pa.Table, retain_content: bool, featurize=None) -> pa.Table:
    """Validate and featurize one batch of ``(line, line_no, source_file, file_order)``.

    Returns rows of :data:`STAGED_SCHEMA`: accepted requests with ``reason`` NULL and their
    text features, rejected ones with ``reason`` and ``raw`` (feature columns NULL).
    """
    from ...ingest import validate

    if featurize is None:
        featurize = _worker_featurizer(None)
    con = _duckdb()
    parts: list[pa.Table] = []
    files = pc.unique(raw.column("source_file")).to_pylist()
    for name in files:  # a loop over the (few) files in a batch, not over records
        sub = raw.filter(pc.equal(raw.column("source_file"), name))
        order = sub.column("file_order")[0].as_py()
        sql = _request_sql(validate, str(name), retain_content)
        res = _Validator(con, str(name)).run(sql, sub.select(["line", "line_no"]), retain_content)
        parts.append(_stage(res, order, retain_content, featurize))
    if not parts:
        return STAGED_SCHEMA.empty_table()
    return pa.concat_tables(parts)


def _stage(res: pa.Table, order: int, retain_content: bool, featurize) -> pa.Table:
    ok = pc.is_null(res.column("reason"))
    good = res.filter(ok)
    bad = res.filter(pc.invert(ok))
    out: list[pa.Table] = []
    if good.num_rows:
        normalised = good.select(contract.NORMALIZED_REQUEST_SCHEMA.names).cast(
            contract.NORMALIZED_REQUEST_SCHEMA
        )
        feats = featurize(normalised)
        if isinstance(feats, pa.RecordBatch):
            feats = pa.Table.from_batches([feats])
        stored = feats.select(contract.STORED_REQUEST_SCHEMA.names).cast(
            contract.STORED_REQUEST_SCHEMA
        )
        if not retain_content:
            # Same rule as the embedded store: features derived, text never stored.
            for name in CONTENT_COLUMNS:
                i = stored.schema.get_field_index(name)
                stored = stored.set_column(
                    i, stored.schema.field(i), pa.nulls(stored.num_rows, pa.string())
                )
        n = stored.num_rows
        out.append(
            _with_extra(stored, pa.nulls(n, pa.string()), pa.nulls(n, pa.string()), order)
        )
    if bad.num_rows:
        n = bad.num_rows
        cols = {}
        for f in contract.STORED_REQUEST_SCHEMA:
            if f.name in ("source_file", "source_line", "request_id", "account_id"):
                cols[f.name] = bad.column(f.name).cast(f.type)
            else:
                cols[f.name] = pa.nulls(n, f.type)
        stored = pa.table(cols, schema=contract.STORED_REQUEST_SCHEMA)
        out.append(
            _with_extra(stored, bad.column("reason").cast(pa.string()),
                        bad.column("raw").cast(pa.string()), order)
        )
    return pa.concat_tables(out)


def _with_extra(stored: pa.Table, reason: Any, raw: Any, order: int) -> pa.Table:
    n = stored.num_rows
    orders = pa.array(np.full(n, order, dtype=np.int32))
    return pa.Table.from_arrays(list(stored.columns) + [reason, raw, orders], schema=STAGED_SCHEMA)


_FEATURIZERS: dict[str, Any] = {}


def _worker_featurizer(policy: Any):
    """The embedded store's featurizer: normalised rows in, the same rows plus the text
    feature columns out (``ingest.parallel.features``, i.e. ``signals.featurize`` with the
    policy), cached per worker process and policy."""
    key = getattr(policy, "version", None) or "default"
    fz = _FEATURIZERS.get(key)
    if fz is None:
        try:
            from ...ingest.parallel import features
        except ImportError:  # an older ingest: the featurizer itself
            from ...signals import featurize

            def features(t: pa.Table, p: Any = None) -> pa.Table:
                out = featurize(t, policy=p)
                return pa.Table.from_batches([out]) if isinstance(out, pa.RecordBatch) else out

        def fz(normalised: pa.Table, _p: Any = policy) -> pa.Table:
            feats = features(normalised, _p)
            out = normalised
            for name in contract.TEXT_FEATURE_SCHEMA.names:
                out = out.append_column(name, feats.column(name))
            return out

        _FEATURIZERS[key] = fz
    return fz


def validate_and_featurize(
    raw: DataFrame, retain_content: bool = True, policy: Any = None
) -> DataFrame:
    """The Spark DataFrame of staged rows for raw records, lazily (one ``mapInArrow``)."""
    schema = spark_staged_schema()

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        featurize = _worker_featurizer(policy)
        for batch in batches:
            staged = validate_table(pa.Table.from_batches([batch]), retain_content, featurize)
            spark_ready, _ = to_spark_arrow(staged)
            yield from spark_ready.to_batches()

    raw = raw.select("line", "line_no", "source_file", "file_order")
    # A single large .gz file is one partition; spread its records so every core featurizes.
    cores = raw.sparkSession.sparkContext.defaultParallelism
    if raw.rdd.getNumPartitions() < cores:
        raw = raw.repartition(cores)
    return raw.mapInArrow(run, schema)
