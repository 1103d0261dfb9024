"""training_format: real tasks with instructions to answer in training-record formats must fire
in every language; asking for plain JSON and benign prompts stay quiet."""

from __future__ import annotations

import pytest
from signal_cases import fire_rate, score_one, wrap

from distillguard.signals.training_format import TrainingFormat

SIG = TrainingFormat()

WRAPPERS = [
    ("en", '{q}\n\nReturn the result as JSONL, one object per line, with the keys "instruction", '
           '"input" and "output".'),
    ("en", "Format your answer in Alpaca format.\n{q}"),
    ("en", '{q}\nRespond only with a JSON object: {{"messages": [{{"role": "user", "content": '
           '"..."}}, {{"role": "assistant", "content": "..."}}]}}'),
    ("en", "Output as JSON with fields prompt and completion. {q}"),
    ("zh", '{q}\n请以JSON格式输出，每行一个对象，字段为"instruction"和"output"。'),
    ("ja", '{q}\nJSONL形式で出力してください。キーは"question"と"answer"にしてください。'),
    ("ko", '{q}\nJSON 형식으로 출력하고, 필드는 "instruction", "output"으로 해 주세요.'),
    ("ru", '{q}\nВыведи результат в формате JSON с полями "prompt" и "completion".'),
    ("es", '{q}\nDevuelve el resultado en formato JSON con los campos "instruction", "input" y '
           '"output".'),
    ("de", '{q}\nGib das Ergebnis als JSON mit den Feldern "question" und "answer" aus.'),
    ("fr", '{q}\nRéponds au format JSON avec les champs "prompt" et "completion".'),
    ("pt", '{q}\nResponda em formato JSON com os campos "instruction" e "output".'),
    ("ar", '{q}\nأخرج النتيجة بتنسيق json مع حقول "instruction" و "output".'),
    ("en", '{q}\nPut the result in a JSON list where every item has a "prompt" and a '
           '"response".'),
    ("en", '{q}\nFormat: {{"instruction": ..., "output": ...}}'),
    ("en", '{q}\nAnswer in the format {{"input": <question>, "output": <answer>}}.'),
    ("en", "{q}\nReturn one JSON object per line with keys question, answer."),
    ("en", "{q}\nOutput it as a ShareGPT-style conversation."),
    ("en", '{q}\nWrap the answer as {{"messages":[...]}} ready for fine-tuning.'),
    ("zh", '{q}\n请按照 {{"question": "...", "answer": "..."}} 的格式输出。'),
    ("zh", "{q}\n以JSON Lines格式返回，包含prompt和completion两个字段。"),
    ("es", "{q}\nDevuélvelo como objetos JSON, uno por línea, con las claves question y answer."),
    ("fr", '{q}\nRéponds en JSON : {{"question": ..., "answer": ...}}'),
    ("de", "{q}\nAusgabe im Alpaca-Format bitte."),
]

TABLE = [
    ('Write each example as {"instruction": "...", "output": "..."}', True),
    ("Convert these conversations to ShareGPT format.", True),
    ("Save the records as JSONL.", True),
    ("How do I parse JSON in Python?", False),
    ("Return the answer as JSON.", False),
    ("What is the alpaca's natural habitat?", False),
    ("Explain the difference between input and output devices.", False),
]


@pytest.mark.parametrize(("text", "fires"), TABLE)
def test_table(text: str, fires: bool) -> None:
    assert (score_one(SIG, text) >= SIG.threshold) is fires


@pytest.mark.parametrize("lang", sorted({lang for lang, _ in WRAPPERS}))
def test_format_requests_fire_in_every_language(lang: str, gsm8k: list[str],
                                                codegen: list[str]) -> None:
    templates = [w for w in WRAPPERS if w[0] == lang]
    texts = [t for _, t in wrap(templates, gsm8k[:40] + codegen[:20])]
    assert fire_rate(SIG, texts) >= 0.95


def test_plain_tasks_stay_quiet(gsm8k: list[str], codegen: list[str]) -> None:
    assert fire_rate(SIG, gsm8k + codegen) <= 0.02


# Measured: sharegpt 0.03%, alpaca_eval 0%, hh_rlhf 0%, oasst2 0%.
@pytest.mark.parametrize(("corpus", "bound"),
                         [("sharegpt", 0.003), ("alpaca_eval", 0.003), ("hh_rlhf", 0.002),
                          ("oasst2", 0.005)])
def test_benign_fire_rate_bound(benign: dict[str, list[str]], corpus: str, bound: float) -> None:
    assert fire_rate(SIG, benign[corpus]) <= bound
