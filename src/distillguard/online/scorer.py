"""The online scorer: score a request against its account's state, then learn from it.

River's loop (STYLE.md): ``score`` reads the request's text features (the same
``distillguard.signals.featurize`` as the batch path, on a batch of one), the account's online
state and the cached batch verdicts, turns them into features, lets the policy's rules pick an
action, then updates the state. Persisted actions (account / cluster scope), the allow-list and
token buckets are applied here; every action is audited.

Two entry points for gateways:

- :meth:`OnlineScorer.score` — full scoring of one record (``POST /v1/score``, replay);
- :meth:`OnlineScorer.precheck` — the in-process hot path: O(1) dict lookups of the verdict
  cache, persisted actions and the account's last features, plus a token bucket; the full
  :meth:`score` then runs off the hot path (after the response).
"""

from __future__ import annotations

import asyncio
import copy
import gc
import hashlib
import json
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DistillguardError
from ..evidence import Evidence
from .actions import SEVERITY, VERIFIED, ActionStore
from .audit import AuditLog
from .linkage import harvest_like
from .linked import LinkedEnforcement
from .metrics import Metrics
from .normalize import normalize_record, rows_to_batch
from .orgs import ORG_TRUSTED, OrgSource
from .policy import PolicyHolder, Rule
from .risk import LOWERED, AccountRisk, OnlineRisk, pivot_flags
from .state import SIGNALS, make_state
from .verdicts import AttackHistory, VerdictCache

if TYPE_CHECKING:
    from .learner_proc import ProcessLearner

log = logging.getLogger(__name__)

RESTRICTIVE: frozenset[str] = frozenset({"degrade", "rate_limit", "challenge", "block"})
# What precheck knows of a request before its text was read: nothing (its request-level
# features are these constants), and of an account never fully scored only batch's facts.
_PRECHECK_REQUEST: dict[str, Any] = {
    "request_risk": 0.0,
    "template_attack_share": 0.0,
    "known_template": False,
    "harvest_like": False,
    **{f"sig_{s}": 0.0 for s in SIGNALS},
    "n_signals": 0.0,
}
_PRECHECK_COLD: frozenset[str] = frozenset(
    {
        "verdict",
        "batch_risk",
        "in_cluster",
        "cluster_id",
        "cluster_verdict",
        "cluster_risk",
        "cluster_size",
        "account_risk",
        "risk",
        "org_id",
        "verified",
    }
)
# Features precheck always needs from an account's last full score.
_PRECHECK_BASE: frozenset[str] = frozenset(
    {
        "account_risk",
        "risk",
        "cluster_id",
        "verdict",
        "batch_risk",
        "in_cluster",
        "cluster_verdict",
        "cluster_risk",
        "cluster_size",
        "online_risk",
    }
)


@dataclass
class Decision:
    """What the gateway should do with one request, and why."""

    request_id: str
    account_id: str
    action: str  # enforced: allow, log, challenge, rate_limit, degrade, block
    risk: float
    account_risk: float
    cluster_id: str | None
    reasons: list[str] = field(default_factory=list)
    rule: str | None = None
    scope: str | None = None
    shadow: bool = False
    would_action: str | None = None  # the policy's choice (differs from action in shadow mode)
    action_id: int | None = None
    retry_after_s: float | None = None
    policy_version: str = ""
    source: str = "score"  # score, precheck, fail_open, fail_closed
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # Shallow, not dataclasses.asdict: its recursive deep copy was a fifth of the CPU of
        # a /v1/score answer. The containers are copied, so the caller may change them.
        d = dict(self.__dict__)
        d["risk"] = round(self.risk, 4)
        d["account_risk"] = round(self.account_risk, 4)
        d["reasons"] = list(self.reasons)
        d["params"] = copy.deepcopy(self.params) if self.params else {}
        return d


def _fallback_text_features(rows: list[dict]) -> list[dict]:
    """Without the signals stage: no signal scores, exact-prompt hashes as the template key."""
    out = []
    for r in rows:
        norm = " ".join((r.get("prompt_text") or "").lower().split())
        h = int.from_bytes(hashlib.blake2b(norm.encode(), digest_size=8).digest(), "little")
        out.append(
            {
                **{f"sig_{s}": 0.0 for s in SIGNALS},
                "signal_hits": "",
                "capability": "other",
                "script": "latin",
                "prompt_hash": h,
                "system_hash": 0,
                "skeleton_hash": h,
                "lsh_bands": [],
            }
        )
    return out


def text_features(rows: list[dict], policy: Any = None) -> tuple[list[dict], bool]:
    """The batch featurizer on these rows (one Arrow batch); ``(features, available)``."""
    try:
        from ..signals import featurize
    except ImportError:
        return _fallback_text_features(rows), False
    from ..contract import TEXT_FEATURE_SCHEMA

    batch = featurize(rows_to_batch(rows), policy=policy)
    cols = {name: batch.column(name).to_pylist() for name in TEXT_FEATURE_SCHEMA.names}
    return [{k: v[i] for k, v in cols.items()} for i in range(len(rows))], True


class OnlineScorer:
    """Per-account online state + verdict cache + policy + actions + audit, in one object.

    Parameters
    ----------
    data_dir : folder holding ``store.duckdb`` (batch results), ``audit.jsonl`` and
        ``actions.sqlite``; created when missing.
    policy_path : YAML policy (defaults when None); hot-reloadable.
    state : ``memory`` or a ``redis://`` URL.
    shadow : force shadow mode on (True) or off (False); None follows the policy.
    load_results : load the batch verdict cache from ``data_dir`` (replay can start empty).
    featurize_process : background featurization in a separate process (the service).
    """

    def __init__(
        self,
        data_dir: Path | str,
        policy_path: Path | str | None = None,
        state: str = "memory",
        shadow: bool | None = None,
        load_results: bool = True,
        metrics: Metrics | None = None,
        featurize_process: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.featurize_process = featurize_process
        self.state_spec = state
        self.load_results = load_results
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.policy = PolicyHolder(policy_path)
        self.shadow_override = shadow
        on = self.policy.online
        self.state = make_state(state, on.window_s, on.bucket_s)
        self.linked = LinkedEnforcement(self, state)  # cross-account evidence (linkage index)
        self.orgs = OrgSource(self)  # an account's org: the account table's, never a claim
        self.cache = VerdictCache.load(self.data_dir) if load_results else VerdictCache()
        self.metrics = metrics or Metrics()
        # Group commit: policy actions can be many per second (see AuditLog).
        self.audit = AuditLog(
            self.data_dir / "audit.jsonl", fsync_interval_s=1.0, on_alert=self._audit_alert
        )
        self.actions = ActionStore(self.data_dir / "actions.sqlite", self.audit)
        # the previous batch run's attack verdicts, kept where a restart finds them
        self.attack_history = AttackHistory.beside(self.state, self.actions)
        if load_results and on.confirm_attacks:
            self.cache.confirm(self.attack_history, None)
        self._active: dict[str, list[dict]] = {}
        self._allowed: set[str] = set()
        self._verified: set[str] = set()  # accounts that passed a challenge (VERIFIED)
        self._generation = -1
        self._checked_at = 0.0
        # account → (features of its last fully scored request, account-level reasons)
        # (bounded LRU; only the features the rules read, see _compact)
        self._last: OrderedDict[str, tuple[dict[str, Any], list[str]]] = OrderedDict()
        self.max_cached_accounts = 200_000
        self._keep: tuple[str, frozenset[str]] = ("", frozenset())
        self._prerules: tuple[str, list[Rule], list[Rule]] = ("", [], [])
        self._audited: dict[tuple[str, str], tuple[float, int]] = {}
        self.text_features_available = True
        # Token buckets run on wall time live; a replay sets this so they run on log time.
        self.event_time = False
        self._learner: Learner | ProcessLearner | None = None
        # With featurize_process (``serve``), learn in a child process: its CPU then holds no
        # GIL the answers wait for. A memory state then lives in the child (learner_proc.py).
        self.learner_in_process = featurize_process
        self._recent: OrderedDict[str, Decision] = OrderedDict()  # request_id → full decision
        self._risk: tuple[str, OnlineRisk] | None = None  # (policy version, its risk model)
        self.refresh_actions(force=True)
        m = self.metrics
        m.gauge("distillguard_state_accounts", "accounts with online state", self.state.n_accounts)
        m.gauge(
            "distillguard_active_actions",
            "active persisted actions",
            lambda: sum(len(v) for v in self._active.values()),
        )
        m.gauge(
            "distillguard_verdict_cache_accounts",
            "accounts in the verdict cache",
            lambda: len(self.cache.accounts),
        )
        m.gauge("distillguard_shadow_mode", "1 when only recording", lambda: float(self.shadow))

    def _audit_alert(self, kind: str, details: dict) -> None:
        """The audit log repaired itself or found entries missing: page someone."""
        self.metrics.counter("distillguard_audit_alerts_total", "audit log alerts", kind=kind)
        log.warning("audit log %s: %s", kind, json.dumps(details, default=str))

    # ---- configuration --------------------------------------------------------------------
    @property
    def shadow(self) -> bool:
        if self.shadow_override is not None:
            return self.shadow_override
        return bool(self.policy.online.shadow)

    def reload_policy(self) -> tuple[bool, str]:
        ok, msg = self.policy.reload()
        self.metrics.counter(
            "distillguard_policy_reloads_total",
            "policy reload attempts",
            result="ok" if ok else "rejected",
        )
        self.audit.append(
            "policy_reload" if ok else "policy_reload_rejected",
            "policy",
            str(self.policy.path),
            "admin",
            msg,
            policy_version=self.policy.version,
        )
        return ok, msg

    def reload_results(self) -> dict[str, Any]:
        """Swap in the latest batch results; on error the old cache stays (and it raises)."""
        cache = VerdictCache.load(self.data_dir)
        if self.policy.online.confirm_attacks:
            # Against the previous run's attack verdicts (VerdictCache.confirm): from the
            # history a restart keeps, else this process's last load.
            cache.confirm(self.attack_history, self.cache.batch_attacks)
        self.cache = cache
        self._last.clear()  # cached features carry old verdicts
        if self._risk is not None:
            self._risk[1].forget()  # cached risks were ranked against the old reference
        self.metrics.counter("distillguard_results_reloads_total", "verdict cache reloads")
        if self._learner is not None:
            self._learner.notify(("reload_results",))
        if self._learner is not None and self._learner.freeze_gc:
            # an operator's moment, once per batch run: one full collection of the frozen heap
            # reclaims any cycle that became garbage after it was frozen (see _FREEZE_EVERY_S)
            with _GC_LOCK:  # not the learner's freeze between the unfreeze and the collection
                gc.unfreeze()
                gc.collect()
                gc.freeze()
        return cache.summary()

    def refresh_actions(self, force: bool = False) -> None:
        """Re-read active actions when another writer changed them (checked every refresh_s)."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.policy.online.refresh_s:
            return
        self._checked_at = now
        gen = self.actions.generation()
        if gen == self._generation and not force:
            return
        active: dict[str, list[dict]] = {}
        allowed: set[str] = set()
        verified: set[str] = set()
        for a in self.actions.active():
            if a["action"] in ("allow", VERIFIED):
                if a["subject_kind"] == "account":
                    (allowed if a["action"] == "allow" else verified).add(a["subject_id"])
                continue
            active.setdefault(_subject_key(a["subject_kind"], a["subject_id"]), []).append(a)
        self._active, self._allowed, self._verified = active, allowed, verified
        self._generation = gen

    # ---- scoring ----------------------------------------------------------------------------
    def _observe_latency(self, t0: float, path: str) -> None:
        """Record one answer's scoring latency since ``t0`` (``time.perf_counter``)."""
        self.metrics.observe(
            "distillguard_score_seconds",
            "full scoring latency",
            time.perf_counter() - t0,
            path=path,
        )

    def score(self, record: Mapping[str, Any], org_trusted: bool = False) -> Decision:
        """Validate, featurize and score one contract record (raises RecordError on bad input).
        ``org_trusted``: its ``org_id`` comes from a trusted org source (``online/orgs.py``)."""
        t0 = time.perf_counter()
        row = _normalized(record, org_trusted)
        if self._state_in_child():  # the state is the learner process's: it scores the row
            d = self.learner().score_now(row)  # type: ignore[union-attr]
        else:
            feats, ok = text_features([row], self.policy.policy)
            self.text_features_available = ok
            row.update(feats[0])
            d = self.decide(row)
        self._observe_latency(t0, "score")
        return d

    async def score_async(self, record: Mapping[str, Any]) -> Decision:
        """:meth:`score` for the event loop: a learner process holding the state scores the
        row while the loop answers other requests; otherwise :meth:`score` itself."""
        if not self._state_in_child():
            return self.score(record)
        t0 = time.perf_counter()
        row = normalize_record(record)
        d = await self.learner().score_later(row)  # type: ignore[union-attr]
        self._observe_latency(t0, "score")
        return d

    def score_rows(self, rows: list[dict]) -> list[Decision]:
        """Score already-normalised rows in order (replay): one featurize call for all."""
        feats, ok = text_features(rows, self.policy.policy)
        self.text_features_available = ok
        for row, f in zip(rows, feats, strict=True):
            row.update(f)
        return self.decide_many(rows)

    def account_risk(self, account_id: str, now_ms: int | None = None) -> AccountRisk | None:
        """The account's online risk now, evaluated afresh from its state (None: unseen).
        Reads this process's state: with a memory state learned in a learner process (``serve``)
        the state is the child's, and this is None."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        features = self.state.peek(account_id, now)
        if features is None:
            return None
        return self._account_risk().evaluate(account_id, features, self.cache)

    def _account_risk(self) -> OnlineRisk:
        """The policy's risk model, rebuilt when the policy changed (its ``risk_model``)."""
        version = self.policy.version
        if self._risk is None or self._risk[0] != version:
            pol = self.policy.policy
            self._risk = (version, OnlineRisk(pol.scoring, pol.online.risk_every))
        return self._risk[1]

    def decide(self, row: dict[str, Any]) -> Decision:
        """Score one normalised + featurized row, then learn it; apply the policy."""
        return self.decide_many([row])[0]

    def decide_many(self, rows: list[dict[str, Any]]) -> list[Decision]:
        """:meth:`decide` of each row in order, the account risks in one pass.

        Each row is learned into the state before its risk is read, so it is scored on what
        came before it and itself (never a later row); enforcement reads no state the
        observations write, so observing the whole batch first changes no decision."""
        prepared = [self._observe(row) for row in rows]
        risks = self._account_risk().assess_many(
            [(row["account_id"], af) for row, (af, _, _, _) in zip(rows, prepared, strict=True)],
            self.cache,
        )
        return [
            # What lowered the account's risk too (``lowered:``: reasons list it last).
            self._decide_observed(
                row, af, got.risk, [*got.evidence, *got.lowered], tid, t_share, t_cluster
            )
            for row, (af, tid, t_share, t_cluster), got in zip(rows, prepared, risks, strict=True)
        ]

    def _observe(self, row: dict[str, Any]) -> tuple[dict[str, float], Any, float, Any]:
        """The row's template and batch facts, then its account's state after it."""
        acct = row["account_id"]
        tid = self.cache.match_template(row.get("skeleton_hash"), row.get("lsh_bands"))
        t_share, t_cluster = (
            self.cache.template_attack.get(tid, (0.0, None)) if tid else (0.0, None)
        )
        row["template"] = tid if tid is not None else row.get("skeleton_hash")
        row["template_attack_share"] = t_share
        for k, v in self.cache.ip(row.get("ip")).items():  # batch's IP intelligence
            row.setdefault(k, v)
        row["campaign_template"] = str(row["template"]) in self.cache.campaign_templates
        row.update(pivot_flags(row, self.cache.reference))
        af = self.state.observe(acct, row)
        return af, tid, t_share, t_cluster

    def _decide_observed(
        self,
        row: dict[str, Any],
        af: Mapping[str, float],
        online_risk: float,
        ev: list[Evidence],
        tid: Any,
        t_share: float,
        t_cluster: Any,
    ) -> Decision:
        acct = row["account_id"]
        sig = {s: float(row.get("sig_" + s) or 0.0) for s in SIGNALS}
        request_risk = max(sig.values())
        hits = row.get("signal_hits") or ""
        if request_risk > 0:
            ev.append(
                Evidence(
                    "request:signals",
                    round(request_risk, 4),
                    f"request signals: {hits or 'none'}",
                    (row["request_id"],),
                )
            )
        if t_share >= 0.5:
            ev.append(
                Evidence(
                    "request:attack_template",
                    round(t_share, 4),
                    f"prompt matches template {tid}, {t_share:.0%} of whose traffic is "
                    f"from attack accounts" + (f" (cluster {t_cluster})" if t_cluster else ""),
                    (row["request_id"],),
                )
            )
        features = self._features(row, af, online_risk, request_risk, sig, tid, t_share, ev)
        account_ev = [
            e.summary
            for e in sorted(ev, key=lambda e: e.weight, reverse=True)
            if not e.source.startswith(("request:", LOWERED))
        ][:3]
        self._set_last(acct, (self._compact(features), account_ev))
        d = self._enforce(row, features, ev, source="score")
        self.linked.learn(d, row)
        self._remember(d)
        return d

    def _features(
        self,
        row: Mapping[str, Any],
        af: Mapping[str, float],
        online_risk: float,
        request_risk: float,
        sig: Mapping[str, float],
        tid: str | None,
        t_share: float,
        ev: list[Evidence],
    ) -> dict[str, Any]:
        av = self.cache.account(row["account_id"])
        cid = av.cluster_id if av else None
        cv = self.cache.cluster(cid)
        batch_risk = av.risk if av else 0.0
        cluster_risk = cv.risk if cv else 0.0
        account_risk = max(
            batch_risk,
            online_risk,
            cluster_risk if cv is not None and cv.verdict == "attack" else 0.0,
        )
        if av is not None and av.verdict != "benign":
            ev.append(
                Evidence("batch:account", av.risk, f"batch verdict {av.verdict}: {av.reasons}")
            )
        if cv is not None and cv.verdict != "benign":
            ev.append(
                Evidence(
                    "batch:cluster",
                    cv.risk,
                    f"member of {cv.verdict} cluster {cid} ({cv.n_accounts} accounts)",
                )
            )
        features = {
            **{f"sig_{s}": v for s, v in sig.items()},
            "request_risk": request_risk,
            "n_signals": float(sum(1 for v in sig.values() if v >= self.state.hit_threshold)),
            "capability": row.get("capability") or "other",
            "script": row.get("script") or "latin",
            "prompt_chars": row.get("prompt_chars") or 0,
            "n_user_turns": row.get("n_user_turns") or 1,
            "model": row.get("model"),
            "access_route": row.get("access_route") or "direct",
            "template_attack_share": t_share,
            "known_template": tid is not None,
            "harvest_like": harvest_like(row),
            "online_risk": online_risk,
            **{
                k: af[k]
                for k in (
                    "n_window",
                    "n_total",
                    "req_per_min",
                    "distinct_ips",
                    "distinct_uas",
                    "template_share",
                    "capability_share",
                    "signal_rate",
                    "gap_cv",
                    "error_rate",
                )
            },
            "verdict": av.verdict if av else "unknown",
            "batch_risk": batch_risk,
            "in_cluster": cid is not None,
            "cluster_id": cid,
            "cluster_verdict": cv.verdict if cv else "none",
            "cluster_risk": cluster_risk,
            "cluster_size": float(cv.n_accounts) if cv else 0.0,
            "account_risk": account_risk,
            "risk": 1.0 - (1.0 - account_risk) * (1.0 - 0.5 * request_risk),
            "org_id": self.orgs.of_row(row),  # the trusted org, not the request's claim
            "verified": row["account_id"] in self._verified,
        }
        self.linked.add_features(row, features, ev)
        return features

    def _set_last(self, acct: str, last: tuple[dict[str, Any], list[str]]) -> None:
        """What precheck knows of the account from now on (a bounded LRU)."""
        self._last[acct] = last
        self._last.move_to_end(acct)
        if len(self._last) > self.max_cached_accounts:
            self._last.popitem(last=False)

    def _compact(self, features: dict[str, Any]) -> dict[str, Any]:
        """The account-level features the current rules read (what precheck needs later)."""
        version = self.policy.version
        if self._keep[0] != version:
            used = {feat for rule in self.policy.rules for feat, _, _ in rule.conditions}
            self._keep = (version, frozenset(used | _PRECHECK_BASE))
        keep = self._keep[1]
        return {k: v for k, v in features.items() if k in keep}

    # ---- the fast path: decide now, learn in the background ----------------------------------
    def assess(self, record: Mapping[str, Any], org_trusted: bool = False) -> Decision:
        """Validate, decide from cached knowledge (O(1)), and queue the full scoring.

        The request's own text features reach the account state a few milliseconds later
        (micro-batched through the featurizer in a background thread); its full decision is
        kept for :meth:`full_decision` (gateways apply ``degrade`` from it after the model
        answered). ``org_trusted``: as in :meth:`score`.
        """
        t0 = time.perf_counter()
        row = _normalized(record, org_trusted)
        learner = self.learner()  # first: what precheck enforces is shared with it (_share)
        d = self.precheck(
            row["account_id"],
            row["request_id"],
            org_id=row.get("org_id"),
            ts_ms=row["ts_ms"],
            observe=False,
            org_trusted=org_trusted,
        )
        learner.put(row)
        self._observe_latency(t0, "assess")
        return d

    def learn(self, record: Mapping[str, Any]) -> None:
        """Validate and queue a record for background scoring, without deciding anything now."""
        self.learner().put(normalize_record(record))

    def _state_in_child(self) -> bool:
        """True when the account state is the learner process's (a memory state)."""
        return self.featurize_process and self.learner_in_process and self.state.kind == "memory"

    def learner(self) -> Learner | ProcessLearner:
        if self._learner is None:
            if self.featurize_process and self.learner_in_process:
                # The learner in its own process: its CPU no longer holds this process's GIL.
                # The child's account state, token buckets and linkage index are the ones this
                # process's precheck reads: shared in Redis, or a memory state in the child,
                # which scores sync requests and learns events, sign-ups and token takes.
                from .learner_proc import ProcessLearner

                self._learner = ProcessLearner(self)
            else:
                # featurize_process is the service's process (``serve`` sets it): see
                # _FREEZE_EVERY_S
                self._learner = Learner(
                    self, process=self.featurize_process, freeze_gc=self.featurize_process
                )
        return self._learner

    def full_decision(self, request_id: str, timeout_s: float = 0.0) -> Decision | None:
        """The background (full) decision of a request, waiting up to ``timeout_s`` for it."""
        deadline = time.monotonic() + timeout_s
        while True:
            d = self._recent.get(request_id)
            if d is not None or time.monotonic() >= deadline:
                return d
            time.sleep(0.002)

    async def wait_full_decision(self, request_id: str, timeout_s: float) -> Decision | None:
        """:meth:`full_decision` for async callers: polls without blocking the event loop."""
        deadline = time.monotonic() + timeout_s
        while True:
            d = self._recent.get(request_id)
            if d is not None or time.monotonic() >= deadline:
                return d
            await asyncio.sleep(0.002)

    def _remember(self, d: Decision) -> None:
        self._recent[d.request_id] = d
        while len(self._recent) > 10000:
            self._recent.popitem(last=False)

    # ---- the hot path -----------------------------------------------------------------------
    def precheck(
        self,
        account_id: str,
        request_id: str = "",
        org_id: str | None = None,
        ts_ms: int | None = None,
        observe: bool = True,
        org_trusted: bool = False,
    ) -> Decision:
        """O(1) decision from cached knowledge only: no text work, no state update. ``org_id``
        counts only as :meth:`OrgSource.trusted` says (``org_trusted``: a trusted source's)."""
        t0 = time.perf_counter()
        warm, cold = self._precheck_rules()
        last = self._last.get(account_id)
        if last is not None:
            features = dict(last[0])
            features.update(_PRECHECK_REQUEST)
            features["risk"] = features["account_risk"]
        else:
            av = self.cache.account(account_id)
            cid = av.cluster_id if av else None
            cv = self.cache.cluster(cid)
            account_risk = max(
                av.risk if av else 0.0,
                cv.risk if cv is not None and cv.verdict == "attack" else 0.0,
            )
            features = {
                "verdict": av.verdict if av else "unknown",
                "batch_risk": av.risk if av else 0.0,
                "in_cluster": cid is not None,
                "cluster_id": cid,
                "cluster_verdict": cv.verdict if cv else "none",
                "cluster_risk": cv.risk if cv else 0.0,
                "cluster_size": float(cv.n_accounts) if cv else 0.0,
                "account_risk": account_risk,
                "risk": account_risk,
            }
        features["org_id"] = self.orgs.trusted(account_id, org_id, org_trusted)
        features["verified"] = account_id in self._verified  # may have changed since last
        row = {
            "request_id": request_id,
            "account_id": account_id,
            "org_id": org_id,
            "ts_ms": ts_ms if ts_ms is not None else int(time.time() * 1000),
        }
        d = self._enforce(row, features, [], "precheck", cold if last is None else warm)
        if last is not None:
            d.reasons = last[1] + d.reasons
        if observe:
            self._observe_latency(t0, "precheck")
        return d

    def _precheck_rules(self) -> tuple[list[Rule], list[Rule]]:
        """The rules a precheck can match, per policy version: (an account with a last full
        score, one without). The others are false on precheck's constant features, so
        skipping them changes no decision (the order, and so the chosen rule, is kept)."""
        version = self.policy.version
        if self._prerules[0] != version:
            rules = self.policy.rules
            warm = [r for r in rules if r.could_match(_PRECHECK_REQUEST)]
            cold = [r for r in rules if r.could_match({}, _PRECHECK_COLD)]
            self._prerules = (version, warm, cold)
        return self._prerules[1], self._prerules[2]

    # ---- enforcement --------------------------------------------------------------------------
    def _enforce(
        self,
        row: Mapping[str, Any],
        features: dict[str, Any],
        ev: list[Evidence],
        source: str,
        rules: list[Rule] | None = None,
    ) -> Decision:
        self.refresh_actions()
        on = self.policy.online
        acct = row["account_id"]
        cid = features.get("cluster_id")
        d = Decision(
            request_id=row["request_id"],
            account_id=acct,
            action="allow",
            risk=float(features.get("risk", 0.0)),
            account_risk=float(features.get("account_risk", 0.0)),
            cluster_id=cid,
            policy_version=self.policy.version,
            source=source,
        )
        ev_sorted = sorted(ev, key=lambda e: e.weight, reverse=True)
        # The four strongest that raised the risk, then the strongest that lowered it
        # ("- ..."), so a reviewer sees both sides of the account.
        d.reasons = [e.summary for e in ev_sorted if not e.source.startswith(LOWERED)][:4] + [
            e.summary for e in ev_sorted if e.source.startswith(LOWERED)
        ][:1]
        org = features.get("org_id")  # trusted (OrgSource), never the request's claim
        if acct in self._allowed or acct in on.allow_accounts or (org and org in on.allow_orgs):
            d.rule, d.would_action = "allow-list", "allow"
            d.reasons = ["account is on the allow-list (verified customer)"] + d.reasons
            self._count(d)
            return d
        # Candidates: persisted actions on the account or its cluster, then matching rules.
        cands: list[tuple[int, str, str, str, dict, Rule | None, dict | None]] = []
        now_s = time.time()
        for key in (_subject_key("account", acct), _subject_key("cluster", cid) if cid else None):
            for a in self._active.get(key, ()) if key else ():
                if a["expires_at"] is not None and a["expires_at"] <= now_s:
                    continue  # expired since the last refresh
                cands.append(
                    (
                        SEVERITY[a["action"]],
                        a["action"],
                        f"action:{a['id']}",
                        a["subject_kind"],
                        a["params"],
                        None,
                        a,
                    )
                )
        for rule in self.policy.rules if rules is None else rules:
            if rule.matches(features):
                scope = rule.scope if (rule.scope != "cluster" or cid) else "account"
                params = dict(rule.params)
                if rule.action == "rate_limit":
                    params.update(rate_per_s=rule.rate_per_s, burst=rule.burst)
                cands.append((rule.severity, rule.action, rule.name, scope, params, rule, None))
        cands.sort(key=lambda c: -c[0])
        chosen = None
        taken: set[str] = set()
        for _sev, action, name, scope, params, rule, persisted in cands:
            if action == "rate_limit":
                subject = cid if scope == "cluster" and cid else acct
                if f"{scope}:{subject}" in taken:
                    continue  # one token per bucket per request
                rate = float(params.get("rate_per_s", 1.0))
                burst = float(params.get("burst", 10.0))
                t_bucket = row["ts_ms"] / 1000.0 if self.event_time else now_s
                taken.add(f"{scope}:{subject}")
                if self.state.take_token(f"{scope}:{subject}", rate, burst, t_bucket):
                    continue  # within the limit: the next candidate decides
                d.retry_after_s = round(1.0 / rate, 3)
            chosen = (action, name, scope, params, rule, persisted)
            break
        if chosen is None:
            self._count(d)
            return d
        action, name, scope, params, rule, persisted = chosen
        d.would_action, d.rule, d.scope, d.params = action, name, scope, dict(params)
        if persisted is not None:
            d.action_id = persisted["id"]
            d.reasons = [
                f"active {action} on {scope} since "
                f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(persisted['created_at']))}: "
                f"{persisted['reason']}"
            ] + d.reasons
        d.action = "allow" if self.shadow else action
        d.shadow = self.shadow
        if not self.shadow:  # delayed and silent enforcement (online/linked.py)
            subject = cid if scope == "cluster" and cid else acct
            d.action = self.linked.hold(d, row, action, f"{scope}:{subject}")
        if rule is not None:
            self._record(d, row, features, ev_sorted, rule, scope)
        self._count(d)
        return d

    def _count(self, d: Decision) -> None:
        self.metrics.counter(
            "distillguard_decisions_total",
            "decisions by enforced action",
            action=d.action,
            source=d.source,
        )
        if d.would_action and d.would_action != "allow":
            self.metrics.counter(
                "distillguard_actions_total",
                "policy actions by type and scope",
                action=d.would_action,
                scope=d.scope or "request",
                shadow=str(d.shadow).lower(),
            )

    def _evidence(self, row: Mapping[str, Any], ev: list[Evidence]) -> list[dict]:
        out = [e.to_dict() for e in ev[:8]]
        if self.policy.online.log_prompt_text and row.get("prompt_text"):
            out.append(
                {
                    "source": "request:prompt",
                    "weight": 0.0,
                    "summary": str(row["prompt_text"])[:500],
                    "refs": [row["request_id"]],
                }
            )
        elif row.get("prompt_hash") is not None:
            out.append(
                {
                    "source": "request:prompt_hash",
                    "weight": 0.0,
                    "summary": f"prompt hash {row['prompt_hash']}",
                    "refs": [row["request_id"]],
                }
            )
        return out

    def _record(
        self,
        d: Decision,
        row: Mapping[str, Any],
        features: Mapping[str, Any],
        ev: list[Evidence],
        rule: Rule,
        scope: str,
    ) -> None:
        """Persist account/cluster actions once; audit request actions (coalesced)."""
        on = self.policy.online
        acct = d.account_id
        subject = d.cluster_id if scope == "cluster" and d.cluster_id else acct
        reason = f"rule {rule.name}: " + ("; ".join(d.reasons[:3]) or "conditions met")
        if scope in ("account", "cluster") and not self.shadow:
            expires = time.time() + (rule.expires_s or on.default_expires_s)
            try:
                d.action_id = self.actions.apply(
                    scope,
                    subject,
                    rule.action,
                    actor="policy",
                    reason=reason,
                    expires_at=expires,
                    params=d.params,
                    evidence=self._evidence(row, ev),
                    rule=rule.name,
                    policy_version=self.policy.version,
                )
            except (OSError, sqlite3.Error, DistillguardError) as exc:
                # Not persisted (neither row nor entry), but this request is still decided by
                # the rule; the next one matches it again and retries.
                self.metrics.counter(
                    "distillguard_audit_errors_total",
                    "actions not persisted because the audit or action store failed",
                    reason=type(exc).__name__,
                )
                return
            key = _subject_key(scope, subject)
            persisted = {
                "id": d.action_id,
                "subject_kind": scope,
                "subject_id": subject,
                "action": rule.action,
                "actor": "policy",
                "reason": reason,
                "created_at": time.time(),
                "expires_at": expires,
                "params": d.params,
                "status": "active",
            }
            self._activate(key, persisted)
            self._share(("activate", key, persisted))
            return
        key = (subject, rule.name + (":shadow" if self.shadow else ""))
        now = time.time()
        last = self._audited.get(key)
        if last is not None and now - last[0] < on.audit_coalesce_s:
            self._note_audited(key, (last[0], last[1] + 1))
            return
        coalesced = last[1] if last else 0
        self._note_audited(key, (now, 0))
        if len(self._audited) > 100_000:  # forget quiet subjects
            self._audited = {
                k: v for k, v in self._audited.items() if now - v[0] < on.audit_coalesce_s
            }
        self._append_audit(
            ("shadow:" if self.shadow else "") + rule.action,
            scope,
            subject,
            actor="policy",
            reason=reason,
            evidence=self._evidence(row, ev),
            rule=rule.name,
            policy_version=self.policy.version,
            extra={
                "request_id": d.request_id,
                "account_id": acct,
                "risk": round(d.risk, 4),
                "shadow": self.shadow,
                "silent": bool(d.params.get("silent")),
                "coalesced_since_last": coalesced,
            },
        )

    def _activate(self, key: str, action: dict[str, Any]) -> None:
        """A persisted action the subject's next request sees at once (the periodic refresh
        re-reads the whole table and picks up other writers)."""
        self._active = {**self._active, key: [action, *self._active.get(key, ())]}

    def _note_audited(self, key: tuple[str, str], value: tuple[float, int]) -> None:
        """A request-scope audit entry written (or coalesced into the last) at this time."""
        self._audited[key] = value
        self._share(("audited", key, value))

    def _share(self, message: tuple) -> None:
        """What this process enforced that a learner process must know too (its actions,
        coalesced audit entries): in order with the rows, see ``online/learner_proc.py``."""
        if self._learner is not None:
            self._learner.notify(message)

    def _append_audit(self, *args: Any, **kw: Any) -> None:
        """An audit entry for a request-scope action; a failure is counted, never raised."""
        try:
            self.audit.append(*args, **kw)
        except (OSError, DistillguardError) as exc:
            self.metrics.counter(
                "distillguard_audit_errors_total",
                "actions not persisted because the audit or action store failed",
                reason=type(exc).__name__,
            )

    # ---- events and appeals -----------------------------------------------------------------
    def learn_events(self, events: list[Mapping[str, Any]]) -> int:
        """After-the-fact usage/status events feed the account state."""
        if self._state_in_child():  # in order with the rows the learner process has
            self.learner().notify(("events", list(events)))
            return len(events)
        return self.state.learn_events(list(events))

    def challenge_passed(
        self,
        account_id: str,
        actor: str,
        method: str,
        reason: str = "",
        expires_s: float | None = None,
    ) -> dict[str, Any]:
        """The account passed the gateway's verification step: recorded (audited,
        reversible), and the account's active ``challenge`` actions are reversed (answered).
        Rules reading ``verified`` stop challenging it (a step-up rule, as
        docs/experiments/thin-attack-challenge.md tried); any other rule whose conditions still
        hold acts again, and a block stays a block."""
        vid = self.actions.verify(
            account_id, actor, method, reason,
            None if expires_s is None else time.time() + expires_s,
        )
        answered = [
            a["id"] for a in self.actions.active(account_id)
            if a["action"] == "challenge" and a["subject_kind"] == "account"
        ]
        for aid in answered:
            self.actions.reverse(aid, actor=actor, reason=f"challenge passed ({method})")
        self.refresh_actions(force=True)
        return {"account_id": account_id, "verified_id": vid, "reversed": answered}

    def appeal(
        self,
        account_id: str,
        actor: str,
        reason: str,
        allow: bool = True,
        expires_s: float | None = None,
    ) -> dict[str, Any]:
        """Reverse every active action on the account (audited); optionally allow-list it."""
        reversed_ids = []
        for a in self.actions.active(account_id):
            if a["action"] != "allow":
                self.actions.reverse(a["id"], actor=actor, reason=reason)
                reversed_ids.append(a["id"])
        allow_id = None
        if allow:
            allow_id = self.actions.allow(
                account_id,
                actor=actor,
                reason=f"appeal: {reason}",
                expires_at=None if expires_s is None else time.time() + expires_s,
            )
        self.refresh_actions(force=True)
        self._last.pop(account_id, None)
        self.linked.forget(account_id)
        if self._learner is not None:
            self._learner.notify(("forget", account_id))
        return {"account_id": account_id, "reversed": reversed_ids, "allow_action_id": allow_id}

    def close(self) -> None:
        if self._learner is not None:
            self._learner.stop()
        self.actions.close()


_WORKER_POLICY: dict[str, Any] = {}


def _featurize_in_worker(
    cols: dict[str, list], policy: dict[str, Any], version: str
) -> dict[str, list]:
    """Runs in the featurizer process: text columns in, feature columns out."""
    import pyarrow as pa

    from ..contract import TEXT_FEATURE_SCHEMA
    from ..policy import Policy
    from ..signals import featurize

    pol = _WORKER_POLICY.get(version)
    if pol is None:
        _WORKER_POLICY.clear()
        pol = _WORKER_POLICY[version] = Policy.from_dict(policy, "<scorer>")
    table = pa.table(
        {
            "prompt_text": pa.array(cols["prompt_text"], pa.string()),
            "system_text": pa.array(cols["system_text"], pa.string()),
            "tools": pa.array(cols["tools"], pa.list_(pa.string())),
        }
    )
    out = featurize(table, policy=pol)
    return {name: out.column(name).to_pylist() for name in TEXT_FEATURE_SCHEMA.names}


def _warm_worker() -> bool:
    from ..signals import featurize  # noqa: F401  (import once, before the first batch)

    return True


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: exit when the scorer's process is gone.

    A scorer killed without ``close()`` (SIGKILL, a crashed gateway) would otherwise leave its
    featurizer process orphaned and blocked on its queue forever.
    """
    import os

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="distillguard-parent-watch", daemon=True).start()


# The serving process's cyclic GC (issue 15 §3). A full (gen-2) collection walks every tracked
# object (modules, model trees, each account's state, the learner's backlog) with the GIL held:
# measured under wrk at 2,000 req/s, 4 passes in 8 s of 90-130 CPU-ms each, i.e. every answer
# in flight stalls for 100s of ms; and they found 0-15 garbage objects per pass (the young
# passes: ~90 per 500). So the learner moves what survived a young collection into the
# permanent generation (``gc.freeze``), at most once a second: the unfrozen old generation
# then holds about one second of survivors, and a gen-2 pass (every ~100 young passes, ~2 s
# at that rate) walks only those. Reference counting still frees frozen objects; only a
# cycle that becomes garbage after it was frozen waits for the next ``reload_results``.
_FREEZE_EVERY_S = 1.0
_GC_LOCK = threading.Lock()
# The GIL switch interval while a learner runs: how long a woken event loop waits for the GIL
# the learner holds (each answer needs it several times: the socket's wake-up, the read, the
# write). ~2 answers' worth of the handler's own CPU (~50 µs, BENCHMARKS §3), not 1 ms: a
# thread waking every 0.2 ms beside a learner deciding 256-row batches waited for the GIL
# p90 0.17 ms instead of 1.03 ms, over 1 ms at 1% of wake-ups instead of 14% (two rounds
# each, load 10; most of the rest: the learner, holding the GIL, itself waiting for a CPU).
# The number of switches is the loop's wake-ups, whatever the interval.
_SWITCH_S = 0.0001


class _GcPauses:
    """Each cyclic GC pass's generation and duration (a ``gc.callbacks`` entry).

    The callback only appends: a pass can start inside any allocation, metrics code holding
    its lock included, so the learner moves them into the histogram after each batch."""

    def __init__(self) -> None:
        self.started = 0.0
        self.done: deque[tuple[int, float]] = deque(maxlen=10_000)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.done.append((info["generation"], time.perf_counter() - self.started))


class _GcKeeper:
    """The serving process's GC, kept out of the answers' way (see _FREEZE_EVERY_S)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._next_freeze = 0.0
        # the start-up heap (imports, model, verdict cache) never becomes garbage
        gc.collect()
        gc.freeze()
        self.pauses = _GcPauses()  # what is left of the GC's pauses, on /metrics
        gc.callbacks.append(self.pauses)
        metrics.gauge(
            "distillguard_gc_frozen_objects",
            "objects moved out of the cyclic GC's reach",
            gc.get_freeze_count,
        )

    def after_batch(self) -> None:
        """Freeze the survivors of a young collection (once a second); report the pauses."""
        if time.monotonic() >= self._next_freeze:
            with _GC_LOCK:
                gc.collect(1)  # young cycles die here, not frozen
                gc.freeze()
            self._next_freeze = time.monotonic() + _FREEZE_EVERY_S
        while self.pauses.done:
            gen, seconds = self.pauses.done.popleft()
            self.metrics.observe(
                "distillguard_gc_seconds",
                "cyclic GC passes in the serving process (the GIL is held throughout)",
                seconds,
                generation=str(gen),
            )

    def stop(self) -> None:
        if self.pauses in gc.callbacks:
            gc.callbacks.remove(self.pauses)


class Learner:
    """Background thread: micro-batches queued rows through the featurizer, then ``decide``.

    The featurizer has a fixed cost per call, so rows that arrive together are featurized
    together (up to ``max_batch`` rows, waiting at most ``max_wait_s`` for more). With
    ``process=True`` the featurizer runs in a separate process, so its CPU time (and the GIL
    it holds) never stalls the event loop answering requests; only the cheap per-row
    ``decide`` runs in this process.
    """

    def __init__(
        self,
        scorer: OnlineScorer,
        max_batch: int = 256,
        max_wait_s: float = 0.002,
        process: bool = False,
        freeze_gc: bool = False,
    ) -> None:
        self.scorer = scorer
        self.freeze_gc = freeze_gc
        self._gc = _GcKeeper(scorer.metrics) if freeze_gc else None
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self.pool = None
        if process:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            try:
                self.pool = ProcessPoolExecutor(
                    1,
                    mp_context=mp.get_context("spawn"),
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
                self.pool.submit(_warm_worker)  # import the featurizer now, not on the first batch
            except OSError:  # no subprocesses here: featurize in this process instead
                self.pool = None
        self.q: queue.Queue[dict | None] = queue.Queue(maxsize=100000)
        if sys.getswitchinterval() > _SWITCH_S:
            sys.setswitchinterval(_SWITCH_S)
        scorer.metrics.gauge(
            "distillguard_learn_queue", "rows waiting for background scoring", self.q.qsize
        )
        self._thread = threading.Thread(target=self._run, name="distillguard-learner", daemon=True)
        self._thread.start()

    def put(self, row: dict) -> None:
        try:
            self.q.put_nowait(row)
        except queue.Full:  # shed learning, never the gateway's request
            self.scorer.metrics.counter(
                "distillguard_learn_dropped_total", "rows not learned (queue full)"
            )

    def _run(self) -> None:
        while True:
            row = self.q.get()
            if row is None:
                self.q.task_done()
                return
            batch = [row]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                try:
                    nxt = self.q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self.q.task_done()
                    self.q.put(None)
                    break
                batch.append(nxt)
            try:
                if self.pool is not None:
                    pol = self.scorer.policy
                    cols = {
                        k: [r.get(k) for r in batch]
                        for k in ("prompt_text", "system_text", "tools")
                    }
                    feats = self.pool.submit(
                        _featurize_in_worker, cols, pol.policy.to_dict(), pol.version
                    ).result()
                    for i, row in enumerate(batch):
                        row.update({k: v[i] for k, v in feats.items()})
                    self.scorer.decide_many(batch)
                else:
                    self.scorer.score_rows(batch)
            except Exception as exc:  # keep learning whatever one batch did
                self.scorer.metrics.counter(
                    "distillguard_observe_errors_total",
                    "background scoring errors",
                    reason=type(exc).__name__,
                )
                if type(exc).__name__ == "BrokenProcessPool":
                    self.pool = None  # the featurizer process died: featurize in-process
            if self._gc is not None:
                self._gc.after_batch()
            for _ in batch:
                self.q.task_done()

    def notify(self, message: tuple) -> None:
        """Nothing to tell: this learner decides with the serving scorer's own objects."""

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until every queued row was learned (tests, replay, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self.q.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def stop(self) -> None:
        self.q.put(None)
        self._thread.join(timeout=5)
        if self._gc is not None:
            self._gc.stop()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _subject_key(kind: str, sid: str | None) -> str:
    return f"{kind}:{sid}"


def _normalized(record: Mapping[str, Any], org_trusted: bool) -> dict[str, Any]:
    """The validated row, marked when a trusted org source wrote its ``org_id``."""
    row = normalize_record(record)
    if org_trusted:
        row[ORG_TRUSTED] = True
    return row
