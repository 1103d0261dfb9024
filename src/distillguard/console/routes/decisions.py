"""An analyst's decisions on a case: reveal prompts, set status, act (with a preview for
bulk actions) and reverse on appeal. Every form here goes through :data:`AnalystForm`."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import RedirectResponse, Response

from ..casework import (
    CONSOLE_ACTIONS,
    apply_action,
    back_to_case,
    check_action,
    check_subject,
    parse_expiry,
    parse_rate,
    reverse_actions,
    target_accounts,
)
from ..context import Console
from ..session import Analyst, AnalystForm

router = APIRouter()


@router.post("/reveal")
def reveal(
    sess: AnalystForm,
    console: Console,
    subject_kind: str = Form(...),
    subject_id: str = Form(...),
    reason: str = Form(""),
) -> Response:
    check_subject(subject_kind)
    if not reason.strip():
        raise HTTPException(400, "revealing prompts needs a reason")
    user = sess["username"]
    console.audit.append(
        "reveal_prompts",
        subject_kind,
        subject_id,
        user,
        reason.strip(),
        extra={"via": "console", "ttl_s": 900},
    )
    console.db.grant_reveal(user, subject_kind, subject_id)
    if console.db.status(subject_kind, subject_id) == "new":
        console.db.set_status(subject_kind, subject_id, "in review", user)
    return back_to_case(subject_kind, subject_id, "prompts revealed for 15 minutes (audited)")


@router.post("/status")
def set_status(
    sess: AnalystForm,
    console: Console,
    subject_kind: str = Form(...),
    subject_id: str = Form(...),
    status: str = Form(...),
) -> Response:
    check_subject(subject_kind)
    console.db.set_status(subject_kind, subject_id, status, sess["username"])
    return back_to_case(subject_kind, subject_id, f"status set to {status}")


@router.get("/act")
def act_preview(
    sess: Analyst,
    console: Console,
    subject_kind: str,
    subject_id: str,
    action: str,
    reason: str = "",
    hours: str = "",
    rpm: str = "",
) -> Response:
    """The accounts an action would hit, and their active actions, before confirming."""
    check_subject(subject_kind)
    check_action(action)
    accts = target_accounts(console.store, subject_kind, subject_id)
    active: dict[str, list[str]] = {}
    for a in console.actions.active():
        if a["subject_id"] in set(accts):
            active.setdefault(a["subject_id"], []).append(a["action"])
    return console.page(
        "act_preview.html",
        sess,
        subject_kind=subject_kind,
        subject_id=subject_id,
        action=action,
        action_label=CONSOLE_ACTIONS[action]["label"],
        accounts=accts,
        active=active,
        reason=reason,
        hours=hours,
        rpm=rpm,
    )


@router.post("/act")
def act(
    sess: AnalystForm,
    console: Console,
    subject_kind: str = Form(...),
    subject_id: str = Form(...),
    action: str = Form(...),
    reason: str = Form(""),
    hours: str = Form(""),
    rpm: str = Form(""),
    confirm: str = Form(""),
) -> Response:
    check_subject(subject_kind)
    check_action(action)
    if not reason.strip():
        raise HTTPException(400, "every action needs a reason")
    if subject_kind == "cluster" and confirm != "yes":
        # Bulk actions always go through the preview first.
        preview = {
            "subject_kind": subject_kind,
            "subject_id": subject_id,
            "action": action,
            "reason": reason,
            "hours": hours,
            "rpm": rpm,
        }
        return RedirectResponse("/act?" + urlencode(preview), status_code=303)
    expires_at = parse_expiry(hours)
    rate = parse_rate(rpm) if action == "rate_limit" else None
    actor, why = sess["username"], reason.strip()
    n = apply_action(console, subject_kind, subject_id, action, actor, why, expires_at, rate)
    label = CONSOLE_ACTIONS[action]["label"]
    return back_to_case(subject_kind, subject_id, f"{label}: applied to {n} account(s)")


@router.post("/appeal")
def appeal(
    sess: AnalystForm,
    console: Console,
    subject_kind: str = Form(...),
    subject_id: str = Form(...),
    reason: str = Form(""),
    action_id: str = Form(""),
    batch: str = Form(""),
) -> Response:
    """Reverse one action, or every active action of a bulk batch (an upheld appeal)."""
    check_subject(subject_kind)
    if not reason.strip():
        raise HTTPException(400, "reversing an action needs a reason")
    n = reverse_actions(
        console, subject_kind, subject_id, sess["username"], reason.strip(), action_id, batch
    )
    return back_to_case(subject_kind, subject_id, f"appeal upheld: {n} action(s) reversed")
