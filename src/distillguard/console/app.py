"""The analyst console: a FastAPI app with server-rendered Jinja2 pages over the store.

Pages: login, case queue, cluster, account, bulk-action preview, audit log, users (admin).
Actions go through :class:`distillguard.online.actions.ActionStore` (which writes the audit
log); prompt reveals and exports are appended to the same :class:`AuditLog`. plotly.js is
served from the installed ``plotly`` package, so the console needs no network and no build.

Roles: ``viewer`` reads cases but never prompt text; ``analyst`` also acts, reveals prompts
(audited, for 15 minutes) and exports; ``admin`` also manages users.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import DistillguardError, InvalidParameterError
from ..online.actions import ActionStore
from ..online.audit import AuditLog
from . import plots, queries
from .auditview import AuditView
from .auth import CASE_STATUSES, ROLES, SESSION_TTL_S, ConsoleDB, has_role, same_token
from .cases import VERDICT_FILTERS, QueueFilter, StoreReader
from .pdf import html_to_pdf
from .report import build_report_html, environment, plotly_js, redact_prompt
from .throttle import LoginThrottle

SESSION_COOKIE = "dg_session"
LOGIN_COOKIE = "dg_login"

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

_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
    "font-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


class LoginRequired(Exception):
    """Raised by a page that needs a session; answered with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def create_app(data_dir: Path | str, warm: bool = False) -> FastAPI:
    """The console app over ``data_dir`` (``store.duckdb``, ``audit.jsonl``,
    ``actions.sqlite``, ``console.sqlite``). ``warm`` builds the case index in a background
    thread at start-up, so the first analyst does not wait for it."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = StoreReader(data_dir)
    db = ConsoleDB(data_dir / "console.sqlite")
    audit = AuditLog(data_dir / "audit.jsonl")
    actions = ActionStore(data_dir / "actions.sqlite", audit=audit)
    audit_view = AuditView(audit.path)
    login_signer = URLSafeTimedSerializer(db.signer.secret_key, salt="distillguard-login-csrf")
    throttle = LoginThrottle(data_dir / "console.sqlite")
    env = environment()

    app = FastAPI(title="distillguard console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store, app.state.db, app.state.audit, app.state.actions = store, db, audit, actions
    app.state.throttle = throttle
    if warm:
        threading.Thread(target=_warm, args=(store,), daemon=True, name="dg-warm").start()

    # ---- plumbing -------------------------------------------------------------------------
    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.url.path != "/static/plotly.min.js":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login?next=" + quote(exc.next_url, safe=""), status_code=303)

    @app.exception_handler(StarletteHTTPException)  # also unknown routes (404) and 405s
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        sess = db.session(request.cookies.get(SESSION_COOKIE))
        return HTMLResponse(
            env.get_template("error.html").render(
                user=sess,
                csrf=sess["csrf"] if sess else "",
                status=exc.status_code,
                message=str(exc.detail),
            ),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DistillguardError)
    async def _dg_error(request: Request, exc: DistillguardError) -> Response:
        sess = db.session(request.cookies.get(SESSION_COOKIE))
        return HTMLResponse(
            env.get_template("error.html").render(
                user=sess, csrf=sess["csrf"] if sess else "", status=400, message=str(exc)
            ),
            status_code=400,
        )

    def require(request: Request, role: str = "viewer") -> dict:
        sess = db.session(request.cookies.get(SESSION_COOKIE))
        if sess is None:
            # The path as sent (ids stay percent-encoded: an id may hold '/', '?' or '#').
            raw = request.scope.get("raw_path") or request.url.path.encode()
            path = raw.decode("latin-1") + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(path if request.method == "GET" else "/queue")
        if not has_role(sess["role"], role):
            raise HTTPException(403, f"this needs the {role} role; you are {sess['role']}")
        return sess

    def check_csrf(sess: dict, token: str) -> None:
        if not same_token(token, sess["csrf"]):
            raise HTTPException(403, "invalid or missing CSRF token; reload the page and retry")

    def page(name: str, sess: dict | None, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(
            env.get_template(name).render(
                user=sess,
                csrf=sess["csrf"] if sess else "",
                can_act=bool(sess and has_role(sess["role"], "analyst")),
                **ctx,
            )
        )

    def can_see_text(sess: dict, kind: str, subject_id: str) -> bool:
        # Viewers never see prompt text; analysts only after an audited reveal.
        return has_role(sess["role"], "analyst") and db.can_reveal(
            sess["username"], kind, subject_id
        )

    @app.get("/static/plotly.min.js")
    def static_plotly() -> Response:
        return Response(
            plotly_js(),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/healthz")
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    # ---- login ----------------------------------------------------------------------------
    @app.get("/login")
    def login_form(request: Request, next: str = "/queue", error: str = "") -> Response:
        nonce = secrets.token_urlsafe(16)
        token = login_signer.dumps(nonce)
        resp = page("login.html", None, login_token=token, next=_safe_next(next), error=error)
        resp.set_cookie(
            LOGIN_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=3600,
            path="/login",
        )
        return resp

    @app.post("/login")
    def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        login_token: str = Form(""),
        next: str = Form("/queue"),
    ) -> Response:
        try:
            nonce = login_signer.loads(login_token, max_age=3600)
        except BadSignature:
            nonce = None
        if nonce is None or not same_token(nonce, request.cookies.get(LOGIN_COOKIE)):
            raise HTTPException(403, "invalid or missing CSRF token on the login form; reload it")
        keys = _throttle_keys(request, username)
        wait = throttle.retry_after(keys, time.time())
        if wait > 0:  # refused before the password is even checked
            raise HTTPException(
                429,
                f"too many failed logins; try again in {int(wait) + 1} s",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        user = db.authenticate(username, password)
        if user is None:
            for key in throttle.failure(keys, time.time()):
                kind, _, who = key.partition(":")
                audit.append(
                    "login_lockout",
                    kind,
                    who,
                    actor="console",
                    reason=f"{throttle.lock_after}+ failed logins; locked for "
                    f"{int(throttle.lockout_s)} s",
                    extra={"client": keys[0].partition(":")[2], "username": username[:64]},
                )
            return RedirectResponse(
                "/login?" + urlencode({"error": "wrong username or password", "next": next}),
                status_code=303,
            )
        throttle.success(keys)
        cookie, _ = db.new_session(user["username"])
        resp = RedirectResponse(_safe_next(next), status_code=303)
        resp.set_cookie(
            SESSION_COOKIE,
            cookie,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=SESSION_TTL_S,
            path="/",
        )
        resp.delete_cookie(LOGIN_COOKIE, path="/login")
        return resp

    @app.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")) -> Response:
        sess = require(request)
        check_csrf(sess, csrf_token)
        db.end_session(sess["sid"])
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # ---- queue ------------------------------------------------------------------------------
    @app.get("/")
    def root() -> Response:
        return RedirectResponse("/queue", status_code=303)

    @app.get("/queue")
    def queue(
        request: Request,
        verdict: str = "flagged",
        capability: str = "",
        route: str = "",
        status: str = "",
        kind: str = "",
        since: str = "",
        until: str = "",
        after: str = "",
    ) -> Response:
        sess = require(request)
        f = QueueFilter(verdict, capability, route, status, kind, since, until, after)
        q = store.queue(f, db.statuses())
        params = {k: v for k, v in f.__dict__.items() if v and k != "after"}
        next_url = "/queue?" + urlencode({**params, "after": q["next"]}) if q["next"] else None
        return page(
            "queue.html",
            sess,
            q=q,
            f=f,
            verdicts=VERDICT_FILTERS,
            statuses=CASE_STATUSES,
            next_url=next_url,
            first_url="/queue?" + urlencode(params) if f.after else None,
        )

    # ---- cluster ------------------------------------------------------------------------------
    @app.get("/cluster/{cluster_id:path}")
    def cluster_page(request: Request, cluster_id: str, msg: str = "") -> Response:
        sess = require(request)
        reveal = can_see_text(sess, "cluster", cluster_id)
        cur = store.cursor()
        try:
            sch = queries.Schema(cur)
            row = queries.cluster_row(cur, sch, cluster_id)
            if row is None:
                raise HTTPException(404, f"no cluster {cluster_id!r} in the store")
            msql, margs = queries.members_sql(sch), [cluster_id]
            graph = queries.cluster_graph(cur, sch, cluster_id, max_accounts=150, max_keys=120)
            member_rows = queries.members(cur, sch, cluster_id, limit=200)
            ctx = {
                "c": row,
                "graph": plots.fig_html(
                    plots.cluster_graph_figure(graph, title="member accounts and shared keys"),
                    div_id="cluster-graph",
                ),
                "indicators": queries.shared_indicators(cur, sch, cluster_id, limit=40),
                "network": queries.network_summary(cur, sch, msql, margs),
                "volume": plots.fig_html(
                    plots.volume_figure(queries.hourly_volume(cur, sch, msql, margs)),
                    div_id="cluster-volume",
                ),
                "capability": plots.fig_html(
                    plots.capability_figure(queries.capability_mix(cur, sch, [cluster_id])),
                    div_id="cluster-capability",
                ),
                "examples": queries.example_prompts(
                    cur, sch, msql, margs, limit=8, with_text=reveal
                ),
                "evidence": queries.evidence_for(cur, sch, "cluster", cluster_id),
                "members": member_rows,
            }
        finally:
            cur.close()
        ctx["examples"] = [redact_prompt(e, not reveal) for e in ctx["examples"]]
        member_ids = {m["account_id"] for m in ctx["members"]}
        batches = _active_batches(actions.active(), cluster_id, member_ids)
        return page(
            "cluster.html",
            sess,
            **ctx,
            revealed=reveal,
            status=db.status("cluster", cluster_id),
            statuses=CASE_STATUSES,
            actions_menu=CONSOLE_ACTIONS,
            batches=batches,
            history=audit_view.entries(cluster_id, limit=30),
            msg=msg,
        )

    # ---- account ------------------------------------------------------------------------------
    @app.get("/account/{account_id:path}")
    def account_page(request: Request, account_id: str, msg: str = "") -> Response:
        sess = require(request)
        reveal = can_see_text(sess, "account", account_id)
        cur = store.cursor()
        try:
            sch = queries.Schema(cur)
            row = queries.account_row(cur, sch, account_id)
            if row is None:
                raise HTTPException(404, f"no account {account_id!r} in the store")
            pct = queries.fingerprint_percentiles(cur, sch, account_id)
            ctx = {
                "a": row,
                "volume": plots.fig_html(
                    plots.volume_figure(
                        queries.hourly_volume(cur, sch, "SELECT ?", [account_id]),
                        title="Request timeline (per hour, by model)",
                    ),
                    div_id="account-volume",
                ),
                "fingerprint": plots.fig_html(plots.fingerprint_figure(pct), div_id="account-fp")
                if pct
                else None,
                "percentiles": pct,
                "capabilities": queries.account_capability_mix(cur, sch, account_id),
                "evidence": queries.evidence_for(cur, sch, "account", account_id),
                "linked": queries.linked_accounts(cur, sch, account_id),
                "examples": queries.account_requests(
                    cur, sch, account_id, limit=10, with_text=reveal
                ),
            }
        finally:
            cur.close()
        ctx["examples"] = [redact_prompt(e, not reveal) for e in ctx["examples"]]
        return page(
            "account.html",
            sess,
            **ctx,
            revealed=reveal,
            status=db.status("account", account_id),
            statuses=CASE_STATUSES,
            actions_menu=CONSOLE_ACTIONS,
            active=actions.active(account_id),
            history=actions.history(account_id),
            audit_entries=audit_view.entries(account_id, limit=30),
            allowed=actions.is_allowed(account_id),
            msg=msg,
        )

    # ---- reveal, status ----------------------------------------------------------------------
    @app.post("/reveal")
    def reveal(
        request: Request,
        subject_kind: str = Form(...),
        subject_id: str = Form(...),
        reason: str = Form(""),
        csrf_token: str = Form(""),
    ) -> Response:
        sess = require(request, "analyst")
        check_csrf(sess, csrf_token)
        _check_subject(subject_kind)
        if not reason.strip():
            raise HTTPException(400, "revealing prompts needs a reason")
        audit.append(
            "reveal_prompts",
            subject_kind,
            subject_id,
            sess["username"],
            reason.strip(),
            extra={"via": "console", "ttl_s": 900},
        )
        db.grant_reveal(sess["username"], subject_kind, subject_id)
        if db.status(subject_kind, subject_id) == "new":
            db.set_status(subject_kind, subject_id, "in review", sess["username"])
        return _back(subject_kind, subject_id, "prompts revealed for 15 minutes (audited)")

    @app.post("/status")
    def set_status(
        request: Request,
        subject_kind: str = Form(...),
        subject_id: str = Form(...),
        status: str = Form(...),
        csrf_token: str = Form(""),
    ) -> Response:
        sess = require(request, "analyst")
        check_csrf(sess, csrf_token)
        _check_subject(subject_kind)
        db.set_status(subject_kind, subject_id, status, sess["username"])
        return _back(subject_kind, subject_id, f"status set to {status}")

    # ---- actions ----------------------------------------------------------------------------
    def targets(subject_kind: str, subject_id: str) -> list[str]:
        """The accounts an action on this subject affects (404 for an unknown subject)."""
        cur = store.cursor()
        try:
            sch = queries.Schema(cur)
            if subject_kind == "account":
                if queries.account_row(cur, sch, subject_id) is None:
                    raise HTTPException(404, f"no account {subject_id!r} in the store")
                return [subject_id]
            if queries.cluster_row(cur, sch, subject_id) is None:
                raise HTTPException(404, f"no cluster {subject_id!r} in the store")
            return [m["account_id"] for m in queries.members(cur, sch, subject_id, limit=MAX_BULK)]
        finally:
            cur.close()

    @app.get("/act")
    def act_preview(
        request: Request,
        subject_kind: str,
        subject_id: str,
        action: str,
        reason: str = "",
        hours: str = "",
        rpm: str = "",
    ) -> Response:
        sess = require(request, "analyst")
        _check_subject(subject_kind)
        if action not in CONSOLE_ACTIONS:
            raise HTTPException(400, f"unknown action {action!r}")
        accts = targets(subject_kind, subject_id)
        active = {}
        for a in actions.active():
            if a["subject_id"] in set(accts):
                active.setdefault(a["subject_id"], []).append(a["action"])
        return page(
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

    @app.post("/act")
    def act(
        request: Request,
        subject_kind: str = Form(...),
        subject_id: str = Form(...),
        action: str = Form(...),
        reason: str = Form(""),
        hours: str = Form(""),
        rpm: str = Form(""),
        confirm: str = Form(""),
        csrf_token: str = Form(""),
    ) -> Response:
        sess = require(request, "analyst")
        check_csrf(sess, csrf_token)
        _check_subject(subject_kind)
        if action not in CONSOLE_ACTIONS:
            raise HTTPException(400, f"unknown action {action!r}")
        if not reason.strip():
            raise HTTPException(400, "every action needs a reason")
        if subject_kind == "cluster" and confirm != "yes":
            # Bulk actions always go through the preview first.
            return RedirectResponse(
                "/act?"
                + urlencode(
                    {
                        "subject_kind": subject_kind,
                        "subject_id": subject_id,
                        "action": action,
                        "reason": reason,
                        "hours": hours,
                        "rpm": rpm,
                    }
                ),
                status_code=303,
            )
        expires_at = None
        if hours.strip():
            try:
                h = float(hours)
            except ValueError as exc:
                raise InvalidParameterError(f"hours must be a number; got {hours!r}") from exc
            if h <= 0:
                raise InvalidParameterError(f"hours must be positive; got {hours!r}")
            expires_at = time.time() + h * 3600
        rate = None
        if action == "rate_limit":
            try:
                rate = float(rpm) if rpm.strip() else DEFAULT_RPM
            except ValueError as exc:
                raise InvalidParameterError(
                    f"rate must be requests per minute; got {rpm!r}"
                ) from exc
            if rate <= 0:
                raise InvalidParameterError(f"rate must be positive; got {rpm!r}")
        n = apply_action(
            subject_kind, subject_id, action, sess["username"], reason.strip(), expires_at, rate
        )
        return _back(
            subject_kind,
            subject_id,
            f"{CONSOLE_ACTIONS[action]['label']}: applied to {n} account(s)",
        )

    def apply_action(
        subject_kind: str,
        subject_id: str,
        action: str,
        actor: str,
        reason: str,
        expires_at: float | None,
        rpm: float | None = None,
    ) -> int:
        accts = targets(subject_kind, subject_id)
        batch = secrets.token_hex(6)
        params: dict[str, Any] = {"console_action": action, "batch": batch, "via": "console"}
        if rpm is not None:
            # The online scorer's token bucket reads rate_per_s and burst.
            params.update(rate_per_s=rpm / 60.0, burst=RATE_BURST)
        if subject_kind == "cluster":
            params["cluster_id"] = subject_id
        store_action = CONSOLE_ACTIONS[action]["store"]
        for acc in accts:
            actions.apply(
                "account",
                acc,
                store_action,
                actor,
                reason,
                expires_at=None if action == "dismiss" else expires_at,
                params=params,
            )
            if action == "dismiss":
                actions.label(acc, "false_positive", actor)
        if subject_kind == "cluster":
            audit.append(
                f"bulk_{action}",
                "cluster",
                subject_id,
                actor,
                reason,
                extra={"batch": batch, "n_accounts": len(accts), "via": "console"},
            )
        db.set_status(
            subject_kind, subject_id, "dismissed" if action == "dismiss" else "actioned", actor
        )
        return len(accts)

    @app.post("/appeal")
    def appeal(
        request: Request,
        subject_kind: str = Form(...),
        subject_id: str = Form(...),
        reason: str = Form(""),
        action_id: str = Form(""),
        batch: str = Form(""),
        csrf_token: str = Form(""),
    ) -> Response:
        """Reverse one action, or every active action of a bulk batch (an upheld appeal)."""
        sess = require(request, "analyst")
        check_csrf(sess, csrf_token)
        _check_subject(subject_kind)
        if not reason.strip():
            raise HTTPException(400, "reversing an action needs a reason")
        if action_id:
            ids = [int(action_id)] if action_id.isdigit() else []
        else:
            ids = [a["id"] for a in actions.active() if a["params"].get("batch") == batch and batch]
        if not ids:
            raise HTTPException(400, "nothing to reverse (already reversed or expired?)")
        for aid in ids:
            actions.reverse(aid, sess["username"], reason.strip())
        if subject_kind == "cluster":
            audit.append(
                "appeal",
                "cluster",
                subject_id,
                sess["username"],
                reason.strip(),
                extra={"batch": batch, "n_reversed": len(ids), "via": "console"},
            )
        db.set_status(subject_kind, subject_id, "in review", sess["username"])
        return _back(subject_kind, subject_id, f"appeal upheld: {len(ids)} action(s) reversed")

    # ---- export -------------------------------------------------------------------------------
    @app.get("/export/{subject_kind}/{subject_id:path}")
    def export(
        request: Request, subject_kind: str, subject_id: str, format: str = "html"
    ) -> Response:
        sess = require(request, "analyst")
        _check_subject(subject_kind)
        if format not in ("html", "pdf"):
            raise HTTPException(400, f"format must be html or pdf; got {format!r}")
        redact = not can_see_text(sess, subject_kind, subject_id)
        cur = store.cursor()
        try:
            sch = queries.Schema(cur)
            exists = (
                queries.cluster_row(cur, sch, subject_id)
                if subject_kind == "cluster"
                else queries.account_row(cur, sch, subject_id)
            )
            if exists is None:
                raise HTTPException(404, f"no {subject_kind} {subject_id!r} in the store")
            html = build_report_html(
                cur,
                {
                    "case": f"{subject_kind} {subject_id}",
                    "exported_by": sess["username"],
                    "prompts": "redacted" if redact else "included (revealed, audited)",
                },
                redact=redact,
                cluster_ids=[subject_id] if subject_kind == "cluster" else [],
                account_ids=[subject_id] if subject_kind == "account" else None,
                title=f"distillguard case report: {subject_kind} {subject_id}",
            )
        finally:
            cur.close()
        fname = f"case-{subject_kind}-{_safe_name(subject_id)}.{format}"
        disposition = {"Content-Disposition": f'attachment; filename="{fname}"'}
        if format == "pdf":
            body = html_to_pdf(html)
        audit.append(
            "export_case",
            subject_kind,
            subject_id,
            sess["username"],
            "case report exported",
            extra={"redacted": redact, "format": format},
        )
        if format == "pdf":
            return Response(body, media_type="application/pdf", headers=disposition)
        return HTMLResponse(html, headers=disposition)

    # ---- audit log ----------------------------------------------------------------------------
    @app.get("/audit")
    def audit_page(request: Request, subject: str = "") -> Response:
        sess = require(request)
        entries = audit_view.entries(subject or None, limit=300)
        return page("audit.html", sess, entries=entries, verify=audit.verify(), subject=subject)

    # ---- users (admin) ------------------------------------------------------------------------
    @app.get("/admin/users")
    def users_page(request: Request, msg: str = "") -> Response:
        sess = require(request, "admin")
        return page("users.html", sess, users=db.users(), roles=ROLES, msg=msg)

    @app.post("/admin/users")
    def add_user(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        role: str = Form("viewer"),
        csrf_token: str = Form(""),
    ) -> Response:
        sess = require(request, "admin")
        check_csrf(sess, csrf_token)
        db.add_user(username, password, role, created_by=sess["username"])
        audit.append(
            "add_user",
            "user",
            username,
            sess["username"],
            f"created with role {role}",
            extra={"role": role, "via": "console"},
        )
        return RedirectResponse(
            "/admin/users?" + urlencode({"msg": f"user {username} added"}), status_code=303
        )

    return app


def _warm(store: StoreReader) -> None:
    """Open the store once (building the case index); a missing or busy store is reported
    by the first page instead."""
    try:
        store.cursor().close()
    except DistillguardError:
        pass


def _active_batches(active: list[dict], cluster_id: str, member_ids: set[str]) -> list[dict]:
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


def _throttle_keys(request: Request, username: str) -> list[str]:
    """Failure counters for a login attempt: the client's address and the username.

    The address is the TCP peer: a forwarded-for header is the client's to choose.
    """
    client = request.client.host if request.client else "unknown"
    return [f"client:{client}", f"user:{(username or '').strip().lower()[:64]}"]


def _check_subject(kind: str) -> None:
    if kind not in ("cluster", "account"):
        raise HTTPException(400, f"subject_kind must be cluster or account; got {kind!r}")


def _back(kind: str, subject_id: str, msg: str) -> RedirectResponse:
    return RedirectResponse(
        f"/{kind}/{quote(subject_id, safe='')}?" + urlencode({"msg": msg}), status_code=303
    )


def _safe_next(url: str) -> str:
    """Only same-site paths: an open redirect after login would be a phishing aid."""
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/queue"
    return url


def _safe_name(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in s)[:80]
