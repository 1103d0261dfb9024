"""The embedded pipeline: request logs → DuckDB store → findings, on one machine.

``detect`` runs the stages in order, each with its own progress bar:

1. ingest (``ingest.Store``): validate, quarantine, text features, append to ``requests``;
2. templates (``signals.TemplateIndex``): map skeletons / LSH bands to template ids;
3. analyze (``scoring.analyze``): account features, graph, clusters, risk, verdicts, evidence;
4. outputs: ``accounts.csv``, ``clusters.csv``, ``requests.parquet`` (checked against the
   contract first);
5. report: ``report.html``; then ``summary.json`` with counts, quarantine, timings, versions
   and the policy.

Runs are incremental: the store keeps yesterday's requests, today's files are added, and the
verdicts are recomputed from the whole store.
"""

from __future__ import annotations

import gc
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .. import __version__
from ..errors import DistillguardError, InvalidInputError, NoRecordsError
from ..ingest import DEFAULT_STORE, Store, discover
from ..ingest.parallel import check_workers
from ..ingest.store import StoreEngine, analysis_memory_limit, size_bytes
from ..policy import Policy, default_policy
from ..progress import make_progress, stage
from .outputs import record_timings, sql_path, validate_outputs, write_outputs, write_summary

# CPython collects its youngest generation every 700 new container objects (the default of
# gc.get_threshold()). The stages after ingest build lists of hundreds of thousands of small
# lists and tuples that hold no cycles (igraph's edge list, ``to_pylist`` of ids), so most of
# those collections free nothing while walking every survivor: 0.58 of ~10 CPU-s of analyze on
# medium-w101, measured with gc.callbacks. Cycles are still collected, 70x less often.
GC_YOUNG_THRESHOLD = 50_000


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Fewer young-generation collections; objects alive before (modules, the store) are
    frozen out of them, unless the caller froze some already (unfreeze would thaw theirs).
    Both restored after."""
    old = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        if freeze:
            gc.unfreeze()


def check_out_dir(out: Path) -> Path:
    """``out`` as a folder to write into (created); a clear error when it cannot be."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} exists and is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"cannot create output folder {out}: {exc}") from exc
    return out


def versions() -> dict[str, str]:
    """Versions recorded in ``summary.json``."""
    return {
        "distillguard": __version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
    }


@contextmanager
def _cursor(store: Store) -> Iterator[duckdb.DuckDBPyConnection]:
    """A separate connection to the store for one stage, closed after it.

    With duckdb 2.0 a result a stage leaves half-read (``execute(...).fetchone()``) blocks
    every later query on that connection; a per-stage cursor keeps it from leaking into the
    next stage. The cursor sees everything committed on the store.
    """
    cur = store.con.cursor()
    try:
        yield cur
    finally:
        cur.close()


def _templates(store: Store, policy: Policy, progress: Any = None) -> dict[str, Any]:
    try:
        from ..signals.templates import TemplateIndex
    except ImportError as exc:
        raise DistillguardError(
            f"the template stage (signals.templates) is not available: {exc}"
        ) from exc
    with _cursor(store) as cur:
        res = TemplateIndex(cur, policy=policy).update(progress=progress)
    if isinstance(res, dict):
        return res
    if hasattr(res, "to_dict"):
        return dict(res.to_dict())
    if hasattr(res, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(res)
    return {}


def _analyze(store: Store, policy: Policy, progress: Any) -> Any:
    try:
        from ..scoring import analyze
    except ImportError as exc:
        raise DistillguardError(f"the scoring stage is not available: {exc}") from exc
    with _cursor(store) as cur:
        return analyze(StoreEngine(cur), policy, progress=progress)


def _report(store: Store, path: Path, summary: dict, redact: bool) -> Path:
    try:
        from ..console.report import write_report
    except ImportError as exc:
        raise DistillguardError(
            f"the report writer (console.report) is not available: {exc}"
        ) from exc
    with _cursor(store) as cur:
        return write_report(cur, path, summary, redact=redact)


def _verdict_counts(store: Store, table: str) -> dict[str, int]:
    rows = store.con.execute(f"SELECT verdict, count(*) FROM {table} GROUP BY verdict").fetchall()
    got = {str(v): int(n) for v, n in rows}
    return {v: got.get(v, 0) for v in ("benign", "review", "attack")}


def _top_clusters(store: Store, n: int = 5) -> list[dict[str, Any]]:
    rows = store.con.execute(
        "SELECT CAST(cluster_id AS VARCHAR), n_accounts, risk, verdict, capabilities "
        "FROM out_clusters ORDER BY risk DESC, n_accounts DESC LIMIT ?",
        [n],
    ).fetchall()
    return [
        {
            "cluster_id": c,
            "n_accounts": int(k),
            "risk": round(float(r), 4),
            "verdict": v,
            "capabilities": cap,
        }
        for c, k, r, v, cap in rows
    ]


def detect(
    logs: list[Path],
    out: Path,
    accounts: Path | None = None,
    store: Path = DEFAULT_STORE,
    policy: Policy | None = None,
    retain_content: bool = True,
    progress: bool = True,
    redact: bool = False,
    memory_limit: str = "1GB",
    threads: int | None = None,
    workers: int | None = None,
    log_format: str = "auto",
    assume_tz: str = "UTC",
    report: bool = True,
    ingest_memory_limit: str | None = None,
    analyze_memory_limit: str | None = None,
) -> dict[str, Any]:
    """Run the whole embedded pipeline; write the five output files into ``out``.

    Returns the summary (also written as ``summary.json``). Bad records never stop the run;
    bad arguments (missing inputs, an ``out`` that is a file, ...) raise
    :class:`~distillguard.errors.InvalidInputError` before any work starts.
    ``workers`` processes compute the text features during ingest (``None``: one per core;
    small inputs stay in-process); outputs do not depend on it. ``log_format`` (``auto`` or a
    name of ``ingest.formats``) and ``assume_tz`` (the zone of times without an offset) go to
    :meth:`Store.ingest`. ``report=False`` leaves out ``report.html`` (a fifth of a small
    run's time): the other outputs, the store and the summary are the same, without a
    ``report`` timing. ``ingest_memory_limit`` is the store's DuckDB limit while ingest runs
    (``None``: its share of ``memory_limit`` beside the workers; see
    ``ingest.store.ingest_memory_limit``); ``analyze_memory_limit`` its limit for the stages
    after ingest (``None``: ``ingest.store.analysis_memory_limit``).
    """
    t_start = time.perf_counter()
    logs = [Path(p) for p in logs]
    workers = _check_inputs(logs, log_format, workers, accounts, analyze_memory_limit)
    out = check_out_dir(out)
    policy = policy if policy is not None else default_policy()
    timings: dict[str, float] = {}
    st = Store(
        Path(store),
        memory_limit=memory_limit,
        threads=threads,
        ingest_memory_limit=ingest_memory_limit,
    )
    try:
        with make_progress(progress) as prog:
            with timed(timings, "ingest"):
                ing = st.ingest(
                    logs,
                    accounts=accounts,
                    retain_content=retain_content,
                    progress=prog,
                    policy=policy,
                    workers=workers,
                    log_format=log_format,
                    assume_tz=assume_tz,
                )
            check_accepted(ing, st.path)
            st.release_ingest_memory()  # this run ingests once; the analysis needs the room
            # The rest runs in this process alone: DuckDB gets its share of the budget.
            later_limit = analyze_memory_limit or analysis_memory_limit(memory_limit)
            st.con.execute(f"SET memory_limit = '{later_limit}'")
            tmpl, findings, counts = _analysis_stages(st, policy, prog, out, timings)
            store_counts = st.counts()
            summary = _summary(
                st,
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
            if report:
                with timed(timings, "report"), stage(prog, "report"):
                    _report(st, out / "report.html", summary, redact)
        timings["total"] = time.perf_counter() - t_start
        record_timings(summary, timings, ing.accepted, store_counts["requests"])
        summary["resources"] = _resources(st, ing, memory_limit, later_limit, threads, workers)
        write_summary(summary, out)
    finally:
        st.close()
    return summary


def _check_inputs(
    logs: list[Path],
    log_format: str,
    workers: int | None,
    accounts: Path | None,
    analyze_memory_limit: str | None,
) -> int:
    """Fail fast on bad arguments, before the store is opened; the checked worker count."""
    discover(logs, log_format)  # missing/empty inputs
    workers = check_workers(workers)
    if analyze_memory_limit is not None:
        size_bytes(analyze_memory_limit, "analyze_memory_limit")
    if accounts is not None and not Path(accounts).is_file():
        raise InvalidInputError(f"account table not found: {accounts}")
    return workers


@contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the block's wall seconds as ``timings[name]`` (not when it raises); the Spark
    pipeline times its stages with it too."""
    t0 = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - t0


def _analysis_stages(
    st: Store, policy: Policy, prog: Any, out: Path, timings: dict[str, float]
) -> tuple[dict[str, Any], Any, dict[str, int]]:
    """Templates, analyze and the checked outputs: (template stats, findings, row counts)."""
    with _fewer_collections():
        with timed(timings, "templates"):
            tmpl = _templates(st, policy, prog)
        with timed(timings, "analyze"):
            findings = _analyze(st, policy, prog)
        with timed(timings, "outputs"), stage(prog, "outputs"):
            counts = validate_outputs(st.engine)
            write_outputs(st.engine, out)
    return tmpl, findings, counts


def _resources(
    st: Store,
    ing: Any,
    memory_limit: str,
    later_limit: str,
    threads: int | None,
    workers: int,
) -> dict[str, Any]:
    """``summary.json``'s ``resources``: peak memory and the limits the run had."""
    return {
        "peak_rss_mb": _peak_rss_mb(),
        "memory_limit": memory_limit,
        "ingest_memory_limit": st.last_ingest_memory_limit,
        "analyze_memory_limit": later_limit,
        "threads": threads,
        "workers": workers,
        # featurize processes: their CPU is not in this process's figures
        "featurize": ing.featurize,
    }


def top_reasons(by_reason: dict[str, int], n: int = 3) -> str:
    """``"no_text 60, bad_timestamp 40"``: the most frequent quarantine reasons."""
    top = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return ", ".join(f"{k} {v:,}" for k, v in top)


def check_accepted(ing: Any, store: Path) -> None:
    """Raise :class:`NoRecordsError` (exit 3) when this run read files but accepted nothing.

    Files skipped as already ingested are not a failure: an incremental run re-scores the
    store.
    """
    if ing.accepted or ing.files_skipped:
        return
    if not ing.quarantined:
        raise NoRecordsError("no request records in the input (empty files?)")
    raise NoRecordsError(
        f"no request accepted: all {ing.quarantined:,} records quarantined "
        f"({top_reasons(ing.by_reason)}); see {Path(store) / 'quarantine.jsonl'}"
    )


def quarantine_warning(summary: dict[str, Any]) -> str | None:
    """One line for a partly quarantined run, or ``None``."""
    c = summary.get("counts", {})
    bad, good = c.get("requests_quarantined", 0), c.get("requests_accepted", 0)
    if not bad:
        return None
    q = summary.get("quarantine", {})
    return (
        f"warning: {bad:,} of {bad + good:,} records quarantined "
        f"({top_reasons(q.get('this_run') or {})}); see {q.get('file')}"
    )


MODE_NOTES: dict[str, str] = {
    "full": "prompt text present: text, behaviour, infrastructure and coordination evidence",
    "metadata-only": (
        "no prompt text in the store (access logs): behaviour, infrastructure and "
        "coordination evidence only; no text signals, templates or capability mix"
    ),
}


def run_mode(con: duckdb.DuckDBPyConnection) -> str:
    """``metadata-only`` when no stored request carries prompt text (``prompt_chars`` is
    kept even without content retention), else ``full``."""
    n, with_text = con.execute(
        "SELECT count(*), count(prompt_chars) FROM requests"
    ).fetchall()[0]
    return "metadata-only" if n and not with_text else "full"


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory so far (MiB), where the OS reports it."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return round(peak / (1024 * 1024) if platform.system() == "Darwin" else peak / 1024, 1)


def _summary(
    st: Store,
    ing: Any,
    store_counts: dict[str, Any],
    out_counts: dict[str, int],
    findings: Any,
    templates: dict[str, Any],
    policy: Policy,
    timings: dict[str, float],
    logs: list[Path],
    accounts: Path | None,
    out: Path,
    retain_content: bool,
    redact: bool,
) -> dict[str, Any]:
    acc_verdicts = _verdict_counts(st, "out_accounts")
    clu_verdicts = _verdict_counts(st, "out_clusters")
    stage_timings = dict(getattr(findings, "timings", {}) or {})
    mode = run_mode(st.con)
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": "duckdb",
        "mode": mode,
        "mode_note": MODE_NOTES[mode],
        "inputs": {"logs": [str(p) for p in logs], "accounts": str(accounts) if accounts else None},
        "store": str(st.path),
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
            "new_templates": templates.get("new_templates") if templates else None,
            "ts_assumed_tz": ing.ts_assumed_tz,
        },
        "assume_tz": ing.assume_tz,
        "formats": dict(sorted(ing.formats.items())),
        "accounts_by_verdict": acc_verdicts,
        "clusters_by_verdict": clu_verdicts,
        "top_clusters": _top_clusters(st),
        "quarantine": {
            "this_run": dict(sorted(ing.by_reason.items())),
            "in_store": store_counts["quarantined_by_reason"],
            "file": str(st.path / "quarantine.jsonl"),
        },
        "ingest": ing.to_dict(),
        "templates": templates,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "analyze_timings_s": stage_timings,
        "analyze_counts": dict(getattr(findings, "counts", {}) or {}),
        "versions": versions(),
        "policy": {
            "version": policy.version,
            "source": policy.source,
            "params": policy.to_dict(),
            "estimators": getattr(findings, "params", {}),
        },
    }


def baseline_scan(logs: list[Path]) -> float:
    """Seconds for a plain DuckDB query that reads the same logs and hashes every prompt.

    The yardstick of the speed target (end-to-end ≤ 10× this): one pass over the raw records,
    ``count(*)`` and ``sum(hash(messages))``, with DuckDB's own readers (gzip handled).
    """
    files = discover([Path(p) for p in logs])
    con = duckdb.connect()
    try:
        t0 = time.perf_counter()
        for f in files:
            path = sql_path(f.path)
            if f.fmt == "parquet":
                sql = f"SELECT count(*), sum(hash(CAST(messages AS VARCHAR))) FROM read_parquet({path})"
            else:
                comp = "gzip" if f.gzip else "none"
                sql = (
                    "SELECT count(*), sum(hash(json_extract_string(json, '$.messages'))) "
                    f"FROM read_ndjson_objects({path}, compression='{comp}', ignore_errors=true)"
                )
            con.execute(sql).fetchall()
        return time.perf_counter() - t0
    finally:
        con.close()
