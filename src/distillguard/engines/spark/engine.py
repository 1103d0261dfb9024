"""``SparkEngine``: the :class:`~distillguard.engines.base.Engine` protocol on a SparkSession.

The scoring stage writes its definitions once, as SQL in the common DuckDB/Spark subset, and
runs them through an ``Engine``. This engine runs the same strings on Spark: ``create_table``
materialises a query (Parquet under the store folder, or an eager local checkpoint), and
``fetch_arrow``/``register_arrow`` move small tables between Spark and Arrow.

Two type differences are smoothed here so results compare equal across engines:
- Spark has no unsigned integers: ``uint64`` hashes are stored as ``DECIMAL(20,0)``, which holds
  every uint64 exactly, so equality, ordering and ``CAST(h AS STRING)`` give the same results
  as DuckDB's UBIGINT. ``fetch_arrow`` returns them as ``uint64`` again for every column name
  known to hold hashes (the contract's hash columns and any registered as ``uint64``).
- A literal such as ``1.0`` is a DECIMAL in Spark, and ``avg(x * 1.0)`` then keeps only a few
  decimal places (0.44444 instead of 0.4444444…); DuckDB computes it in DOUBLE. The engine
  therefore rewrites unquoted fractional literals to Spark's double literals (``1.0`` →
  ``1.0D``) before running a statement (:func:`spark_sql`); other decimals come back as
  ``float64``.
- NULL order is *not* rewritten: Spark sorts NULLs first on ASC, DuckDB last, so shared SQL
  that sorts a nullable column says ``NULLS FIRST``/``NULLS LAST``.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ... import contract
from .ctes import plan_ctes
from .reading import is_uri

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

# Column names that hold unsigned 64-bit hashes in the contract.
HASH_COLUMNS: frozenset[str] = frozenset(
    f.name
    for f in contract.TEXT_FEATURE_SCHEMA
    if f.type == pa.uint64() or f.type == pa.list_(pa.uint64())
)
_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`)")
_FRACTION = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])")
_VARCHAR = re.compile(r"\bAS\s+VARCHAR\b(?!\s*\()", re.IGNORECASE)
_PARQUET_BAD_NAME = re.compile(r"[ ,;{}()\n\t=]")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def spark_sql(sql: str) -> str:
    """``sql`` with fractional literals outside quotes made DOUBLE (``0.5`` → ``0.5D``) and
    DuckDB's length-less ``CAST(x AS VARCHAR)`` spelled ``STRING``."""
    parts = _QUOTED.split(sql)
    # Odd positions are the quoted pieces the split kept; leave them untouched.
    return "".join(
        p if i % 2 else _VARCHAR.sub("AS STRING", _FRACTION.sub(r"\1D", p))
        for i, p in enumerate(parts)
    )


def to_spark_arrow(table: pa.Table | pa.RecordBatch) -> tuple[pa.Table, set[str]]:
    """Arrow types Spark accepts: uint64 → DECIMAL(20,0), large/dictionary → plain.

    Returns the converted table and the names of the columns that were ``uint64``.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    unsigned: set[str] = set()
    cols, fields = [], []
    for field, col in zip(table.schema, table.columns, strict=True):
        typ = field.type
        if pa.types.is_dictionary(typ):
            col = col.cast(typ.value_type)
            typ = typ.value_type
        new = _spark_type(typ)
        if _has_uint64(typ):
            unsigned.add(field.name)
        if new != typ:
            col = pc.cast(col, new, safe=False)
        cols.append(col)
        fields.append(pa.field(field.name, new))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields)), unsigned


def _has_uint64(typ: pa.DataType) -> bool:
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return _has_uint64(typ.value_type)
    return typ == pa.uint64()


HASH_TYPE = pa.decimal128(20, 0)  # every uint64 value, exactly


def _spark_type(typ: pa.DataType) -> pa.DataType:
    if typ == pa.uint64():
        return HASH_TYPE
    if typ == pa.uint32():
        return pa.int64()
    if typ in (pa.uint8(), pa.uint16()):
        return pa.int32()
    if pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return pa.string()
    if pa.types.is_large_binary(typ):
        return pa.binary()
    if pa.types.is_null(typ):
        return pa.string()
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return pa.list_(_spark_type(typ.value_type))
    return typ


def from_spark_arrow(table: pa.Table, unsigned: set[str] | frozenset[str]) -> pa.Table:
    """Undo :func:`to_spark_arrow` on a result: hash columns back to ``uint64``, decimals to
    ``float64`` (DuckDB's type for the same arithmetic)."""
    cols, fields = [], []
    for field, col in zip(table.schema, table.columns, strict=True):
        typ = field.type
        new = typ
        if field.name in unsigned and typ in (pa.int64(), HASH_TYPE):
            new = pa.uint64()
        elif (
            field.name in unsigned
            and pa.types.is_list(typ)
            and typ.value_type
            in (
                pa.int64(),
                HASH_TYPE,
            )
        ):
            new = pa.list_(pa.uint64())
        elif pa.types.is_decimal(typ):
            new = pa.float64()
        if new != typ:
            col = pc.cast(col, new, safe=False)
        cols.append(col)
        fields.append(pa.field(field.name, new))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


class SparkEngine:
    """Runs dialect-neutral SQL on a SparkSession; results come back as Arrow.

    Parameters
    ----------
    spark : SparkSession
        The session (see :func:`~distillguard.engines.spark.session.spark_session`).
    warehouse : path or URI, optional
        Where tables are written as Parquet (``<warehouse>/<name>/<version>``).
    persist : names, optional
        Which tables go to the warehouse (default: all). The others are eager local
        checkpoints (lineage cut, kept by the executors): intermediate tables of one run do
        not need a durable copy, tables carried to the next run or read by the lake do.
    """

    name = "spark"

    def __init__(
        self,
        spark: SparkSession,
        warehouse: str | Path | None = None,
        persist: frozenset[str] | set[str] | tuple[str, ...] | None = None,
    ) -> None:
        self.spark = spark
        self.warehouse = warehouse
        self.persist = frozenset(persist) if persist is not None else None
        self.unsigned: set[str] = set(HASH_COLUMNS)
        self._paths: dict[str, str] = {}
        self.seconds: dict[str, float] = {}  # wall time per table or fetch (``slowest``)

    # ---- the Engine protocol ------------------------------------------------------------
    def create_table(self, name: str, sql: str) -> None:
        """Materialise ``sql`` as table ``name`` (replacing it)."""
        with self._timed(name), self._ctes_once(spark_sql(sql)) as stmt:
            self.register_df(name, self.spark.sql(stmt))

    @contextmanager
    def _ctes_once(self, sql: str) -> Iterator[str]:
        """``sql`` with each CTE it reads twice computed once beforehand (:mod:`.ctes`),
        as a temp view of the CTE's name that is dropped when the block ends (the
        statement must have run by then)."""
        once, stmt = plan_ctes(sql, exists=self.has_table)
        made: list[str] = []
        try:
            for name, query in once:
                self.spark.sql(query).localCheckpoint(eager=True).createOrReplaceTempView(name)
                made.append(name)
            yield stmt
        finally:
            for name in made:
                self.spark.catalog.dropTempView(name)

    @contextmanager
    def _timed(self, what: str) -> Iterator[None]:
        """Name the Spark jobs run inside (the UI and event log show which table they
        compute) and add their wall time to :attr:`seconds`."""
        sc = self.spark.sparkContext
        sc.setJobDescription(what)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[what] = self.seconds.get(what, 0.0) + time.perf_counter() - t0
            sc.setJobDescription(None)

    def slowest(self, n: int = 12) -> dict[str, float]:
        """The ``n`` tables and fetches that took longest, seconds (for ``summary.json``)."""
        top = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:n]
        return {k: round(v, 2) for k, v in top}

    def fetch_arrow(self, sql: str) -> pa.Table:
        """Run ``sql`` and return the result as Arrow, with DuckDB-compatible types.

        A result Spark estimates above :meth:`driver_limit_bytes` is written by Spark's
        Parquet writer into the local warehouse and read back with pyarrow, so it never sits
        in the driver JVM's heap (``toArrow`` gathers every task's Arrow batches there and is
        capped by ``spark.driver.maxResultSize``)."""
        with (self._timed("fetch: " + " ".join(sql.split())[:60]),
              self._ctes_once(spark_sql(sql)) as stmt):
            df = self.spark.sql(stmt)
            spool = self._spool_folder()
            if spool is not None and _estimated_bytes(df) > self.driver_limit_bytes():
                table = _fetch_via_parquet(df, spool)
                if table is not None:
                    return from_spark_arrow(table, self.unsigned)
            return from_spark_arrow(df.toArrow(), self.unsigned)

    def fetch_batches(self, sql: str, rows: int) -> pa.RecordBatchReader:
        """:meth:`fetch_arrow`'s result ``rows`` at a time (it already spools large results
        through Parquet, outside the driver JVM)."""
        table = self.fetch_arrow(sql)
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(rows))

    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as ``name`` (replacing it).

        A table above :meth:`driver_limit_bytes` goes to Spark as a Parquet file pyarrow
        writes into the local warehouse (``createDataFrame`` would copy all of it into the
        driver JVM's heap first)."""
        with self._timed(name):
            self._register_arrow(name, table)

    def _register_arrow(self, name: str, table: pa.Table) -> None:
        converted, unsigned = to_spark_arrow(table)
        self.unsigned |= unsigned
        spool = self._spool_folder()
        if spool is not None and converted.nbytes > self.driver_limit_bytes():
            path = spool / uuid.uuid4().hex[:12]
            path.mkdir(parents=True)
            try:
                pq.write_table(converted, path / "part-00000.parquet")
                self.register_df(name, self.spark.read.parquet(str(path)))
            finally:  # register_df materialised it (warehouse copy or eager checkpoint)
                shutil.rmtree(path, ignore_errors=True)
            return
        if converted.num_rows == 0:
            df = self.spark.createDataFrame([], schema=_spark_schema(converted.schema))
        else:
            df = self.spark.createDataFrame(converted)
        self.register_df(name, df)

    def driver_limit_bytes(self) -> int:
        """Tables larger than this pass between Spark and Python as Parquet files, not
        through the driver JVM: Spark's own bound on what it gathers on the driver for a
        join (``spark.sql.autoBroadcastJoinThreshold``, 10 MiB by default)."""
        raw = self.spark.conf.get("spark.sql.autoBroadcastJoinThreshold", "10485760")
        try:
            limit = int(_byte_size(str(raw)))
        except ValueError:
            limit = -1
        return limit if limit > 0 else DEFAULT_DRIVER_LIMIT

    def _spool_folder(self) -> Path | None:
        """``<warehouse>/_spool`` when the warehouse is a local folder (pyarrow reads and
        writes it directly), else None."""
        folder = local_folder(self.warehouse)
        return None if folder is None else folder / "_spool"

    def has_table(self, name: str) -> bool:
        """Whether ``name`` exists (as a temp view or a catalog table)."""
        return bool(self.spark.catalog.tableExists(name))

    # ---- Spark-side helpers -------------------------------------------------------------
    def sql(self, sql: str) -> DataFrame:
        """The lazy DataFrame for ``sql`` (nothing runs until an action)."""
        return self.spark.sql(spark_sql(sql))

    def table(self, name: str) -> DataFrame:
        """The DataFrame behind table ``name``."""
        return self.spark.table(name)

    def register_df(self, name: str, df: DataFrame) -> DataFrame:
        """Materialise ``df`` and register it as ``name``; returns the materialised frame."""
        if not _NAME.match(name):
            raise ValueError(f"table name must be an identifier; got {name!r}")
        bad = [c for c in df.columns if _PARQUET_BAD_NAME.search(c)]
        durable = self.persist is None or name in self.persist
        if self.warehouse is not None and durable and not bad:
            path = f"{str(self.warehouse).rstrip('/')}/{name}/{uuid.uuid4().hex[:12]}"
            df.write.mode("overwrite").parquet(path)
            out = self.spark.read.parquet(path)
            old = self._paths.get(name)
            self._paths[name] = path
            out.createOrReplaceTempView(name)
            if old is not None:
                _remove_local(old)
            return out
        out = df.localCheckpoint(eager=True)
        out.createOrReplaceTempView(name)
        return out

    def register_view(self, name: str, df: DataFrame) -> None:
        """Register ``df`` as ``name`` without materialising it (e.g. a Parquet table)."""
        if not _NAME.match(name):
            raise ValueError(f"table name must be an identifier; got {name!r}")
        df.createOrReplaceTempView(name)

    def restore(self, name: str) -> bool:
        """Register the newest complete version of ``name`` from the warehouse (a table an
        earlier run wrote, e.g. ``ip_intel`` or ``templates``); False when there is none."""
        if self.warehouse is None:
            return False
        jvm = self.spark.sparkContext._jvm  # noqa: SLF001
        conf = self.spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
        base = jvm.org.apache.hadoop.fs.Path(f"{str(self.warehouse).rstrip('/')}/{name}")
        fs = base.getFileSystem(conf)
        if not fs.exists(base):
            return False
        best: tuple[int, str] | None = None
        for st in fs.listStatus(base):  # a few versions at most
            if not st.isDirectory():
                continue
            path = st.getPath()
            if not fs.exists(jvm.org.apache.hadoop.fs.Path(path, "_SUCCESS")):
                continue  # a run that died while writing
            cand = (int(st.getModificationTime()), str(path.toString()))
            if best is None or cand > best:
                best = cand
        if best is None:
            return False
        self._paths[name] = best[1]
        self.spark.read.parquet(best[1]).createOrReplaceTempView(name)
        return True

    def table_path(self, name: str) -> str | None:
        """The Parquet folder behind ``name`` when it was written to the warehouse."""
        return self._paths.get(name)


DEFAULT_DRIVER_LIMIT = 10 * 2**20  # Spark's default autoBroadcastJoinThreshold
_UNITS = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def _byte_size(text: str) -> int:
    """Spark's byte-size notation (``10485760``, ``10MB``, ``64m``) as bytes."""
    m = re.match(r"^\s*(-?\d+)\s*([bkmgt]?)b?\s*$", text.lower())
    if not m:
        raise ValueError(text)
    return int(m.group(1)) * _UNITS[m.group(2) or "b"]


def local_folder(warehouse: str | Path | None) -> Path | None:
    """The warehouse as a local folder, or None when it is a remote URI (or unset)."""
    if warehouse is None:
        return None
    text = str(warehouse)
    if text.startswith("file:"):
        text = "/" + text[len("file:"):].lstrip("/")
    return None if is_uri(text) else Path(text)


def _estimated_bytes(df: DataFrame) -> int:
    """Spark's size estimate of ``df``'s optimised plan (an upper bound for most plans: it
    ignores filters' selectivity), in bytes."""
    try:
        size = df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()  # noqa: SLF001
        return int(str(size.toString()))
    except Exception:  # noqa: BLE001 - no estimate: assume it is large
        return 2**63


def _fetch_via_parquet(df: DataFrame, spool: Path) -> pa.Table | None:
    """``df`` written by Spark as Parquet under ``spool`` and read back in partition order
    (a sorted result keeps its order), typed as ``toArrow`` would type it; None when Spark
    cannot write it as Parquet (a column name Parquet refuses)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    if any(_PARQUET_BAD_NAME.search(c) for c in df.columns):
        return None
    path = spool / uuid.uuid4().hex[:12]
    try:
        df.write.mode("overwrite").parquet(str(path))
        # part-NNNNN: Spark numbers files by partition, so name order is the result's order.
        parts = [pq.read_table(f) for f in sorted(path.glob("part-*.parquet"))]
    finally:
        shutil.rmtree(path, ignore_errors=True)
    schema = to_arrow_schema(df.schema, error_on_duplicated_field_names_in_struct=True,
                             timezone="UTC", prefers_large_types=False)
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(parts).cast(schema)


def _spark_schema(schema: pa.Schema):  # -> pyspark StructType
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _remove_local(path: str) -> None:
    """Delete an older table version when it is on the local file system."""
    p = path[len("file://") :] if path.startswith("file://") else path
    if "://" not in p and Path(p).exists():
        shutil.rmtree(p, ignore_errors=True)
