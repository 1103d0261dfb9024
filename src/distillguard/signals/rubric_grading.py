"""Rubric grading: the model used as a reward model or judge.

Preference data for RLHF/DPO is harvested with judge prompts: "act as an impartial judge",
"which response is better, A or B", "score the answer from 1 to 10 using this rubric", output
"[[A]]". Real templates (alpaca_eval, MT-Bench style) are in
``../shared/corpora/templates/rubric_grading.jsonl.gz``. A user asking to "rate my essay out of
10" is a weak hint alone; comparing two model outputs or judging "the response" is strong.
"""

from __future__ import annotations

from .base import Phrase, TextSignal, merge_patterns

_NUM = "[0-9]+"


class RubricGrading(TextSignal):
    """Requests that use the model as a grader / reward model.

    Budget: ~3.3 µs of CPU per request in 50k-row batches, ~65 µs for a batch of one (2-core
    shared dev machine, time.process_time). Accuracy measured on: the 35 real judge
    templates of templates/rubric_grading.jsonl.gz filled with real alpaca_eval instructions
    and responses (35/35 fire), 24 judge prompts in en, zh, ja, ko, ru, es, de, fr, pt, ar
    (all fire); 4 held-out wrappers (2 fire with v1, 3 with v2); v2: 8 of 9 wrappers of
    tests/signals/test_heldout2.py (2 with v1); benign prompts: sharegpt 0.06%, alpaca_eval
    0.12%, hh_rlhf 0%, oasst2 0% fire (tests/signals/test_rubric_grading.py).
    """

    name = "rubric_grading"
    version = "2"
    column = "sig_rubric"
    PATTERNS = (
        Phrase(
            "judge_role",
            0.8,
            {
                "en": r"\bimpartial (judge|evaluator|grader)|act as (an? )?(impartial |fair |expert "
                r"|strict )?(judge|grader|evaluator|reward model)|reward model|(you are|as) an? "
                r"(expert |strict |fair )?(judge|grader|evaluator) (of|for|evaluating)"
                r"|llm[- ]as[- ]a[- ]judge|preference (data|label|labels|annotation)",
                "zh": "公正的(评委|裁判|评判者)|作为(一名|一个)?(评委|裁判|评审|评估者)|奖励模型|偏好(数据|标注)",
                "ja": "公平な(審査員|評価者|ジャッジ)|(審査員|評価者|ジャッジ)として|報酬モデル",
                "ko": "공정한 (심사위원|평가자|심판)|(심사위원|평가자|채점자)(로서|로|의 역할)|보상 모델",
                "ru": "беспристрастн[а-я]* (судь|оценщик|эксперт)|(в роли|в качестве) (судьи|оценщика|"
                "эксперта-оценщика)|модел[а-я]* вознаграждени",
                "es": "juez imparcial|evaluador imparcial|actúa como (un )?(juez|evaluador|calificador)"
                "|modelo de recompensa",
                "de": "unparteiische[rn]? (richter|bewerter|gutachter)|(agiere|fungiere|handle) als "
                "(ein )?(richter|bewerter|gutachter)|belohnungsmodell|reward-modell",
                "fr": "juge impartial|évaluateur impartial|(agis|agissez) (comme|en tant que) "
                "(un )?(juge|évaluateur|correcteur)|modèle de récompense",
                "pt": "juiz imparcial|avaliador imparcial|(atue|aja) como (um )?(juiz|avaliador)"
                "|modelo de recompensa",
                "ar": "حكم محايد|مقيّم محايد|نموذج المكافأة|بصفتك (حكما|مقيما)",
            },
        ),
        Phrase(
            "compare_responses",
            0.8,
            {
                "en": r"\b(assistant|response|output|answer|model|completion|candidate) \(?(a|1)\)? "
                r"(and|or|vs\.?|versus) (assistant |response |output |answer |model |completion |"
                r"candidate )?\(?(b|2)\)?|which (of the (two|following) )?(response|answer|output|"
                r"completion)s? (is|was) (better|best|more helpful|preferred)|\[\[a\]\]|"
                r"\[\[b\]\]|output \(a\)|preferred output|select the (best )?output"
                r"|leaderboard|(rank|ranks|ranking) (the )?(models|responses|outputs)"
                r"|\bassistants? (1|one) and (assistant )?(2|two)\b|(two|both) ai assistants"
                r"|\b(compare|comparing|evaluate|judge|grade|rank) (these |the |both |the following )?"
                r"(two|2) (answers|responses|outputs|completions|replies)",
                "zh": "(回答|回复|答案|助手|模型)a(和|与|或|还是|跟)(回答|回复|答案|助手|模型)?b"
                "|哪个(回答|回复|答案|输出)更好|哪一个(回答|回复)更|比较.{0,6}两个(回答|回复|答案|输出)",
                "ja": "(2つ|二つ|両方)の(回答|応答|出力).{0,20}どちら|(回答|応答|アシスタント)a(と|または|か)"
                "(回答|応答|アシスタント)?b"
                "|どちらの(回答|応答|出力)(が|の方が)(優れ|良い|よい)",
                "ko": "(답변|응답|어시스턴트) ?a(와|과|또는|와 ?b)|어느 (답변|응답)이 더 (나은|좋은)"
                "|어떤 (답변|응답)이 더 (나은|좋은)",
                "ru": "сравни[а-яё]* (эти |следующие )?два ответа|(ответ|ассистент|модель)[а-я]* a (и|или) "
                "(ответ[а-я]* |ассистент[а-я]* )?b"
                "|как(ой|ая) (из )?(двух )?(ответ|модел)[а-я]* (лучше|предпочтительнее)",
                "es": "(respuesta|asistente|modelo) a (y|o|vs\\.?) (respuesta |asistente |modelo )?b"
                "|(qué|cuál) respuesta es (mejor|preferible)|compara (estas |las )?dos respuestas",
                "de": "(antwort|assistent|modell) a (und|oder|vs\\.?) (antwort |assistent |modell )?b"
                "|welche (der beiden )?antwort ist besser|vergleiche (diese |die )?(beiden|zwei) "
                "antworten",
                "fr": "(réponse|assistant|modèle) a (et|ou|vs\\.?) (réponse |assistant |modèle )?b"
                "|quelle réponse est (la )?meilleure|compare(z)? (ces |les )?deux réponses",
                "pt": "(resposta|assistente|modelo) a (e|ou|vs\\.?) (resposta |assistente |modelo )?b"
                "|qual resposta é (melhor|preferível)|compare (estas |as )?duas respostas",
                "ar": "(الإجابة|المساعد) (أ|a) (و|أو) (الإجابة |المساعد )?(ب|b)|أي الإجابتين أفضل",
            },
        ),
        Phrase(
            "grade_response",
            0.6,
            merge_patterns(
            {
                "en": r"\b(evaluate|assess|judge|grade|rate|score) (the )?(quality of )?(the |this |"
                r"each |both |their |following )?(ai |assistant'?s? |model'?s? |chatbot'?s? )?"
                r"(response|responses|answer|answers|output|outputs|completion|completions)"
                r"( provided| given| generated| below| above)?"
                r"|final verdict|(rating|score): \[\[|\b(grading|evaluating|judging|scoring|rating) "
                r"(the )?(model|ai|assistant|chatbot|llm)?'?s? ?(outputs|responses|completions)\b|\b(rate|evaluate|assess|judge) the "
                r"(helpfulness|accuracy|relevance|correctness|harmlessness|factuality|coherence)",
                "zh": "(评估|评价|评判|打分|评分)(以下|这个|该|两个|每个)?(ai|助手|模型)?的?(回答|回复|答案|输出)"
                "|(对|给)(以下|下面|下列|这个|该|每个)?的?(回答|回复|答案|输出)(进行)?(打分|评分|评估)",
                "ja": "(回答|応答|出力)を.{0,12}(評価|採点)|(回答|応答)の(品質|質)を評価",
                "ko": "(답변|응답|출력)(을|를) (평가|채점)|(답변|응답)의 (품질|질)을 평가",
                "ru": "оцени[а-яё]* (этот |данный |следующий )?(качество )?(ответ|отклик|вывод)|(поставь|выстави)[а-я]* оценку ответ",
                "es": "(evalúa|evalúe|califica|califique|puntúa|puntúe) (la calidad de )?(la|las|esta|"
                "cada) respuesta",
                "de": "(bewerte|bewerten sie|beurteile|benote) (die qualität )?(der |die |diese |jede )"
                "antwort",
                "fr": "(évalue|évaluez|note|notez|juge|jugez) (la qualité de )?(la|les|cette|chaque) "
                "réponse",
                "pt": "(avalie|avaliar|classifique|pontue) (a qualidade d)?(a|as|esta|cada) resposta",
                "ar": "(قيّم|قيم|قم بتقييم) (جودة )?(الإجابة|الرد|الاستجابة)",
            },
            {
                "en": r"\byou are (an? )?(expert |strict |careful |impartial |fair |helpful )?"
                r"(evaluator|grader|judge|annotator|rater|reviewer of (ai|model|assistant))"
                r"|\b(act|serve|acting) as (an? )?(expert |strict |careful )?(evaluator|grader|"
                r"annotator|rater)\b",
                "zh": "你是(一名|一个|一位)?(专业的|公正的|严格的)?(评估员|评审员|评分员|评委|裁判|标注员)",
                "ja": "あなたは.{0,10}(評価者|採点者|審査員|アノテーター)",
                "ko": "당신은 .{0,10}(평가자|채점자|심사위원)",
                "ru": "ты [а-яё ]{0,20}(оценщик|эксперт-оценщик|асессор|разметчик)",
                "es": "eres un (evaluador|calificador|juez)",
                "de": "du bist (ein )?[a-zäöü ]{0,20}(bewerter|gutachter|prüfer)",
                "fr": "tu es un (évaluateur|correcteur|juge)|vous êtes un (évaluateur|correcteur|juge)",
                "pt": "(você é|és) um (avaliador|juiz|corretor)",
                "it": "sei un (valutatore|giudice|correttore)",
                "tr": "sen bir (değerlendirici|hakem)",
            },
            ),
        ),
        Phrase(
            "pairwise_hint",
            0.45,
            {
                "en": r"\b(two|2|both) (different |candidate |model |ai )?(answers|responses|outputs|"
                r"completions|replies)\b|which (one|answer|response|reply|output|completion) is "
                r"(better|best|more helpful|more accurate|more correct|preferable)",
                "zh": "两个(回答|回复|答案|输出)|哪个(回答|回复|答案)?(更好|更优|更准确)",
                "ja": "(2つ|二つ)の(回答|応答|出力)|どちらが(良い|優れ|適切)",
                "ko": "두 (개의 )?(답변|응답)|어느 (것|쪽)이 더 (나은|좋은)",
                "ru": "два ответа|двух ответов|как(ой|ая) (из них )?лучше",
                "es": "dos respuestas|(cuál|cual) es mejor",
                "de": "zwei antworten|beiden antworten|welche ist besser",
                "fr": "deux réponses|laquelle est (la )?meilleure",
                "pt": "duas respostas|qual é (a )?melhor",
                "ar": "إجابتين|أيهما أفضل",
            },
        ),
        # v2: flexible order and gaps, labelled candidate slots, more languages. A user asking
        # to "rate my essay 1 to 10" stays below the threshold: it takes a graded *response*
        # plus a scale, or two candidates, or a judge role.
        Phrase(
            "grade_response_gap",
            0.45,
            {
                "en": r"\b(evaluate|assess|judge|grade|rate|score|critique|compare)\b.{0,40}"
                r"\b(responses?|answers?|repl(y|ies)|outputs?|completions?|generations?|"
                r"assistant'?s? (message|turn|reply))\b",
                "zh": "(评估|评价|评判|打分|评分|比较|对比|审阅|判断).{0,16}(回答|回复|答案|输出|响应)"
                "|(回答|回复|答案|输出|响应).{0,16}(评估|评价|评判|打分|评分|进行比较)",
                "ja": "(回答|応答|出力|返答).{0,20}(評価|採点|比較|判定|点数)",
                "ko": "(답변|응답|출력|대답).{0,20}(평가|채점|비교|점수)",
                "ru": "(оцени|сравни|проверь|проанализируй|ранжируй)[а-яё]*.{0,30}ответ",
                "es": "(evalúa|evalúe|califica|puntúa|compara|juzga|valora)\\b.{0,30}respuestas?",
                "de": "(beurteile|bewerte|benote|vergleiche|prüfe|begutachte)\\b.{0,30}antwort",
                "fr": "(évalue|évaluez|note|notez|compare|comparez|juge|jugez)\\b.{0,30}réponses?",
                "pt": "(avalie|avalia|classifique|pontue|compare|julgue|dê uma nota)\\b.{0,30}"
                "respostas?|nota.{0,20}resposta",
                "it": "(valuta|giudica|confronta|assegna un punteggio)\\b.{0,30}rispost[ae]",
                "tr": "(cevab|yanıt)[a-zıöüşçğ]*.{0,30}(değerlendir|puanla|karşılaştır)",
                "vi": "(đánh giá|chấm điểm|so sánh).{0,20}(câu trả lời|phản hồi)",
                "id": "(nilai|evaluasi|bandingkan|beri skor).{0,20}(jawaban|respons)",
                "hi": "(उत्तर|जवाब).{0,20}(मूल्यांकन|अंक|तुलना)",
                "ar": "(قيّم|قيم|قارن).{0,20}(الإجابة|الإجابات|الرد|الردود)",
            },
        ),
        Phrase(
            "candidate_slots",
            0.5,
            {
                "any": r"(^| )(response|answer|reply|output|completion|assistant|candidate|"
                r"回答|回复|答案|応答|답변|응답|ответ|respuesta|resposta|réponse|antwort|risposta|"
                r"cevap|yanıt) ?[\[(]?(1|a|一)[\])]?[:：] .{1,}(response|answer|reply|output|"
                r"completion|assistant|candidate|回答|回复|答案|応答|답변|응답|ответ|respuesta|"
                r"resposta|réponse|antwort|risposta|cevap|yanıt) ?[\[(]?(2|b|二)[\])]?[:：] "
                r"|which (reply|response|answer|output|completion)\b.{0,40}\b(prefer|better|"
                r"preferred|wins?)|human (annotator|rater|evaluator|labeler)s?|(annotator|rater)s? "
                r"would prefer|'?(first|second)'? or '?(first|second)'?",
                "zh": "哪个(回答|回复|答案)?.{0,10}(更好|更优|更佳)|(更好|更优)的(一个|回答)",
                "ja": "(どちら|どっち).{0,20}(優れ|良い|よい|適切)|より(優れ|良い)(ている)?(方|ほう)",
                "ko": "(어느|어떤) (쪽|것|답변|응답).{0,10}(더 나은|더 좋은|우수)",
                "ru": "как(ой|ая|ое) из (них|двух|ответов).{0,20}лучше",
                "es": "(cuál|qué) (de las dos )?respuesta.{0,20}mejor",
                "de": "welche (der (beiden|zwei) )?antwort.{0,20}besser",
                "fr": "quelle (des deux )?réponse.{0,20}meilleure",
                "pt": "qual (das duas )?resposta.{0,20}melhor",
                "it": "quale (delle due )?risposta.{0,20}migliore",
            },
        ),
        Phrase(
            "pick_or_justify",
            0.3,
            merge_patterns(
            {
                "en": r"\b(pick|choose|select|tell me) (the )?(better|best|stronger|preferred) "
                r"(one|answer|response|completion|output)",
                "zh": "选出(更好|较好|最好)的(一个|回答|答案)",
                "es": "(elige|escoge) la mejor",
                "de": "wähle die bessere",
                "fr": "choisis(sez)? la meilleure",
                "pt": "escolha a melhor",
                "ru": "выбери лучш",
            },
            {
                "en": r"\b(with|and) (a |your |brief |short )?(justification|rationale|"
                r"explanation for (the|your) (score|rating|grade|choice))|justify (your|the) "
                r"(score|rating|grade|choice|verdict)|output only (a|the|one) (number|score|"
                r"letter|label)|(give|assign|output|provide) (it )?(a|the) (score|rating|grade)",
                "zh": "(并|并且)?(给出|说明|写出)(简要|简短)?(的)?(理由|原因)|只输出(分数|数字|字母)",
                "ja": "理由を(述べ|書い|説明)|(点数|スコア)をつけ",
                "ko": "이유를 (쓰|설명|적)|점수를 (매기|주)",
                "ru": "обоснуй|с обоснованием|поставь[а-яё]* оценку|одной буквой",
                "es": "justifica|con (una )?justificación|asigna una (puntuación|nota)",
                "de": "begründe|mit begründung|vergib eine (note|punktzahl)",
                "fr": "justifie|avec (une )?justification|attribue une note",
                "pt": "justifique|com justificativa|atribua uma nota|dê uma nota",
                "it": "giustifica|con (una )?motivazione|assegna un voto",
                "tr": "gerekçe|puan ver",
                "vi": "giải thích lý do|cho điểm",
                "id": "berikan alasan|beri (nilai|skor)",
            },
            ),
        ),
        Phrase(
            "rubric_scale",
            0.45,
            {
                "any": rf"(满分|点満点|점 만점|{_NUM} ?(から|〜|~|-|到|至|에서) ?{_NUM} ?(分|点|점))",
                "en": rf"\brubric|(scoring|grading|evaluation|assessment) (criteria|guidelines|"
                rf"rubric|scale|rules)|on a (scale|score) (of|from) {_NUM} (to|-) {_NUM}"
                rf"|(score|rate|grade) (it |them |each |the )?(on a scale )?(of |from |between )"
                rf"{_NUM} (to|and|-) {_NUM}|likert|\bscores? (out of|/) ?{_NUM}",
                "zh": f"评分标准|评估标准|评价标准|打分标准|评分细则|(从|在){_NUM}(到|至|-){_NUM}分"
                f"|{_NUM}(到|至|-){_NUM}分(之间|的?范围|打分|评分)",
                "ja": f"採点基準|評価基準|ルーブリック|{_NUM}(から|〜|~|-){_NUM}(の|点)(で|段階)"
                f"|{_NUM}点満点",
                "ko": f"채점 ?기준|평가 ?기준|루브릭|{_NUM}(에서|점에서|~|-) ?{_NUM}점|{_NUM}점(에서|부터) ?"
                f"{_NUM}점",
                "ru": f"критери[а-я]* оценк|по шкале от {_NUM} до {_NUM}|рубрик|(оценк|балл)[а-яё]* от "
                f"{_NUM} до {_NUM}",
                "es": f"criterios de evaluación|rúbrica|(en una escala|puntuación|nota) (de|del) {_NUM} "
                f"(a|al) {_NUM}",
                "de": f"bewertungskriterien|bewertungsschema|bewertungsraster|(auf einer skala|note|"
                f"punkte?n?) von {_NUM} bis {_NUM}",
                "fr": f"critères d'évaluation|grille d'évaluation|barème|(sur une échelle|note|"
                f"[eé]value[a-z]*[^.]{{0,40}}) de {_NUM} à {_NUM}",
                "pt": f"critérios de avaliação|rubrica|(em uma escala|nota) de {_NUM} a {_NUM}",
                "it": f"criteri di valutazione|griglia di valutazione|(su una scala|voto|punteggio) "
                f"da {_NUM} a {_NUM}",
                "tr": f"değerlendirme kriterleri|{_NUM} ile {_NUM} arasında (bir )?puan",
                "vi": f"tiêu chí (đánh giá|chấm điểm)|thang điểm|từ {_NUM} đến {_NUM} điểm",
                "id": f"kriteria penilaian|rubrik|skala {_NUM} (sampai|hingga|-) {_NUM}",
                "ar": f"معايير التقييم|على مقياس من {_NUM} إلى {_NUM}",
            },
        ),
    )
