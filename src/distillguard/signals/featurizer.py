"""``featurize``: normalised request rows in, the same rows plus the text features out.

An Arrow batch function (RecordBatch or Table in, same kind out), so one definition runs in
the DuckDB pipeline, per request in the online scorer (a batch of one) and on Spark through
``mapInArrow`` (issue 3, item 9: portability): phrase matching is one Hyperscan pass per
text over all signals (:mod:`.multimatch`), everything else a ``pyarrow.compute`` kernel or
numpy over the UTF-8 buffers. All hashes are computed from bytes (never Python's salted
``hash()``), so values agree across processes, machines and engines.

Per chunk: each distinct input (prompt, system prompt, tools declared or not) is featurized
once and its features spread to its repeats. The system prompt and prompt (each clipped to
its head and tail) are lower-cased and whitespace-collapsed once, and one multi-pattern pass
over that text tells every registered signal and capability which of their phrases occur;
capability reads the prompt alone, so rows with a system prompt are prepared and matched
again on the prompt. Script reads the first 300 and last 100 characters; ``prompt_hash``,
``system_hash``, ``skeleton_hash`` and ``lsh_bands`` come from :mod:`.sketch`.

The byte-level steps (clipping, whitespace collapsing, the tokenizer and its hashes, the
prompt hash, script counts, skeleton hash, MinHash band keys and edge keys) run in the C
kernels of :mod:`.ckernels` (one pass per byte, equal bit for bit to the numpy code, which
remains the fallback without a C compiler).

Throughput (2-core machine shared with other jobs; issue 15): the 40,272 requests of
``small-w101`` featurize at ~31,000-33,000 rows per CPU-second with the C kernels against
~11,000-13,000 with the numpy code (same run, load average ~7; 8,450 before issue 15, when
each phrase was its own RE2 pass). What is left is mostly the Hyperscan scan itself (~70 MB/s
over the prepared text) and the slot regexes of the skeleton (RE2). Large inputs are
processed in chunks of up to :data:`CHUNK_BYTES` (8 MB) of text.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..contract import SIGNAL_COLUMNS, TEXT_FEATURE_SCHEMA
from ..errors import InvalidInputError
from .base import (
    CLIP_HEAD,
    CLIP_TAIL,
    SignalRegistry,
    TextSignal,
    _signals_section,
    clip,
    fill_empty,
    join_names,
    prepare_text,
)
from .capability import Capability
from .multimatch import matcher_for
from .policy import SignalsPolicy
from .script import detect_script
from .sketch import segment_hashes, sketch, splitmix64, text_hash
from .textops import string_buffers

CHUNK_BYTES = 8_000_000  # RE2 compiles each pattern once per chunk; ~300 MB peak per chunk
CHUNK_ROWS = 65_536
SMALL_DISTINCT = 64  # batches up to this size are featurized row by row, repeats or not
DISTINCT_SHARE = 0.9  # featurize distinct inputs only when they are at most 90% of the rows
FEATURE_COLUMNS: tuple[str, ...] = tuple(TEXT_FEATURE_SCHEMA.names)
_SCORE_COLUMNS = SIGNAL_COLUMNS

_REGISTRY_CACHE: dict[str, SignalRegistry] = {}
_REGISTRY_BY_ID: dict[int, tuple[SignalsPolicy, SignalRegistry]] = {}
_CAPABILITY = Capability()


def _section_key(sec: SignalsPolicy) -> str:
    return json.dumps(dataclasses.asdict(sec), sort_keys=True)


def default_registry(sec: SignalsPolicy) -> SignalRegistry:
    """``SignalRegistry.default`` for this section, built once per distinct section."""
    hit = _REGISTRY_BY_ID.get(id(sec))
    if hit is not None and hit[0] is sec:  # the same section object: no re-keying per call
        return hit[1]
    key = _section_key(sec)
    reg = _REGISTRY_CACHE.get(key)
    if reg is None:
        reg = SignalRegistry.default(sec)
        if len(_REGISTRY_CACHE) > 16:
            _REGISTRY_CACHE.clear()
        _REGISTRY_CACHE[key] = reg
    if len(_REGISTRY_BY_ID) > 16:
        _REGISTRY_BY_ID.clear()
    _REGISTRY_BY_ID[id(sec)] = (sec, reg)
    return reg


def _column(table: pa.Table, name: str, typ: pa.DataType) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, typ)
    col = table.column(name)
    col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_null(col.type):
        return pa.nulls(table.num_rows, typ)
    return col


def _features(table: pa.Table, registry: SignalRegistry, sec: SignalsPolicy) -> dict[str, Any]:
    n = table.num_rows
    prompt = _column(table, "prompt_text", pa.string())
    system = _column(table, "system_text", pa.string())
    tools = _column(table, "tools", pa.list_(pa.string()))
    if pa.types.is_large_string(prompt.type):
        prompt = prompt.cast(pa.string())
    if pa.types.is_large_string(system.type):
        system = system.cast(pa.string())

    # System prompt and prompt scanned together: an instruction may sit in either.
    # (fill_null first: pyarrow 26 drops all-null rows under null_handling="skip")
    both = pc.binary_join_element_wise(
        fill_empty(clip(system, 1500, 500)), fill_empty(clip(prompt)), "\n"
    )
    prepared = prepare_text(both, clip_text=False)  # both parts are clipped already
    sys_rows = np.flatnonzero(_has_text(system))
    # Capability and the prompt hash read the prompt alone. Where there is no system
    # prompt the joined text already is the prepared prompt (its leading "\n" collapses
    # away), so only the rows with one are prepared, and matched, again.
    prompt_sys = prepare_text(prompt.take(pa.array(sys_rows))) if len(sys_rows) else None
    prompt_prepared = _replace_rows(prepared, sys_rows, prompt_sys)

    # One multi-pattern pass for every signal's phrases and capability's; each signal then
    # takes its own columns.
    signals = [*registry, _CAPABILITY]
    matrices = _split(matcher_for(_alternations(signals)).match(prepared), signals)
    out: dict[str, Any] = {c: np.zeros(n, dtype=np.float32) for c in _SCORE_COLUMNS}
    out["signal_hits"] = _signal_columns(registry, matrices[:-1], out, n)
    cap_matrix = matrices[-1]
    if prompt_sys is not None:
        cap_matrix = cap_matrix.copy()
        cap_matrix[sys_rows] = _CAPABILITY.match_matrix(prompt_sys)
    cap = _CAPABILITY.score_prepared(prompt_prepared, tools=tools, matrix=cap_matrix)
    out["capability"] = cap.labels
    out["script"] = detect_script(clip(prepared, 300, 100), clip_text=False)
    out["prompt_hash"] = _prompt_hash(prompt, prompt_prepared)
    out["system_hash"] = text_hash(system) if len(sys_rows) else np.zeros(n, dtype=np.uint64)
    sk = sketch(
        prompt,
        num_perm=sec.num_perm,
        bands=sec.bands,
        rows=sec.rows,
        shingle_size=sec.shingle_size,
        window_tokens=sec.window_tokens,
        edge_tokens=sec.edge_tokens,
    )
    out["skeleton_hash"] = sk.skeleton_hash
    out["lsh_bands"] = sk.lsh_bands
    return out


def _has_text(arr: pa.Array) -> np.ndarray:
    """Rows holding a non-empty string."""
    if arr.null_count == len(arr):
        return np.zeros(len(arr), dtype=bool)
    return pc.fill_null(pc.greater(pc.utf8_length(arr), 0), False).to_numpy(zero_copy_only=False)


def _replace_rows(base: pa.Array, rows: np.ndarray, values: pa.Array | None) -> pa.Array:
    """``base`` with its ``rows`` replaced by ``values`` (in order)."""
    if values is None or not len(rows):
        return base
    idx = np.arange(len(base), dtype=np.int64)
    idx[rows] = len(base) + np.arange(len(rows))
    return pa.concat_arrays([base, values]).take(pa.array(idx))


def _alternations(signals: list[TextSignal]) -> tuple[str, ...]:
    return tuple(pat for sig in signals for pat in sig.alternations())


def _split(matrix: np.ndarray, signals: list[TextSignal]) -> list[np.ndarray]:
    """Per signal, in order, its phrases' columns of a combined match matrix."""
    ends = np.cumsum([len(sig.PATTERNS) for sig in signals])
    return [matrix[:, a:b] for a, b in zip(np.r_[0, ends[:-1]], ends, strict=True)]


def _signal_columns(
    registry: SignalRegistry, matrices: list[np.ndarray], out: dict[str, Any], n: int
) -> pa.StringArray:
    """Fill each registered signal's score column in ``out``; return ``signal_hits``: the
    phrases of the signals that fired, as ``"signal:phrase"`` joined by ``"|"``."""
    fired_cols, fired_names = [], []
    for sig, matrix in zip(registry, matrices, strict=True):
        col = sig.score_matrix(matrix)
        if sig.column in out:
            out[sig.column] = col.scores
        fired_cols.append(matrix & sig.fires(col)[:, None])
        fired_names.extend(f"{sig.name}:{p.name}" for p in sig.PATTERNS)
    if not fired_cols:
        return pa.nulls(n, pa.string())
    return join_names(np.hstack(fired_cols), fired_names, "|")


def _prompt_hash(prompt: pa.Array, prepared: pa.Array) -> np.ndarray:
    """Hash of the normalised prompt (lower-cased, whitespace collapsed). Prompts longer than
    the scan window are hashed on their head and tail plus their length."""
    h = segment_hashes(*string_buffers(prepared))
    nchar = pc.utf8_length(prompt).to_numpy(zero_copy_only=False)
    nchar = np.nan_to_num(nchar, nan=0).astype(np.int64) if prompt.null_count else nchar
    long_ = nchar > CLIP_HEAD + CLIP_TAIL
    if long_.any():
        h[long_] = splitmix64(h[long_] ^ nchar[long_].astype(np.uint64))
        h[long_ & (h == 0)] = 1
    return h


def _input_key(table: pa.Table) -> np.ndarray:
    """Per row, an id of everything the features read: the prompt, the system prompt and
    whether tools were declared (equal ids ⇔ equal inputs; dictionary codes, no hashing).
    A chunk holds at most CHUNK_ROWS rows, so the mixed codes stay below 2**35."""
    key = np.zeros(table.num_rows, dtype=np.int64)
    for name in ("prompt_text", "system_text"):
        col = _column(table, name, pa.string())
        if col.null_count == len(col):
            continue
        codes = pc.dictionary_encode(col, null_encoding="encode")
        key = key * (len(codes.dictionary) + 1) + codes.indices.to_numpy(zero_copy_only=False)
    tools = _column(table, "tools", pa.list_(pa.string()))
    if tools.null_count != len(tools):
        lengths = pc.fill_null(pc.list_value_length(tools), 0).to_numpy(zero_copy_only=False)
        key = key * 2 + (lengths > 0)
    return key


def _distinct_features(
    table: pa.Table, registry: SignalRegistry, sec: SignalsPolicy
) -> dict[str, Any]:
    """:func:`_features` of each distinct input once, spread back to every row.

    Features are a function of the row's input alone (see :func:`_input_key`), and real
    and simulated logs repeat prompts (retries, templated campaigns, shared eval sets):
    a quarter of the rows of the simulator's presets are repeats.
    """
    n = table.num_rows
    if n <= SMALL_DISTINCT:
        return _features(table, registry, sec)
    _, first, inverse = np.unique(_input_key(table), return_index=True, return_inverse=True)
    if len(first) > DISTINCT_SHARE * n:  # too few repeats to pay for the gathers
        return _features(table, registry, sec)
    feats = _features(table.take(pa.array(first)), registry, sec)
    back = pa.array(inverse.reshape(-1))
    return {
        k: v.take(back) if isinstance(v, pa.Array) else v[inverse.reshape(-1)]
        for k, v in feats.items()
    }


def _chunks(table: pa.Table) -> list[pa.Table]:
    """Slices of ``table`` with at most CHUNK_ROWS rows and about CHUNK_BYTES of text."""
    n = table.num_rows
    if n <= 1024:
        return [table]
    lengths = np.zeros(n, dtype=np.int64)
    for name in ("prompt_text", "system_text"):
        if name in table.column_names and not pa.types.is_null(table.schema.field(name).type):
            lengths += pc.fill_null(pc.binary_length(table.column(name)), 0).to_numpy()
    cum = np.cumsum(lengths)
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + CHUNK_BYTES, side="right"))
        stop = min(max(stop, start + 1), start + CHUNK_ROWS, n)
        bounds.append(stop)
    return [table.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def featurize(
    batch: pa.RecordBatch | pa.Table,
    registry: SignalRegistry | None = None,
    policy: Any = None,
) -> pa.RecordBatch | pa.Table:
    """Append the columns of ``contract.TEXT_FEATURE_SCHEMA`` to normalised request rows.

    Reads ``prompt_text`` (required), ``system_text`` and ``tools`` (optional). ``registry``
    defaults to the signals the policy enables; a disabled score signal yields 0.0. Existing
    feature columns are replaced. Deterministic across processes and machines.

    >>> import pyarrow as pa
    >>> out = featurize(pa.table({"prompt_text": ["Let's think step by step: 2+2?"]}))
    >>> out.column("capability").to_pylist(), out.column("sig_cot").to_pylist()[0] > 0.5
    (['math'], True)
    """
    sec = _signals_section(policy)
    if registry is None:
        registry = default_registry(sec)
    elif not isinstance(registry, SignalRegistry):
        raise InvalidInputError(f"registry must be a SignalRegistry; got {type(registry).__name__}")
    is_batch = isinstance(batch, pa.RecordBatch)
    if is_batch:
        table = pa.Table.from_batches([batch])
    elif isinstance(batch, pa.Table):
        table = batch
    else:
        raise InvalidInputError(
            f"featurize needs a pyarrow RecordBatch or Table; got {type(batch).__name__}"
        )
    if "prompt_text" not in table.column_names:
        raise InvalidInputError(
            "featurize needs a 'prompt_text' column (contract.NORMALIZED_REQUEST_SCHEMA); "
            f"got columns {table.column_names}"
        )
    keep = [c for c in table.column_names if c not in FEATURE_COLUMNS]
    table = table.select(keep)
    parts: dict[str, list] = {c: [] for c in FEATURE_COLUMNS}
    for chunk in _chunks(table):
        feats = _distinct_features(chunk, registry, sec)
        for field in TEXT_FEATURE_SCHEMA:
            v = feats[field.name]
            if not isinstance(v, pa.Array):
                v = pa.array(v, type=field.type)
            elif v.type != field.type:
                v = v.cast(field.type)
            parts[field.name].append(v)
    for field in TEXT_FEATURE_SCHEMA:
        col = pa.chunked_array(parts[field.name], type=field.type)
        table = table.append_column(field, col)
    if is_batch:
        return (
            table.combine_chunks().to_batches()[0]
            if table.num_rows
            else pa.RecordBatch.from_pylist([], schema=table.schema)
        )
    return table
