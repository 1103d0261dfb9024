"""Drive the console in Debian's headless Chromium over a store written by the real
pipeline (``detect`` on the ``tiny`` preset): log in, open the queue, open the top cluster,
suspend it (after the preview), reverse the action by appeal, check the audit log. Takes
screenshots of the main pages: into the test's temporary folder, or into docs/screenshots/
with DISTILLGUARD_UPDATE_SCREENSHOTS=1 (a test run must not rewrite tracked files)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from distillguard.online.audit import AuditLog

from .conftest import PASSWORDS

CHROMIUM = Path("/usr/bin/chromium")
DOC_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser tests need Debian's chromium at /usr/bin/chromium "
        "(make system-deps installs it)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(real_app):
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(real_app, host="127.0.0.1", port=port,
                                        log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.time() + 15
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _watch(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    update = os.environ.get("DISTILLGUARD_UPDATE_SCREENSHOTS") == "1"
    folder = DOC_SHOTS if update else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_review_act_appeal_audit(server, browser, real_data_dir, real_app, shots):
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors = _watch(page)

    # Log in (the queue sends us to the login page first).
    page.goto(server + "/queue")
    assert "/login" in page.url
    page.fill("input[name=username]", "analyst")
    page.fill("input[name=password]", PASSWORDS["analyst"])
    page.click("button[type=submit]")
    page.wait_for_url("**/queue")

    # The queue: the riskiest case on top, clusters among the flagged cases.
    rows = page.locator("#queue tr")
    assert rows.count() > 3
    assert "cluster" in page.inner_text("#queue")
    page.screenshot(path=str(shots / "queue.png"))

    # Open the top cluster: graph, timeline and capability mix render.
    page.locator("#queue a[href^='/cluster/']").first.click()
    page.wait_for_selector("#cluster-graph .main-svg")
    page.wait_for_selector("#cluster-volume .main-svg")
    page.wait_for_selector("#cluster-capability .main-svg")
    cluster_url = page.url
    cluster_id = cluster_url.rsplit("/", 1)[-1]
    assert page.locator("#indicators tr").count() > 1
    assert page.locator("#examples .redacted").count() > 0  # prompts redacted by default
    n_members = page.locator("#members tr").count() - 1
    page.screenshot(path=str(shots / "cluster.png"), full_page=True)

    # Suspend the whole cluster: the preview lists every member before anything happens.
    page.select_option("#act-form select[name=action]", "suspend")
    page.fill("#act-form input[name=reason]", "coordinated harvesting: shared card and template")
    page.click("#act-form button[type=submit]")
    page.wait_for_selector("#preview-summary")
    n_affected = page.locator("#affected tr").count() - 1
    assert n_affected == n_members > 1
    assert f"{n_affected} account(s)" in page.inner_text("#preview-summary")
    assert real_app.state.actions.active() == []  # nothing applied by the preview
    page.click("#confirm-form button[type=submit]")
    page.wait_for_url(cluster_url + "?**")
    assert "actioned" in page.inner_text("#case-status")
    assert str(n_affected) in page.inner_text("#active-actions")
    assert len(real_app.state.actions.active()) == n_affected

    # Clicking an account node of the graph opens its page: it shows the action, the
    # fingerprint against the population and the request timeline.
    member = page.locator("#members a").first.inner_text()
    page.evaluate(
        "m => document.getElementById('cluster-graph').emit('plotly_click', "
        "{points: [{customdata: m}]})",
        member,
    )
    page.wait_for_url(f"**/account/{member}")
    page.wait_for_selector("#account-fp .main-svg")
    page.wait_for_selector("#account-volume .main-svg")
    assert "block" in page.inner_text("#history")
    page.screenshot(path=str(shots / "account.png"), full_page=True)

    # Appeal: reverse the bulk action from the cluster page.
    page.goto(cluster_url)
    page.fill(".appeal-form input[name=reason]", "appeal upheld: verified research lab")
    page.click(".appeal-form button[type=submit]")
    page.wait_for_url(cluster_url + "?**")
    assert f"{n_affected} action(s) reversed" in page.inner_text(".flash")
    assert page.locator("#active-actions").count() == 0
    assert real_app.state.actions.active() == []

    # The audit log page: chain intact, with the bulk action, each block and the appeal.
    page.goto(server + "/audit")
    assert "Hash chain intact" in page.inner_text("#verify")
    text = page.inner_text("#audit")
    assert "bulk_suspend" in text and "appeal" in text and "reverse" in text
    assert f"cluster {cluster_id}" in text
    log = AuditLog(real_data_dir / "audit.jsonl")
    assert log.verify().ok
    acts = [e["action"] for e in log.entries()]
    assert acts.count("block") == n_affected and acts.count("reverse") == n_affected
    assert errors == [], errors
    page.close()


def test_report_screenshot(browser, detected, shots):
    root, _ = detected
    report = root / "findings" / "report.html"
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors = _watch(page)
    page.goto(report.as_uri())
    page.wait_for_selector("#campaigns .main-svg")
    assert page.locator("#timeline .main-svg").count() > 0
    assert page.locator("#capabilities .main-svg").count() > 0
    assert re.search(r"\d", page.inner_text("#quarantine h2"))
    page.screenshot(path=str(shots / "report.png"))
    assert errors == [], errors
    page.close()
