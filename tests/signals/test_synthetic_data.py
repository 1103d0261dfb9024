"""synthetic_data: real tasks used as seed examples in "generate N more" instructions must
fire in every language; ordinary "give me 3 examples" requests and benign prompts stay quiet."""

from __future__ import annotations

import pytest
from signal_cases import fire_rate, score_one, wrap

from distillguard.signals.synthetic_data import SyntheticData

SIG = SyntheticData()

WRAPPERS = [
    ("en", "Here is an example math word problem:\n{q}\nGenerate 50 diverse new problems in the "
           "same style. Do not repeat the example."),
    ("en", "I'm building a fine-tuning dataset. Create 20 question-answer pairs similar to this "
           "one: {q}"),
    ("en", "Using the task below as a seed, write 100 more instructions of varied difficulty for "
           "our synthetic training data.\nSeed: {q}"),
    ("zh", "参考下面的例题，生成50道风格相同但内容不同的数学应用题，不要重复：\n{q}"),
    ("ja", "次の例を参考にして、同じ形式の問題を30問生成してください。重複しないようにしてください。\n例: {q}"),
    ("ko", "다음 예시를 참고해서 비슷한 수학 문제 30개를 생성해 주세요. 중복되지 않게 다양한 문제로 만들어 주세요.\n"
           "예시: {q}"),
    ("ru", "Вот пример задачи:\n{q}\nСгенерируй 40 разнообразных похожих задач с ответами, не "
           "повторяйся."),
    ("es", "Genera 25 ejemplos diversos de problemas similares a este, sin repetir ninguno:\n{q}"),
    ("de", "Erstelle 30 unterschiedliche Beispiele für Textaufgaben wie diese, ohne "
           "Wiederholungen:\n{q}"),
    ("fr", "Génère 40 exemples variés de problèmes similaires à celui-ci, sans répétition :\n{q}"),
    ("pt", "Gere 30 exemplos variados de problemas parecidos com este, sem repetir:\n{q}"),
    ("ar", "أنشئ 20 أمثلة متنوعة من المسائل المشابهة لهذه المسألة دون تكرار:\n{q}"),
    ("en", "Write 25 more word problems like this one, each with a different story: {q}"),
    ("en", "I need lots of practice problems. Make 40 variations of: {q}"),
    ("en", "Using this as a template, produce 100 new questions with answers: {q}"),
    ("en", "Can you come up with 30 problems similar to this? {q}"),
    ("en", "Generate a dataset of 200 math word problems in the style of the one below. {q}"),
    ("en", "Give me 15 paraphrases of this question: {q}"),
    ("zh", "仿照这道题，再出30道类似的题目：{q}"),
    ("zh", "{q}\n请根据这个例子生成更多类似的题目，至少20道。"),
    ("ru", "Придумай 20 похожих задач на основе этой: {q}"),
    ("ru", "Сделай 30 вариантов этой задачи с другими числами: {q}"),
    ("de", "Schreib 15 ähnliche Aufgaben wie diese: {q}"),
    ("pt", "Crie 50 perguntas parecidas com esta: {q}"),
    ("ko", "{q}\n이 문제와 비슷한 문제를 20개 만들어 줘."),
    ("fr", "Génère des dizaines de problèmes du même type que celui-ci : {q}"),
]

TABLE = [
    ("Generate 50 diverse examples of customer support questions.", True),
    ("Create synthetic data for training a sentiment classifier.", True),
    ("Produce 30 question-answer pairs about photosynthesis.", True),
    ("Give me 3 examples of metaphors.", False),
    ("What is synthetic biology?", False),
    ("How much training data do I need to train a classifier?", False),
    ("Write 10 tips for better sleep.", False),
    ("List 5 famous painters from the Renaissance.", False),
    ("给我三个比喻的例子。", False),
]


@pytest.mark.parametrize(("text", "fires"), TABLE)
def test_table(text: str, fires: bool) -> None:
    assert (score_one(SIG, text) >= SIG.threshold) is fires


@pytest.mark.parametrize("lang", sorted({lang for lang, _ in WRAPPERS}))
def test_generation_requests_fire_in_every_language(lang: str, gsm8k: list[str]) -> None:
    templates = [w for w in WRAPPERS if w[0] == lang]
    texts = [t for _, t in wrap(templates, gsm8k[:60])]
    assert fire_rate(SIG, texts) >= 0.95


def test_plain_tasks_stay_quiet(gsm8k: list[str], codegen: list[str]) -> None:
    assert fire_rate(SIG, gsm8k + codegen) <= 0.02


# Measured: sharegpt 0.3%, alpaca_eval 0.1%, hh_rlhf 0%, oasst2 0.2%.
@pytest.mark.parametrize(("corpus", "bound"),
                         [("sharegpt", 0.008), ("alpaca_eval", 0.005), ("hh_rlhf", 0.002),
                          ("oasst2", 0.01)])
def test_benign_fire_rate_bound(benign: dict[str, list[str]], corpus: str, bound: float) -> None:
    assert fire_rate(SIG, benign[corpus]) <= bound
