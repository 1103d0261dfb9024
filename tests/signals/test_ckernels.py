"""The compiled featurize kernels (``signals/_kernels.c``) against the numpy code, bit for bit.

Each kernel replaces a chain of numpy passes (``textops.collapse_ws``,
``sketch.segment_hashes``, ``sketch._token_hashes``, the per-row part of ``sketch.sketch``);
both paths run here on the same text: edge cases, random Unicode and real prompts, and the
whole featurizer on a simulated world.
"""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from distillguard.contract import TEXT_FEATURE_SCHEMA
from distillguard.signals import ckernels, featurize, sketch, textops

pytestmark = pytest.mark.skipif(ckernels.lib() is None, reason="no C compiler: numpy paths only")

EDGE = [
    "", " ", "\t\n ", "a", " a ", "a  b\t\tc\n", "  lead", "trail  ", "x\x0by\x0cz\rw",
    "Let's think step by step: 2+2?", "日本語のテキスト、です。", "中文,测试 abc123 def",
    "naïve café × ÷ § «quoted» “smart”", "Ελληνικά кириллица العربية، ؟ हिन्दी। ॥",
    "emoji 🙂🙃 mixed", "ｆｕｌｌ　ｗｉｄｔｈ！", "tab\tsep\nnew line", "a1 b2 c3 v1.2.3 2024-01-01",
    "```code block``` `inline` https://x.y/z?q=1 mail@example.com \"quoted\"",
    " ".join(f"w{i} word{i % 7} tok" for i in range(80)),
]


def _random_texts(n: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    alphabet = (
        list("abcdefghijklmnopqrstuvwxyz0123456789 \t\n.,;:!?\"'`§()[]-_/")
        + list("éüß×÷«»“”、。「」ءؤ،؛؟।॥中文日本語かなカナ　！，") + ["🙂", "\x0b", "\r", "\xa0"]
    )
    out: list[str | None] = []
    for _ in range(n):
        if rng.random() < 0.05:
            out.append(None)
            continue
        length = rng.choice([0, 1, 3, 10, 40, 200, 900, 2500])
        out.append("".join(rng.choice(alphabet) for _ in range(length)))
    return out


@pytest.fixture(scope="module")
def texts(benign) -> pa.Array:
    real = [t for ts in benign.values() for t in ts[:400]]
    return pa.array(EDGE + _random_texts(1500, 5) + real, pa.string())


def _numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ckernels, "lib", lambda: None)


def test_collapse_ws(texts, monkeypatch) -> None:
    fast = textops.collapse_ws(texts)
    _numpy(monkeypatch)
    assert fast.equals(textops.collapse_ws(texts))


def test_segment_hashes(texts, monkeypatch) -> None:
    data, offsets = textops.string_buffers(texts)
    fast = sketch.segment_hashes(data, offsets)
    _numpy(monkeypatch)
    np.testing.assert_array_equal(fast, sketch.segment_hashes(data, offsets))


def test_token_hashes(texts, monkeypatch) -> None:
    norm = sketch.normalize_skeleton_text(texts)
    th, off = sketch._token_hashes(norm)
    _numpy(monkeypatch)
    th0, off0 = sketch._token_hashes(norm)
    np.testing.assert_array_equal(off, off0)
    np.testing.assert_array_equal(th, th0)


@pytest.mark.parametrize(
    "params",
    [{}, {"window_tokens": 5, "shingle_size": 2, "edge_tokens": 3},
     {"num_perm": 128, "bands": 32, "rows": 4, "shingle_size": 1, "edge_tokens": 0}],
)
def test_sketch(texts, monkeypatch, params) -> None:
    fast = sketch.sketch(texts, **params)
    _numpy(monkeypatch)
    ref = sketch.sketch(texts, **params)
    np.testing.assert_array_equal(fast.skeleton_hash, ref.skeleton_hash)
    np.testing.assert_array_equal(fast.n_tokens, ref.n_tokens)
    assert fast.lsh_bands.equals(ref.lsh_bands)


def test_featurize_on_a_simulated_world(tiny_data, monkeypatch) -> None:
    import gzip
    import json

    rows = []
    with gzip.open(tiny_data / "requests.jsonl.gz", "rt") as fh:
        for line in fh:
            rec = json.loads(line)
            msgs = rec.get("messages") or []
            user = [m.get("content") for m in msgs if m.get("role") == "user"]
            system = [m.get("content") for m in msgs if m.get("role") == "system"]
            rows.append({
                "prompt_text": user[-1] if user and isinstance(user[-1], str) else None,
                "system_text": system[0] if system and isinstance(system[0], str) else None,
            })
    table = pa.Table.from_pylist(rows)
    fast = featurize(table)
    _numpy(monkeypatch)
    ref = featurize(table)
    for field in TEXT_FEATURE_SCHEMA:
        assert fast.column(field.name).equals(ref.column(field.name)), field.name


@pytest.mark.parametrize("head_tail", [(3000, 1500), (300, 100), (5, 3), (1, 1)])
def test_clip(texts, monkeypatch, head_tail) -> None:
    from distillguard.signals import base

    fast = base.clip(texts, *head_tail)
    _numpy(monkeypatch)
    ref = base.clip(texts, *head_tail)
    assert fast.equals(ref)


def test_script(texts, monkeypatch) -> None:
    from distillguard.signals.script import detect_script

    fast = detect_script(texts)
    _numpy(monkeypatch)
    assert fast.equals(detect_script(texts))


def test_slot_passes_only_on_rows_with_a_trigger(texts) -> None:
    """normalize_skeleton_text runs the slot regexes only on rows holding SLOT_TRIGGER; the
    result equals the passes over every row."""
    import pyarrow.compute as pc

    from distillguard.signals.base import clip, fill_empty

    arr = pc.utf8_lower(fill_empty(clip(texts, sketch.SKELETON_HEAD_CHARS,
                                        sketch.SKELETON_TAIL_CHARS)))
    for p in sketch.SLOT_PATTERNS:
        arr = pc.replace_substring_regex(arr, p, f" {sketch.SLOT} ")
    assert sketch.normalize_skeleton_text(texts).equals(arr)
