"""Rewrites of sensitive questions.

To harvest answers a model would refuse, or to launder refusal-prone prompts into a data set,
attackers ask the model to rephrase requests "so it passes a content filter", "in neutral /
academic terms", or wrap them in fiction and research framing. A plain "rewrite this
paragraph" is ordinary editing and stays a weak hint.
"""

from __future__ import annotations

from .base import Phrase, TextSignal, merge_patterns

_REWRITE_EN = r"(rephrase|rewrite|reword|reformulate|paraphrase|restate|recast|disguise)"


class SensitiveRewrite(TextSignal):
    """Requests to launder a sensitive question past safety filters.

    Budget: ~2.8 µs of CPU per request in 50k-row batches, ~55 µs for a batch of one (2-core
    shared dev machine, time.process_time). Accuracy measured on: real hh_rlhf red-team
    questions wrapped in 25 filter-evasion and reframing instructions in en, zh, ja, ko, ru,
    es, de, fr, pt, ar (all fire); 4 held-out wrappers (1 fires with v1, 2 with v2); v2: 11 of 11 wrappers
    of tests/signals/test_heldout2.py (4 with v1); benign prompts: sharegpt
    0.02%, alpaca_eval 0%, hh_rlhf 0.04%, oasst2 0% fire
    (tests/signals/test_sensitive_rewrite.py).
    """

    name = "sensitive_rewrite"
    version = "2"
    column = "sig_rewrite"
    PATTERNS = (
        Phrase(
            "filter_evasion",
            0.85,
            {
                "en": r"\b(pass(es|ing)?|bypass(es|ing)?|evad(e|es|ing)|avoid(s|ing)?|"
                r"get(s|ting)? (past|around|through)|slip(s|ping)? (past|through)|"
                r"circumvent(s|ing)?|sneak(s|ing)? past|fool(s|ing)?|trick(s|ing)?|"
                r"dodg(e|es|ing)|beat(s|ing)?) (the |a |an |any |all |your |"
                r"their )?(ai |automated |content |safety |moderation |openai |keyword |spam )*"
                r"(filter|filters|moderation|detection|detector|classifier|safety checks?|"
                r"guardrails|censorship)|without (triggering|tripping|setting off|being "
                r"(flagged|detected|blocked)|getting (flagged|blocked)) (by )?(the |any |a )?"
                r"(filter|filters|safety|refusal|moderation|content policy|detector|alarms)?"
                r"|(not|won'?t|wouldn'?t|never|doesn'?t|does not) (be |get |gets )?(flagged|"
                r"refused|blocked|censored|filtered)\b|jailbreak|\bdan mode"
                r"|(so|so that) (the |an? )?(ai|model|chatbot|assistant|chatgpt|gpt|llm|it|they) "
                r"(doesn'?t|does not|won'?t|will not|wouldn'?t|can'?t) (refuse|reject|decline|flag|"
                r"block|censor)|(doesn'?t|does not|won'?t|will not|wouldn'?t) (trigger|trip|set off|"
                r"get caught by) (the |any |a |an )?(ai |automated |content |safety |moderation )*"
                r"(filter|filters|moderation|detector|safety|alarm|alarms|refusal)"
                r"|answer (it )?without (any )?(restrictions|censorship|filters|refusing|limits)"
                r"|(moderation|filter|filters|safety system|moderation system|detector|classifier|"
                r"censor|censors)s? (doesn'?t|does not|won'?t|will not|can'?t|cannot) (catch|flag|"
                r"detect|notice|block)",
                "zh": "(绕过|规避|避开|躲过|通过|骗过)(内容|安全|ai)?(审核|过滤|过滤器|检测|审查|安全机制)"
                "|不(会)?被(审核|过滤|拦截|检测|屏蔽|拒绝)|越狱|(让|使)(ai|模型|它|chatgpt|gpt)?不(会)?拒绝"
                "|避免被(拒绝|拦截|审核|过滤|屏蔽)",
                "ja": "(フィルター|検閲|モデレーション|安全(対策|機能)?)(を|に)?(回避|すり抜け|通過|突破)"
                "|(フィルター|検閲)に(引っかからない|かからない)|ジェイルブレイク|脱獄"
                "|(aiが|モデルが)?拒否(されない|しない)(ように)",
                "ko": "(필터|검열|모더레이션|안전 ?장치)(를|을)? ?(우회|통과|피하|회피)"
                "|(필터|검열)에 (걸리지|안 걸리)|탈옥|(거절|거부)하지 않도록",
                "ru": "(обойти|обхода|обхода|обойди|обмануть|пройти) (контент[а-я]* |модерац[а-я]* )?"
                "(фильтр|модерац|цензур|защит|проверк)|(чтобы|так,? чтобы) (не )?(заблокировал|"
                "не (сработал|заметил|пометил))|джейлбрейк|чтобы (ии|модель|нейросеть|chatgpt|бот) не "
                "отказ|(ии|модель|нейросеть|chatgpt|бот)[а-яё ,]{0,20}не отказ",
                "es": "(evitar|evadir|pasar|burlar|saltar|esquivar|engañar) (el |los |al )?"
                "(filtro|filtros|moderación|censura|sistema de detección)|sin (activar|que "
                "detecte) (el|los) filtro|jailbreak|para que (la ia|el modelo|chatgpt|el bot) no "
                "(la |lo )?(rechace|bloquee|censure|rechaze)",
                "de": "(filter|moderation|zensur|sicherheitsfilter|inhaltsfilter)[a-zäöü]* "
                "(zu )?(umgehen|umgeht|austricksen|passieren|überlisten)|(umgehe|umgeh|trickse) (den|die) "
                "(filter|moderation|zensur)|nicht (blockiert|erkannt|markiert) wird|damit (die ki|das "
                "modell|chatgpt) (sie |es )?nicht (ablehnt|blockiert|verweigert)|(filter|moderation|zensur)"
                "[a-zäöü]* (sie |es |das |ihn )?nicht (erkennt|blockiert|bemerkt|markiert)",
                "fr": "(contourner|éviter|tromper|passer|déjouer) (le |les |la )?(filtre|filtres|"
                "modération|censure|détection)|sans (déclencher|être détecté)|pour que (l'ia|le "
                "modèle|chatgpt|il|elle) ne (la |le |les )?(refuse|bloque|signale|censure)",
                "pt": "(burlar|contornar|passar (pelo|pelos)|enganar|evitar) (o |os |a )?(filtro|"
                "filtros|moderação|censura|detecção)|sem (acionar|ser detectad)|para que (a ia|o "
                "modelo|o chatgpt) não (a |o )?(recuse|bloqueie|censure)",
                "ar": "(تجاوز|تخطي|الالتفاف على|خداع) (الفلتر|الفلاتر|الرقابة|المرشح|نظام الإشراف)",
            },
        ),
        Phrase(
            "neutral_reframe",
            0.6,
            {
                "en": rf"{_REWRITE_EN} (the following|this|my|the) (request|question|prompt|query|"
                r"instruction|message)s? (in|into|using|with|to (sound|be|seem|look)) "
                r"(more )?(neutral|academic|scientific|clinical|technical|euphemistic|innocuous|"
                r"harmless|benign|innocent|professional|hypothetical|indirect)"
                r"|(in|into|using) (neutral|academic|clinical|euphemistic|innocuous|"
                r"harmless|benign|innocent|innocent-sounding|harmless-sounding|coded|veiled) "
                r"(terms|language|wording|phrasing|tone|euphemisms)"
                r"|so (that )?(it|this|the (request|question|prompt)) (sounds|seems|looks|appears) "
                r"(harmless|innocent|benign|legitimate|academic|neutral)|(sound|seem|look|appear)s? "
                r"(more |less )?(innocent|harmless|innocuous|benign|legit|legitimate|suspicious|"
                r"academic|scientific|neutral)|(with|using) euphemisms",
                "zh": "(改写|重写|换个说法|改述|重新表述|转述).{0,30}(中性|学术|委婉|无害|专业|隐晦)的?"
                "(语言|措辞|说法|方式|表述)|用(中性|学术|委婉|隐晦|无害)(化)?的?(语言|措辞|说法|方式|表述)",
                "ja": "(中立的|学術的|婉曲的|無害)な(表現|言い方|言葉|用語)(で|に)",
                "ko": "(중립적|학술적|완곡한|무해한|전문적) ?(인 )?(표현|용어|언어|말투)(으로|로)",
                "ru": "(нейтральн|академическ|научн|эвфемистическ|безобидн)[а-я]* (термин|формулировк|"
                "язык|выражени|стил)",
                "es": "(en|con) (términos|lenguaje|palabras) (neutrales|neutros|académicos|"
                "eufemísticos|inocentes|inofensivos)",
                "de": "(in|mit) (neutralen|akademischen|harmlosen|wissenschaftlichen|verhüllenden) "
                "(begriffen|worten|formulierungen)|harmlos (klingt|klingend)",
                "fr": "(en|avec des) (termes|mots|langage) (neutres|académiques|euphémiques|"
                "inoffensifs|anodins)|(semble|paraisse) (anodin|inoffensif)",
                "pt": "(em|com) (termos|linguagem|palavras) (neutros|neutras|acadêmicos|acadêmicas|"
                "eufemísticos|inofensivos|inofensivas)|pareça (inofensivo|inocente)",
                "ar": "(بعبارات|بلغة|بمصطلحات) (محايدة|أكاديمية|علمية|مهذبة)",
            },
        ),
        Phrase(
            "fiction_research_frame",
            0.45,
            {
                "en": r"(for|in) (a|my|our|the) (novel|story|screenplay|movie script|fiction|"
                r"research paper|thesis|dissertation|academic paper|red[- ]team(ing)? exercise)"
                r"( [a-z']+){0,4}[,:]? (explain|describe|detail|write|tell|show|list|give)( me)? (exactly |in "
                r"detail )?(how|the steps|step|what)|purely (for )?(educational|academic|research|"
                r"hypothetical|informational) purposes|(hypothetically|in a hypothetical "
                r"(world|scenario)),? (how|what|explain|describe)|(pretend|imagine) (that )?"
                r"(you are|you're) (an? )?(ai |assistant |model )?(without|with no|free of) "
                r"(any )?(restrictions|filters|rules|guidelines|limits)|ignore (all |any )?"
                r"(your |the |previous |prior |earlier )+(instructions|rules|guidelines|"
                r"restrictions|safety)",
                "zh": "(仅|只|纯粹)(用于|为了|出于)(研究|教育|学术|学习)(目的)?|(为了|为)(写|创作)?(一部|我的)?"
                "(小说|剧本|故事)[,，]?(详细)?(解释|描述|说明|写出)|假设(你|你是)(一个)?没有(任何)?(限制|规则)"
                "|忽略(之前|以上|所有|你的)+(的)?(指令|规则|限制)",
                "ja": "(研究|教育|学術)(目的|のため)(で|に|だけ)|(小説|物語|脚本)のために.{0,10}(説明|描写)"
                "|制限のない(ai|アシスタント)|(以前|これまで|すべて)の(指示|ルール)を無視",
                "ko": "(연구|교육|학술) ?목적(으로|으로만)|(소설|이야기|대본)(을|를)? 위해.{0,10}(설명|묘사)"
                "|제한(이)? 없는 (ai|어시스턴트)|(이전|모든) (지시|규칙)(을|를)? 무시",
                "ru": "(в|для|исключительно в) (исследовательских|образовательных|научных|учебных) "
                "целях|для (моего |своего )?(романа|рассказа|сценария)|игнорируй[а-я]* (все |"
                "предыдущие |прошлые )+(инструкц|правил)|без (каких-либо )?ограничений",
                "es": "con fines (educativos|académicos|de investigación|hipotéticos)|para (una|mi) "
                "(novela|historia|guion|investigación),? (explica|describe|detalla)|ignora (todas "
                "|las )*(instrucciones|reglas) (anteriores|previas)|sin (ninguna )?restricci",
                "de": "zu (forschungs|bildungs|lehr)zwecken|(für einen|für meinen) (roman|"
                "thriller|krimi|film)[,:]? (erkläre|beschreibe)|ignoriere (alle )?(vorherigen |"
                "bisherigen )?(anweisungen|regeln)|ohne (jegliche )?einschränkungen",
                "fr": "à des fins (éducatives|de recherche|académiques|pédagogiques)|pour (un|mon) "
                "(roman|scénario|récit),? (explique|décris|détaille)|ignore(z)? (toutes )?(les |"
                "tes |vos )?(instructions|règles) précédentes|sans (aucune )?restriction",
                "pt": "para fins (educacionais|acadêmicos|de pesquisa|educativos)|para (um|o meu|meu) "
                "(romance|roteiro|livro),? (explique|descreva|detalhe)|ignore (todas )?(as )?"
                "(instruções|regras) anteriores|sem (nenhuma )?restriç",
                "ar": "لأغراض (بحثية|تعليمية|أكاديمية)|تجاهل (جميع )?التعليمات السابقة",
            },
        ),
        # v2: the refusal-avoidance goal in free word order and more languages, and the
        # rewrite verb in more languages; a rewrite verb plus a refusal goal fires.
        Phrase(
            "avoid_refusal",
            0.45,
            {
                "en": r"\b(instead of|rather than|without) (refusing|declining|rejecting|a refusal|"
                r"being (refused|flagged|blocked)|pushback)|\b(won'?t|will not|wouldn'?t|doesn'?t|"
                r"does not|not|never) (refuse|decline|reject|flag|block|censor)\b"
                r"|(harmless|innocent|innocuous|benign|legit|legitimate|academic|neutral)[- ]"
                r"(looking|sounding|seeming)|(still )?(gets?|extracts?|obtains?|elicits?) the same "
                r"(information|answer|content|details)",
                "zh": "不(会)?(拒绝|拒答)|(不被|不会被)(拒绝|拦截|屏蔽|审核|过滤)|绕开(审核|过滤)",
                "ja": "(断ら|拒否さ|拒絶さ|ブロックさ)れない|拒否しない",
                "ko": "(거부|거절)하지 (않|못)|(거부|거절)당하지|차단되지 않",
                "ru": "не (отказал|откаж|отказыв|заблокир)|без отказа",
                "es": "no (la |lo |se )?(rechace|rechazará|niegue|bloquee)|sin (ser )?(bloquead|"
                "rechazad)",
                "de": "nicht (ablehnt|verweigert|abgelehnt|blockiert)",
                "fr": "(ne (la |le )?(refuse|bloque) pas)|sans (être )?(bloqué|refusé|signalé)|passe "
                "(la modération|le filtre)",
                "pt": "não (se )?recuse|sem (ser )?(bloquead|recusad)|não (a |o )?bloqueie",
                "it": "non (la |lo |si )?(blocchi|rifiuti)|senza (essere )?(bloccat|rifiutat)",
                "tr": "reddetme(den|sin|yeceği|mesin)|engellenme(den|yecek)",
                "hi": "मना न कर|इनकार न कर|ब्लॉक न",
                "vi": "không (bị )?từ chối|không bị chặn",
                "id": "tidak (menolak|ditolak|diblokir)",
                "ar": "لا (يرفض|ترفض)|دون (أن يرفض|رفض)",
            },
        ),
        Phrase(
            "model_as_obstacle",
            0.3,
            {
                "en": r"\b(so|so that|such that|in a way that|to make sure|ensuring)\b.{0,30}\b(ai|"
                r"assistant|model|chatbot|chatgpt|gpt|llm|filter|moderation|it)\b.{0,20}\b(answer|"
                r"respond|comply|accept|allow)s?\b",
                "zh": "让(ai|模型|助手|chatgpt)(会|能|愿意)?(回答|回复)",
                "ja": "(ai|モデル)が(答え|回答)(てくれる|する)ように",
                "ko": "(ai|모델)가 (답|답변)하도록",
                "ru": "чтобы (ии|модель|нейросеть|chatgpt|бот) (ответил|ответила)",
                "de": "dass (die ki|das modell|chatgpt) (sie |es )?beantwortet",
                "fr": "pour que (l'ia|le modèle|chatgpt) (y )?réponde",
                "es": "para que (la ia|el modelo|chatgpt) (la |lo )?responda",
                "pt": "para que (a ia|o modelo|o chatgpt) (a |o )?responda",
                "it": "in modo che (l'ia|il modello|chatgpt) (la |lo )?risponda",
            },
        ),
        Phrase(
            "rewrite_request",
            0.2,
            merge_patterns(
            {
                "en": rf"{_REWRITE_EN} (the following|this|my|the) (request|question|prompt|query)",
                "zh": "(改写|重写|改述|重新表述)(这个|以下|下面的?)(请求|问题|提示)",
                "ja": "(この|次の|以下の)(質問|依頼|プロンプト)を(言い換え|書き換え)",
                "ko": "(이|다음) (질문|요청|프롬프트)(을|를) (바꿔|다시 써|재작성)",
                "ru": "(перефразируй|переформулируй|перепиши)[а-я]* (этот |следующий )?(вопрос|запрос)",
                "es": "(reformula|reescribe|parafrasea) (esta|la siguiente) (pregunta|solicitud|petición)",
                "de": "(formuliere|schreibe) (diese|die folgende) (frage|anfrage) (um|neu)",
                "fr": "(reformule|réécris|paraphrase)(z)? (cette|la) (question|demande|requête)",
                "pt": "(reformule|reescreva|parafraseie) (esta|a seguinte) (pergunta|solicitação)",
                "ar": "أعد صياغة (هذا|هذه|السؤال|الطلب)",
            },
            {
                "en": r"\b(rephrase|reword|rewrite|reformulate|paraphrase|restate|recast|disguise|"
                r"obfuscate)\b|\bturn (this|it) into (a|an)\b",
                "zh": "换(一种|个)说法|改写|重写|改述|重新表述|转述|换个问法",
                "ja": "言い換え|書き換え|言い方に変え",
                "ko": "다시 써|바꿔 (써|말해)|돌려서|재작성|바꿔 줘|바꿔줘|다르게 표현",
                "ru": "перефразир|переформулир|перепиши|переделай",
                "es": "reformula|reescrib|parafrase|reescriba",
                "de": "formuliere.{0,40} um|umformulier|umschreib",
                "fr": "reformule|réécri|paraphrase",
                "pt": "reescreva|reformule|parafraseie",
                "it": "riformula|riscrivi|parafrasa",
                "tr": "yeniden (yaz|ifade et)|farklı şekilde ifade",
                "vi": "viết lại|diễn đạt lại",
                "id": "tulis ulang|ubah (kalimat|kata)|parafrasekan",
                "hi": "दोबारा लिख|फिर से लिख|अलग ढंग से",
                "ar": "أعد صياغة|أعد كتابة",
            },
            ),
        ),
    )
