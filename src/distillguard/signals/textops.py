"""Byte-level text operations on whole Arrow string arrays with numpy (no loop per row).

RE2 through ``pyarrow.compute`` costs a few µs per row and call plus a compile per call; the
steps here are simple enough to run directly on the UTF-8 buffer: whitespace collapsing and
the word tokenizer used for skeletons. Only ASCII whitespace and a fixed list of punctuation
blocks are treated specially, so results are identical on every machine.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

_WS = np.zeros(256, dtype=bool)
_WS[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20]] = True

_ASCII_WS = "\t\n\x0b\x0c\r "
_WS_RUN = re.compile("[\t\n\x0b\x0c\r ]+")
SMALL_ROWS = 16  # = base.SMALL_BATCH (not imported: base imports this module)

# Character kinds for the tokenizer.
SEP, WORD, CJK = 0, 1, 2


def _idx_dtype(n: int) -> type:
    # int32 cumulative sums are ~5x faster than bool -> int64 ones
    return np.int32 if n < 2**31 - 1 else np.int64


def string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(data, offsets)`` of a string array as numpy (offsets rebased to start at 0)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    n = len(arr)
    bufs = arr.buffers()
    if n == 0 or bufs[1] is None:
        return np.zeros(0, dtype=np.uint8), np.zeros(n + 1, dtype=np.int64)
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    start, end = int(offsets[0]), int(offsets[-1])
    if bufs[2] is None or end == start:
        return np.zeros(0, dtype=np.uint8), np.zeros(n + 1, dtype=np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8, count=end - start, offset=start)
    return data, offsets.astype(np.int64) - start


def from_buffers(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray | None = None
                 ) -> pa.StringArray:
    """A string array from numpy bytes and offsets (nulls where ``valid`` is False)."""
    n = len(offsets) - 1
    if valid is not None and not valid.all():
        null_count = int((~valid).sum())
        mask = pa.py_buffer(np.packbits(valid.astype(np.uint8), bitorder="little").tobytes())
        return pa.StringArray.from_buffers(
            n, pa.py_buffer(offsets.astype(np.int32).tobytes()),
            pa.py_buffer(np.ascontiguousarray(data).tobytes()), mask, null_count,
        )
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets.astype(np.int32).tobytes()),
        pa.py_buffer(np.ascontiguousarray(data).tobytes()),
    )


def per_row_sum(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-row count of True bytes (cumulative sums read at the row offsets; no row ids)."""
    c = np.zeros(len(mask) + 1, dtype=np.int32 if len(mask) < 2**31 else np.int64)
    np.cumsum(mask.view(np.uint8), out=c[1:])
    return c[offsets[1:]] - c[offsets[:-1]]


def collapse_ws(arr: pa.Array) -> pa.StringArray:
    """Runs of ASCII whitespace → one space; leading/trailing whitespace removed; nulls → ""."""
    if len(arr) <= SMALL_ROWS:  # numpy's per-call overhead dominates a handful of rows
        return pa.array([_WS_RUN.sub(" ", t).strip(_ASCII_WS) if t else ""
                         for t in arr.to_pylist()], pa.string())
    data, offsets = string_buffers(arr)
    n = len(offsets) - 1
    if len(data) == 0:
        return pa.array([""] * n, pa.string())
    from . import ckernels  # imports multimatch, which imports this module

    k = ckernels.lib()
    if k is not None:
        return from_buffers(*ckernels.collapse_ws(k, data, offsets))
    return _collapse_ws_numpy(data, offsets)


def _collapse_ws_numpy(data: np.ndarray, offsets: np.ndarray) -> pa.StringArray:
    """:func:`collapse_ws` of non-empty buffers in numpy passes (without the C kernels)."""
    n = len(offsets) - 1
    nonws = ~_WS[data]
    prev_nonws = np.empty_like(nonws)
    prev_nonws[0] = False
    prev_nonws[1:] = nonws[:-1]
    prev_nonws[offsets[:-1][offsets[:-1] < offsets[1:]]] = False  # row start
    keep = nonws | prev_nonws  # a whitespace byte is kept only as the first of its run
    out = data[keep]
    if not nonws.any():  # only whitespace (a batch without prompt text): nothing to index
        return pa.array([""] * n, pa.string())
    out[~nonws[keep]] = 0x20
    k = np.zeros(len(data) + 1, dtype=_idx_dtype(len(data)))
    np.cumsum(keep.view(np.uint8), out=k[1:])
    new_off = k[offsets]
    # a kept trailing space (row ended in whitespace) is dropped
    ends = new_off[1:]
    trail = (ends > new_off[:-1]) & (out[np.maximum(ends - 1, 0)] == 0x20)
    if trail.any():
        keep2 = np.ones(len(out), dtype=bool)
        keep2[ends[trail] - 1] = False
        out = out[keep2]
        new_off = new_off - np.concatenate([[0], np.cumsum(trail)])
    return from_buffers(out, new_off)


# Kind of each byte value where the lead byte alone decides: ASCII letters and digits are
# WORD, other ASCII is SEP; U+2000..U+2FFF punctuation, symbols, arrows, math, box drawing
# (E2 ..) is SEP; CJK ideographs (E4..E9 ..) are CJK; 4-byte characters (emoji, other
# symbols) are SEP. Continuation bytes get their character's kind later.
_KIND = np.full(256, WORD, dtype=np.int8)
_KIND[:0x80] = SEP
_KIND[0x30:0x3A] = WORD
_KIND[0x41:0x5B] = WORD
_KIND[0x61:0x7B] = WORD
_KIND[0xE2] = SEP
_KIND[0xE4:0xEA] = CJK
_KIND[0xF0:] = SEP
# Lead bytes whose kind depends on the next byte(s): rare outside their scripts, so they are
# fixed up on their positions only (see _special_kinds).
_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[[0xC2, 0xC3, 0xD8, 0xE0, 0xE3, 0xEF]] = True


def _special_kinds(lead: np.ndarray, nxt: np.ndarray, nxt2: np.ndarray) -> np.ndarray:
    """Kinds of the characters whose lead byte is in ``_SPECIAL``."""
    kind = np.full(len(lead), WORD, dtype=np.int8)
    # Latin-1 punctuation and symbols U+0080..U+00BF except § (C2 A7), × and ÷
    kind[(lead == 0xC2) & (nxt != 0xA7)] = SEP
    kind[(lead == 0xC3) & ((nxt == 0x97) | (nxt == 0xB7))] = SEP
    # Arabic comma, semicolon, question mark; Devanagari danda
    kind[(lead == 0xD8) & ((nxt == 0x8C) | (nxt == 0x9B) | (nxt == 0x9F))] = SEP
    kind[(lead == 0xE0) & (nxt == 0xA5) & ((nxt2 == 0xA4) | (nxt2 == 0xA5))] = SEP
    # U+3000..U+303F CJK punctuation; kana and CJK ideographs are one token per character
    kind[(lead == 0xE3) & (nxt == 0x80)] = SEP
    kind[(lead == 0xE3) & (nxt >= 0x81)] = CJK
    # fullwidth forms, specials
    kind[(lead == 0xEF) & ((nxt == 0xBC) | (nxt == 0xBD) | (nxt == 0xBF))] = SEP
    return kind


def char_kinds(data: np.ndarray) -> np.ndarray:
    """Tokenizer kind (SEP, WORD, CJK) of the character starting at each byte (continuation
    bytes get the kind of their character).

    One table lookup per byte, then fix-ups on the few lead bytes that need the next byte
    (the former mask-per-rule version made ~15 passes over the buffer)."""
    n = len(data)
    kind = _KIND[data]
    pos = np.flatnonzero(_SPECIAL[data])
    if len(pos):
        padded = np.concatenate([data, np.zeros(2, dtype=np.uint8)])  # past the end reads 0
        kind[pos] = _special_kinds(data[pos], padded[pos + 1], padded[pos + 2])
    # continuation bytes inherit the kind of their lead byte
    start = (data & 0xC0) != 0x80
    char_id = np.cumsum(start.view(np.uint8), dtype=_idx_dtype(n)) - 1
    return kind[np.flatnonzero(start)][char_id]


def tokenize(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word tokens of (lower-cased) text: ``(token_bytes, token_offsets, row_token_offsets)``.

    A token is a run of letter/digit characters of any script; each CJK ideograph or kana
    is its own token; everything else separates tokens.
    """
    data, offsets = string_buffers(arr)
    n = len(offsets) - 1
    if len(data) == 0:
        return data, np.zeros(1, np.int64), np.zeros(n + 1, np.int64)
    kind = char_kinds(data)
    start = (data & 0xC0) != 0x80
    prev_kind = np.empty_like(kind)
    prev_kind[0] = SEP
    prev_kind[1:] = kind[:-1]
    # kind of the previous *character*: for a lead byte the previous byte belongs to it
    row_start = np.zeros(len(data), dtype=bool)
    row_start[offsets[:-1][offsets[:-1] < offsets[1:]]] = True
    tok_start = start & (kind != SEP) & (
        row_start | (prev_kind == SEP) | (kind == CJK) | (prev_kind == CJK)
    )
    keep = kind != SEP
    comp = data[keep]
    pos_in_comp = np.cumsum(keep.view(np.uint8), dtype=_idx_dtype(len(keep))) - 1
    starts = pos_in_comp[tok_start]
    tok_off = np.concatenate([starts, [len(comp)]]).astype(np.int64)
    ntok = per_row_sum(tok_start, offsets)
    row_tok_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(ntok, out=row_tok_off[1:])
    return comp, tok_off, row_tok_off
