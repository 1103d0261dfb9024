"""Every phrase of every signal in one multi-pattern pass per text (Hyperscan).

Matching phrase by phrase (one ``pc.match_substring_regex`` per phrase) reads each text ~60
times; a single alternation of all phrases outgrows RE2's DFA budget. Hyperscan compiles all
patterns into one automaton and reports, per text, which of them occur
(``HS_FLAG_SINGLEMATCH``: each pattern at most once), in one pass over the bytes.

Semantics match RE2's unanchored search (what ``pc.match_substring_regex`` runs) for the
patterns signals use: lower-case literals, classes, bounded repeats, ``\\b``/``\\w``/``\\W``
(ASCII, as in RE2), ``^`` (start of the text: each row is scanned as its own block) and
``.`` (a UTF-8 character, not ``\\n``). ``tests/signals/test_multimatch.py`` checks the
matrices are equal to the per-phrase RE2 ones on simulated and real multilingual text.

Compiling all phrases takes ~5 s, so the compiled database is serialised to a cache folder
(``$DISTILLGUARD_CACHE`` or ``$XDG_CACHE_HOME/distillguard``, default ``~/.cache``) keyed by
the patterns and the Hyperscan version: each worker process then loads it in milliseconds.
Without the ``hyperscan`` package, each text is matched with a precompiled RE2 ``Set`` (one
pass for all phrases too, ~3× slower).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .textops import string_buffers

try:
    import hyperscan as _hs
except ImportError:  # pragma: no cover - the RE2 fallback keeps the package usable
    _hs = None

_FLAGS = 0 if _hs is None else _hs.HS_FLAG_UTF8 | _hs.HS_FLAG_SINGLEMATCH


def cache_dir() -> Path:
    """Where compiled pattern databases are kept between processes and runs."""
    env = os.environ.get("DISTILLGUARD_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distillguard"


def _cache_key(patterns: tuple[str, ...]) -> str:
    version = getattr(_hs, "__version__", "") if _hs is not None else ""
    blob = json.dumps([patterns, _FLAGS, version], ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _compile(patterns: tuple[str, ...]) -> Any:
    db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
    db.compile(
        expressions=[p.encode() for p in patterns],
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=[_FLAGS] * len(patterns),
    )
    return db


def _load_or_compile(patterns: tuple[str, ...]) -> Any:
    """The Hyperscan database of ``patterns``, from the cache when a process compiled it
    before (a cache that cannot be read or written only costs the compile)."""
    path = cache_dir() / f"hs-{_cache_key(patterns)}.db"
    try:
        db = _hs.loadb(path.read_bytes(), _hs.HS_MODE_BLOCK)
        db.scratch = _hs.Scratch(db)  # a loaded database comes without scan memory
        return db
    except (OSError, _hs.error):
        pass
    db = _compile(patterns)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(_hs.dumpb(db))
        os.replace(tmp.name, path)  # atomic: concurrent workers never read half a file
    except OSError:
        pass
    return db


class PhraseMatcher:
    """Which of ``patterns`` occur in each row of a string array (one pass per row)."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = tuple(patterns)
        self._db: Any = None
        self._set: Any = None
        # Hyperscan's scratch space serves one scan at a time: one per thread (the online
        # service featurizes on its request path and in a background learner thread).
        self._local = threading.local()
        if not self.patterns:
            return
        if _hs is not None:
            self._db = _load_or_compile(self.patterns)
        else:  # pragma: no cover - exercised only without hyperscan
            from .base import PhraseSet

            self._set = PhraseSet(list(self.patterns))

    def match(self, text: pa.Array) -> np.ndarray:
        """Boolean matrix rows × patterns (an empty or null row matches nothing)."""
        n, k = len(text), len(self.patterns)
        out = np.zeros((n, k), dtype=bool)
        if n == 0 or k == 0:
            return out
        if self._db is None:  # pragma: no cover - RE2 fallback
            for i, t in enumerate(text.to_pylist()):
                hit = self._set.match(t or "")
                if hit:
                    out[i, hit] = True
            return out
        data, offsets = string_buffers(text)
        rows, ids = self._scan(data.tobytes(), offsets.tolist())
        if rows:
            out[rows, ids] = True
        return out

    def _scan(self, buf: bytes, offsets: list[int]) -> tuple[list[int], list[int]]:
        rows: list[int] = []
        ids: list[int] = []

        def on_match(pid: int, _from: int, _to: int, _flags: int, row: int) -> None:
            rows.append(row)
            ids.append(pid)

        scan, scratch = self._db.scan, self._scratch()
        for i in range(len(offsets) - 1):
            lo, hi = offsets[i], offsets[i + 1]
            if hi > lo:
                scan(buf[lo:hi], match_event_handler=on_match, context=i, scratch=scratch)
        return rows, ids

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _hs.Scratch(self._db)
        return scratch


@lru_cache(maxsize=32)
def matcher_for(patterns: tuple[str, ...]) -> PhraseMatcher:
    """One :class:`PhraseMatcher` per distinct pattern tuple in this process."""
    return PhraseMatcher(patterns)
