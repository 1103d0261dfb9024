"""Case reports for download, as HTML or PDF (audited, prompts redacted unless revealed)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from .. import queries
from ..casework import check_subject
from ..context import Console, ConsoleContext
from ..pdf import html_to_pdf
from ..report import build_report_html
from ..session import Analyst

router = APIRouter()


@router.get("/export/{subject_kind}/{subject_id:path}")
def export(
    sess: Analyst, console: Console, subject_kind: str, subject_id: str, format: str = "html"
) -> Response:
    check_subject(subject_kind)
    if format not in ("html", "pdf"):
        raise HTTPException(400, f"format must be html or pdf; got {format!r}")
    redact = not console.can_see_text(sess, subject_kind, subject_id)
    html = _case_report(console, sess["username"], subject_kind, subject_id, redact)
    fname = f"case-{subject_kind}-{_safe_name(subject_id)}.{format}"
    disposition = {"Content-Disposition": f'attachment; filename="{fname}"'}
    # Printed before the audit entry: a failed PDF export is not recorded as an export.
    pdf = html_to_pdf(html) if format == "pdf" else None
    console.audit.append(
        "export_case",
        subject_kind,
        subject_id,
        sess["username"],
        "case report exported",
        extra={"redacted": redact, "format": format},
    )
    if pdf is not None:
        return Response(pdf, media_type="application/pdf", headers=disposition)
    return HTMLResponse(html, headers=disposition)


def _case_report(
    console: ConsoleContext, username: str, subject_kind: str, subject_id: str, redact: bool
) -> str:
    """The report page of one case (404 when the store has no such subject)."""
    with console.store.cursor() as cur:
        sch = queries.Schema(cur)
        find = queries.cluster_row if subject_kind == "cluster" else queries.account_row
        if find(cur, sch, subject_id) is None:
            raise HTTPException(404, f"no {subject_kind} {subject_id!r} in the store")
        return build_report_html(
            cur,
            {
                "case": f"{subject_kind} {subject_id}",
                "exported_by": username,
                "prompts": "redacted" if redact else "included (revealed, audited)",
            },
            redact=redact,
            cluster_ids=[subject_id] if subject_kind == "cluster" else [],
            account_ids=[subject_id] if subject_kind == "account" else None,
            title=f"distillguard case report: {subject_kind} {subject_id}",
        )


def _safe_name(s: str) -> str:
    """``s`` reduced to characters safe in a download's file name."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in s)[:80]
