"""Fixtures of the bench tests: the hand-built data set of ``synth.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.corpora import find_corpora

from .synth import make_dataset


@pytest.fixture(scope="session")
def bench_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Benign accounts, one bursty templated campaign (12 accounts) and a mixed account.

    Real corpora text when ``../shared/corpora`` is present, built-in sentences otherwise.
    """
    return make_dataset(tmp_path_factory.mktemp("bench-data"), find_corpora())
