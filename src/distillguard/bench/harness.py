"""The benchmark harness: run detectors on a simulated data set, score them, write tables.

``run_bench`` runs each detector in its own child process (see :mod:`.runner`), computes
the metrics of :mod:`.metrics` against ``labels.csv`` / ``request_labels.csv``, and writes
``bench.json`` and ``bench.md`` into the output folder.
"""

from __future__ import annotations

import json
import math
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..errors import InvalidInputError, InvalidParameterError
from ..progress import make_progress, stage
from .embed import EMBEDDERS
from .logs import count_requests, find_logs
from .metrics import (
    account_metrics,
    early_detection,
    load_accounts,
    mixed_request_metrics,
    mixed_requests,
)
from .peers import PEERS
from .runner import BASELINE, DISTILLGUARD, RunResult, run_detector, slice_first_days

ALL_DETECTORS: tuple[str, ...] = (*PEERS, DISTILLGUARD)


def check_data_dir(data_dir: str | Path) -> dict[str, Any]:
    """The files of a simulator data set; clear errors for what is missing."""
    root = Path(data_dir)
    if not root.exists():
        raise InvalidInputError(f"data folder not found: {root}")
    if not root.is_dir():
        raise InvalidInputError(f"not a folder: {root} (give the simulator's output folder)")
    labels = root / "labels.csv"
    if not labels.is_file():
        raise InvalidInputError(
            f"{root} has no labels.csv: the bench scores detectors against the simulator's "
            "ground truth (run `distillguard simulate --out DIR` first)"
        )
    logs = find_logs(root)
    accounts = root / "accounts.csv"
    req_labels = root / "request_labels.csv"
    return {
        "logs": logs,
        "accounts": accounts if accounts.is_file() else None,
        "labels": labels,
        "request_labels": req_labels if req_labels.is_file() else None,
    }


def check_detectors(names: list[str] | None) -> list[str]:
    """Validated detector names (all when none given), in the order given."""
    if not names:
        return list(ALL_DETECTORS)
    unknown = [n for n in names if n not in ALL_DETECTORS]
    if unknown:
        raise InvalidParameterError(
            f"unknown detector {unknown[0]!r}; choose from {', '.join(ALL_DETECTORS)}"
        )
    return list(dict.fromkeys(names))


def _findings_seconds(findings: Path) -> float:
    """Wall time recorded by ``detect`` in ``summary.json``, when it recorded one."""
    path = findings / "summary.json"
    if not path.is_file():
        return float("nan")
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return float("nan")
    for key in ("seconds", "wall_seconds", "elapsed_s", "total_seconds"):
        if isinstance(summary.get(key), (int, float)):
            return float(summary[key])
    timings = summary.get("timings_s", summary.get("timings"))
    if isinstance(timings, dict):
        for key in ("total", "total_s", "total_seconds", "wall"):
            if isinstance(timings.get(key), (int, float)):
                return float(timings[key])
        vals = [v for v in timings.values() if isinstance(v, (int, float))]
        if vals:
            return float(sum(vals))
    return float("nan")


def bench_command(
    data_dir: Path,
    detectors: list[str],
    embedder: str,
    first_days: float | None,
    findings: Path | None = None,
    out: Path | None = None,
) -> str:
    """The exact ``distillguard bench`` command line that reproduces a run."""
    parts = ["distillguard", "bench", str(data_dir)]
    for d in detectors:
        parts += ["--detector", d]
    parts += ["--embedder", embedder]
    if findings is not None:
        parts += ["--findings", str(findings)]
    if first_days:
        parts += ["--first-days", f"{first_days:g}"]
    if out is not None:
        parts += ["--out", str(out)]
    return shlex.join(parts)


def run_bench(
    data_dir: str | Path,
    detectors: list[str] | None = None,
    findings: str | Path | None = None,
    embedder: str = "hashing",
    out: str | Path | None = None,
    first_days: float | None = None,
    progress: bool = True,
    timeout: float | None = None,
    isolate: bool = True,
) -> dict[str, Any]:
    """Run and score ``detectors`` on ``data_dir``; writes ``bench.json`` and ``bench.md``.

    Each detector runs in a fresh child process (``isolate=False``: in this process, for
    tests; peak memory is then not per detector). Returns the same dictionary as
    ``bench.json``.
    """
    _check_options(embedder, first_days)
    data = check_data_dir(data_dir)
    names = check_detectors(detectors)
    findings_dir = _check_findings(findings, names)
    out_dir = Path(out) if out is not None else Path(data_dir) / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = data["logs"]
    result: dict[str, Any] = {
        "data_dir": str(data_dir),
        "logs": [str(p) for p in logs],
        "embedder": embedder,
        "command": bench_command(
            Path(data_dir), names, embedder, first_days, findings_dir, Path(out) if out else None
        ),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "detectors": {},
    }
    prog = make_progress(progress)
    with prog:
        _prepare(prog, result, data, out_dir, timeout)
        early = _slice_early(prog, logs, first_days, out_dir)
        with stage(prog, "bench: detectors", total=len(names)) as task:
            for name in names:
                prog.update(task, description=f"bench: {name}")
                result["detectors"][name] = _bench_one(
                    name, data, findings_dir, embedder, out_dir, result, timeout, isolate
                )
                if early is not None:
                    result["detectors"][name]["early"] = _early_entry(
                        name, early, data, findings_dir, embedder, out_dir, timeout, isolate
                    )
                prog.advance(task)
    _write(result, out_dir)
    return result


def _check_options(embedder: str, first_days: float | None) -> None:
    if embedder not in EMBEDDERS:
        raise InvalidParameterError(
            f"--embedder must be one of {', '.join(EMBEDDERS)}; got {embedder!r}"
        )
    if first_days is not None and not first_days > 0:
        raise InvalidParameterError(f"--first-days must be > 0; got {first_days}")


def _check_findings(findings: str | Path | None, names: list[str]) -> Path | None:
    """The reused ``detect`` output, checked; it adds distillguard to ``names``."""
    if findings is None:
        return None
    findings_dir = Path(findings)
    if not (findings_dir / "accounts.csv").is_file():
        raise InvalidInputError(f"--findings {findings_dir} has no accounts.csv")
    if DISTILLGUARD not in names:
        names.append(DISTILLGUARD)
    return findings_dir


def _prepare(prog: Any, result: dict, data: dict, out_dir: Path, timeout: float | None) -> None:
    """Count the requests, time the baseline scan, and label the mixed accounts' requests."""
    logs = data["logs"]
    with stage(prog, "bench: counting requests"):
        result["n_requests"] = count_requests(logs)
    with stage(prog, "bench: baseline scan (DuckDB read + hash every prompt)"):
        # In this process: the scan is one DuckDB query, its memory is not reported.
        base_run, base_extra = run_detector(
            BASELINE, logs, None, out_dir / "runs" / BASELINE, timeout=timeout, isolate=False
        )
        result["baseline"] = {
            **base_run.to_dict(),
            "scan_seconds": base_extra.get("scan_seconds", float("nan")),
        }
    if data["request_labels"] is not None:
        with stage(prog, "bench: mixed accounts"):
            result["mixed"] = mixed_requests(
                data["request_labels"], logs, out_dir / "mixed_requests.parquet"
            )


@dataclass(frozen=True)
class _Early:
    """The first-days slice every detector also runs on."""

    days: float
    logs: list[Path]
    active: set[str]  # the accounts active in the slice


def _slice_early(
    prog: Any, logs: list[Path], first_days: float | None, out_dir: Path
) -> _Early | None:
    if not first_days:
        return None
    with stage(prog, f"bench: slicing the first {first_days:g} days"):
        sliced, active = slice_first_days(logs, first_days, out_dir / "early-data")
    return _Early(first_days, [sliced], active)


def _early_entry(
    name: str,
    early: _Early,
    data: dict,
    findings_dir: Path | None,
    embedder: str,
    out_dir: Path,
    timeout: float | None,
    isolate: bool,
) -> dict[str, Any]:
    """A detector's early-detection entry (not run when distillguard reuses --findings)."""
    if name == DISTILLGUARD and findings_dir:
        return {
            "days": early.days,
            "error": "not run: --findings reuses a full-period detect output",
        }
    return _early_one(
        name, early.logs, data, embedder, out_dir, early.days, early.active, timeout, isolate
    )


def _embedder_for(name: str, embedder: str) -> str | None:
    """The text embedder a detector runs with: only peers that embed text take one."""
    return embedder if (name in PEERS and PEERS[name].uses_embedder) else None


def _bench_one(
    name: str,
    data: dict,
    findings_dir: Path | None,
    embedder: str,
    out_dir: Path,
    result: dict,
    timeout: float | None,
    isolate: bool = True,
) -> dict[str, Any]:
    logs = data["logs"]
    emb = _embedder_for(name, embedder)
    if name == DISTILLGUARD and findings_dir is not None:
        run = RunResult(
            name,
            True,
            _findings_seconds(findings_dir),
            float("nan"),
            float("nan"),
            str(findings_dir),
            None,
            notes=f"reused detect output {findings_dir} (not re-run)",
        )
        extra: dict = {}
    else:
        run, extra = run_detector(
            name, logs, data["accounts"], out_dir / "runs" / name, emb, timeout, isolate
        )
    entry: dict[str, Any] = {
        "run": run.to_dict(),
        **{k: v for k, v in extra.items() if k != "trace"},
    }
    if not run.ok:
        entry["error"] = run.error
        if "trace" in extra:
            (out_dir / "runs" / name / "error.txt").write_text(extra["trace"])
        return entry
    n = result["n_requests"]
    entry["requests_per_s"] = (
        n / run.seconds if run.seconds and not math.isnan(run.seconds) else float("nan")
    )
    base = result["baseline"].get("scan_seconds", float("nan"))
    entry["x_baseline"] = run.seconds / base if base and not math.isnan(base) else float("nan")
    out = Path(run.out_dir)
    entry["metrics"] = account_metrics(load_accounts(out / "accounts.csv", data["labels"]))
    if "mixed" in result:
        entry["mixed"] = mixed_request_metrics(
            out_dir / "mixed_requests.parquet", out / "requests.parquet"
        )
    return entry


def _early_one(
    name: str,
    early_logs: list[Path],
    data: dict,
    embedder: str,
    out_dir: Path,
    first_days: float,
    active: set[str],
    timeout: float | None,
    isolate: bool = True,
) -> dict[str, Any]:
    emb = _embedder_for(name, embedder)
    run, _ = run_detector(
        name, early_logs, data["accounts"], out_dir / "runs-early" / name, emb, timeout, isolate
    )
    if not run.ok:
        return {"days": first_days, "error": run.error}
    table = load_accounts(Path(run.out_dir) / "accounts.csv", data["labels"])
    return {"days": first_days, "seconds": run.seconds, **early_detection(table, active)}


# ---- rendering ---------------------------------------------------------------------------
def _pct(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{100 * x:.1f}%"


def _num(x: Any, fmt: str = "{:.3f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return fmt.format(x)


QUALITY_COLUMNS: tuple[str, ...] = (
    "detector",
    "embedder",
    "ROC-AUC",
    "PR-AUC",
    "R@FPR0.1%",
    "R@FPR1%",
    "attack P",
    "attack R",
    "attack FPR",
    "worst persona FPR",
    "campaign found (min)",
    "pure clusters (min)",
    "mixed req R / P",
    "early flagged",
)
COST_COLUMNS: tuple[str, ...] = (
    "detector",
    "time s",
    "req/s",
    "× baseline",
    "peak MiB",
    "start MiB",
)
COLUMNS: tuple[str, ...] = QUALITY_COLUMNS + COST_COLUMNS[1:]


def summary_row(name: str, entry: dict[str, Any]) -> list[str]:
    """One table row for a detector: the quality columns, then the cost columns."""
    run = entry["run"]
    emb = run.get("embedder") or "—"
    cost = [
        _num(run["seconds"], "{:.1f}"),
        _num(entry.get("requests_per_s"), "{:,.0f}"),
        _num(entry.get("x_baseline"), "{:.1f}×"),
        _num(run["peak_rss_mib"], "{:.0f}"),
        _num(run.get("start_rss_mib"), "{:.0f}"),
    ]
    if "metrics" not in entry:
        return [name, emb] + ["error"] * (len(QUALITY_COLUMNS) - 2) + cost
    m = entry["metrics"]
    personas = m["personas"]
    worst = max(
        ((p, v["attack_fpr"]) for p, v in personas.items()), key=lambda x: x[1], default=None
    )
    camps = m["campaigns"]
    found = min((c["found_flagged"] for c in camps.values()), default=float("nan"))
    pure = min((c["in_pure_clusters"] for c in camps.values()), default=float("nan"))
    mixed = entry.get("mixed") or {}
    early = entry.get("early") or {}
    early_txt = _pct(early.get("flagged_of_active")) if early and "error" not in early else "—"
    return [
        name,
        emb,
        _num(m["roc_auc"]),
        _num(m["pr_auc"]),
        _pct(m["recall_at_fpr_0.1%"]["recall"]),
        _pct(m["recall_at_fpr_1%"]["recall"]),
        _pct(m["attack_precision"]),
        _pct(m["attack_recall"]),
        _pct(m["attack_fpr"]),
        f"{_pct(worst[1])} ({worst[0]})" if worst else "—",
        _pct(found),
        _pct(pure),
        f"{_pct(mixed.get('recall'))} / {_pct(mixed.get('precision'))}",
        early_txt,
    ] + cost


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(result: dict[str, Any], title: str | None = None) -> str:
    """``bench.md``: the summary table, per-campaign and per-persona tables, and notes."""
    det = result["detectors"]
    base = result.get("baseline", {})
    out = [f"## {title or 'Benchmark: ' + str(result['data_dir'])}", ""]
    out.append(f"Command: `{result['command']}`  ")
    out.append(
        f"Requests: {result['n_requests']:,}; baseline scan "
        f"({base.get('notes', '')}): {_num(base.get('scan_seconds'), '{:.2f}')} s; "
        f"embedder for text peers: `{result['embedder']}`."
    )
    out.append("")
    out.append(_md_table(list(COLUMNS), [summary_row(n, e) for n, e in det.items()]))
    out.append("")
    out.append(
        "R@FPR: recall at a benign-account FPR budget (threshold on benign risk, ties never "
        "flagged). Attack P/R/FPR: verdict `attack`. Worst persona FPR: highest `attack`-verdict "
        "FPR over benign personas. Campaign found: smallest share over campaigns of accounts "
        "with verdict `attack` or `review`. Pure clusters: smallest share over campaigns of "
        "accounts in clusters of purity ≥ 95%. Mixed: request-level recall / precision of "
        "`requests.parquet` risk ≥ 0.5 inside mixed accounts. Early: share of campaign accounts "
        "active in the first days that the run on those days alone flags (`attack` or "
        "`review`). Peak MiB: peak RSS of the detector's child process (interpreter included)."
    )
    out += _campaign_lines(det) + _persona_lines(det) + _run_lines(det)
    if "mixed" in result:
        mx = result["mixed"]
        out += [
            "",
            f"Mixed accounts: {mx['n_mixed_accounts']} with {mx['n_requests']:,} requests "
            f"({mx['n_attack_requests']:,} harvest).",
        ]
    return "\n".join(out) + "\n"


def _group_lines(
    det: dict[str, Any], group: str, heading: str, cell: Callable[[dict[str, Any]], str]
) -> list[str]:
    """One table of ``group`` (campaigns or personas): a row per detector, a column per
    member, and the members' sizes below it."""
    names = sorted({g for e in det.values() for g in e.get("metrics", {}).get(group, {})})
    if not names:
        return []
    rows = []
    for name, e in det.items():
        got = e.get("metrics", {}).get(group, {})
        rows.append([name] + [cell(got[g]) if got.get(g) else "—" for g in names])
    sizes = next((e["metrics"][group] for e in det.values() if "metrics" in e), {})
    return [
        "",
        heading,
        "",
        _md_table(["detector"] + names, rows),
        "",
        f"{group[:-1].capitalize()} sizes: " + ", ".join(f"{g} {v['n']}" for g, v in sizes.items()),
    ]


def _campaign_lines(det: dict[str, Any]) -> list[str]:
    """Per campaign: found at `attack` / flagged, in pure clusters, mean purity."""
    return _group_lines(
        det,
        "campaigns",
        "### Per campaign (found = attack verdict / attack or review; pure = in clusters of "
        "purity ≥ 95%; mean purity)",
        lambda v: (
            f"{_pct(v['found_attack'])} / {_pct(v['found_flagged'])}; pure "
            f"{_pct(v['in_pure_clusters'])}; purity {_num(v['mean_purity'], '{:.2f}')}"
        ),
    )


def _persona_lines(det: dict[str, Any]) -> list[str]:
    """Per benign persona: `attack` FPR (attack-or-review FPR)."""
    return _group_lines(
        det,
        "personas",
        "### Benign personas: `attack`-verdict FPR (attack-or-review FPR)",
        lambda v: f"{_pct(v['attack_fpr'])} ({_pct(v['flag_fpr'])})",
    )


def _run_lines(det: dict[str, Any]) -> list[str]:
    """How each detector ran: embedder, notes, error, parameters."""
    out = ["", "### How each detector ran", ""]
    for name, e in det.items():
        run = e["run"]
        line = f"- **{name}**"
        if run.get("embedder"):
            line += f" (embedder `{run['embedder']}`)"
        line += f": {run.get('notes') or ''}"
        if e.get("error"):
            line += f" — error: {e['error']}"
        if e.get("params"):
            line += f" — params `{json.dumps(e['params'], sort_keys=True)}`"
        out.append(line)
    return out


def print_table(result: dict[str, Any], console: Console | None = None) -> None:
    """The summary on the terminal: a quality table and a cost table."""
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=200)
    rows = {name: summary_row(name, e) for name, e in result["detectors"].items()}
    nq = len(QUALITY_COLUMNS)
    quality = Table(title=f"quality — {result['data_dir']}")
    for col in QUALITY_COLUMNS:
        quality.add_column(col, overflow="fold")
    cost = Table(title=f"cost — {result['n_requests']:,} requests")
    for col in COST_COLUMNS:
        cost.add_column(col, overflow="fold")
    for name, row in rows.items():
        quality.add_row(*row[:nq])
        cost.add_row(name, *row[nq:])
    console.print(quality)
    console.print(cost)
    base = result.get("baseline", {})
    console.print(
        f"baseline scan: {_num(base.get('scan_seconds'), '{:.2f}')} s ({base.get('notes', '')})"
    )
    for name, e in result["detectors"].items():
        if e.get("error"):
            console.print(f"[red]{name}: {e['error']}[/red]")
    console.print(f"reproduce: {result['command']}")


def _clean(x: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _write(result: dict[str, Any], out_dir: Path) -> None:
    (out_dir / "bench.json").write_text(json.dumps(_clean(result), indent=2, default=str))
    (out_dir / "bench.md").write_text(render_markdown(result))
