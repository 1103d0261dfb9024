"""What a gateway integration talks to: a local (in-process) or remote (HTTP) guard.

Both answer ``check(record) -> decision dict`` (the ``/v1/score`` answer), take
``observe(record)`` off the hot path and ``events(list)`` after the fact.

- :class:`LocalGuard` runs the :class:`~distillguard.online.scorer.OnlineScorer` in the
  gateway's process: ``check`` validates the record and makes the O(1) decision (verdict
  cache, persisted actions, the account's last features, token buckets) and queues the full
  scoring (text signals, state update) on a background thread; ``late_action`` reads that
  full decision once the model has answered, so ``degrade`` can use the request's own signals.
- :class:`RemoteGuard` calls a ``distillguard serve`` over HTTP with a deadline
  (``timeout_ms``).

Fail-mode semantics, the same for both guards: any answer other than a decision — a timeout,
a refused connection, a 5xx, *and* a 4xx (the scorer refused the record, or our token) — is a
scorer failure, and ``fail_mode`` decides: ``"open"`` allows the request and counts
``distillguard_fail_open_total`` (alert on it); ``"closed"`` answers ``block``. A 4xx is not
"the client's fault, let it through": an attacker controls the record, so treating a refusal
as an allow would let them choose the outcome. Two things come before that:

- a block (or challenge) already known for the account — from an earlier answer of the
  scorer (remote) or its verdict cache and persisted actions (local) — is applied first,
  before any size or parse check;
- an oversized record is cut to a bounded head and tail of each text
  (:func:`~distillguard.online.normalize.bound_record`) and scored, never refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ..errors import InvalidParameterError
from .metrics import Metrics
from .normalize import RecordError, bound_record
from .scorer import Decision, OnlineScorer

# Actions that stop the request; a known one for the account is applied before anything else.
RESTRICTING: frozenset[str] = frozenset({"block", "challenge"})


def _fallback(record: Mapping[str, Any], fail_mode: str, why: str) -> dict[str, Any]:
    action = "allow" if fail_mode == "open" else "block"
    return Decision(
        request_id=str(record.get("request_id", "")),
        account_id=str(record.get("account_id", "")),
        action=action,
        risk=0.0,
        account_risk=0.0,
        cluster_id=None,
        source=f"fail_{fail_mode}",
        reasons=[f"scorer unavailable ({why}); fail-{fail_mode}"],
    ).to_dict()


class _BackgroundTasks:
    """Coroutines a guard runs in the background, kept referenced until done."""

    _tasks: set[asyncio.Task]

    def spawn(self, coro: Any) -> None:
        """Run a coroutine in the background, keeping a reference so it is not collected."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for background work (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class LocalGuard(_BackgroundTasks):
    """In-process guard around an OnlineScorer (``full_inline`` scores before answering).

    ``trusted_org_source``: the records' ``org_id`` is the gateway's own, authenticated (its
    auth layer sets it and strips any the client sent), so it counts for an account the
    account table does not list yet (``online/orgs.py``); off, only the table's org counts.
    """

    def __init__(
        self,
        scorer: OnlineScorer,
        full_inline: bool = False,
        late_wait_s: float = 0.0,
        trusted_org_source: bool = False,
    ) -> None:
        self.scorer = scorer
        self.full_inline = full_inline
        self.late_wait_s = late_wait_s
        self.trusted_org_source = trusted_org_source
        self.metrics = scorer.metrics
        self._tasks: set[asyncio.Task] = set()

    async def check(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The decision for ``record``; a bad record or a scorer error never means allow."""
        account = record.get("account_id")
        try:
            trusted = self.trusted_org_source
            if self.full_inline:
                return self.scorer.score(record, org_trusted=trusted).to_dict()
            return self.scorer.assess(record, org_trusted=trusted).to_dict()
        except RecordError as exc:
            # The record is bad, but the account may be known: its block still applies.
            if isinstance(account, str) and account.strip():
                known = self.scorer.precheck(account, str(record.get("request_id") or ""))
                if known.action in RESTRICTING:
                    return known.to_dict()
            return self._fail(f"record refused: {exc.field}", record)
        except Exception as exc:  # a scorer that cannot decide: fail_mode decides
            return self._fail(type(exc).__name__, record)

    def _fail(self, why: str, record: Mapping[str, Any]) -> dict[str, Any]:
        mode = self.scorer.policy.online.fail_mode
        self.metrics.counter(
            f"distillguard_fail_{mode}_total",
            "gateway requests decided without the scorer",
            reason=why.split(":")[0],
        )
        return _fallback(record, mode, why)

    async def late_action(self, request_id: str) -> str | None:
        """The full (background) decision's action for a request, waiting up to ``late_wait_s``."""
        d = await self.late_decision(request_id)
        return None if d is None else d["action"]

    async def late_decision(self, request_id: str) -> dict[str, Any] | None:
        """The full (background) decision for a request (action and ``params``, e.g. whether a
        degrade is silent), waiting up to ``late_wait_s``."""
        d = await self.scorer.wait_full_decision(request_id, self.late_wait_s)
        return None if d is None else d.to_dict()

    async def observe(self, record: Mapping[str, Any]) -> None:
        """Nothing left to do: ``check`` queued the full scoring already."""
        return None

    async def events(self, events: list[Mapping[str, Any]]) -> None:
        try:
            self.scorer.learn_events(list(events))
        except Exception as exc:
            self.metrics.counter(
                "distillguard_observe_errors_total",
                "background scoring errors",
                reason=type(exc).__name__,
            )


class RemoteGuard(_BackgroundTasks):
    """HTTP client of a ``distillguard serve`` with a deadline and fail-open/closed."""

    def __init__(
        self,
        url: str,
        token: str,
        timeout_ms: float = 25.0,
        fail_mode: str = "open",
        metrics: Metrics | None = None,
        client: httpx.AsyncClient | None = None,
        max_body_bytes: int = 262144,
        known_ttl_s: float = 60.0,
    ) -> None:
        if fail_mode not in ("open", "closed"):
            raise InvalidParameterError(f"fail_mode must be 'open' or 'closed'; got {fail_mode!r}")
        if timeout_ms <= 0:
            raise InvalidParameterError(f"timeout_ms must be > 0; got {timeout_ms}")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_ms / 1000.0
        self.fail_mode = fail_mode
        self.metrics = metrics or Metrics()
        # Keep a margin under the scorer's max_body_bytes for JSON escaping differences.
        self.max_body_bytes = int(max_body_bytes * 0.9)
        self.known_ttl_s = known_ttl_s
        # account → (decision, monotonic expiry): blocks the scorer told us about.
        self._known: dict[str, tuple[dict[str, Any], float]] = {}
        self._client = client or httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_keepalive_connections=32, max_connections=64),
        )
        self._tasks: set[asyncio.Task] = set()

    async def check(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The scorer's decision; a known block first; any failure decided by fail_mode."""
        known = self._known_block(record.get("account_id"))
        if known is not None:
            return {**known, "request_id": str(record.get("request_id", "")), "source": "known"}
        body, cut = bound_record(record, self.max_body_bytes)
        if cut:
            self.metrics.counter(
                "distillguard_guard_truncated_total", "oversized records scored on head and tail"
            )
        t0 = time.perf_counter()
        try:
            r = await asyncio.wait_for(
                self._client.post(f"{self.url}/v1/score", json=body), timeout=self.timeout_s
            )
        except (asyncio.TimeoutError, httpx.TimeoutException):
            return self._fail("timeout", record)
        except httpx.HTTPError as exc:
            return self._fail(type(exc).__name__, record)
        finally:
            self.metrics.observe(
                "distillguard_guard_seconds",
                "gateway-side scorer call latency",
                time.perf_counter() - t0,
            )
        if r.status_code != 200:
            return self._fail(f"HTTP {r.status_code}", record)
        try:
            decision = r.json()
            action = decision["action"]
        except (ValueError, KeyError, TypeError):
            return self._fail("bad answer", record)
        self._remember(decision, action)
        return decision

    def _known_block(self, account: Any) -> dict[str, Any] | None:
        if not isinstance(account, str):
            return None
        hit = self._known.get(account)
        if hit is None:
            return None
        if hit[1] <= time.monotonic():
            self._known.pop(account, None)
            return None
        return hit[0]

    def _remember(self, decision: dict[str, Any], action: str) -> None:
        """Keep account/cluster blocks for ``known_ttl_s``; forget them on any other answer."""
        account = decision.get("account_id")
        if not isinstance(account, str):
            return
        if action in RESTRICTING and decision.get("scope") in ("account", "cluster"):
            if len(self._known) >= 100_000:  # bounded: drop the oldest entry
                self._known.pop(next(iter(self._known)))
            self._known[account] = (decision, time.monotonic() + self.known_ttl_s)
        else:
            self._known.pop(account, None)

    def _fail(self, why: str, record: Mapping[str, Any]) -> dict[str, Any]:
        name = (
            "distillguard_fail_open_total"
            if self.fail_mode == "open"
            else "distillguard_fail_closed_total"
        )
        self.metrics.counter(
            name, "gateway requests decided without the scorer", reason=why.split(":")[0]
        )
        return _fallback(record, self.fail_mode, why)

    async def observe(self, record: Mapping[str, Any]) -> None:
        """Nothing to do: ``/v1/score`` already learned the request."""
        return None

    async def late_action(self, request_id: str) -> str | None:
        """Not available remotely: degrade comes from the ``/v1/score`` answer."""
        return None

    async def late_decision(self, request_id: str) -> dict[str, Any] | None:
        """Not available remotely: degrade comes from the ``/v1/score`` answer."""
        return None

    async def events(self, events: list[Mapping[str, Any]]) -> None:
        try:
            await asyncio.wait_for(
                self._client.post(f"{self.url}/v1/events", json=list(events)),
                timeout=max(self.timeout_s * 4, 0.5),
            )
        except (asyncio.TimeoutError, httpx.HTTPError) as exc:
            self.metrics.counter(
                "distillguard_events_dropped_total",
                "usage events not delivered",
                reason=type(exc).__name__,
            )

    async def aclose(self) -> None:
        await self.drain()
        await self._client.aclose()
