"""What an analyst's decision does: which accounts it hits, and the actions, labels, audit
entries and case status it writes. The HTTP side lives in ``routes/decisions.py``."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import HTTPException
from fastapi.responses import RedirectResponse

from ..errors import InvalidParameterError
from . import queries
from .cases import StoreReader
from .context import ConsoleContext

# Console action → ActionStore action. "dismiss" is special: allow-list plus a label.
CONSOLE_ACTIONS: dict[str, dict[str, str]] = {
    "suspend": {"store": "suspend", "label": "Suspend"},
    "require_verification": {"store": "challenge", "label": "Require verification"},
    "rate_limit": {"store": "rate_limit", "label": "Rate-limit"},
    "dismiss": {"store": "allow", "label": "Dismiss as false positive"},
}
MAX_BULK = 20_000
DEFAULT_RPM = 6.0  # rate-limit default: requests per minute per account
RATE_BURST = 10.0


def check_subject(kind: str) -> None:
    """400 unless ``kind`` names a case kind."""
    if kind not in ("cluster", "account"):
        raise HTTPException(400, f"subject_kind must be cluster or account; got {kind!r}")


def check_action(action: str) -> None:
    """400 unless ``action`` is one of :data:`CONSOLE_ACTIONS`."""
    if action not in CONSOLE_ACTIONS:
        raise HTTPException(400, f"unknown action {action!r}")


def back_to_case(kind: str, subject_id: str, msg: str) -> RedirectResponse:
    """Redirect to the case page, which shows ``msg``."""
    return RedirectResponse(
        f"/{kind}/{quote(subject_id, safe='')}?" + urlencode({"msg": msg}), status_code=303
    )


def target_accounts(store: StoreReader, subject_kind: str, subject_id: str) -> list[str]:
    """The accounts an action on this subject affects (404 for an unknown subject)."""
    with store.cursor() as cur:
        sch = queries.Schema(cur)
        if subject_kind == "account":
            if queries.account_row(cur, sch, subject_id) is None:
                raise HTTPException(404, f"no account {subject_id!r} in the store")
            return [subject_id]
        if queries.cluster_row(cur, sch, subject_id) is None:
            raise HTTPException(404, f"no cluster {subject_id!r} in the store")
        return [m["account_id"] for m in queries.members(cur, sch, subject_id, limit=MAX_BULK)]


def parse_expiry(hours: str) -> float | None:
    """When an action given for ``hours`` (a form field; blank: forever) expires."""
    if not hours.strip():
        return None
    try:
        h = float(hours)
    except ValueError as exc:
        raise InvalidParameterError(f"hours must be a number; got {hours!r}") from exc
    if h <= 0:
        raise InvalidParameterError(f"hours must be positive; got {hours!r}")
    return time.time() + h * 3600


def parse_rate(rpm: str) -> float:
    """A rate limit in requests per minute (a form field; blank: :data:`DEFAULT_RPM`)."""
    try:
        rate = float(rpm) if rpm.strip() else DEFAULT_RPM
    except ValueError as exc:
        raise InvalidParameterError(f"rate must be requests per minute; got {rpm!r}") from exc
    if rate <= 0:
        raise InvalidParameterError(f"rate must be positive; got {rpm!r}")
    return rate


def apply_action(
    console: ConsoleContext,
    subject_kind: str,
    subject_id: str,
    action: str,
    actor: str,
    reason: str,
    expires_at: float | None,
    rpm: float | None = None,
) -> int:
    """Apply console ``action`` to every target account; returns how many."""
    accts = target_accounts(console.store, subject_kind, subject_id)
    batch = secrets.token_hex(6)
    params = _action_params(subject_kind, subject_id, action, batch, rpm)
    store_action = CONSOLE_ACTIONS[action]["store"]
    for acc in accts:
        console.actions.apply(
            "account",
            acc,
            store_action,
            actor,
            reason,
            expires_at=None if action == "dismiss" else expires_at,
            params=params,
        )
        if action == "dismiss":
            console.actions.label(acc, "false_positive", actor)
    if subject_kind == "cluster":
        console.audit.append(
            f"bulk_{action}",
            "cluster",
            subject_id,
            actor,
            reason,
            extra={"batch": batch, "n_accounts": len(accts), "via": "console"},
        )
    status = "dismissed" if action == "dismiss" else "actioned"
    console.db.set_status(subject_kind, subject_id, status, actor)
    return len(accts)


def _action_params(
    subject_kind: str, subject_id: str, action: str, batch: str, rpm: float | None
) -> dict[str, Any]:
    """The params every action of one console decision carries."""
    params: dict[str, Any] = {"console_action": action, "batch": batch, "via": "console"}
    if rpm is not None:
        # The online scorer's token bucket reads rate_per_s and burst.
        params.update(rate_per_s=rpm / 60.0, burst=RATE_BURST)
    if subject_kind == "cluster":
        params["cluster_id"] = subject_id
    return params


def reverse_actions(
    console: ConsoleContext,
    subject_kind: str,
    subject_id: str,
    actor: str,
    reason: str,
    action_id: str,
    batch: str,
) -> int:
    """Reverse one action, or every active action of a bulk batch; returns how many."""
    if action_id:
        ids = [int(action_id)] if action_id.isdigit() else []
    else:
        ids = [
            a["id"] for a in console.actions.active() if a["params"].get("batch") == batch and batch
        ]
    if not ids:
        raise HTTPException(400, "nothing to reverse (already reversed or expired?)")
    for aid in ids:
        console.actions.reverse(aid, actor, reason)
    if subject_kind == "cluster":
        console.audit.append(
            "appeal",
            "cluster",
            subject_id,
            actor,
            reason,
            extra={"batch": batch, "n_reversed": len(ids), "via": "console"},
        )
    console.db.set_status(subject_kind, subject_id, "in review", actor)
    return len(ids)


def active_batches(active: list[dict], cluster_id: str, member_ids: set[str]) -> list[dict]:
    """Active console actions on a cluster's members, grouped by bulk batch."""
    out: dict[str, dict] = {}
    for a in active:
        p = a.get("params") or {}
        if p.get("cluster_id") != cluster_id and a["subject_id"] not in member_ids:
            continue
        key = p.get("batch") or f"action-{a['id']}"
        b = out.setdefault(
            key,
            {
                "batch": p.get("batch", ""),
                "action_id": a["id"],
                "action": p.get("console_action", a["action"]),
                "actor": a["actor"],
                "reason": a["reason"],
                "created_at": a["created_at"],
                "n": 0,
            },
        )
        b["n"] += 1
    return sorted(out.values(), key=lambda b: -b["created_at"])
