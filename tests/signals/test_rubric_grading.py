"""rubric_grading: the 35 real judge templates (filled with real alpaca_eval instructions and
responses) and judge prompts in other languages must fire; benign prompts stay quiet."""

from __future__ import annotations

from pathlib import Path

import pytest
from signal_cases import fire_rate, score_one

from distillguard.corpora import load_texts
from distillguard.signals.rubric_grading import RubricGrading

SIG = RubricGrading()

# {q} a real instruction, {a}/{b} real responses.
WRAPPERS = [
    ("zh", "请作为一名公正的评委，评估以下两个AI助手对用户问题的回答质量。\n[问题]\n{q}\n[助手A的回答]\n{a}\n"
           "[助手B的回答]\n{b}\n请输出你的最终判断：[[A]]或[[B]]。"),
    ("zh", "请根据评分标准，对下面的回答打分（1到10分）。\n问题：{q}\n回答：{a}"),
    ("ja", "以下の質問に対する回答を評価してください。採点基準に従い、1から10のスケールで採点してください。\n"
           "質問: {q}\n回答: {a}"),
    ("ko", "다음 질문에 대한 답변의 품질을 평가하고 1~10점으로 점수를 매겨 주세요. 채점 기준: 정확성, 유용성.\n"
           "질문: {q}\n답변: {a}"),
    ("ru", "Выступи в роли беспристрастного судьи. Оцени качество ответа по шкале от 1 до 10.\n"
           "Вопрос: {q}\nОтвет: {a}"),
    ("es", "Actúa como un juez imparcial. Evalúa la calidad de la respuesta en una escala del 1 "
           "al 10.\nPregunta: {q}\nRespuesta: {a}"),
    ("de", "Bewerte die Antwort auf einer Skala von 1 bis 10 anhand der folgenden "
           "Bewertungskriterien: Hilfsbereitschaft, Korrektheit.\nFrage: {q}\nAntwort: {a}"),
    ("fr", "Agis comme un juge impartial et évalue la réponse sur une échelle de 1 à 10.\n"
           "Question : {q}\nRéponse : {a}"),
    ("pt", "Atue como um juiz imparcial. Avalie a resposta em uma escala de 1 a 10.\n"
           "Pergunta: {q}\nResposta: {a}"),
    ("ar", "بصفتك حكما محايدا، قيّم جودة الإجابة على مقياس من 1 إلى 10.\nالسؤال: {q}\nالإجابة: {a}"),
    ("en", "Question: {q}\n\nResponse A: {a}\n\nResponse B: {b}\n\nWhich response is better? "
           "Reply with A or B and a one-sentence justification."),
    ("en", "Score the following answer from 1 to 10 for helpfulness and accuracy.\n"
           "Question: {q}\nAnswer: {a}"),
    ("en", "Here are two answers to the same question. Tell me which one is better and give "
           "each a score out of 10.\nQ: {q}\nAnswer 1: {a}\nAnswer 2: {b}"),
    ("en", "Grade this answer for correctness and helpfulness (1-5), and explain the grade.\n"
           "Question: {q}\nAnswer: {a}"),
    ("en", "You are grading model outputs. Give the following response a score from 1 to 10.\n"
           "Prompt: {q}\nResponse: {a}"),
    ("en", "Is Response 1 or Response 2 better? Reply '1' or '2'.\nQ: {q}\nResponse 1: {a}\n"
           "Response 2: {b}"),
    ("en", "Please evaluate the assistant's answer below for accuracy and helpfulness. Output a "
           "rating from 1-10.\nQuestion: {q}\nAnswer: {a}"),
    ("en", "Here are two candidate completions. Pick the better one and explain why.\n"
           "Instruction: {q}\nCompletion A: {a}\nCompletion B: {b}"),
    ("zh", "请比较下面两个回答，哪个更好？给出理由。\n问题：{q}\n回答一：{a}\n回答二：{b}"),
    ("es", "Compara estas dos respuestas y dime cuál es mejor.\nPregunta: {q}\n1) {a}\n2) {b}"),
    ("ja", "以下の2つの回答のうち、どちらが優れていますか？\n質問: {q}\n回答1: {a}\n回答2: {b}"),
    ("ja", "次の回答を10点満点で採点してください。\n質問: {q}\n回答: {a}"),
    ("de", "Bewerte diese Antwort mit einer Punktzahl von 1 bis 10.\nFrage: {q}\nAntwort: {a}"),
    ("ru", "Оцени этот ответ по шкале от 1 до 5.\nВопрос: {q}\nОтвет: {a}"),
]

TABLE = [
    ("You are an impartial judge. Evaluate the two responses below.", True),
    ("Rate the assistant's response on a scale of 1 to 10 using the rubric.", True),
    ("Compare Response A and Response B and output [[A]] or [[B]].", True),
    ("Can you rate my essay out of 10?", False),
    ("What are the evaluation criteria for a PhD thesis defense?", False),
    ("Which is better for a beginner, Python or Java?", False),
    ("How do I write a grading rubric for my 5th grade class?", False),
    ("Please write separate answers for each subject.", False),
    ("Quelle est la meilleure saison pour visiter Paris ?", False),
]


@pytest.mark.parametrize(("text", "fires"), TABLE)
def test_table(text: str, fires: bool) -> None:
    assert (score_one(SIG, text) >= SIG.threshold) is fires


def test_real_judge_templates_fire(corpora_dir: Path,
                                   alpaca_pairs: list[tuple[str, str]]) -> None:
    templates = load_texts("templates/rubric_grading.jsonl.gz", corpora_dir)
    assert len(templates) >= 30
    texts = []
    for i, tpl in enumerate(templates):
        (q, a), (_, b) = alpaca_pairs[i], alpaca_pairs[i + 40]
        texts.append(tpl.replace("{instruction}", q).replace("{output_1}", a)
                     .replace("{output_2}", b))
    assert fire_rate(SIG, texts) == 1.0


@pytest.mark.parametrize("lang", sorted({lang for lang, _ in WRAPPERS}))
def test_judge_prompts_fire_in_every_language(lang: str,
                                              alpaca_pairs: list[tuple[str, str]]) -> None:
    templates = [t for lg, t in WRAPPERS if lg == lang]
    texts = [templates[i % len(templates)].format(q=q, a=a, b=alpaca_pairs[-1 - i][1])
             for i, (q, a) in enumerate(alpaca_pairs[:30])]
    assert fire_rate(SIG, texts) >= 0.95


def test_plain_instructions_stay_quiet(alpaca_pairs: list[tuple[str, str]]) -> None:
    assert fire_rate(SIG, [q for q, _ in alpaca_pairs]) <= 0.01


# Measured: sharegpt 0.3%, alpaca_eval 0.25%, hh_rlhf 0%, oasst2 0.18%.
@pytest.mark.parametrize(("corpus", "bound"),
                         [("sharegpt", 0.008), ("alpaca_eval", 0.005), ("hh_rlhf", 0.002),
                          ("oasst2", 0.005)])
def test_benign_fire_rate_bound(benign: dict[str, list[str]], corpus: str, bound: float) -> None:
    assert fire_rate(SIG, benign[corpus]) <= bound
