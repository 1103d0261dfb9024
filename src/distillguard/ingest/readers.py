"""Find input files and read them as bounded Arrow batches of raw records.

Every format ends up as the same two columns, ``line`` (the record as JSON text) and
``line_no`` (1-based line in a JSON Lines file, 1-based row in a Parquet file), so one SQL
validation (``ingest.validate``) serves all of them and a bad record can always be located.
Lines are split with ``pyarrow.compute.split_pattern`` on whole blocks of bytes: there is no
Python loop per record, and memory stays bounded by the block size.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import InvalidInputError
from .validate import INVALID_UTF8_MARK

# Extensions read when a folder is walked. A file named explicitly is read whatever its name:
# its format is then sniffed from its first bytes.
LOG_SUFFIXES: tuple[str, ...] = (
    ".jsonl",
    ".jsonl.gz",
    ".ndjson",
    ".ndjson.gz",
    ".parquet",
)  # not ``.json``: folders hold summaries and configs as JSON documents, not JSON Lines
# Files a simulator or a store writes next to logs; never request logs when a folder is walked.
NOT_LOGS: tuple[str, ...] = ("accounts", "labels", "request_labels", "quarantine")

BLOCK_BYTES = 8 * 1024 * 1024  # bytes decompressed and split at a time
READ_BYTES = 1024 * 1024  # bytes asked of the (de)compressor at a time
BATCH_ROWS = 50_000  # records validated, featurized and inserted at a time

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
    """One file to read and its format: ``jsonl`` (plain or gzip), ``parquet`` or ``csv``."""

    path: Path
    fmt: str
    gzip: bool = False


def sniff(path: Path) -> InputFile:
    """Decide a file's format from its first bytes (Parquet magic, gzip magic), else JSONL."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if head == b"PAR1":
        return InputFile(path, "parquet")
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


def discover(paths: list[Path] | tuple[Path, ...]) -> list[InputFile]:
    """Files to read, in order: given files as-is, folders walked recursively and sorted.

    Raises :class:`InvalidInputError` for a missing path, an unreadable file or a folder
    without any log file in it.
    """
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
            out.append(sniff(f))
    return out


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


def _split_lines(block: bytes) -> pa.Array:
    """Split a block of complete lines into a string array; lines that are not UTF-8 are
    marked with ``INVALID_UTF8_MARK`` (their bytes backslash-escaped) for quarantine."""
    parts = pc.split_pattern(pa.array([block], pa.large_binary()), b"\n").flatten()
    try:
        return parts.cast(pa.large_string())
    except pa.ArrowInvalid:
        # Rare: bytes that are not UTF-8. Replacing them with U+FFFD would let distinct raw
        # ids collide; the line is quarantined as ``invalid_utf8`` instead.
        return pa.array([_utf8_or_marked(line) for line in block.split(b"\n")], pa.large_string())


def _utf8_or_marked(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return INVALID_UTF8_MARK + line.decode("utf-8", errors="backslashreplace")


def _emit(lines: pa.Array, first_no: int) -> Iterator[pa.Table]:
    """Drop blank lines, strip CR, attach line numbers, slice to at most BATCH_ROWS rows."""
    if len(lines) == 0:
        return
    nos = pa.array(range(first_no, first_no + len(lines)), pa.int64())
    lines = pc.utf8_rtrim(lines, characters="\r")
    keep = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(lines)), 0)
    tbl = pa.table({"line": lines, "line_no": nos}, schema=RAW_SCHEMA).filter(keep)
    for off in range(0, tbl.num_rows, BATCH_ROWS):
        yield tbl.slice(off, BATCH_ROWS)


def _gunzip(fh: io.BufferedReader) -> Iterator[bytes]:
    """Decompressed pieces of a gzip stream (several members allowed).

    Unlike ``gzip.GzipFile.read``, which drops what it decompressed when the stream breaks
    off, every byte before the break is yielded; then ``EOFError`` / ``zlib.error``.
    """
    d = zlib.decompressobj(wbits=31)
    started = False
    while True:
        chunk = fh.read(READ_BYTES)
        if not chunk:
            break
        while chunk:
            if d.eof:  # next member of a multi-member file
                d = zlib.decompressobj(wbits=31)
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
        buf = bytearray()
        broken: BaseException | None = None
        while True:
            # Small pieces into a block buffer: a file that breaks off mid-way still yields
            # every complete line decompressed before the break.
            try:
                piece = next(pieces, b"")
            except (OSError, EOFError, zlib.error) as exc:
                broken, piece = exc, b""
            if piece:
                buf += piece
                if line_no == 1 and buf[:3] == b"\xef\xbb\xbf":
                    del buf[:3]  # a UTF-8 byte-order mark (Windows exports) is not a record
                if len(buf) < BLOCK_BYTES:
                    continue
            cut = buf.rfind(b"\n")
            final = not piece
            if final and broken is None and buf and cut != len(buf) - 1:
                cut = len(buf)  # the last line has no newline
            if cut >= 0:
                lines = _split_lines(bytes(buf[:cut]))
                del buf[: cut + 1]
                yield from _emit(lines, line_no)
                line_no += len(lines)
            if final:
                break
        if broken is not None:
            raise TruncatedFileError(f.path, line_no, broken) from broken


def _table_to_json_lines(tbl: pa.Table, first_no: int, time_cols: tuple[str, ...]) -> pa.Table:
    """Arrow rows → JSON text per row, so Parquet goes through the same validation as JSONL."""
    import duckdb

    # Typed timestamps have no offset in JSON; as epoch ms they are unambiguous (UTC).
    for name in time_cols:
        if name in tbl.column_names and pa.types.is_timestamp(tbl.schema.field(name).type):
            col = tbl.column(name).cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
            tbl = tbl.set_column(tbl.schema.get_field_index(name), name, col)
    con = duckdb.connect()
    try:
        con.register("__dg_rows", tbl)
        lines = con.sql(
            "SELECT to_json(__dg_rows)::VARCHAR AS line FROM __dg_rows"
        ).to_arrow_table()
    finally:
        con.close()
    nos = pa.array(range(first_no, first_no + tbl.num_rows), pa.int64())
    return pa.table(
        {"line": lines.column(0).cast(pa.large_string()), "line_no": nos}, schema=RAW_SCHEMA
    )


def iter_parquet(
    f: InputFile,
    on_bytes: Callable[[int], None] | None = None,
    time_cols: tuple[str, ...] = ("ts",),
) -> Iterator[pa.Table]:
    """Batches of ``(line, line_no)`` from a Parquet file; ``line_no`` is the 1-based row."""
    try:
        pf = pq.ParquetFile(f.path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InvalidInputError(f"{f.path}: not a readable Parquet file: {exc}") from exc
    size = f.path.stat().st_size
    nrows = max(pf.metadata.num_rows, 1)
    row = 1
    for batch in pf.iter_batches(batch_size=BATCH_ROWS):
        tbl = pa.Table.from_batches([batch])
        yield _table_to_json_lines(tbl, row, time_cols)
        row += tbl.num_rows
        if on_bytes is not None:
            on_bytes(int(size * tbl.num_rows / nrows))


def iter_csv(f: InputFile, on_bytes: Callable[[int], None] | None = None) -> Iterator[pa.Table]:
    """Batches from a small CSV table (the account table): every column read as text."""
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
    if on_bytes is not None:
        on_bytes(f.path.stat().st_size)
    for off in range(0, max(tbl.num_rows, 1), BATCH_ROWS):
        part = tbl.slice(off, BATCH_ROWS)
        if part.num_rows:
            # +2: line 1 is the header row.
            yield _table_to_json_lines(part, off + 2, ())


def iter_records(
    f: InputFile,
    on_bytes: Callable[[int], None] | None = None,
    time_cols: tuple[str, ...] = ("ts",),
) -> Iterator[pa.Table]:
    """Raw-record batches from any supported file."""
    if f.fmt == "parquet":
        return iter_parquet(f, on_bytes, time_cols)
    if f.fmt == "csv":
        return iter_csv(f, on_bytes)
    return iter_jsonl(f, on_bytes)
