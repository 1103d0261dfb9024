"""An organisation counts online only from a trusted source (issue 16): the operator's account
table, or a gateway configured as a trusted org source. A request that claims an allow-listed
org is not allow-listed by the claim, and a reviewer sees the claim beside the table's org."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from distillguard.online.guard import LocalGuard
from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

from .conftest import HARVEST, make_store

API = "api-secret"
H = {"Authorization": f"Bearer {API}"}
BLOCK_HARVEST = [{"name": "harvest", "when": {"sig_cot": {">=": 0.5}}, "action": "block"}]
Rec = Callable[..., dict[str, Any]]


def _store(data_dir: Path) -> Path:
    """The test store plus the account table: ``p1`` is the partner's (allow-listed),
    ``x1`` another org's, ``solo`` names none."""
    make_store(data_dir)
    con = duckdb.connect(str(data_dir / "store.duckdb"))
    con.execute(
        "CREATE TABLE account_meta(account_id VARCHAR, verification VARCHAR, org_id VARCHAR)"
    )
    con.execute("""INSERT INTO account_meta VALUES
        ('p1', 'business', 'partner'), ('x1', 'email', 'other'), ('solo', 'email', NULL)""")
    con.close()
    return data_dir


@pytest.fixture
def scorer(tmp_path: Path, write_policy: Callable) -> OnlineScorer:
    return OnlineScorer(
        _store(tmp_path / "data"),
        write_policy({"allow_orgs": ["partner"], "rules": BLOCK_HARVEST}),
    )


def _audited(s: OnlineScorer, action: str) -> list[dict[str, Any]]:
    return [e for e in s.audit.entries() if e["action"] == action]


def test_the_account_tables_org_is_what_allow_lists(scorer: OnlineScorer, record: Rec) -> None:
    assert scorer.cache.orgs == {"p1": "partner", "x1": "other", "solo": ""}
    # the partner's own account, whatever its requests say (or do not say)
    assert scorer.score(record(0, account="p1", text=HARVEST)).rule == "allow-list"
    assert scorer.score(record(1, account="p1", text=HARVEST, org_id="x")).action == "allow"
    # another org's account claiming the partner's org: the claim counts for nothing
    d = scorer.score(record(2, account="x1", text=HARVEST, org_id="partner"))
    assert (d.action, d.rule) == ("block", "harvest")
    # an account the table lists with no org: no claim gives it one
    assert scorer.score(record(3, account="solo", text=HARVEST, org_id="partner")).action == (
        "block"
    )


def test_an_unlisted_account_claiming_an_allow_listed_org_is_not_waved_through(
    scorer: OnlineScorer, record: Rec
) -> None:
    assert scorer.score(record(0, account="fresh", text=HARVEST, org_id="partner")).action == (
        "block"
    )
    assert scorer.precheck("fresh", "r", org_id="partner").rule != "allow-list"
    # ... unless a trusted org source (a gateway that authenticates the org) says so
    d = scorer.score(record(1, account="fresh", text=HARVEST, org_id="partner"), org_trusted=True)
    assert d.rule == "allow-list"
    assert scorer.precheck("fresh", "r", org_id="partner", org_trusted=True).rule == "allow-list"
    # the table wins over a trusted source: its org for x1 is "other"
    d = scorer.score(record(2, account="x1", text=HARVEST, org_id="partner"), org_trusted=True)
    assert d.action == "block"


def test_a_client_cannot_mark_its_own_claim_trusted(scorer: OnlineScorer, record: Rec) -> None:
    rec = record(0, account="fresh", text=HARVEST, org_id="partner", org_trusted=True)
    assert scorer.score(rec).action == "block"  # a record field lands in `extra`, not the row


def test_an_ignored_claim_is_counted_and_audited_once(scorer: OnlineScorer, record: Rec) -> None:
    for i in range(3):
        scorer.score(record(i, account="x1", text=HARVEST, org_id="partner"))
    scorer.score(record(3, account="fresh", org_id="partner"))
    scorer.score(record(4, account="fresh2", org_id="someone"))  # not allow-listed: counted only
    m = scorer.metrics
    assert m.value("distillguard_org_claims_total", result="mismatch") == 3
    assert m.value("distillguard_org_claims_total", result="unlisted") == 2
    entries = _audited(scorer, "org_claim_ignored")
    assert [
        (e["subject_id"], e["extra"]["claimed_org"], e["extra"]["table_org"]) for e in entries
    ] == [
        ("x1", "partner", "other"),
        ("fresh", "partner", None),
    ]
    assert "claimed org 'partner', the account table says 'other'" in entries[0]["reason"]
    assert scorer.audit.verify().ok


def test_a_claim_lends_no_allow_list_immunity_in_linkage(scorer: OnlineScorer, record: Rec) -> None:
    """An account the table does not list, claiming the partner's org, is its own owner on
    shared keys and lends its own risk like anyone else's."""
    row = {"account_id": "fresh", "org_id": "partner"}
    assert scorer.linked.owner(row) == "fresh"
    assert scorer.linked._lendable(row, {"org_id": None, "online_risk": 0.7}) == 0.7
    assert scorer.linked.owner({**row, "org_trusted": True}) == "org:partner"
    assert scorer.linked.owner({"account_id": "p1", "org_id": "x"}) == "org:partner"


def test_the_real_service_ignores_a_claimed_org(
    scorer: OnlineScorer, serve: Callable, record: Rec
) -> None:
    """Over HTTP (``/v1/score``, ``/v1/check``) the caller's org_id is a claim: only the table."""
    scorer.actions.apply("account", "fresh", "block", actor="a", reason="abuse")
    scorer.actions.apply("account", "p1", "block", actor="a", reason="abuse")
    scorer.refresh_actions(force=True)
    with serve(create_app(scorer, API)) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.post("/v1/score", json=record(0, account="fresh", org_id="partner"), headers=H)
        assert r.json()["action"] == "block"
        r = c.post("/v1/check", headers={**H, "X-Account-Id": "fresh", "X-Org-Id": "partner"})
        assert r.status_code == 403
        # the table's partner account is allow-listed, with or without a header
        r = c.post("/v1/check", headers={**H, "X-Account-Id": "p1"})
        assert r.status_code == 200 and r.headers["x-distillguard-rule"] == "allow-list"


def test_a_local_guard_configured_as_a_trusted_org_source(
    scorer: OnlineScorer, record: Rec
) -> None:
    rec = record(0, account="fresh", text=HARVEST, org_id="partner")
    assert asyncio.run(LocalGuard(scorer, full_inline=True).check(rec))["action"] == "block"
    trusted = LocalGuard(scorer, full_inline=True, trusted_org_source=True)
    assert asyncio.run(trusted.check({**rec, "request_id": "r2"}))["rule"] == "allow-list"
    x1 = record(1, account="x1", text=HARVEST, org_id="partner")
    assert asyncio.run(trusted.check(x1))["action"] == "block"  # the table wins
