"""The background learner in its own process (issue 15 §3): full scoring off the answers' GIL.

In the serving process a request is answered from cached knowledge (``precheck``) and its row
is queued for full scoring. The thread :class:`~.scorer.Learner` decides those rows in the
serving process, ~430 CPU-µs a row (BENCHMARKS §3) holding the GIL every answer waits for.
:class:`ProcessLearner` sends the rows to a child process instead, which featurizes and decides
them with its own :class:`~.scorer.OnlineScorer` over the same data folder and state, in
arrival order (River's rule: each row is scored on what came before it and itself).
The child sends back, per micro-batch, what the serving process reads and nothing it would
have to hold the child's objects for:

- each row's full decision (``full_decision``: gateways apply ``degrade`` from it);
- each account's compact features and reasons as of its last row (what ``precheck`` reads);
- the actions it persisted, the delayed-enforcement due times it set and the request-scope
  audit entries it coalesced (the next request of the subject sees them at once, as with the
  thread learner); what the serving process enforces itself goes the other way, in order with
  the rows;
- its metric counts and latencies, replayed into the serving process's ``/metrics``.

With a Redis state the account state, token buckets and linkage index the child writes are
the ones this process's ``precheck`` and synchronous scores read; a synchronous score
(``?sync=true``) runs in the serving process, with its own risk cache and live reservoir (as
each worker's are with ``--workers N``). With a memory state the state is the child's: this
process keeps token buckets only, and its token takes, events and sign-up notes go to the child
in order with the rows (the child's takes come back); a synchronous score is a row the child
decides (:meth:`ProcessLearner.score_later`). The rows in flight are bounded: beyond
``MAX_QUEUE`` a row is shed (counted in ``distillguard_learn_dropped_total``), never an answer
(nor a synchronous score).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .metrics import Metrics
from .scorer import (
    _SWITCH_S,
    Decision,
    OnlineScorer,
    _exit_with_parent,
    _GcKeeper,
    text_features,
)

log = logging.getLogger(__name__)

# Rows in flight (sent, not yet learned): the thread learner's bound, ~10 s of saturation.
MAX_QUEUE = 100_000
# Rows go to the child in one pickle and one pipe write per this interval, not one per row (a
# write and a thread hand-off of the GIL each); the delay is within the child's own batching
# wait (``max_wait_s``) and the gateway's answer never waits for it.
GATHER_S = 0.001
# The learner's CPU priority below the serving process's (``nice`` increment): on a busy
# machine answers get the CPU first (CFS weights ~10:1 at +10), and learning lags instead;
# the bound above then sheds it, never an answer.
LEARNER_NICE = 10
# Rows per results message. The serving process unpickles a message in one C call holding the
# GIL, ~13 µs a row on the loaded 2-core machine (a 256-row batch: 3.4 ms, every answer in
# flight waiting); 32 rows keep each hold within a few answers' worth of the handler's CPU.
RESULT_CHUNK = 32
# How long a synchronous score waits for the child (its rows queue behind the others).
SYNC_TIMEOUT_S = 5.0
# Before a learner that died is started again: no restart storm when it cannot start at all.
RESTART_S = 1.0
# What the child sends once it can score (imports done): a synchronous score's timeout starts
# then, not while a learner is still starting (seconds on a loaded machine).
READY = "ready"
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class LearnerConfig:
    """What the child builds its scorer from: the serving scorer's own settings."""

    data_dir: str
    policy_path: str | None
    state: str
    shadow: bool | None
    load_results: bool
    event_time: bool
    max_cached_accounts: int
    max_batch: int = 256
    max_wait_s: float = 0.002


@dataclass
class BatchResult:
    """What one learned micro-batch changes in the serving process."""

    n_rows: int
    decisions: list[Decision]
    last: list[tuple[str, tuple[dict[str, Any], list[str]]]]
    activated: list[tuple[str, dict[str, Any]]]
    dues: list[tuple[str, int]]
    audited: list[tuple[tuple[str, str], tuple[float, int]]]
    counts: dict[tuple, float]
    latencies: dict[tuple, list[float]]
    text_features_available: bool
    # with a memory state: the child's token takes (key, rate, burst, time), which the serving
    # process's buckets take too, and how many accounts the child's state holds
    tokens: list[tuple[str, float, float, float]] = field(default_factory=list)
    n_accounts: int = 0

    def chunks(self, size: int = RESULT_CHUNK) -> list[BatchResult]:
        """The same in messages of ``size`` rows: what enforces (actions, delays, audit
        coalescing) in the first, the metrics in the last."""
        starts = range(0, max(self.n_rows, len(self.decisions), len(self.last), 1), size)
        out = [
            BatchResult(
                max(0, min(size, self.n_rows - k)),
                self.decisions[k : k + size],
                self.last[k : k + size],
                [],
                [],
                [],
                {},
                {},
                self.text_features_available,
                n_accounts=self.n_accounts,
            )
            for k in starts
        ]
        first, final = out[0], out[-1]
        first.activated, first.dues, first.audited = self.activated, self.dues, self.audited
        first.tokens = self.tokens
        final.counts, final.latencies = self.counts, self.latencies
        return out


class _RecordingMetrics(Metrics):
    """The child's metrics, gathered per batch for the serving process's ``/metrics``.

    Gauges are not sent: the child's read its own objects, and the serving scorer registers
    the same gauges over the shared state."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[tuple, float] = {}
        self.latencies: dict[tuple, list[float]] = {}

    def counter(self, name: str, doc: str, value: float = 1.0, **labels: str) -> None:
        key = (name, doc, tuple(labels.items()))
        self.counts[key] = self.counts.get(key, 0.0) + value

    def observe(self, name: str, doc: str, seconds: float, **labels: str) -> None:
        self.latencies.setdefault((name, doc, tuple(labels.items())), []).append(seconds)

    def gauge(self, name: str, doc: str, value: Any, **labels: str) -> None:
        return None

    def take(self) -> tuple[dict[tuple, float], dict[tuple, list[float]]]:
        out = (self.counts, self.latencies)
        self.counts, self.latencies = {}, {}
        return out


class _ChildScorer(OnlineScorer):
    """The child's scorer: also notes the actions it persists, the delays it sets and the
    audit entries it coalesces, for the serving process; and applies the serving process's."""

    def __init__(self, cfg: LearnerConfig) -> None:
        super().__init__(
            cfg.data_dir,
            cfg.policy_path,
            state=cfg.state,
            shadow=cfg.shadow,
            load_results=cfg.load_results,
            metrics=_RecordingMetrics(),
        )
        self.event_time = cfg.event_time
        self.max_cached_accounts = cfg.max_cached_accounts
        self.activated: list[tuple[str, dict[str, Any]]] = []
        self.dues: list[tuple[str, int]] = []
        self.audited: list[tuple[tuple[str, str], tuple[float, int]]] = []
        # linked.py keeps its due times in a private dict
        self._remember_due = remember = self.linked._remember

        def remember_and_note(subject: str, due: int) -> None:
            remember(subject, due)
            self.dues.append((subject, due))

        self.linked._remember = remember_and_note  # type: ignore[method-assign]
        # With a memory state the token buckets are one per process: the takes of each side
        # are applied on the other, so both paths still drain one bucket per subject.
        self.tokens: list[tuple[str, float, float, float]] = []
        self._take_token = take = self.state.take_token
        if self.state.kind == "memory":

            def take_and_note(key: str, rate: float, burst: float, now_s: float) -> bool:
                self.tokens.append((key, rate, burst, now_s))
                return take(key, rate, burst, now_s)

            self.state.take_token = take_and_note  # type: ignore[method-assign]

    def _activate(self, key: str, action: dict[str, Any]) -> None:
        super()._activate(key, action)
        self.activated.append((key, action))

    def _note_audited(self, key: tuple[str, str], value: tuple[float, int]) -> None:
        super()._note_audited(key, value)
        self.audited.append((key, value))

    def learn_batch(self, batch: list[dict]) -> BatchResult:
        """Featurize and decide the rows in order; what the serving process needs of it."""
        self.policy.maybe_reload()  # the same file as the serving process's: a stat per batch
        try:
            decisions = self.score_rows(batch)
        except Exception as exc:  # keep learning whatever one batch did
            self.metrics.counter(
                "distillguard_observe_errors_total",
                "background scoring errors",
                reason=type(exc).__name__,
            )
            decisions = []
        accounts = dict.fromkeys(row["account_id"] for row in batch)
        last = [(a, self._last[a]) for a in accounts if a in self._last]
        counts, latencies = self.metrics.take()  # type: ignore[attr-defined]
        out = BatchResult(
            len(batch),
            decisions,
            last,
            self.activated,
            self.dues,
            self.audited,
            counts,
            latencies,
            self.text_features_available,
            self.tokens,
            self.state.n_accounts() if self.state.kind == "memory" else 0,
        )
        self.activated, self.dues, self.audited, self.tokens = [], [], [], []
        return out

    def control(self, message: tuple) -> None:
        """A change the serving process made, applied here in its place in the row stream."""
        try:
            self._control(message)
        except Exception as exc:  # keep learning whatever one message did
            self.metrics.counter(
                "distillguard_observe_errors_total",
                "background scoring errors",
                reason=type(exc).__name__,
            )

    def _control(self, message: tuple) -> None:
        if message[0] == "reload_results":
            try:
                self.reload_results()
            except Exception as exc:  # the serving process reported it; keep the old cache
                log.warning("learner: results not reloaded: %s", exc)
        elif message[0] == "activate":  # as ``_activate`` there: not sent back
            OnlineScorer._activate(self, *message[1:])
        elif message[0] == "audited":
            self._audited[message[1]] = message[2]
        elif message[0] == "due":
            self._remember_due(*message[1:])
        elif message[0] == "token":  # a take of the serving process's precheck
            self._take_token(*message[1:])
        elif message[0] == "events":  # /v1/events, with a memory state
            self.state.learn_events(message[1])
        elif message[0] == "signup":  # a sign-up's wave keys, with a memory state
            self.linked.index.note_signup(*message[1:])
        elif message[0] == "forget":  # an appeal
            self._last.pop(message[1], None)
            self.linked.forget(message[1])
            self.refresh_actions(force=True)


class _Inbox:
    """The child's end of the row pipe: one item at a time (a row, a control message or the
    stop, None) from the lists the serving process sends."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.items: deque[Any] = deque()

    def get(self, timeout: float | None = None) -> Any:
        if not self.items:
            if timeout is not None and not self.conn.poll(timeout):
                raise queue.Empty
            try:
                self.items.extend(self.conn.recv())
            except EOFError:  # the serving process is gone
                return None
        return self.items.popleft()


def _next_batch(inbox: _Inbox, first: dict, cfg: LearnerConfig) -> tuple[list[dict], Any]:
    """``first`` and the rows that follow within ``max_wait_s`` (up to ``max_batch``); and
    the control message or stop (None) that ended the batch, if one did."""
    batch = [first]
    deadline = time.monotonic() + cfg.max_wait_s
    while len(batch) < cfg.max_batch:
        try:
            nxt = inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if not isinstance(nxt, dict):
            return batch, nxt
        batch.append(nxt)
    return batch, False


def _child_main(cfg: LearnerConfig, rows: Any, results: Any, parent_pid: int) -> None:
    """The learner process: rows in, :class:`BatchResult` out, in order, until None."""
    _exit_with_parent(parent_pid)
    os.nice(LEARNER_NICE)
    scorer = _ChildScorer(cfg)
    # what the first row would load (no state changes): the featurizer's imports, the model
    text_features([{"prompt_text": "ready?"}], scorer.policy.policy)
    scorer._account_risk()
    results.send(READY)
    inbox = _Inbox(rows)
    pending: Any = False
    while True:
        msg = inbox.get() if pending is False else pending
        pending = False
        if msg is None:
            break
        if not isinstance(msg, dict):
            scorer.control(msg)
            continue
        batch, pending = _next_batch(inbox, msg, cfg)
        for part in scorer.learn_batch(batch).chunks():
            results.send(part)
    scorer.close()
    results.send(None)


def _scored(d: Decision | None) -> Decision:
    if d is None:
        raise RuntimeError("the learner process failed to score the row")
    return d


class ProcessLearner:
    """The serving process's side: rows to the child, what it learned back (two pipes)."""

    freeze_gc = True  # only ``serve`` runs it: see scorer._FREEZE_EVERY_S

    def __init__(self, scorer: OnlineScorer, max_queue: int = MAX_QUEUE) -> None:
        self.scorer = scorer
        self.max_queue = max_queue
        self.sent = 0  # rows handed over (not shed)
        self.done = 0  # rows the child learned (or failed on), results applied here
        self._buf: list[Any] = []  # rows and control messages not yet written to the pipe
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._gc = _GcKeeper(scorer.metrics)
        # the delays this process's precheck sets go to the child too; the child's come back
        self._remember_due = remember = scorer.linked._remember

        def remember_and_share(subject: str, due: int) -> None:
            remember(subject, due)
            self.notify(("due", subject, due))

        scorer.linked._remember = remember_and_share  # type: ignore[method-assign]
        # A memory state lives in the child: what this process would write to it goes there
        self.owns_state = scorer.state.kind == "memory"
        self.n_accounts = 0  # the child's, with a memory state
        # row index -> what hands a synchronous score its decision (None: it failed)
        self._waiters: dict[int, Callable[[Decision | None], None]] = {}
        self._take_token = scorer.state.take_token
        if self.owns_state:
            self._share_state(scorer)
        self._cfg = LearnerConfig(
            str(scorer.data_dir),
            None if scorer.policy.path is None else str(scorer.policy.path),
            scorer.state_spec,
            scorer.shadow_override,
            scorer.load_results,
            scorer.event_time,
            scorer.max_cached_accounts,
        )
        self._stopping = False
        self.ready = threading.Event()  # set once the child can score (see READY)
        self.process, self._rows, self._results = self._start()
        if sys.getswitchinterval() > _SWITCH_S:  # the threads below, see _SWITCH_S
            sys.setswitchinterval(_SWITCH_S)
        scorer.metrics.gauge(
            "distillguard_learn_queue",
            "rows waiting for background scoring",
            lambda: self.sent - self.done,
        )
        self._threads = [
            threading.Thread(target=f, name=f"distillguard-learner-{n}", daemon=True)
            for f, n in ((self._write, "rows"), (self._read, "results"))
        ]
        for t in self._threads:
            t.start()

    def _share_state(self, scorer: OnlineScorer) -> None:
        """With a memory state: this process's token takes and sign-up notes go to the
        child's state too (in order with the rows), and the account count comes back."""
        take = self._take_token

        def take_and_share(key: str, rate: float, burst: float, now_s: float) -> bool:
            ok = take(key, rate, burst, now_s)
            self.notify(("token", key, rate, burst, now_s))
            return ok

        scorer.state.take_token = take_and_share  # type: ignore[method-assign]

        def note_signup(account_id: str, keys: list[str]) -> None:
            self.notify(("signup", account_id, list(keys)))

        scorer.linked.index.note_signup = note_signup  # type: ignore[method-assign]
        scorer.metrics.gauge(
            "distillguard_state_accounts", "accounts with online state", lambda: self.n_accounts
        )

    def _start(self) -> tuple[Any, Any, Any]:
        """A learner process, and this side's ends of its two pipes."""
        ctx = mp.get_context("spawn")
        rows_in, rows = ctx.Pipe(duplex=False)
        results, results_out = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_child_main,
            args=(self._cfg, rows_in, results_out, os.getpid()),
            name="distillguard-learner",
            daemon=True,
        )
        process.start()
        rows_in.close()  # the child's ends: the pipes report EOF when it is gone
        results_out.close()
        return process, rows, results

    def put(self, row: dict) -> None:
        if self.sent - self.done >= self.max_queue:  # shed learning, never the request
            self._dropped(1)
            return
        self._hand_over(row, row=True)

    def score_now(self, row: dict, timeout_s: float = SYNC_TIMEOUT_S) -> Decision:
        """The full decision of ``row``, decided by the child after the rows queued before it
        (a synchronous score with a memory state: the state is the child's). Never shed."""
        done = threading.Event()
        got: list[Decision | None] = []

        def deliver(d: Decision | None) -> None:
            got.append(d)
            done.set()

        self.ready.wait(START_TIMEOUT_S)
        self._hand_over(row, row=True, waiter=deliver)
        if not done.wait(timeout_s):
            raise TimeoutError(f"the learner process did not score the row in {timeout_s} s")
        return _scored(got[0])

    async def score_later(self, row: dict, timeout_s: float = SYNC_TIMEOUT_S) -> Decision:
        """:meth:`score_now` awaited: the event loop answers other requests meanwhile."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Decision | None] = loop.create_future()

        def deliver(d: Decision | None) -> None:  # the results thread: hand over to the loop
            try:
                loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(d))
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._hand_over(row, row=True, waiter=deliver)
        try:
            got = await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"the learner process did not score the row in {timeout_s} s"
            ) from None
        return _scored(got)

    def notify(self, message: tuple | None) -> None:
        """A control message (or the stop), after the rows already queued; never shed."""
        self._hand_over(message)

    def _dropped(self, n: int) -> None:
        self.scorer.metrics.counter(
            "distillguard_learn_dropped_total", "rows not learned (queue full)", float(n)
        )

    def _hand_over(
        self, item: Any, row: bool = False, waiter: Callable[[Any], None] | None = None
    ) -> None:
        with self._lock:  # sent and the buffer change together (see _restart)
            if waiter is not None:
                self._waiters[self.sent] = waiter
            self.sent += int(row)
            self._buf.append(item)
            first = len(self._buf) == 1
        if first:
            self._wake.set()

    def _write(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(GATHER_S)
            self._wake.clear()
            with self._lock:
                items, self._buf, conn = self._buf, [], self._rows
            if not items:
                continue
            try:
                conn.send(items)
            except OSError:  # the child is gone: _read counts its rows and starts another
                pass
            if items[-1] is None:
                return

    def _read(self) -> None:
        while True:
            try:
                res = self._results.recv()
            except (EOFError, OSError):  # the child is gone
                if self._stopping:
                    return
                self._restart()
                continue
            if res is None:
                return
            if res == READY:
                self.ready.set()
                continue
            self._apply(res)
            self._gc.after_batch()

    def _restart(self) -> None:
        """Another learner in place of one that died; the rows it had are counted as shed."""
        self.scorer.metrics.counter(
            "distillguard_observe_errors_total", "background scoring errors", reason="LearnerExited"
        )
        log.warning("learner process exited (code %s): starting another", self.process.exitcode)
        self.ready.clear()
        time.sleep(RESTART_S)
        process, rows, results = self._start()
        with self._lock:  # rows put from now on go to the new one
            lost, self.done = self.sent - self.done, self.sent
            self._buf, self._rows = [], rows
            waiting, self._waiters = self._waiters, {}
        for deliver in waiting.values():  # their rows are lost: the sync scores fail
            deliver(None)
        self.process, self._results = process, results
        self._dropped(lost)

    def _apply(self, res: BatchResult) -> None:
        s = self.scorer
        for acct, last in res.last:
            s._set_last(acct, last)
        for key, action in res.activated:
            s._activate(key, action)
        for subject, due in res.dues:
            self._remember_due(subject, due)
        for key, value in res.audited:
            s._audited[key] = value
        for d in res.decisions:
            s._remember(d)
        m = s.metrics
        for (name, doc, labels), value in res.counts.items():
            m.counter(name, doc, value, **dict(labels))
        for (name, doc, labels), values in res.latencies.items():
            for v in values:
                m.observe(name, doc, v, **dict(labels))
        for take in res.tokens:
            self._take_token(*take)
        s.text_features_available = res.text_features_available
        self.n_accounts = res.n_accounts
        if self._waiters:
            self._answer_waiters(res)
        self.done += res.n_rows

    def _answer_waiters(self, res: BatchResult) -> None:
        """Hand each synchronous score among these rows its decision (none if they failed)."""
        ok = len(res.decisions) == res.n_rows
        with self._lock:
            found = [(k, self._waiters.pop(self.done + k, None)) for k in range(res.n_rows)]
        for k, deliver in found:
            if deliver is not None:
                deliver(res.decisions[k] if ok else None)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until every queued row was learned and applied here (tests, replay)."""
        deadline = time.monotonic() + timeout_s
        while self.done < self.sent:
            if time.monotonic() >= deadline or not self.process.is_alive():
                return False
            time.sleep(0.002)
        return True

    def stop(self) -> None:
        self._stopping = True
        self.notify(None)
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
        for t in self._threads:
            t.join(timeout=5)
        self._gc.stop()
