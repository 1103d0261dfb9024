"""The embedded store: one DuckDB file in a folder the user names, filled incrementally.

``Store(path).ingest(paths)`` reads request logs (and optionally the account table), validates
every record in SQL, quarantines the bad ones with line number and reason, derives the text
features (``distillguard.signals.featurize``) batch by batch, and appends to ``requests``.
Validation and features run in worker processes (``ingest.parallel``, ``ingest.prepare``);
this process reads, finds repeated request ids and inserts.

Crash safety: one file is one transaction (its batches, its quarantine rows and its
``ingested_files`` row), so a crash never loses an accepted file nor counts one twice.
Incremental: a file whose size and content fingerprint are already in ``ingested_files`` is
skipped; request ids already stored are quarantined as ``duplicate_request_id``.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import contract
from ..engines.base import DuckDBEngine
from ..errors import DistillguardError, InvalidInputError, InvalidParameterError
from . import parallel, prepare, readers, validate

DEFAULT_STORE = Path("./distillguard-data")
FINGERPRINT_BYTES = 1 << 20  # bytes hashed at each end of a file
CONTENT_COLUMNS = ("prompt_text", "system_text")  # NULL under --no-content-retention

_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
# DuckDB's size units: KB/MB/... are powers of 1000, KiB/MiB/... of 1024
# (https://duckdb.org/docs/stable/configuration/overview, ``memory_limit``).
_UNIT_BYTES = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}


def size_bytes(size: str, name: str = "memory size") -> int:
    """A DuckDB size such as ``'1GB'`` or ``'512MiB'`` in bytes (``name``: the parameter an
    error names)."""
    m = _MEMORY_RE.match(str(size))
    if m is None:
        raise InvalidParameterError(f"{name} must be a size such as '1GB' or '512MB'; got {size!r}")
    return int(float(m.group(1)) * _UNIT_BYTES[m.group(2).lower()])


def ingest_memory_limit(memory_limit: str, workers: int, floor: int = 0) -> str:
    """The store connection's DuckDB ``memory_limit`` while ingest runs ``workers`` processes.

    ``memory_limit`` is taken as the DuckDB budget of the whole process tree during ingest,
    split evenly between the store's connection and each featurize worker. The store's share
    can be that small because ingest only appends: DuckDB would otherwise keep every block it
    has just written cached up to ``memory_limit`` (~750 MB after 1.25M requests of ``large``),
    and ingest never reads those blocks again. ``workers=1`` validates in this process, on a
    cursor of the same buffer pool: half then. Never below ``floor`` bytes
    (:meth:`Store._append_floor`), under which DuckDB fails instead of spilling.
    """
    share = max(size_bytes(memory_limit) // (max(workers, 1) + 1), floor)
    return f"{-(-share // 2**20)}MiB"


def analysis_memory_limit(memory_limit: str, floor: int = 256 * 2**20) -> str:
    """The store's DuckDB ``memory_limit`` after ingest (templates, analyze, outputs, report):
    half of ``memory_limit``, never below ``floor`` nor above ``memory_limit``.

    As in :func:`ingest_memory_limit`, ``memory_limit`` is taken as the budget of the whole
    process tree. After ingest one process is left, and beside DuckDB it holds Python's
    Arrow and numpy copies of what DuckDB computed (edges, account features, request
    inputs), which DuckDB's limit does not count: half for each. DuckDB also keeps what a
    query freed, up to its limit, so its share is what it holds from the first big query on.
    The floor: a DuckDB thread needs a few blocks per operator to spill instead of failing.
    """
    total = size_bytes(memory_limit)
    share = min(max(total // 2, floor), total)
    return f"{-(-share // 2**20)}MiB"


@dataclass
class IngestResult:
    """What one ``Store.ingest`` call did."""

    files_read: int = 0
    files_skipped: int = 0
    accepted: int = 0
    quarantined: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    accounts_accepted: int = 0
    accounts_quarantined: int = 0
    skipped_paths: list[str] = field(default_factory=list)
    featurize: dict[str, Any] = field(default_factory=dict)  # workers, their CPU and RSS
    ts_assumed_tz: int = 0  # accepted records whose time had no offset (read in assume_tz)
    assume_tz: str = "UTC"
    formats: dict[str, int] = field(default_factory=dict)  # files read per log format
    metadata_only_files: list[str] = field(default_factory=list)  # logs without prompt text
    unreadable_files: list[dict[str, str]] = field(default_factory=list)  # path, reason

    @property
    def metadata_only(self) -> bool:
        """True when every file read carried no prompt text (access logs): the run has
        behaviour, infrastructure and coordination evidence only."""
        return bool(self.metadata_only_files) and len(self.metadata_only_files) == self.files_read

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_read": self.files_read,
            "files_skipped": self.files_skipped,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "by_reason": dict(sorted(self.by_reason.items())),
            "seconds": round(self.seconds, 3),
            "accounts_accepted": self.accounts_accepted,
            "accounts_quarantined": self.accounts_quarantined,
            "skipped_paths": list(self.skipped_paths),
            "ts_assumed_tz": self.ts_assumed_tz,
            "assume_tz": self.assume_tz,
            "formats": dict(sorted(self.formats.items())),
            "metadata_only": self.metadata_only,
            "metadata_only_files": list(self.metadata_only_files),
            "unreadable_files": list(self.unreadable_files),
        }


@dataclass
class FileTally:
    """What one file contributed so far: accepted and quarantined records, reasons, and
    accepted records whose time had no offset."""

    accepted: int = 0
    quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    assumed: int = 0


def fingerprint(path: Path) -> tuple[int, str]:
    """``(size, sha256 of size + first and last MiB)``: cheap, and any append changes it."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(FINGERPRINT_BYTES))
        if size > FINGERPRINT_BYTES:
            fh.seek(max(size - FINGERPRINT_BYTES, FINGERPRINT_BYTES))
            h.update(fh.read(FINGERPRINT_BYTES))
    return size, h.hexdigest()


def check_tz(con: duckdb.DuckDBPyConnection, tz: str) -> str:
    """``tz`` when DuckDB knows the zone (IANA names, ``UTC``); else a clear error."""
    try:
        con.execute("SELECT timezone(?, TIMESTAMP '2024-01-01 00:00:00')", [tz]).fetchall()
    except duckdb.Error as exc:
        raise InvalidParameterError(
            f"--assume-tz must be an IANA time zone such as UTC or Europe/Paris; got {tz!r}"
        ) from exc
    return tz


class IdIndex:
    """The 64-bit hashes of every stored request_id, as a few sorted numpy runs.

    Checking a batch for ids already in the store costs ``O(batch · log n)`` instead of a
    scan of the store's id column per batch (which made ingest quadratic in the store size).
    Runs are merged like a binary counter, so there are ``O(log n)`` of them; 5M ids take
    40 MB. A hash match is only a candidate: the caller confirms it against the strings.
    """

    def __init__(self, hashes: np.ndarray) -> None:
        self.runs: list[np.ndarray] = [np.sort(hashes.astype(np.uint64))] if len(hashes) else []

    def contains(self, h: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``h`` are (probably) stored."""
        found = np.zeros(len(h), dtype=bool)
        for run in self.runs:
            pos = np.searchsorted(run, h)
            pos[pos == len(run)] = len(run) - 1
            found |= run[pos] == h
        return found

    def add(self, h: np.ndarray) -> None:
        """Add a batch of hashes (ids just inserted)."""
        if len(h) == 0:
            return
        self.runs.append(np.sort(h.astype(np.uint64)))
        while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            b = self.runs.pop()
            a = self.runs.pop()
            self.runs.append(np.sort(np.concatenate([a, b]), kind="stable"))

    def __len__(self) -> int:
        return int(sum(len(r) for r in self.runs))


class StoreEngine(DuckDBEngine):
    """``DuckDBEngine`` on the store's connection.

    ``has_table`` fetches its whole (one-row) result: with duckdb 2.0 a result left half-read
    by ``fetchone()`` blocks every later query on the connection.
    """

    def has_table(self, name: str) -> bool:
        rows = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()
        return bool(rows and rows[0][0])


class Store:
    """A DuckDB store on ``path/store.duckdb``; ``con`` is the connection, ``engine`` wraps it.

    Parameters
    ----------
    path : folder of the store (created when missing).
    memory_limit : DuckDB ``memory_limit``; beyond it DuckDB spills to ``path/tmp``.
    threads : DuckDB worker threads (``None``: DuckDB's default, one per core).
    ingest_memory_limit : ``memory_limit`` while :meth:`ingest` runs (``None``: the store's
        share of ``memory_limit``, see :func:`ingest_memory_limit`).
    """

    def __init__(
        self,
        path: Path = DEFAULT_STORE,
        memory_limit: str = "1GB",
        threads: int | None = None,
        ingest_memory_limit: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.memory_limit = memory_limit
        self.threads = threads
        self.ingest_memory_limit = ingest_memory_limit
        self.last_ingest_memory_limit: str | None = None  # what the last ingest() ran under
        for name, size in (("memory_limit", memory_limit), ("ingest_memory_limit", ingest_memory_limit)):
            if size is not None:
                size_bytes(size, name)
        if threads is not None and (isinstance(threads, bool) or int(threads) < 1):
            raise InvalidParameterError(f"threads must be a positive integer; got {threads!r}")
        if self.path.exists() and not self.path.is_dir():
            raise InvalidInputError(f"store path {self.path} exists and is not a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "tmp").mkdir(exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(f"cannot create store folder {self.path}: {exc}") from exc
        try:
            self.con = duckdb.connect(str(self.path / "store.duckdb"))
        except duckdb.IOException as exc:
            raise InvalidInputError(
                f"cannot open store {self.path / 'store.duckdb'} (is another distillguard "
                f"process using it?): {exc}"
            ) from exc
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute(f"SET temp_directory = '{(self.path / 'tmp').resolve()}'")
        self._restore_threads()
        # Time parsing in validation must not depend on the machine's zone.
        self.con.execute("SET TimeZone = 'UTC'")
        for macro in validate.MACROS:
            self.con.execute(macro)
        self._vcon: duckdb.DuckDBPyConnection | None = None
        self._ids: IdIndex | None = None  # loaded on first use, dropped on rollback
        self._current_source = ""
        self._truncated = 0
        self._retain_content = True
        self._assume_tz = "UTC"
        self._assumed = 0  # this file's records whose time had no offset
        self._metadata_only = False  # this file has no prompt text at all
        self._pipeline: parallel.FeaturePipeline | None = None
        self._tally = FileTally()
        self._create_tables()
        self.engine = StoreEngine(self.con)

    # ---- schema --------------------------------------------------------------------------
    def _create_tables(self) -> None:
        con = self.con
        con.register("__dg_empty", contract.STORED_REQUEST_SCHEMA.empty_table())
        try:
            con.execute("CREATE TABLE IF NOT EXISTS requests AS SELECT * FROM __dg_empty")
        finally:
            con.unregister("__dg_empty")
        cols = [r[0] for r in con.execute("DESCRIBE requests").fetchall()]
        if cols != contract.STORED_REQUEST_SCHEMA.names:
            raise InvalidInputError(
                f"store {self.path} holds a requests table with other columns than this "
                "version writes; use a new --store folder"
            )
        acc_cols = ", ".join(f"{n} {t}" for n, t in validate.ACCOUNT_COLUMNS)
        con.execute(f"CREATE TABLE IF NOT EXISTS accounts ({acc_cols})")
        con.execute(
            "CREATE TABLE IF NOT EXISTS quarantine "
            "(source_file VARCHAR, line BIGINT, reason VARCHAR, raw VARCHAR)"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS ingested_files (path VARCHAR, kind VARCHAR, "
            "size BIGINT, mtime DOUBLE, fingerprint VARCHAR, rows_accepted BIGINT, "
            "rows_quarantined BIGINT, ingested_at TIMESTAMP)"
        )

    # ---- ingest --------------------------------------------------------------------------
    def ingest(
        self,
        paths: list[Path] | tuple[Path, ...],
        accounts: Path | None = None,
        retain_content: bool = True,
        progress: Any = None,
        policy: Any = None,
        workers: int | None = None,
        log_format: str = "auto",
        assume_tz: str = "UTC",
    ) -> IngestResult:
        """Add request logs (files or folders) and optionally an account table to the store.

        ``progress`` is a Rich ``Progress`` (see ``distillguard.progress``) or ``None``;
        ``policy`` (a ``Policy``) selects the text signals, defaults when ``None``.
        ``retain_content=False`` stores prompt and system text as NULL (only derived features
        are kept), drops unknown fields and keeps no raw text of quarantined records.
        ``workers`` processes compute the text features (``None``: one per core); inputs
        under ``parallel.POOL_MIN_BYTES`` and ``workers=1`` stay in this process. The stored
        rows are identical whatever the worker count. ``log_format`` is ``auto`` or a name of
        ``ingest.formats``; ``assume_tz`` is the IANA zone of times written without an offset.
        """
        t0 = time.perf_counter()
        self._assume_tz = check_tz(self.con, assume_tz)
        files = readers.discover(list(paths), log_format)
        acc_file = None
        if accounts is not None:
            accounts = Path(accounts)
            if not accounts.is_file():
                raise InvalidInputError(f"account table not found: {accounts}")
            acc_file = readers.sniff(accounts)
        workers = parallel.check_workers(workers)
        result = IngestResult(assume_tz=self._assume_tz)
        request_bytes = sum(f.path.stat().st_size for f in files)
        total = request_bytes + (acc_file.path.stat().st_size if acc_file else 0)
        if request_bytes < parallel.POOL_MIN_BYTES:
            workers = 1  # starting worker processes costs more than it saves
        pipe = parallel.FeaturePipeline(self._store_prepared, policy, workers, self._validator())
        limit = self.ingest_memory_limit or ingest_memory_limit(
            self.memory_limit, pipe.workers, self._append_floor()
        )
        self.last_ingest_memory_limit = limit
        with pipe:
            self._pipeline = pipe
            self.con.execute(f"SET memory_limit = '{limit}'")
            if pipe.parallel:
                # The workers take the cores; the appends then cost less CPU on one DuckDB
                # thread (~1.7 against ~2.1 CPU-s for medium's 264k rows, same file).
                self.con.execute("SET threads = 1")
            try:
                self._ingest_all(files, acc_file, retain_content, progress, total, result)
            finally:
                self._pipeline = None
                self.con.execute(f"SET memory_limit = '{self.memory_limit}'")
                if pipe.parallel:
                    self._restore_threads()
            result.featurize = pipe.usage()
        self.write_quarantine_mirror()
        result.seconds = time.perf_counter() - t0
        return result

    def _restore_threads(self) -> None:
        if self.threads is None:
            self.con.execute("RESET threads")
        else:
            self.con.execute(f"SET threads = {int(self.threads)}")

    def _append_floor(self) -> int:
        """Bytes an append to ``requests`` cannot do without: one block per column for each
        DuckDB thread, and one more set for the rest of the transaction (validation, quarantine
        rows). Below it DuckDB fails rather than spills: an 8,000-row test file failed at
        12 MB with 2 threads and at 11 MB with 1, and passed at this floor (32 and 21 MiB)."""
        block = self.con.sql("SELECT block_size FROM pragma_database_size()").fetchall()[0][0]
        threads = int(self.con.sql("SELECT current_setting('threads')").fetchall()[0][0])
        return (threads + 1) * len(contract.STORED_REQUEST_SCHEMA) * int(block)

    def _ingest_all(
        self,
        files: list[readers.InputFile],
        acc_file: readers.InputFile | None,
        retain_content: bool,
        progress: Any,
        total: int,
        result: IngestResult,
    ) -> None:
        task = progress.add_task("ingest", total=total) if progress is not None else None

        def advance(n: int) -> None:
            if task is not None:
                progress.advance(task, n)

        for f in files:
            size, fp = fingerprint(f.path)
            if self._already(fp, size, "requests"):
                result.files_skipped += 1
                result.skipped_paths.append(str(f.path))
                advance(size)
                continue
            try:
                acc, bad, reasons = self._ingest_file(
                    f, size, fp, "requests", retain_content, advance
                )
            except (InvalidInputError, OSError) as exc:
                self._quarantine_file(f, exc, result)
                continue
            result.files_read += 1
            result.accepted += acc
            result.quarantined += bad
            result.formats[f.log_format] = result.formats.get(f.log_format, 0) + 1
            result.ts_assumed_tz += self._assumed
            if self._metadata_only:
                result.metadata_only_files.append(str(f.path))
            for k, v in reasons.items():
                result.by_reason[k] = result.by_reason.get(k, 0) + v
        if acc_file is not None:
            size, fp = fingerprint(acc_file.path)
            if self._already(fp, size, "accounts"):
                result.files_skipped += 1
                result.skipped_paths.append(str(acc_file.path))
                advance(size)
            else:
                acc, bad, reasons = self._ingest_file(
                    acc_file, size, fp, "accounts", retain_content, advance
                )
                result.accounts_accepted += acc
                result.accounts_quarantined += bad
                for k, v in reasons.items():  # already prefixed "account:"
                    result.by_reason[k] = result.by_reason.get(k, 0) + v

    def _quarantine_file(self, f: readers.InputFile, exc: BaseException, result: IngestResult) -> None:
        """A file that cannot be read at all (corrupt Parquet, broken gzip header) is one
        quarantine row with the reason; it is not marked as ingested, so a repaired copy is
        read next time, and the other files of the run are still read."""
        reason = "unreadable_file"
        self._insert_quarantine(
            pa.table(
                {
                    "source_file": [str(f.path)],
                    "source_line": pa.array([0], pa.int64()),
                    "reason": [reason],
                    "raw": [str(exc)[:500]],
                }
            )
        )
        result.quarantined += 1
        result.by_reason[reason] = result.by_reason.get(reason, 0) + 1
        result.unreadable_files.append({"path": str(f.path), "reason": str(exc)[:200]})

    def _already(self, fp: str, size: int, kind: str) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM ingested_files WHERE fingerprint = ? AND size = ? AND kind = ?",
            [fp, size, kind],
        ).fetchall()
        return bool(row and row[0][0])

    def _ingest_file(
        self,
        f: readers.InputFile,
        size: int,
        fp: str,
        kind: str,
        retain_content: bool,
        advance: Callable[[int], None],
    ) -> tuple[int, int, Counter[str]]:
        """One file in one transaction: accepted rows, quarantine rows, ingested_files row."""
        con = self.con
        self._current_source = str(f.path)
        self._truncated = 0
        self._retain_content = retain_content
        self._tally = FileTally()
        self._metadata_only = False
        con.execute("BEGIN TRANSACTION")
        try:
            if kind == "requests":
                self._read_requests(f, retain_content, advance)
            else:
                self._read_accounts(f, retain_content, advance)
            tally = self._tally
            if self._truncated:
                tally.quarantined += self._truncated
                tally.reasons[self._truncation_reason(kind)] += self._truncated
            st = f.path.stat()
            con.execute(
                "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
                [str(f.path.resolve()), kind, size, st.st_mtime, fp, tally.accepted,
                 tally.quarantined],
            )
            con.execute("COMMIT")
        except BaseException:
            if self._pipeline is not None:
                self._pipeline.discard()
            try:
                con.execute("ROLLBACK")
            except duckdb.TransactionException:
                pass  # DuckDB already ended it (after an out-of-memory error): keep that error
            self._ids = None  # it may hold hashes of rows that were just rolled back
            raise
        self._assumed = tally.assumed
        return tally.accepted, tally.quarantined, tally.reasons

    @staticmethod
    def _truncation_reason(kind: str) -> str:
        return "truncated_file" if kind == "requests" else "account:truncated_file"

    def _read_requests(
        self, f: readers.InputFile, retain_content: bool, advance: Callable[[int], None]
    ) -> None:
        """Every batch of a request log through the pipeline; all inserted on return.

        The first batch is validated alone (and waited for): when none of its records carries
        user text the file is an access log, and the later batches are read metadata-only.
        """
        source = str(f.path)
        first = prepare.BatchJob(
            self._request_sql(source, retain_content, True, True), source, retain_content,
            metadata_sql=self._request_sql(source, retain_content, require_text=False),
        )
        job = first
        for raw in self._records(f, advance, ("ts",), self._truncation_reason("requests")):
            self._insert_requests(raw, job)
            if job is first:
                self._flush()
                job = prepare.BatchJob(
                    self._request_sql(source, retain_content, not self._metadata_only),
                    source, retain_content,
                )
        self._flush()  # every row of the file is in before the commit

    def _read_accounts(
        self, f: readers.InputFile, retain_content: bool, advance: Callable[[int], None]
    ) -> None:
        """An account table, validated and upserted in this process (it is small)."""
        sql = validate.account_sql("__dg_raw", str(f.path))
        reason = self._truncation_reason("accounts")
        for raw in self._records(f, advance, ("created_at",), reason):
            res = self._validate(sql, raw, retain_content)
            ok = pc.is_null(res.column("reason"))
            good = res.filter(ok)
            if good.num_rows:
                self._upsert_accounts(good)
            self._quarantine(res.filter(pc.invert(ok)))
            self._tally.accepted += good.num_rows

    def _quarantine(self, bad: pa.Table) -> None:
        """Insert quarantined rows and count them by reason."""
        if not bad.num_rows:
            return
        self._insert_quarantine(bad)
        for item in pc.value_counts(bad.column("reason")).to_pylist():
            self._tally.reasons[item["values"]] += item["counts"]
        self._tally.quarantined += bad.num_rows

    def _request_sql(
        self, source: str, retain_content: bool, require_text: bool, detect_text: bool = False
    ) -> str:
        return validate.request_sql(
            "__dg_raw", source, retain_content, None, within_batch_dedup=False,
            assume_tz=self._assume_tz, require_text=require_text, detect_text=detect_text,
        )

    def _records(
        self,
        f: readers.InputFile,
        advance: Callable[[int], None],
        time_cols: tuple[str, ...],
        reason: str = "truncated_file",
    ) -> Iterator[pa.Table]:
        """Raw batches; a file that breaks off (a truncated .gz) ends in one quarantine row.

        The lines before the break are kept, the run goes on with the next file, and the
        break is counted as ``truncated_file`` at the first line that could not be read.
        """
        try:
            yield from readers.iter_records(f, advance, time_cols)
        except readers.TruncatedFileError as exc:
            self._insert_quarantine(
                pa.table(
                    {
                        "source_file": [str(f.path)],
                        "source_line": [exc.line_no],
                        "reason": [reason],
                        "raw": [str(exc.cause)[:500]],
                    }
                )
            )
            self._truncated += 1

    def _validator(self) -> duckdb.DuckDBPyConnection:
        """A second connection (a cursor on the store) for validation in this process.

        A failing query aborts a DuckDB transaction, and validation sees arbitrary input; on
        its own connection an unexpected error costs one record, never the file's transaction.
        A cursor shares the store's buffer pool, so ``memory_limit`` caps both.
        """
        if self._vcon is None:
            vcon = self.con.cursor()
            prepare.configure(vcon)
            self._vcon = vcon
        return self._vcon

    def _validate(self, sql: str, raw: pa.Table, retain_content: bool) -> pa.Table:
        """Run the validation SQL on a batch (see :func:`.prepare.validate_batch`)."""
        return prepare.validate_batch(
            self._validator(), sql, raw, self._current_source, retain_content
        )

    def _id_index(self) -> IdIndex:
        if self._ids is None:
            h = self.con.sql("SELECT hash(request_id) AS h FROM requests").to_arrow_table()
            self._ids = IdIndex(h.column(0).to_numpy())
        return self._ids

    def _mark_duplicates(self, res: pa.Table, raw: pa.Table, retain_content: bool) -> pa.Table:
        """Quarantine accepted rows whose request_id came earlier in the batch or is already
        stored (earlier runs, files, or batches of this file).

        Works on the narrow ``(request_id, source_line)`` table: repeats inside the batch are
        found on the ids' hashes and confirmed on the strings, the store through
        :class:`IdIndex` (hash candidates confirmed on the strings too).
        """
        ok = pc.is_null(res.column("reason"))
        ids = res.select(["request_id", "source_line"])  # narrow before filtering: no text copied
        if res.column("reason").null_count != res.num_rows:
            ids = ids.filter(ok)
        if ids.num_rows == 0:
            return res
        t = self._batch_repeats(ids)
        index = self._id_index()
        h = t.column("h").to_numpy()
        cand = index.contains(h)
        stored = pa.array(np.zeros(t.num_rows, dtype=bool))
        if cand.any():
            # Earlier batches are inserted already (results arrive in order). Confirm the
            # candidates on the strings (a 64-bit collision is not a duplicate). Rare (real
            # repeats), so the Arrow kept alive by the transaction stays small.
            cand_lines = pa.array(t.column("source_line").to_numpy()[cand])
            cand_ids = ids.filter(pc.is_in(ids.column("source_line"), value_set=cand_lines))
            self.con.register("__dg_cand", cand_ids)
            try:
                confirmed = self.con.sql(
                    "SELECT c.source_line FROM __dg_cand c WHERE c.request_id IN ("
                    "SELECT r.request_id FROM requests r WHERE hash(r.request_id) IN "
                    "(SELECT hash(request_id) FROM __dg_cand))"
                ).to_arrow_table().column(0)
            finally:
                self.con.unregister("__dg_cand")
            stored = pc.is_in(t.column("source_line"), value_set=confirmed)
        dup_mask = pc.or_(t.column("again"), stored)
        index.add(h[~np.asarray(dup_mask)])  # the rows about to be inserted
        dup_lines = t.column("source_line").filter(dup_mask)
        if len(dup_lines) == 0:
            return res
        is_dup = pc.and_(
            ok, pc.fill_null(pc.is_in(res.column("source_line"), value_set=dup_lines), False)
        )
        reason = pc.if_else(is_dup, "duplicate_request_id", res.column("reason"))
        if retain_content:
            # The record's text, looked up by line number in the raw batch.
            pos = pc.index_in(res.column("source_line"), value_set=raw.column("line_no"))
            text = pc.take(raw.column("line"), pos).cast(res.schema.field("raw").type)
            new_raw = pc.if_else(is_dup, text, res.column("raw"))
        else:
            new_raw = pc.if_else(is_dup, validate.RAW_NOT_RETAINED, res.column("raw"))
        res = res.set_column(res.schema.get_field_index("reason"), "reason", reason)
        return res.set_column(res.schema.get_field_index("raw"), "raw", new_raw)

    def _batch_repeats(self, ids: pa.Table) -> pa.Table:
        """``(source_line, h, again)`` of a batch's accepted ids: ``h`` is DuckDB's
        ``hash(request_id)`` (what :class:`IdIndex` holds), ``again`` whether the id came at an
        earlier line of the batch.

        The window that tells repeats apart runs only on the ids whose hash occurs twice in
        the batch (usually none): partitioning every id by its string was most of the cost.
        """
        # On the validation cursor: it is outside the file's transaction, so DuckDB does not
        # keep the Arrow batch alive until the commit.
        vcon = self._validator()
        vcon.register("__dg_ids", ids)
        try:
            t = vcon.sql(
                "SELECT source_line, hash(request_id) AS h FROM __dg_ids"
            ).to_arrow_table()
        finally:
            vcon.unregister("__dg_ids")
        h = t.column("h").to_numpy()
        uniq, counts = np.unique(h, return_counts=True)
        again = np.zeros(len(h), dtype=bool)
        if (counts > 1).any():
            shared = np.isin(h, uniq[counts > 1])
            lines = pa.array(t.column("source_line").to_numpy()[shared])
            sub = ids.filter(pc.is_in(ids.column("source_line"), value_set=lines))
            vcon.register("__dg_ids", sub)
            try:
                later = vcon.sql(
                    "SELECT source_line FROM (SELECT source_line, row_number() OVER "
                    "(PARTITION BY request_id ORDER BY source_line) AS rn FROM __dg_ids) "
                    "WHERE rn > 1"
                ).to_arrow_table().column(0)
            finally:
                vcon.unregister("__dg_ids")
            again = pc.is_in(t.column("source_line"), value_set=later).to_numpy(
                zero_copy_only=False
            )
        return t.append_column("again", pa.array(again))

    def _flush(self) -> None:
        """Insert every batch still being validated and featurized (in order)."""
        if self._pipeline is not None:
            self._pipeline.flush()

    def _insert_requests(self, raw: pa.Table, job: prepare.BatchJob) -> None:
        """Queue a raw batch: validated and featurized (in a worker), then
        ``_store_prepared`` inserts it."""
        if self._pipeline is None:
            raise DistillguardError("Store._insert_requests runs inside Store.ingest only")
        self._pipeline.submit(raw, job)

    def _store_prepared(self, raw: pa.Table, done: prepare.Prepared) -> None:
        """Quarantine a validated batch's bad and repeated records, append the rest with
        their text features to ``requests``."""
        if done.metadata_only:
            self._metadata_only = True
        n_ok = done.res.column("reason").null_count  # accepted by validation
        ok = pc.is_null(done.res.column("reason"))
        res = self._mark_duplicates(done.res, raw, self._retain_content)
        n_good = res.column("reason").null_count
        feats = done.feats
        if feats.num_rows != n_ok:
            raise DistillguardError(f"featurize returned {feats.num_rows} rows for {n_good}")
        # Filters copy every column, the texts too: only when some row goes elsewhere.
        still = pc.is_null(res.column("reason"))
        good = res if n_good == res.num_rows else res.filter(still)
        if n_good:
            kept = feats if n_good == feats.num_rows else feats.filter(still.filter(ok))
            self._store_featurized(prepare.accepted_rows(good), kept)
        if n_good != res.num_rows:
            self._quarantine(res.filter(pc.invert(still)))
        self._tally.accepted += n_good
        self._tally.assumed += int(pc.sum(res.column("ts_assumed_tz")).as_py() or 0)

    def _store_featurized(self, normalised: pa.Table, feats: pa.Table) -> None:
        """Append normalised rows with their feature columns to ``requests``."""
        missing = [n for n in parallel.FEATURE_NAMES if n not in feats.column_names]
        if missing:
            raise DistillguardError(
                f"distillguard.signals.featurize did not return the columns {missing}"
            )
        stored = normalised
        for name in parallel.FEATURE_NAMES:
            stored = stored.append_column(name, feats.column(name))
        stored = stored.select(contract.STORED_REQUEST_SCHEMA.names)
        try:
            stored = stored.cast(contract.STORED_REQUEST_SCHEMA)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DistillguardError(
                f"distillguard.signals.featurize returned columns of the wrong type: {exc}"
            ) from exc
        if not self._retain_content:
            # Features are derived above; the text itself never reaches the store.
            for name in CONTENT_COLUMNS:
                i = stored.schema.get_field_index(name)
                stored = stored.set_column(
                    i, stored.schema.field(i), pa.nulls(stored.num_rows, pa.string())
                )
        self._append("requests", stored)

    def _append(self, table: str, rows: pa.Table) -> None:
        """Append Arrow rows inside the open transaction.

        Not ``register`` + ``INSERT``: DuckDB then keeps every registered Arrow table alive
        until the transaction commits, so memory would grow with the size of the file.
        """
        self.con.from_arrow(rows).insert_into(table)

    def _upsert_accounts(self, good: pa.Table) -> None:
        names = [n for n, _ in validate.ACCOUNT_COLUMNS]
        self.con.register("__dg_acc", good.select(names))
        try:
            # A newer account table replaces what an earlier run stored for the same account.
            self.con.execute(
                "DELETE FROM accounts WHERE account_id IN (SELECT account_id FROM __dg_acc)"
            )
            self.con.execute(f"INSERT INTO accounts SELECT {', '.join(names)} FROM __dg_acc")
        finally:
            self.con.unregister("__dg_acc")

    def _insert_quarantine(self, bad: pa.Table) -> None:
        q = pa.table(
            {
                "source_file": bad.column("source_file"),
                "line": bad.column("source_line"),
                "reason": bad.column("reason"),
                "raw": bad.column("raw"),
            }
        )
        self._append("quarantine", q)

    # ---- views -------------------------------------------------------------------------
    def release_ingest_memory(self) -> None:
        """Drop what only another ingest would use: the id index (40 MB for 5M requests; read
        again from the store on the next ingest) and the pages Arrow's allocator kept."""
        self._ids = None
        pa.default_memory_pool().release_unused()

    def write_quarantine_mirror(self) -> Path:
        """Rewrite ``quarantine.jsonl`` from the table (atomic rename: never half-written)."""
        dest = self.path / "quarantine.jsonl"
        tmp = self.path / "quarantine.jsonl.tmp"
        self.con.execute(
            f"COPY (SELECT * FROM quarantine ORDER BY source_file, line) TO "
            f"{validate._literal(str(tmp))} (FORMAT json)"
        )
        os.replace(tmp, dest)
        return dest

    def counts(self) -> dict[str, Any]:
        """Totals in the store: requests, accounts seen, quarantined records by reason."""
        n_req, n_acc = self.con.execute(
            "SELECT count(*), count(DISTINCT account_id) FROM requests"
        ).fetchall()[0]
        by_reason = dict(
            self.con.execute(
                "SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY reason"
            ).fetchall()
        )
        n_files = self.con.execute("SELECT count(*) FROM ingested_files").fetchall()[0][0]
        return {
            "requests": int(n_req),
            "accounts_seen": int(n_acc),
            "account_table_rows": int(
                self.con.execute("SELECT count(*) FROM accounts").fetchall()[0][0]
            ),
            "quarantined": int(sum(by_reason.values())),
            "quarantined_by_reason": {k: int(v) for k, v in by_reason.items()},
            "files_ingested": int(n_files),
        }

    def close(self) -> None:
        """Checkpoint and close the connections."""
        if self._vcon is not None:
            self._vcon.close()
            self._vcon = None
        try:
            self.con.execute("CHECKPOINT")
        finally:
            self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
