"""Find input files and read them as bounded Arrow batches of raw records.

Every file ends up as the same two columns, ``line`` (the record as JSON text) and
``line_no`` (1-based line in a JSON Lines file, 1-based row in a Parquet or CSV file,
1-based element of a ``.json`` array), so one SQL validation (``ingest.validate``) serves all
of them and a bad record can always be located. Lines are split with
``pyarrow.compute.split_pattern`` on whole blocks of bytes: for the contract there is no
Python loop per record, and memory stays bounded by the block size.

A gateway's own log format (``ingest.formats``: LiteLLM, OpenAI, OTel GenAI, ...) is
recognised from the file's first record and mapped onto contract records batch by batch, in
Python (one ``json.loads`` per record); formats whose documents hold several records (OTLP
batches of spans, a Langfuse trace) number their records 1, 2, ... instead of lines.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import InvalidInputError
from . import formats
from .validate import INVALID_UTF8_MARK

if TYPE_CHECKING:
    import duckdb

try:  # ISA-L's inflate: the same bytes as zlib's at about half its CPU (the ``speed`` extra)
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - the extra is optional
    _inflate = zlib  # type: ignore[assignment]

#: What a broken deflate stream raises, from zlib or from ISA-L (not a ``zlib.error``).
INFLATE_ERRORS: tuple[type[Exception], ...] = (
    (zlib.error,) if _inflate is zlib else (zlib.error, _inflate.error)
)

# Extensions read when a folder is walked. A file named explicitly is read whatever its name:
# its format is then sniffed from its first bytes.
LOG_SUFFIXES: tuple[str, ...] = (
    ".jsonl",
    ".jsonl.gz",
    ".ndjson",
    ".ndjson.gz",
    ".parquet",
    ".json",
    ".json.gz",
    ".csv",
)
# Files a simulator, a store or ``detect`` writes next to logs; never request logs when a
# folder is walked.
NOT_LOGS: tuple[str, ...] = (
    "accounts", "labels", "request_labels", "quarantine", "summary", "sim_summary", "clusters",
)

BLOCK_BYTES = 12 * 1024 * 1024  # bytes decompressed and split at a time (~9k records)
READ_BYTES = 1024 * 1024  # bytes asked of the (de)compressor at a time
BATCH_ROWS = 50_000  # records validated, featurized and inserted at a time
# Parquet rows decoded (and turned into JSON text) at a time: one worker task's worth
# (``parallel.TASK_ROWS``). A 50k-row batch of `large` held ~80-100 MB more in the main process
# during ingest (the decoded columns and their JSON text).
PARQUET_BATCH_ROWS = 16_384
DETECT_DOCS = 20  # records read to recognise a file's log format

RAW_SCHEMA = pa.schema([("line", pa.large_string()), ("line_no", pa.int64())])


class TruncatedFileError(InvalidInputError):
    """A compressed file ends early or is corrupt after ``line_no - 1`` complete lines."""

    def __init__(self, path: Path, line_no: int, cause: BaseException) -> None:
        super().__init__(f"{path}: corrupt or truncated after line {line_no - 1}: {cause}")
        self.path = path
        self.line_no = line_no
        self.cause = cause


@dataclass(frozen=True)
class InputFile:
    """One file to read: its container (``jsonl`` plain or gzip, ``json`` document,
    ``parquet``, ``csv``), the log format of its records (``ingest.formats``) and, for an
    OpenAI Batch input file, the output files whose lines are joined to it on ``custom_id``."""

    path: Path
    fmt: str
    gzip: bool = False
    log_format: str = "contract"
    companions: tuple[Path, ...] = ()


def sniff(path: Path) -> InputFile:
    """Decide a file's container from its first bytes (Parquet magic, gzip magic) and name."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    name = path.name.lower()
    if head == b"PAR1":
        return InputFile(path, "parquet")
    if name.endswith((".json", ".json.gz")):
        return InputFile(path, "json", gzip=head[:2] == b"\x1f\x8b")
    if head[:2] == b"\x1f\x8b":
        return InputFile(path, "jsonl", gzip=True)
    if path.suffix.lower() == ".csv":
        return InputFile(path, "csv")
    return InputFile(path, "jsonl")


def _is_log_name(path: Path) -> bool:
    name = path.name.lower()
    if name.startswith("."):
        return False
    if not any(name.endswith(s) for s in LOG_SUFFIXES):
        return False
    stem = name.split(".", 1)[0]
    return stem not in NOT_LOGS


def discover(paths: list[Path] | tuple[Path, ...], log_format: str = "auto") -> list[InputFile]:
    """Files to read, in order: given files as-is, folders walked recursively and sorted.

    ``log_format`` is ``auto`` (each file's format recognised from its first record) or a
    name of ``ingest.formats`` for every file. Raises :class:`InvalidInputError` for a
    missing path, an unreadable file or a folder without any log file in it.
    """
    if log_format != "auto":
        formats.get(log_format)  # an unknown name fails before any file is read
    if not paths:
        raise InvalidInputError("no input logs given")
    out: list[InputFile] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise InvalidInputError(f"input not found: {p}")
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and _is_log_name(f))
            if not found:
                raise InvalidInputError(
                    f"no request log files ({', '.join(LOG_SUFFIXES)}) found under folder {p}"
                )
            files = found
        else:
            files = [p]
        for f in files:
            key = f.resolve()
            if key in seen:
                continue
            seen.add(key)
            f_in = sniff(f)
            name = log_format if log_format != "auto" else _detect(f_in)
            out.append(InputFile(f_in.path, f_in.fmt, f_in.gzip, name))
    return _join_batch_files(out)


def _detect(f: InputFile) -> str:
    """The log format of a file's first records; ``contract`` when it cannot be read (the
    read itself then reports the problem)."""
    try:
        docs = list(_iter_docs(f, limit=DETECT_DOCS))
    except (OSError, ValueError, EOFError, *INFLATE_ERRORS, pa.ArrowException, InvalidInputError):
        return "contract"
    finally:
        # Arrow's allocator keeps what reading freed (a Parquet row group's columns, ~150 MB
        # on a 100k-row group): hand it back before ingest needs memory of its own.
        pa.default_memory_pool().release_unused()
    return formats.detect(*docs).name


def _is_batch_output(f: InputFile) -> bool:
    if f.log_format != "openai_batch":
        return False
    first = next(_iter_docs(f, limit=1), None)
    return isinstance(first, dict) and "response" in first and "body" not in first


def _join_batch_files(files: list[InputFile]) -> list[InputFile]:
    """OpenAI Batch output files are read with the input files of the same run (their
    requests' text is in the input, their time and usage in the output)."""
    outputs = [f for f in files if _is_batch_output(f)]
    inputs = [f for f in files if f.log_format == "openai_batch" and f not in outputs]
    if not outputs or not inputs:
        return files
    joined = tuple(f.path for f in outputs)
    return [
        InputFile(f.path, f.fmt, f.gzip, f.log_format, joined) if f in inputs else f
        for f in files
        if f not in outputs
    ]


class _Counting(io.RawIOBase):
    """Wraps a binary file and counts the bytes read from disk (progress for .gz too)."""

    def __init__(self, fh: io.BufferedReader, on_bytes: Callable[[int], None] | None) -> None:
        self._fh = fh
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        n = self._fh.readinto(b)
        if n and self._on_bytes is not None:
            self._on_bytes(n)
        return n or 0


def _split_lines(block: bytes, end: int | None = None) -> pa.Array:
    """Split ``block[:end]`` (complete lines) into a string array; lines that are not UTF-8
    are marked with ``INVALID_UTF8_MARK`` (their bytes backslash-escaped) for quarantine.

    The block is wrapped as one Arrow binary value without a copy (its bytes object is the
    data buffer), so the only copy is the split itself.
    """
    end = len(block) if end is None else end
    offsets = pa.py_buffer(np.array([0, end], dtype=np.int64))
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(block)])
    parts = pc.split_pattern(whole, b"\n").flatten()
    try:
        return parts.cast(pa.large_string())
    except pa.ArrowInvalid:
        # Rare: bytes that are not UTF-8. Replacing them with U+FFFD would let distinct raw
        # ids collide; the line is quarantined as ``invalid_utf8`` instead.
        return pa.array(
            [_utf8_or_marked(line) for line in block[:end].split(b"\n")], pa.large_string()
        )


def _utf8_or_marked(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return INVALID_UTF8_MARK + line.decode("utf-8", errors="backslashreplace")


def _emit(lines: pa.Array, first_no: int) -> Iterator[pa.Table]:
    """Drop blank lines, strip CR, attach line numbers, slice to at most BATCH_ROWS rows."""
    if len(lines) == 0:
        return
    nos = pa.array(np.arange(first_no, first_no + len(lines), dtype=np.int64))
    # Both tests without copying the text: rtrim only when some line has a CR, and a blank
    # line is an empty one or one of whitespace only (utf8_is_space stops at the first
    # non-space character, where trimming and measuring wrote every line out again).
    if pc.any(pc.ends_with(lines, "\r")).as_py():
        lines = pc.utf8_rtrim(lines, characters="\r")
    blank = pc.or_(pc.equal(pc.binary_length(lines), 0), pc.utf8_is_space(lines))
    keep = pc.invert(blank)
    tbl = pa.table({"line": lines, "line_no": nos}, schema=RAW_SCHEMA).filter(keep)
    for off in range(0, tbl.num_rows, BATCH_ROWS):
        yield tbl.slice(off, BATCH_ROWS)


def _gunzip(fh: io.BufferedReader) -> Iterator[bytes]:
    """Decompressed pieces of a gzip stream (several members allowed).

    Unlike ``gzip.GzipFile.read``, which drops what it decompressed when the stream breaks
    off, every byte before the break is yielded; then ``EOFError`` / one of
    :data:`INFLATE_ERRORS`. Inflated by ISA-L when it is installed (``_inflate``).
    """
    d = _inflate.decompressobj(wbits=31)
    started = False
    while True:
        chunk = fh.read(READ_BYTES)
        if not chunk:
            break
        while chunk:
            if d.eof:  # next member of a multi-member file
                d = _inflate.decompressobj(wbits=31)
            out = d.decompress(chunk)
            started = True
            if out:
                yield out
            chunk = d.unused_data if d.eof else b""
    if started and not d.eof:
        raise EOFError("compressed file ended before the end-of-stream marker")


def iter_jsonl(f: InputFile, on_bytes: Callable[[int], None] | None = None) -> Iterator[pa.Table]:
    """Batches of ``(line, line_no)`` from a JSON Lines file, plain or gzip; blank lines skipped."""
    try:
        raw = open(f.path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InvalidInputError(f"cannot read {f.path}: {exc.strerror or exc}") from exc
    with raw:
        counted = io.BufferedReader(_Counting(raw, on_bytes), buffer_size=1 << 20)
        pieces = _gunzip(counted) if f.gzip else iter(lambda: counted.read(READ_BYTES), b"")
        line_no = 1
        # Pieces are joined once per block (a bytearray that grows and is sliced and copied
        # out again cost ~3x the split itself); ``acc`` starts with the previous block's tail.
        acc: list[bytes] = []
        size = 0
        broken: BaseException | None = None
        while True:
            # A file that breaks off mid-way still yields every complete line decompressed
            # before the break.
            try:
                piece = next(pieces, b"")
            except (OSError, EOFError, *INFLATE_ERRORS) as exc:
                broken, piece = exc, b""
            if piece:
                acc.append(piece)
                size += len(piece)
                # a piece without a newline cannot end a line: joining would copy a long
                # line again for every piece of it (quadratic on one huge, broken line)
                if size < BLOCK_BYTES or b"\n" not in piece:
                    continue
            block = acc[0] if len(acc) == 1 else b"".join(acc)
            if line_no == 1 and block[:3] == b"\xef\xbb\xbf":
                block = block[3:]  # a UTF-8 byte-order mark (Windows exports) is not a record
            cut = block.rfind(b"\n")
            final = not piece
            if final and broken is None and block and cut != len(block) - 1:
                cut = len(block)  # the last line has no newline
            if cut >= 0:
                lines = _split_lines(block, cut)
                yield from _emit(lines, line_no)
                line_no += len(lines)
                block = block[cut + 1 :]
            acc, size = ([block], len(block)) if block else ([], 0)
            if final:
                break
        if broken is not None:
            raise TruncatedFileError(f.path, line_no, broken) from broken


def _json_con() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for ``_table_to_json_lines``, one per file: a new database per
    batch cost ~20% more CPU (measured on 50k-row batches of the large Parquet log), and one
    thread does it with less CPU than two."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 1")
    return con


def _table_to_json_lines(
    tbl: pa.Table, first_no: int, time_cols: tuple[str, ...],
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """Arrow rows → JSON text per row, so Parquet goes through the same validation as JSONL
    (on ``con`` when given, else on a connection of its own)."""
    # Typed timestamps have no offset in JSON; as epoch ms they are unambiguous (UTC). Every
    # timestamp column, not just ``ts``: a gateway's table names its time its own way.
    for name in tbl.column_names:
        if pa.types.is_timestamp(tbl.schema.field(name).type):
            col = tbl.column(name).cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
            tbl = tbl.set_column(tbl.schema.get_field_index(name), name, col)
    own = con is None
    con = _json_con() if con is None else con
    try:
        con.register("__dg_rows", tbl)
        lines = con.sql(
            "SELECT to_json(__dg_rows)::VARCHAR AS line FROM __dg_rows"
        ).to_arrow_table()
    finally:
        con.unregister("__dg_rows")
        if own:
            con.close()
    nos = pa.array(range(first_no, first_no + tbl.num_rows), pa.int64())
    return pa.table(
        {"line": lines.column(0).cast(pa.large_string()), "line_no": nos}, schema=RAW_SCHEMA
    )


def iter_parquet(
    f: InputFile,
    on_bytes: Callable[[int], None] | None = None,
    time_cols: tuple[str, ...] = ("ts",),
    batch_rows: int | None = None,
) -> Iterator[pa.Table]:
    """Batches of ``(line, line_no)`` from a Parquet file; ``line_no`` is the 1-based row.
    ``batch_rows``: rows per batch (``None``: :data:`PARQUET_BATCH_ROWS`, at most
    :data:`BATCH_ROWS`)."""
    try:
        # pre_buffer=False: with pyarrow's default (True) the reader caches the column chunks it
        # coalesced and does not hand them back while iterating, so memory grows with the rows
        # read (~10 MB per 50k requests, measured with pyarrow 26; ~1 GB on a 5M-request file).
        # Pre-buffering coalesces reads for high-latency filesystems (S3), not local files:
        # https://arrow.apache.org/docs/dev/c_glib/parquet-glib/method.ReaderProperties.set_pre_buffer.html
        pf = pq.ParquetFile(f.path, pre_buffer=False)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InvalidInputError(f"{f.path}: not a readable Parquet file: {exc}") from exc
    size = f.path.stat().st_size
    nrows = max(pf.metadata.num_rows, 1)
    row = 1
    con = _json_con()
    try:
        for batch in pf.iter_batches(batch_size=batch_rows or min(BATCH_ROWS, PARQUET_BATCH_ROWS)):
            tbl = pa.Table.from_batches([batch])
            yield _table_to_json_lines(tbl, row, time_cols, con)
            row += tbl.num_rows
            if on_bytes is not None:
                on_bytes(int(size * tbl.num_rows / nrows))
    finally:
        con.close()


_NUMBER = r"^\s*-?[0-9]+([.][0-9]*)?([eE][-+]?[0-9]+)?\s*$"
_CSV_KINDS = {"number": pa.float64(), "integer": pa.int64(), "bool": pa.bool_()}


def _typed_contract_columns(tbl: pa.Table) -> pa.Table:
    """A contract CSV's number and boolean columns as numbers and booleans (CSV holds only
    text), column by column and only where every cell reads as one: otherwise the column
    stays text and its records are quarantined as ``wrong_type:<field>``, never guessed."""
    from ..contract import OPTIONAL_REQUEST_FIELDS

    for name, kind in OPTIONAL_REQUEST_FIELDS.items():
        if kind not in _CSV_KINDS or name not in tbl.column_names:
            continue
        col = tbl.column(name)
        if kind == "bool":
            ok = pc.is_in(pc.utf8_lower(col), pa.array(["true", "false"]))
        else:
            ok = pc.match_substring_regex(col, _NUMBER)
        if pc.all(pc.fill_null(ok, True)).as_py():
            typed = pc.equal(pc.utf8_lower(col), "true") if kind == "bool" else col.cast(
                pa.float64()).cast(_CSV_KINDS[kind], safe=kind == "integer")
            tbl = tbl.set_column(tbl.schema.get_field_index(name), name, typed)
    return tbl


def iter_csv(
    f: InputFile, on_bytes: Callable[[int], None] | None = None, typed: bool = False
) -> Iterator[pa.Table]:
    """Batches from a CSV table, every column read as text (the validation decides what is a
    number or a time); ``typed`` reads a contract request log's numbers and booleans."""
    try:
        with open(f.path, newline="", encoding="utf-8", errors="replace") as fh:
            header = next(csv.reader(fh), [])
        # Every value as text: the validation decides what is a number or a time.
        tbl = pacsv.read_csv(
            f.path,
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=True
            ),
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise InvalidInputError(f"{f.path}: not a readable CSV file: {exc}") from exc
    if typed:
        tbl = _typed_contract_columns(tbl)
    if on_bytes is not None:
        on_bytes(f.path.stat().st_size)
    con = _json_con()
    try:
        for off in range(0, max(tbl.num_rows, 1), BATCH_ROWS):
            part = tbl.slice(off, BATCH_ROWS)
            if part.num_rows:
                # +2: line 1 is the header row.
                yield _table_to_json_lines(part, off + 2, (), con)
    finally:
        con.close()


def iter_json_doc(f: InputFile, on_bytes: Callable[[int], None] | None = None) -> Iterator[pa.Table]:
    """Batches from a ``.json`` file: the elements of a top-level array (``line_no`` is the
    element), one record for an object, and JSON Lines when the file is not one document
    (OTel collectors write JSON Lines under ``.json``)."""
    try:
        doc = _load_json_doc(f)
    except (ValueError, RecursionError):  # not one document (or too deep): line by line
        yield from iter_jsonl(f, on_bytes)
        return
    if on_bytes is not None:
        on_bytes(f.path.stat().st_size)
    items = doc if isinstance(doc, list) else [doc]
    for off in range(0, len(items), BATCH_ROWS):
        part = items[off : off + BATCH_ROWS]
        lines = pa.array([json.dumps(x, ensure_ascii=False) for x in part], pa.large_string())
        nos = pa.array(range(off + 1, off + 1 + len(part)), pa.int64())
        yield pa.table({"line": lines, "line_no": nos}, schema=RAW_SCHEMA)


def _load_json_doc(f: InputFile) -> object:
    try:
        opener = gzip.open if f.gzip else open
        with opener(f.path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise TruncatedFileError(f.path, 1, exc) from exc
    return json.loads(data.decode("utf-8-sig", errors="replace"))


def _raw_batches(
    f: InputFile, on_bytes: Callable[[int], None] | None, time_cols: tuple[str, ...]
) -> Iterator[pa.Table]:
    if f.fmt == "parquet":
        return iter_parquet(f, on_bytes, time_cols)
    if f.fmt == "csv":  # request logs in contract form carry numbers; gateway formats map them
        return iter_csv(f, on_bytes, typed=f.log_format == "contract" and "ts" in time_cols)
    if f.fmt == "json":
        return iter_json_doc(f, on_bytes)
    return iter_jsonl(f, on_bytes)


def _iter_docs(f: InputFile, limit: int) -> Iterator[object]:
    """The first ``limit`` stored documents of a file, parsed (for format detection).

    Parquet is read ``limit`` rows at a time: a whole batch of `large` (decoded and turned
    into JSON) left ~300 MB in the process before ingest began."""
    n = 0
    batches = iter_parquet(f, None, (), limit) if f.fmt == "parquet" else _raw_batches(f, None, ())
    for batch in batches:
        for line in batch.column("line").to_pylist():
            try:
                yield json.loads(line)
            except (ValueError, RecursionError):  # too deep to parse: validation quarantines it
                continue
            n += 1
            if n >= limit:
                return


def _batch_outputs(paths: tuple[Path, ...]) -> dict[str, object]:
    """``custom_id`` → output line of the OpenAI Batch output files."""
    joined: dict[str, object] = {}
    for p in paths:
        for batch in iter_jsonl(sniff(p)):
            for line in batch.column("line").to_pylist():
                try:
                    out = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(out, dict) and isinstance(out.get("custom_id"), str):
                    joined[out["custom_id"]] = out
    return joined


def map_batches(f: InputFile, batches: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """Raw batches of a gateway format → raw batches of contract records (``ingest.formats``).

    A line that is not JSON passes through unchanged, so validation quarantines it as
    ``invalid_json`` at its own line.
    """
    fmt = formats.get(f.log_format)
    outputs = _batch_outputs(f.companions) if f.companions else {}
    ordinal = 0
    for batch in batches:
        lines: list[str] = []
        nos: list[int] = []
        raw = zip(batch.column("line").to_pylist(), batch.column("line_no").to_pylist(), strict=True)
        for line, no in raw:
            try:
                doc = json.loads(line)
            except (ValueError, RecursionError):  # kept as is: validation quarantines it
                lines.append(line)
                nos.append(no)
                continue
            for rec in formats.records_of(fmt, doc):
                if outputs and isinstance(rec, dict) and rec.get("custom_id") in outputs:
                    rec = {**rec, "output": outputs[rec["custom_id"]]}
                ordinal += 1
                lines.append(json.dumps(formats.map_record(fmt, rec), ensure_ascii=False))
                nos.append(ordinal if fmt.explodes else no)
        if lines:
            yield pa.table(
                {"line": pa.array(lines, pa.large_string()), "line_no": pa.array(nos, pa.int64())},
                schema=RAW_SCHEMA,
            )


def iter_records(
    f: InputFile,
    on_bytes: Callable[[int], None] | None = None,
    time_cols: tuple[str, ...] = ("ts",),
) -> Iterator[pa.Table]:
    """Raw-record batches from any supported file, as contract records."""
    batches = _raw_batches(f, on_bytes, time_cols)
    if f.log_format == "contract":
        return batches
    return map_batches(f, batches)
