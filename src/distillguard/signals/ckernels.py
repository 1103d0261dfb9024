"""Compiled byte-level kernels for featurize (``_kernels.c``), with the numpy code as fallback.

The numpy versions of whitespace collapsing, tokenizing with token hashes, segment hashes and
the per-row sketch (skeleton hash, MinHash band keys, edge keys) make several passes over the
buffer each, with temporaries of 8-16 bytes per input byte. ``_kernels.c`` does each in one
pass with the same uint64 arithmetic, so the outputs are equal bit for bit
(``tests/signals/test_ckernels.py`` checks them against the numpy code).

The C file is compiled on first use with the system C compiler (``$CC``, else ``cc``) into
the same cache folder as the Hyperscan databases (:func:`.multimatch.cache_dir`), keyed by
the source's hash, and loaded with ``ctypes``; later processes load the cached library in
milliseconds. Without a compiler (or with ``DISTILLGUARD_NO_CKERNELS=1``) :func:`lib` returns
``None`` and the callers keep their numpy paths.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .multimatch import cache_dir

_SRC = Path(__file__).with_name("_kernels.c")
_LOCK = threading.Lock()
_LIB: Any = None
_TRIED = False

_P_U8 = ctypes.POINTER(ctypes.c_uint8)
_P_I64 = ctypes.POINTER(ctypes.c_int64)
_P_U64 = ctypes.POINTER(ctypes.c_uint64)
_I64 = ctypes.c_int64
_U64 = ctypes.c_uint64

_SIGNATURES = {
    "dg_collapse_ws": (_I64, [_P_U8, _P_I64, _I64, _P_U8, _P_I64]),
    "dg_segment_hashes": (None, [_P_U8, _P_I64, _I64, _P_U64]),
    "dg_token_hashes": (_I64, [_P_U8, _I64, _P_I64, _I64, _U64, _P_U64, _P_I64]),
    "dg_sketch_rows": (
        None,
        [_P_U64, _P_I64, _I64, _I64, _I64, _I64, _I64, _I64, _P_U64, _P_U64, _P_U64, _P_U64,
         _P_U8],
    ),
    "dg_script": (None, [_P_U8, _I64, _P_I64, _I64, ctypes.POINTER(ctypes.c_int8),
                         ctypes.POINTER(ctypes.c_int32)]),
    "dg_clip": (_I64, [_P_U8, _P_I64, _I64, _I64, _I64, _P_U8, _I64, _P_U8, _P_I64]),
}


def _build(src: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC") or "cc"
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        c_file = Path(tmp) / "k.c"
        c_file.write_bytes(src)
        out = Path(tmp) / dest.name
        subprocess.run(
            [cc, "-O2", "-std=c99", "-shared", "-fPIC", "-o", str(out), str(c_file)],
            check=True, capture_output=True, timeout=120,
        )
        os.replace(out, dest)  # atomic: concurrent workers never load half a file


def _load() -> Any:
    src = _SRC.read_bytes()
    # a cache folder may be shared between machines (a network home): key by platform too
    key = hashlib.sha256(src + f"{sys.platform}-{platform.machine()}".encode()).hexdigest()
    dest = cache_dir() / f"dgkernels-{key[:24]}.so"
    if not dest.exists():
        _build(src, dest)
    lib = ctypes.CDLL(str(dest))
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


def lib() -> Any:
    """The loaded kernel library, or ``None`` (no compiler, or disabled by the environment)."""
    global _LIB, _TRIED
    if _TRIED:
        return _LIB
    with _LOCK:
        if not _TRIED:
            if os.environ.get("DISTILLGUARD_NO_CKERNELS", "") not in ("", "0"):
                _LIB = None
            else:
                try:
                    _LIB = _load()
                except (OSError, subprocess.SubprocessError, AttributeError):
                    _LIB = None
            _TRIED = True
    return _LIB


def _ptr(arr: np.ndarray, typ: Any) -> Any:
    return arr.ctypes.data_as(typ)


def _c(arr: np.ndarray, dtype: Any) -> np.ndarray:
    return np.ascontiguousarray(arr, dtype=dtype)


def collapse_ws(k: Any, data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(bytes, offsets)`` of the rows with ASCII whitespace runs collapsed (textops)."""
    data, offsets = _c(data, np.uint8), _c(offsets, np.int64)
    n = len(offsets) - 1
    out = np.empty(max(len(data), 1), dtype=np.uint8)
    new_off = np.empty(n + 1, dtype=np.int64)
    m = k.dg_collapse_ws(_ptr(data, _P_U8), _ptr(offsets, _P_I64), n, _ptr(out, _P_U8),
                         _ptr(new_off, _P_I64))
    return out[:m], new_off


def segment_hashes(k: Any, data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """sketch.segment_hashes."""
    data, offsets = _c(data, np.uint8), _c(offsets, np.int64)
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.uint64)
    if n:
        k.dg_segment_hashes(_ptr(data, _P_U8), _ptr(offsets, _P_I64), n, _ptr(out, _P_U64))
    return out


def token_hashes(
    k: Any, data: np.ndarray, offsets: np.ndarray, slot_hash: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(token hashes, row token offsets)`` (sketch._token_hashes)."""
    data, offsets = _c(data, np.uint8), _c(offsets, np.int64)
    n = len(offsets) - 1
    hashes = np.empty(max(len(data), 1), dtype=np.uint64)
    row_off = np.empty(n + 1, dtype=np.int64)
    t = k.dg_token_hashes(_ptr(data, _P_U8), len(data), _ptr(offsets, _P_I64), n,
                          int(slot_hash), _ptr(hashes, _P_U64), _ptr(row_off, _P_I64))
    return hashes[:t].copy(), row_off


MAX_PERMS = 4096  # the C code's per-row buffers
MAX_BANDS = 1024


def sketch_rows(
    k: Any, th: np.ndarray, row_off: np.ndarray, *, window_tokens: int, shingle_size: int,
    bands: int, rows: int, edge_tokens: int, a: np.ndarray, b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(skeleton hash, keys n × (2·bands + 2), has_edge)`` of tokenized rows."""
    th, row_off = _c(th, np.uint64), _c(row_off, np.int64)
    a, b = _c(a, np.uint64), _c(b, np.uint64)
    n = len(row_off) - 1
    skel = np.empty(n, dtype=np.uint64)
    keys = np.empty((n, 2 * bands + 2), dtype=np.uint64)
    has_edge = np.empty(n, dtype=np.uint8)
    if len(th) == 0:  # keep a valid pointer for an all-empty batch
        th = np.zeros(1, dtype=np.uint64)
    k.dg_sketch_rows(_ptr(th, _P_U64), _ptr(row_off, _P_I64), n, int(window_tokens),
                     int(shingle_size), int(bands), int(rows), int(edge_tokens),
                     _ptr(a, _P_U64), _ptr(b, _P_U64), _ptr(skel, _P_U64),
                     _ptr(keys, _P_U64), _ptr(has_edge, _P_U8))
    return skel, keys, has_edge.astype(bool)


def script(k: Any, data: np.ndarray, offsets: np.ndarray, lead: np.ndarray) -> np.ndarray:
    """Per row the index of its dominant script (script.detect_script; ``lead``: the
    class of each lead byte)."""
    data, offsets = _c(data, np.uint8), _c(offsets, np.int64)
    lead = _c(lead, np.int8)
    n = len(offsets) - 1
    best = np.empty(n, dtype=np.int32)
    if len(data) == 0:
        data = np.zeros(1, dtype=np.uint8)
    k.dg_script(_ptr(data, _P_U8), int(offsets[-1]) if n else 0, _ptr(offsets, _P_I64), n,
                _ptr(lead, ctypes.POINTER(ctypes.c_int8)), _ptr(best, ctypes.POINTER(ctypes.c_int32)))
    return best


def clip(
    k: Any, data: np.ndarray, offsets: np.ndarray, head: int, tail: int, sep: bytes
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(bytes, offsets, rows clipped)`` of base.clip (``tail`` > 0)."""
    data, offsets = _c(data, np.uint8), _c(offsets, np.int64)
    n = len(offsets) - 1
    sep_arr = np.frombuffer(sep, dtype=np.uint8).copy()
    out = np.empty(len(data) + n * len(sep) + 1, dtype=np.uint8)
    new_off = np.empty(n + 1, dtype=np.int64)
    if len(data) == 0:
        data = np.zeros(1, dtype=np.uint8)
    m = k.dg_clip(_ptr(data, _P_U8), _ptr(offsets, _P_I64), n, int(head), int(tail),
                  _ptr(sep_arr, _P_U8), len(sep), _ptr(out, _P_U8), _ptr(new_off, _P_I64))
    return out[: new_off[-1]], new_off, int(m)
