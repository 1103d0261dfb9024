"""``detect`` against the plain DuckDB scan of the same log, in the same run (issue 15).

Runs ``engines.embedded.baseline_scan``, then ``detect`` on a fresh temporary store, then the
scan again, and prints one JSON line: requests, wall seconds, requests/s, both scans and
``x_scan`` (detect over the mean scan), the main process's CPU seconds (featurize workers'
are under ``featurize``), stage timings, peak memory and verdict counts. The
machine this project is measured on is shared, so compare ratios from the same run.

    PYTHONPATH=src python scripts/bench_speed.py SIM_DIR [LABEL]

``SIM_DIR`` is a ``distillguard simulate`` output folder (``requests.jsonl.gz``,
``accounts.csv``). Run another checkout's code with its own ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def measure(data: Path, label: str) -> dict[str, Any]:
    """Scan, detect, scan on the simulated folder ``data``."""
    from distillguard.engines.embedded import baseline_scan, detect

    logs = [data / "requests.jsonl.gz"]
    scans = [baseline_scan(logs)]
    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-speed-"))
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        s = detect(logs=logs, accounts=data / "accounts.csv", out=tmp / "out",
                   store=tmp / "store", progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
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
        "featurize": s["resources"]["featurize"],
        "accounts_attack": s["counts"]["accounts_attack"],
        "accounts_review": s["counts"]["accounts_review"],
        "clusters": s["counts"]["clusters"],
        "templates": {k: s["templates"].get(k) for k in ("new_skeletons", "chunks", "templates_total")},
    }


if __name__ == "__main__":  # detect starts worker processes: the guard is required
    folder = Path(sys.argv[1])
    print(json.dumps(measure(folder, sys.argv[2] if len(sys.argv) > 2 else "")))
