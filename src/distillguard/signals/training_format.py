"""Training-data output formats.

Harvested answers are wanted in a shape a fine-tuning script eats directly: JSONL with
``instruction``/``input``/``output`` keys, OpenAI ``messages`` arrays, Alpaca or ShareGPT
format, "output as JSON with fields prompt and completion". Asking for JSON alone is common in
benign developer traffic and is only a weak hint; training-record keys are strong.
"""

from __future__ import annotations

from .base import Phrase, TextSignal, merge_patterns

_Q = "[\"'`]"  # a key may be quoted with ", ' or `
_KEYS_IN = "(instruction|prompt|input|question|query|user|human)"
_KEYS_OUT = "(output|completion|response|answer|assistant|gpt|chosen|rejected)"


class TrainingFormat(TextSignal):
    """Requests for output in a training-record format.

    Budget: ~7.3 µs of CPU per request in 50k-row batches, ~45 µs for a batch of one (2-core
    shared dev machine, time.process_time). Accuracy measured on: real gsm8k and gpteacher-
    codegen tasks wrapped in 24 format instructions in en, zh, ja, ko, ru, es, de, fr, pt,
    ar (all fire); 4 held-out wrappers (3 fire with v1, 4 with v2); v2: 8 of 10 wrappers of
    tests/signals/test_heldout2.py (6 with v1); benign prompts: sharegpt 0.03%, alpaca_eval
    0%, hh_rlhf 0%, oasst2 0% fire (tests/signals/test_training_format.py).
    """

    name = "training_format"
    version = "2"
    column = "sig_format"
    PATTERNS = (
        Phrase(
            "record_keys",
            0.8,
            {
                "any": rf"{_Q}{_KEYS_IN}{_Q} ?: ?.*{_Q}{_KEYS_OUT}{_Q} ?:"
                rf"|{_Q}messages{_Q} ?: ?\[|{_Q}role{_Q} ?: ?{_Q}(user|assistant|system){_Q}"
                rf"|{_Q}from{_Q} ?: ?{_Q}(human|gpt|user|assistant){_Q}"
                rf"|{_Q}conversations{_Q} ?: ?\[|{_Q}chosen{_Q} ?:.*{_Q}rejected{_Q} ?:",
            },
        ),
        Phrase(
            "dataset_format",
            0.8,
            merge_patterns(
            merge_patterns(
            {
                "en": r"\bjsonl\b|json ?lines|(alpaca|sharegpt|chatml|openai fine-?tuning|"
                r"dolly|oasst|vicuna|ultrachat)[- ](format|style|schema|template)"
                r"|(format|formatted) (it |them |the data |the output |everything )?(as|in|like) "
                r"(the )?(alpaca|sharegpt|chatml)|<\|im_start\|>|(prompt|instruction)[/ ,-]+"
                r"(completion|response|output) (pairs|format|records)",
                "zh": "jsonl|(alpaca|sharegpt|chatml)(格式|风格)|(每行一个|一行一个)(json|对象|样本)",
                "ja": "jsonl|(alpaca|sharegpt|chatml)(形式|フォーマット)|1行に1つの(json|オブジェクト)",
                "ko": "jsonl|(alpaca|sharegpt|chatml) ?(형식|포맷)|한 줄에 하나의? ?(json|객체)",
                "ru": "jsonl|(формат[а-я]*|стил[а-я]*) (alpaca|sharegpt|chatml)|(по )?одн[а-я]* "
                "(json[- ]?)?объект[а-я]* (на|в) (строк|кажд)",
                "es": "jsonl|formato (alpaca|sharegpt|chatml)|un objeto (json )?por línea",
                "de": "jsonl|(alpaca|sharegpt|chatml)-format|ein (json-)?objekt pro zeile",
                "fr": "jsonl|format (alpaca|sharegpt|chatml)|un objet (json )?par ligne",
                "pt": "jsonl|formato (alpaca|sharegpt|chatml)|um objeto (json )?por linha",
                "ar": "jsonl|تنسيق (alpaca|sharegpt)",
            },
            {
                "any": r"(alpaca|sharegpt|chatml|dolly|vicuna|oasst|ultrachat|openai (fine-?tuning|"
                r"chat)|fine-?tuning|sft)\W{0,3}.{0,20}(format|style|schema|template|形式|格式|"
                r"フォーマット|형식|포맷|формат|formato|formatı)|(format|formato|формат[а-я]*|"
                r"形式|格式) .{0,12}(alpaca|sharegpt|chatml|openai fine-?tuning)"
                r"|json ?lines|jsonlines|ndjson|conversations.{0,20}from.{0,20}value",
            },
            ),
            {
                "en": r"\bone (json |jsonl )?(object|record|example|sample|item|pair|entry) per "
                r"line|(each|every) (example|sample|record|pair|item) (on|in) (its own|a separate|"
                r"a single|one) line",
                "zh": "每行一(个|条)|一行一(个|条)",
                "ja": "1行(に|ごとに)1(つ|件)",
                "ko": "한 줄에 (하나|한 개)",
                "ru": "по одно(му|й) (на|в) строк|кажд[а-я]* (пример|запис)[а-я]* (на|в) отдельн",
                "es": "un (ejemplo|objeto|registro) por línea",
                "de": "ein (beispiel|objekt|datensatz) pro zeile",
                "fr": "un (exemple|objet|enregistrement) par ligne",
                "pt": "um (exemplo|objeto|registro) por linha",
                "it": "un (esempio|oggetto|record) per riga",
                "tr": "her satırda bir",
                "vi": "mỗi dòng một",
                "id": "satu (contoh|objek) per baris",
            },
            ),
        ),
        Phrase(
            "named_fields",
            0.6,
            merge_patterns(
            {
                "en": rf"(fields|keys|columns|properties|attributes) ({_Q}?[a-z_]+{_Q}?,? (and )?)"
                rf"{{0,3}}{_Q}?{_KEYS_IN}{_Q}?,? (and )?({_Q}?[a-z_]+{_Q}?,? (and )?){{0,3}}"
                rf"{_Q}?{_KEYS_OUT}{_Q}?|{_KEYS_IN} and {_KEYS_OUT} (fields|keys)"
                rf"|(has|have|with|contains|containing) (a |an )?{_Q}{_KEYS_IN}{_Q},? (and|,) "
                rf"(a |an )?{_Q}{_KEYS_OUT}{_Q}",
                "zh": f"(字段|键|key)(为|是|包括|包含|:|：)?.{{0,20}}{_KEYS_IN}.{{0,30}}{_KEYS_OUT}"
                f"|(按照|按|以|用).{{0,4}}{_Q}{_KEYS_IN}{_Q}.{{0,30}}{_Q}{_KEYS_OUT}{_Q}.{{0,10}}格式",
                "ja": f"(フィールド|キー|項目).{{0,20}}{_KEYS_IN}.{{0,30}}{_KEYS_OUT}",
                "ko": f"(필드|키|항목).{{0,20}}{_KEYS_IN}.{{0,30}}{_KEYS_OUT}",
                "ru": f"(пол[а-я]*|ключ[а-я]*) .{{0,20}}{_KEYS_IN}.{{0,30}}{_KEYS_OUT}",
                "es": f"(campos|claves|llaves) .{{0,20}}{_KEYS_IN}.{{0,30}}{_KEYS_OUT}",
                "de": f"(felder|feldern|schlüssel|schlüsseln) .{{0,20}}{_KEYS_IN}.{{0,30}}{_KEYS_OUT}",
                "fr": f"(champs|clés) .{{0,20}}{_KEYS_IN}.{{0,30}}{_KEYS_OUT}",
                "pt": f"(campos|chaves) .{{0,20}}{_KEYS_IN}.{{0,30}}{_KEYS_OUT}",
                "ar": f"(حقول|مفاتيح) .{{0,20}}{_KEYS_IN}.{{0,30}}{_KEYS_OUT}",
            },
            {
                "any": r"json.{0,40}(keys?|fields?|columns|properties|attributes|字段|键|キー|"
                r"フィールド|키|필드|ключ|пол[яе]|campos|claves|chaves|champs|clés|feldern|felder|"
                r"schlüssel|campi|chiavi|alan|trường|kolom).{0,25}"
                r"(instruction|prompt|input|question|query|pregunta|pergunta|frage|вопрос|问题|"
                r"質問|질문|soru|domanda|câu hỏi|pertanyaan)"
                r".{0,25}(output|completion|response|answer|respuesta|resposta|réponse|antwort|"
                r"ответ|答案|回答|解答|답변|cevap|yanıt|risposta|câu trả lời|jawaban)"
                r"|(instruction|prompt|input|question)[^a-z]{1,12}(output|completion|response|"
                r"answer)[^a-z]{0,12}.{0,30}(json|jsonl)"
                r"|(keys?|fields?|字段|キー|필드|ключ[а-я]*|campos|chaves|champs|felder[n]?|campi|"
                r"alan[a-zı]*) .{0,12}(instruction|prompt|input|question)\b.{0,20}\b(output|"
                r"completion|response|answer)\b",
            },
            ),
        ),
        # v2: keys named in prose with gaps and in other languages, dataset formats named
        # loosely ("OpenAI fine-tuning format", "ShareGPT format"), more languages.
        Phrase(
            "json_output",
            0.3,
            {
                "en": r"(output|format|return|respond|reply|answer|give|provide|write) (it |them |"
                r"the result |the results |the data |everything |your answer |the answer |each "
                r"[a-z]+ )?(as|in|using) (a |an |valid |strict |proper )?json\b"
                r"|json (array|object|list) (of|with|where)|json (list|array)",
                "zh": "(以|用|按)json(格式)?(输出|返回|回答|给出)|输出(为)?json(格式)?",
                "ja": "json(形式|フォーマット)で(出力|返|回答|答え)",
                "ko": "json ?(형식|포맷)으로 (출력|반환|답|작성)",
                "ru": "в (формате|виде) json|json[- ]?(формат[а-я]*)",
                "es": "en formato json|como json|devuelve.{0,20}json",
                "de": "(im|als) json(-format)?|json-format",
                "fr": "(au|en) format json|en json",
                "pt": "(em|no) formato json|como json",
                "ar": "بتنسيق json|بصيغة json",
                "it": "in formato json|come json",
                "tr": "json (formatında|biçiminde)",
                "vi": "(dưới dạng|định dạng) json",
                "id": "(dalam )?format json",
                "hi": "json (प्रारूप|फ़ॉर्मेट|फॉर्मेट)",
            },
        ),
    )
