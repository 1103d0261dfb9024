"""Chain-of-thought / reasoning-trace elicitation.

Distillers want the model's reasoning, not only its answer: "articulate your internal reasoning
step by step", "show your full thinking", "explain each step before the final answer", or ask
for ``<think>`` tags. A bare "step by step" is a weak hint (people ask for recipes step by
step); asking for the model's *own* reasoning, thought process or trace is strong.
"""

from __future__ import annotations

from .base import Phrase, TextSignal

class CotElicitation(TextSignal):
    """Requests that elicit the model's reasoning trace.

    Budget: ~3 µs per request at 50k-row batches, ~40 µs for a batch of one (measured on the
    2-core dev machine; see the module tests). Accuracy measured on: real task text (gsm8k,
    gpteacher codegen) wrapped in CoT instructions written in en, zh, ja, ko, ru, es, de, fr,
    pt, ar (fire ≥ 95%), and benign prompts from sharegpt, alpaca_eval, hh_rlhf and oasst2
    (fire ≤ 1%; bounds asserted in tests/signals/test_cot_elicitation.py).
    """

    name = "cot_elicitation"
    version = "1"
    column = "sig_cot"
    PATTERNS = (
        Phrase(
            "internal_reasoning",
            0.8,
            {
                "en": r"(your|its|the model'?s|the assistant'?s) (own |complete |full |entire |"
                r"detailed |raw |internal |inner |hidden |private |unfiltered |step-by-step )+"
                r"(reasoning|thinking|thought process|thoughts|deliberation|chain of thought)"
                r"|(internal|inner|hidden|private) (reasoning|deliberation)"
                r"|(articulate|verbali[sz]e|narrate|expose|reveal|dump|output|print) "
                r"(all |each of )?(your|the) (reasoning|thinking|thoughts|thought process)"
                r"|reasoning (trace|traces|chain|steps)|chain[- ]of[- ]thoughts?"
                r"|(each|every|all the|all) (step|steps|stage|stages) of (your|the|its) "
                r"(reasoning|thinking|thought process)"
                r"|think (out loud|aloud)",
                "zh": "思维链|思考过程|推理过程|内部推理|内心独白|完整的?思路|(展示|写出|给出|输出|说明)"
                "(你的|完整的|全部的?|详细的)+(思考|推理|思路)|思考步骤|推理步骤|推理链",
                "ja": "思考過程|推論過程|思考プロセス|推論プロセス|内部(の|的な)?推論|思考の(流れ|連鎖)"
                "|推論の(連鎖|ステップ)|考えの過程",
                "ko": "사고 ?과정|추론 ?과정|생각(의)? ?(흐름|과정)|내부 ?추론|추론 ?단계|사고의 ?사슬",
                "ru": "ход (своих |ваших |твоих )?(мысл|рассужд)|цепочк[а-я]* рассужд|(внутренн|полн)"
                "[а-я]* (рассужд|размышл|ход мысл)|процесс[а-я]* (мышлени|рассужд)"
                "|(покажи|опиши|изложи|распиши)[а-я]* (сво[а-я]* |ваш[а-я]* |весь )?(рассужд|размышл)",
                "es": "(tu|su) (propio |completo |interno |detallado )?(razonamiento|proceso de "
                "pensamiento|cadena de pensamiento)( interno| completo| detallado)?|cadena de "
                "pensamiento|razonamiento interno|proceso de razonamiento",
                "de": "gedankengang|denkprozess|gedankenkette|denkweg|(deine|ihre|die) (internen? |"
                "vollständigen? |detaillierten? )?(überlegungen|argumentationskette|denkschritte)"
                "|lautes denken|laut denken",
                "fr": "(ton|votre|son) raisonnement (interne|complet|détaillé)|raisonnement interne"
                "|processus de (pensée|réflexion|raisonnement)|chaîne de (pensée|raisonnement)"
                "|(montre|montrez|expose|exposez|détaille|détaillez) (tout )?(ton|votre) "
                "(raisonnement|réflexion)",
                "pt": "(seu|teu) (próprio |completo |interno |detalhado )?(raciocínio|processo de "
                "pensamento)( interno| completo| detalhado)?|cadeia de (pensamento|raciocínio)"
                "|raciocínio interno|processo de raciocínio",
                "ar": "سلسلة (التفكير|الأفكار)|عملية التفكير|تفكيرك الداخلي|(اشرح|وضح|اعرض) "
                "(تفكيرك|منطقك|استدلالك)|خطوات التفكير|خطوات الاستدلال",
            },
        ),
        Phrase(
            "think_tags",
            0.8,
            {
                "any": r"</?(think|thinking|reasoning|scratchpad|thought|inner_monologue)>"
                r"|reasoning_content|\[thinking\]|<\|begin_of_thought\|>",
            },
        ),
        Phrase(
            "lets_think_step_by_step",
            0.7,
            {
                "en": r"let'?s think (about this |this through )?step[- ]by[- ]step"
                r"|(think|reason|work) (through (this|it) |it out )?step[- ]by[- ]step (before|and "
                r"then|then)",
                "zh": "让我们一步一步(地)?(思考|推理)|(请)?一步一步(地)?(思考|推理)|逐步(思考|推理)",
                "ja": "ステップバイステップで(考え|推論)|段階的に(考え|推論)|一歩ずつ(考え|推論)",
                "ko": "단계별로 (생각|추론)|차근차근 (생각|추론)|한 단계씩 (생각|추론)",
                "ru": "(давай |давайте )?(подумаем|рассуждай|рассуждайте|думай|подумай) "
                "(шаг за шагом|пошагово|поэтапно)|(шаг за шагом|пошагово) (подумай|рассужда)",
                "es": "(piensa|pensemos|razona|razonemos|razone) paso a paso",
                "de": "(denke|denken wir|denk|überlege|überlegen wir) schritt für schritt"
                "|schritt für schritt (nach|denken|überlegen)",
                "fr": "(réfléchis|réfléchissez|réfléchissons|raisonne|raisonnez|pense|pensons) "
                "étape par étape",
                "pt": "(pense|pensemos|raciocine|vamos pensar) passo a passo",
                "ar": "(فكر|لنفكر|فكّر) خطوة بخطوة",
            },
        ),
        Phrase(
            "before_final_answer",
            0.45,
            {
                "en": r"before (giving|providing|stating|writing|you give|you provide|outputting|"
                r"presenting) (the |your |a )?(final )?(answer|conclusion|verdict|response)"
                r"|before (the|your) final (answer|conclusion|verdict)"
                r"|(explain|justify|describe|show|detail|document) (each|every|all) (step|steps|"
                r"intermediate step|reasoning step)|show (all )?(your|the) (work|intermediate "
                r"steps)|(then|and finally|finally) (give|provide|state|output) (the|your) final "
                r"answer",
                "zh": "(在|再)?(给出|得出|写出)最终答案之前|最后(再)?给出(最终)?答案|(解释|说明)每一步",
                "ja": "最終的な(答え|回答)(を出す|の)前に|各ステップを説明|最後に(答え|回答)を",
                "ko": "최종 ?(답|답변|정답)(을|를)? ?(제시하기|내기|말하기) 전에|각 단계를 설명",
                "ru": "(прежде чем|перед тем,? как) (дать|написать|дашь) (окончательн|финальн)"
                "|объясни[а-я]* каждый шаг",
                "es": "antes de (dar|escribir|ofrecer) (la|tu) respuesta final|explica cada paso",
                "de": "bevor (du|sie) die (endgültige|finale) antwort|erkläre jeden schritt"
                "|erklären sie jeden schritt",
                "fr": "avant de donner (la|ta|votre) réponse finale|explique(z)? chaque étape",
                "pt": "antes de dar (a|sua) resposta final|explique cada passo",
                "ar": "قبل (إعطاء|تقديم) الإجابة النهائية|اشرح كل خطوة",
            },
        ),
        Phrase(
            "step_by_step",
            0.2,
            {
                "en": r"step[- ]by[- ]step",
                "zh": "一步一步|逐步|分步",
                "ja": "ステップバイステップ|段階的に|一歩ずつ",
                "ko": "단계별로|차근차근|한 단계씩",
                "ru": "шаг за шагом|пошагово|поэтапно",
                "es": "paso a paso",
                "de": "schritt für schritt",
                "fr": "étape par étape",
                "pt": "passo a passo",
                "ar": "خطوة بخطوة",
            },
        ),
    )
