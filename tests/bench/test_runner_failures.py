"""A detector run the bench had to stop is a failed result with its reason, not a crash."""

from __future__ import annotations

import math
from pathlib import Path

from distillguard.bench.runner import run_detector


def test_a_run_past_its_timeout_is_stopped_and_reported(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    log.write_text("")
    result, extra = run_detector("distillguard", [log], None, tmp_path / "out", timeout=0.05)
    assert not result.ok
    assert result.error == "timed out after 0 s"
    assert math.isnan(result.peak_rss_mib)
    assert extra == {}
    assert not (tmp_path / "out" / "run.json").exists()
