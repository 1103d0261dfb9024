"""A ``challenge`` a caller can clear: the gateway's verification step reports a pass
(``POST /v1/admin/challenge/passed``, ``OnlineScorer.challenge_passed``); it is audited and
reversible, answers the account's challenges, and is the ``verified`` feature rules read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from distillguard.errors import InvalidParameterError
from distillguard.online.audit import AuditLog
from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

from .conftest import HARVEST

Rec = Callable[..., dict[str, Any]]
# Ask for verification on a harvest-like request until the account has passed.
STEP_UP = {"name": "step-up", "when": {"verified": False, "sig_cot": {">=": 0.5}},
           "action": "challenge", "scope": "request"}


@pytest.fixture
def scorer(store_dir: Path, write_policy: Callable) -> OnlineScorer:
    return OnlineScorer(store_dir, write_policy({"rules": [STEP_UP]}))


def _audit(s: OnlineScorer, acct: str) -> list[dict]:
    return list(AuditLog(s.data_dir / "audit.jsonl").entries(acct))


def test_a_passed_challenge_is_recorded_audited_and_read_by_rules(
    scorer: OnlineScorer, record: Rec
) -> None:
    s = scorer
    assert s.score(record(0, account="acct-1", text=HARVEST)).action == "challenge"
    out = s.challenge_passed("acct-1", actor="verify-svc", method="sms")
    assert s.score(record(1, account="acct-1", text=HARVEST)).action in ("allow", "log")
    assert s.precheck("acct-1").action == "allow"
    passed = [e for e in _audit(s, "acct-1") if e["action"] == "challenge_passed"]
    assert [(e["actor"], e["extra"]["method"], e["extra"]["action_id"]) for e in passed] == [
        ("verify-svc", "sms", out["verified_id"])
    ]
    assert s.score(record(2, account="acct-2", text=HARVEST)).action == "challenge"  # others


def test_a_passed_challenge_is_reversible_and_can_expire(
    scorer: OnlineScorer, record: Rec
) -> None:
    s = scorer
    vid = s.challenge_passed("acct-1", actor="verify-svc", method="card")["verified_id"]
    s.actions.reverse(vid, actor="analyst", reason="the card was stolen")
    s.refresh_actions(force=True)
    assert s.score(record(0, account="acct-1", text=HARVEST)).action == "challenge"
    with pytest.raises(InvalidParameterError):
        s.actions.verify("acct-1", actor="verify-svc", method="sms", expires_at=1.0)
    with pytest.raises(InvalidParameterError):
        s.actions.verify("acct-1", actor="verify-svc", method="")
    assert [e["action"] for e in _audit(s, "acct-1")][:2] == ["challenge_passed", "reverse"]


def test_passing_answers_an_account_challenge_but_never_lifts_a_block(
    scorer: OnlineScorer, record: Rec
) -> None:
    s = scorer
    cid = s.actions.apply("account", "acct-1", "challenge", actor="policy", reason="linked")
    bid = s.actions.apply("account", "acct-2", "block", actor="analyst", reason="confirmed")
    s.refresh_actions(force=True)
    assert s.score(record(0, account="acct-1")).action == "challenge"
    assert s.challenge_passed("acct-1", actor="verify-svc", method="id")["reversed"] == [cid]
    assert s.score(record(1, account="acct-1")).action in ("allow", "log")
    assert s.challenge_passed("acct-2", actor="verify-svc", method="id")["reversed"] == []
    assert [a["id"] for a in s.actions.active("acct-2") if a["action"] == "block"] == [bid]
    assert s.score(record(2, account="acct-2")).action == "block"


def test_a_gateway_clears_a_challenge_over_http(
    scorer: OnlineScorer, serve: Callable, record: Rec
) -> None:
    """What a challenged caller sees (403 verification_required), the admin call that clears
    it (the admin token only), and the answer after it."""
    api, admin = {"Authorization": "Bearer api-t"}, {"Authorization": "Bearer admin-t"}
    check = {**api, "X-Account-Id": "acct-1"}
    body = {"model": "frontier-1", "messages": [{"role": "user", "content": HARVEST}]}
    passed = {"account_id": "acct-1", "method": "sms", "actor": "verify-svc"}
    scorer.actions.apply("account", "acct-1", "challenge", actor="policy", reason="linked")
    scorer.refresh_actions(force=True)
    with (
        serve(create_app(scorer, "api-t", "admin-t")) as srv,
        httpx.Client(base_url=srv.url, timeout=10) as c,
    ):
        r = c.post("/v1/check", json=body, headers=check)
        assert r.status_code == 403 and r.headers["x-distillguard-action"] == "challenge"
        assert c.post("/v1/admin/challenge/passed", json=passed, headers=api).status_code == 403
        bad = c.post("/v1/admin/challenge/passed", json={"account_id": "acct-1"}, headers=admin)
        assert bad.status_code == 422
        for expiry in ("nan", "inf", -5, "soon"):  # never a verification that cannot expire
            bad = c.post(
                "/v1/admin/challenge/passed", json={**passed, "expires_s": expiry}, headers=admin
            )
            assert bad.status_code == 422, expiry
        ok = c.post("/v1/admin/challenge/passed", json=passed, headers=admin)
        assert ok.status_code == 200 and ok.json()["verified_id"] > 0
        assert c.post("/v1/check", json=body, headers=check).status_code == 200
        d = c.post("/v1/score?sync=true", json=record(1, text=HARVEST), headers=api).json()
        assert d["action"] in ("allow", "log")  # step-up reads verified: passed
    assert "challenge_passed" in [e["action"] for e in _audit(scorer, "acct-1")]
