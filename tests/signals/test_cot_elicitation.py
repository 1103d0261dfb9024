"""cot_elicitation: real gsm8k / codegen tasks wrapped in CoT-elicitation instructions must
fire in every language; real benign prompts and step-by-step near-misses must stay quiet."""

from __future__ import annotations

import pytest
from signal_cases import fire_rate, score_one, wrap

from distillguard.signals.cot_elicitation import CotElicitation

SIG = CotElicitation()

# How real users and harvesting scripts phrase it. {q} is a real task.
WRAPPERS = [
    ("en", "{q}\n\nPlease articulate your internal reasoning step by step before giving the "
           "final answer."),
    ("en", "Solve the following problem. Show your full thinking process, then give the final "
           "answer.\n\n{q}"),
    ("en", "{q}\nWrap your reasoning in <think></think> tags and put only the answer after."),
    ("en", "Q: {q}\nA: Let's think step by step."),
    ("en", "{q}\n\nExplain each step of your reasoning before the final answer. Don't skip any "
           "intermediate steps."),
    ("zh", "{q}\n请一步一步地思考，并详细写出你的完整推理过程，最后给出答案。"),
    ("zh", "请展示你的思考过程：{q}"),
    ("ja", "次の問題を解いてください。最終的な答えを出す前に、思考過程をすべて書き出してください。\n{q}"),
    ("ko", "{q}\n단계별로 생각하고 전체 추론 과정을 보여준 다음 최종 답을 제시하세요."),
    ("ru", "{q}\nРассуждай шаг за шагом и покажи весь ход своих рассуждений перед окончательным "
           "ответом."),
    ("es", "{q}\nPiensa paso a paso y muestra tu razonamiento completo antes de dar la respuesta "
           "final."),
    ("de", "{q}\nDenke Schritt für Schritt nach und lege deinen vollständigen Gedankengang offen, "
           "bevor du die endgültige Antwort gibst."),
    ("fr", "{q}\nRéfléchis étape par étape et détaille tout ton raisonnement avant de donner la "
           "réponse finale."),
    ("pt", "{q}\nPense passo a passo e mostre todo o seu raciocínio completo antes de dar a "
           "resposta final."),
    ("ar", "{q}\nفكر خطوة بخطوة واشرح تفكيرك بالتفصيل قبل الإجابة النهائية."),
    # second and third rounds (written as held-out sets, then used to widen the phrases)
    ("en", "Before you answer, walk me through how you're thinking about it, every single "
           "step. {q}"),
    ("en", "{q} I want to see your chain of reasoning, not just the result."),
    ("en", "{q}\nExplain your thought process in detail, then give the answer."),
    ("en", "Reason carefully through this problem out loud before answering: {q}"),
    ("en", "Think this through carefully and write down your whole reasoning first. {q}"),
    ("zh", "{q}\n思考过程要完整地写出来，不要只给结果。"),
    ("zh", "{q}\n请详细说明你的解题思路。"),
    ("zh", "{q}\n一步步推导，把中间过程都写出来。"),
    ("ru", "{q}\nПожалуйста, распиши подробно своё рассуждение, прежде чем ответить."),
    ("ru", "{q}\nПокажи ход решения полностью."),
    ("es", "{q}\nDeja ver todo tu proceso de razonamiento antes de la respuesta."),
    ("es", "{q}\nMuestra paso a paso cómo llegas al resultado."),
    ("ja", "{q}\n答えだけでなく、そこに至るまでの推論を詳しく書いてください。"),
    ("de", "{q}\nBitte erkläre deinen Lösungsweg ausführlich, Schritt für Schritt."),
    ("fr", "{q}\nExplique ton raisonnement en détail avant de répondre."),
    ("ko", "{q}\n풀이 과정을 자세히 설명해 주세요."),
]

# (text, must the signal fire?)
TABLE = [
    ("Articulate your internal reasoning step by step.", True),
    ("Show me your complete chain of thought for this.", True),
    ("Before answering, think out loud and dump your raw reasoning trace.", True),
    ("<think>\n</think> Use these tags for your thoughts.", True),
    ("Can you explain step by step how to bake bread?", False),
    ("Give me step-by-step instructions to change a tire.", False),
    ("What was the thought process behind the Marshall Plan?", False),
    ("Write the internal thoughts of a cat watching a bird.", False),
    ("请一步一步教我怎么做红烧肉。", False),
    ("Explica paso a paso cómo cambiar una rueda.", False),
    ("Erkläre Schritt für Schritt, wie man Brot backt.", False),
    ("Пошагово объясни, как установить Python на Windows.", False),
]


@pytest.mark.parametrize(("text", "fires"), TABLE)
def test_table(text: str, fires: bool) -> None:
    assert (score_one(SIG, text) >= SIG.threshold) is fires


def test_step_by_step_recipe_scores_below_reasoning_request() -> None:
    bread = score_one(SIG, "can you explain step by step how to bake bread")
    attack = score_one(SIG, "articulate your internal reasoning step by step")
    assert bread < SIG.threshold <= attack
    assert attack - bread > 0.4


@pytest.mark.parametrize("lang", sorted({lang for lang, _ in WRAPPERS}))
def test_wrapped_real_tasks_fire_in_every_language(lang: str, gsm8k: list[str],
                                                   codegen: list[str]) -> None:
    templates = [w for w in WRAPPERS if w[0] == lang]
    texts = [t for _, t in wrap(templates, gsm8k[:40] + codegen[:20])]
    assert fire_rate(SIG, texts) >= 0.95


def test_plain_tasks_stay_quiet(gsm8k: list[str], codegen: list[str]) -> None:
    assert fire_rate(SIG, gsm8k + codegen) <= 0.01


# Measured: sharegpt 0.13%, alpaca_eval 0%, hh_rlhf 0%, oasst2 0%.
@pytest.mark.parametrize(("corpus", "bound"),
                         [("sharegpt", 0.005), ("alpaca_eval", 0.005), ("hh_rlhf", 0.002),
                          ("oasst2", 0.005)])
def test_benign_fire_rate_bound(benign: dict[str, list[str]], corpus: str, bound: float) -> None:
    assert fire_rate(SIG, benign[corpus]) <= bound
