"""Helpers shared by the signal tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from distillguard.signals.base import TextSignal


def wrap(templates: list[tuple[str, str]], payloads: list[str]) -> list[tuple[str, str]]:
    """Each (lang, template) filled with each payload in turn: (lang, text) rows."""
    out = []
    for i, p in enumerate(payloads):
        lang, tpl = templates[i % len(templates)]
        out.append((lang, tpl.format(q=p)))
    return out


def fire_rate(signal: TextSignal, texts: list[str]) -> float:
    """Share of ``texts`` on which ``signal`` fires (batch path)."""
    col = signal.score(pa.array(texts, pa.string()))
    return float(np.mean(signal.fires(col)))


def score_one(signal: TextSignal, text: str) -> float:
    """Score of a single text (the small-batch path)."""
    return float(signal.score(pa.array([text])).scores[0].as_py())
