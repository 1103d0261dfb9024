"""Shared fixtures: the real corpora (skipped with a clear message when absent) and a tiny
simulated data set built once per test session."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from distillguard.corpora import find_corpora

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPORA = REPO.parent / "shared" / "corpora"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test marked ``spark`` skips, with the reason, where the Spark engine cannot start
    (no pyspark or no Java): one check for every Spark module instead of a preamble in each."""
    spark_items = [item for item in items if item.get_closest_marker("spark")]
    if not spark_items:
        return
    from distillguard.engines.spark.session import missing_requirements

    missing = missing_requirements()
    if missing is not None:
        skip = pytest.mark.skip(reason=f"Spark tests skipped: {missing}")
        for item in spark_items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def corpora_dir() -> Path:
    """``../shared/corpora``; tests that need real text skip when it is missing."""
    path = SHARED_CORPORA if SHARED_CORPORA.is_dir() else find_corpora()
    if path is None or not Path(path).is_dir():
        pytest.skip(
            f"real corpora not found at {SHARED_CORPORA}: these tests need ../shared/corpora "
            "(see the project README)"
        )
    return Path(path)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``tiny`` simulator preset (seed 7), with real corpora when present."""
    from distillguard.sim import simulate

    out = tmp_path_factory.mktemp("tiny")
    simulate("tiny", out=out, seed=7, progress=False)
    return out


@pytest.fixture(scope="session")
def random_world_3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random world of seed 3 at the tiny preset's size (``identity_digests``'s
    ``random-3``), simulated once per session; read it only."""
    from distillguard.sim import simulate
    from distillguard.sim.world import Priors, draw_scenario

    out = tmp_path_factory.mktemp("random3")
    simulate(draw_scenario("tiny", 3, Priors.load(None)), out=out, seed=3, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_findings(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Embedded ``detect`` on ``tiny_data`` with its account table, run once per session:
    ``(root, summary)`` with the outputs in ``root / "findings"`` and the store in
    ``root / "store"``. Shared by the Spark equivalence test and the online-risk tests, so
    read it only (copy the store before writing to it)."""
    from distillguard.engines.embedded import detect

    root = tmp_path_factory.mktemp("tiny-findings")
    summary = detect(
        [tiny_data / "requests.jsonl.gz"],
        out=root / "findings",
        accounts=tiny_data / "accounts.csv",
        store=root / "store",
        progress=False,
    )
    return root, summary


@pytest.fixture(scope="session")
def lt():
    """The detector's own labelled traffic generator (tests/scoring/labelled_traffic.py):
    build, analyzed, requests_table, constants. Shared by accounts, coordination and scoring."""
    name = "dg_labelled_traffic"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parent / "scoring" / "labelled_traffic.py"
        )
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]
