"""The analyst console: a FastAPI app with server-rendered Jinja2 pages over the store.

Pages: login, case queue, cluster, account, bulk-action preview, audit log, users (admin).
Actions go through :class:`distillguard.online.actions.ActionStore` (which writes the audit
log); prompt reveals and exports are appended to the same :class:`AuditLog`. plotly.js is
served from the installed ``plotly`` package, so the console needs no network and no build.

Roles: ``viewer`` reads cases but never prompt text; ``analyst`` also acts, reveals prompts
(audited, for 15 minutes) and exports; ``admin`` also manages users.

This module only wires the app: the routes live in ``console/routes/`` (one router per
concern), the session and CSRF checks in ``console/session.py``, and the shared stores in
``console/context.py``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import DistillguardError
from .cases import StoreReader
from .context import ConsoleContext
from .routes import ROUTERS
from .routes.health import PLOTLY_PATH
from .session import LoginRequired

_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
    "font-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def create_app(data_dir: Path | str, warm: bool = False) -> FastAPI:
    """The console app over ``data_dir`` (``store.duckdb``, ``audit.jsonl``,
    ``actions.sqlite``, ``console.sqlite``). ``warm`` builds the case index in a background
    thread at start-up, so the first analyst does not wait for it."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    console = ConsoleContext.open(data_dir)

    app = FastAPI(title="distillguard console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    # Also one by one: tests and operators reach the stores as app.state.store etc.
    app.state.store, app.state.db = console.store, console.db
    app.state.audit, app.state.actions = console.audit, console.actions
    app.state.throttle = console.throttle

    app.middleware("http")(security_headers)
    app.add_exception_handler(LoginRequired, redirect_to_login)
    app.add_exception_handler(StarletteHTTPException, http_error_page)  # also 404s and 405s
    app.add_exception_handler(DistillguardError, input_error_page)
    for router in ROUTERS:
        app.include_router(router)

    if warm:
        threading.Thread(target=_warm, args=(console.store,), daemon=True, name="dg-warm").start()
    return app


async def security_headers(request: Request, call_next: Any) -> Response:
    """Middleware: CSP and friends on every response; nothing cached but plotly.js."""
    response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.url.path != PLOTLY_PATH:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def redirect_to_login(request: Request, exc: LoginRequired) -> Response:
    return RedirectResponse("/login?next=" + quote(exc.next_url, safe=""), status_code=303)


async def http_error_page(request: Request, exc: StarletteHTTPException) -> Response:
    console: ConsoleContext = request.app.state.console
    headers = getattr(exc, "headers", None)
    return console.error_page(request, exc.status_code, str(exc.detail), headers)


async def input_error_page(request: Request, exc: DistillguardError) -> Response:
    """Bad input the stores refused (a bad filter, a weak password, no store yet): a 400."""
    console: ConsoleContext = request.app.state.console
    return console.error_page(request, 400, str(exc))


def _warm(store: StoreReader) -> None:
    """Open the store once (building the case index); a missing or busy store is reported
    by the first page instead."""
    try:
        store.cursor().close()
    except DistillguardError:
        pass
