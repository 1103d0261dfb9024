"""Security of the console: login required, roles, CSRF, audited reveals, no prompt text
for viewers, cookie flags, password hashing."""

from __future__ import annotations

import re
import sqlite3

from fastapi.testclient import TestClient
from markupsafe import escape

from distillguard.online.actions import ActionStore
from distillguard.online.audit import AuditLog

from .conftest import PASSWORDS, csrf_of

PROTECTED_GET = ["/queue", "/cluster/c000", "/account/acct_000000", "/audit",
                 "/export/cluster/c000", "/admin/users",
                 "/act?subject_kind=cluster&subject_id=c000&action=suspend"]


def _snippets(texts: list[str]) -> list[str]:
    return [str(escape(t[:50])) for t in texts if len(t) >= 50]


def test_pages_need_login(app):
    c = TestClient(app)
    for path in PROTECTED_GET:
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path


def test_post_without_login_changes_nothing(app, data_dir):
    c = TestClient(app)
    r = c.post("/act", data={"subject_kind": "account", "subject_id": "acct_000000",
                             "action": "suspend", "reason": "x", "csrf_token": "x"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert app.state.actions.active() == []


def test_bad_password_and_forged_login_token(app):
    c = TestClient(app)
    r = c.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"username": "admin", "password": "wrong-password",
                               "login_token": token}, follow_redirects=False)
    assert r.status_code == 303 and "error=" in r.headers["location"]
    assert "dg_session" not in r.cookies
    r = c.post("/login", data={"username": "admin", "password": PASSWORDS["admin"],
                               "login_token": token + "x"}, follow_redirects=False)
    assert r.status_code == 403 and "dg_session" not in r.cookies


def test_session_cookie_flags_and_argon2(app, data_dir):
    c = TestClient(app)
    r = c.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"username": "viewer", "password": PASSWORDS["viewer"],
                               "login_token": token}, follow_redirects=False)
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("dg_session=")][0]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    hashes = sqlite3.connect(data_dir / "console.sqlite").execute(
        "SELECT pw_hash FROM users").fetchall()
    assert all(h[0].startswith("$argon2id$") for h in hashes)
    assert not any(pw in h[0] for h in hashes for pw in PASSWORDS.values())


def test_tampered_cookie_and_logout(app, client_as):
    c, csrf = client_as("analyst")
    cookie = c.cookies.get("dg_session")
    other = TestClient(app)
    other.cookies.set("dg_session", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
    assert other.get("/queue", follow_redirects=False).status_code == 303
    other.cookies.set("dg_session", cookie)
    assert other.get("/queue", follow_redirects=False).status_code == 200
    c.post("/logout", data={"csrf_token": csrf})
    # The stolen copy of the cookie dies with the session.
    assert other.get("/queue", follow_redirects=False).status_code == 303


def test_analyst_cannot_do_admin_things(client_as, data_dir):
    c, csrf = client_as("analyst")
    assert c.get("/admin/users").status_code == 403
    r = c.post("/admin/users", data={"username": "mallory", "password": "long-enough-1",
                                     "role": "admin", "csrf_token": csrf})
    assert r.status_code == 403
    users = [u[0] for u in sqlite3.connect(data_dir / "console.sqlite").execute(
        "SELECT username FROM users")]
    assert "mallory" not in users


def test_admin_adds_user_audited(client_as, data_dir):
    c, csrf = client_as("admin")
    r = c.post("/admin/users", data={"username": "carol", "password": "carol-pass-1",
                                     "role": "analyst", "csrf_token": csrf})
    assert r.status_code == 200 and "carol" in r.text
    e = AuditLog(data_dir / "audit.jsonl").entries(subject_id="carol")
    assert e and e[-1]["action"] == "add_user" and e[-1]["actor"] == "admin"


def test_forged_csrf_is_rejected(client_as, app):
    c, csrf = client_as("analyst")
    for token in ("", "forged-token", csrf[:-1]):
        r = c.post("/act", data={"subject_kind": "account", "subject_id": "acct_000000",
                                 "action": "suspend", "reason": "x", "csrf_token": token})
        assert r.status_code == 403
        assert "CSRF" in r.text
    assert app.state.actions.active() == []
    # Another user's valid token does not work either.
    _, other = client_as("admin")
    r = c.post("/reveal", data={"subject_kind": "cluster", "subject_id": "c000",
                                "reason": "x", "csrf_token": other})
    assert r.status_code == 403


def test_reveal_is_audited_and_shows_text(client_as, data_dir, prompt_texts):
    c, csrf = client_as("analyst")
    attack = _snippets(prompt_texts[1]) or None
    before = c.get("/cluster/c000").text
    assert "[redacted" in before
    if attack:
        assert not any(s in before for s in attack)
    r = c.post("/reveal", data={"subject_kind": "cluster", "subject_id": "c000",
                                "reason": "checking the template before suspending",
                                "csrf_token": csrf})
    assert r.status_code == 200 and "revealed" in r.text
    assert "[redacted" not in r.text
    if attack:
        assert any(s in r.text for s in attack)
    entries = AuditLog(data_dir / "audit.jsonl").entries(subject_id="c000")
    assert [e["action"] for e in entries] == ["reveal_prompts"]
    assert entries[0]["actor"] == "analyst"
    assert entries[0]["reason"] == "checking the template before suspending"
    # A reveal needs a reason.
    r = c.post("/reveal", data={"subject_kind": "cluster", "subject_id": "c001",
                                "reason": " ", "csrf_token": csrf})
    assert r.status_code == 400


def test_viewer_sees_no_prompt_text(client_as, data_dir, prompt_texts):
    c, csrf = client_as("viewer")
    snippets = _snippets(prompt_texts[0] + prompt_texts[1])
    for path in ("/cluster/c000", "/account/acct_000000", "/account/acct_000100"):
        page = c.get(path)
        assert page.status_code == 200
        assert "<pre class=\"prompt\">" not in page.text
        assert not any(s in page.text for s in snippets)
        assert 'action="/act"' not in page.text  # no action forms for viewers
    r = c.post("/reveal", data={"subject_kind": "cluster", "subject_id": "c000",
                                "reason": "curious", "csrf_token": csrf})
    assert r.status_code == 403
    assert c.get("/export/cluster/c000").status_code == 403
    r = c.post("/act", data={"subject_kind": "account", "subject_id": "acct_000000",
                             "action": "suspend", "reason": "x", "csrf_token": csrf})
    assert r.status_code == 403
    assert not (data_dir / "audit.jsonl").exists() or not AuditLog(
        data_dir / "audit.jsonl").entries(subject_id="c000")
    assert ActionStore(data_dir / "actions.sqlite").active() == []


def test_no_open_redirect_after_login(app):
    c = TestClient(app)
    r = c.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"username": "viewer", "password": PASSWORDS["viewer"],
                               "login_token": token, "next": "//evil.example/x"},
               follow_redirects=False)
    assert r.headers["location"] == "/queue"


def test_security_headers(client_as):
    c, _ = client_as("viewer")
    r = c.get("/queue")
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert csrf_of(r.text)


def test_audit_view_reads_incrementally(tmp_path):
    from distillguard.console.auditview import AuditView

    log = AuditLog(tmp_path / "audit.jsonl")
    view = AuditView(log.path, per_subject=3)
    assert view.entries() == []
    for i in range(5):
        log.append("block", "account", "a1", "t", f"r{i}")
    log.append("allow", "account", "a2", "t", "ok")
    assert [e["reason"] for e in view.entries("a1")] == ["r4", "r3", "r2"]
    log.append("reverse", "account", "a1", "t", "appeal")
    assert view.entries("a1", limit=1)[0]["action"] == "reverse"
    assert [e["subject_id"] for e in view.entries(limit=2)] == ["a1", "a2"]
    # A partly written last line waits for its newline.
    with open(log.path, "ab") as fh:
        fh.write(b'{"seq": 99, "subject_id": "a3"')
    assert view.entries("a3") == []
