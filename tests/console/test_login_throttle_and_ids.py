"""Console hardening (issue 13, item 4): login throttling per client and per user with backoff,
lockout and an audit entry; ids holding '/', '?' or '#' are URL-encoded in links and routes."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest
from fastapi.testclient import TestClient

from distillguard.console.throttle import LoginThrottle
from distillguard.online.audit import AuditLog

from .conftest import PASSWORDS, csrf_of, login

ODD_ID = "team/a?b#1 c"


def attempt(c: TestClient, username: str, password: str) -> int:
    r = c.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', r.text).group(1)
    r = c.post(
        "/login",
        data={"username": username, "password": password, "login_token": token},
        follow_redirects=False,
    )
    return r.status_code


def test_throttle_backs_off_then_locks_out() -> None:
    t = LoginThrottle(":memory:", free=2, max_backoff_s=8, lock_after=5, lockout_s=600)
    keys = ["client:1.2.3.4", "user:admin"]
    waits = []
    for i in range(5):
        locked = t.failure(keys, now=float(i))
        waits.append(t.retry_after(keys, now=float(i)))
    assert waits == [0.0, 0.0, 2.0, 4.0, 600.0] and locked == keys
    assert t.retry_after(["client:5.6.7.8"], now=5.0) == 0.0  # other clients are not affected
    t.success(keys)
    assert t.retry_after(keys, now=5.0) == 0.0


def test_forty_wrong_passwords_from_one_client_are_stopped(app, data_dir: Path) -> None:
    c = TestClient(app)
    codes = [attempt(c, "admin", f"guess-{i}") for i in range(40)]
    assert codes[:3] == [303, 303, 303]  # the first failures only say "wrong password"
    assert codes.count(429) >= 36  # then the client waits: most guesses are never checked
    # even the right password is refused while the client backs off
    assert attempt(c, "admin", PASSWORDS["admin"]) == 429


def test_lockout_is_per_user_across_clients_and_audited(app, data_dir: Path) -> None:
    throttle = app.state.throttle
    throttle.free, throttle.lock_after = 2, 3
    for i in range(3):  # three clients (TestClient's address, cleared each time) try one user
        throttle.success(["client:testclient"])
        assert attempt(TestClient(app), "analyst", f"guess-{i}") == 303
    throttle.success(["client:testclient"])
    assert attempt(TestClient(app), "analyst", PASSWORDS["analyst"]) == 429
    entries = [
        e for e in AuditLog(data_dir / "audit.jsonl").entries() if e["action"] == "login_lockout"
    ]
    assert {(e["subject_kind"], e["subject_id"]) for e in entries} >= {("user", "analyst")}
    # another user is unaffected once the client's own counter is cleared
    throttle.success(["client:testclient"])
    login(TestClient(app), "viewer")


def _rename_account(data_dir: Path, new_id: str) -> str:
    con = duckdb.connect(str(data_dir / "store.duckdb"))
    old, cluster = con.execute(
        "SELECT account_id, cluster_id FROM cluster_members ORDER BY account_id LIMIT 1"
    ).fetchone()
    tables = [
        t
        for (t,) in con.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'account_id'"
        ).fetchall()
    ]
    for t in tables:
        con.execute(f'UPDATE "{t}" SET account_id = ? WHERE account_id = ?', [new_id, old])
    con.close()
    return cluster


@pytest.fixture()
def odd_app(data_dir: Path):
    from distillguard.console.app import create_app

    cluster = _rename_account(data_dir, ODD_ID)
    application = create_app(data_dir)
    application.state.odd_cluster = cluster
    yield application
    application.state.store.close()
    application.state.actions.close()
    application.state.db.close()


def test_an_id_with_a_slash_can_be_reviewed_and_acted_on(odd_app) -> None:
    c = TestClient(odd_app)
    csrf = login(c, "analyst")
    encoded = quote(ODD_ID, safe="")
    cluster_page = c.get(f"/cluster/{odd_app.state.odd_cluster}")
    assert f'href="/account/{encoded}"' in cluster_page.text
    page = c.get(f"/account/{encoded}")
    assert page.status_code == 200 and "team/a?b#1 c" in page.text
    csrf = csrf_of(page.text)
    r = c.post(
        "/act",
        data={
            "subject_kind": "account",
            "subject_id": ODD_ID,
            "action": "suspend",
            "reason": "confirmed harvesting",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith(f"/account/{encoded}?")
    assert c.get(r.headers["location"]).status_code == 200
    assert [a["subject_id"] for a in odd_app.state.actions.active()] == [ODD_ID]
    assert c.get(f"/export/account/{encoded}").status_code == 200


def test_a_non_ascii_csrf_token_is_a_403_not_a_500(app) -> None:
    c = TestClient(app)
    login(c, "analyst")
    r = c.post("/logout", data={"csrf_token": "é" * 10}, follow_redirects=False)
    assert r.status_code == 403
