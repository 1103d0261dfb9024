"""Validation and text features in worker processes, pipelined with reading and inserting.

Validating a JSON record (~10 µs in Arrow for the common shape, ~22 µs in DuckDB SQL for
the rest) and featurizing it (~25 µs) are most of ingest's CPU and hold the GIL or a single
DuckDB thread per batch, so threads do not help; processes do. :class:`FeaturePipeline` takes the raw batches ``(line, line_no)`` of
``Store.ingest`` in order, ships each (Arrow IPC) to a ``ProcessPoolExecutor`` whose workers
validate it on their own in-memory DuckDB and featurize the accepted rows
(:func:`.prepare.prepare`), and hands each batch's result back to the store **in submission
order** (so rows land in ``requests`` in the same order as on one process; repeated request
ids are found there, against everything inserted before). At most ``2 × workers`` tasks, and
about ``2 × workers × TASK_ROWS`` raw rows, are in flight: while workers validate and
featurize, the main process reads and inserts, and memory stays flat whatever the input size.
Consecutive small batches go to a worker as one task (:data:`MERGE_SHARE`).

Batches and results travel as Arrow IPC files in a private folder on ``/dev/shm`` (a
memory-backed file system) when there is one: the writer copies a table once into the file,
the reader maps it without a copy. Through the pipe, each direction cost four or five copies
of every text (IPC buffer, ``bytes``, pickle, the pipe, unpickling), ~1.5 CPU-s over the
264k requests of ``medium``. Where ``/dev/shm`` is missing or full, the bytes go through the
pipe as before.

Workers come from a ``forkserver`` that has already imported the featurizer (no fork of the
main process, which holds DuckDB threads; no re-import per worker). As with any
``multiprocessing`` code, a script that calls ``detect`` must guard its entry point with
``if __name__ == "__main__":`` (the ``distillguard`` command does). ``workers=1`` and inputs
under :data:`POOL_MIN_BYTES` run in-process: starting workers costs ~1-2 s of CPU.
Validation and featurize are row-independent and deterministic (hashes from bytes), so the
stored rows do not depend on the worker count or the batch boundaries; tests/ingest pins this.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pyarrow as pa

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

from ..errors import DistillguardError, InvalidParameterError
from . import prepare

POOL_MIN_BYTES = 2_000_000  # input bytes (compressed, as on disk) below which no pool starts
TASK_ROWS = 16_384  # raw records per worker task at most (a 12 MB block of JSON Lines is ~9k)
# Batches smaller than TASK_ROWS are merged into one task up to 1.5 × TASK_ROWS (two blocks of
# JSON Lines): each validation query has a fixed cost of ~30-35 ms of CPU, as DuckDB binds and
# plans a prepared statement that reads a table again on every EXECUTE. On medium (28 blocks)
# half the queries: validation ~27 → ~22 µs per record.
MERGE_SHARE = 1.5
SHM_ROOT = "/dev/shm"  # Linux's memory-backed file system (absent on macOS and Windows)
FEATURE_NAMES = prepare.FEATURE_NAMES
features = prepare.features

Sink = Callable[[pa.Table, prepare.Prepared], None]

_WORKER_POLICY: Any = None
_WORKER_CON: Any = None  # the worker's DuckDB connection, opened on its first task


def default_workers() -> int:
    """Worker processes for featurize: one per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_workers(workers: int | None) -> int:
    """``workers`` as a positive int (``None`` → :func:`default_workers`)."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidParameterError(f"workers must be a positive integer; got {workers!r}")
    return workers


def _to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    # the IPC writer copies only the sliced part of each buffer (pickling a slice may not)
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(buf: Any) -> pa.Table:
    return pa.ipc.open_stream(buf).read_all()


Payload = bytes | str  # an IPC stream, or the path of a file holding one


def shm_folder() -> str | None:
    """A new private folder on :data:`SHM_ROOT`, or ``None`` where there is none.

    Its name carries this process's id: files on ``/dev/shm`` hold memory until removed, so
    the folders of processes that died without cleaning up (killed mid-ingest) are removed
    here first.
    """
    if not os.path.isdir(SHM_ROOT) or not os.access(SHM_ROOT, os.W_OK):
        return None
    import fcntl  # POSIX only, as /dev/shm is

    _remove_orphans()
    try:
        folder = tempfile.mkdtemp(prefix=f"distillguard-{os.getpid()}-", dir=SHM_ROOT)
        # held while the folder lives: a process id says nothing of a process in another
        # container sharing /dev/shm, a lock does (released by the kernel when its owner dies)
        fd = os.open(os.path.join(folder, OWNER_LOCK), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        return None
    _OWNER_FDS[folder] = fd
    return folder


OWNER_LOCK = ".owner"
_OWNER_FDS: dict[str, int] = {}  # this process's folders → their held lock


def release_folder(folder: str) -> None:
    """Remove one of this process's folders and drop its lock."""
    shutil.rmtree(folder, ignore_errors=True)
    fd = _OWNER_FDS.pop(folder, None)
    if fd is not None:
        os.close(fd)


def _owner_gone(path: str, pid: int) -> bool:
    """Whether the folder's owner is dead: its lock is free (or, for a folder without one, its
    process id is gone)."""
    import fcntl

    try:
        fd = os.open(os.path.join(path, OWNER_LOCK), os.O_RDWR)
    except FileNotFoundError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass  # alive, another user's process
        return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False  # held: its owner is alive
    finally:
        os.close(fd)


def _remove_orphans() -> None:
    try:
        names = os.listdir(SHM_ROOT)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) < 3 or parts[0] != "distillguard" or not parts[1].isdigit():
            continue
        path = os.path.join(SHM_ROOT, name)
        if path not in _OWNER_FDS and _owner_gone(path, int(parts[1])):
            shutil.rmtree(path, ignore_errors=True)


_FAILED_FOLDERS: set[str] = set()  # folders a write failed in (this process): not tried again


def pack(table: pa.Table, folder: str | None) -> Payload:
    """``table`` as an IPC file in ``folder`` (its path), else (no folder, or the folder is
    full: a container's ``/dev/shm`` is often 64 MB) as IPC bytes. After one failed write
    this process sends bytes for that folder: a full ``/dev/shm`` is not written in vain for
    every batch."""
    if folder is not None and folder not in _FAILED_FOLDERS:
        path = ""
        try:
            fd, path = tempfile.mkstemp(dir=folder, suffix=".arrow")
            os.close(fd)
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
                w.write_table(table)
            return path
        except (OSError, pa.ArrowException):
            _FAILED_FOLDERS.add(folder)
            if path:
                _unlink(path)
    return _to_ipc(table)


def unpack(payload: Payload) -> pa.Table:
    """The table of a :func:`pack` payload. A file is mapped, not copied, and removed at once:
    its memory goes back when the table is freed."""
    if isinstance(payload, bytes):
        return _from_ipc(payload)
    table = pa.ipc.open_stream(pa.memory_map(payload)).read_all()
    _unlink(payload)
    return table


def _held(part: pa.Table, payload: Payload) -> pa.Table:
    """What this process keeps of a batch in flight (the sink reads its raw text for repeated
    ids): the ``/dev/shm`` file mapped, when it is one, instead of a second copy in this
    process's heap. The mapping outlives the worker's unlink; the pages go back when the
    batch is stored."""
    if isinstance(payload, bytes):
        return part
    return pa.ipc.open_stream(pa.memory_map(payload)).read_all()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _worker_init(policy: Any) -> None:
    global _WORKER_POLICY
    _WORKER_POLICY = policy


def _worker_con() -> Any:
    global _WORKER_CON
    if _WORKER_CON is None:
        _WORKER_CON = prepare.connect()
    return _WORKER_CON


def _worker_task(
    raw: Payload, job: prepare.BatchJob, folder: str | None
) -> tuple[Payload, Payload, bool, int, float, float]:
    done = prepare.prepare(_worker_con(), unpack(raw), job, _WORKER_POLICY)
    res, feats, metadata_only = pack(done.res, folder), pack(done.feats, folder), done.metadata_only
    del done
    # Arrow's allocator (mimalloc) keeps freed pages; DuckDB's allocator cannot reuse them, so
    # without this a worker holds featurize's peak beside the next batch's validation.
    pa.default_memory_pool().release_unused()
    ru = resource.getrusage(resource.RUSAGE_SELF) if resource is not None else None
    cpu = ru.ru_utime + ru.ru_stime if ru is not None else 0.0
    rss = ru.ru_maxrss / 1024 if ru is not None else 0.0  # Linux: KiB
    return res, feats, metadata_only, os.getpid(), cpu, rss


def _broken(exc: BaseException) -> DistillguardError:
    return DistillguardError(
        "a featurize worker process died (out of memory, or a script that starts distillguard "
        "without an `if __name__ == '__main__':` guard); rerun with workers=1 "
        f"({type(exc).__name__}: {exc})"
    )


def _preload() -> list[str]:
    """Modules the forkserver imports once for every worker.

    Each worker also re-runs the main script: Python 3.11's forkserver never preloads it (its
    preparation data names it ``init_main_from_path``, the server reads ``main_path``). The
    ``distillguard`` script imports the whole CLI (~0.5 CPU-s per worker), so when that is
    what runs, the forkserver imports the CLI once and the workers find it loaded."""
    modules = ["distillguard.signals", "distillguard.ingest.prepare"]
    return modules + (["distillguard.cli"] if "distillguard.cli" in sys.modules else [])


class FeaturePipeline:
    """Ordered validate + featurize of raw batches, in-process or over worker processes.

    ``submit(raw, job)`` queues a raw batch; ``sink(raw, prepared)`` is called for it later
    (or at once in-process), always in submission order; ``flush()`` waits for everything
    queued. In-process, batches are validated on ``con`` (the store's validation cursor).
    Use as a context manager: ``close()`` stops the workers.
    """

    def __init__(
        self, sink: Sink, policy: Any = None, workers: int = 1, con: Any = None
    ) -> None:
        self.sink = sink
        self.policy = policy
        self.workers = check_workers(workers)
        self.con = con
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[tuple[pa.Table, Future]] = deque()
        self._merging: list[pa.Table] = []  # small batches not sent yet, all of one job
        self._merging_job: prepare.BatchJob | None = None
        self._usage: dict[int, tuple[float, float]] = {}  # worker pid → (CPU s, peak RSS MiB)
        self._folder: str | None = None  # batches and results in flight, on /dev/shm
        if self.workers > 1:
            self._folder = shm_folder()
            ctx = mp.get_context("forkserver")
            # the forkserver imports the featurizer once; each worker forks from it
            ctx.set_forkserver_preload(_preload())
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=_worker_init,
                initargs=(policy,),
            )

    @property
    def parallel(self) -> bool:
        """Whether features are computed in worker processes."""
        return self._pool is not None

    def submit(self, raw: pa.Table, job: prepare.BatchJob) -> None:
        """Queue a raw batch; ``sink`` gets it with its result, in order.

        A job with a ``metadata_sql`` (a file's first batch) is one task, whatever its size:
        whether the file is an access log is decided on the whole batch. Consecutive small
        batches of one job may reach ``sink`` as one (see :data:`MERGE_SHARE`).
        """
        if self._pool is None:
            if self.con is None:
                raise DistillguardError("FeaturePipeline: in-process use needs a connection")
            self.sink(raw, prepare.prepare(self.con, raw, job, self.policy))
            return
        if job.metadata_sql is not None:
            self._send_merged()
            self._send(raw, job)
            return
        merge_rows = int(TASK_ROWS * MERGE_SHARE)
        held = sum(t.num_rows for t in self._merging)
        if self._merging and (
            job != self._merging_job
            or held + raw.num_rows > merge_rows
            or raw.schema != self._merging[0].schema  # a reader's batches may differ in types
        ):
            self._send_merged()
        if raw.num_rows > merge_rows:
            for off in range(0, raw.num_rows, TASK_ROWS):
                self._send(raw.slice(off, TASK_ROWS), job)
            return
        self._merging.append(raw)
        self._merging_job = job
        if held + raw.num_rows >= TASK_ROWS:
            self._send_merged()

    def _send_merged(self) -> None:
        """Send the held small batches as one task."""
        parts, job = self._merging, self._merging_job
        if not parts or job is None:
            return
        self._merging, self._merging_job = [], None
        self._send(parts[0] if len(parts) == 1 else pa.concat_tables(parts), job)

    def _send(self, part: pa.Table, job: prepare.BatchJob) -> None:
        if self._pool is None:
            raise DistillguardError("FeaturePipeline: the workers are closed")
        payload = pack(part, self._folder)
        held = _held(part, payload)  # mapped before the worker unlinks the file
        try:
            fut = self._pool.submit(_worker_task, payload, job, self._folder)
        except BrokenProcessPool as exc:
            raise _broken(exc) from exc
        self._pending.append((held, fut))
        while self._too_many_in_flight():
            self._pop()

    def _too_many_in_flight(self) -> bool:
        """At most ``2 × workers`` tasks and, past ``workers + 1`` tasks (one queued behind
        each worker), ``2 × workers × TASK_ROWS`` raw rows: merged tasks are larger, the raw
        rows held (here and on ``/dev/shm``) stay as before."""
        n = len(self._pending)
        if n > 2 * self.workers:
            return True
        if n <= self.workers + 1:
            return False
        return sum(p.num_rows for p, _ in self._pending) > 2 * self.workers * TASK_ROWS

    def _pop(self) -> None:
        part, fut = self._pending.popleft()
        try:
            res, feats, metadata_only, pid, cpu, rss = fut.result()
        except BrokenProcessPool as exc:
            raise _broken(exc) from exc
        self._usage[pid] = (cpu, rss)
        self.sink(part, prepare.Prepared(unpack(res), unpack(feats), metadata_only))

    def usage(self) -> dict[str, Any]:
        """Workers used, their CPU seconds (summed) and peak RSS (MiB, largest worker)."""
        return {
            "workers": self.workers if self.parallel or self._usage else 1,
            "worker_cpu_s": round(sum(c for c, _ in self._usage.values()), 2),
            "worker_peak_rss_mb": round(max((r for _, r in self._usage.values()), default=0.0), 1),
        }

    def flush(self) -> None:
        """Wait for every queued task and hand its rows to ``sink``."""
        self._send_merged()
        while self._pending:
            self._pop()

    def discard(self) -> None:
        """Drop queued tasks (after an error: their rows must not be inserted)."""
        self._merging, self._merging_job = [], None
        for _, fut in self._pending:
            fut.cancel()
        self._pending.clear()

    def close(self) -> None:
        """Stop the workers (queued tasks are discarded)."""
        self.discard()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._folder is not None:  # files of discarded tasks
            release_folder(self._folder)
            self._folder = None

    def __enter__(self) -> FeaturePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
