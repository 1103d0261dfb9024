"""Case queue filters and paging; actions, bulk preview, dismissal and appeals; export;
the ``console`` CLI."""

from __future__ import annotations

import pytest

from distillguard.console.cases import QueueFilter, StoreReader
from distillguard.console.pdf import find_chromium
from distillguard.errors import InvalidInputError
from distillguard.online.audit import AuditLog


def test_queue_orders_filters_and_pages(store_dir):
    reader = StoreReader(store_dir)
    try:
        q = reader.queue(QueueFilter(), [])
        kinds = [c["case_kind"] for c in q["items"]]
        assert kinds[:4] == ["cluster"] * 4  # the attack clusters come first
        risks = [c["risk"] for c in q["items"]]
        assert risks == sorted(risks, reverse=True)
        assert q["by_kind"]["cluster"] == 4
        assert q["by_verdict"]["attack"] == 4 and q["by_verdict"]["benign"] > 300

        # Keyset paging over every case: disjoint pages that add up to the count.
        seen, after = [], ""
        while True:
            page = reader.queue(QueueFilter(verdict="all", after=after), [], page_size=60)
            seen += [(c["case_kind"], c["case_id"]) for c in page["items"]]
            if not page["next"]:
                break
            after = page["next"]
        assert len(seen) == len(set(seen)) == page["total"] == 4 + 400 - 48

        edu = reader.queue(QueueFilter(verdict="all", route="education"), [])
        assert all("education" in c["routes"] for c in edu["items"])
        code = reader.queue(QueueFilter(verdict="all", capability="data_analysis"), [])
        assert {c["case_kind"] for c in code["items"]} == {"cluster"}
        st = reader.queue(QueueFilter(status="in review"), [("cluster", "c001", "in review")])
        assert [c["case_id"] for c in st["items"]] == ["c001"]
        new = reader.queue(QueueFilter(status="new"), [("cluster", "c001", "in review")])
        assert "c001" not in [c["case_id"] for c in new["items"]]
        late = reader.queue(QueueFilter(verdict="all", since="2026-02-01"), [])
        assert late["total"] == 0
        early = reader.queue(QueueFilter(verdict="all", until="2026-01-01"), [])
        assert 0 < early["total"] < page["total"] + 1
    finally:
        reader.close()


def test_queue_page_shows_counts_and_rejects_bad_filters(client_as):
    c, _ = client_as("viewer")
    r = c.get("/queue", params={"verdict": "attack"})
    assert r.status_code == 200 and "cluster c000" in r.text and "acct_000201" not in r.text
    r = c.get("/queue", params={"verdict": "nonsense"})
    assert r.status_code == 400 and "verdict must be one of" in r.text
    r = c.get("/queue", params={"since": "yesterday"})
    assert r.status_code == 400 and "YYYY-MM-DD" in r.text


def test_account_action_needs_reason_and_is_reversible(client_as, app, data_dir):
    c, csrf = client_as("analyst")
    r = c.post("/act", data={"subject_kind": "account", "subject_id": "acct_000201",
                             "action": "rate_limit", "reason": "  ", "csrf_token": csrf})
    assert r.status_code == 400 and app.state.actions.active() == []
    r = c.post("/act", data={"subject_kind": "account", "subject_id": "acct_000201",
                             "action": "rate_limit", "reason": "bursty", "hours": "24",
                             "csrf_token": csrf})
    assert r.status_code == 200 and "applied to 1 account" in r.text
    act = app.state.actions.active("acct_000201")
    assert [a["action"] for a in act] == ["rate_limit"] and act[0]["expires_at"]
    assert act[0]["params"]["rate_per_s"] == 0.1 and act[0]["params"]["burst"] >= 1
    r = c.post("/appeal", data={"subject_kind": "account", "subject_id": "acct_000201",
                                "action_id": str(act[0]["id"]), "reason": "customer appeal",
                                "csrf_token": csrf})
    assert r.status_code == 200 and "1 action(s) reversed" in r.text
    assert "customer appeal" in r.text  # shown under "Actions and appeals"
    assert app.state.actions.active("acct_000201") == []
    log = AuditLog(data_dir / "audit.jsonl")
    assert [e["action"] for e in log.entries(subject_id="acct_000201")] == ["rate_limit", "reverse"]
    assert log.verify().ok


def test_bulk_action_previews_then_applies(client_as, app):
    c, csrf = client_as("analyst")
    # Posting a cluster action without confirmation only shows the preview.
    r = c.post("/act", data={"subject_kind": "cluster", "subject_id": "c002",
                             "action": "require_verification", "reason": "suspicious",
                             "csrf_token": csrf})
    assert r.status_code == 200 and 'id="preview-summary"' in r.text
    assert r.text.count("acct_0000") >= 12 and app.state.actions.active() == []
    r = c.post("/act", data={"subject_kind": "cluster", "subject_id": "c002",
                             "action": "require_verification", "reason": "suspicious",
                             "confirm": "yes", "csrf_token": csrf})
    assert "applied to 12 account(s)" in r.text
    acts = app.state.actions.active()
    assert len(acts) == 12 and {a["action"] for a in acts} == {"challenge"}
    assert {a["params"]["cluster_id"] for a in acts} == {"c002"}
    q = c.get("/queue", params={"status": "actioned"})
    assert "cluster c002" in q.text


def test_dismiss_allow_lists_and_labels(client_as, app):
    c, csrf = client_as("analyst")
    r = c.post("/act", data={"subject_kind": "account", "subject_id": "acct_000251",
                             "action": "dismiss", "reason": "known customer",
                             "csrf_token": csrf})
    assert r.status_code == 200 and "allow-listed" in r.text
    assert app.state.actions.is_allowed("acct_000251")
    assert [x["label"] for x in app.state.actions.labels("acct_000251")] == ["false_positive"]
    assert app.state.db.status("account", "acct_000251") == "dismissed"


def test_export_case_report(client_as, data_dir):
    c, _ = client_as("analyst")
    r = c.get("/export/cluster/c000")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    assert 'id="cluster-c000"' in r.text and "[redacted" in r.text
    e = AuditLog(data_dir / "audit.jsonl").entries(subject_id="c000")
    assert e[-1]["action"] == "export_case" and e[-1]["extra"]["redacted"] is True
    assert c.get("/export/cluster/nope").status_code == 404


def test_missing_things_give_clear_pages(client_as):
    c, _ = client_as("viewer")
    assert c.get("/cluster/nope").status_code == 404
    assert c.get("/account/nope").status_code == 404


def test_cli_create_admin_and_no_users(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from distillguard.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["console", "--data", str(tmp_path)])
    assert r.exit_code != 0 and "--create-admin" in str(r.exception or r.output)
    monkeypatch.setenv("DISTILLGUARD_ADMIN_USER", "root")
    monkeypatch.setenv("DISTILLGUARD_ADMIN_PASSWORD", "root-pass-123")
    r = runner.invoke(app, ["console", "--data", str(tmp_path), "--create-admin"])
    assert r.exit_code == 0, r.output
    from distillguard.console.auth import ConsoleDB

    db = ConsoleDB(tmp_path / "console.sqlite")
    assert db.authenticate("root", "root-pass-123")["role"] == "admin"
    db.close()


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="PDF export needs /usr/bin/chromium")
def test_export_case_report_pdf(client_as, data_dir):
    c, _ = client_as("analyst")
    r = c.get("/export/cluster/c001", params={"format": "pdf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF") and len(r.content) > 10_000
    e = AuditLog(data_dir / "audit.jsonl").entries(subject_id="c001")
    assert e[-1]["extra"]["format"] == "pdf"
    assert c.get("/export/cluster/c001", params={"format": "docx"}).status_code == 400


def test_store_is_released_between_requests_and_reindexed(tmp_path, store_dir):
    """A running console must not block the next ``detect`` run, and must show its results."""
    import shutil

    import duckdb

    shutil.copy(store_dir / "store.duckdb", tmp_path / "store.duckdb")
    reader = StoreReader(tmp_path)
    try:
        before = reader.queue(QueueFilter(verdict="attack"), [])
        assert before["by_kind"] == {"cluster": 4}
        # A writer (what detect does) can open the store while the console is idle.
        w = duckdb.connect(str(tmp_path / "store.duckdb"))
        w.execute("UPDATE out_clusters SET verdict = 'review' WHERE cluster_id = 'c000'").fetchall()
        # While the writer holds the store the console explains instead of crashing.
        try:
            with pytest.raises(InvalidInputError, match="detect"):
                reader.queue(QueueFilter(), [])
        finally:
            w.close()
        after = reader.queue(QueueFilter(verdict="attack"), [])
        assert after["by_kind"] == {"cluster": 3}
    finally:
        reader.close()


def test_actions_on_unknown_subjects_are_refused(client_as, app):
    c, csrf = client_as("analyst")
    for kind in ("account", "cluster"):
        r = c.post("/act", data={"subject_kind": kind, "subject_id": "nope", "action": "suspend",
                                 "reason": "x", "confirm": "yes", "csrf_token": csrf})
        assert r.status_code == 404
    r = c.post("/act", data={"subject_kind": "account", "subject_id": "acct_000001",
                             "action": "delete_everything", "reason": "x", "csrf_token": csrf})
    assert r.status_code == 400
    assert app.state.actions.active() == []


def test_bench_reports_page_times(store_dir, tmp_path):
    from distillguard.console.bench import run

    md = run(tmp_path, store_dir, repeat=2)
    assert md.startswith("## Analyst console: page render time")
    for page in ("queue (flagged, first page)", "cluster page, riskiest cluster", "account page"):
        line = next(ln for ln in md.splitlines() if ln.startswith(f"| {page}"))
        assert float(line.split("|")[2]) > 0 and "failed" not in line
    assert (store_dir / "console.sqlite").exists() is False  # the measured store is only read
