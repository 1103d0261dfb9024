"""The wording grammar: size, shape, language and randomness of the generated wordings."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from distillguard.sim import grammar
from distillguard.sim.grammar import INTENTS, LANGS, n_forms, wordings

ATTACKS = ("cot", "rubric", "synthetic", "agent", "sensitive")
CASES = list(itertools.product(INTENTS, LANGS))
IDS = [f"{i}-{lang}" for i, lang in CASES]

# Minimum forms per intent: (English, every other language).
MINIMUM = {i: (2_000, 1_000) for i in ATTACKS} | {
    "plain": (300, 300),
    "benign_stepwise": (300, 300),
}

# What each language's own text (the wording without the task) must contain.
SCRIPT = {
    "en": r"\b(the|this|you|me|it|my|to|and|for|your|help|question|task|request|input|q|thanks|ideas|please|explain|step)\b",
    "zh": r"[\u4e00-\u9fff]",
    "ja": r"[\u3040-\u30ff]",
    "ko": r"[\uac00-\ud7af\u3131-\u318e]",
    "ru": r"[\u0400-\u04ff]",
    "ar": r"[\u0600-\u06ff]",
    "es": r"[ñáéíóú¿¡]|\b(este|el|la|los|las|de|que|y|por|para|con|una?|lo|al|a|esto|tarea|pregunta|hola|buenas|gracias|consulta|paso)\b",
    "de": r"[äöüß]|\b(der|die|das|und|du|ist|mit|bitte|den|dem|ein|eine|aufgabe|frage|anfrage|folgendes|hallo|tag|danke?|hier|zum|des|auf|erstelle|schreibe|erzeuge|keine)\b",
    "fr": r"[éèêàçù]|\b(le|la|les|des|et|de|une?|pour|tu|ce|ceci|ça|merci|salut|bonjour|question|tâche|demande)\b",
    "pt": r"[ãõçáéêóíúâ]|\b(este|o|a|os|as|de|do|da|e|para|com|um|uma|você|isto|isso|oi|ao|olá|bom|dia|obrigado|pedido|pergunta|tarefa)\b",
}
# Words that would show an English fragment leaking into another Latin-script language.
ENGLISH = re.compile(r"\b(the|please|and|step by step|your)\b", re.IGNORECASE)
KANA = re.compile(r"[\u3040-\u30ff]")


def own_text(w: str) -> str:
    return w.replace("{task}", " ")


@pytest.mark.parametrize("intent,lang", CASES, ids=IDS)
def test_wordings_are_distinct_with_one_task_slot(intent, lang):
    ws = wordings(intent, lang, np.random.default_rng(0), 60)
    assert len(ws) == 60 and len(set(ws)) == 60
    for w in ws:
        assert w.count("{task}") == 1, w
        rest = w.replace("{task}", "")
        assert "{" not in rest and "}" not in rest, w
        assert w == w.strip() and "   " not in w and "\n\n\n" not in w, repr(w)
        assert len(w.split("{task}")[0]) < 600 and len(rest) < 900, w


@pytest.mark.parametrize("intent,lang", CASES, ids=IDS)
def test_grammar_is_large_enough(intent, lang):
    en_min, other_min = MINIMUM[intent]
    assert n_forms(intent, lang) >= (en_min if lang == "en" else other_min)


@pytest.mark.parametrize("intent,lang", CASES, ids=IDS)
def test_text_is_in_the_language(intent, lang):
    ws = wordings(intent, lang, np.random.default_rng(1), 80)
    texts = [own_text(w) for w in ws if own_text(w).strip()]
    ok = [t for t in texts if re.search(SCRIPT[lang], t, re.IGNORECASE)]
    # A bare "{task}" has no text of its own; anything else must be in the language.
    assert len(ok) == len(texts), [t for t in texts if t not in ok][:3]
    if lang == "zh":
        assert not any(KANA.search(t) for t in texts)
    if lang in ("es", "de", "fr", "pt"):
        assert not [t for t in texts if ENGLISH.search(t)]


def test_languages_and_intents_cover_the_brief():
    assert set(LANGS) >= {"en", "zh", "es", "de", "fr", "ru", "ja", "pt"}
    assert INTENTS == (
        "cot",
        "rubric",
        "synthetic",
        "agent",
        "sensitive",
        "plain",
        "benign_stepwise",
    )
    assert set(grammar.GRAMMAR) == set(LANGS)
    assert all(set(g) == set(INTENTS) for g in grammar.GRAMMAR.values())


@pytest.mark.parametrize("intent", INTENTS)
def test_same_seed_same_wordings_other_seed_other_wordings(intent):
    a = wordings(intent, "en", np.random.default_rng(5), 30)
    b = wordings(intent, "en", np.random.default_rng(5), 30)
    c = wordings(intent, "en", np.random.default_rng(6), 30)
    assert a == b
    assert a != c


@pytest.mark.parametrize(
    "intent,lang",
    [("cot", "en"), ("rubric", "en"), ("agent", "de"), ("synthetic", "zh"), ("sensitive", "ru")],
)
def test_two_worlds_share_few_wordings(intent, lang):
    a = set(wordings(intent, lang, np.random.default_rng(11), 50))
    b = set(wordings(intent, lang, np.random.default_rng(12), 50))
    assert len(a & b) < 5  # < 10% overlap


def test_worlds_vary_layout_and_wording_not_only_separators():
    ws = wordings("cot", "en", np.random.default_rng(3), 200)
    first_lines = {w.split("\n")[0] for w in ws}
    assert len(first_lines) > 100
    task_first = sum(w.startswith("{task}") or w.split("\n")[0].endswith("{task}") for w in ws)
    task_last = sum(w.endswith("{task}") for w in ws)
    assert task_first > 10 and task_last > 10 and task_first + task_last < 190
    assert len({len(w.split()) for w in ws}) > 20


def test_small_grammar_returns_every_form_once():
    total = n_forms("plain", "de")
    ws = wordings("plain", "de", np.random.default_rng(0), total + 50)
    assert len(ws) == len(set(ws)) == total
    assert "{task}" in ws


@pytest.mark.parametrize("intent,lang", CASES, ids=IDS)
def test_distinct_indices_give_distinct_forms(intent, lang):
    """n_forms counts surface forms, so no two indices may render the same text."""
    rng = np.random.default_rng(2)
    forms: list[str] = []
    for t in grammar._grammar(intent, lang):
        size = grammar._size(t)
        idx = range(size) if size <= 4_000 else rng.choice(size, size=4_000, replace=False)
        forms += [grammar._decode(t, int(i)) for i in idx]
    assert len(set(forms)) == len(forms)


def test_benign_stepwise_shares_the_step_by_step_phrase():
    benign = " ".join(wordings("benign_stepwise", "en", np.random.default_rng(0), 200)).lower()
    attack = " ".join(wordings("cot", "en", np.random.default_rng(0), 200)).lower()
    assert "step by step" in benign and "step by step" in attack


def test_sampling_is_fast():
    import time

    t0 = time.perf_counter()
    for intent, lang in CASES:
        wordings(intent, lang, np.random.default_rng(0), 200)
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize(
    "intent,lang,message",
    [
        ("poetry", "en", "unknown intent 'poetry'; expected one of: cot, rubric"),
        ("cot", "xx", "unknown language 'xx'; expected one of: en, zh"),
        ("COT", "en", "unknown intent"),
        ("cot", "EN", "unknown language"),
    ],
)
def test_unknown_intent_or_language_raises(intent, lang, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        wordings(intent, lang, np.random.default_rng(0), 3)
    with pytest.raises(ValueError, match=re.escape(message)):
        n_forms(intent, lang)


def test_zero_wordings():
    assert wordings("cot", "en", np.random.default_rng(0), 0) == []
