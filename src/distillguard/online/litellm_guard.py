"""A LiteLLM proxy callback/guardrail (``pip install litellm``; tested with litellm 1.110.2).

In the proxy's ``config.yaml``::

    litellm_settings:
      callbacks: custom_callbacks.proxy_handler_instance

with ``custom_callbacks.py`` beside it (see ``examples/gateway/litellm/``)::

    from distillguard.online.litellm_guard import DistillguardLiteLLM
    proxy_handler_instance = DistillguardLiteLLM.from_env()   # DISTILLGUARD_DATA, ..._POLICY

- ``async_pre_call_hook`` — the hot path: an O(1) precheck (verdict cache, persisted
  actions, allow-list, the account's last features, token bucket) and the request queued for
  full scoring on a background thread (text signals, state update, new account/cluster
  actions). ``block``/``challenge`` raise HTTP 403, ``rate_limit`` 429; the decision is
  attached to ``data["metadata"]``.
- ``async_post_call_success_hook`` — applies ``degrade`` (from the precheck, or from the full
  decision, ready by the time the model has answered): reasoning fields are removed from the
  response before it leaves the proxy.
- ``async_log_success_event`` — off the hot path: usage (tokens, status) into the account's
  state; requests that did not pass the pre-call hook (SDK use) are scored in full here.

The account is the key's ``user_id`` (else ``team_id``, else the hashed key); pass
``account_resolver`` to choose otherwise.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from ..errors import DistillguardError
from .asgi import REASONING_FIELDS
from .scorer import OnlineScorer

_META_KEYS = (
    "distillguard_account_id",
    "user_api_key_user_id",
    "user_api_key_team_id",
    "user_api_key_hash",
)


def default_account_resolver(user_api_key_dict: Any, data: dict) -> str | None:
    """user_id, else team_id, else the hashed API key, else the request's ``user`` field."""
    for attr in ("user_id", "team_id", "api_key", "token"):
        v = getattr(user_api_key_dict, attr, None)
        if v:
            return str(v)
    meta = data.get("metadata") or {}
    for k in _META_KEYS:
        if meta.get(k):
            return str(meta[k])
    return data.get("user")


def _account_from_log_kwargs(kwargs: dict) -> str | None:
    meta = (
        ((kwargs.get("litellm_params") or {}).get("metadata") or {}) or kwargs.get("metadata") or {}
    )
    dg = meta.get("distillguard") or {}
    if dg.get("account_id"):
        return str(dg["account_id"])
    for k in _META_KEYS:
        if meta.get(k):
            return str(meta[k])
    return kwargs.get("user") or (kwargs.get("optional_params") or {}).get("user")


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


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


class DistillguardLiteLLM(CustomLogger):
    """LiteLLM ``CustomLogger`` enforcing distillguard decisions (see module docstring)."""

    def __init__(
        self,
        scorer: OnlineScorer,
        account_resolver: Callable[[Any, dict], str | None] = default_account_resolver,
        late_wait_s: float = 0.05,
    ) -> None:
        super().__init__()
        self.scorer = scorer
        self.account_resolver = account_resolver
        self.late_wait_s = late_wait_s

    @classmethod
    def from_env(cls) -> DistillguardLiteLLM:
        """Build from ``DISTILLGUARD_DATA`` (default ./distillguard-data), ``DISTILLGUARD_POLICY``,
        ``DISTILLGUARD_STATE`` (memory or redis://…), ``DISTILLGUARD_LATE_WAIT_S``."""
        return cls(
            OnlineScorer(
                Path(os.environ.get("DISTILLGUARD_DATA", "distillguard-data")),
                os.environ.get("DISTILLGUARD_POLICY") or None,
                state=os.environ.get("DISTILLGUARD_STATE", "memory"),
            ),
            late_wait_s=float(os.environ.get("DISTILLGUARD_LATE_WAIT_S", "0.05")),
        )

    # ---- hot path ---------------------------------------------------------------------------
    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict, call_type: Any
    ) -> dict | None:
        t0 = time.perf_counter()
        account = self.account_resolver(user_api_key_dict, data)
        if not account:
            return data
        rid = str(data.get("litellm_call_id") or uuid.uuid4().hex)
        team = getattr(user_api_key_dict, "team_id", None)
        record = _record(rid, account, data.get("model"), data.get("messages"), team)
        if record is not None:
            try:
                d = self.scorer.assess(record)  # O(1) decision + full scoring queued
            except DistillguardError:
                d = self.scorer.precheck(account, rid, org_id=team)
        else:
            d = self.scorer.precheck(account, rid, org_id=team)
        self.scorer.metrics.observe(
            "distillguard_hook_seconds",
            "in-gateway decision latency",
            time.perf_counter() - t0,
            integration="litellm",
        )
        meta = data.setdefault("metadata", {})
        meta["distillguard"] = {
            "account_id": account,
            "action": d.action,
            "rule": d.rule,
            "risk": round(d.risk, 4),
            "request_id": rid,
            "queued": record is not None,
        }
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
        return data

    # ---- after the call ---------------------------------------------------------------------
    async def async_post_call_success_hook(
        self, data: dict, user_api_key_dict: Any, response: Any
    ) -> Any:
        dg = (data.get("metadata") or {}).get("distillguard") or {}
        action = dg.get("action")
        if action != "degrade" and dg.get("request_id"):
            late = await self.scorer.wait_full_decision(dg["request_id"], self.late_wait_s)
            action = late.action if late is not None else action
        if action == "degrade":
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
        return response

    async def async_log_success_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Full scoring and usage, off the hot path (LiteLLM runs loggers in the background)."""
        account = _account_from_log_kwargs(kwargs)
        if not account:
            return
        meta = (
            ((kwargs.get("litellm_params") or {}).get("metadata") or {})
            or kwargs.get("metadata")
            or {}
        )
        queued = bool((meta.get("distillguard") or {}).get("queued"))
        rid = str(kwargs.get("litellm_call_id") or uuid.uuid4().hex)
        record = (
            None if queued else _record(rid, account, kwargs.get("model"), kwargs.get("messages"))
        )
        usage = _get(response_obj, "usage")
        event: dict[str, Any] = {"request_id": rid, "account_id": account, "status": 200}
        if usage is not None:
            for src, dst in (
                ("prompt_tokens", "input_tokens"),
                ("completion_tokens", "output_tokens"),
            ):
                v = _get(usage, src)
                if isinstance(v, int):
                    record[dst] = event[dst] = v
        try:
            if record is not None:
                for k in ("input_tokens", "output_tokens"):
                    if k in event:
                        record[k] = event[k]
                self.scorer.score(record)
            self.scorer.learn_events([event])
        except Exception as exc:  # logging must never break the proxy
            self.scorer.metrics.counter(
                "distillguard_observe_errors_total",
                "background scoring errors",
                reason=type(exc).__name__,
            )

    async def async_log_failure_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        account = _account_from_log_kwargs(kwargs)
        if account:
            self.scorer.learn_events([{"account_id": account, "status": 500}])
