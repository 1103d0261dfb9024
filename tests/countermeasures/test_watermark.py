"""The keyed watermark: meaning kept, detected with a key, silent without it, honest on real text."""

from __future__ import annotations

import random

import pytest

from distillguard.countermeasures.bench import normalise, read_texts, rechoose
from distillguard.countermeasures.watermark import Watermark, binomial_tail

KEY, OTHER = b"watermark-test-key-0001", b"another-groups-key-0002"
TEXT = ("It is not clear yet. You are right that we do not know the color of the box, and that "
        "is why I am going to analyze it toward the end. It is okay if you cannot come; we will "
        "organize the rest, e.g. the favorite dishes, and there is time. They are ready.")


def test_only_interchangeable_forms_change():
    marked = Watermark(KEY).apply(TEXT)
    assert normalise(marked) == normalise(TEXT)  # same words once every choice is undone


def test_detected_with_the_key_only():
    marked = Watermark(KEY).apply(TEXT)
    own = Watermark(KEY).detect(marked)
    assert own.sites >= 12 and own.agree == own.sites and own.p_value < 0.001
    assert Watermark(OTHER).detect(marked).p_value > 0.01


def test_binomial_tail():
    assert binomial_tail(10, 10) == pytest.approx(2**-10)
    assert binomial_tail(4, 0) == 1.0 and binomial_tail(2, 1) == pytest.approx(0.75)


def test_false_positives_on_real_benign_text_stay_below_alpha(corpora_dir):
    texts = read_texts(corpora_dir / "benign" / "sharegpt.jsonl.gz", "text", 500)
    wm = Watermark(KEY)
    fp = sum(wm.detect(t).p_value <= 0.01 for t in texts)
    assert fp / len(texts) <= 0.01


def test_paraphrase_attacks_weaken_it(corpora_dir):
    answers = read_texts(corpora_dir / "benign" / "alpaca_eval_prompts.jsonl.gz", "response", 200)
    wm = Watermark(KEY)
    body = "\n".join(wm.apply(t) for t in answers)
    assert wm.detect(body).p_value < 1e-20  # a body of harvested answers
    light = rechoose(body, 0.3, random.Random(0))
    # light rewording (30% of the sites re-picked) weakens it but a body still carries it
    assert wm.detect(body).p_value < wm.detect(light).p_value < 1e-3
    assert wm.detect(normalise(body)).p_value > 0.01  # normalising every form removes it


def test_previous_word_looked_up_in_a_window_equals_the_whole_prefix(monkeypatch):
    """``detect`` looks back a window, not the whole prefix (it was quadratic on a long body);
    the word found is the same, also when the window cuts a word or holds none."""
    from distillguard.countermeasures import watermark

    monkeypatch.setattr(watermark, "_PREV_WINDOW", 5)
    rng = random.Random(3)
    alphabet = ["a", "é", "_", "7", " ", "\n", ",", "'", "—"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        end = rng.randrange(0, len(text) + 1)
        whole = watermark.PREV_WORD.search(text, 0, end)
        assert watermark._prev_word(text, end) == (whole.group(1) if whole else ""), (text, end)
