"""Run one detector in a child process and measure it: wall time and peak memory.

Each run is a fresh ``spawn`` child, so its peak resident set (``ru_maxrss`` of the child
itself, plus that of any process the child waited for, e.g. a Spark JVM) belongs to that
detector alone. The child also records its resident set just before the detector starts
(interpreter and imports) so a reader can tell the detector's own share.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import resource
import shutil
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import DistillguardError, InvalidParameterError
from .logs import open_requests, sql_list

DISTILLGUARD = "distillguard"
BASELINE = "baseline_scan"


@dataclass
class RunResult:
    """What one measured run produced."""

    detector: str
    ok: bool
    seconds: float
    peak_rss_mib: float
    start_rss_mib: float
    out_dir: str
    embedder: str | None = None
    notes: str = ""
    error: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def own_baseline_scan(logs: list[Path]) -> float:
    """Seconds for a plain DuckDB query that reads the log and hashes every prompt."""
    t0 = time.perf_counter()
    con = open_requests(logs)
    try:
        con.execute("SELECT count(*), sum(hash(prompt_text) % 1000003) FROM requests").fetchone()
    finally:
        con.close()
    return time.perf_counter() - t0


def baseline_scan(logs: list[Path]) -> tuple[float, str]:
    """``(seconds, which)``: the engine's ``baseline_scan`` when it exists, else the bench's."""
    try:
        mod = importlib.import_module("distillguard.engines.embedded")
        fn = getattr(mod, "baseline_scan", None)
    except ImportError:
        fn = None
    if fn is not None:
        return float(fn([str(p) for p in logs])), "distillguard.engines.embedded.baseline_scan"
    return own_baseline_scan(logs), "distillguard.bench.runner.own_baseline_scan"


def run_distillguard(logs: list[Path], accounts: Path | None, out: Path) -> str:
    """The batch detector on a fresh temporary store; returns a note for the bench."""
    try:
        mod = importlib.import_module("distillguard.engines.embedded")
    except ImportError as exc:
        raise InvalidParameterError(
            "detector 'distillguard' needs distillguard.engines.embedded (not importable: "
            f"{exc}); pass --findings DIR to score an existing detect output"
        ) from exc
    store = Path(tempfile.mkdtemp(prefix="distillguard-bench-store-"))
    try:
        mod.detect(
            logs=[str(p) for p in logs],
            accounts=str(accounts) if accounts is not None else None,
            out=str(out),
            store=str(store),
            progress=False,
        )
    finally:
        shutil.rmtree(store, ignore_errors=True)
    return "distillguard.engines.embedded.detect on a fresh temporary store"


def _execute(spec: dict) -> tuple[str, dict]:
    """Run the detector of ``spec`` in this process; returns ``(notes, extra)``."""
    from .peers import make_peer, write_accounts

    logs = [Path(p) for p in spec["logs"]]
    accounts = Path(spec["accounts"]) if spec.get("accounts") else None
    out = Path(spec["out_dir"])
    name = spec["detector"]
    if name == BASELINE:
        seconds, which = baseline_scan(logs)
        return which, {"scan_seconds": seconds}
    if name == DISTILLGUARD:
        return run_distillguard(logs, accounts, out), {}
    peer = make_peer(name, spec.get("embedder") or "hashing")
    table = peer.detect(logs, accounts)
    write_accounts(table, out)
    return getattr(peer, "notes_", ""), {"params": peer.get_params()}


def _preload(detector: str) -> None:
    """Import what the detector needs before the clock starts (imports are not its cost)."""
    importlib.import_module("distillguard.bench.peers")
    if detector == DISTILLGUARD:
        try:
            importlib.import_module("distillguard.engines.embedded")
        except ImportError:
            pass  # reported by run_distillguard with a clear message


def _child(spec: dict, result_path: str, preload: bool = True) -> None:
    if preload:
        _preload(spec["detector"])
    start_rss = _rss_mib()
    t0 = time.perf_counter()
    res: dict = {"ok": True, "error": "", "notes": "", "extra": {}}
    try:
        res["notes"], res["extra"] = _execute(spec)
    except DistillguardError as exc:
        res.update(ok=False, error=str(exc))
    except Exception as exc:  # a detector crash is a bench result, not a bench crash
        res.update(ok=False, error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
    res["seconds"] = time.perf_counter() - t0
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    res["peak_rss_mib"] = max(own, kids)
    res["start_rss_mib"] = start_rss
    Path(result_path).write_text(json.dumps(res, default=str))


def run_detector(
    detector: str,
    logs: list[Path],
    accounts: Path | None,
    out_dir: Path,
    embedder: str | None = None,
    timeout: float | None = None,
    isolate: bool = True,
) -> tuple[RunResult, dict]:
    """Run ``detector`` in a spawned child; returns the measurement and the child's extras.

    ``isolate=False`` runs it in this process instead (for tests and quick looks): the
    time is the same, but the peak RSS is then this whole process's peak.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "detector": detector,
        "logs": [str(p) for p in logs],
        "accounts": str(accounts) if accounts else None,
        "out_dir": str(out_dir),
        "embedder": embedder,
    }
    result_path = out_dir / "run.json"
    result_path.unlink(missing_ok=True)
    if not isolate:
        _child(spec, str(result_path), preload=False)
        return _read_result(detector, result_path, out_dir, embedder, "in-process run")
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_child, args=(spec, str(result_path)), name=f"bench-{detector}")
    t0 = time.perf_counter()
    proc.start()
    proc.join(timeout)
    error = None
    if proc.is_alive():
        proc.terminate()
        proc.join(10)
        error = f"timed out after {timeout:.0f} s"
    elif not result_path.exists():
        error = f"child exited with code {proc.exitcode}"
    if error is not None:
        elapsed = time.perf_counter() - t0
        nan = float("nan")
        return RunResult(
            detector, False, elapsed, nan, nan, str(out_dir), embedder, error=error
        ), {}
    return _read_result(detector, result_path, out_dir, embedder, "")


def _read_result(
    detector: str, result_path: Path, out_dir: Path, embedder: str | None, note: str
) -> tuple[RunResult, dict]:
    res = json.loads(result_path.read_text())
    run = RunResult(
        detector=detector,
        ok=bool(res["ok"]),
        seconds=float(res["seconds"]),
        peak_rss_mib=float(res["peak_rss_mib"]),
        start_rss_mib=float(res["start_rss_mib"]),
        out_dir=str(out_dir),
        embedder=embedder,
        notes="; ".join(x for x in (str(res.get("notes", "")), note) if x),
        error=str(res.get("error", "")),
    )
    extra = dict(res.get("extra") or {})
    if "trace" in res:
        extra["trace"] = res["trace"]
    return run, extra


def slice_first_days(logs: list[Path], days: float, out_dir: Path) -> tuple[Path, set[str]]:
    """Copy the records of the first ``days`` days of ``logs`` into ``out_dir``.

    JSON Lines records are copied verbatim (DuckDB's ``read_json_objects``), Parquet rows
    as they are. Returns the new log file and the accounts active in the slice.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    con = open_requests(logs)
    try:
        t_min = con.execute("SELECT min(ts_ms) FROM requests").fetchone()[0]
        if t_min is None:
            raise InvalidParameterError("the request log has no usable records to slice")
        cutoff = int(t_min + days * 86_400_000)
        active = {
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT account_id FROM requests WHERE ts_ms < {cutoff}"
            ).fetchall()
        }
        ts_expr = (
            "CASE WHEN regexp_full_match({v}, '-?[0-9]+') THEN TRY_CAST({v} AS BIGINT) "
            "ELSE epoch_ms(TRY_CAST({v} AS TIMESTAMPTZ)) END"
        )
        jsonl = [p for p in logs if not p.name.endswith(".parquet")]
        parquet = [p for p in logs if p.name.endswith(".parquet")]
        if jsonl and parquet:
            raise InvalidParameterError("cannot slice a log that mixes JSON Lines and Parquet")
        if jsonl:
            out = out_dir / "requests.jsonl.gz"
            cond = ts_expr.format(v="(json ->> '$.ts')")
            # COMMENT '': the CSV writer otherwise quotes every line holding a '#' (a comment
            # character), and detect quarantines it (duckdb/duckdb#20095; the opt-out: #23669).
            con.execute(
                f"""
                COPY (SELECT json FROM read_json_objects({sql_list(jsonl)}, format='newline_delimited')
                      WHERE {cond} < {cutoff})
                TO '{out}' (FORMAT csv, HEADER false, DELIMITER '\x01', QUOTE '\x02',
                            ESCAPE '\x02', COMMENT '', COMPRESSION gzip)
                """
            )
        else:
            out = out_dir / "requests.parquet"
            types = {
                r[0]: r[1]
                for r in con.execute(
                    f"DESCRIBE SELECT * FROM read_parquet({sql_list(parquet)})"
                ).fetchall()
            }
            ts_t = types.get("ts", "VARCHAR").upper()
            cond = (
                "epoch_ms(ts)" if "TIMESTAMP" in ts_t else ts_expr.format(v="CAST(ts AS VARCHAR)")
            )
            con.execute(
                f"COPY (SELECT * FROM read_parquet({sql_list(parquet)}) WHERE {cond} < {cutoff}) "
                f"TO '{out}' (FORMAT parquet)"
            )
    finally:
        con.close()
    return out, active
