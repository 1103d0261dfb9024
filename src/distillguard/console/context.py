"""What every console request shares: the stores it reads and writes, and the page renderer.

One :class:`ConsoleContext` is built per app and kept on ``app.state.console``; route
handlers receive it through the :data:`Console` dependency instead of closing over locals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from itsdangerous import URLSafeTimedSerializer
from jinja2 import Environment

from ..online.actions import ActionStore
from ..online.audit import AuditLog
from .auditview import AuditView
from .auth import ConsoleDB, has_role
from .cases import StoreReader
from .report import environment
from .throttle import LoginThrottle

SESSION_COOKIE = "dg_session"


@dataclass(frozen=True)
class ConsoleContext:
    """The console's stores, all under one data folder, and its templates."""

    store: StoreReader
    db: ConsoleDB
    audit: AuditLog
    actions: ActionStore
    audit_view: AuditView
    throttle: LoginThrottle
    login_signer: URLSafeTimedSerializer
    env: Environment

    @classmethod
    def open(cls, data_dir: Path) -> ConsoleContext:
        """Open (creating when missing) every store under ``data_dir``."""
        db = ConsoleDB(data_dir / "console.sqlite")
        audit = AuditLog(data_dir / "audit.jsonl")
        return cls(
            store=StoreReader(data_dir),
            db=db,
            audit=audit,
            actions=ActionStore(data_dir / "actions.sqlite", audit=audit),
            audit_view=AuditView(audit.path),
            throttle=LoginThrottle(data_dir / "console.sqlite"),
            login_signer=URLSafeTimedSerializer(
                db.signer.secret_key, salt="distillguard-login-csrf"
            ),
            env=environment(),
        )

    def session_of(self, request: Request) -> dict | None:
        """The request's live session (with its user and CSRF token), or None."""
        return self.db.session(request.cookies.get(SESSION_COOKIE))

    def page(self, name: str, sess: dict | None, **ctx: Any) -> HTMLResponse:
        """Render template ``name`` for ``sess`` (None: logged out)."""
        return HTMLResponse(
            self.env.get_template(name).render(
                user=sess,
                csrf=sess["csrf"] if sess else "",
                can_act=bool(sess and has_role(sess["role"], "analyst")),
                **ctx,
            )
        )

    def error_page(
        self, request: Request, status: int, message: str, headers: dict | None = None
    ) -> HTMLResponse:
        """The error page, with the header of whoever is logged in."""
        sess = self.session_of(request)
        html = self.env.get_template("error.html").render(
            user=sess, csrf=sess["csrf"] if sess else "", status=status, message=message
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    def can_see_text(self, sess: dict, kind: str, subject_id: str) -> bool:
        """Whether ``sess`` may read this subject's prompt text."""
        # Viewers never see prompt text; analysts only after an audited reveal.
        return has_role(sess["role"], "analyst") and self.db.can_reveal(
            sess["username"], kind, subject_id
        )


def console_context(request: Request) -> ConsoleContext:
    """Dependency: the app's :class:`ConsoleContext`."""
    return request.app.state.console


Console = Annotated[ConsoleContext, Depends(console_context)]
