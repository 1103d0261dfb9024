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
import platform
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from ... import __version__
from ...errors import DistillguardError, InvalidInputError
from ...ingest import DEFAULT_STORE
from ...policy import Policy, default_policy
from ...progress import make_progress, stage
from .cluster import DEFAULT_MAX_DRIVER_EDGES, use_crossover_clusterer
from .engine import SparkEngine
from .session import local_cores, spark_session
from .store import SparkStore
from .templates import update_templates

# Tables an analysis leaves in the store and the report reads.
REPORT_TABLES: tuple[str, ...] = (
    "out_accounts", "out_clusters", "out_requests", "evidence", "cluster_members",
    "graph_edges", "account_features",
)
# Requests copied into the report's embedded database: those of flagged or clustered accounts.
REPORT_MAX_REQUESTS = 2_000_000


def _default_master() -> str | None:
    """``local[2]`` unless this driver was started by ``spark-submit`` (it sets the master)."""
    return None if os.environ.get("PYSPARK_GATEWAY_PORT") else "local[2]"


def _is_uri(p: str) -> bool:
    return "://" in p or p.startswith("dbfs:")


@contextmanager
def _timed(timings: dict[str, float], name: str):
    t0 = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - t0


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
    from ..embedded import check_out_dir

    t_start = time.perf_counter()
    logs = [str(p) for p in logs]
    if not logs:
        raise InvalidInputError("no input logs given")
    for p in logs:
        if not _is_uri(p) and not Path(p).exists():
            raise InvalidInputError(f"input not found: {p}")
    if accounts is not None and not Path(accounts).is_file():
        raise InvalidInputError(f"account table not found: {accounts}")
    out = check_out_dir(Path(out))
    policy = policy if policy is not None else default_policy()
    if spark is None:
        spark = spark_session(master if master else _default_master())
    st = SparkStore(spark, store)
    engine = SparkEngine(spark, warehouse=st.uri("tables"))
    timings: dict[str, float] = {}
    with make_progress(progress) as prog:
        with _timed(timings, "ingest"), stage(prog, "ingest (spark)"):
            ing = st.ingest(logs, accounts=accounts, retain_content=retain_content, policy=policy)
        requests = st.requests()
        if requests is None:
            raise InvalidInputError(
                "no valid request records in the input or the store: nothing to analyse "
                f"(quarantined this run: {ing.quarantined})"
            )
        engine.register_view("requests", requests)
        acc = st.read("accounts")
        if acc is not None:
            engine.register_view("accounts", acc)
        for name in ("ip_intel", "templates", "template_bands"):
            engine.restore(name)  # carried forward from earlier runs

        with _timed(timings, "templates"), stage(prog, "templates (spark)"):
            tmpl = _templates(engine, policy)
        with _timed(timings, "analyze"):
            findings = _analyze(engine, policy, prog, max_driver_edges)
        with _timed(timings, "outputs"), stage(prog, "outputs"):
            from ..outputs import validate_outputs

            counts = validate_outputs(engine)
            report_con = _report_db(engine, st)
            _write_outputs(report_con, out)
        store_counts = st.counts()
        summary = _summary(engine, st, ing, store_counts, counts, findings, tmpl, policy,
                           timings, logs, accounts, out, retain_content, redact)
        with _timed(timings, "report"), stage(prog, "report"):
            _report(report_con, out / "report.html", summary, redact)
        report_con.close()
    timings["total"] = time.perf_counter() - t_start
    summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    n = store_counts["requests"]
    summary["throughput_rps"] = {
        "ingest": round(ing.accepted / timings["ingest"], 1) if timings["ingest"] else None,
        "end_to_end": round(n / timings["total"], 1) if timings["total"] else None,
    }
    from ..outputs import write_summary

    write_summary(summary, out)
    return summary


def _templates(engine: SparkEngine, policy: Policy) -> dict[str, Any]:
    from pyspark.sql import functions as F

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
    """An in-memory DuckDB with the findings and the requests behind them, for the writers and
    the report (both read a DuckDB connection). Small by construction: one row per account,
    cluster, edge or flagged request, plus the requests of flagged or clustered accounts."""
    import duckdb

    con = duckdb.connect()
    tables = [t for t in REPORT_TABLES if engine.has_table(t)]
    for extra in ("ip_intel", "accounts", "templates"):
        if engine.has_table(extra):
            tables.append(extra)
    for name in tables:
        _load(con, name, engine.fetch_arrow(f"SELECT * FROM {name}"))
    req = engine.fetch_arrow(
        "SELECT r.* FROM requests r WHERE r.account_id IN (SELECT account_id FROM out_accounts "
        "WHERE verdict <> 'benign' OR cluster_id IS NOT NULL) "
        f"LIMIT {REPORT_MAX_REQUESTS}"
    )
    _load(con, "requests", req)
    q = st.read("quarantine")
    if q is not None:
        _load(con, "quarantine", q.limit(100_000).toArrow())
    return con


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
        raise DistillguardError(f"the report writer (console.report) is not available: {exc}") from exc
    return write_report(con, path, summary, redact=redact)


def _verdict_counts(engine: SparkEngine, table: str) -> dict[str, int]:
    t = engine.fetch_arrow(f"SELECT verdict, count(*) AS n FROM {table} GROUP BY verdict")
    got = {str(r["verdict"]): int(r["n"]) for r in t.to_pylist()}
    return {v: got.get(v, 0) for v in ("benign", "review", "attack")}


def _top_clusters(engine: SparkEngine, n: int = 5) -> list[dict[str, Any]]:
    t = engine.fetch_arrow(
        "SELECT CAST(cluster_id AS STRING) AS cluster_id, n_accounts, risk, verdict, "
        f"capabilities FROM out_clusters ORDER BY risk DESC, n_accounts DESC LIMIT {int(n)}"
    )
    return [
        {"cluster_id": r["cluster_id"], "n_accounts": int(r["n_accounts"]),
         "risk": round(float(r["risk"]), 4), "verdict": r["verdict"],
         "capabilities": r["capabilities"]}
        for r in t.to_pylist()
    ]


def versions(spark: Any) -> dict[str, str]:
    """Versions recorded in ``summary.json``."""
    import duckdb

    return {
        "distillguard": __version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "spark": str(spark.version),
    }


def _summary(
    engine: SparkEngine, st: SparkStore, ing: Any, store_counts: dict[str, Any],
    out_counts: dict[str, int], findings: Any, templates: dict[str, Any], policy: Policy,
    timings: dict[str, float], logs: list[str], accounts: Path | None, out: Path,
    retain_content: bool, redact: bool,
) -> dict[str, Any]:
    acc_verdicts = _verdict_counts(engine, "out_accounts")
    clu_verdicts = _verdict_counts(engine, "out_clusters")
    sc = engine.spark.sparkContext
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": "spark",
        "spark": {
            "master": sc.master,
            "cores": local_cores(sc.master) or sc.defaultParallelism,
            "shuffle_partitions": engine.spark.conf.get("spark.sql.shuffle.partitions"),
            "version": str(engine.spark.version),
        },
        "inputs": {"logs": list(logs), "accounts": str(accounts) if accounts else None},
        "store": st.path,
        "out": str(out),
        "retain_content": retain_content,
        "redact": redact,
        "counts": {
            "requests_accepted": ing.accepted,
            "requests_quarantined": ing.quarantined,
            "files_read": ing.files_read,
            "files_skipped": ing.files_skipped,
            "requests_in_store": store_counts["requests"],
            "quarantined_in_store": store_counts["quarantined"],
            "accounts": out_counts["out_accounts"],
            "accounts_attack": acc_verdicts["attack"],
            "accounts_review": acc_verdicts["review"],
            "accounts_benign": acc_verdicts["benign"],
            "clusters": out_counts["out_clusters"],
            "clusters_attack": clu_verdicts["attack"],
            "flagged_requests": out_counts["out_requests"],
            "account_table_rows": store_counts["account_table_rows"],
            "templates": templates.get("templates_total") if templates else None,
        },
        "accounts_by_verdict": acc_verdicts,
        "clusters_by_verdict": clu_verdicts,
        "top_clusters": _top_clusters(engine),
        "quarantine": {
            "this_run": dict(sorted(ing.by_reason.items())),
            "in_store": store_counts["quarantined_by_reason"],
            "file": st.uri("quarantine"),
        },
        "ingest": ing.to_dict(),
        "templates": templates,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "analyze_timings_s": dict(getattr(findings, "timings", {}) or {}),
        "versions": versions(engine.spark),
        "policy": {
            "version": policy.version,
            "source": policy.source,
            "params": policy.to_dict(),
            "estimators": getattr(findings, "params", {}),
        },
    }
