"""Who may do what: the session and CSRF checks, as FastAPI dependencies.

Pages declare the role they need with :data:`Viewer`, :data:`Analyst` or :data:`Admin`.
Every state-changing form declares :data:`ViewerForm`, :data:`AnalystForm` or
:data:`AdminForm` instead, which adds the CSRF check; no handler checks either by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request

from .auth import has_role, same_token
from .context import Console

CSRF_ERROR = "invalid or missing CSRF token; reload the page and retry"


class LoginRequired(Exception):
    """Raised by a page that needs a session; answered with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def _requested_path(request: Request) -> str:
    """Where to come back after login: the path as sent (ids stay percent-encoded: an id
    may hold '/', '?' or '#'), and only for a GET (a form post cannot be replayed)."""
    if request.method != "GET":
        return "/queue"
    raw = request.scope.get("raw_path") or request.url.path.encode()
    return raw.decode("latin-1") + (f"?{request.url.query}" if request.url.query else "")


@cache  # one dependency per role, so FastAPI runs it once per request however often it is used
def signed_in(role: str) -> Callable[..., dict]:
    """Dependency factory: the session of a user with at least ``role``.

    No session: :class:`LoginRequired` (a redirect to /login). Too low a role: 403.
    """

    def session_with_role(request: Request, console: Console) -> dict:
        sess = console.session_of(request)
        if sess is None:
            raise LoginRequired(_requested_path(request))
        if not has_role(sess["role"], role):
            raise HTTPException(403, f"this needs the {role} role; you are {sess['role']}")
        return sess

    return session_with_role


@cache
def csrf_protected(role: str) -> Callable[..., dict]:
    """Dependency factory for a state-changing form: :func:`signed_in` plus the session's
    CSRF token, which the form must send back as ``csrf_token`` (else 403)."""
    session_with_role = signed_in(role)

    # A default, not Annotated: the postponed annotation could not see this local name.
    def form_session(sess: dict = Depends(session_with_role), csrf_token: str = Form("")) -> dict:
        if not same_token(csrf_token, sess["csrf"]):
            raise HTTPException(403, CSRF_ERROR)
        return sess

    return form_session


Viewer = Annotated[dict, Depends(signed_in("viewer"))]
Analyst = Annotated[dict, Depends(signed_in("analyst"))]
Admin = Annotated[dict, Depends(signed_in("admin"))]
ViewerForm = Annotated[dict, Depends(csrf_protected("viewer"))]
AnalystForm = Annotated[dict, Depends(csrf_protected("analyst"))]
AdminForm = Annotated[dict, Depends(csrf_protected("admin"))]
