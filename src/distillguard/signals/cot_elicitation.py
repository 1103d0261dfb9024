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

    Budget: ~3.5 µs of CPU per request in 50k-row batches, ~60 µs for a batch of one (2-core
    shared dev machine, time.process_time). Accuracy measured on: real gsm8k and gpteacher-
    codegen tasks wrapped in 31 CoT instructions written in en, zh, ja, ko, ru, es, de, fr,
    pt, ar (all fire on every payload); 5 held-out wrappers written after the phrases were
    frozen (1 of 5 fires: tests/signals/test_heldout.py); benign prompts: sharegpt 0.11%,
    alpaca_eval 0%, hh_rlhf 0%, oasst2 0% fire (tests/signals/test_cot_elicitation.py).
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
                r"|think (out loud|aloud)|walk me through (how you(' re|'re| are) thinking|your "
                r"(reasoning|thinking|thought process|thoughts))|chain of reasoning"
                r"|how you (arrived at|got to|reached) (the|your|this) (answer|result|conclusion)",
                "zh": "思维链|思考过程|推理过程|内部推理|内心独白|完整的?思路|(展示|写出|给出|输出|说明)"
                "(你的|完整的|全部的?|详细的)+(思考|推理|思路)|思考步骤|推理步骤|推理链",
                "ja": "思考過程|推論過程|思考プロセス|推論プロセス|内部(の|的な)?推論|思考の(流れ|連鎖)"
                "|推論の(連鎖|ステップ)|考えの過程|(推論|考え方|思考)を(詳しく|すべて|全部|丁寧に)?"
                "(書|示|説明|見せ)",
                "ko": "사고 ?과정|추론 ?과정|생각(의)? ?(흐름|과정)|내부 ?추론|추론 ?단계|사고의 ?사슬",
                "ru": "ход (своих |ваших |твоих )?(мысл|рассужд)|цепочк[а-я]* рассужд|(внутренн|полн)"
                "[а-я]* (рассужд|размышл|ход мысл)|процесс[а-я]* (мышлени|рассужд)"
                "|(покажи|опиши|изложи|распиши|объясни)[а-яё]* ([а-яё]+ ){0,2}(рассужд|размышл|ход мысл)",
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
            "explain_reasoning",
            0.5,
            {
                "en": r"\b(explain|describe|show|detail|justify|walk (me )?through|lay out|write out|"
                r"write down|spell out|narrate|document|share|give|provide) (me )?(all )?(of )?"
                r"(your|the) (full |whole |entire |complete )?(thought "
                r"process|reasoning|thinking|rationale|solution path|problem[- ]solving process|"
                r"line of reasoning)|\breason (carefully |step by step |it )?(through|out loud|"
                r"aloud)|(out loud|aloud) before (answering|responding|you answer)",
                "zh": "(解题|推理|思考)(思路|过程|步骤)|(说明|解释|讲解)(你的|一下)?(思路|推理)"
                "|(中间|推导|计算)过程|(把|将).{0,6}过程.{0,4}写出",
                "ja": "解き方を(詳しく)?(説明|教え)|考え方を(詳しく)?説明|解法を(詳しく)?説明",
                "ko": "(풀이|사고|추론|해결) ?과정",
                "ru": "объясни[а-яё]* (сво[а-яё]* |ход )?(рассужд|решени|логик)|ход решения",
                "es": "(explica|explique|detalla|muestra) (tu|su) (razonamiento|proceso|lógica)"
                "|cómo (llegas|llegaste|llega) (al|a la) (resultado|respuesta|solución)",
                "de": "lösungsweg|rechenweg|denkweg|(erkläre|erklären sie) (deine|ihre) (überlegung|"
                "argumentation|begründung)",
                "fr": "(explique|expliquez|détaille|détaillez|justifie|justifiez) (ton|votre) "
                "(raisonnement|démarche)",
                "pt": "(explique|detalhe|mostre) (o )?(seu|teu) (raciocínio|processo)",
                "ar": "(اشرح|وضح) (طريقة|خطوات) (الحل|تفكيرك)",
            },
        ),
        Phrase(
            "not_just_the_answer",
            0.45,
            {
                "en": r"not (just|only) the (final )?(answer|result)|rather than just (the|an) "
                r"(answer|result)|don'?t just give (me )?the (answer|result)",
                "zh": "不要只给(出)?(结果|答案)|不(只|仅)是(结果|答案)|不要直接给(出)?(结果|答案)",
                "ja": "答えだけ(でなく|ではなく)|結果だけ(でなく|ではなく)",
                "ko": "답만 (말고|주지)|결과만 (말고|주지)",
                "ru": "не только (ответ|результат)|не просто (ответ|результат)",
                "es": "no solo (la respuesta|el resultado)",
                "de": "nicht nur (die antwort|das ergebnis)",
                "fr": "pas seulement (la réponse|le résultat)|pas juste (la réponse|le résultat)",
                "pt": "não (apenas|só) (a resposta|o resultado)",
                "ar": "ليس فقط (الإجابة|النتيجة)",
            },
        ),
        Phrase(
            "step_by_step",
            0.2,
            {
                "en": r"step[- ]by[- ]step",
                "zh": "一步一步|一步步|逐步|分步",
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
