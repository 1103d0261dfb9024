"""Sign-up risk: evidence known at creation, per-route actions, and ``POST /v1/signup``."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml
from fastapi.testclient import TestClient

from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app
from distillguard.signup.risk import SignupScorer, route_action

HOUR = 3_600_000
T0 = 1_767_225_600_000


def _acc(i: int, **kw) -> dict:
    base = {"account_id": f"a{i}", "created_ms": T0 + i * HOUR, "signup_route": "standard",
            "verification": "phone", "email_domain": "gmail.com",
            "payment_fingerprint": f"card-{i}", "country": "US"}
    return {**base, **kw}


def _history(n: int = 300) -> list[dict]:
    """Ordinary sign-ups, one an hour: a popular domain, own cards, phone verification."""
    return [_acc(i) for i in range(n)]


@pytest.mark.parametrize(
    ("signup", "expected"),
    [
        ({}, "allow"),  # an ordinary sign-up
        ({"verification": "business", "signup_route": "enterprise"}, "allow"),
        ({"signup_route": "education", "verification": "none", "payment_fingerprint": "card-5",
          "email_domain": "mailinator.com"}, "manual_review"),  # reused card, disposable mail
        ({"signup_route": "startup", "verification": "none", "payment_fingerprint": "card-7"},
         "step_up"),  # a card that already pays for another account, on a farmed route
    ],
)
def test_actions_at_signup(signup, expected):
    sc = SignupScorer().fit(_history())
    res = sc.score_one(_acc(10_000, created_ms=T0 + 301 * HOUR, **signup))
    route = signup.get("signup_route", "standard")
    assert route_action(route, res.risk) == expected, (res.risk, res.reasons)


def test_a_wave_on_one_card_is_seen_while_it_happens():
    sc = SignupScorer().fit(_history())
    risks = []
    for j in range(5):  # five education accounts in five minutes on one new card
        acc = _acc(1000 + j, created_ms=T0 + 301 * HOUR + j * 60_000, signup_route="education",
                   verification="email", payment_fingerprint="card-wave",
                   email_domain="uni-x.edu")
        risks.append(sc.score_one(acc).risk)
        sc.learn_one(acc)
    assert risks[0] < 0.3 and route_action("education", risks[0]) == "allow"
    assert risks[-1] > risks[0] and route_action("education", risks[-1]) != "allow"


def test_flagged_accounts_make_their_card_count():
    hist = _history() + [_acc(400, payment_fingerprint="ring")]
    plain = SignupScorer().fit(hist).score_one(_acc(401, payment_fingerprint="ring"))
    known = SignupScorer().fit(hist, flagged={"a400"}).score_one(_acc(401, payment_fingerprint="ring"))
    assert known.risk > plain.risk
    assert "payment method shared with flagged accounts" in known.reasons


def test_routes_farmed_for_credits_are_stricter():
    for risk in (0.35, 0.75):
        assert route_action("education", risk) != route_action("standard", risk)


def test_batch_scores_are_prequential():
    rows = [_acc(0, payment_fingerprint="c"), _acc(1, payment_fingerprint="c")]
    first, second = SignupScorer().score_history(rows)
    assert first.strengths["card_reuse"] == 0 and second.strengths["card_reuse"] > 0


def _store(data: Path) -> None:
    data.mkdir()
    con = duckdb.connect(str(data / "store.duckdb"))
    con.execute("CREATE TABLE out_accounts(account_id VARCHAR, risk DOUBLE, verdict VARCHAR,"
                " cluster_id VARCHAR, reasons VARCHAR)")
    con.execute("INSERT INTO out_accounts VALUES ('hydra-1', 0.95, 'attack', 'C1', 'ring')")
    con.execute("CREATE TABLE accounts(account_id VARCHAR, created_at BIGINT, signup_route VARCHAR,"
                " verification VARCHAR, email_domain VARCHAR, payment_fingerprint VARCHAR,"
                " country VARCHAR)")
    con.execute(f"INSERT INTO accounts VALUES ('hydra-1', {T0}, 'startup', 'none', 'proton.me',"
                f" 'pf-ring', 'SG'), ('user-1', {T0}, 'standard', 'phone', 'gmail.com', 'pf-1', 'US')")
    con.close()


def test_signup_endpoint(tmp_path):
    _store(tmp_path / "data")
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"online": {"shadow": False}}))
    app = create_app(OnlineScorer(tmp_path / "data", policy), "api", "admin")
    h = {"Authorization": "Bearer api"}
    with TestClient(app) as c:
        assert c.post("/v1/signup", json={"account_id": "x"}).status_code == 401
        bad = c.post("/v1/signup", json=["not", "an", "object"], headers=h)
        assert bad.status_code == 422 and "account_id" in bad.text
        ok = c.post("/v1/signup", headers=h, json={
            "account_id": "new-1", "signup_route": "standard", "verification": "phone",
            "email_domain": "gmail.com", "payment_fingerprint": "pf-9", "country": "US"}).json()
        assert ok["action"] == "allow"
        ring = c.post("/v1/signup", headers=h, json={
            "account_id": "new-2", "signup_route": "startup", "verification": "none",
            "email_domain": "proton.me", "payment_fingerprint": "pf-ring", "country": "SG",
            "ip": "185.220.101.1"}).json()
        assert ring["action"] == "manual_review", ring
        assert "payment method shared with flagged accounts" in ring["reasons"]
    audit = (tmp_path / "data" / "audit.jsonl").read_text()
    assert "signup_manual_review" in audit and "new-2" in audit


def test_detect_writes_signups_csv(tiny_data, tiny_findings):
    """``detect`` with an account table (the session's ``tiny_findings`` run) writes
    ``signups.csv``."""
    import csv

    findings = tiny_findings[0] / "findings"
    with (findings / "signups.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    with (tiny_data / "accounts.csv").open() as fh:
        n_accounts = sum(1 for _ in csv.DictReader(fh))
    assert len(rows) == n_accounts
    assert {r["signup_action"] for r in rows} <= {"allow", "step_up", "manual_review"}
    assert all(0 <= float(r["signup_risk"]) <= 1 for r in rows)
    with (findings / "accounts.csv").open() as fh:  # the contract's columns, unchanged
        assert next(csv.reader(fh)) == ["account_id", "risk", "verdict", "cluster_id", "reasons"]


def test_policy_sets_the_route_thresholds(tmp_path):
    from distillguard.errors import PolicyError
    from distillguard.policy import Policy

    table = Policy.load(None).signup.table()
    assert table["education"] == (0.3, 0.7) and table["standard"] == (0.5, 0.85)
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump({"signup": {"route_thresholds": {"standard": [0.9, 0.95]}}}))
    assert route_action("education", 0.5, Policy.load(p).signup.table()) == "allow"
    p.write_text(yaml.safe_dump({"signup": {"route_thresholds": {"standard": [0.9, 0.5]}}}))
    with pytest.raises(PolicyError, match="step_up must not exceed"):
        Policy.load(p)
    p.write_text(yaml.safe_dump({"signup": {"route_thresholds": {"education": [0.1, 0.2]}}}))
    with pytest.raises(PolicyError):
        Policy.load(p)  # 'standard' is required: the fallback of unlisted routes
