"""The store's DuckDB limit after ingest: its share of the tree's budget beside Python."""

from __future__ import annotations

import json

import pytest

from distillguard.engines import embedded
from distillguard.errors import InvalidParameterError
from distillguard.ingest.store import analysis_memory_limit, size_bytes


def test_half_the_budget_within_a_floor_and_the_budget():
    assert analysis_memory_limit("1GiB") == "512MiB"
    assert analysis_memory_limit("1GB") == f"{-(-10**9 // 2 // 2**20)}MiB"
    assert analysis_memory_limit("300MiB") == "256MiB"  # the floor
    assert analysis_memory_limit("100MiB") == "100MiB"  # never above the budget
    assert analysis_memory_limit("1GiB", floor=800 * 2**20) == "800MiB"


@pytest.mark.parametrize("override", [None, "300MiB"])
def test_detect_runs_the_later_stages_under_that_limit(tiny_data, tmp_path, monkeypatch, override):
    seen: list[str] = []
    analyze = embedded._analyze

    def recording(store, policy, progress):  # the limit DuckDB enforces while analyze runs
        seen.append(store.con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0])
        return analyze(store, policy, progress)

    monkeypatch.setattr(embedded, "_analyze", recording)
    s = embedded.detect(
        logs=[tiny_data / "requests.jsonl.gz"], accounts=tiny_data / "accounts.csv",
        out=tmp_path / "out", store=tmp_path / "store", progress=False, report=False,
        memory_limit="1GiB", analyze_memory_limit=override,
    )
    want = override or "512MiB"
    assert s["resources"]["analyze_memory_limit"] == want
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["resources"][
        "analyze_memory_limit"
    ] == want
    # DuckDB shows the limit in its own units: compare bytes, within its rounding
    shown = seen[0].replace(" ", "")
    assert abs(size_bytes(shown) - size_bytes(want)) <= 0.01 * size_bytes(want)


def test_a_bad_limit_fails_before_any_work(tiny_data, tmp_path):
    with pytest.raises(InvalidParameterError, match="analyze_memory_limit"):
        embedded.detect(
            logs=[tiny_data / "requests.jsonl.gz"], out=tmp_path / "out",
            store=tmp_path / "store", progress=False, analyze_memory_limit="lots",
        )
    assert not (tmp_path / "store").exists()
