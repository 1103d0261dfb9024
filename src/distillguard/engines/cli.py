"""``distillguard detect``: request logs in, findings out (embedded DuckDB or Apache Spark)."""

from __future__ import annotations

import shutil
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import DistillguardError, InvalidInputError, InvalidParameterError
from ..ingest import DEFAULT_STORE
from ..ingest.formats import NAMES as FORMAT_NAMES
from ..ingest.postgres import is_database_url, resolve_source
from ..policy import Policy


class EngineName(str, Enum):
    duckdb = "duckdb"
    spark = "spark"


def _spark_detect() -> Any:
    """``distillguard.engines.spark.detect``, with a clear error when Spark cannot run."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise DistillguardError(
            "--engine spark needs PySpark: pip install 'distillguard[spark]' (or use --engine duckdb)"
        ) from exc
    if shutil.which("java") is None and not _java_home():
        raise DistillguardError(
            "--engine spark needs a Java runtime (17+): install one or set JAVA_HOME "
            "(or use --engine duckdb)"
        )
    try:
        from . import spark
    except ImportError as exc:
        raise DistillguardError(f"the Spark engine cannot be loaded: {exc}") from exc
    fn = getattr(spark, "detect", None)
    if fn is None:
        raise DistillguardError("the Spark engine (distillguard.engines.spark) has no detect()")
    return fn


def _java_home() -> bool:
    import os

    home = os.environ.get("JAVA_HOME")
    return bool(home) and Path(home, "bin", "java").exists()


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """The short end-of-run table: requests, verdicts, clusters, top clusters, output folder."""
    console = console or Console()
    c = summary.get("counts", {})
    t = Table(title="distillguard detect", show_header=True, header_style="bold")
    t.add_column("what")
    t.add_column("count", justify="right")
    t.add_row("requests accepted (this run)", f"{c.get('requests_accepted', 0):,}")
    t.add_row("requests quarantined (this run)", f"{c.get('requests_quarantined', 0):,}")
    t.add_row("files read / skipped", f"{c.get('files_read', 0)} / {c.get('files_skipped', 0)}")
    t.add_row("requests in store", f"{c.get('requests_in_store', 0):,}")
    by = summary.get("accounts_by_verdict", {})
    t.add_row("accounts", f"{c.get('accounts', 0):,}")
    for v, style in (("attack", "red"), ("review", "yellow"), ("benign", "green")):
        t.add_row(f"  [{style}]{v}[/{style}]", f"{by.get(v, 0):,}")
    t.add_row("clusters (attack)", f"{c.get('clusters', 0):,} ({c.get('clusters_attack', 0):,})")
    t.add_row("flagged requests", f"{c.get('flagged_requests', 0):,}")
    console.print(t)
    top = summary.get("top_clusters") or []
    if top:
        tt = Table(title="top clusters", header_style="bold")
        for col in ("cluster", "accounts", "risk", "verdict", "capabilities"):
            tt.add_column(col)
        for row in top:
            tt.add_row(str(row["cluster_id"]), str(row["n_accounts"]), f"{row['risk']:.2f}",
                       row["verdict"], str(row.get("capabilities") or ""))
        console.print(tt)
    if summary.get("formats"):
        console.print("formats: " + ", ".join(f"{k} ({v} files)" for k, v in summary["formats"].items()))
    if summary.get("counts", {}).get("ts_assumed_tz"):
        console.print(f"times without an offset read as {summary.get('assume_tz')}: "
                      f"{summary['counts']['ts_assumed_tz']:,}")
    if summary.get("mode") == "metadata-only":
        console.print(f"[bold]metadata-only run[/bold]: {summary.get('mode_note')}")
    q = summary.get("quarantine", {}).get("this_run") or {}
    if q:
        console.print("quarantined: " + ", ".join(f"{k} {v}" for k, v in q.items()))
    secs = summary.get("timings_s", {}).get("total")
    console.print(f"findings in [bold]{summary.get('out')}[/bold]"
                  + (f" ({secs:.1f} s)" if secs is not None else ""))


def register(app: typer.Typer) -> None:
    """Add ``detect`` and ``formats`` to the ``distillguard`` command."""

    @app.command("formats")
    def formats_cmd() -> None:
        """List the log formats detect reads (--format NAME) and the documents they follow."""
        from ..ingest.formats import FORMATS

        t = Table(title="log formats", header_style="bold")
        for col in ("--format", "what", "field names from"):
            t.add_column(col)
        for f in FORMATS:
            t.add_row(f.name, f.title, f.source)
        Console(width=160).print(t)

    @app.command("detect")
    def detect_cmd(
        logs: list[str] = typer.Argument(..., help="request log files or folders (JSONL, .json, .gz, Parquet, CSV), or postgresql://…/db?table=NAME"),
        out: Path = typer.Option(..., "--out", help="folder for accounts.csv, clusters.csv, requests.parquet, report.html, summary.json"),
        accounts: Path | None = typer.Option(None, "--accounts", help="account table (CSV, JSONL or Parquet)"),
        store: Path = typer.Option(DEFAULT_STORE, "--store", help="store folder; kept between runs (incremental)"),
        policy: Path | None = typer.Option(None, "--policy", help="policy YAML (thresholds, weights, signals)"),
        no_content_retention: bool = typer.Option(False, "--no-content-retention", help="keep only derived features, never prompt text"),
        redact: bool = typer.Option(False, "--redact", help="hide example prompts in report.html"),
        engine: EngineName = typer.Option(EngineName.duckdb, "--engine", help="duckdb (embedded) or spark"),
        master: str | None = typer.Option(None, "--master", help="Spark master URL (with --engine spark), e.g. local[2]"),
        memory_limit: str = typer.Option("1GB", "--memory-limit", help="DuckDB memory limit; beyond it DuckDB spills to the store"),
        workers: int | None = typer.Option(None, "--workers", help="processes for text features (default: one per core; 1 = in-process)"),
        no_progress: bool = typer.Option(False, "--no-progress", help="no progress bars"),
        log_format: str = typer.Option("auto", "--format", help=f"log format: auto (recognised per file) or one of {', '.join(FORMAT_NAMES)}"),
        assume_tz: str = typer.Option("UTC", "--assume-tz", help="time zone of timestamps written without an offset (counted in the summary)"),
    ) -> None:
        """Find harvesting accounts and coordinated clusters in request logs."""
        if engine is EngineName.spark and (
            log_format != "auto" or assume_tz != "UTC" or any(map(is_database_url, logs))
        ):
            raise InvalidParameterError(
                "--format, --assume-tz and postgresql:// sources apply to --engine duckdb only"
            )
        sources = [resolve_source(p, store) for p in logs]
        if accounts is not None and not accounts.is_file():
            raise InvalidInputError(f"account table not found: {accounts}")
        if out.exists() and not out.is_dir():
            raise InvalidInputError(f"--out {out} exists and is a file, not a folder")
        if store.exists() and not store.is_dir():
            raise InvalidInputError(f"--store {store} exists and is a file, not a folder")
        if master is not None and engine is not EngineName.spark:
            raise InvalidParameterError("--master only applies with --engine spark")
        pol = Policy.load(policy)
        kwargs: dict[str, Any] = dict(
            logs=sources, out=out, accounts=accounts, store=store, policy=pol,
            retain_content=not no_content_retention, progress=not no_progress, redact=redact,
        )
        if engine is EngineName.spark:
            summary = _spark_detect()(**kwargs, master=master)
        else:
            from .embedded import detect, quarantine_warning

            summary = detect(**kwargs, memory_limit=memory_limit, workers=workers,
                             log_format=log_format, assume_tz=assume_tz)
            warning = quarantine_warning(summary)
            if warning:
                typer.secho(warning, fg=typer.colors.YELLOW, err=True)
        print_summary(summary)
