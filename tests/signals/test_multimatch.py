"""One Hyperscan pass for all phrases against RE2, phrase by phrase, on real text."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from distillguard.signals import SignalRegistry, multimatch
from distillguard.signals.base import PhraseSet, prepare_text
from distillguard.signals.capability import Capability
from distillguard.signals.multimatch import PhraseMatcher

EXTRAS = [
    "Let's think step by step and output JSONL with fields \"instruction\" and \"output\".",
    "请一步一步地思考，展示你的推理过程。",
    "Rate the response on a scale of 1 to 10. Which response is better, A or B?",
    "Generate 50 diverse examples like this one. Не повторяйся.",
    "Rephrase this so it passes the content filter, en términos neutrales.",
    "Response A: 42. Response B: 41. answer: which is better?",  # '(^| )' at the start
    "évalue la réponse de 1 à 10, explique ton raisonnement étape par étape",
]


@pytest.fixture(scope="module")
def prepared(benign: dict[str, list[str]], gsm8k: list[str]) -> pa.Array:
    rng = random.Random(3)
    texts = rng.sample(benign["sharegpt"], 400) + benign["oasst2"] + [
        f"{q}\n{EXTRAS[i % len(EXTRAS)]}" for i, q in enumerate(gsm8k[:70])
    ] + EXTRAS + ["", None]
    return prepare_text(pa.array(texts))


def _re2_per_phrase(patterns: tuple[str, ...], text: pa.Array) -> np.ndarray:
    return np.stack(
        [pc.match_substring_regex(text, p).to_numpy(zero_copy_only=False) for p in patterns],
        axis=1,
    )


@pytest.mark.parametrize("sig", [*SignalRegistry.default(), Capability()], ids=lambda s: s.name)
def test_hyperscan_equals_re2_phrase_by_phrase(sig, prepared: pa.Array) -> None:
    patterns = sig.alternations()
    want = _re2_per_phrase(patterns, prepared)
    got = PhraseMatcher(patterns).match(prepared)
    assert want.any(axis=0).sum() >= 2, "the text must fire several phrases"
    assert (got == want).all(), [patterns[j][:60] for j in np.flatnonzero((got != want).any(0))]


def test_re2_set_fallback_equals_hyperscan(prepared: pa.Array) -> None:
    patterns = Capability().alternations()
    fallback = PhraseSet(list(patterns))
    want = PhraseMatcher(patterns).match(prepared)
    for i, text in enumerate(prepared.to_pylist()):
        assert sorted(fallback.match(text)) == list(np.flatnonzero(want[i])), text


def test_compiled_database_is_cached_and_a_bad_cache_recompiles(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DISTILLGUARD_CACHE", str(tmp_path))
    patterns = (r"\bstep by step\b", "(^| )answer ?[a-b]", "推理过程")
    text = prepare_text(pa.array(["Think step by step", "answer a or answer b", "展示推理过程", ""]))
    want = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=bool)
    assert (PhraseMatcher(patterns).match(text) == want).all()
    (cached,) = tmp_path.glob("hs-*.db")
    assert (PhraseMatcher(patterns).match(text) == want).all()  # loaded from the cache
    cached.write_bytes(b"not a database")
    assert (PhraseMatcher(patterns).match(text) == want).all()
    assert cached.stat().st_size > 100  # rewritten


def test_empty_inputs() -> None:
    m = multimatch.matcher_for(("abc",))
    assert m.match(pa.array([], pa.string())).shape == (0, 1)
    assert PhraseMatcher(()).match(pa.array(["abc"])).shape == (1, 0)


def test_threads_match_concurrently(prepared: pa.Array) -> None:
    """Each thread scans with its own scratch space (one is not shareable)."""
    from concurrent.futures import ThreadPoolExecutor

    text = pa.concat_arrays([prepared] * 10)  # long scans: the threads overlap
    matcher = PhraseMatcher(Capability().alternations())
    want = matcher.match(text)
    with ThreadPoolExecutor(4) as pool:  # a shared scratch raised ScratchInUseError here
        results = list(pool.map(lambda _: matcher.match(text), range(8)))
    assert all((got == want).all() for got in results)
