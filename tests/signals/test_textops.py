"""The byte-level tokenizer's character kinds against the rule-per-mask reference."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa

from distillguard.signals.textops import CJK, SEP, WORD, char_kinds, string_buffers, tokenize


def reference_char_kinds(data: np.ndarray) -> np.ndarray:
    """The tokenizer's rules as they were written before issue 15: one mask per rule."""
    n = len(data)
    nxt = np.zeros(n, dtype=np.uint8)
    nxt2 = np.zeros(n, dtype=np.uint8)
    if n > 1:
        nxt[:-1] = data[1:]
    if n > 2:
        nxt2[:-2] = data[2:]
    kind = np.full(n, WORD, dtype=np.int8)
    alnum = ((data >= 0x30) & (data <= 0x39)) | ((data >= 0x61) & (data <= 0x7A)) | (
        (data >= 0x41) & (data <= 0x5A))
    kind[(data < 0x80) & ~alnum] = SEP
    kind[(data == 0xC2) & (nxt != 0xA7)] = SEP
    kind[(data == 0xC3) & ((nxt == 0x97) | (nxt == 0xB7))] = SEP
    kind[(data == 0xD8) & ((nxt == 0x8C) | (nxt == 0x9B) | (nxt == 0x9F))] = SEP
    kind[(data == 0xE0) & (nxt == 0xA5) & ((nxt2 == 0xA4) | (nxt2 == 0xA5))] = SEP
    kind[data == 0xE2] = SEP
    kind[(data == 0xE3) & (nxt == 0x80)] = SEP
    kind[(data == 0xE3) & (nxt >= 0x81)] = CJK
    kind[(data >= 0xE4) & (data <= 0xE9)] = CJK
    kind[(data == 0xEF) & ((nxt == 0xBC) | (nxt == 0xBD) | (nxt == 0xBF))] = SEP
    kind[data >= 0xF0] = SEP
    start = (data & 0xC0) != 0x80
    char_id = np.cumsum(start.view(np.uint8)) - 1
    return kind[np.flatnonzero(start)][char_id]


# Code points around every boundary the rules draw, plus ordinary letters of many scripts.
EDGES = [0x30, 0x39, 0x41, 0x5A, 0x5F, 0x61, 0x7A, 0x80, 0xA6, 0xA7, 0xA8, 0xBF, 0xC0, 0xD7,
         0xD8, 0xF7, 0xFF, 0x60C, 0x61B, 0x61F, 0x620, 0x964, 0x965, 0x966, 0x1FFF, 0x2000,
         0x2FFF, 0x3000, 0x303F, 0x3040, 0x30A2, 0x4E00, 0x9FFF, 0xA000, 0xAC00, 0xD7A3,
         0xFF01, 0xFF5E, 0xFF61, 0xFFFD, 0x1F600, 0x10000]


def test_char_kinds_equal_the_reference_on_every_boundary() -> None:
    rng = random.Random(5)
    letters = "abcXYZ 09_-é§×÷،؛؟।॥—“”«»「」。、カ漢한фبअ😀"
    texts = ["".join(rng.choice([chr(rng.choice(EDGES)), rng.choice(letters)])
                     for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    texts += [chr(c) for c in EDGES] + ["", "\xc2", "ऀ", "\u0965"]
    data, _ = string_buffers(pa.array(texts))
    assert (char_kinds(data) == reference_char_kinds(data)).all()
    assert len(np.unique(char_kinds(data))) == 3


def test_tokenize_splits_words_cjk_and_punctuation() -> None:
    data, tok_off, row_off = tokenize(pa.array(["hello, world 42", "漢字テスト", ""]))
    toks = [bytes(data[a:b]).decode() for a, b in zip(tok_off[:-1], tok_off[1:], strict=True)]
    assert toks == ["hello", "world", "42", "漢", "字", "テ", "ス", "ト"]
    assert row_off.tolist() == [0, 3, 8, 8]
