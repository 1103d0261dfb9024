"""A/B of Spark runs: one engine run per call, the code chosen by a source folder.

    DISTILLGUARD_CORPORA=... python docs/experiments/spark-ab.py TAG SRC ENGINE DATA WORK
    python docs/experiments/spark-ab.py --agree WORK TAG_A TAG_B

TAG names the run (``WORK/out_TAG``, ``WORK/store_TAG``, ``WORK/measured_TAG.json``); SRC is
put first on the child's PYTHONPATH (e.g. ``/work/main/src`` for base, a copy of a candidate's
``src`` for the candidate, so editing goes on while runs are queued); ENGINE is ``spark``
(local[2]) or ``duckdb``. The child is pinned to CPUs 0-1; wall time, tree CPU seconds and peak
memory come from ``engines.spark.bench``'s sampler, per-table seconds from ``summary.json``.
Alternate base and candidate (base, cand, base, cand) and compare CPU seconds.
``--agree`` prints verdict / cluster / risk agreement of two runs (and template agreement).
Thirteenth session: docs/experiments/spark-scan-parquet-coalesce.md.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from distillguard.engines.spark import bench


def run(tag: str, src: str, engine: str, data: Path, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    logs, acc = bench._inputs(data)
    out, store = work / f"out_{tag}", work / f"store_{tag}"
    for d in (out, store):
        shutil.rmtree(d, ignore_errors=True)
    master = "local[2]" if engine == "spark" else None
    cmd, _ = bench.pin_command(bench._child_command(engine, master, out, store, acc, logs), 2)
    os.environ["PYTHONPATH"] = src  # the child inherits it
    load = os.getloadavg()[0]
    wall, peak_mb, cpu_s = bench._run_child(cmd, work / f"{tag}.log", tag)
    summary = json.loads((out / "summary.json").read_text())
    res = {"tag": tag, "src": src, "wall_s": round(wall, 1), "cpu_s": round(cpu_s, 1),
           "peak_mb": round(peak_mb), "load_start": load, "load_end": os.getloadavg()[0],
           "timings": summary.get("timings_s"),
           "slowest": summary.get("spark", {}).get("slowest_tables_s")}
    (work / f"measured_{tag}.json").write_text(json.dumps(res, indent=1))
    return res


def agree(work: Path, a: str, b: str) -> dict:
    res = bench.agreement(work / f"out_{a}", work / f"out_{b}")
    res.pop("differences")
    res["templates"] = bench.template_agreement(work / f"store_{a}", work / f"store_{b}") \
        if (work / f"store_{a}" / "store.duckdb").exists() else None
    return res


if __name__ == "__main__":
    if sys.argv[1] == "--agree":
        print(json.dumps(agree(Path(sys.argv[2]), sys.argv[3], sys.argv[4])))
    else:
        tag, src, engine, data, work = sys.argv[1:6]
        print(json.dumps(run(tag, src, engine, Path(data), Path(work))))
