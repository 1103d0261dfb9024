"""``detect`` on Spark: the embedded pipeline's stages, the same definitions, the same outputs.

1. ingest (:class:`.store.SparkStore`): raw records → the embedded validation SQL and
   ``signals.featurize`` inside ``mapInArrow`` → ``requests`` (Parquet, by day), quarantine;
2. templates (:func:`.templates.update_templates`): LSH buckets → stars → distributed
   connected components; the index is carried forward in the store;
3. analyze (``scoring.analyze``) on a :class:`.engine.SparkEngine`: the same SQL definitions,
   the same Python over small Arrow tables; the account graph is clustered on the driver with
   Leiden up to ``max_driver_edges`` and by distributed connected components above
   (:mod:`.cluster`);
4. outputs: the ``out_*`` tables are checked by ``engines.outputs.validate_outputs`` (run on
   Spark) and written by the same writer as the embedded engine; they also stay in the
   store as Parquet (``<store>/spark/tables/out_*``) for the lake;
5. report and ``summary.json`` (same keys as the embedded engine, ``engine: "spark"``).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import DistillguardError, InvalidInputError
from ...ingest import DEFAULT_STORE
from ...policy import Policy, default_policy
from ...progress import make_progress, stage
from .cluster import DEFAULT_MAX_DRIVER_EDGES, use_crossover_clusterer
from .engine import HASH_TYPE, SparkEngine, local_folder
from .reading import is_uri
from .session import local_cores, spark_session
from .store import SparkStore
from .templates import update_templates, update_templates_on_driver

# Tables an analysis leaves in the store and the report reads.
REPORT_TABLES: tuple[str, ...] = (
    "out_accounts",
    "out_clusters",
    "out_requests",
    "evidence",
    "cluster_members",
    "graph_edges",
    "account_features",
)
# Tables kept in the store as Parquet: carried to the next run, or findings for the lake.
PERSISTED_TABLES: frozenset[str] = frozenset(
    ("ip_intel", "templates", "template_bands", "account_features", *REPORT_TABLES)
)
# Requests copied into the report's embedded database: those of flagged or clustered accounts.
REPORT_MAX_REQUESTS = 2_000_000


def _default_master() -> str | None:
    """``local[2]`` unless this driver was started by ``spark-submit`` (it sets the master)."""
    return None if os.environ.get("PYSPARK_GATEWAY_PORT") else "local[2]"


def _as_location(p: str | Path) -> str:
    """A path or URI as text; repairs a URI that went through ``Path`` (``s3a:/b`` → ``s3a://b``)."""
    text = str(p)
    if isinstance(p, Path):
        text = re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]+):/(?!/)", r"\1://", text)
    return text


def _checked_logs(logs: list[str | Path], accounts: Path | None) -> list[str]:
    """The logs as locations, each local one present, and the account table present."""
    located = [_as_location(p) for p in logs]
    if not located:
        raise InvalidInputError("no input logs given")
    for p in located:
        if not is_uri(p) and not Path(p).exists():
            raise InvalidInputError(f"input not found: {p}")
    if accounts is not None and not Path(accounts).is_file():
        raise InvalidInputError(f"account table not found: {accounts}")
    return located


def _register_store(engine: SparkEngine, st: SparkStore, quarantined: int) -> None:
    """The store's requests and accounts as views, and the tables earlier runs carried."""
    requests = st.requests()
    if requests is None:
        raise InvalidInputError(
            "no valid request records in the input or the store: nothing to analyse "
            f"(quarantined this run: {quarantined})"
        )
    engine.register_view("requests", requests)
    acc = st.read("accounts")
    if acc is not None:
        engine.register_view("accounts", acc)
    for name in ("ip_intel", "templates", "template_bands"):
        engine.restore(name)  # carried forward from earlier runs


def detect(
    logs: list[str | Path],
    out: Path,
    accounts: Path | None = None,
    store: str | Path = DEFAULT_STORE,
    policy: Policy | None = None,
    retain_content: bool = True,
    progress: bool = True,
    redact: bool = False,
    master: str | None = "local[2]",
    spark: Any = None,
    max_driver_edges: int = DEFAULT_MAX_DRIVER_EDGES,
) -> dict[str, Any]:
    """Run the whole pipeline on Spark; write the five output files into ``out``.

    ``logs`` are local paths or URIs (``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``,
    ``dbfs:/``) of JSON Lines or Parquet files, folders or Delta tables; ``store`` likewise.
    ``master=None`` uses ``local[2]``, or the master ``spark-submit`` set; ``spark`` reuses a
    session. Returns the summary (also written as ``summary.json``), with the same keys as
    :func:`distillguard.engines.embedded.detect`.
    """
    from ..embedded import check_out_dir, timed

    t_start = time.perf_counter()
    logs = _checked_logs(logs, accounts)
    store = _as_location(store)
    out = check_out_dir(Path(out))
    policy = policy if policy is not None else default_policy()
    if spark is None:
        spark = spark_session(master if master else _default_master())
    st = SparkStore(spark, store)
    engine = SparkEngine(spark, warehouse=st.uri("tables"), persist=PERSISTED_TABLES)
    timings: dict[str, float] = {}
    with make_progress(progress) as prog:
        with timed(timings, "ingest"), stage(prog, "ingest (spark)"):
            ing = st.ingest(logs, accounts=accounts, retain_content=retain_content, policy=policy)
        _register_store(engine, st, ing.quarantined)

        with timed(timings, "templates"), stage(prog, "templates (spark)"):
            tmpl = _templates(engine, policy, st)
        with timed(timings, "analyze"):
            findings = _analyze(engine, policy, prog, max_driver_edges)
        with timed(timings, "outputs"), stage(prog, "outputs"):
            from ..outputs import validate_outputs

            counts = validate_outputs(engine)
            report_con = _report_db(engine, st)
            _write_outputs(report_con, out)
        store_counts = st.counts()
        summary = _summary(
            engine,
            st,
            report_con,
            ing,
            store_counts,
            counts,
            findings,
            tmpl,
            policy,
            timings,
            logs,
            accounts,
            out,
            retain_content,
            redact,
        )
        with timed(timings, "report"), stage(prog, "report"):
            _report(report_con, out / "report.html", summary, redact)
        report_con.close()
    timings["total"] = time.perf_counter() - t_start
    from ..embedded import _peak_rss_mb
    from ..outputs import record_timings, write_summary

    record_timings(summary, timings, ing.accepted, store_counts["requests"])
    summary["resources"] = {
        "peak_rss_mb": _peak_rss_mb(),
        "jvm_peak_rss_mb": jvm_peak_rss_mb(spark),
        "memory_limit": spark.conf.get("spark.driver.memory", None),
        "threads": summary["spark"]["cores"],
    }

    write_summary(summary, out)
    return summary


def _driver_folders(engine: SparkEngine, st: SparkStore) -> tuple[Path, Path] | None:
    """``(requests folder, spool folder)`` when the template index can run on the driver:
    local mode (the driver's cores are the executors') with the store on this machine."""
    if local_cores(engine.spark.sparkContext.master) is None:
        return None
    requests, warehouse = local_folder(st.uri("requests")), local_folder(engine.warehouse)
    if requests is None or warehouse is None:
        return None
    return requests, warehouse / "_spool"


def _templates(engine: SparkEngine, policy: Policy, st: SparkStore | None = None
               ) -> dict[str, Any]:
    from pyspark.sql import functions as F

    folders = _driver_folders(engine, st) if st is not None else None
    if folders is not None:
        cores = local_cores(engine.spark.sparkContext.master) or 1
        tpl, bands, stats = update_templates_on_driver(
            engine, folders[0], folders[1], engine.table_path("templates"),
            engine.table_path("template_bands"), policy=policy, threads=cores,
        )
    else:
        old_t = engine.table("templates") if engine.has_table("templates") else None
        old_b = engine.table("template_bands") if engine.has_table("template_bands") else None
        tpl, bands, stats = update_templates(engine, old_t, old_b, policy=policy)
    tpl = engine.register_df("templates", tpl)
    engine.register_df("template_bands", bands)
    row = tpl.agg(F.count("*").alias("n"), F.countDistinct("template_id").alias("t")).first()
    stats["skeletons_total"] = int(row["n"])
    stats["templates_total"] = int(row["t"])
    return stats


def _analyze(engine: SparkEngine, policy: Policy, progress: Any, max_driver_edges: int) -> Any:
    try:
        from ...scoring import analyze
    except ImportError as exc:
        raise DistillguardError(f"the scoring stage is not available: {exc}") from exc
    with use_crossover_clusterer(engine, max_driver_edges):
        return analyze(engine, policy, progress=progress)


def _report_db(engine: SparkEngine, st: SparkStore) -> Any:
    """An in-memory DuckDB with the findings and what the report shows about them, for the
    output writer and the report (both read a DuckDB connection).

    When the store is on this machine every table is written by Spark as Parquet and loaded
    by DuckDB into a database file beside it, so nothing large passes through the JVM's heap
    (collecting the flagged accounts' requests with their text ran a 1 GiB local driver out
    of memory on the medium preset) or sits in Python's memory. On a lake URI the tables are
    collected as Arrow into an in-memory database instead. ``out_*``, ``evidence``, ``cluster_members`` and ``accounts``
    are copied whole (one row per account, cluster or request); requests, graph edges,
    features, templates and IPs only for flagged or clustered accounts."""
    import duckdb

    folder = local_folder(engine.warehouse)
    if folder is None:
        con = duckdb.connect()
    else:
        db = folder / "_report" / "report.duckdb"
        db.parent.mkdir(parents=True, exist_ok=True)
        for old in (db, db.with_name(db.name + ".wal")):
            old.unlink(missing_ok=True)
        con = duckdb.connect(str(db))
        con.execute("SET memory_limit = '1GB'")
    engine.create_table(
        "report_accounts",
        "SELECT account_id FROM out_accounts WHERE verdict <> 'benign' OR cluster_id IS NOT NULL",
    )
    sel = "account_id IN (SELECT account_id FROM report_accounts)"
    queries = {
        "out_accounts": "SELECT * FROM out_accounts",
        "out_clusters": "SELECT * FROM out_clusters",
        "out_requests": "SELECT * FROM out_requests",
        "evidence": "SELECT * FROM evidence",
        "cluster_members": "SELECT * FROM cluster_members",
        "accounts": "SELECT * FROM accounts",
        "graph_edges": f"SELECT * FROM graph_edges WHERE {sel}",
        "account_features": f"SELECT * FROM account_features WHERE {sel}",
        "risk_reference": "SELECT * FROM risk_reference",
    }
    for name, sql in queries.items():
        if engine.has_table(name):
            _attach(con, engine, folder, name, sql)
    # A LIMIT gathers its rows into one task; only the collected (remote) copy needs a cap.
    cap = "" if folder is not None else f" LIMIT {REPORT_MAX_REQUESTS}"
    engine.create_table("report_requests", f"SELECT * FROM requests WHERE {sel}{cap}")
    _attach(con, engine, folder, "requests", "SELECT * FROM report_requests")
    if engine.has_table("templates"):
        _attach(con, engine, folder, "templates",
                "SELECT * FROM templates WHERE skeleton_hash IN "
                "(SELECT skeleton_hash FROM report_requests)")
    if engine.has_table("ip_intel"):
        _attach(con, engine, folder, "ip_intel",
                "SELECT * FROM ip_intel WHERE ip IN (SELECT ip FROM report_requests)")
    q = st.read("quarantine")
    if q is not None:
        _load(con, "quarantine", q.limit(100_000).toArrow())
    return con


def _attach(con: Any, engine: SparkEngine, folder: Path | None, name: str, sql: str) -> None:
    """Table ``name`` in the report database, loaded from Parquet Spark wrote on this
    machine (hash columns back to UBIGINT, other decimals to DOUBLE, as ``fetch_arrow``
    does), else from a collected Arrow copy."""
    if folder is None:
        _load(con, name, engine.fetch_arrow(sql))
        return
    path = folder / "_report" / name
    df = engine.sql(sql)
    df.write.mode("overwrite").parquet(str(path))
    casts = []
    for field in df.schema.fields:
        typ = field.dataType.simpleString()
        q = f'"{field.name}"'
        if field.name in engine.unsigned and typ == HASH_TYPE_SPARK:
            casts.append(f"CAST({q} AS UBIGINT) AS {q}")
        elif field.name in engine.unsigned and typ == f"array<{HASH_TYPE_SPARK}>":
            casts.append(f"CAST({q} AS UBIGINT[]) AS {q}")
        elif typ.startswith("decimal"):
            casts.append(f"CAST({q} AS DOUBLE) AS {q}")
    replace = f" REPLACE ({', '.join(casts)})" if casts else ""
    glob = str(path / "*.parquet").replace("'", "''")
    con.execute(
        f"CREATE OR REPLACE TABLE {name} AS SELECT *{replace} "
        f"FROM read_parquet('{glob}', union_by_name = true)"
    )


HASH_TYPE_SPARK = f"decimal({HASH_TYPE.precision},{HASH_TYPE.scale})"  # Spark's name for it


def _load(con: Any, name: str, table: pa.Table) -> None:
    con.register("__dg_load", table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM __dg_load")
    finally:
        con.unregister("__dg_load")


def _write_outputs(con: Any, out: Path) -> None:
    from ..base import DuckDBEngine
    from ..outputs import write_outputs

    write_outputs(DuckDBEngine(con), out)


def _report(con: Any, path: Path, summary: dict, redact: bool) -> Path:
    try:
        from ...console.report import write_report
    except ImportError as exc:
        raise DistillguardError(
            f"the report writer (console.report) is not available: {exc}"
        ) from exc
    return write_report(con, path, summary, redact=redact)


def jvm_peak_rss_mb(spark: Any) -> float | None:
    """Peak resident memory of the local Spark JVM (driver + local executors), MiB; None when
    the JVM is not a child of this process (cluster mode) or the OS does not report it."""
    try:
        pid = spark.sparkContext._gateway.proc.pid  # noqa: SLF001 - set only in local launches
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (AttributeError, OSError, ValueError):
        return None
    return None


def _summary(
    engine: SparkEngine,
    st: SparkStore,
    report_con: Any,
    ing: Any,
    store_counts: dict[str, Any],
    out_counts: dict[str, int],
    findings: Any,
    templates: dict[str, Any],
    policy: Policy,
    timings: dict[str, float],
    logs: list[str],
    accounts: Path | None,
    out: Path,
    retain_content: bool,
    redact: bool,
) -> dict[str, Any]:
    """The embedded engine's summary (same code, same keys) plus a ``spark`` section.

    The embedded ``_summary`` reads verdict counts and top clusters from a DuckDB store; the
    report database holds the same ``out_*`` tables, so it stands in for the store.
    """
    from types import SimpleNamespace

    from .. import embedded

    shim = SimpleNamespace(con=report_con, path=Path(st.path))
    summary = embedded._summary(
        shim,
        ing,
        store_counts,
        out_counts,
        findings,
        templates,
        policy,
        timings,
        [Path(p) if not is_uri(p) else p for p in logs],
        accounts,
        out,
        retain_content,
        redact,
    )
    sc = engine.spark.sparkContext
    summary["engine"] = "spark"
    summary["inputs"]["logs"] = list(logs)
    summary["store"] = st.path
    summary["quarantine"]["file"] = st.uri("quarantine")
    summary.setdefault("versions", {})["spark"] = str(engine.spark.version)
    summary["spark"] = {
        "master": sc.master,
        "cores": local_cores(sc.master) or sc.defaultParallelism,
        "shuffle_partitions": engine.spark.conf.get("spark.sql.shuffle.partitions"),
        # where a run's time went, by table: what to look at first when Spark is slow
        "slowest_tables_s": engine.slowest(),
        "version": str(engine.spark.version),
    }
    return summary
