"""Instructions to generate synthetic (training) data.

"Generate 50 diverse examples", "create training data for a classifier", "produce 20
question-answer pairs about …". A user asking for "3 examples" of something is normal; asking
for many, diverse, non-repeating items, or naming training/synthetic data, is the signal.
"""

from __future__ import annotations

from .base import Phrase, TextSignal

# "50", "100", "1,000"; two digits or more: "give me 3 examples" is ordinary.
_MANY = "[1-9][0-9]+(,[0-9]{3})*"
_ITEMS_EN = (
    r"(examples|samples|questions|prompts|instructions|tasks|conversations|dialogues|dialogs|"
    r"data points|datapoints|pairs|problems|records|entries|rows|items|exercises|scenarios|"
    r"queries|utterances|sentences|responses|test cases|variations|versions|variants|"
    r"paraphrases|word problems|similar ones)"
)

# Imperative "generate / create / write / give me" per language.
_RU_V = (
    "(сгенерируй|создай|придумай|напиши|составь|сделай|сгенерируйте|создайте|придумайте|"
    "напишите|составьте|сделайте)"
)
_ES_V = "(genera|crea|escribe|produce|dame|genere|cree|escriba)"
_DE_V = (
    "(generiere|generier|erstelle|erstell|erzeuge|schreibe|schreib|mach|gib mir|"
    "generieren sie|erstellen sie|schreiben sie)"
)
_FR_V = "(génère|générez|crée|créez|écris|écrivez|produis|produisez|donne-moi|donnez-moi)"
_PT_V = "(gere|gera|crie|cria|escreva|produza|me dê|dê-me)"
_AR_V = "(أنشئ|ولّد|ولد|اكتب|اصنع)"


class SyntheticData(TextSignal):
    """Requests that ask the model to mass-produce data.

    Budget: ~3.4 µs of CPU per request in 50k-row batches, ~60 µs for a batch of one (2-core
    shared dev machine, time.process_time). Accuracy measured on: real gsm8k problems used
    as seeds in 26 generation instructions in en, zh, ja, ko, ru, es, de, fr, pt, ar (all
    fire); 4 held-out wrappers (2 fire with v1 and v2); v2: 10 of 10 wrappers of
    tests/signals/test_heldout2.py (2 with v1); benign prompts: sharegpt 0.18%, alpaca_eval 0%,
    hh_rlhf 0%, oasst2 0.36% fire (tests/signals/test_synthetic_data.py).
    """

    name = "synthetic_data"
    version = "2"
    column = "sig_synth"
    PATTERNS = (
        Phrase(
            "synthetic_data",
            0.8,
            {
                "en": r"\b(synthetic|fine-?tuning|instruction[- ]tuning|sft|rlhf|dpo|distillation) "
                r"(data|dataset|datasets|examples|samples|corpus|pairs)|(generate|create|produce|"
                r"build|make) (a |some |more )?(training|fine-?tuning) (data|dataset|examples|"
                r"samples|corpus)",
                "zh": "合成数据|微调数据|指令数据|蒸馏数据|(生成|制作|构造|创建)(一些|更多)?(训练|微调)(数据|样本|语料)",
                "ja": "合成データ|ファインチューニング(用の)?データ|(学習|訓練)データを(生成|作成)",
                "ko": "합성 ?데이터|파인튜닝 ?데이터|(학습|훈련) ?데이터(를|을)? ?(생성|만들)",
                "ru": "синтетическ[а-я]* (данн|датасет|пример)|данны[а-я]* для (дообучения|"
                "файнтюнинга)|(сгенерируй|создай)[а-я]* обучающ[а-я]* (данн|выборк|пример)",
                "es": "datos sintéticos|datos para (afinar|ajuste fino)|(genera|crea) datos de "
                "entrenamiento",
                "de": "synthetische[nr]? (daten|trainingsdaten)|daten zum feintuning|(generiere|"
                "erstelle|erzeuge) trainingsdaten",
                "fr": "données synthétiques|données pour (affiner|le fine-tuning)|(génère|crée|"
                "générez|créez) des données d'entraînement",
                "pt": "dados sintéticos|dados para (ajuste fino|fine-tuning)|(gere|crie) dados de "
                "(treinamento|treino)",
                "ar": "بيانات (اصطناعية|تركيبية)|(أنشئ|ولّد|ولد) بيانات (التدريب|تدريب)",
            },
        ),
        Phrase(
            "training_data",
            0.45,
            {
                "en": r"\b(training|train) (data|dataset|set|examples|samples|corpus)\b|data "
                r"?augmentation|(to|for) (train|fine-?tune) (a|an|my|our) (model|llm|classifier|"
                r"chatbot)",
                "zh": "训练数据|训练集|训练样本|数据增强|(用于|用来)(训练|微调)(模型|大模型)",
                "ja": "学習データ|訓練データ|データ拡張",
                "ko": "학습 ?데이터|훈련 ?데이터|데이터 ?증강",
                "ru": "обучающ[а-я]* (данн|выборк|пример|датасет)|данны[а-я]* для обучения"
                "|аугментаци[а-я]* данн",
                "es": "datos de entrenamiento|conjunto de entrenamiento|aumento de datos",
                "de": "trainingsdaten|trainingsdatensatz|datenaugmentation",
                "fr": "données d'entraînement|jeu d'entraînement|augmentation de données",
                "pt": "dados de (treinamento|treino)|conjunto de treinamento|aumento de dados",
                "ar": "بيانات (التدريب|تدريب)|مجموعة بيانات تدريب",
            },
        ),
        Phrase(
            "qa_pairs",
            0.7,
            {
                "en": r"(question|instruction|prompt|input)[- /]+(answer|response|output|completion)"
                r" pairs|(q&a|qa) pairs",
                "zh": "问答对|问题[-和与]答案对|指令[-和与](回答|输出)对",
                "ja": "(質問|問題)(と|-)(回答|解答|答え)の?ペア|q&aペア",
                "ko": "(질문|문제)(과|와|-) ?(답변|정답|답) ?쌍|q&a ?쌍",
                "ru": 'пар[а-я]* [«"]?вопрос[-–—]ответ|пар[а-я]* вопрос[а-я]* и ответ',
                "es": "pares (de )?pregunta(s)?[- ]respuesta(s)?|pares de preguntas y respuestas",
                "de": "frage-antwort-paare|frage[- ]antwort[- ]paar",
                "fr": "paires (de )?question(s)?[- ]réponse(s)?|paires de questions et réponses",
                "pt": "pares (de )?pergunta(s)?[- ]resposta(s)?|pares de perguntas e respostas",
                "ar": "أزواج (من )?(سؤال|الأسئلة) ?(و|-) ?(جواب|إجابة|الأجوبة)",
            },
        ),
        Phrase(
            "generate_many",
            0.6,
            {
                "en": rf"(generate|create|produce|write|make|give me|come up with|brainstorm|list) "
                rf"(me )?(a list of |a set of |a dataset of |a data set of |a collection of |a batch "
                rf"of |another |at least )?{_MANY} (more |new |additional )?"
                rf"([a-z-]+ ){{0,3}}{_ITEMS_EN}|(hundreds|thousands|dozens) of "
                rf"([a-z-]+ ){{0,2}}{_ITEMS_EN}",
                "zh": f"(生成|创建|编写|写出|给出|产生|列出|出|写)({_MANY}|几十|上百|数百)(个|条|道|组|份|句)"
                "(新的|不同的|类似的|相似的)?(例子|样本|示例|问题|题目|题|应用题|问答|对话|指令|数据)"
                "|(更多|一批|大量)(的)?(类似|相似|同类|同样)的?(题目|问题|例子|样本|数据)",
                "ja": f"{_MANY}(個|件|問|組)の.{{0,10}}(例|サンプル|質問|問題|データ|指示).{{0,10}}(生成|作成)"
                "|(もっと|さらに)(多くの)?(似た|類似の|同様の)(問題|質問|例)",
                "ko": f"{_MANY}개의? ?.{{0,10}}(예시|예제|샘플|질문|문제|데이터|지시문).{{0,10}}(생성|만들어|작성)"
                f"|(예시|예제|샘플|질문|문제|데이터)(를|을)? ?{_MANY}개",
                "ru": f"(десятки|сотни) (похожих |новых |разных )?(задач|вопросов|примеров)"
                f"|{_RU_V} {_MANY} (новых |разных |разнообразных |похожих |аналогичных )*(пример|"
                "вопрос|задач|диалог|инструкц|вариант)",
                "es": f"(decenas|cientos|centenares) de (problemas|preguntas|ejemplos|ejercicios)"
                f"|{_ES_V} {_MANY} (nuevos |nuevas |diferentes |distintos |más |similares )*"
                "(ejemplos|preguntas|problemas|pares|muestras|instrucciones|diálogos|conversaciones|"
                "variaciones|variantes)",
                "de": f"(dutzende|hunderte) (von )?(aufgaben|fragen|beispielen|beispiele)"
                f"|{_DE_V} {_MANY} (neue |weitere |verschiedene |unterschiedliche |ähnliche )*"
                "(beispiele|fragen|aufgaben|textaufgaben|paare|dialoge|anweisungen|varianten)",
                "fr": f"(des dizaines|des centaines) d(e |')(problèmes|questions|exemples|exercices)"
                f"|{_FR_V} {_MANY} (nouveaux |nouvelles |autres |variés |variées )*(exemples|"
                "questions|problèmes|exercices|paires|dialogues|instructions|variantes)",
                "pt": f"(dezenas|centenas) de (problemas|perguntas|exemplos|exercícios)"
                f"|{_PT_V} {_MANY} (novos |novas |diferentes |outros |outras )*(exemplos|perguntas|"
                "problemas|exercícios|pares|diálogos|instruções|variações)",
                "ar": f"{_AR_V} {_MANY} (أمثلة|سؤال|أسئلة|مسائل|مسألة|حوارات)",
                "it": f"(genera|crea|scrivi|produci|dammi|generi|crei|scriva) {_MANY} (nuovi |nuove |"
                "altri |altre |diversi |diverse )*(esempi|domande|problemi|esercizi|coppie|dialoghi|"
                "istruzioni|varianti)",
                "tr": f"{_MANY} (adet |tane )?(yeni |farklı |benzer |çeşitli )*(soru|örnek|problem|"
                "alıştırma|diyalog|talimat)",
                "vi": f"(tạo|viết|sinh|đưa ra|cho tôi) (ra )?{_MANY} (bài|câu|ví dụ|mẫu|đoạn hội thoại)",
                "id": f"(buat|buatkan|hasilkan|tuliskan|berikan) {_MANY} (soal|contoh|pertanyaan|"
                "data|percakapan|instruksi)",
                "hi": f"{_MANY} (नए |नये |अलग-अलग |विभिन्न )*(प्रश्न|सवाल|उदाहरण|समस्याएं|समस्याएँ)",
            },
        ),
        Phrase(
            "generate_n",
            0.3,
            {
                "zh": f"(生成|创建|编写|写出|给出|产生|列出|出)({_MANY}|几十|上百|数百)(个|条|道|组|份|句)",
                "ja": f"{_MANY}(個|件|問|つ|組).{{0,20}}(生成|作成|作って|書いて)",
                "ko": f"{_MANY}개.{{0,30}}(생성|만들어|작성)",
                "ru": f"{_RU_V} {_MANY} ",
                "es": f"{_ES_V} {_MANY} ",
                "de": f"{_DE_V} {_MANY} ",
                "fr": f"{_FR_V} {_MANY} ",
                "pt": f"{_PT_V} {_MANY} ",
                "ar": f"{_AR_V} {_MANY} ",
            },
        ),
        # v2: flexible order, number words, seed-expansion wording and more languages.
        Phrase(
            "expand_from_seed",
            0.4,
            {
                "en": r"\bseed (tasks?|examples?|prompts?|questions?|instructions?)\b|(modell?ed|based"
                r"|patterned) (closely )?(on|after) (this|these|the (following|above|given)) "
                r"(example|problem|question|task|prompt|seed|one)s?\b|in the (style|format|spirit) of (this|these|the (following|above|given))"
                r" (example|problem|question|task|prompt)s?|(using|use|take|treat) (this|these|the "
                r"(following|above|problem below|example below|example|problem)) as (a |an )?"
                r"(template|seed|model|example|starting point)|(change|changing|vary|varying|swap|"
                r"swapping) (the )?(names and numbers|numbers and names|names|numbers)\b"
                r"|similar in (difficulty|style|format|structure)",
                "zh": "(参考|仿照|模仿|根据|基于|以).{0,12}(这道题|这个例子|以下|下面|上面|示例|例题|种子)"
                ".{0,20}(出|生成|编写|写|设计|创建|构造)|(改变|替换|更换)(人名|名字|数字|数值)",
                "ja": "(例題|問題|例|サンプル)を(もとに|元に|参考に|ベースに).{0,30}(作成|生成|作って|"
                "書いて)|(名前|数字|数値)を(変え|入れ替え)",
                "ko": "(문제|예시|예제|샘플)(을|를)? (바탕으로|참고하여|참고해서|기반으로).{0,30}(만들|생성|작성)"
                "|(비슷한|유사한) .{0,12}(문제|질문|예시|예제) ?[0-9]+개",
                "ru": "(на основе|по образцу|по аналогии с) (этой|этого|данной|следующей|примера)"
                ".{0,40}(придумай|создай|сгенерируй|составь|напиши)|(ещё|еще) [1-9][0-9]+ (похожих|"
                "аналогичных|новых)",
                "es": "(basad[oa]s? en|a partir de|inspirad[oa]s? en) (este|esta|el siguiente|"
                "la siguiente) (ejemplo|problema|pregunta).{0,40}(genera|crea|escribe)"
                "|(problemas|preguntas|ejemplos) (nuevos |nuevas )?(parecidos|similares)",
                "de": "(basierend auf|nach dem vorbild|anhand) (dieses|dieser|des folgenden|der "
                "folgenden).{0,40}(erstelle|generiere|schreibe)|ähnliche (aufgaben|fragen|beispiele)",
                "fr": "(à partir de|en (te|vous) basant sur|sur le modèle de) (cet|cette|l'|ce)"
                ".{0,40}(génère|crée|écris|produis)|jeu de données|(questions|problèmes|"
                "exemples) (similaires|semblables)",
                "pt": "(com base n|a partir d)(este|esta|o seguinte|a seguinte).{0,40}(gere|crie|"
                "escreva)|(problemas|perguntas|exemplos) "
                "(semelhantes|parecid[oa]s|similares)",
                "it": "(sulla base di|a partire da|prendendo spunto da) (questo|questa|il seguente|"
                "la seguente).{0,40}(genera|crea|scrivi)|(problemi|domande|esempi) (simili|analoghi)",
                "tr": "benzer (sorular|örnekler|problemler)",
                "vi": "(bài toán|câu hỏi|ví dụ) (mới )?tương tự",
                "id": "(soal|pertanyaan|contoh) (baru )?(yang )?(mirip|serupa)",
                "hi": "(समान|मिलते-जुलते) (प्रश्न|सवाल|उदाहरण)",
                "ar": "(أسئلة|مسائل|أمثلة) مشابهة",
            },
        ),
        Phrase(
            "with_answers",
            0.25,
            {
                "en": r"\b(with|along with|including|plus|and) (their |the |its |worked |"
                r"step-by-step )?(answers|solutions|responses|answer keys)\b",
                "zh": "(附上|附带|并给出|并附|以及|和)(对应的|相应的)?(答案|解答|解析)",
                "ja": "(解答|答え|回答)(も|付き|を付け)|とその(解答|答え)",
                "ko": "(정답|답|해설)(도|과|와) ?함께|정답 ?포함",
                "ru": "с (решениями|ответами)|и (решениями|ответами)",
                "es": "con (sus )?(respuestas|soluciones)",
                "de": "mit (den )?(lösungen|antworten)",
                "fr": "avec (leurs )?(réponses|solutions)",
                "pt": "com (as )?(respostas|soluções)",
                "it": "con (le )?(risposte|soluzioni)",
                "tr": "(cevapları|çözümleri)yle",
                "vi": "kèm (theo )?(lời giải|đáp án)",
                "id": "beserta (jawaban|pembahasan)",
                "ar": "مع (الإجابات|الحلول)",
            },
        ),
        Phrase(
            "many_items_gap",
            0.45,
            {
                "en": r"\b(generate|create|produce|write|make|give me|come up with|brainstorm|"
                r"draft|compose|synthesi[sz]e|output)( [^ ]+){0,4} ([1-9][0-9]+|twenty|thirty|forty|"
                r"fifty|sixty|seventy|eighty|ninety|hundred|a hundred|dozens|hundreds|thousands|"
                r"many|lots of|a large (number|set|batch) of)\b( [^ ]+){0,3} " + _ITEMS_EN
                + r"|\bat least [1-9][0-9]+\b|(twenty|thirty|forty|fifty|sixty|a hundred|one "
                r"hundred) (new |more |additional |different |similar |diverse )*" + _ITEMS_EN
                + r"|\b(new|more|similar|additional|novel|fresh) (tasks|problems|questions|"
                r"examples|prompts|instructions|exercises) (that are|which are|like (this|these|"
                r"the (one|ones) (above|below)))",
                "zh": "(再|另外|额外)?(出|生成|编写|写|设计|创建|构造|编)([1-9][0-9]+|[二三四五六七八九]?十|几十|上百|百)"
                "(道|个|条|组|份)",
                "ja": "[1-9][0-9]+(個|件|問|組|題|つ)の?.{0,20}(作成|生成|作って|書いて|考えて)",
                "ko": "[1-9][0-9]+개.{0,20}(만들|생성|작성|써)",
                "ru": "(придумай|создай|сгенерируй|составь|напиши)[а-яё]* (ещё |еще )?[1-9][0-9]+",
            },
        ),
        Phrase(
            "diversity_constraints",
            0.45,
            {
                "en": r"(diverse|varied|distinct|unique|non-repetitive|different) (set of |range "
                r"of )?(examples|samples|questions|prompts|instructions|tasks|topics|scenarios)"
                r"|(do not|don't|never|avoid) (repeat|duplicate|reuse)|avoid (duplicates|"
                r"repetition)|vary (the )?(difficulty|topics?|style|phrasing|length)"
                r"|each (example|sample|item|entry|pair) (should|must)",
                "zh": "多样(化|性)的?(例子|样本|问题|指令|任务|数据)|不要重复|避免重复|难度(各异|不同|多样)",
                "ja": "多様な(例|サンプル|質問|問題|指示)|重複(しない|させない|を避け)|繰り返さない",
                "ko": "다양한 (예시|샘플|질문|문제|지시)|중복(되지|없이|을 피)|반복하지",
                "ru": "разнообразн[а-я]* (пример|вопрос|задач|данн)|не повторя|без повторени",
                "es": "(ejemplos|preguntas|tareas) (diversos|diversas|variados|variadas)|no repitas"
                "|sin repetir",
                "de": "(vielfältige|unterschiedliche|diverse|abwechslungsreiche) (beispiele|fragen|"
                "aufgaben)|nicht wiederholen|keine wiederholungen|ohne wiederholung",
                "fr": "(exemples|questions|tâches) (variés|variées|diversifiés|diversifiées|"
                "différents|différentes)|ne (te )?répète pas|sans répétition",
                "pt": "(exemplos|perguntas|tarefas) (diversos|diversas|variados|variadas)|não repita"
                "|sem repetir",
                "ar": "(أمثلة|أسئلة) متنوعة|لا تكرر|دون تكرار",
            },
        ),
    )
