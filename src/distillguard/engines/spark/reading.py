"""Read request logs into Spark as raw records ``(line, line_no, file_key)``.

The embedded ingest turns every format into JSON text per record plus its 1-based line (JSON
Lines) or row (Parquet) number, so one validation serves them all (``ingest.readers``). This
module produces the same three columns on Spark, from local paths or any URI Spark can read
(``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``, ``dbfs:/``):

- JSON Lines (plain or ``.gz``): ``spark.read.text`` with ``lineSep="\\n"``. Line numbers come
  from the hidden ``_metadata`` column: rows of one file split are consecutive
  ``monotonically_increasing_id`` values, and a split's first line number is the number of
  lines in the earlier splits of the same file (a small driver-side cumulative sum).
  Blank lines are counted, then dropped, exactly as the embedded reader does.
- Parquet (a file, a folder, or a Hive-partitioned lake path): ``_metadata.row_index`` gives the
  row number; each row becomes JSON with ``to_json`` (nulls kept, timestamps as epoch ms).
- Delta (a folder with ``_delta_log``, when ``delta-spark`` is installed): as Parquet, numbered
  by file and position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

JSON_SUFFIXES: tuple[str, ...] = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")


@dataclass(frozen=True)
class Source:
    """One input to read.

    ``uri`` is what Spark reads, ``fmt`` is ``jsonl``, ``parquet`` or ``delta``, ``name`` the
    ``source_file`` recorded for its rows (the path as the embedded engine writes it).
    """

    uri: str
    fmt: str
    name: str


def is_uri(path: str) -> bool:
    """A URI (``s3a://…``, ``dbfs:/…``), not a local path."""
    return "://" in path or path.startswith("dbfs:")


def _hadoop_exists(spark: SparkSession, uri: str) -> bool:
    """Whether ``uri`` exists, through Hadoop's file system (works for every scheme)."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - the documented way to reach Hadoop FS
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    p = jvm.org.apache.hadoop.fs.Path(uri)
    return bool(p.getFileSystem(conf).exists(p))


def _hadoop_list(spark: SparkSession, uri: str) -> list[str]:
    """Files below ``uri`` (recursively), skipping hidden and ``_``-prefixed names."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    p = jvm.org.apache.hadoop.fs.Path(uri)
    fs = p.getFileSystem(conf)
    if fs.getFileStatus(p).isFile():
        return [uri]
    it = fs.listFiles(p, True)
    out: list[str] = []
    while it.hasNext():  # a loop over files, not records
        f = str(it.next().getPath().toString())
        parts = f.split("/")
        if any(x.startswith((".", "_")) for x in parts[-3:]):
            continue
        out.append(f)
    return sorted(out)


def plan_sources(spark: SparkSession, paths: list[str] | tuple[str, ...]) -> list[Source]:
    """The files to read (one :class:`Source` per file, Delta tables whole). Local paths use
    the embedded reader's own discovery (same suffixes, same skipped side files); URIs are
    listed through Hadoop's file system: ``.json*`` files as JSON Lines, ``.parquet`` (and
    suffix-less part files) as Parquet, folders with ``_delta_log`` as Delta tables.

    An explicit file list is what makes incremental runs cheap: files already ingested are
    dropped before Spark opens anything."""
    if not paths:
        raise InvalidInputError("no input logs given")
    out: list[Source] = []
    local: list[Path] = []
    for raw in paths:
        s = str(raw)
        if s.startswith("file:"):
            s = s[len("file:") :].lstrip("/")
            s = "/" + s
        if not is_uri(s):
            local.append(Path(s))
            continue
        if not _hadoop_exists(spark, s):
            raise InvalidInputError(f"input not found: {s}")
        if _hadoop_exists(spark, s.rstrip("/") + "/_delta_log"):
            out.append(Source(s, "delta", s))
            continue
        found = 0
        for f in _hadoop_list(spark, s):
            name = f.lower()
            stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
            if stem in ("accounts", "labels", "request_labels", "quarantine"):
                continue
            if name.endswith(JSON_SUFFIXES):
                out.append(Source(f, "jsonl", f))
                found += 1
            elif name.endswith(".parquet") or "." not in name.rsplit("/", 1)[-1]:
                out.append(Source(f, "parquet", f))
                found += 1
        if not found:
            raise InvalidInputError(f"no request log files (JSON Lines or Parquet) under {s}")
    if local:
        from ...ingest.readers import discover

        for d in [p for p in local if p.is_dir() and (p / "_delta_log").is_dir()]:
            out.append(Source(str(d.resolve()), "delta", str(d)))
        rest = [p for p in local if not (p.is_dir() and (p / "_delta_log").is_dir())]
        named = {p.resolve() for p in rest if p.is_file()}
        for f in discover(rest) if rest else []:
            fmt = "parquet" if f.fmt == "parquet" else "jsonl" if f.fmt == "jsonl" else f.fmt
            if fmt not in ("parquet", "jsonl") and f.path.resolve() not in named:
                continue  # .json / .csv in a folder: read by the embedded engine only
            if fmt not in ("parquet", "jsonl"):
                raise InvalidInputError(f"{f.path}: request logs must be JSON Lines or Parquet")
            out.append(Source(str(f.path.resolve()), fmt, str(f.path)))
    return out


def file_key(spark: SparkSession, uri: str) -> str:
    """The fully qualified URI Spark reports in ``_metadata.file_path`` for ``uri``."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    p = jvm.org.apache.hadoop.fs.Path(uri)
    key = str(p.getFileSystem(conf).makeQualified(p).toUri().toString())
    return re.sub(r"^file:/+", "file:/", key)


def _source_key():  # -> Column: ``file:///x`` and ``file:/x`` are the same local file
    from pyspark.sql import functions as F

    return F.regexp_replace(F.col("_metadata.file_path"), "^file:/+", "file:/")


def read_jsonl(spark: SparkSession, uris: list[str]) -> DataFrame:
    """``(line, line_no, file_key)`` for JSON Lines files (plain or gzip)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = spark.read.option("lineSep", "\n").text(uris)
    df = df.select(
        F.col("value").alias("line"),
        _source_key().alias("file_key"),
        F.col("_metadata.file_block_start").alias("block"),
        F.monotonically_increasing_id().alias("mid"),
    )
    # One row per file split: its first id and line count; tiny, so the window is cheap.
    splits = df.groupBy("file_key", "block").agg(
        F.min("mid").alias("first_mid"), F.count("*").alias("n")
    )
    w = Window.partitionBy("file_key").orderBy("block")
    splits = splits.select(
        "file_key",
        "block",
        "first_mid",
        (F.sum("n").over(w) - F.col("n")).alias("lines_before"),
    )
    numbered = df.join(F.broadcast(splits), ["file_key", "block"]).select(
        F.regexp_replace(F.col("line"), "\r+$", "").alias("line"),
        (F.col("lines_before") + F.col("mid") - F.col("first_mid") + 1).alias("line_no"),
        "file_key",
    )
    return numbered.where(F.length(F.trim(F.col("line"))) > 0)


def _rows_as_json(df: DataFrame, time_cols: tuple[str, ...], number) -> DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType, TimestampType

    cols = []
    for field in df.schema.fields:
        c = F.col(f"`{field.name}`")
        if field.name in time_cols and isinstance(field.dataType, (TimestampType, TimestampNTZType)):
            # Typed timestamps have no offset in JSON; epoch ms is unambiguous (as embedded).
            c = F.unix_millis(c.cast("timestamp"))
        cols.append(c.alias(field.name))
    return df.select(
        F.to_json(F.struct(*cols), {"ignoreNullFields": "false"}).alias("line"),
        number.alias("line_no"),
        _source_key().alias("file_key"),
    )


def read_parquet(
    spark: SparkSession, uris: list[str], time_cols: tuple[str, ...] = ("ts",)
) -> DataFrame:
    """``(line, line_no, file_key)`` for Parquet files or lake folders (row = 1-based)."""
    from pyspark.sql import functions as F

    # recursiveFileLookup reads every file below a folder and does not add Hive partition
    # columns (day=...) to the records, so a record is exactly what its file holds.
    df = spark.read.option("recursiveFileLookup", "true").parquet(*uris)
    return _rows_as_json(df, time_cols, F.col("_metadata.row_index") + 1)


def read_delta(spark: SparkSession, uri: str, time_cols: tuple[str, ...] = ("ts",)) -> DataFrame:
    """``(line, line_no, file_key)`` for a Delta table (needs ``delta-spark``)."""
    from pyspark.sql import functions as F

    try:
        import delta  # noqa: F401
    except ImportError as exc:
        raise InvalidInputError(
            f"{uri} is a Delta table: install delta-spark (pip install delta-spark) and start "
            "Spark with its extensions, or export the table to Parquet"
        ) from exc
    df = spark.read.format("delta").load(uri)
    return _rows_as_json(df, time_cols, F.col("_metadata.row_index") + 1)


def read_raw(spark: SparkSession, sources: list[Source]) -> DataFrame:
    """All sources as one DataFrame of raw records
    ``(line, line_no, source_file, file_order)``; ``file_order`` is the source's position."""
    from pyspark.sql import functions as F

    if not sources:
        raise InvalidInputError("no input logs to read")
    keys = spark.createDataFrame(
        [(file_key(spark, s.uri), s.name, i) for i, s in enumerate(sources) if s.fmt != "delta"],
        "file_key string, source_file string, file_order int",
    )
    cols = ["line", "line_no", "source_file", "file_order"]
    parts: list[DataFrame] = []
    jsonl = [s.uri for s in sources if s.fmt == "jsonl"]
    parquet = [s.uri for s in sources if s.fmt == "parquet"]
    if jsonl:
        parts.append(read_jsonl(spark, jsonl))
    if parquet:
        parts.append(read_parquet(spark, parquet))
    parts = [p.join(F.broadcast(keys), "file_key").select(*cols) for p in parts]
    for i, s in enumerate(sources):
        if s.fmt == "delta":
            # A Delta table's rows are numbered within its data files; name those files.
            d = read_delta(spark, s.uri)
            parts.append(
                d.select("line", "line_no", F.col("file_key").alias("source_file"),
                         F.lit(i).cast("int").alias("file_order"))
            )
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out
