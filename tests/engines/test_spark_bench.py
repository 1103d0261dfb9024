"""The Spark benchmark's helpers: CPU pinning, the agreement figures and the projection."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from distillguard.engines.spark import bench

HEADER = ["account_id", "verdict", "risk", "cluster_id"]


def _accounts(path: Path, rows: list[tuple[str, str, float, str]]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "accounts.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) is missing")
def test_pinned_child_runs_on_one_cpu() -> None:
    cmd, pinned = bench.pin_command(
        [sys.executable, "-c", "import os; print(len(os.sched_getaffinity(0)))"], 1
    )
    assert pinned and cmd[:3] == ["taskset", "-c", "0-0"]
    assert subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip() == "1"


def test_no_pinning_when_the_machine_has_fewer_cpus() -> None:
    cmd, pinned = bench.pin_command(["true"], (os.cpu_count() or 1) + 1)
    assert (cmd, pinned) == (["true"], False)
    assert bench.pin_command(["true"], None) == (["true"], False)


def test_agreement_counts_and_explains_differences(tmp_path: Path) -> None:
    _accounts(tmp_path / "a", [("a1", "attack", 0.95, "c1"), ("a2", "attack", 0.92, "c1"),
                               ("b1", "benign", 0.10, ""), ("b2", "review", 0.51, "")])
    _accounts(tmp_path / "b", [("a1", "attack", 0.95, "c9"), ("a2", "attack", 0.92, "c9"),
                               ("b1", "benign", 0.10, ""), ("b2", "benign", 0.49, "")])
    res = bench.agreement(tmp_path / "a", tmp_path / "b")
    assert res["accounts"] == 4 and res["verdict_agreement"] == 0.75
    assert res["ari"] == 1.0  # cluster names differ, membership does not
    assert [d["account_id"] for d in res["differences"]] == ["b2"]
    assert "threshold" in res["differences"][0]["why"]


def test_projection_scales_inversely_with_the_per_core_rate() -> None:
    slow, fast = bench.projection(500.0), bench.projection(1000.0)
    assert slow["cores"] == pytest.approx(2 * fast["cores"])
    # 1e9 requests in a 6 h window at 1,000 requests/s per core, with 30% headroom
    assert fast["cores"] == pytest.approx(1e9 / (6 * 3600) / 1000 * 1.3)


def test_cli_rejects_a_missing_data_set(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "distillguard.engines.spark.bench", str(tmp_path / "out"),
         str(tmp_path / "nope")], capture_output=True, text=True)
    assert res.returncode == 2 and "data set not found" in res.stderr


def test_reuse_returns_an_earlier_measurement_of_the_same_data_only(tmp_path: Path) -> None:
    import json

    data = tmp_path / "data"
    data.mkdir()
    (data / "requests.jsonl").write_text("")
    work = tmp_path / "work"
    work.mkdir()
    earlier = {"tag": "spark-local2", "wall_s": 12.5, "out": str(work / "out_spark-local2"),
               "data_dir": str(data.resolve()), "cpus": 2}
    (work / "measured_spark-local2.json").write_text(json.dumps(earlier))
    got = bench.measure("spark", "local[2]", data, work, cpus=2, reuse=True)
    assert got["reused"] and got["wall_s"] == 12.5 and got["out"] == work / "out_spark-local2"
    # Another data set is never answered from the cache (it would run the engine instead).
    other = tmp_path / "other"
    other.mkdir()
    (other / "requests.jsonl").write_text("")
    earlier.update(tag="duckdb", data_dir=str(other.resolve()))
    (work / "measured_duckdb.json").write_text(json.dumps(earlier))
    try:
        ran = bench.measure("duckdb", None, data, work, cpus=2, reuse=True)
    except RuntimeError as exc:  # it ran, and an empty log may be refused
        assert "duckdb run failed" in str(exc)
    else:
        assert not ran.get("reused") and ran["wall_s"] != 12.5


def test_lake_data_is_simulated_once_as_parquet(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    data = bench.lake_data("tiny", tmp_path)
    assert data.name == "tiny-s1-parquet"
    first = (data / "requests.parquet").stat().st_mtime_ns
    assert pq.ParquetFile(data / "requests.parquet").metadata.num_rows > 1000
    assert bench.lake_data("tiny", tmp_path) == data
    assert (data / "requests.parquet").stat().st_mtime_ns == first  # reused, not rewritten


def test_a_failed_run_keeps_the_whole_output_and_names_its_log(tmp_path: Path) -> None:
    """The cause of a failure is usually far above the last lines of a JVM stack: the whole
    output stays in a log file next to the outputs, and the error names it."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "requests.jsonl").write_text("{not json\n")
    (data / "accounts.csv").write_text("no,such,columns\n1,2,3\n")  # an account table it refuses
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(RuntimeError) as err:
        bench.measure("duckdb", None, data, work)
    log = work / "duckdb.log"
    assert str(log) in str(err.value)
    text = log.read_text()
    assert "Traceback" in text and len(text.splitlines()) > 6  # all of it, not a tail
    last = [ln for ln in text.splitlines() if ln.strip()][-1]
    assert last in str(err.value)  # the cause line is quoted in the error


def test_failure_excerpt_puts_the_cause_before_the_stack_tail(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    stack = [f"\tat org.example.Frame{i}(Frame.scala:{i})" for i in range(200)]
    log.write_text("\n".join(["starting", "py4j.protocol.Py4JJavaError: boom",
                              "Caused by: java.lang.OutOfMemoryError: Java heap space",
                              *stack]))
    got = bench.failure_excerpt(log).splitlines()
    assert got[:2] == ["py4j.protocol.Py4JJavaError: boom",
                       "Caused by: java.lang.OutOfMemoryError: Java heap space"]
    assert got[-1] == stack[-1]


def test_tree_cpu_counts_a_grandchild_its_parent_never_waits_for(tmp_path: Path) -> None:
    """Spark's JVM and Python workers are grandchildren nobody waits for, so rusage misses
    them; the sampler reads each process's CPU from /proc and counts them."""
    burn = ("import time; t = time.process_time()\n"
            "while time.process_time() - t < 0.8: pass\n"
            "time.sleep(0.6)")
    parent = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {burn!r}]); "
              "time.sleep(2.5)")
    wall, peak_mb, cpu_s = bench._run_child([sys.executable, "-c", parent],
                                            tmp_path / "burn.log", "burn")
    assert wall >= 2.5 and peak_mb > 0
    assert 0.7 <= cpu_s <= wall * (os.cpu_count() or 1)
