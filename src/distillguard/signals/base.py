"""The signal base class and registry (Presidio's shape, columnar).

A signal is mostly data: a class with a ``name``, a ``version``, the request ``fields`` it
reads and ``PATTERNS``, a tuple of :class:`Phrase` (one concept, e.g. "internal reasoning",
written as one regular expression per language). :meth:`TextSignal.score` scores a whole Arrow
column at once and returns a :class:`SignalColumn`: a float32 score in [0, 1] per row and the
names of the phrases that fired.

How a batch is matched (no Python regex loop per row):

1. long texts are clipped to their head and tail, lower-cased (pyarrow.compute) and their
   ASCII whitespace collapsed to single spaces (numpy on the UTF-8 buffer): :func:`prepare_text`;
2. every phrase (the alternation of its languages) is one pattern of a single Hyperscan
   database (:mod:`.multimatch`), which tells in one pass per text which phrases occur;
   ``featurize`` scans once for all registered signals together and hands each signal its
   columns (:meth:`TextSignal.score_matrix`);
3. the score is the noisy-OR of the fired phrases' weights: ``1 - prod(1 - w)``, so several
   weak hints add up while a single strong phrase is enough.

Patterns keep to the syntax RE2 and Hyperscan read the same way (no look-around, no
back-references, no lazy quantifiers, no ``\\p{..}``, ``^`` only as the start of the text);
``tests/signals/test_multimatch.py`` checks the matrices equal RE2's
(``pc.match_substring_regex``, one pass per phrase: the reference) on simulated and real
multilingual text. On Spark the same Arrow batch functions run inside ``mapInArrow``.

Adding a signal takes two steps: write the class (``name``, ``version``, ``PATTERNS``;
``column=None`` unless the contract has a column for it), then enable it in the policy
(``signals.enabled: [..., "mypackage.mymodule:MySignal"]``) or ``SignalRegistry.add`` it.
Its phrases then appear in ``signal_hits`` as ``"my_signal:phrase_name"``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidParameterError

# Batches up to this many rows take per-row Python paths where numpy set-up costs more.
SMALL_BATCH = 16
# Texts longer than HEAD + TAIL characters are scanned on their first HEAD and last TAIL
# characters: instructions sit at the start or the end of a prompt, and this bounds the cost
# of a 100 KB pasted document.
CLIP_HEAD = 3000
CLIP_TAIL = 1500


@dataclass(frozen=True)
class Phrase:
    """One concept a signal looks for, as a lower-case regex per language.

    ``weight`` is how much the concept alone says (0.2 a weak hint, 0.8 near-certain).
    """

    name: str
    weight: float
    patterns: Mapping[str, str]

    def alternation(self) -> str:
        return "|".join(f"(?:{p})" for p in self.patterns.values())

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.patterns)


@dataclass
class SignalColumn:
    """What a signal returns for a batch: ``scores`` (float32 in [0, 1]) and ``hits``.

    ``hits`` holds, per row, the names of the phrases that fired joined by ``","`` (null when
    none). ``labels`` is set by categorical signals (capability) instead of a score.
    """

    scores: pa.FloatArray
    hits: pa.StringArray
    labels: pa.StringArray | None = None
    matrix: np.ndarray | None = None  # rows × phrases, which phrases fired

    def __len__(self) -> int:
        return len(self.scores)


def as_array(text: pa.Array | pa.ChunkedArray | Iterable[str | None]) -> pa.Array:
    """One contiguous string array from an Arrow array, chunked array or Python iterable."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks() if text.num_chunks != 1 else text.chunk(0)
    elif not isinstance(text, pa.Array):
        text = pa.array(list(text), type=pa.string())
    if pa.types.is_large_string(text.type):
        text = text.cast(pa.string())
    if pa.types.is_null(text.type):
        text = text.cast(pa.string())
    if not pa.types.is_string(text.type):
        raise InvalidParameterError(f"a text signal needs a string column; got {text.type}")
    return text


def clip(text: pa.Array, head: int = CLIP_HEAD, tail: int = CLIP_TAIL) -> pa.Array:
    """Keep the first ``head`` and last ``tail`` characters of texts longer than both."""
    if len(text) == 0:
        return text
    if tail > 0 and isinstance(text, pa.StringArray) and len(text) > SMALL_BATCH:
        from . import ckernels

        k = ckernels.lib()
        if k is not None:
            return _clip_c(k, text, head, tail)
    n = pc.utf8_length(text)
    if (pc.max(n).as_py() or 0) <= head + tail:
        return text
    clipped = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(text, 0, head), pc.utf8_slice_codeunits(text, -tail), " … "
    )
    return pc.if_else(pc.greater(n, head + tail), clipped, text)


def _clip_c(k: Any, text: pa.StringArray, head: int, tail: int) -> pa.Array:
    """:func:`clip` in one pass (``signals/_kernels.c``); nulls stay null."""
    from . import ckernels
    from .textops import from_buffers, string_buffers

    data, offsets = string_buffers(text)
    out, new_off, clipped = ckernels.clip(k, data, offsets, head, tail, " … ".encode())
    if not clipped:
        return text
    valid = None
    if text.null_count:
        valid = text.is_valid().to_numpy(zero_copy_only=False)
    return from_buffers(out, new_off, valid)


def fill_empty(arr: pa.Array) -> pa.Array:
    """Nulls → "" (skips the kernel call when there are no nulls: batches of one)."""
    return pc.fill_null(arr, "") if arr.null_count else arr


def prepare_text(text: pa.Array | pa.ChunkedArray, clip_text: bool = True) -> pa.Array:
    """Clip, lower-case, collapse ASCII whitespace to single spaces; nulls become ""."""
    from .textops import collapse_ws

    arr = clip(as_array(text)) if clip_text else as_array(text)
    return collapse_ws(pc.utf8_lower(fill_empty(arr)))


def join_names(matrix: np.ndarray, names: list[str], sep: str) -> pa.StringArray:
    """Per row, ``names`` of the True columns of ``matrix`` joined by ``sep`` (null if none).

    Vectorised over distinct rows of the matrix (few in practice): one string is built per
    distinct combination, then gathered with ``take``.
    """
    n = matrix.shape[0]
    if n == 0 or not matrix.any():
        return pa.nulls(n, pa.string())
    if n <= SMALL_BATCH:  # np.unique(axis=0) costs more than it saves on a handful of rows
        return pa.array(
            [
                sep.join(nm for nm, on in zip(names, row, strict=True) if on) or None
                for row in matrix.tolist()
            ],
            pa.string(),
        )
    rows = np.flatnonzero(matrix.any(axis=1))  # usually a small share of the batch
    sub = matrix[rows]
    if sub.shape[1] <= 62:  # pack each row's hits into one integer: 1-D unique is cheap
        packed = sub.astype(np.int64) @ (np.int64(1) << np.arange(sub.shape[1], dtype=np.int64))
        _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
        combos = sub[first]
    else:
        combos, inverse = np.unique(sub, axis=0, return_inverse=True)
    labels = [sep.join(nm for nm, on in zip(names, row, strict=True) if on) for row in combos]
    idx = np.full(n, len(labels), dtype=np.int64)  # last label = null
    idx[rows] = inverse.reshape(-1)
    return pa.array(labels + [None], pa.string()).take(pa.array(idx))


try:  # google-re2: the engine Arrow uses, precompiled; a Set matches all phrases in one pass
    import re2 as _re2
except ImportError:  # pragma: no cover - fallback keeps the package usable without it
    _re2 = None


def _re2_options() -> Any:
    opts = _re2.Options()
    opts.max_mem = 64 << 20  # large alternations stay on the DFA
    opts.never_capture = True
    return opts


def compile_pattern(pattern: str) -> Any:
    """A precompiled pattern with ``search``/``sub``: RE2 when installed, else Python ``re``
    (``re.ASCII`` so ``\\b``, ``\\w``, ``\\s``, ``\\d`` mean what they mean in RE2)."""
    if _re2 is not None:
        opts = _re2.Options()
        opts.max_mem = 64 << 20
        return _re2.compile(pattern, opts)
    return re.compile(pattern, re.ASCII)


class PhraseSet:
    """Which of several patterns occur in a text: one RE2 ``Set`` pass, or one ``re`` search
    per pattern without google-re2."""

    def __init__(self, patterns: list[str]) -> None:
        self.n = len(patterns)
        self._set = None
        self._res: list[re.Pattern[str]] = []
        if _re2 is not None and patterns:
            self._set = _re2.Set.SearchSet(_re2_options())
            for p in patterns:
                self._set.Add(p)
            self._set.Compile()
        else:
            self._res = [re.compile(p, re.ASCII) for p in patterns]

    def match(self, text: str) -> list[int]:
        if not text or self.n == 0:
            return []
        if self._set is not None:
            return list(self._set.Match(text) or ())
        return [j for j, r in enumerate(self._res) if r.search(text)]


def merge_patterns(*parts: dict[str, str]) -> dict[str, str]:
    """Per language, the alternation of several pattern tables (one concept, one RE2 pass)."""
    out: dict[str, str] = {}
    for part in parts:
        for lang, pat in part.items():
            out[lang] = f"{out[lang]}|{pat}" if lang in out else pat
    return out


class TextSignal:
    """Base class: a named, versioned detector over request text.

    Subclasses set ``name``, ``version``, ``column`` (the output column it fills, or None for
    a custom signal that only contributes to ``signal_hits``), ``fields`` and ``PATTERNS``.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    column: ClassVar[str | None] = None
    fields: ClassVar[tuple[str, ...]] = ("system_text", "prompt_text")
    PATTERNS: ClassVar[tuple[Phrase, ...]] = ()
    default_threshold: ClassVar[float] = 0.5

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = self.default_threshold if threshold is None else float(threshold)
        if not 0.0 <= self.threshold <= 1.0:
            raise InvalidParameterError(
                f"{type(self).__name__}.threshold must be a float in [0, 1]; got {threshold!r}"
            )
        self._weights = np.array([p.weight for p in self.PATTERNS], dtype=np.float64)

    # ---- matching ---------------------------------------------------------------------------
    def alternations(self) -> tuple[str, ...]:
        """One pattern per phrase (all its languages), in ``PATTERNS`` order."""
        return tuple(p.alternation() for p in self.PATTERNS)

    def match_matrix(self, prepared: pa.Array) -> np.ndarray:
        """Boolean matrix rows × phrases on text already passed through :func:`prepare_text`."""
        from .multimatch import matcher_for

        return matcher_for(self.alternations()).match(prepared)

    def combine(self, matrix: np.ndarray) -> np.ndarray:
        """Noisy-OR of the weights of the phrases that fired, as float32."""
        if matrix.shape[1] == 0:
            return np.zeros(matrix.shape[0], dtype=np.float32)
        miss = np.where(matrix, 1.0 - self._weights[None, :], 1.0)
        return (1.0 - miss.prod(axis=1)).astype(np.float32)

    def hit_names(self, matrix: np.ndarray) -> pa.StringArray:
        """Per row, the fired phrase names joined by ``","`` (null when none)."""
        return join_names(matrix, [p.name for p in self.PATTERNS], ",")

    def score_matrix(self, matrix: np.ndarray) -> SignalColumn:
        """The column for a match matrix (rows × this signal's phrases) computed elsewhere:
        featurize matches all signals' phrases in one pass."""
        return SignalColumn(
            pa.array(self.combine(matrix), pa.float32()), self.hit_names(matrix), matrix=matrix
        )

    def score_prepared(self, prepared: pa.Array) -> SignalColumn:
        """:meth:`score` on text already prepared (featurize prepares once for all signals)."""
        return self.score_matrix(self.match_matrix(prepared))

    def score(self, text: pa.Array | pa.ChunkedArray) -> SignalColumn:
        """Score a column of raw text: float32 in [0, 1] per row plus which phrases fired."""
        return self.score_prepared(prepare_text(text))

    def fires(self, column: SignalColumn) -> np.ndarray:
        """Rows whose score reaches this signal's threshold."""
        return column.scores.to_numpy(zero_copy_only=False) >= self.threshold

    # ---- description ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "column": self.column,
            "fields": list(self.fields),
            "threshold": self.threshold,
            "phrases": {
                p.name: {"weight": p.weight, "languages": list(p.languages)} for p in self.PATTERNS
            },
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threshold={self.threshold})"


# Built-in signals by name, as dotted paths: the default set is data (the policy's
# ``signals.enabled``), not an import list. A policy may also name "package.module:Class".
BUILTIN_SIGNALS: dict[str, str] = {
    "cot_elicitation": "distillguard.signals.cot_elicitation:CotElicitation",
    "rubric_grading": "distillguard.signals.rubric_grading:RubricGrading",
    "synthetic_data": "distillguard.signals.synthetic_data:SyntheticData",
    "training_format": "distillguard.signals.training_format:TrainingFormat",
    "sensitive_rewrite": "distillguard.signals.sensitive_rewrite:SensitiveRewrite",
}


def load_signal_class(ref: str) -> type[TextSignal]:
    """A signal class from a built-in name or a ``"package.module:Class"`` path."""
    path = BUILTIN_SIGNALS.get(ref, ref)
    if ":" not in path:
        raise InvalidParameterError(
            f"unknown signal {ref!r}; built-in: {sorted(BUILTIN_SIGNALS)} "
            "(or give 'package.module:Class')"
        )
    mod_name, _, cls_name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(mod_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise InvalidParameterError(f"cannot load signal {ref!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, TextSignal)):
        raise InvalidParameterError(f"signal {ref!r} is not a TextSignal subclass")
    return cls


@dataclass
class SignalRegistry:
    """An ordered set of signals: add (type-checked), remove by name, select by names."""

    signals: list[TextSignal] = field(default_factory=list)

    def add(self, signal: TextSignal) -> SignalRegistry:
        if not isinstance(signal, TextSignal):
            raise InvalidParameterError(
                f"SignalRegistry.add needs a TextSignal instance; got {type(signal).__name__}"
            )
        if not signal.name:
            raise InvalidParameterError(f"{type(signal).__name__} has no name")
        if signal.name in self.names:
            raise InvalidParameterError(f"a signal named {signal.name!r} is already registered")
        self.signals.append(signal)
        return self

    def remove(self, name: str) -> SignalRegistry:
        if name not in self.names:
            raise InvalidParameterError(f"no signal named {name!r}; registered: {self.names}")
        self.signals = [s for s in self.signals if s.name != name]
        return self

    def select(self, names: Iterable[str]) -> SignalRegistry:
        """A new registry with only ``names`` (in registry order)."""
        wanted = list(names)
        missing = sorted(set(wanted) - set(self.names))
        if missing:
            raise InvalidParameterError(f"no signal named {missing}; registered: {self.names}")
        return SignalRegistry([s for s in self.signals if s.name in wanted])

    def get(self, name: str) -> TextSignal:
        for s in self.signals:
            if s.name == name:
                return s
        raise InvalidParameterError(f"no signal named {name!r}; registered: {self.names}")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.signals]

    def __iter__(self) -> Iterator[TextSignal]:
        return iter(self.signals)

    def __len__(self) -> int:
        return len(self.signals)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    @classmethod
    def default(cls, policy: Any = None) -> SignalRegistry:
        """The signals the policy's ``signals`` section enables, with its thresholds."""
        sec = _signals_section(policy)
        reg = cls()
        for ref in sec.enabled:
            sig_cls = load_signal_class(ref)
            thr = sec.thresholds.get(sig_cls.name, sec.thresholds.get(ref))
            reg.add(sig_cls(threshold=thr))
        return reg


def _signals_section(policy: Any) -> Any:
    """The ``signals`` policy section of ``policy`` (defaults when None)."""
    from . import policy as _sigpolicy

    if policy is None:
        return _sigpolicy.default_section()
    if isinstance(policy, _sigpolicy.SignalsPolicy):
        return policy
    sec = getattr(policy, "signals", None)
    if not isinstance(sec, _sigpolicy.SignalsPolicy):
        raise InvalidParameterError(
            f"expected a Policy with a 'signals' section or a SignalsPolicy; got {type(policy)}"
        )
    return sec
