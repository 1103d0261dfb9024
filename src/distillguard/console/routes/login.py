"""Logging in (throttled per client and per user) and out.

The login form has no session yet, so its CSRF token is a signed nonce that must match the
``dg_login`` cookie set with the form (:func:`login_form_csrf`).
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature

from ..auth import SESSION_TTL_S, same_token
from ..context import SESSION_COOKIE, Console, ConsoleContext
from ..session import ViewerForm

LOGIN_COOKIE = "dg_login"
LOGIN_TOKEN_TTL_S = 3600

router = APIRouter()


@router.get("/login")
def login_form(
    request: Request, console: Console, next: str = "/queue", error: str = ""
) -> Response:
    nonce = secrets.token_urlsafe(16)
    token = console.login_signer.dumps(nonce)
    resp = console.page("login.html", None, login_token=token, next=safe_next(next), error=error)
    _set_strict_cookie(resp, request, LOGIN_COOKIE, nonce, LOGIN_TOKEN_TTL_S, path="/login")
    return resp


def login_form_csrf(request: Request, console: Console, login_token: str = Form("")) -> None:
    """Dependency: 403 unless ``login_token`` signs the nonce in this browser's login cookie."""
    try:
        nonce = console.login_signer.loads(login_token, max_age=LOGIN_TOKEN_TTL_S)
    except BadSignature:
        nonce = None
    if nonce is None or not same_token(nonce, request.cookies.get(LOGIN_COOKIE)):
        raise HTTPException(403, "invalid or missing CSRF token on the login form; reload it")


@router.post("/login", dependencies=[Depends(login_form_csrf)])
def login(
    request: Request,
    console: Console,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/queue"),
) -> Response:
    keys = throttle_keys(request, username)
    wait = console.throttle.retry_after(keys, time.time())
    if wait > 0:  # refused before the password is even checked
        raise HTTPException(
            429,
            f"too many failed logins; try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    user = console.db.authenticate(username, password)
    if user is None:
        _count_failure(console, keys, username)
        return RedirectResponse(
            "/login?" + urlencode({"error": "wrong username or password", "next": next}),
            status_code=303,
        )
    console.throttle.success(keys)
    return _start_session(request, console, user["username"], next)


def _count_failure(console: ConsoleContext, keys: list[str], username: str) -> None:
    """Count a failed login; audit every key that this failure locked out."""
    throttle = console.throttle
    for key in throttle.failure(keys, time.time()):
        kind, _, who = key.partition(":")
        console.audit.append(
            "login_lockout",
            kind,
            who,
            actor="console",
            reason=f"{throttle.lock_after}+ failed logins; locked for "
            f"{int(throttle.lockout_s)} s",
            extra={"client": keys[0].partition(":")[2], "username": username[:64]},
        )


def _start_session(
    request: Request, console: ConsoleContext, username: str, next: str
) -> RedirectResponse:
    """A new session for ``username``: its cookie, and a redirect to where they were going."""
    cookie, _ = console.db.new_session(username)
    resp = RedirectResponse(safe_next(next), status_code=303)
    _set_strict_cookie(resp, request, SESSION_COOKIE, cookie, SESSION_TTL_S, path="/")
    resp.delete_cookie(LOGIN_COOKIE, path="/login")
    return resp


def _set_strict_cookie(
    resp: Response, request: Request, name: str, value: str, max_age: int, path: str
) -> None:
    """An HttpOnly, SameSite=Strict cookie (Secure when served over https)."""
    resp.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=max_age,
        path=path,
    )


@router.post("/logout")
def logout(sess: ViewerForm, console: Console) -> Response:
    console.db.end_session(sess["sid"])
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


def throttle_keys(request: Request, username: str) -> list[str]:
    """Failure counters for a login attempt: the client's address and the username.

    The address is the TCP peer: a forwarded-for header is the client's to choose.
    """
    client = request.client.host if request.client else "unknown"
    return [f"client:{client}", f"user:{(username or '').strip().lower()[:64]}"]


def safe_next(url: str) -> str:
    """Only same-site paths: an open redirect after login would be a phishing aid."""
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/queue"
    return url
