"""Dominant writing system of a text: latin, cjk, cyrillic, arabic, devanagari, hangul, other.

Vectorised over the UTF-8 bytes of the whole batch with numpy: each character is classified
by its lead byte (and, where a block boundary needs it, its second byte), then counted per row
with one ``np.bincount``. Japanese kana count as ``cjk``. Texts without letters of these
scripts (digits, emoji, Greek, Hebrew, Thai, empty) are ``other``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .base import SMALL_BATCH, as_array, clip
from .textops import string_buffers

SCRIPTS: tuple[str, ...] = ("latin", "cjk", "cyrillic", "arabic", "devanagari", "hangul", "other")
_OTHER = len(SCRIPTS) - 1

# Class of each lead byte when the class does not depend on the second byte.
_LEAD = np.full(256, _OTHER, dtype=np.int8)
_LEAD[0x41:0x5B] = 0
_LEAD[0x61:0x7B] = 0
_LEAD[0xC3:0xCA] = 0  # U+00C0..U+027F Latin-1 letters, Latin Extended-A/B
_LEAD[0xD0:0xD5] = 2  # U+0400..U+053F Cyrillic (+ supplement)
_LEAD[0xD8:0xDC] = 3  # U+0600..U+06FF Arabic
_LEAD[0xDD] = 3  # U+0740..U+077F Arabic supplement
_LEAD[0xE4:0xEA] = 1  # U+4000..U+9FFF CJK unified ideographs
_LEAD[0xEB:0xED] = 5  # U+B000..U+CFFF Hangul syllables


def byte_classes(data: np.ndarray) -> np.ndarray:
    """Script class per byte: the class of its character on lead bytes, -1 elsewhere."""
    cls = _LEAD[data].astype(np.int8)
    nxt = np.empty_like(data)
    if len(data):
        nxt[:-1] = data[1:]
        nxt[-1] = 0
    # Blocks split inside one lead byte: U+0900..U+097F Devanagari is E0 A4/A5;
    # U+3040..U+3FFF kana + CJK ext A sits in E3 81..BF; Hangul starts at U+AC00 (EA B0) and
    # ends at U+D7AF (ED 9E).
    cls[(data == 0xE0) & ((nxt == 0xA4) | (nxt == 0xA5))] = 4
    cls[(data == 0xE3) & (nxt >= 0x81)] = 1
    cls[(data == 0xEA) & (nxt >= 0xB0)] = 5
    cls[(data == 0xED) & (nxt <= 0x9E)] = 5
    cls[(data & 0xC0) == 0x80] = -1  # continuation bytes
    return cls


# (first code point, last code point, class) — the code-point form of byte_classes
_RANGES = (
    (0x41, 0x5A, 0), (0x61, 0x7A, 0), (0xC0, 0x27F, 0), (0x400, 0x53F, 2), (0x600, 0x6FF, 3),
    (0x740, 0x77F, 3), (0x900, 0x97F, 4), (0x3040, 0x9FFF, 1), (0xAC00, 0xD7BF, 5),
)


def _script_of(text: str | None) -> str:
    counts = [0] * _OTHER
    for ch in text or "":
        o = ord(ch)
        for lo, hi, c in _RANGES:
            if lo <= o <= hi:
                counts[c] += 1
                break
    best = max(range(_OTHER), key=lambda c: (counts[c], -c))
    return SCRIPTS[best] if counts[best] else SCRIPTS[_OTHER]


def detect_script(text: pa.Array | pa.ChunkedArray, clip_text: bool = True) -> pa.StringArray:
    """Dominant script per row (ties: the order of :data:`SCRIPTS`)."""
    arr = as_array(text)
    if clip_text:
        arr = clip(arr, 2000, 500)
    n = len(arr)
    if n == 0:
        return pa.array([], pa.string())
    if n <= SMALL_BATCH:  # the same classes per character in Python: cheaper for a few rows
        return pa.array([_script_of(t) for t in arr.to_pylist()], pa.string())
    data, offsets = string_buffers(arr)
    from . import ckernels

    k = ckernels.lib()
    if k is not None:
        best = ckernels.script(k, data, offsets, _LEAD)
        return pa.DictionaryArray.from_arrays(pa.array(best), pa.array(SCRIPTS)).cast(pa.string())
    cls = byte_classes(data)
    # one bincount over (row, class) of the letters, not one pass per class
    pos = np.flatnonzero((cls >= 0) & (cls < _OTHER))
    row = np.searchsorted(offsets, pos, side="right") - 1  # empty rows share an offset
    counts = np.bincount(row * _OTHER + cls[pos], minlength=n * _OTHER).reshape(n, _OTHER)
    best = counts.argmax(axis=1)
    best[counts.max(axis=1) == 0] = _OTHER
    return pa.DictionaryArray.from_arrays(pa.array(best.astype(np.int32)),
                                          pa.array(SCRIPTS)).cast(pa.string())
