"""``bench-suite`` on a cached data set: tables, commands and optional-section notes."""

from __future__ import annotations

import shutil
from pathlib import Path

from distillguard.bench.suite import DONE_MARKER, ensure_data, optional_section, run_suite


def run(out_dir: Path) -> str:
    """A stand-in optional section: what other stages' ``bench.run`` return."""
    assert out_dir.is_dir()
    return "## Demo section\n\nrows: 3635\n"


def test_suite_on_cached_data(tmp_path: Path, bench_data: Path) -> None:
    out = tmp_path / "suite"
    cached = out / "data" / "small-s1"
    shutil.copytree(bench_data, cached)
    (cached / DONE_MARKER).write_text("test")
    assert ensure_data("small", 1, out) == cached  # reused, not simulated again
    path = run_suite(
        out=out,
        presets=["small"],
        seeds=["1"],
        skip_large=True,
        detectors=["rate_limit"],
        first_days=None,
        also_minilm=False,
        # One section that exists (this module's run) and one that does not.
        sections=(("Demo section", __name__), ("Missing stage", "distillguard.no_such.bench")),
        isolate=False,  # child-process isolation is covered by the CLI test
    )
    text = path.read_text()
    assert path.name == "BENCHMARKS.generated.md"
    assert "distillguard simulate --preset small --seed 1 --out" in text
    assert "distillguard bench " in text and "--detector rate_limit" in text
    assert "| rate_limit |" in text
    assert "Skipped (`--skip-large`)" in text
    assert "## Demo section\n\nrows: 3635" in text.replace("3,635", "3635")
    assert "## Missing stage\n\nNot measured" in text
    assert (out / "results" / "small-s1" / "bench.json").is_file()


def test_optional_section_missing_module(tmp_path: Path) -> None:
    text = optional_section("Nothing", "distillguard.no_such_stage.bench", tmp_path, timeout=120)
    assert text.startswith("## Nothing") and "Not measured" in text


def test_scaling_section_from_bench_results(tmp_path: Path) -> None:
    def res(n: int, secs: float, mib: float) -> dict:
        run = {"ok": True, "seconds": secs, "peak_rss_mib": mib}
        return {
            "n_requests": n,
            "baseline": {"scan_seconds": secs / 4},
            "detectors": {"distillguard": {"run": run}},
        }

    from distillguard.bench.suite import scaling_section

    text = scaling_section(
        tmp_path,
        1,
        {
            "small": res(50_000, 10.0, 500),
            "medium": res(500_000, 50.0, 900),
            "large": res(5_000_000, 400.0, 1800),
        },
    )
    assert "| large | 5,000,000 | 400.0 | 12,500 | 100.00 | 4.0× | 1800 |" in text
    assert "distillguard simulate --preset PRESET --seed 1" in text


def test_section_timeout_read_from_the_module_without_importing_it() -> None:
    from distillguard.bench.suite import SECTION_TIMEOUT_S, section_timeout

    # The Spark section declares its own (large on both engines takes about an hour).
    assert section_timeout("distillguard.engines.spark.bench") > SECTION_TIMEOUT_S
    assert section_timeout("distillguard.online.bench") == SECTION_TIMEOUT_S
    assert section_timeout("distillguard.no_such_module") == SECTION_TIMEOUT_S
