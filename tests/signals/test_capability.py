"""capability: agreement with the ``capability`` labels of the real task corpora, agentic from
declared tools, multilingual rows, and chat for ordinary conversation."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from distillguard.corpora import load_texts
from distillguard.signals.capability import CAPABILITIES, Capability

CAP = Capability()

TABLE = [
    ("Solve for x: 3x + 5 = 20", None, "math"),
    ("Сколько будет 17 умножить на 23?", None, "math"),
    ("¿Cuántos litros caben en un cubo de 2 metros de lado?", None, "math"),
    ("Write a Python function that reverses a linked list.", None, "code"),
    ("用Python写一个函数，计算斐波那契数列。", None, "code"),
    ("Load this CSV into a pandas dataframe and plot the correlation matrix.", None,
     "data_analysis"),
    ("Book me a flight to Tokyo next Tuesday.", ["search_flights", "book_flight"], "agentic"),
    ('{"type": "tool_result", "tool_use_id": "t1", "content": "42"}', None, "agentic"),
    ("Translate this sentence into German: the weather is nice.", None, "other"),
    ("What should I cook for dinner tonight?", None, "chat"),
    ("Was ist der Sinn des Lebens?", None, "chat"),
    ("", None, "other"),
]


@pytest.mark.parametrize(("text", "tools", "expected"), TABLE)
def test_table(text: str, tools: list[str] | None, expected: str) -> None:
    col = CAP.score(pa.array([text]), tools=pa.array([tools], pa.list_(pa.string())))
    assert col.labels.to_pylist() == [expected]


def _share(texts: list[str], label: str) -> float:
    labels = CAP.score(pa.array(texts)).labels.to_pylist()
    return labels.count(label) / len(labels)


# Measured: gsm8k 91% math; humaneval 98% and gpteacher codegen 99% code; T0 templated NLP
# prompts 52% other; hh_rlhf 98% chat.
@pytest.mark.parametrize(("corpus", "label", "bound", "limit"), [
    ("tasks/gsm8k_train.jsonl.gz", "math", 0.88, 1000),
    ("tasks/humaneval.jsonl.gz", "code", 0.95, None),
    ("tasks/gpteacher_codegen.jsonl.gz", "code", 0.95, 1000),
    ("tasks/t0_templated.jsonl.gz", "other", 0.45, 2000),
    ("benign/hh_rlhf_test.jsonl.gz", "chat", 0.95, None),
])
def test_agreement_with_corpus_labels(corpora_dir: Path, corpus: str, label: str,
                                      bound: float, limit: int | None) -> None:
    assert _share(load_texts(corpus, corpora_dir, limit), label) >= bound


def test_labels_are_the_contract_set(benign: dict[str, list[str]]) -> None:
    labels = set(CAP.score(pa.array(benign["sharegpt"][:2000])).labels.to_pylist())
    assert labels <= set(CAPABILITIES)
    assert {"chat", "code", "math"} <= labels
