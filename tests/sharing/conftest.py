"""One detect run over the tiny world, shared by the sharing tests (a partner's findings)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

KEY = "sharing-group-secret-0123456789"
OTHER_KEY = "a-different-groups-secret-987654"


@pytest.fixture(scope="session")
def partner_run(tiny_data: Path, tiny_findings) -> dict[str, Path]:
    """detect over the tiny world: its data, store and findings folders (the session's
    ``tiny_findings``; read only, ``store_copy`` copies the store)."""
    root, _ = tiny_findings
    return {"data": tiny_data, "store": root / "store", "findings": root / "findings"}


@pytest.fixture
def store_copy(partner_run: dict[str, Path], tmp_path: Path) -> Path:
    """A copy of the partner run's store, to import into without touching the original."""
    dst = tmp_path / "store"
    shutil.copytree(partner_run["store"], dst)
    return dst


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    p = tmp_path / "sharing.key"
    p.write_text(KEY + "\n")
    return p
