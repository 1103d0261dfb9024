"""Capability area of a request: math, code, agentic, data_analysis, chat, other.

A column, not a score: distillation campaigns target one capability at a time (a math
campaign, a coding campaign, an agentic tool-use campaign), so an account's capability mix is
an account feature and a cluster's capabilities go into ``clusters.csv``.

Rules: a request that declares tools, or whose text carries tool calls/results, is
``agentic``. Otherwise each category's phrases (all languages) are matched and their weights
summed; the highest sum wins (ties in the order agentic, code, data_analysis, math, other); a
sum below :attr:`Capability.min_evidence` means ``chat`` (general conversation, advice,
writing); an empty prompt is ``other``. ``other`` also covers text-processing tasks
(translate, summarise, classify, extract), the bulk of templated NLP data sets.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import Phrase, SignalColumn, TextSignal, as_array, prepare_text

CAPABILITIES: tuple[str, ...] = ("math", "code", "agentic", "data_analysis", "chat", "other")
_PRIORITY: tuple[str, ...] = ("agentic", "code", "data_analysis", "math", "other")


def _p(cat: str, name: str, weight: float, **patterns: str) -> Phrase:
    return Phrase(f"{cat}.{name}", weight, patterns)


class Capability(TextSignal):
    """Capability classifier over the prompt text and declared tools.

    Budget: ~14 µs of CPU per request in 50k-row batches, ~175 µs for a batch of one (2-core
    shared dev machine, time.process_time). Accuracy measured on: the ``capability`` labels
    of ../shared/corpora/tasks: gsm8k 91% math, humaneval 98% and gpteacher codegen 99%
    code, T0 templated NLP prompts 52% other; hh_rlhf 98% chat
    (tests/signals/test_capability.py).
    """

    name = "capability"
    version = "1"
    column = "capability"
    fields = ("prompt_text", "tools")
    min_evidence: ClassVar[float] = 0.5
    PATTERNS = (
        _p(
            "agentic",
            "tool_markup",
            1.5,
            any=r"tool_calls?|function_call|<tool_call>|<function_calls>|tool_result|"
            r"tool_use_id|\"type\": ?\"tool|observation: |action input: |<tool_response>",
        ),
        _p(
            "code",
            "code_block",
            1.0,
            any=r"```|\bdef [a-z_0-9]+ ?\(|\bfunction [a-z_0-9]+ ?\(|"
            r"#include|\bimport [a-z_.]+|\bconsole\.log|\bpublic static void|=> ?\{|</?div|"
            r"\bselect .{1,80} from [a-z_]|\breturn [a-z_0-9]+;|\bvar [a-z_]+ ?=|\bconst [a-z_]+ ?=",
        ),
        _p(
            "code",
            "language",
            0.6,
            en=r"\b(python|javascript|typescript|java|c\+\+|c#|golang|rust|kotlin|swift|php|"
            r"ruby|bash|powershell|html|css|react|django|flask|node\.?js|sql|regex|api|json|"
            r"dockerfile|kubernetes|git|linux command)\b",
        ),
        _p(
            "code",
            "words",
            0.6,
            en=r"\b(code|coding|program|programming|function|script|bug|debug|compile|compiler|"
            r"stack ?trace|exception|refactor|implement|algorithm|unit tests?|repository|syntax "
            r"error|variable|class|method)\b",
            zh="代码|编程|程序|函数|脚本|调试|算法|报错",
            ja="コード|プログラム|関数|スクリプト|デバッグ|アルゴリズム",
            ko="코드|프로그램|함수|스크립트|디버그|알고리즘",
            ru="код[а-я]*|программ[а-я]*|функци[а-я]* на|скрипт|отлад|алгоритм",
            es="código|programa en|función en|depurar|algoritmo",
            de="quellcode|programmier|funktion in|skript|debugg|algorithmus",
            fr="du code|programme en|fonction en|déboguer|algorithme",
            pt="código|programa em|função em|depurar|algoritmo",
            ar="كود|برمجة|دالة|خوارزمية",
        ),
        _p(
            "data_analysis",
            "words",
            0.8,
            en=r"\b(csv|dataframe|pandas|excel|spreadsheet|dataset|data set|pivot table|"
            r"regression|correlation|standard deviation|statistical(ly)?|histogram|"
            r"visuali[sz]e|visuali[sz]ation|dashboard|time series|outliers?|analy[sz]e (the|this|"
            r"my|these) (data|dataset|numbers|results|table|sales|survey))\b",
            zh="数据分析|数据集|表格|统计|回归|相关性|可视化|透视表",
            ja="データ分析|データセット|表計算|統計|回帰|相関|可視化",
            ko="데이터 ?분석|데이터셋|스프레드시트|통계|회귀|상관|시각화",
            ru="анализ[а-я]* данных|датасет|набор[а-я]* данных|таблиц[а-я]*|статистик|регресси|"
            "корреляци|визуализ",
            es="análisis de datos|conjunto de datos|hoja de cálculo|estadístic|regresión|correlación",
            de="datenanalyse|datensatz|tabelle|statistik|regression|korrelation|visualisier",
            fr="analyse de données|jeu de données|tableur|statistique|régression|corrélation",
            pt="análise de dados|conjunto de dados|planilha|estatístic|regressão|correlação",
            ar="تحليل البيانات|مجموعة بيانات|إحصاء",
        ),
        _p(
            "math",
            "expression",
            0.6,
            any=r"[0-9] ?[-+*/^×÷=] ?[0-9]|\\frac|\\sum|\\int|\\sqrt|[0-9]x\b|\bx\^[0-9]",
        ),
        _p(
            "math",
            "words",
            0.6,
            en=r"\b(solve|equation|calculate|compute the|how many|how much (did|does|will|would|"
            r"is|are|money)|what is the (value|sum|product|probability|area|volume|average)|"
            r"integral|derivative|probability|theorem|prove that|algebra|geometry|percent|"
            r"fraction|arithmetic|polynomial|matrix|factorial|prime number)\b",
            zh="计算|方程|求解|多少|概率|积分|导数|证明|几何|代数|百分之",
            ja="計算|方程式|いくつ|何個|何人|確率|積分|微分|証明|幾何",
            ko="계산|방정식|몇 개|몇 명|얼마|확률|적분|미분|증명|기하",
            ru="вычисл|уравнени|сколько|реши[а-я]* задач|вероятност|интеграл|производн|доказ|"
            "алгебр|геометр|процент",
            es="calcula|ecuación|cuántos|cuántas|cuánto|resuelve|probabilidad|integral|derivada|"
            "demuestra|porcentaje",
            de="berechne|gleichung|wie viele|wie viel|löse|wahrscheinlichkeit|integral|ableitung|"
            "beweise|prozent",
            fr="calcule|équation|combien|résous|résoudre|probabilité|intégrale|dérivée|démontre|"
            "pourcentage",
            pt="calcule|equação|quantos|quantas|quanto|resolva|probabilidade|integral|derivada|"
            "porcentagem",
            ar="احسب|معادلة|كم عدد|احتمال|تكامل|مشتقة",
        ),
        _p(
            "math",
            "quantities",
            0.3,
            any=r"\$ ?[0-9]|[0-9] ?%|[0-9]+ (dollars|cents|hours|minutes|days|weeks|months|years|"
            r"miles|km|kg|pounds|percent|times|apples|students|pages|meters|liters|feet)\b",
        ),
        _p(
            "math",
            "question",
            0.3,
            en=r"\bhow (many|much|long|old|far|fast|tall)\b|what (is|was|were) the (total|sum|"
            r"difference|average|ratio|cost|price)|\bin total\b|\baltogether\b",
        ),
        _p(
            "other",
            "nlp_format",
            0.6,
            en=r"\b(passage|premise|hypothesis|context:|question:|options:|choices:|which of the "
            r"following|the following (sentence|text|review|paragraph|article|passage|dialogue)|"
            r"review:|title:|article:)",
        ),
        _p(
            "other",
            "nlp_task",
            0.6,
            en=r"\b(translate|translation|summari[sz]e|summary of|classify|categori[sz]e|"
            r"sentiment|extract (the|all)|paraphrase|given the following passage|answer the "
            r"following question|what is the answer|choose (the|from the) (best |correct )?"
            r"(answer|option)|options:|fill in the blank|true or false)\b",
            zh="翻译|总结|摘要|分类|情感|提取|改写|选择正确",
            ja="翻訳|要約|分類|感情|抽出|言い換え",
            ko="번역|요약|분류|감정 ?분석|추출",
            ru="переведи|перевод|резюм|кратко изложи|классифиц|тональност|извлеки",
            es="traduce|traducción|resume|resumen|clasifica|extrae",
            de="übersetze|übersetzung|zusammenfass|klassifizier|extrahiere",
            fr="tradui|traduction|résume|résumé|classe|extrais",
            pt="traduza|tradução|resuma|resumo|classifique|extraia",
            ar="ترجم|لخص|ملخص|صنف",
        ),
    )

    def score(
        self,
        text: pa.Array | pa.ChunkedArray,
        tools: pa.Array | pa.ChunkedArray | None = None,
    ) -> SignalColumn:
        """``labels`` = capability per row; ``scores`` = the winning category's evidence
        (capped at 1); ``hits`` = the phrases that fired."""
        return self.score_prepared(prepare_text(text), tools=tools, raw=as_array(text))

    def score_prepared(
        self,
        prepared: pa.Array,
        tools: pa.Array | pa.ChunkedArray | None = None,
        raw: pa.Array | None = None,
        matrix: np.ndarray | None = None,
    ) -> SignalColumn:
        """``score`` on prepared text; ``matrix`` (rows × phrases) when already matched."""
        n = len(prepared)
        m = self.match_matrix(prepared) if matrix is None else matrix
        cats = [p.name.split(".", 1)[0] for p in self.PATTERNS]
        totals = np.zeros((n, len(_PRIORITY)), dtype=np.float64)
        for j, cat in enumerate(cats):
            totals[:, _PRIORITY.index(cat)] += m[:, j] * self.PATTERNS[j].weight
        if tools is not None:
            if isinstance(tools, pa.ChunkedArray):
                tools = tools.combine_chunks()
            ntools = pc.fill_null(pc.list_value_length(tools), 0).to_numpy(zero_copy_only=False)
            totals[:, 0] += np.where(ntools > 0, 10.0, 0.0)
        best = totals.argmax(axis=1)  # first max = priority order on ties
        top = totals[np.arange(n), best]
        labels = np.array(_PRIORITY, dtype=object)[best]
        labels = np.where(top >= self.min_evidence, labels, "chat")
        empty = pc.equal(pc.utf8_length(prepared), 0).to_numpy(zero_copy_only=False)
        labels = np.where(empty & (top < self.min_evidence), "other", labels)
        hits = self.hit_names(m)
        return SignalColumn(
            pa.array(np.minimum(top, 1.0), pa.float32()),
            hits,
            labels=pa.array(labels.tolist(), pa.string()),
            matrix=m,
        )
