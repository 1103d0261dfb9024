"""distillguard in LiteLLM (``pip install litellm``; tested with litellm 1.110.2): a guardrail
for the proxy, and a callback for the proxy or the SDK.

**Guardrail** (recommended on the proxy) — :class:`DistillguardGuardrail` subclasses
LiteLLM's ``CustomGuardrail`` (``litellm/integrations/custom_guardrail.py`` in the installed
package) and is listed under ``guardrails:`` in the proxy's ``config.yaml``::

    guardrails:
      - guardrail_name: distillguard
        litellm_params:
          guardrail: distillguard.online.litellm_guard.DistillguardGuardrail
          mode: [pre_call, during_call, post_call]
          default_on: true        # or false, and enable it per key / team in their metadata

LiteLLM builds it with ``guardrail_name``, ``event_hook`` and ``default_on`` (see
``litellm/proxy/guardrails/guardrail_registry.py``) and asks ``should_run_guardrail`` before
each hook, which is what makes it switchable per key or team. The scorer comes from
``DISTILLGUARD_DATA``, ``DISTILLGUARD_POLICY``, ``DISTILLGUARD_STATE``.

- ``pre_call`` — the hot path: an O(1) precheck (verdict cache, persisted actions, allow-list,
  the account's last features, token bucket) and the request queued for full scoring.
  ``block``/``challenge`` raise HTTP 403, ``rate_limit`` 429.
- ``during_call`` — runs while the model works: the request's *full* decision (its own text
  signals); a block there stops the answer. Without ``pre_call`` it scores the request inline.
- ``post_call`` — applies ``degrade``: reasoning fields are removed from the answer. A visible
  degrade is marked with the ``x-distillguard-action`` / ``x-distillguard-degraded`` response
  headers (LiteLLM's ``_hidden_params["additional_headers"]``); a silent one (the decision's
  ``params.silent``) is not, so it looks like an allowed answer. The audit records both.

**Callback** — :class:`DistillguardLiteLLM` (``litellm_settings: callbacks: …``) does
``pre_call`` and ``post_call`` as a plain callback, and both classes record usage in
``async_log_success_event`` (and score SDK calls that no proxy hook saw).

**Identity.** The account is the *authenticated* key's ``user_id``, else its ``team_id``,
else the key's hash — never the OpenAI ``user`` field or request metadata, which the client
writes: a blocked account would simply name a fresh one (``user: "fresh-1"``), or someone
else's. Pass ``account_resolver`` to choose among the key's own attributes.

**Organisation.** The key's ``org_id`` (LiteLLM's organisation of the virtual key:
``UserAPIKeyAuth.org_id``, ``organization_id`` in its database, see
``litellm/types/proxy/auth/user_api_key_auth.py``; the proxy logs it as
``metadata.user_api_key_org_id``, which is what batch ingest reads), never a client field.
The proxy authenticates it, so the integrations are a trusted org source
(``online/orgs.py``) by default: it counts for an account the account table does not list
yet; where the table lists the account, the table's org wins. ``trusted_org_source=False``
counts the table's only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from fastapi import HTTPException
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.integrations.custom_logger import CustomLogger
from litellm.types.guardrails import GuardrailEventHooks

from ..errors import DistillguardError
from .asgi import REASONING_FIELDS
from .scorer import Decision, OnlineScorer

log = logging.getLogger(__name__)
UNIDENTIFIED = "unidentified"
# Metadata keys LiteLLM's proxy writes from the authenticated key (it overwrites whatever the
# client sent under these names), and the key the SDK caller (the operator's code) may set.
_PROXY_KEYS = ("user_api_key_user_id", "user_api_key_team_id", "user_api_key_hash")
_SDK_KEY = "distillguard_account_id"

AccountResolver = Callable[[Any, dict], "str | None"]


class _Seen(NamedTuple):
    """What a hook decided for one request."""

    account: str
    action: str
    queued: bool  # its full scoring runs in the background: a full decision will follow
    scored: bool  # it reached the account state (queued or scored inline): don't learn twice
    silent: bool = False  # a degrade the caller must not be able to see


def default_account_resolver(user_api_key_dict: Any, data: dict) -> str | None:
    """The authenticated key's user_id, else team_id, else its hash (never client fields)."""
    for attr in ("user_id", "team_id", "token"):
        v = getattr(user_api_key_dict, attr, None)
        if v:
            return str(v)
    raw = getattr(user_api_key_dict, "api_key", None)
    if raw:  # hash it: a raw key must never reach the audit log
        return "key:" + hashlib.sha256(str(raw).encode()).hexdigest()[:24]
    return None


def key_org(user_api_key_dict: Any) -> str | None:
    """The authenticated key's organisation (``UserAPIKeyAuth.org_id``), never a client field."""
    org = getattr(user_api_key_dict, "org_id", None)
    return str(org) if org else None


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _log_metadata(kwargs: dict) -> dict:
    return ((kwargs.get("litellm_params") or {}).get("metadata") or {}) or (
        kwargs.get("metadata") or {}
    )


def _log_account(kwargs: dict) -> str | None:
    """The account of a logged call: the proxy's authenticated key, else the SDK caller's."""
    meta = _log_metadata(kwargs)
    for k in (*_PROXY_KEYS, _SDK_KEY):
        if meta.get(k):
            return str(meta[k])
    return None


def _record(
    rid: str, account: str, model: Any, messages: Any, org_id: str | None = None
) -> dict[str, Any] | None:
    """A contract record from LiteLLM's call data (None when there are no chat messages)."""
    if not isinstance(messages, list) or not messages:
        return None
    rec: dict[str, Any] = {
        "request_id": rid,
        "ts": int(time.time() * 1000),
        "account_id": account,
        "model": str(model or "unknown"),
        "messages": [
            {"role": str(_get(m, "role") or "user"), "content": _get(m, "content")}
            for m in messages
        ],
    }
    if org_id:
        rec["org_id"] = str(org_id)
    return rec


def _refuse(d: Decision) -> None:
    """Raise the HTTP error LiteLLM returns to the client for a stopping decision."""
    if d.action in ("block", "challenge"):
        kind = "access_blocked" if d.action == "block" else "verification_required"
        raise HTTPException(
            status_code=403,
            detail={
                "error": {
                    "type": kind,
                    "code": d.action,
                    "message": "; ".join(d.reasons[:1]) or kind,
                }
            },
        )
    if d.action == "rate_limit":
        raise HTTPException(
            status_code=429,
            detail={
                "error": {
                    "type": "rate_limit_exceeded",
                    "code": "rate_limit",
                    "message": "rate limit exceeded for this account",
                }
            },
            headers={"Retry-After": str(max(1, int(round(d.retry_after_s or 1))))},
        )


def _mark(response: Any, headers: dict[str, str]) -> None:
    """Response headers the LiteLLM proxy sends with the answer (``additional_headers``)."""
    hidden = getattr(response, "_hidden_params", None)
    if isinstance(response, dict):
        hidden = response.setdefault("_hidden_params", {})
    if isinstance(hidden, dict):
        hidden["additional_headers"] = {**(hidden.get("additional_headers") or {}), **headers}


def _strip_reasoning(response: Any) -> None:
    for choice in _get(response, "choices") or []:
        msg = _get(choice, "message")
        if msg is None:
            continue
        for f in (*REASONING_FIELDS, "thinking_blocks"):
            if isinstance(msg, dict):
                msg.pop(f, None)
            elif getattr(msg, f, None) is not None:
                try:
                    setattr(msg, f, None)
                except (AttributeError, TypeError, ValueError):
                    pass


def scorer_from_env() -> OnlineScorer:
    """``DISTILLGUARD_DATA`` (default ./distillguard-data), ``DISTILLGUARD_POLICY``,
    ``DISTILLGUARD_STATE`` (memory or redis://…)."""
    return OnlineScorer(
        Path(os.environ.get("DISTILLGUARD_DATA", "distillguard-data")),
        os.environ.get("DISTILLGUARD_POLICY") or None,
        state=os.environ.get("DISTILLGUARD_STATE", "memory"),
    )


class Enforcer:
    """What both LiteLLM integrations do, on one scorer (composition, not a LiteLLM base)."""

    def __init__(
        self,
        scorer: OnlineScorer,
        account_resolver: AccountResolver = default_account_resolver,
        late_wait_s: float = 0.05,
        countermeasures: Any = None,
        trusted_org_source: bool = True,
    ) -> None:
        self.scorer = scorer
        self.account_resolver = account_resolver
        self.late_wait_s = late_wait_s
        self.trusted_org_source = trusted_org_source  # the key's org: see the module docstring
        # countermeasures.apply.Countermeasures on degrade; from the environment by default
        # (watermark and canaries only when a key is set, see README "Response countermeasures")
        if countermeasures is None:
            from ..countermeasures.apply import Countermeasures

            countermeasures = Countermeasures.from_env(scorer.data_dir)
        self.countermeasures = countermeasures
        # request id → what a hook decided: kept here, not in the request's metadata, which
        # the client can write
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def account(self, user_api_key_dict: Any, data: dict) -> str:
        account = self.account_resolver(user_api_key_dict, data)
        if account:
            return account
        # Never pass silently: decided (and logged) under one shared account.
        self.scorer.metrics.counter(
            "distillguard_unidentified_total", "requests without an identity", integration="litellm"
        )
        log.warning("LiteLLM request without an authenticated identity; scored as %r", UNIDENTIFIED)
        return UNIDENTIFIED

    def _remember(self, rid: str, account: str, d: Decision, queued: bool, scored: bool) -> None:
        self._seen[rid] = _Seen(account, d.action, queued, scored, bool(d.params.get("silent")))
        while len(self._seen) > 50_000:
            self._seen.popitem(last=False)

    def pre_call(self, user_api_key_dict: Any, data: dict) -> dict:
        """The O(1) decision; the full scoring queued; raises for block/challenge/rate_limit."""
        t0 = time.perf_counter()
        account = self.account(user_api_key_dict, data)
        rid = str(data.get("litellm_call_id") or uuid.uuid4().hex)
        org, trusted = key_org(user_api_key_dict), self.trusted_org_source
        record = _record(rid, account, data.get("model"), data.get("messages"), org)
        d, scored = None, False
        if record is not None:
            try:  # O(1) decision + full scoring queued
                d, scored = self.scorer.assess(record, org_trusted=trusted), True
            except DistillguardError:
                pass  # a record the contract refuses: still the account's O(1) decision
        if d is None:
            d = self.scorer.precheck(account, rid, org_id=org, org_trusted=trusted)
        self._remember(rid, account, d, queued=scored, scored=scored)
        self.scorer.metrics.observe(
            "distillguard_hook_seconds",
            "in-gateway decision latency",
            time.perf_counter() - t0,
            integration="litellm",
        )
        self._annotate(data, account, rid, d)
        _refuse(d)
        if d.action == "degrade" and self.countermeasures.cap_request(data):
            self._transformed(account, ["max_tokens_cap"], bool(d.params.get("silent")))
        return data

    async def during_call(self, user_api_key_dict: Any, data: dict) -> None:
        """The full decision (the request's own signals); raises when it stops the request."""
        rid = str(data.get("litellm_call_id") or "")
        seen = self._seen.get(rid)
        if seen is None or not seen.queued:  # no full scoring queued: score it here
            _refuse(self._score_inline(user_api_key_dict, data, rid or uuid.uuid4().hex))
            return
        d = await self.scorer.wait_full_decision(rid, self.late_wait_s)
        # pre_call already charged the token bucket: here only a stop counts, not a second
        # rate-limit token taken by the background scoring
        if d is not None and d.action in ("block", "challenge"):
            _refuse(d)

    def _score_inline(self, user_api_key_dict: Any, data: dict, rid: str) -> Decision:
        account = self.account(user_api_key_dict, data)
        org, trusted = key_org(user_api_key_dict), self.trusted_org_source
        record = _record(rid, account, data.get("model"), data.get("messages"), org)
        d = None
        if record is not None:
            try:
                d = self.scorer.score(record, org_trusted=trusted)
            except DistillguardError:
                pass  # a record the contract refuses: still the account's O(1) decision
        scored = d is not None
        if d is None:
            d = self.scorer.precheck(account, rid, org_id=org, org_trusted=trusted)
        self._remember(rid, account, d, queued=False, scored=scored)
        self._annotate(data, account, rid, d)
        return d

    async def post_call(self, data: dict, response: Any) -> Any:
        """Withhold reasoning when the fast or the full decision says ``degrade``."""
        rid = str(data.get("litellm_call_id") or "")
        seen = self._seen.get(rid)
        if seen is None:
            return response
        action, silent = seen.action, seen.silent
        if action != "degrade" and seen.queued:
            late = await self.scorer.wait_full_decision(rid, self.late_wait_s)
            if late is not None:
                action, silent = late.action, bool(late.params.get("silent"))
        if action == "degrade":
            _strip_reasoning(response)
            done = [
                "reasoning_withheld",
                *self.countermeasures.transform_response(response, seen.account),
            ]
            self._transformed(seen.account, done, silent)
            if not silent:
                _mark(response, {"x-distillguard-action": "degrade",
                                 "x-distillguard-degraded": ",".join(done)})
        return response

    def _transformed(self, account: str, kinds: list[str], silent: bool = False) -> None:
        """Count and audit what was done to a degraded exchange, and whether the caller was
        shown it (an appeal stops it)."""
        for kind in kinds:
            self.scorer.metrics.counter(
                "distillguard_countermeasures_total", "degraded responses transformed", kind=kind
            )
        self.scorer.audit.append(
            "degrade_transform",
            "account",
            account,
            "gateway",
            ",".join(kinds),
            policy_version=self.scorer.policy.version,
            extra={"silent": silent},
        )

    def log_success(self, kwargs: dict, response_obj: Any) -> None:
        """Usage into the account state; calls no hook saw (SDK use) are scored in full."""
        rid = str(kwargs.get("litellm_call_id") or uuid.uuid4().hex)
        seen = self._seen.get(rid)
        account = seen.account if seen else _log_account(kwargs)
        if not account:
            return
        event: dict[str, Any] = {"request_id": rid, "account_id": account, "status": 200}
        usage = _get(response_obj, "usage")
        for src, dst in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens")):
            v = _get(usage, src) if usage is not None else None
            if isinstance(v, int):
                event[dst] = v
        record = None
        if seen is None or not seen.scored:
            record = _record(rid, account, kwargs.get("model"), kwargs.get("messages"))
        try:
            if record is not None:
                record.update(
                    {k: event[k] for k in ("input_tokens", "output_tokens") if k in event}
                )
                self.scorer.score(record)
            self.scorer.learn_events([event])
        except Exception as exc:  # logging must never break the proxy
            self.scorer.metrics.counter(
                "distillguard_observe_errors_total",
                "background scoring errors",
                reason=type(exc).__name__,
            )

    def log_failure(self, kwargs: dict) -> None:
        seen = self._seen.get(str(kwargs.get("litellm_call_id") or ""))
        account = seen.account if seen else _log_account(kwargs)
        if account:
            self.scorer.learn_events([{"account_id": account, "status": 500}])

    @staticmethod
    def _annotate(data: dict, account: str, rid: str, d: Decision) -> None:
        data.setdefault("metadata", {})["distillguard"] = {
            "account_id": account,
            "action": d.action,
            "rule": d.rule,
            "risk": round(d.risk, 4),
            "silent": bool(d.params.get("silent")),
            "request_id": rid,
        }


class _EnforcerHooks:
    """The LiteLLM hooks both integrations share, each handing over to ``self.enforcer``."""

    enforcer: Enforcer

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict, call_type: Any
    ) -> dict | None:
        return self.enforcer.pre_call(user_api_key_dict, data)

    async def async_post_call_success_hook(
        self, data: dict, user_api_key_dict: Any, response: Any
    ) -> Any:
        return await self.enforcer.post_call(data, response)

    async def async_log_success_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.enforcer.log_success(kwargs, response_obj)

    async def async_log_failure_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.enforcer.log_failure(kwargs)


class DistillguardGuardrail(_EnforcerHooks, CustomGuardrail):
    """A LiteLLM guardrail (``guardrails:`` in config.yaml); see the module docstring."""

    def __init__(
        self,
        scorer: OnlineScorer | None = None,
        account_resolver: AccountResolver = default_account_resolver,
        late_wait_s: float | None = None,
        trusted_org_source: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault(
            "supported_event_hooks",
            [
                GuardrailEventHooks.pre_call,
                GuardrailEventHooks.during_call,
                GuardrailEventHooks.post_call,
            ],
        )
        super().__init__(**kwargs)
        wait = late_wait_s
        if wait is None:
            wait = float(os.environ.get("DISTILLGUARD_LATE_WAIT_S", "0.05"))
        self.enforcer = Enforcer(
            scorer or scorer_from_env(),
            account_resolver,
            wait,
            trusted_org_source=trusted_org_source,
        )
        self.scorer = self.enforcer.scorer

    async def async_moderation_hook(
        self, data: dict, user_api_key_dict: Any, call_type: Any
    ) -> None:
        await self.enforcer.during_call(user_api_key_dict, data)


class DistillguardLiteLLM(_EnforcerHooks, CustomLogger):
    """A LiteLLM callback (``litellm_settings: callbacks:``, or ``litellm.callbacks`` in the
    SDK): pre-call decision, post-call degrade, usage after the call."""

    def __init__(
        self,
        scorer: OnlineScorer,
        account_resolver: AccountResolver = default_account_resolver,
        late_wait_s: float = 0.05,
        trusted_org_source: bool = True,
    ) -> None:
        super().__init__()
        self.enforcer = Enforcer(
            scorer, account_resolver, late_wait_s, trusted_org_source=trusted_org_source
        )
        self.scorer = scorer

    @classmethod
    def from_env(cls) -> DistillguardLiteLLM:
        """Built from ``DISTILLGUARD_DATA``, ``_POLICY``, ``_STATE`` and ``_LATE_WAIT_S``."""
        return cls(
            scorer_from_env(), late_wait_s=float(os.environ.get("DISTILLGUARD_LATE_WAIT_S", "0.05"))
        )
