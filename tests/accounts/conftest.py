"""Loads the detector's own labelled traffic generator (tests/scoring/labelled_traffic.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _labelled():
    name = "dg_labelled_traffic"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parents[1] / "scoring" / "labelled_traffic.py"
        )
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="session")
def lt():
    """The labelled traffic module (build, analyzed, requests_table, constants)."""
    return _labelled()
