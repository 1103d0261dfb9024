"""The console's account page and the report show what lowered an account's risk, beside
what raised it (a store written by the real pipeline: ``detect`` on the tiny preset)."""

from __future__ import annotations

import html

import duckdb

from .conftest import login


def _lowered_account(store) -> tuple[str, str, float]:  # noqa: ANN001
    """An account with a ``lowered:`` evidence row: (account id, strongest summary, weight)."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        row = con.execute(
            "SELECT subject_id, summary, weight FROM evidence "
            "WHERE subject_kind = 'account' AND source LIKE 'lowered:%' "
            "ORDER BY weight DESC, subject_id LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    assert row, "the pipeline wrote no reason that lowered a risk"
    return row


def test_account_page_shows_what_lowered_the_risk(real_app, real_data_dir):
    from fastapi.testclient import TestClient

    account, summary, weight = _lowered_account(real_data_dir / "store.duckdb")
    with TestClient(real_app) as c:
        login(c, "viewer")
        page = c.get(f"/account/{account}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    lowered = text[text.index('id="lowered"') :]
    assert summary in lowered and f"\u2212{weight:.2f}" in lowered  # its sign: a minus
    raised = text[text.index("<h3>Reasons</h3>") : text.index('id="lowered"')]
    assert summary not in raised  # not among what raised it


def test_report_lists_lowered_reasons_of_top_accounts(detected):
    from distillguard.console.report import MAX_TOP_ACCOUNTS

    root, _ = detected
    con = duckdb.connect(str(root / "store" / "store.duckdb"), read_only=True)
    try:
        top = con.execute(
            "WITH top AS (SELECT account_id, risk FROM out_accounts WHERE verdict <> 'benign' "
            "ORDER BY risk DESC, account_id LIMIT ?) "
            "SELECT e.summary FROM evidence e JOIN top o ON o.account_id = e.subject_id "
            "WHERE e.source LIKE 'lowered:%' "
            "ORDER BY o.risk DESC, o.account_id, e.weight DESC LIMIT 1",
            [MAX_TOP_ACCOUNTS],
        ).fetchone()
    finally:
        con.close()
    assert top
    report = html.unescape((root / "findings" / "report.html").read_text())
    assert f"\u2212 {top[0]}" in report
