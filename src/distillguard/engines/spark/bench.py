"""The Spark section of the benchmark: both engines on the same data in one run.

``run(out_dir, data_dir=None)`` returns markdown with

- wall time, requests/s, requests/s per core and peak memory of the embedded engine
  (DuckDB, 2 threads) and of Spark in local mode with 2 and with 1 core;
- the scaling efficiency from 1 to 2 cores (speed-up / 2);
- how far the two engines agree (verdicts, clusters, risk) and which accounts differ, why;
- a projection to 1B requests/day with the assumptions written down.

Each engine runs in its own process so its peak memory is its own: the process tree (driver
Python, the JVM, Spark's Python workers) is sampled from ``/proc`` every 0.2 s.

Run it alone with ``python -m distillguard.engines.spark.bench OUT_DIR [DATA_DIR]``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

DAY_S = 86_400
TARGET_PER_DAY = 1_000_000_000
BATCH_WINDOW_H = 6.0  # a day's partition must be processed within this many hours
HEADROOM = 1.3  # skew, stragglers, shuffle over a network instead of local disk


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (MiB), from /proc."""
    total = 0
    stack = [pid]
    while stack:  # a walk over a handful of processes
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
        stack += _children(p)
    return total / 2**20


class _PeakSampler:
    """Samples a process tree's memory in a thread; ``peak_mb`` after ``stop``."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self.pid, self.every_s, self.peak_mb = pid, every_s, 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(self.pid))
            self._stop.wait(self.every_s)

    def __enter__(self) -> _PeakSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def _inputs(data_dir: Path) -> tuple[list[Path], Path | None]:
    logs = sorted(
        p
        for p in data_dir.iterdir()
        if p.name.startswith("requests.") and (p.suffix in (".gz", ".jsonl", ".parquet"))
    )
    if not logs:
        from ...errors import InvalidInputError

        raise InvalidInputError(f"no requests.* log file in {data_dir}")
    acc = data_dir / "accounts.csv"
    return logs, acc if acc.is_file() else None


def measure(engine: str, master: str | None, data_dir: Path, work: Path) -> dict[str, Any]:
    """Run one engine in a child process on ``data_dir``; wall time, peak memory, summary."""
    logs, acc = _inputs(data_dir)
    tag = engine if master is None else f"{engine}-{master.replace('[', '').replace(']', '')}"
    out, store = work / f"out_{tag}", work / f"store_{tag}"
    cmd = [
        sys.executable,
        "-m",
        "distillguard.engines.spark.bench",
        "--one",
        engine,
        "--master",
        master or "",
        "--out",
        str(out),
        "--store",
        str(store),
        "--accounts",
        str(acc or ""),
        *[str(p) for p in logs],
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _PeakSampler(proc.pid) as sampler:
        _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(err.strip().splitlines()[-5:])
        raise RuntimeError(f"{tag} run failed ({proc.returncode}): {tail}")
    summary = json.loads((out / "summary.json").read_text())
    cores = 2 if master is None else int(summary.get("spark", {}).get("cores") or 1)
    n = int(summary["counts"]["requests_in_store"])
    return {
        "tag": tag,
        "engine": engine,
        "master": master,
        "cores": cores,
        "requests": n,
        "wall_s": wall,
        "detect_s": float(summary["timings_s"]["total"]),
        "rps": n / wall,
        "rps_per_core": n / wall / cores,
        "peak_mb": sampler.peak_mb,
        "timings": summary["timings_s"],
        "out": out,
    }


def _read_accounts(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as fh:
        return {r["account_id"]: r for r in csv.DictReader(fh)}


def agreement(out_a: Path, out_b: Path, policy: Any = None) -> dict[str, Any]:
    """Verdict agreement, adjusted Rand index of clusters, risk differences, and the
    accounts whose verdicts differ with the likely reason."""
    from sklearn.metrics import adjusted_rand_score

    from ...policy import default_policy

    pol = (policy or default_policy()).scoring
    thresholds = (float(pol.review_threshold), float(pol.attack_threshold))
    a, b = _read_accounts(out_a / "accounts.csv"), _read_accounts(out_b / "accounts.csv")
    ids = sorted(set(a) & set(b))
    ra = np.array([float(a[i]["risk"]) for i in ids])
    rb = np.array([float(b[i]["risk"]) for i in ids])
    same = np.array([a[i]["verdict"] == b[i]["verdict"] for i in ids])
    ari = adjusted_rand_score(
        [a[i]["cluster_id"] or f"solo:{i}" for i in ids],
        [b[i]["cluster_id"] or f"solo:{i}" for i in ids],
    )
    diffs = []
    for k in np.flatnonzero(~same):  # a loop over the (few) differing accounts
        i = ids[k]
        near = (
            min(abs(ra[k] - t) for t in thresholds) <= 0.03
            or min(abs(rb[k] - t) for t in thresholds) <= 0.03
        )
        moved = bool(a[i]["cluster_id"]) != bool(b[i]["cluster_id"])
        why = (
            "cluster membership differs (Leiden on a differently ordered edge list)"
            if moved
            else "risk within 0.03 of a verdict threshold"
            if near
            else "risk differs"
        )
        diffs.append(
            {
                "account_id": i,
                "duckdb": f"{a[i]['verdict']} {ra[k]:.3f}",
                "spark": f"{b[i]['verdict']} {rb[k]:.3f}",
                "why": why,
            }
        )
    return {
        "accounts": len(ids),
        "only_one_side": len(set(a) ^ set(b)),
        "verdict_agreement": float(same.mean()) if ids else 1.0,
        "ari": float(ari),
        "risk_max_abs_diff": float(np.abs(ra - rb).max()) if ids else 0.0,
        "risk_within_0_02": float(np.mean(np.abs(ra - rb) <= 0.02)) if ids else 1.0,
        "differences": diffs,
    }


def projection(rps_per_core: float) -> dict[str, Any]:
    """Executor cores for 1B requests/day at the measured per-core rate."""
    need_rps = TARGET_PER_DAY / (BATCH_WINDOW_H * 3600)
    cores = need_rps / max(rps_per_core, 1e-9) * HEADROOM
    return {
        "need_rps": need_rps,
        "cores": cores,
        "cores_24h": TARGET_PER_DAY / DAY_S / max(rps_per_core, 1e-9) * HEADROOM,
    }


def run(out_dir: Path, data_dir: Path | None = None, preset: str = "medium") -> str:
    """Both engines on the same data; returns the markdown section for BENCHMARKS.md."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if data_dir is None:
        from ...sim import simulate

        data_dir = out_dir / f"data-{preset}"
        if not (data_dir / "sim_summary.json").is_file():
            simulate(preset, out=data_dir, seed=1, progress=False)
    data_dir = Path(data_dir)
    runs = [
        measure("duckdb", None, data_dir, out_dir),
        measure("spark", "local[2]", data_dir, out_dir),
        measure("spark", "local[1]", data_dir, out_dir),
    ]
    duck, s2, s1 = runs
    eff = (s1["wall_s"] / s2["wall_s"]) / 2
    agree = agreement(duck["out"], s2["out"])
    proj = projection(s2["rps_per_core"])
    lines = [
        "## Spark engine",
        "",
        f"Data: `{data_dir}` ({duck['requests']:,} requests). Each engine ran in its own "
        "process; peak memory is the whole process tree (driver, JVM, Python workers).",
        "",
        "| engine | cores | wall time (s) | requests/s | requests/s per core | peak memory (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['tag']} | {r['cores']} | {r['wall_s']:.1f} | {r['rps']:,.0f} | "
            f"{r['rps_per_core']:,.0f} | {r['peak_mb']:,.0f} |"
        )
    stage_names = sorted(set(s2["timings"]) | set(duck["timings"]))
    lines += [
        "",
        "Stage times (s): "
        + "; ".join(
            f"{k} {duck['timings'].get(k, 0):.1f} / {s2['timings'].get(k, 0):.1f}"
            for k in stage_names
        )
        + " (duckdb / spark local[2]).",
        "",
    ]
    lines += [
        f"**Scaling 1 → 2 cores (local mode):** {s1['wall_s']:.1f} s → {s2['wall_s']:.1f} s, "
        f"speed-up {s1['wall_s'] / s2['wall_s']:.2f}×, efficiency {eff:.0%} (target ≥ 80%). "
        "Fixed costs (JVM start, per-job scheduling, driver-side scoring) do not shrink with "
        "cores, so efficiency rises with data size.",
        "",
        f"**Agreement (duckdb vs spark local[2]):** verdicts {agree['verdict_agreement']:.2%} of "
        f"{agree['accounts']:,} accounts (target ≥ 99%), cluster adjusted Rand index "
        f"{agree['ari']:.3f}, risk within 0.02 for {agree['risk_within_0_02']:.2%} "
        f"(max difference {agree['risk_max_abs_diff']:.3f}).",
    ]
    if agree["differences"]:
        lines += ["", "| account | duckdb | spark | why |", "|---|---|---|---|"]
        lines += [
            f"| {d['account_id']} | {d['duckdb']} | {d['spark']} | {d['why']} |"
            for d in agree["differences"][:20]
        ]
    lines += [
        "",
        "Why they can differ at all: ingest, text features and templates run the same code "
        "(the embedded validation SQL and `signals.featurize` inside `mapInArrow`; the "
        "templates are identical), and the account SQL is the same text. What remains is "
        "floating-point summation order in Spark's partial aggregates and the order of the "
        "edge list handed to Leiden, which can move a borderline account between "
        "communities.",
        "",
        f"**Projection to 1B requests/day** at {s2['rps_per_core']:,.0f} requests/s per core "
        f"(spark local[2], end to end): {proj['cores']:,.0f} executor cores to process a "
        f"day's partition within {BATCH_WINDOW_H:g} h ({proj['need_rps']:,.0f} requests/s), "
        f"or {proj['cores_24h']:,.0f} cores running all day. Assumptions: the per-core rate "
        "of local mode holds per executor core (text features and validation are per-row "
        "Python work that scales out; the shuffles are small); "
        f"{HEADROOM:.0%} of the time for skew, stragglers and network shuffles; the account "
        "graph stays under the driver crossover (50M edges) or uses the distributed "
        "components; the daily run reads only that day's partition (incremental). The "
        "machine measured here is 2 shared cores, so the rate is a lower bound.",
        "",
    ]
    text = "\n".join(lines)
    (out_dir / "spark_bench.md").write_text(text)
    return text


def _one(argv: list[str]) -> None:
    """Child process: one engine, one detect run."""
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--one", required=True)
    ap.add_argument("--master", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--accounts", default="")
    ap.add_argument("logs", nargs="+")
    a = ap.parse_args(argv)
    acc = Path(a.accounts) if a.accounts else None
    if a.one == "duckdb":
        from ..embedded import detect

        detect(
            [Path(p) for p in a.logs],
            Path(a.out),
            accounts=acc,
            store=Path(a.store),
            progress=False,
            threads=2,
        )
    else:
        from .pipeline import detect as spark_detect

        spark_detect(
            a.logs,
            Path(a.out),
            accounts=acc,
            store=a.store,
            progress=False,
            master=a.master or "local[2]",
        )


if __name__ == "__main__":
    if "--one" in sys.argv:
        _one(sys.argv[1:])
    else:
        print(run(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))
