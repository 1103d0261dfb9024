"""The console and report on a store written by the real pipeline (``detect`` on the
``tiny`` simulator preset)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from distillguard.console.auth import ConsoleDB


def test_detect_writes_our_report(detected):
    root, summary = detected
    html = (root / "findings" / "report.html").read_text()
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html)
    for sec in ("campaigns", "timeline", "capabilities", "accounts", "quarantine"):
        assert f'id="{sec}"' in html
    assert re.search(r'id="cluster-[^"]+"', html), "no cluster graph in the report"


def test_console_on_real_store(detected):
    root, _ = detected
    data = root / "store"
    db = ConsoleDB(data / "console.sqlite")
    db.add_user("ana", "ana-password-1", "analyst", created_by="test")
    db.add_user("vic", "vic-password-1", "viewer", created_by="test")
    db.close()
    from distillguard.console.app import create_app

    app = create_app(data)
    try:
        for user, pw in (("ana", "ana-password-1"), ("vic", "vic-password-1")):
            c = TestClient(app)
            r = c.get("/login")
            token = re.search(r'name="login_token" value="([^"]+)"', r.text).group(1)
            q = c.post("/login", data={"username": user, "password": pw, "login_token": token})
            assert q.status_code == 200
            link = re.search(r'href="/cluster/([^"]+)"', q.text)
            assert link, "the queue lists no cluster"
            page = c.get(f"/cluster/{link.group(1)}")
            assert page.status_code == 200 and 'id="cluster-graph"' in page.text
            assert page.text.count("<tr>") > 5
            acct = re.search(r'href="/account/([^"]+)"', page.text).group(1)
            ap = c.get(f"/account/{acct}")
            assert ap.status_code == 200 and 'id="account-fp"' in ap.text
            assert '<pre class="prompt">' not in page.text + ap.text  # redacted by default
            c.close()
    finally:
        app.state.store.close()
        app.state.actions.close()
        app.state.db.close()
