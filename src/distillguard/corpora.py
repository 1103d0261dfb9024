"""Locate and read the shared public corpora (``../shared/corpora``), never copied into the repo.

Search order: an explicit path, ``$DISTILLGUARD_CORPORA``, ``../shared/corpora`` from the
working directory, then ``../shared/corpora`` beside the source checkout. ``None`` means absent
(a fresh machine): callers then fall back to the simulator's built-in generator.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from .errors import InvalidInputError

ENV_VAR = "DISTILLGUARD_CORPORA"


def find_corpora(explicit: str | Path | None = None) -> Path | None:
    """The corpora folder, or ``None`` when it is absent. A given path must exist."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_dir():
            raise InvalidInputError(f"corpora folder not found: {path}")
        return path
    candidates = []
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    candidates.append(Path.cwd().parent / "shared" / "corpora")
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "corpora")
    for path in candidates:
        if (path / "README.md").exists() or any(path.glob("*/*.jsonl.gz")):
            return path
    return None


def iter_records(path: Path) -> Iterator[dict]:
    """Records of one gzipped JSON Lines corpus file."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                yield json.loads(line)


@lru_cache(maxsize=32)
def _load(path: str, limit: int | None) -> tuple[dict, ...]:
    out = []
    for i, rec in enumerate(iter_records(Path(path))):
        if limit is not None and i >= limit:
            break
        out.append(rec)
    return tuple(out)


def load(relpath: str, corpora: Path | None = None, limit: int | None = None) -> list[dict]:
    """All records of ``corpora/relpath`` (e.g. ``"tasks/gsm8k_train.jsonl.gz"``), cached."""
    root = corpora if corpora is not None else find_corpora()
    if root is None:
        raise InvalidInputError(
            "the shared corpora are not present (looked for ../shared/corpora and "
            f"${ENV_VAR}); pass a corpora path or use the built-in generator"
        )
    path = root / relpath
    if not path.exists():
        raise InvalidInputError(f"corpus file not found: {path}")
    return list(_load(str(path), limit))


def load_texts(relpath: str, corpora: Path | None = None, limit: int | None = None) -> list[str]:
    """Just the ``text`` field of each record."""
    return [r["text"] for r in load(relpath, corpora, limit) if r.get("text")]
