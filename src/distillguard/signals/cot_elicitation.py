"""Chain-of-thought / reasoning-trace elicitation.

Distillers want the model's reasoning, not only its answer: "articulate your internal reasoning
step by step", "show your full thinking", "explain each step before the final answer", or ask
for ``<think>`` tags. A bare "step by step" is a weak hint (people ask for recipes step by
step); asking for the model's *own* reasoning, thought process or trace is strong.
"""

from __future__ import annotations

from .base import Phrase, TextSignal, merge_patterns


class CotElicitation(TextSignal):
    """Requests that elicit the model's reasoning trace.

    Budget: ~3.5 µs of CPU per request in 50k-row batches, ~60 µs for a batch of one (2-core
    shared dev machine, time.process_time). Accuracy measured on: real gsm8k and gpteacher-
    codegen tasks wrapped in 31 CoT instructions written in en, zh, ja, ko, ru, es, de, fr,
    pt, ar (all fire on every payload); 5 held-out wrappers written after the phrases were
    frozen (1 of 5 fired with v1, 5 of 5 with v2: tests/signals/test_heldout.py); v2 (gaps, it/tr/hi/vi/id):
    10 of 11 wrappers of tests/signals/test_heldout2.py (1 of 11 with v1); benign prompts: sharegpt 0.11%,
    alpaca_eval 0%, hh_rlhf 0%, oasst2 0% fire (tests/signals/test_cot_elicitation.py).
    """

    name = "cot_elicitation"
    version = "2"
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
            merge_patterns(
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
            {
                "en": r"\b(before|prior to) (giving|providing|stating|writing|presenting|"
                r"outputting|reporting|answering|responding|replying|you answer|you respond|you "
                r"reply|you give|you state|committing to)\b|\bthen (state|give|write|provide|"
                r"output|report) (the|your) (final )?(answer|result)|final (answer|result) "
                r"(on|in|at) the (last|final|end)|\\boxed|followed by (the|your|a) (final )?"
                r"(answer|result)|(the|your) final (answer|result) (last|at the end)",
                "zh": "(回答|作答|给出答案|答题|回复)(之前|前)|最后(再)?(用|以|给出|写出|输出|给)"
                "|最终(答案|结果)",
                "ja": "(回答|答え|解答)(する|を出す|を書く|る)前に|最後に.{0,10}(答え|回答|解答)"
                "|最終的な(答え|回答|解答)",
                "ko": "(답|답변|대답|정답)(을|를|하기|을 말하기|을 제시하기|을 내기)? ?(전에|앞서)"
                "|최종 ?(답|답변|정답|결과)|마지막에 .{0,10}(답|결과)",
                "ru": "(прежде чем|перед тем,? как) (ответить|отвечать|дать ответ)|перед ответом"
                "|(только )?(потом|затем|после этого) (дай|напиши|приведи|укажи) (окончательн[а-я]* )?"
                "ответ|окончательн[а-я]* ответ|итогов[а-я]* ответ",
                "es": "antes de (responder|contestar|dar (la|tu) respuesta)|respuesta final",
                "de": "bevor (du|sie) (antwortest|antworten|die antwort)|endgültige antwort"
                "|finale antwort",
                "fr": "avant de (répondre|donner (la|ta|votre) réponse)|réponse finale",
                "pt": "antes de (responder|dar (a|sua) resposta)|resposta final",
                "it": "prima (di rispondere|di dare la risposta|della risposta)|risposta finale",
                "tr": "(cevab|yanıt)[a-zıöüşçğ]* (vermeden|yazmadan) önce|nihai (cevap|yanıt)"
                "|son (cevab|yanıt)",
                "hi": "उत्तर देने से पहले|अंतिम उत्तर|जवाब देने से पहले",
                "vi": "trước khi (đưa ra|trả lời|cho)|câu trả lời cuối cùng|đáp án cuối cùng",
                "id": "sebelum (memberikan|menjawab|memberi)|jawaban akhir",
                "ar": "قبل (الإجابة|أن تجيب|إعطاء الإجابة)|الإجابة النهائية",
            },
            ),
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
        # v2: flexible word order and gaps, more languages (it, tr, hi, vi, id). Weights are
        # set so one gap phrase alone does not fire on a how-to request but two concepts do.
        Phrase(
            "show_reasoning_gap",
            0.55,
            {
                # gaps count words, not characters: `.{0,n}` gaps across many languages outgrow
                # RE2's DFA (measured 4x slower on real prompts)
                "en": r"\b(show|explain|lay out|spell out|write out|write down|walk me through|"
                r"detail|expose|present|include|display|document|articulate|describe|reveal|"
                r"keep|preserve)\b( [^ ]+){0,6} \b(reasoning|thought process|derivation|deductions|"
                r"inferences?|intermediate (steps?|results?|calculations?|work)|chain of "
                r"(thought|logic))\b|\b(all (of )?(your|the)|every|each) (reasoning|inference|"
                r"calculation|deduction)s?\b|\b(your|the) (full|whole|complete|entire|detailed) "
                r"(reasoning|logic|thought process|derivation|thinking)\b"
                r"|how you (think|thought|reason|reasoned|arrived|got|figured|worked|solved|reached)"
                r"\b( [^ ]+){0,4} \b(answer|result|solution|conclusion|it out|this|it)\b",
                "zh": "(展示|写出|给出|说明|列出|写清楚|详细|完整|保留|呈现|展现|讲清楚).{0,10}"
                "(推导|推理|思考|计算|解题|分析|论证|思维)(过程|步骤|链|思路)"
                "|每一步.{0,12}(理由|原因|依据|推理|思考)|(思考|推理|推导)(的)?(每一步|全过程|细节)",
                "ja": "(考え|思考|推論|推理|理由|考え方|途中式|導出|計算過程)(の過程)?を.{0,16}"
                "(書き出|書いて|説明|示し|示して|見せ|記述|残し|明記)|(どのように|どうやって).{0,16}"
                "(考え|たどり着|至っ|導い)",
                "ko": "(생각|추론|사고|풀이|논리|계산|추리)(의 과정|과정)?(을|를)? ?.{0,16}(설명|보여|써|적어|"
                "서술|작성|밝혀)|어떻게 ( [^ ]+){0,3} (결론|답|결과)에 (도달|이르)",
                "ru": "(опиши|объясни|покажи|распиши|изложи|приведи|запиши|выпиши)[а-яё]*( [^ ]+){0,4} "
                "(как (ты )?(думаешь|рассуждаешь|решаешь|пришёл|пришел|получил)|ход[а-яё]* (мысл|"
                "рассужд|решени)|промежуточн[а-яё]* (шаг|вычислен|результат)|рассужден|логик)",
                "es": "(muestra|explica|detalla|expón|describe|escribe|incluye|deja ver)[a-z]*\\b"
                "( [^ ]+){0,4} (razonamiento|proceso de pensamiento|pasos? intermedios?|lógica|cómo "
                "(piensas|razonas|llegas|llegaste))|razona(r)? en voz alta|pasos intermedios",
                "de": "(zeige|zeig|erkläre|erklär|beschreibe|lege|leg|schreibe|schreib|dokumentiere)"
                "\\b( [^ ]+){0,4} (gedankengang|überlegungen|denkprozess|argumentation|zwischenschritte|"
                "rechenschritte|lösungsweg|wie du (denkst|vorgehst|darauf kommst))|zwischenschritte"
                "|laut (nach)?denken|denk laut",
                "fr": "(montre|expose|explique|détaille|décris|présente|écris|rédige)[a-z]*\\b"
                "( [^ ]+){0,4} (raisonnement|réflexion|démarche|étapes intermédiaires|cheminement|comment "
                "tu (penses|raisonnes|arrives))|étapes intermédiaires|à voix haute",
                "pt": "(mostre|mostra|explique|explica|detalhe|descreva|escreva|exponha)\\b( [^ ]+){0,4} "
                "(raciocínio|processo de pensamento|passos intermediários|lógica|como (você )?"
                "(pensa|chegou|chega))|passos intermediários|em voz alta",
                "it": "(mostra|spiega|illustra|descrivi|esponi|scrivi|dettaglia)\\b( [^ ]+){0,4} "
                "(ragionamento|processo di pensiero|passaggi intermedi|logica|come (sei arrivato|"
                "arrivi|pensi))|passaggi intermedi|ad alta voce",
                "tr": "akıl yürüt|düşünce (süreci|sürecini|zinciri)|ara adım|nasıl düşündüğ"
                "|(mantığını|düşünceni|düşüncelerini) (göster|açıkla|yaz)",
                "hi": "(सोच|तर्क|विचार प्रक्रिया|चिंतन|हल करने की प्रक्रिया)( [^ ]+){0,3} (समझा|दिखा|लिख|बता)",
                "vi": "(quá trình|chuỗi) (suy nghĩ|suy luận|lập luận)|(trình bày|giải thích|"
                "cho thấy|viết ra)( [^ ]+){0,3} (lập luận|suy luận|cách (suy nghĩ|giải))",
                "id": "proses (berpikir|penalaran)|(tunjukkan|jelaskan|tuliskan|uraikan)( [^ ]+){0,3} "
                "(penalaran|cara berpikir|langkah(-langkah)? (berpikir|penyelesaian))",
                "ar": "(اشرح|وضح|اعرض|أظهر|اكتب|بيّن|بين)( [^ ]+){0,3} (تفكيرك|استدلالك|منطقك|طريقة "
                "تفكيرك|الخطوات الوسيطة)",
            },
        ),
        Phrase(
            "step_by_step",
            0.3,
            merge_patterns(
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
            {
                "en": r"\b(think|reason) (carefully|hard|deeply|thoroughly|methodically|it "
                r"through|this through|through (this|the problem|it|each))|\bwork (through|out) "
                r"(the|this) problem|\b(methodically|systematically|rigorously)\b"
                r"|(every|each) (stage|step|inference|deduction)",
                "zh": "仔细(思考|分析|推理)|认真(思考|分析)|先分析|逐一|每一步",
                "ja": "(よく|じっくり|慎重に|丁寧に)(考え|推論|検討)|ステップごとに|段階ごとに|一つずつ"
                "|順を追って",
                "ko": "(신중하게|차근차근|꼼꼼하게|천천히) (생각|추론|분석)|하나씩|단계마다|단계적으로",
                "ru": "(тщательно|внимательно|подробно|последовательно) (подумай|обдумай|разбери|"
                "проанализируй)|каждый шаг|каждом шаге",
                "es": "piensa (con cuidado|detenidamente|cuidadosamente)|razona|cada paso",
                "de": "denke? (sorgfältig|gründlich|genau) nach|jeden schritt|jedem schritt",
                "fr": "réfléchis(sez)? (bien|soigneusement|attentivement)|raisonne|chaque étape",
                "pt": "pense (com cuidado|cuidadosamente)|raciocine|cada passo",
                "it": "ragiona|passo dopo passo|passo per passo|pensa (attentamente|con cura)"
                "|ogni passaggio",
                "tr": "adım adım|dikkatlice düşün|her adım",
                "hi": "चरण दर चरण|कदम दर कदम|स्टेप बाय स्टेप|ध्यान से सोच",
                "vi": "từng bước|suy nghĩ (kỹ|cẩn thận)",
                "id": "langkah demi langkah|langkah per langkah|pikirkan (dengan )?(baik|hati-hati)",
                "ar": "فكر (بعناية|جيدا)|كل خطوة",
            },
            ),
        ),
    )
