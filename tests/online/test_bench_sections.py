"""The online benchmark's measurements on a small scale, and the markdown it renders from them:
real scorers, real timings, nothing faked."""

from __future__ import annotations

from pathlib import Path

from distillguard.online import bench


def test_hook_measures_both_paths_and_renders_them() -> None:
    hook = bench.bench_hook(n=400, n_accounts=50)
    assert hook["n_precheck"] == 400 and hook["n_assess"] == 100
    assert 0 < hook["precheck_p50_us"] <= hook["precheck_p99_us"]
    assert 0 < hook["assess_p50_us"] <= hook["assess_p99_us"]
    table = "\n".join(bench.hook_lines(hook))
    assert f"{hook['precheck_p50_us']:.0f} µs" in table
    assert "| 400 |" in table and "| 100 |" in table


def test_scoring_measures_decide_and_the_shipped_model() -> None:
    sc = bench.bench_scoring(n=300, n_accounts=30)
    assert sc["n_decide"] == 300 and sc["decide_p50_us"] > 0
    rows = [ln for ln in bench.scoring_lines(sc) if ln.startswith("| ")][1:]  # no header
    assert rows[0].startswith("| decide (300 requests, 30 accounts)")
    # the shipped model loads, so both tree implementations are timed and shown
    assert {"sklearn", "numpy"} <= {r.split(",")[-1].split("|")[0].strip() for r in rows[1:]}


def test_memory_line_reports_bytes_per_account() -> None:
    mem = bench.bench_memory(n_accounts=2000, per_account=2, redis_accounts=0)
    assert mem["accounts"] == 2000 and mem["deep_size_bytes_per_account"] > 0
    line = bench.memory_lines(mem)[0]
    assert line.startswith("State memory per active account (2,000 accounts, 2 requests each)")
    assert ("in Redis" in line) == ("redis_bytes_per_account" in mem)


def test_warm_replay_is_skipped_and_said_so_when_the_budget_is_short(tmp_path: Path) -> None:
    results: dict = {}
    lines = bench._warm_replay_lines(tmp_path, None, tmp_path, left_s=10.0, results=results)
    assert lines == ["Deployment-like replay skipped: not enough of the time budget left."]
    assert results == {}


def test_recall_line_names_what_is_compared() -> None:
    assert bench._recall_line({}, "x", "y") == []
    line = bench._recall_line({"online_vs_batch_recall": 0.5}, "Online", "the batch detector's")
    assert line[0] == (
        "Online reaches 50% of the batch detector's recall at the same benign FPR (1%)."
    )


def test_http_runs_a_real_server_under_wrk_and_reads_its_metrics() -> None:
    http = bench.bench_http(1.0, connections=(4,), paced=((2, 20),), n_accounts=100)
    assert http["tool"] == "wrk" and http["workers"] == 1 and http["state"] == "memory"
    saturation, paced = http["runs"]
    assert saturation["mode"] == "saturation" and saturation["connections"] == 4
    assert paced["mode"] == "paced, 20 ms between requests per connection"
    # 2 connections, 20 ms apart, for a second: at most about 100 requests, however fast
    assert 0 < paced["requests"] <= 150 and saturation["requests"] > 0
    assert http["learn_dropped"] == 0
