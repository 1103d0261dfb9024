"""Small hand-written request logs for the ingest tests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BASE_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z


def record(i: int, account: str = "acct-1", **over: Any) -> dict[str, Any]:
    """A valid contract §1 record; ``over`` replaces or adds fields (None removes one)."""
    rec: dict[str, Any] = {
        "request_id": f"req-{i}",
        "ts": BASE_MS + i * 1000,
        "account_id": account,
        "model": "model-a",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": f"Explain photosynthesis in simple words, number {i}."},
        ],
        "ip": "203.0.113.7",
        "user_agent": "openai-python/1.30",
        "max_tokens": 512,
        "input_tokens": 40,
        "output_tokens": 300,
        "status": 200,
    }
    for k, v in over.items():
        if v is None:
            rec.pop(k, None)
        else:
            rec[k] = v
    return rec


def write_lines(path: Path, lines: list[str | dict[str, Any]]) -> Path:
    """Write JSON Lines (dicts are dumped, strings written as-is); ``.gz`` is gzipped."""
    text = "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def make_log(tmp_path: Path) -> Callable[..., Path]:
    """``make_log(name, lines)`` → a log file under tmp_path."""

    def make(name: str, lines: list[str | dict[str, Any]]) -> Path:
        return write_lines(tmp_path / "logs" / name, lines)

    return make


@pytest.fixture
def rec() -> Callable[..., dict[str, Any]]:
    """The :func:`record` factory."""
    return record
