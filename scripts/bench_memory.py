"""Memory of ``detect``'s whole process tree over time, by stage and by process (issue 15 §2).

Runs the plain DuckDB scan of the log, ``detect`` on a fresh temporary store, and the scan again
(``x_scan`` as in ``scripts/bench_speed.py``; each scan in a child process), while a sampler process (not a thread: C code holding the GIL would stop it) reads
``/proc/PID/smaps_rollup``
of this process and every descendant every ``--period`` seconds (0.5): RSS, and PSS, which
splits pages shared between processes (the forkserver's imports in its workers) among them, so
the tree's PSS is what the tree really holds, and the run's ``/dev/shm`` files (``shm``: ingest's
batches in flight, memory that RSS shows only where mapped and touched). The stage of each sample is the last task
``detect`` put on its progress display (``ingest``, ``templates``, analyze's steps such as
``coordination graph``, ``outputs``, ``report``). Prints one JSON line: wall, CPU seconds (main
and featurize workers), the tree's peak RSS and PSS and the stage at each, the peak per stage
and per process role (main, forkserver, workers), and writes every sample to ``--timeline``
(CSV) for ``scripts/bench_memory_plot.py``.

    PYTHONPATH=src python scripts/bench_memory.py SIM_DIR LABEL [--timeline CSV] [--keep OUT]
        [--no-scan] [--period S]

``SIM_DIR`` is a ``distillguard simulate`` output folder (``requests.parquet`` or
``requests.jsonl.gz``, ``accounts.csv``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# scripts/ is on sys.path when a script runs: the process tree as bench_speed walks it
from bench_speed import _children

KB_MB = 1 / 1024


def rss_pss_mb(pid: int) -> tuple[float, float] | None:
    """(RSS, PSS) of ``pid`` in MiB from ``smaps_rollup``; ``None`` once it has exited."""
    rss = pss = 0.0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * KB_MB
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * KB_MB
    except OSError:
        return None
    return rss, pss


SHM_ROOT = "/dev/shm"
SHM_TAG = "/dev/shm/distillguard-"


def shm_mb(pids: list[int], root: int) -> float:
    """MiB of the run's ``/dev/shm`` files (ingest's batches in flight), mapped or not: tmpfs
    pages are memory, but a process's RSS shows only those it has mapped and touched."""
    sizes: dict[int, int] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as fh:
                for line in fh:
                    if SHM_TAG in line:
                        f = line.split()
                        lo, hi = (int(x, 16) for x in f[0].split("-"))
                        sizes[int(f[4])] = max(sizes.get(int(f[4]), 0), hi - lo)
        except OSError:
            continue
    try:
        folders = [n for n in os.listdir(SHM_ROOT) if n.startswith(f"distillguard-{root}-")]
        for d in folders:
            for e in os.scandir(os.path.join(SHM_ROOT, d)):
                st = e.stat()
                sizes[st.st_ino] = max(sizes.get(st.st_ino, 0), st.st_size)
    except OSError:
        pass
    return sum(sizes.values()) / 2**20


def _role(pid: int, parent_role: str) -> str:
    """main / forkserver / worker / resource_tracker / other, from the command line."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    if "forkserver" in cmd and parent_role == "main":
        return "forkserver"
    if "resource_tracker" in cmd:
        return "resource_tracker"
    return "worker" if parent_role == "forkserver" else "other"


def tree_sample(root: int, roles: dict[int, str]) -> dict[int, tuple[str, float, float]]:
    """{pid: (role, RSS, PSS)} for ``root`` and its descendants; ``roles`` caches roles."""
    out: dict[int, tuple[str, float, float]] = {}
    todo = [(root, "")]
    while todo:
        pid, parent = todo.pop()
        if pid not in roles:
            roles[pid] = "main" if pid == root else _role(pid, parent)
        mem = rss_pss_mb(pid)
        if mem is None:
            continue
        out[pid] = (roles[pid], *mem)
        todo += [(k, roles[pid]) for k in _children(pid)]
    return out


class Sampler:
    """Samples the tree of ``root`` every ``period`` s; ``stage()`` names the current stage.

    Runs in a child process (:func:`sample_in_child`), not a thread of the measured process:
    a thread needs the GIL, and C code that holds it (Leiden, some Arrow calls) would stop the
    samples exactly where memory may peak."""

    def __init__(self, root: int, stage: Any, period: float = 0.5,
                 timeline: Path | None = None) -> None:
        self.root, self.stage, self.period, self.timeline = root, stage, period, timeline
        self._writer: Any = None
        self._fh: Any = None
        self.rows: list[dict[str, Any]] = []
        self.per_pid: dict[int, dict[str, Any]] = {}
        self._roles: dict[int, str] = {os.getpid(): "sampler"}
        self._t0 = time.perf_counter()

    def sample(self) -> None:
        procs = tree_sample(self.root, self._roles)
        procs = {p: v for p, v in procs.items() if v[0] != "sampler"}
        row: dict[str, Any] = {"t": round(time.perf_counter() - self._t0, 2), "stage": self.stage()}
        for key in ("rss", "pss", "main_rss", "main_pss", "workers_rss", "workers_pss", "other_pss"):
            row[key] = 0.0
        for pid, (role, rss, pss) in procs.items():
            row["rss"] += rss
            row["pss"] += pss
            group = role if role in ("main", "worker") else "other"
            if group == "main":
                row["main_rss"], row["main_pss"] = rss, pss
            elif group == "worker":
                row["workers_rss"] += rss
                row["workers_pss"] += pss
            else:
                row["other_pss"] += pss
            peak = self.per_pid.setdefault(pid, {"role": role, "rss": 0.0, "pss": 0.0})
            peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
        row["n_procs"] = len(procs)
        row["shm"] = shm_mb(list(procs), self.root)
        row = {k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}
        self.rows.append(row)
        if self.timeline is not None:  # written as it goes: a long run can be read midway
            if self._writer is None:
                self._fh = open(self.timeline, "w", newline="")
                self._writer = csv.DictWriter(self._fh, fieldnames=list(row))
                self._writer.writeheader()
            self._writer.writerow(row)
            self._fh.flush()

    def summary(self) -> dict[str, Any]:
        """Tree peaks (with the stage), per-stage peaks and per-role peaks."""
        top_rss = max(self.rows, key=lambda r: r["rss"])
        top_pss = max(self.rows, key=lambda r: r["pss"])
        stages: dict[str, dict[str, float]] = {}
        for r in self.rows:
            s = stages.setdefault(
                r["stage"], {"rss": 0.0, "pss": 0.0, "main_rss": 0.0, "main_pss": 0.0, "shm": 0.0}
            )
            for k in s:
                s[k] = max(s[k], r[k])
        roles: dict[str, dict[str, float]] = {}
        for p in self.per_pid.values():
            g = roles.setdefault(p["role"], {"n": 0, "rss": 0.0, "pss": 0.0})
            g["n"] += 1
            g["rss"], g["pss"] = max(g["rss"], p["rss"]), max(g["pss"], p["pss"])
        return {
            "peak_tree_rss_mb": top_rss["rss"],
            "peak_tree_rss_stage": top_rss["stage"],
            "peak_tree_rss_at": top_rss,
            "peak_tree_pss_mb": top_pss["pss"],
            "peak_tree_pss_stage": top_pss["stage"],
            "peak_tree_pss_at": top_pss,
            "peak_by_stage": stages,
            "peak_shm_mb": max(r["shm"] for r in self.rows),
            "peak_tree_pss_plus_shm_mb": max(r["pss"] + r["shm"] for r in self.rows),
            "peak_by_role": roles,  # the largest single process of each role
            "samples": len(self.rows),
        }


def _capture_stages(stage_file: Path) -> None:
    """Make ``detect``'s progress display (disabled off a terminal) write each new task's
    name, the current stage, to ``stage_file`` for the sampler process."""
    from distillguard.engines import embedded

    original = embedded.make_progress
    stage_file.write_text("start")

    def make(enabled: bool = True) -> Any:
        prog = original(False)
        add = prog.add_task

        def add_task(description: str, *a: Any, **k: Any) -> Any:
            part = stage_file.with_suffix(".part")  # replaced whole: never read half-written
            part.write_text(str(description))
            os.replace(part, stage_file)
            return add(description, *a, **k)

        prog.add_task = add_task
        return prog

    embedded.make_progress = make


def sample_in_child(root: int, stage_file: Path, period: float, timeline: Path,
                    summary_file: Path) -> None:
    """The sampler process: samples until its stdin closes, then writes its summary."""
    import select

    def stage() -> str:
        try:
            return stage_file.read_text() or "start"
        except OSError:
            return "start"

    sampler = Sampler(root, stage, period, timeline)
    while True:
        sampler.sample()
        ready, _, _ = select.select([sys.stdin], [], [], period)
        if ready and not sys.stdin.read(1):
            break
    summary_file.write_text(json.dumps(sampler.summary()))


def _log(data: Path) -> Path:
    for name in ("requests.parquet", "requests.jsonl.gz", "requests.jsonl"):
        if (data / name).exists():
            return data / name
    raise SystemExit(f"no requests log in {data}")


def scan_seconds(log: Path) -> float:
    """``baseline_scan`` of ``log`` in a child process: DuckDB's allocator keeps what the scan
    freed, which would otherwise sit in this process's RSS under ``detect``."""
    code = ("import sys; from pathlib import Path; from distillguard.engines.embedded import "
            "baseline_scan; print(baseline_scan([Path(sys.argv[1])]))")
    out = subprocess.run([sys.executable, "-c", code, str(log)], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def measure(data: Path, label: str, keep: Path | None, timeline: Path | None,
            scan: bool = True, period: float = 0.5,
            analyze_limit: str | None = None) -> dict[str, Any]:
    """Scan, detect under the sampler, scan again; the JSON record of the run."""
    from distillguard.engines.embedded import detect

    logs = [_log(data)]
    scans = [scan_seconds(logs[0])] if scan else []
    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-mem-"))
    stage_file, summary_file = tmp / "stage", tmp / "sampler.json"
    timeline = timeline or tmp / "timeline.csv"
    _capture_stages(stage_file)
    child = subprocess.Popen(
        [sys.executable, __file__, "--sample", str(os.getpid()), str(stage_file), str(period),
         str(timeline), str(summary_file)],
        stdin=subprocess.PIPE,
    )
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        s = detect(logs=logs, accounts=data / "accounts.csv", out=tmp / "out",
                   store=tmp / "store", progress=True, analyze_memory_limit=analyze_limit)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        child.stdin.close()
        child.wait()
        sampled = json.loads(summary_file.read_text())
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.move(tmp / "out", keep)
    finally:
        if child.poll() is None:  # detect raised: stop the sampler too
            child.stdin.close()
            child.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    if scan:
        scans.append(scan_seconds(logs[0]))
    n = s["counts"]["requests_accepted"]
    feat = s["resources"]["featurize"] or {}
    rec = {
        "label": label,
        "data": str(data),
        "requests": n,
        "detect_s": round(wall, 1),
        "scan_s": [round(x, 2) for x in scans],
        "x_scan": round(wall / (sum(scans) / len(scans)), 1) if scans else None,
        "main_cpu_s": round(cpu, 1),
        "featurize": feat,
        "timings": s["timings_s"],
        "analyze_timings": s.get("analyze_timings_s"),
        "peak_rss_main_mb": s["resources"]["peak_rss_mb"],
        "limits": {k: s["resources"].get(k) for k in ("memory_limit", "ingest_memory_limit",
                                                       "analyze_memory_limit")},
        "accounts_attack": s["counts"]["accounts_attack"],
        "accounts_review": s["counts"]["accounts_review"],
    }
    rec.update(sampled)
    return rec


def main() -> None:
    if sys.argv[1:2] == ["--sample"]:
        root, stage, period, timeline, summary = sys.argv[2:7]
        sample_in_child(int(root), Path(stage), float(period), Path(timeline), Path(summary))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("label")
    ap.add_argument("--timeline", type=Path)
    ap.add_argument("--keep", type=Path)
    ap.add_argument("--no-scan", action="store_true")
    ap.add_argument("--period", type=float, default=0.5)
    ap.add_argument("--analyze-limit", help="detect(analyze_memory_limit=...), e.g. 1GB")
    a = ap.parse_args()
    rec = measure(a.data, a.label, a.keep, a.timeline, not a.no_scan, a.period, a.analyze_limit)
    print(json.dumps(rec))


if __name__ == "__main__":  # detect starts worker processes: the guard is required
    main()
