"""Deterministic hashes, prompt skeletons and MinHash LSH band keys, vectorised with numpy.

**Hashes.** Python's ``hash()`` is salted per process, so every hash here is computed from the
UTF-8 bytes: a polynomial hash ``sum((b_j + 1) * P**(j - start))`` modulo 2**64 per segment
(prefix sums over the whole byte buffer, blocks of rows to bound memory; ``P`` is odd so
``P**-start`` exists), finished with SplitMix64 and the length. Same bytes → same 64-bit value
on every process and machine. ``prompt_hash`` hashes the lower-cased, whitespace-collapsed
prompt (prompts longer than the 4,500-character scan window: its head and tail plus its
length); ``system_hash`` the whole normalised system prompt; 0 means none.

**Skeleton** (the design). A prompt's skeleton is its text with slot values abstracted and
the variable payload cut away:

1. clip to the first 1,000 and last 600 characters (the windows below need a few dozen tokens
   at each end; the margin leaves room for slot values), lower-case;
2. fenced code blocks, inline code, URLs, e-mails and quoted strings (``"…"``, ``“…”``,
   ``«…»``, ``「…」``) become the slot token ``§`` (:data:`SLOT_PATTERNS`, one RE2 pass each);
3. tokenize on the UTF-8 bytes (:func:`distillguard.signals.textops.tokenize`): runs of
   letters/digits of any script; each CJK ideograph or kana is its own token; punctuation,
   symbols and emoji separate. A token that contains a digit (numbers, dates, ids, versions)
   is the slot token too;
4. the skeleton keeps the **first and last** ``window_tokens`` tokens (default 24). Wrappers
   ("Solve the following problem, think step by step …", "… Answer in JSON with fields
   question and answer") live at the start and the end; the task payload in the middle varies
   per request and is cut away in long prompts.

``skeleton_hash`` hashes the skeleton's token sequence (head and tail window, positions mixed
in), so slot filling (other numbers, quoted names, code) leaves it unchanged.

**MinHash LSH.** Each window (head, tail) is sketched separately: word ``shingle_size``-grams
(default 3) of its tokens, ``num_perm`` hash functions ``a*x + b mod 2**64`` over the shingle
hashes, minimum per row with ``np.minimum.reduceat``. Each window's first ``bands × rows``
values are cut into ``bands`` bands; a band key mixes the band's values with its band index
(head bands 1..bands, tail bands bands+1..2·bands), so ``lsh_bands`` has ``2 × bands`` uint64
keys per prompt, plus two *edge keys* (exact hashes of the first and last ``edge_tokens``
tokens, band indices 2·bands+1 and +2) for prompts longer than ``2 × edge_tokens`` tokens: a
thin wrapper around a long payload leaves too few wrapper shingles in a window for MinHash,
but its edges are identical. Two prompts that share a wrapper share a head window, a tail
window or an edge and, with high probability, at least one band key, even when the payload
(and hence the exact skeleton) differs and when the wrapper was paraphrased a little. With
bands=16 and rows=4, a window pair of Jaccard 0.5 meets in ≥ 1 band with probability
1 - (1 - 0.5**4)**16 ≈ 0.64, 0.3 with 0.09, 0.15 with 0.0008.

Measured on tests/signals/test_templates.py (2,000 prompts: five wrappers, some paraphrased,
around real gsm8k problems, plus 1,500 ShareGPT prompts): six templates hold 100% of the
wrapped prompts, each 100% one wrapper (the two JSON paraphrases stay apart); 90% of the
ShareGPT prompts are singletons; no benign prompt joins an attack template.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ckernels
from .base import SMALL_BATCH, as_array, clip, compile_pattern, fill_empty
from .textops import collapse_ws, string_buffers, tokenize

_SHINGLES_PER_BLOCK = 1024  # shingles per MinHash block: 512 KB buffers, in L2 (measured best)
SKELETON_HEAD_CHARS = 1000  # the windows need the first/last few dozen tokens only;
SKELETON_TAIL_CHARS = 600  # margins leave room for slot values (code, quotes)
_P = np.uint64(0x100000001B3)  # FNV prime, odd: a polynomial base mod 2**64
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
SLOT = "§"

# Slot values, applied in this order (each is one RE2 pass; one big alternation of them is
# 10x slower in RE2). Numbers and other tokens containing a digit become the slot token in
# the tokenizer instead (cheaper than a regex pass).
SLOT_PATTERNS: tuple[str, ...] = (
    "(?s:```.*?```)",  # fenced code block
    "`[^`\n]+`",  # inline code
    "(?:https?|ftp)://[^ \t\r\n\"'<>)]+|www\\.[^ \t\r\n\"'<>)]+",  # URLs
    "[a-z0-9._%+-]+@[a-z0-9-]+(?:\\.[a-z0-9-]+)+",  # e-mail
    '"[^"\n]+"|“[^”\n]+”|«[^»\n]+»|「[^」\n]+」',  # quoted strings
)
# Every slot value holds one of these (a backtick, "://", "www.", "@" or an opening quote):
# a text without any is left unchanged by SLOT_PATTERNS.
SLOT_TRIGGER = '[`"@“«「]|://|www\\.'
SLOT_PATTERN = "|".join(f"(?:{p})" for p in SLOT_PATTERNS)  # documentation / SQL engines


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    if not isinstance(x, np.ndarray) or x.ndim == 0:  # scalars warn on overflow, arrays don't
        with np.errstate(over="ignore"):
            return splitmix64(np.atleast_1d(np.asarray(x, dtype=np.uint64)))[0]
    z = x.astype(np.uint64, copy=True)
    z += _GOLD
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


_POW: dict[int, np.ndarray] = {}
_BLOCK_BYTES = 1 << 22


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """base**0 .. base**(n-1) mod 2**64, cached (blocks bound n to a few MB)."""
    key = int(base)
    cached = _POW.get(key)
    if cached is None or len(cached) < n:
        size = max(n, _BLOCK_BYTES + 1)  # one table serves every block: built once
        with np.errstate(over="ignore"):
            cached = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, base)], dtype=np.uint64)
        _POW[key] = cached
    return cached[:n]


_P_INV = np.uint64(pow(int(_P), -1, 1 << 64))


def segment_hashes(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """64-bit hash of each byte segment ``data[offsets[i]:offsets[i+1]]``; empty → 0.

    ``sum((b_j + 1) * P**(j - start))`` mod 2**64 from prefix sums over blocks of rows
    (``P`` odd, so ``P**-start`` exists mod 2**64), then SplitMix64 with the length.
    """
    n = len(offsets) - 1
    out = np.zeros(n, dtype=np.uint64)
    lengths = np.diff(offsets)
    if n == 0 or len(data) == 0:
        return out
    k = ckernels.lib()
    if k is not None:
        return ckernels.segment_hashes(k, data, offsets)
    r0 = 0
    while r0 < n:
        # rows [r0, r1) whose bytes fit one block (at least one row)
        r1 = int(np.searchsorted(offsets, offsets[r0] + _BLOCK_BYTES, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n)
        lo, hi = int(offsets[r0]), int(offsets[r1])
        if hi > lo:
            with np.errstate(over="ignore"):
                s = _powers(_P, hi - lo) * (data[lo:hi].astype(np.uint64) + np.uint64(1))
                np.cumsum(s, out=s)
                starts = offsets[r0:r1] - lo
                ends = offsets[r0 + 1 : r1 + 1] - lo
                tot = s[np.maximum(ends - 1, 0)] - np.where(
                    starts > 0, s[np.maximum(starts - 1, 0)], np.uint64(0)
                )
                h = tot * _powers(_P_INV, hi - lo + 1)[starts]
                out[r0:r1] = splitmix64(h ^ (lengths[r0:r1].astype(np.uint64) * _GOLD))
        r0 = r1
    out[out == 0] = np.uint64(1)  # 0 is reserved for "no text"
    out[lengths == 0] = 0
    return out


def text_hash(text: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Hash of each text after lower-casing and collapsing ASCII whitespace; blank → 0."""
    arr = collapse_ws(pc.utf8_lower(fill_empty(as_array(text))))
    data, offsets = string_buffers(arr)
    return segment_hashes(data, offsets)


# ---- skeleton --------------------------------------------------------------------------------
_PY_SLOTS: list = []


def _slot_repl(_match: object) -> str:
    return f" {SLOT} "


def normalize_skeleton_text(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Clip, lower-case and replace slot values by `` § `` (see :data:`SLOT_PATTERNS`)."""
    arr = clip(as_array(text), SKELETON_HEAD_CHARS, SKELETON_TAIL_CHARS)
    arr = pc.utf8_lower(fill_empty(arr))
    if len(arr) <= SMALL_BATCH:  # pc regexes compile per call; these are precompiled
        if not _PY_SLOTS:
            _PY_SLOTS.extend(compile_pattern(p) for p in SLOT_PATTERNS)
        out = []
        for t in arr.to_pylist():
            for pat in _PY_SLOTS:
                # a function, not a string: google-re2 mis-encodes non-ASCII replacements
                t = pat.sub(_slot_repl, t)
            out.append(t)
        return pa.array(out, pa.string())
    # Only rows holding a character every slot pattern needs can change: the passes run on
    # those (a third of the simulator's prompts) and the rest are kept as they are.
    rows = np.flatnonzero(
        pc.match_substring_regex(arr, SLOT_TRIGGER).to_numpy(zero_copy_only=False)
    )
    if len(rows) == 0:
        return arr
    sub = arr.take(pa.array(rows)) if len(rows) < len(arr) else arr
    for p in SLOT_PATTERNS:
        sub = pc.replace_substring_regex(sub, p, f" {SLOT} ")
    if len(rows) == len(arr):
        return sub
    idx = np.arange(len(arr), dtype=np.int64)
    idx[rows] = len(arr) + np.arange(len(rows))
    return pa.concat_arrays([arr, sub]).take(pa.array(idx))


@dataclass
class Sketch:
    """Per-row skeleton hash (uint64, 0 = no tokens) and LSH band keys (list<uint64>)."""

    skeleton_hash: np.ndarray
    lsh_bands: pa.ListArray
    n_tokens: np.ndarray


_SLOT_HASH = None


def _token_hashes(norm: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Flattened token hashes and per-row token offsets of normalised text; tokens holding
    a digit (numbers, dates, ids) hash as the slot token."""
    global _SLOT_HASH
    if _SLOT_HASH is None:
        b = np.frombuffer(SLOT.encode(), dtype=np.uint8)
        _SLOT_HASH = segment_hashes(b, np.array([0, len(b)]))[0]
    k = ckernels.lib()
    if k is not None:
        return ckernels.token_hashes(k, *string_buffers(norm), int(_SLOT_HASH))
    data, tok_off, row_off = tokenize(norm)
    hashes = segment_hashes(data, tok_off)
    if len(data):
        digit = ((data >= 0x30) & (data <= 0x39)).astype(np.uint8)
        has_digit = np.maximum.reduceat(digit, tok_off[:-1]) if len(tok_off) > 1 else digit[:0]
        hashes[has_digit.astype(bool)] = _SLOT_HASH
    return hashes, row_off


def _perm_params(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    seeds = splitmix64(np.arange(1, 2 * num_perm + 1, dtype=np.uint64) * np.uint64(7919))
    a = seeds[:num_perm] | np.uint64(1)
    return a, seeds[num_perm:]


def minhash(shingles: np.ndarray, first: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per group of consecutive shingles (group g starts at ``first[g]``), the minimum over
    its shingles of ``h = x*a + b; h ^ (h >> 32)`` for every permutation ``(a, b)``.

    Works in blocks of about :data:`_SHINGLES_PER_BLOCK` shingles with two reused buffers:
    the (shingles × permutations) temporaries stay in the CPU cache and no fresh pages are
    faulted in per block (fresh ~20 MB temporaries made this 2× slower).
    """
    n_groups, n_perm = len(first), len(a)
    mins = np.empty((n_groups, n_perm), dtype=np.uint64)
    bounds = np.r_[first, len(shingles)]
    cap = max(_SHINGLES_PER_BLOCK, int(np.diff(bounds).max(initial=0)))
    buf = np.empty((cap, n_perm), dtype=np.uint64)
    tmp = np.empty((cap, n_perm), dtype=np.uint64)
    shift = np.uint64(32)
    g0 = 0
    with np.errstate(over="ignore"):
        while g0 < n_groups:
            g1 = int(np.searchsorted(bounds, bounds[g0] + cap, side="right")) - 1
            g1 = min(max(g1, g0 + 1), n_groups)
            lo, hi = bounds[g0], bounds[g1]
            h, t = buf[: hi - lo], tmp[: hi - lo]
            np.multiply(shingles[lo:hi, None], a[None, :], out=h)
            h += b[None, :]
            np.right_shift(h, shift, out=t)
            h ^= t
            mins[g0:g1] = np.minimum.reduceat(h, first[g0:g1] - lo, axis=0)
            g0 = g1
    return mins


def sketch(
    text: pa.Array | pa.ChunkedArray,
    *,
    num_perm: int = 64,
    bands: int = 16,
    rows: int = 4,
    shingle_size: int = 3,
    window_tokens: int = 24,
    edge_tokens: int = 8,
) -> Sketch:
    """Skeleton hashes and LSH band keys for a batch of prompts (see module doc)."""
    norm = normalize_skeleton_text(text)
    th, row_off = _token_hashes(norm)
    k = ckernels.lib()
    if k is not None and bands * rows <= ckernels.MAX_PERMS and bands <= ckernels.MAX_BANDS:
        return _sketch_c(k, th, row_off, num_perm=num_perm, bands=bands, rows=rows,
                         shingle_size=shingle_size, window_tokens=window_tokens,
                         edge_tokens=edge_tokens)
    return _sketch_numpy(th, row_off, num_perm=num_perm, bands=bands, rows=rows,
                         shingle_size=shingle_size, window_tokens=window_tokens,
                         edge_tokens=edge_tokens)


def _lsh_lists(keys: np.ndarray, has_tok: np.ndarray, has_edge: np.ndarray,
               n_keys: int) -> pa.ListArray:
    """Per row its ``n_keys`` band keys (rows with tokens) then its two edge keys (rows that
    have them), as a list array; ``keys`` is rows × (n_keys + 2)."""
    n = len(has_tok)
    per_row = np.where(has_tok, n_keys, 0) + np.where(has_edge, 2, 0)
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[1:] = np.cumsum(per_row)
    mask = np.zeros((n, n_keys + 2), dtype=bool)
    mask[has_tok, :n_keys] = True
    mask[has_edge, n_keys:] = True
    flat = keys[mask]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.uint64()))


def _sketch_c(k, th: np.ndarray, row_off: np.ndarray, *, num_perm: int, bands: int, rows: int,
              shingle_size: int, window_tokens: int, edge_tokens: int) -> Sketch:
    """:func:`sketch` after tokenizing, one pass per row in the C kernel."""
    a, b = _perm_params(num_perm)
    a, b = a[: bands * rows], b[: bands * rows]
    skel, keys, has_edge = ckernels.sketch_rows(
        k, th, row_off, window_tokens=window_tokens, shingle_size=shingle_size, bands=bands,
        rows=rows, edge_tokens=edge_tokens, a=a, b=b,
    )
    ntok = np.diff(row_off)
    return Sketch(skel, _lsh_lists(keys, ntok > 0, has_edge, 2 * bands), ntok)


def _sketch_numpy(th: np.ndarray, row_off: np.ndarray, *, num_perm: int, bands: int,
                  rows: int, shingle_size: int, window_tokens: int, edge_tokens: int) -> Sketch:
    """:func:`sketch` after tokenizing, in numpy passes (without the C kernels)."""
    n = len(row_off) - 1
    ntok = np.diff(row_off)
    row_of_tok = np.repeat(np.arange(n, dtype=np.int64), ntok)
    pos = np.arange(len(th), dtype=np.int64) - row_off[:-1][row_of_tok]
    w = int(window_tokens)
    tail_start = np.maximum(ntok - w, 0)[row_of_tok]
    in_head = pos < w
    in_tail = pos >= tail_start

    with np.errstate(over="ignore"):
        # skeleton hash: order-aware sum over head and tail tokens (window id mixed in)
        tag_head = splitmix64(th ^ (pos.astype(np.uint64) * _GOLD))
        tag_tail = splitmix64(th ^ ((pos - tail_start).astype(np.uint64) * _MIX1 + _MIX2))
        contrib = np.where(in_head, tag_head, np.uint64(0)) + np.where(
            in_tail & (ntok[row_of_tok] > w), tag_tail, np.uint64(0)
        )
        skel = np.zeros(n, dtype=np.uint64)
        has = np.flatnonzero(ntok > 0)
        if len(has):
            skel[has] = splitmix64(np.add.reduceat(contrib, row_off[:-1][has]))
            skel[has] = np.where(skel[has] == 0, np.uint64(1), skel[has])

    k = int(shingle_size)
    n_keys = 2 * bands
    keys = np.zeros((n, n_keys), dtype=np.uint64)
    a, b = _perm_params(num_perm)
    a, b = a[: bands * rows], b[: bands * rows]
    # A prompt of at most ``w`` tokens has identical head and tail windows: its tail sketch
    # is the head sketch (re-keyed with the tail band indices below), not computed twice.
    short_row = ntok <= w
    head_raw = np.zeros((n, bands), dtype=np.uint64)
    for win, (mask, wstart_tok) in enumerate(
        (
            (in_head, np.zeros(len(th), dtype=np.int64)),
            (in_tail & ~short_row[row_of_tok], tail_start),
        )
    ):
        if not len(th):
            break
        wlen = np.minimum(ntok, w)[row_of_tok]
        rel = pos - wstart_tok
        span = np.minimum(k, wlen)
        start_ok = mask & (rel + span <= wlen)
        idx = np.flatnonzero(start_ok)
        if not len(idx):
            continue
        sh = np.zeros(len(idx), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for i in range(k):
                use = i < span[idx]
                j = np.minimum(idx + i, len(th) - 1)
                sh = np.where(use, splitmix64(sh ^ th[j] ^ np.uint64(i + 1)), sh)
            rows_of_sh = row_of_tok[idx]
            # shingles are in row order; one min per row via reduceat
            first = np.flatnonzero(np.r_[True, rows_of_sh[1:] != rows_of_sh[:-1]])
            rr = rows_of_sh[first]
            band_vals = minhash(sh, first, a, b).reshape(len(rr), bands, rows)
            key = np.zeros((len(rr), bands), dtype=np.uint64)
            for r in range(rows):
                key = splitmix64(key ^ band_vals[:, :, r])
            band_idx = np.arange(bands, dtype=np.uint64) + np.uint64(win * bands + 1)
            keys[rr, win * bands : (win + 1) * bands] = splitmix64(key ^ (band_idx * _MIX2))
            if win == 0:
                head_raw[rr] = key
    short = np.flatnonzero(short_row & (ntok > 0))
    if len(short):
        with np.errstate(over="ignore"):
            band_idx = np.arange(bands, dtype=np.uint64) + np.uint64(bands + 1)
            keys[short, bands:] = splitmix64(head_raw[short] ^ (band_idx * _MIX2))
    # Edge keys: exact hashes of the first and last ``edge_tokens`` tokens of prompts long
    # enough to have a middle. A thin wrapper around a long payload ("### Instruction: solve
    # the problem below ### Input: {payload} ### Response: let's think step by step") leaves
    # too few wrapper shingles in a 24-token window for MinHash, but its edges are identical.
    e = int(edge_tokens)
    has_edge = ntok > 2 * e if e > 0 else np.zeros(n, dtype=bool)
    edge_keys = np.zeros((n, 2), dtype=np.uint64)
    if has_edge.any():
        with np.errstate(over="ignore"):
            rel_tail = pos - (ntok[row_of_tok] - e)
            for col, (sel, rpos) in enumerate(((pos < e, pos), (rel_tail >= 0, rel_tail))):
                sel = sel & has_edge[row_of_tok]
                c = np.where(sel, splitmix64(th ^ (rpos.astype(np.uint64) * _GOLD)), np.uint64(0))
                rows_e = np.flatnonzero(has_edge)
                sums = np.add.reduceat(c, row_off[:-1][rows_e]) if len(c) else c
                band_idx = np.uint64(2 * bands + 1 + col)
                edge_keys[rows_e, col] = splitmix64(splitmix64(sums) ^ (band_idx * _MIX2))
    full = np.concatenate([keys, edge_keys], axis=1)
    return Sketch(skel, _lsh_lists(full, ntok > 0, has_edge, n_keys), ntok)
