"""``detect`` against the plain DuckDB scan of the same log, in the same run (issue 15).

Runs ``engines.embedded.baseline_scan``, then ``detect`` on a fresh temporary store, then the
scan again, and prints one JSON line: requests, wall seconds, requests/s, both scans and
``x_scan`` (detect over the mean scan), the main process's CPU seconds (featurize workers'
are under ``featurize``; ``children_cpu_s`` samples every child process, the forkserver
too), stage timings, peak memory and verdict counts. ``peak_tree_mb``
is the peak of the summed RSS of this process and every descendant (the forkserver and
its featurize workers), sampled every 50 ms while ``detect`` runs: an upper bound, since
pages shared between processes count once per process. The machine this project is
measured on is shared, so compare ratios from the same run.

    PYTHONPATH=src python scripts/bench_speed.py SIM_DIR [LABEL] [--keep OUT]

``SIM_DIR`` is a ``distillguard simulate`` output folder (``requests.jsonl.gz``,
``accounts.csv``). Run another checkout's code with its own ``PYTHONPATH``. ``--keep OUT``
moves the run's output folder (not the store) to ``OUT``, to compare two versions' outputs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids += [int(k) for k in fh.read().split()]
    except OSError:
        pass
    return kids


def tree_rss_mb(root: int) -> float:
    """Summed resident memory (MiB) of ``root`` and all its descendants (Linux /proc)."""
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * PAGE_MB
        except OSError:
            continue
        todo += _children(pid)
    return total


def descendants(root: int) -> list[int]:
    """Every descendant process of ``root`` (Linux /proc)."""
    out, todo = [], _children(root)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += _children(pid)
    return out


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (``/proc/PID/stat`` fields 14 and 15)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


CLK_TCK = os.sysconf("SC_CLK_TCK")


class TreePeak:
    """Samples :func:`tree_rss_mb` of this process every ``period`` seconds in a thread,
    and the CPU of each descendant (the forkserver, the featurize workers): ``children_cpu``
    is the last value seen of each, so a process's last ``period`` may be missed."""

    def __init__(self, period: float = 0.05) -> None:
        self.period, self.peak = period, 0.0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def children_cpu(self) -> float:
        return sum(self.cpu.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(os.getpid()))
            for pid in descendants(os.getpid()):
                c = cpu_s(pid)
                if c is not None:
                    self.cpu[pid] = max(c, self.cpu.get(pid, 0.0))
            self._stop.wait(self.period)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(data: Path, label: str, keep: Path | None = None) -> dict[str, Any]:
    """Scan, detect, scan on the simulated folder ``data``; outputs moved to ``keep``."""
    from distillguard.engines.embedded import baseline_scan, detect

    logs = [data / "requests.jsonl.gz"]
    scans = [baseline_scan(logs)]
    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-speed-"))
    try:
        with TreePeak() as peak:
            t0, cpu0 = time.perf_counter(), time.process_time()
            s = detect(logs=logs, accounts=data / "accounts.csv", out=tmp / "out",
                       store=tmp / "store", progress=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.move(tmp / "out", keep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    scans.append(baseline_scan(logs))
    n = s["counts"]["requests_accepted"]
    return {
        "label": label,
        "data": data.name,
        "requests": n,
        "detect_s": round(wall, 2),
        "req_per_s": round(n / wall),
        "scan_s": [round(x, 2) for x in scans],
        "x_scan": round(wall / (sum(scans) / len(scans)), 2),
        "main_cpu_s": round(cpu, 2),  # this process, all its threads (DuckDB's too)
        "timings": s["timings_s"],
        "peak_rss_main_mb": s["resources"]["peak_rss_mb"],
        "peak_tree_mb": round(peak.peak, 1),
        "featurize": s["resources"]["featurize"],
        # every child process (forkserver + workers) as sampled; the workers' own figure is
        # under featurize, the forkserver's imports are only here
        "children_cpu_s": round(peak.children_cpu, 2),
        "accounts_attack": s["counts"]["accounts_attack"],
        "accounts_review": s["counts"]["accounts_review"],
        "clusters": s["counts"]["clusters"],
        "templates": {k: s["templates"].get(k) for k in ("new_skeletons", "chunks", "templates_total")},
    }


if __name__ == "__main__":  # detect starts worker processes: the guard is required
    args = sys.argv[1:]
    kept = None
    if "--keep" in args:
        i = args.index("--keep")
        kept = Path(args[i + 1])
        del args[i : i + 2]
    print(json.dumps(measure(Path(args[0]), args[1] if len(args) > 1 else "", kept)))
