"""Every state-changing route is guarded by the session and CSRF dependencies.

The POST routes are read from the app itself, so a new form that forgets
``Depends(csrf_protected(...))`` (``session.AnalystForm`` etc.) fails here. The posts carry no
other fields on purpose: the dependency answers before the form is validated, so a guarded
route says 403 (or sends a stranger to /login) and an unguarded one says 422 or acts.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from distillguard.online.audit import AuditLog

SESSIONLESS_FORMS = {"/login"}  # its CSRF token is the login cookie's signed nonce


def post_paths(app) -> list[str]:
    """Every POST route's path, path parameters filled with "x"."""
    try:  # FastAPI 0.16x keeps included routers whole in app.routes
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(app.routes))
    except ImportError:
        routes = list(app.routes)
    paths = {r.path for r in routes if "POST" in (getattr(r, "methods", None) or ())}
    return sorted(re.sub(r"\{[^}]*\}", "x", p) for p in paths)


def test_the_forms_are_found(app) -> None:
    assert set(post_paths(app)) >= {
        "/login", "/logout", "/reveal", "/status", "/act", "/appeal", "/admin/users"
    }


def test_every_form_rejects_a_missing_or_wrong_csrf_token(client_as, app, data_dir) -> None:
    c, csrf = client_as("admin")  # the top role: only the token can be wrong
    for token in (None, "", "forged-token", csrf[:-1], "é" * 10):
        data = {} if token is None else {"csrf_token": token, "login_token": token}
        for path in post_paths(app):
            r = c.post(path, data=data, follow_redirects=False)
            assert r.status_code == 403 and "CSRF" in r.text, (path, token, r.status_code)
    assert c.get("/queue", follow_redirects=False).status_code == 200  # logout was refused
    assert app.state.actions.active() == []
    audit = data_dir / "audit.jsonl"
    assert not audit.exists() or AuditLog(audit).entries() == []


def test_every_form_needs_a_session(app) -> None:
    c = TestClient(app)
    for path in set(post_paths(app)) - SESSIONLESS_FORMS:
        r = c.post(path, data={"csrf_token": "x"}, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"] == "/login?next=%2Fqueue", path
