"""The Spark store: Parquet tables in a folder or lake URI, filled incrementally.

The same tables as the embedded store (``docs/ARCHITECTURE.md``), as Parquet under
``<store>/spark/``:

=================== ==================================================================
``requests/``        ``contract.STORED_REQUEST_SCHEMA``, partitioned by ``day`` (UTC)
``quarantine/``      ``source_file, line, reason, raw``
``ingested_files/``  which files were read (path, size, fingerprint, counts): a file is
                     processed once, so each daily partition of the lake is read once
``accounts/``        the account table (contract §2), newest row per account
``tables/<name>/``   everything the scoring definitions create (``SparkEngine`` warehouse),
                     including ``templates``/``template_bands`` and ``ip_intel``, which are
                     carried forward to the next run
=================== ==================================================================

Crash safety: requests are appended before the files are recorded as ingested, so a run that
dies in between re-reads those files next time and their request ids are quarantined as
``duplicate_request_id`` instead of being counted twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ... import contract
from ...errors import InvalidInputError
from ...ingest import readers, validate
from ...ingest.store import IngestResult, fingerprint
from . import reading
from .ingest import validate_and_featurize

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

DAY_MS = 86_400_000
INGESTED_SCHEMA = (
    "path string, kind string, size long, mtime double, fingerprint string, "
    "rows_accepted long, rows_quarantined long, ingested_at string"
)


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


# Bytes of one duplicate key on the driver when broadcast (a source path and a line number,
# with Spark's row overhead): how many keys fit Spark's own broadcast threshold.
DUP_KEY_BYTES = 256


def _broadcast_rows(spark: SparkSession) -> int:
    """Duplicate keys that may be broadcast: ``spark.sql.autoBroadcastJoinThreshold`` (what
    Spark itself is willing to gather for a join) over :data:`DUP_KEY_BYTES`."""
    from .engine import DEFAULT_DRIVER_LIMIT, _byte_size

    raw = spark.conf.get("spark.sql.autoBroadcastJoinThreshold", str(DEFAULT_DRIVER_LIMIT))
    try:
        limit = _byte_size(str(raw))
    except ValueError:
        limit = DEFAULT_DRIVER_LIMIT
    return max(limit, 0) // DUP_KEY_BYTES


# One open Parquet writer per day a task meets, up to two months of days: Spark then writes
# the day partitions without first sorting every row with its text by day (which spilled on
# a 605k-request slice of `large`); past the limit it sorts the remaining rows (Spark's own
# fallback). Each writer holds at most the task's rows for its day until it closes.
# (apache/spark sql/core/.../datasources/V1Writes.scala: no logical sort is planned when
# spark.sql.maxConcurrentOutputFileWriters > 0 and there are no bucket sort columns.)
CONCURRENT_DAY_WRITERS = {"spark.sql.maxConcurrentOutputFileWriters": "62"}


@contextmanager
def _session_conf(spark: SparkSession, conf: dict[str, str]) -> Iterator[None]:
    """Runtime SQL settings for one block, restored after it."""
    old = {k: spark.conf.get(k, None) for k in conf}
    for k, v in conf.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def _without(accepted: DataFrame, dup_keys: DataFrame, n_dups: int, broadcast_rows: int
             ) -> DataFrame:
    """``accepted`` minus the rows at ``dup_keys`` (``source_file, source_line``).

    Usually there is no duplicate and the wide rows (with their text) are not joined at all;
    a few duplicates are broadcast. A sort-merge anti-join would shuffle and sort every
    accepted row with its text (about 40% of the Spark ingest on a 605k-request slice)."""
    from pyspark.sql import functions as F

    if n_dups == 0:
        return accepted
    keys = F.broadcast(dup_keys) if n_dups <= broadcast_rows else dup_keys
    return accepted.join(keys, ["source_file", "source_line"], "left_anti")



def _validated_accounts(p: Path) -> pa.Table | None:
    """Every row of the account file with its quarantine ``reason`` (null when accepted), by the
    embedded ingest's own SQL; None for an empty file."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for macro in validate.MACROS:
        con.execute(macro)
    sql = validate.account_sql("__dg_raw", str(p))
    parts = []
    for raw in readers.iter_records(readers.sniff(p), None, ("created_at",)):
        con.register("__dg_raw", raw)
        try:
            parts.append(con.sql(sql).to_arrow_table())
        finally:
            con.unregister("__dg_raw")
    con.close()
    return pa.concat_tables(parts) if parts else None


def _duplicate_rows(
    dup_keys: DataFrame, n_dups: int, raw: DataFrame, retain_content: bool, not_retained: str
) -> DataFrame:
    """Quarantine rows for the duplicates: their raw text fetched back from the input when
    content is kept (rare rows: cheaper than carrying every record's text through staging)."""
    from pyspark.sql import functions as F

    if retain_content and n_dups:
        raw_lines = raw.select(
            "source_file", F.col("line_no").alias("source_line"), F.col("line").alias("raw")
        )
        dups = dup_keys.join(raw_lines, ["source_file", "source_line"], "left")
    else:
        raw_text = F.lit(None if retain_content else not_retained).cast("string")
        dups = dup_keys.withColumn("raw", raw_text)
    return dups.select(
        "source_file",
        F.col("source_line").alias("line"),
        F.lit("duplicate_request_id").alias("reason"),
        "raw",
    )

class SparkStore:
    """Parquet tables under ``<path>/spark`` (a local folder or a URI such as ``s3a://b/dg``)."""

    def __init__(self, spark: SparkSession, path: str | Path) -> None:
        self.spark = spark
        raw = str(path)
        if "://" not in raw and not raw.startswith("dbfs:"):
            p = Path(raw)
            if p.exists() and not p.is_dir():
                raise InvalidInputError(f"store path {p} exists and is not a folder")
            try:
                (p / "spark").mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InvalidInputError(f"cannot create store folder {p}: {exc}") from exc
            raw = str(p.resolve())
        self.path = raw
        self.root = _join(raw, "spark")

    # ---- tables ----------------------------------------------------------------------------
    def uri(self, name: str) -> str:
        return _join(self.root, name)

    def exists(self, name: str) -> bool:
        return reading._hadoop_exists(self.spark, _join(self.uri(name), "_SUCCESS")) or (
            reading._hadoop_exists(self.spark, self.uri(name))
            and bool(self._list_parquet(self.uri(name)))
        )

    def _list_parquet(self, uri: str) -> list[str]:
        try:
            return [f for f in reading._hadoop_list(self.spark, uri) if f.endswith(".parquet")]
        except Exception:  # noqa: BLE001 - a missing folder simply has no files
            return []

    def read(self, name: str) -> DataFrame | None:
        """The table ``name`` or None when it was never written."""
        if not self.exists(name):
            return None
        return self.spark.read.parquet(self.uri(name))

    def requests(self) -> DataFrame | None:
        """Stored requests, exactly the contract's columns (without the ``day`` partition)."""
        df = self.read("requests")
        if df is None:
            return None
        return df.select(*contract.STORED_REQUEST_SCHEMA.names)

    # ---- ingest ----------------------------------------------------------------------------
    def ingest(
        self,
        paths: list[str | Path] | tuple[str | Path, ...],
        accounts: str | Path | None = None,
        retain_content: bool = True,
        policy: Any = None,
    ) -> IngestResult:
        """Read new log files, validate, featurize and append; like ``ingest.Store.ingest``."""
        from ...ingest import validate

        t0 = time.perf_counter()
        result = IngestResult()
        sources = reading.plan_sources(self.spark, [str(p) for p in paths])
        done = self._ingested_keys()
        todo: list[reading.Source] = []
        meta: dict[str, tuple[int, float, str]] = {}
        for s in sources:
            size, mtime, fp = self._fingerprint(s)
            if (fp, size, "requests") in done:
                result.files_skipped += 1
                result.skipped_paths.append(s.name)
                continue
            meta[s.name] = (size, mtime, fp)
            todo.append(s)

        if todo:
            raw = reading.read_raw(self.spark, todo)
            staged = validate_and_featurize(raw, retain_content, policy)
            # Materialise once: validation and featurization read each input record once.
            run = uuid.uuid4().hex[:12]
            staging = self.uri(f"_staging/{run}")
            staged.write.mode("overwrite").parquet(staging)
            staged = self.spark.read.parquet(staging)
            try:
                self._commit(staged, raw, retain_content, validate.RAW_NOT_RETAINED, meta, result)
            finally:
                self._drop(staging)
        if accounts is not None:
            self._ingest_accounts(accounts, result)
        result.seconds = time.perf_counter() - t0
        return result

    def _commit(
        self,
        staged: DataFrame,
        raw: DataFrame,
        retain_content: bool,
        not_retained: str,
        meta: dict[str, tuple[int, float, str]],
        result: IngestResult,
    ) -> None:
        from pyspark.sql import functions as F

        accepted = staged.where(F.col("reason").isNull())
        dup_keys, n_dups = self._duplicate_keys(accepted)
        new = _without(accepted, dup_keys, n_dups, _broadcast_rows(self.spark)).select(
            *contract.STORED_REQUEST_SCHEMA.names,
            F.floor(F.col("ts_ms") / DAY_MS).cast("long").alias("day"),
        )
        with _session_conf(self.spark, CONCURRENT_DAY_WRITERS):
            new.write.mode("append").partitionBy("day").parquet(self.uri("requests"))

        dups = _duplicate_rows(dup_keys, n_dups, raw, retain_content, not_retained)
        bad = staged.where(F.col("reason").isNotNull()).select(
            "source_file", F.col("source_line").alias("line"), "reason", "raw"
        )
        quarantine = bad.unionByName(dups).localCheckpoint(eager=True)
        if not quarantine.isEmpty():
            quarantine.write.mode("append").parquet(self.uri("quarantine"))
        self._record_files(new, quarantine, meta, result)

    def _duplicate_keys(self, accepted: DataFrame) -> tuple[DataFrame, int]:
        """The (file, line) of every accepted row whose request id came earlier in this run
        or is already in the store, checkpointed, and how many."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        # Found on a narrow projection (id and position), so the rows with their text are
        # never shuffled or sorted. Usually none, and the anti-join after is a broadcast.
        keys = accepted.select("request_id", "source_file", "source_line", "file_order")
        w = Window.partitionBy("request_id").orderBy("file_order", "source_line")
        dup_keys = (
            keys.withColumn("_rn", F.row_number().over(w))
            .where(F.col("_rn") > 1)
            .select("source_file", "source_line")
        )
        stored = self.requests()
        if stored is not None:
            old = stored.select("request_id")
            dup_keys = dup_keys.unionByName(
                keys.join(old, "request_id", "left_semi").select("source_file", "source_line")
            )
        dup_keys = dup_keys.distinct().localCheckpoint(eager=True)
        return dup_keys, int(dup_keys.count())  # a checkpointed table: no recomputation

    def _record_files(
        self,
        new: DataFrame,
        quarantine: DataFrame,
        meta: dict[str, tuple[int, float, str]],
        result: IngestResult,
    ) -> None:
        """Per-file and per-reason counts in one small job (reason NULL = accepted), into
        ``result`` and the store's ``ingested_files``."""
        from pyspark.sql import functions as F

        tally = (
            new.select("source_file", F.lit(None).cast("string").alias("reason"))
            .unionByName(quarantine.select("source_file", "reason"))
            .groupBy("source_file", "reason")
            .count()
            .collect()
        )
        ok_by_file: dict[str, int] = {}
        bad_by_file: dict[str, int] = {}
        for r in tally:
            n = int(r["count"])
            if r["reason"] is None:
                ok_by_file[r["source_file"]] = ok_by_file.get(r["source_file"], 0) + n
            else:
                bad_by_file[r["source_file"]] = bad_by_file.get(r["source_file"], 0) + n
                result.by_reason[r["reason"]] = result.by_reason.get(r["reason"], 0) + n
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = []
        for name, (size, mtime, fp) in meta.items():
            a, b = int(ok_by_file.get(name, 0)), int(bad_by_file.get(name, 0))
            rows.append((name, "requests", size, mtime, fp, a, b, now))
            result.files_read += 1
            result.accepted += a
            result.quarantined += b
        self.spark.createDataFrame(rows, INGESTED_SCHEMA).write.mode("append").parquet(
            self.uri("ingested_files")
        )

    def _ingest_accounts(self, path: str | Path, result: IngestResult) -> None:
        """The account table is small (one row per account): validated on the driver with the
        embedded ingest's own SQL, merged into ``accounts/`` (newer rows replace older ones)."""
        p = Path(str(path))
        if not p.is_file():
            raise InvalidInputError(f"account table not found: {path}")
        size, fp = fingerprint(p)
        if (fp, size, "accounts") in self._ingested_keys():
            result.files_skipped += 1
            result.skipped_paths.append(str(p))
            return
        res = _validated_accounts(p)
        if res is None:
            return
        ok = pc.is_null(res.column("reason"))
        good = res.filter(ok).select([n for n, _ in validate.ACCOUNT_COLUMNS])
        bad = res.filter(pc.invert(ok))
        result.accounts_accepted += good.num_rows
        result.accounts_quarantined += bad.num_rows
        for item in pc.value_counts(bad.column("reason")).to_pylist() if bad.num_rows else []:
            key = f"account:{item['values']}"
            result.by_reason[key] = result.by_reason.get(key, 0) + item["counts"]
        if good.num_rows:
            self._merge_accounts(good)
        if bad.num_rows:
            self._quarantine_accounts(bad)
        self._record_accounts_file(p, size, fp, good.num_rows, bad.num_rows)

    def _merge_accounts(self, good: pa.Table) -> None:
        """Newer rows replace older ones of the same account, then ``accounts/`` is swapped."""
        from .engine import to_spark_arrow

        new = self.spark.createDataFrame(to_spark_arrow(good)[0])
        old = self.read("accounts")
        if old is not None:
            keep = old.join(new.select("account_id"), "account_id", "left_anti")
            new = keep.unionByName(new).localCheckpoint(eager=True)
        tmp = self.uri(f"_staging/accounts-{uuid.uuid4().hex[:8]}")
        new.write.mode("overwrite").parquet(tmp)
        self._drop(self.uri("accounts"))
        self._rename(tmp, self.uri("accounts"))

    def _quarantine_accounts(self, bad: pa.Table) -> None:
        q = pa.table(
            {
                "source_file": bad.column("source_file").cast(pa.string()),
                "line": bad.column("source_line").cast(pa.int64()),
                "reason": pc.binary_join_element_wise("account:", bad.column("reason"), ""),
                "raw": bad.column("raw").cast(pa.string()),
            }
        )
        self.spark.createDataFrame(q).write.mode("append").parquet(self.uri("quarantine"))

    def _record_accounts_file(self, p: Path, size: int, fp: str, accepted: int, bad: int) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        row = (str(p.resolve()), "accounts", size, p.stat().st_mtime, fp, accepted, bad, now)
        self.spark.createDataFrame([row], INGESTED_SCHEMA).write.mode("append").parquet(
            self.uri("ingested_files")
        )

    # ---- helpers -----------------------------------------------------------------------------
    def _ingested_keys(self) -> set[tuple[str, int, str]]:
        df = self.read("ingested_files")
        if df is None:
            return set()
        return {
            (r["fingerprint"], int(r["size"]), r["kind"])
            for r in df.select("fingerprint", "size", "kind").collect()
        }

    def _fingerprint(self, s: reading.Source) -> tuple[int, float, str]:
        """``(size, mtime, fingerprint)``: the embedded store's content fingerprint for local
        files; for lake files, size and modification time (objects are immutable there)."""
        if "://" not in s.uri and s.fmt != "delta":
            p = Path(s.uri)
            size, fp = fingerprint(p)
            return size, p.stat().st_mtime, fp
        jvm = self.spark.sparkContext._jvm  # noqa: SLF001
        conf = self.spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
        hp = jvm.org.apache.hadoop.fs.Path(s.uri)
        st = hp.getFileSystem(conf).getFileStatus(hp)
        if s.fmt == "delta":
            # A Delta table changes in place: its latest commit (version) decides what is new.
            log = jvm.org.apache.hadoop.fs.Path(s.uri.rstrip("/") + "/_delta_log")
            commits = [str(x.getPath().getName()) for x in log.getFileSystem(conf).listStatus(log)]
            version = max((int(c.split(".")[0]) for c in commits
                           if c.endswith(".json") and c.split(".")[0].isdigit()), default=-1)
            return version, float(st.getModificationTime()) / 1000.0, f"delta:{s.uri}@{version}"
        size = int(st.getLen())
        mtime = float(st.getModificationTime()) / 1000.0
        return size, mtime, f"{s.uri}|{size}|{int(mtime)}"

    def _drop(self, uri: str) -> None:
        jvm = self.spark.sparkContext._jvm  # noqa: SLF001
        conf = self.spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
        hp = jvm.org.apache.hadoop.fs.Path(uri)
        fs = hp.getFileSystem(conf)
        if fs.exists(hp):
            fs.delete(hp, True)

    def _rename(self, src: str, dst: str) -> None:
        jvm = self.spark.sparkContext._jvm  # noqa: SLF001
        conf = self.spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
        a = jvm.org.apache.hadoop.fs.Path(src)
        b = jvm.org.apache.hadoop.fs.Path(dst)
        a.getFileSystem(conf).rename(a, b)

    def counts(self) -> dict[str, Any]:
        """Totals in the store, with the same keys as ``ingest.Store.counts``."""
        from pyspark.sql import functions as F

        req = self.requests()
        n_req = n_acc = 0
        if req is not None:
            row = req.agg(F.count("*").alias("n"), F.countDistinct("account_id").alias("a")).first()
            n_req, n_acc = int(row["n"]), int(row["a"])
        q = self.read("quarantine")
        by_reason = (
            {r["reason"]: int(r["count"]) for r in q.groupBy("reason").count().collect()}
            if q is not None
            else {}
        )
        acc = self.read("accounts")
        files = self.read("ingested_files")
        return {
            "requests": n_req,
            "accounts_seen": n_acc,
            "account_table_rows": int(acc.count()) if acc is not None else 0,
            "quarantined": int(sum(by_reason.values())),
            "quarantined_by_reason": dict(sorted(by_reason.items())),
            "files_ingested": int(files.count()) if files is not None else 0,
        }
