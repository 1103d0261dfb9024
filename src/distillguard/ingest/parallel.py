"""Text features in worker processes, pipelined with reading and validation.

``signals.featurize`` is ~75% of ingest CPU and holds the GIL (numpy and RE2 release it only
in short stretches), so threads do not help; processes do. :class:`FeaturePipeline` takes the
validated, normalised batches of ``Store.ingest`` in order, cuts them into tasks of
:data:`TASK_ROWS` rows, ships only the columns ``featurize`` reads (``prompt_text``,
``system_text``, ``tools``) to a ``ProcessPoolExecutor`` as Arrow IPC, and hands each
task's feature columns back to the store **in submission order** (so rows land in
``requests`` in the same order as on one process). At most ``2 × workers`` tasks are in
flight: while workers featurize, the main process reads, validates and inserts, and memory
stays flat whatever the input size.

Workers come from a ``forkserver`` that has already imported the featurizer (no fork of the
main process, which holds DuckDB threads; no re-import per worker). As with any
``multiprocessing`` code, a script that calls ``detect`` must guard its entry point with
``if __name__ == "__main__":`` (the ``distillguard`` command does). ``workers=1`` and inputs
under :data:`POOL_MIN_BYTES` run in-process: starting workers costs ~1-2 s of CPU.
Featurize is row-independent and deterministic (hashes from bytes), so features do not
depend on the worker count or the task boundaries; tests/ingest pins this.
"""

from __future__ import annotations

import multiprocessing as mp
import os
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

from .. import contract
from ..errors import DistillguardError, InvalidParameterError

POOL_MIN_BYTES = 2_000_000  # input bytes (compressed, as on disk) below which no pool starts
TASK_ROWS = 8192  # rows per worker task (~5 MB of text; featurize peaks at ~200 MB per task)
INPUT_COLUMNS = ("prompt_text", "system_text", "tools")  # all that featurize reads
FEATURE_NAMES: tuple[str, ...] = tuple(
    n for n in contract.STORED_REQUEST_SCHEMA.names if n not in contract.NORMALIZED_REQUEST_SCHEMA.names
)

Sink = Callable[[pa.Table, pa.Table], None]

_WORKER_POLICY: Any = None


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


def _featurize(table: pa.Table, policy: Any) -> pa.Table:
    try:
        from ..signals import featurize
    except ImportError as exc:  # pragma: no cover - the package ships it
        raise DistillguardError(
            f"the text featurizer distillguard.signals.featurize is not available: {exc}"
        ) from exc
    out = featurize(table, policy=policy)
    out = pa.Table.from_batches([out]) if isinstance(out, pa.RecordBatch) else out
    return out.select([n for n in FEATURE_NAMES if n in out.column_names])


def features(table: pa.Table, policy: Any = None) -> pa.Table:
    """The feature columns (``FEATURE_NAMES`` that featurize returned) of normalised rows."""
    return _featurize(table, policy)


def _to_ipc(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    # the IPC writer copies only the sliced part of each buffer (pickling a slice may not)
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def _from_ipc(buf: Any) -> pa.Table:
    return pa.ipc.open_stream(buf).read_all()


def _worker_init(policy: Any) -> None:
    global _WORKER_POLICY
    _WORKER_POLICY = policy


def _worker_task(payload: bytes) -> tuple[bytes, int, float, float]:
    feats = _featurize(_from_ipc(payload), _WORKER_POLICY)
    ru = resource.getrusage(resource.RUSAGE_SELF) if resource is not None else None
    cpu = ru.ru_utime + ru.ru_stime if ru is not None else 0.0
    rss = ru.ru_maxrss / 1024 if ru is not None else 0.0  # Linux: KiB
    return _to_ipc(feats).to_pybytes(), os.getpid(), cpu, rss


def _broken(exc: BaseException) -> DistillguardError:
    return DistillguardError(
        "a featurize worker process died (out of memory, or a script that starts distillguard "
        "without an `if __name__ == '__main__':` guard); rerun with workers=1 "
        f"({type(exc).__name__}: {exc})"
    )


class FeaturePipeline:
    """Ordered featurize of normalised batches, in-process or over worker processes.

    ``submit(rows)`` queues rows; ``sink(rows, features)`` is called for them later (or at
    once in-process), always in submission order; ``flush()`` waits for everything queued.
    Use as a context manager: ``close()`` stops the workers.
    """

    def __init__(self, sink: Sink, policy: Any = None, workers: int = 1) -> None:
        self.sink = sink
        self.policy = policy
        self.workers = check_workers(workers)
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[tuple[pa.Table, Future]] = deque()
        self._usage: dict[int, tuple[float, float]] = {}  # worker pid → (CPU s, peak RSS MiB)
        if self.workers > 1:
            ctx = mp.get_context("forkserver")
            # the forkserver imports the featurizer once; each worker forks from it
            ctx.set_forkserver_preload(["distillguard.signals"])
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

    def submit(self, rows: pa.Table) -> None:
        """Queue normalised rows; ``sink`` gets them with their features, in order."""
        if self._pool is None:
            self.sink(rows, features(rows, self.policy))
            return
        cols = [c for c in INPUT_COLUMNS if c in rows.column_names]
        for off in range(0, rows.num_rows, TASK_ROWS):
            part = rows.slice(off, TASK_ROWS)
            payload = _to_ipc(part.select(cols)).to_pybytes()
            try:
                fut = self._pool.submit(_worker_task, payload)
            except BrokenProcessPool as exc:
                raise _broken(exc) from exc
            self._pending.append((part, fut))
            while len(self._pending) > 2 * self.workers:
                self._pop()

    def _pop(self) -> None:
        part, fut = self._pending.popleft()
        try:
            payload, pid, cpu, rss = fut.result()
        except BrokenProcessPool as exc:
            raise _broken(exc) from exc
        self._usage[pid] = (cpu, rss)
        feats = _from_ipc(payload)
        if feats.num_rows != part.num_rows:
            raise DistillguardError(
                f"featurize returned {feats.num_rows} rows for {part.num_rows}"
            )
        self.sink(part, feats)

    def usage(self) -> dict[str, Any]:
        """Workers used, their CPU seconds (summed) and peak RSS (MiB, largest worker)."""
        return {
            "workers": self.workers if self.parallel or self._usage else 1,
            "worker_cpu_s": round(sum(c for c, _ in self._usage.values()), 2),
            "worker_peak_rss_mb": round(max((r for _, r in self._usage.values()), default=0.0), 1),
        }

    def flush(self) -> None:
        """Wait for every queued task and hand its rows to ``sink``."""
        while self._pending:
            self._pop()

    def discard(self) -> None:
        """Drop queued tasks (after an error: their rows must not be inserted)."""
        for _, fut in self._pending:
            fut.cancel()
        self._pending.clear()

    def close(self) -> None:
        """Stop the workers (queued tasks are discarded)."""
        self.discard()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> FeaturePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
