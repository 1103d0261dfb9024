"""The audit log page: newest entries (of one subject) and the hash chain's check."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ..context import Console
from ..session import Viewer

router = APIRouter()


@router.get("/audit")
def audit_page(sess: Viewer, console: Console, subject: str = "") -> Response:
    entries = console.audit_view.entries(subject or None, limit=300)
    return console.page(
        "audit.html", sess, entries=entries, verify=console.audit.verify(), subject=subject
    )
