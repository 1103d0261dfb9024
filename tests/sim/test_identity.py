"""The simulator's output, byte for byte, against digests recorded before ``build_plan``,
``simulate`` and ``_parse`` were split into short functions: a refactoring must not move the
random stream. ``identity_digests.py`` checks more worlds (``--check`` against a recorded run).

The digests hold for the real corpora (``../shared/corpora``); without them the test skips.
When the output changes on purpose, re-record with ``python tests/sim/identity_digests.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from identity_digests import folder_digests

RECORDED = {
    "tiny-7": {
        "accounts.csv": "a6c3877ceecea052",
        "labels.csv": "9a239f937df76731",
        "request_labels.csv": "ff945df6d75a4a38",
        "requests.jsonl.gz": "878b50c5d0707330",
        "scenario.yaml": "677f9185ca55e7ed",
        "sim_summary.json": "00028aef9d2f5eef",
    },
    "random-3": {  # re-recorded for generator 3 (the coordinated groups)
        "accounts.csv": "2e4096278d6976ec",
        "labels.csv": "dfc75f26e740020c",
        "request_labels.csv": "133e18f7c3aea0a5",
        "requests.jsonl.gz": "938e4b76ad8366d1",
        "scenario.yaml": "2d5680574cfc8dfe",
        "sim_summary.json": "d38798a9bfeb389b",
    },
    "random-3-g2": {  # generator 2 (the class's drawn tightness), still drawn exactly
        "accounts.csv": "e76e4ff917442184",
        "labels.csv": "dae1334edd200c3a",
        "request_labels.csv": "c744497789023b95",
        "requests.jsonl.gz": "185bbfaf34e8536b",
        "scenario.yaml": "35c2f73d13d83de4",
        "sim_summary.json": "44b5a29c911c10d7",
    },
}


def _skip_without_corpora(summary: dict) -> None:
    if not str(summary.get("text_source", "")).endswith("corpora"):
        pytest.skip("the digests were recorded with the real corpora")


def test_tiny_7_output_is_byte_identical(tiny_data: Path) -> None:
    _skip_without_corpora(json.loads((tiny_data / "sim_summary.json").read_text()))
    assert folder_digests(tiny_data) == RECORDED["tiny-7"]


def test_random_world_3_output_is_byte_identical(tiny_data: Path, random_world_3: Path) -> None:
    """The session's ``random_world_3`` is ``config_digests("random-3")``'s simulation (the
    same scenario, seed, corpora and format), simulated once for this and other tests."""
    _skip_without_corpora(json.loads((tiny_data / "sim_summary.json").read_text()))
    assert folder_digests(random_world_3) == RECORDED["random-3"]


def test_generator_2_world_3_is_still_drawn_byte_identical(tiny_data: Path, tmp_path: Path) -> None:
    """``draw_scenario(..., generator=2)`` gives generator 2's world, byte for byte: the
    generator-3 groups moved nothing else."""
    from distillguard.sim import simulate
    from distillguard.sim.world import Priors, draw_scenario

    _skip_without_corpora(json.loads((tiny_data / "sim_summary.json").read_text()))
    scenario = draw_scenario("tiny", 3, Priors.load(None), generator=2)
    simulate(scenario, out=tmp_path, seed=3, progress=False)
    assert folder_digests(tmp_path) == RECORDED["random-3-g2"]
