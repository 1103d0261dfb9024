"""How ``bench-redteam`` prices a ``challenge``: a benign caller passes the verification step
and goes on (actioned, challenged, not blocked); an attacker either gives the account up
(``abandon``) or passes and keeps it (``pay``), each pass priced in accounts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from distillguard.bench.redteam import CHALLENGE_PRICES, cost_at_prices, run_strategy
from distillguard.bench.redteam_gateway import InProcessGateway
from distillguard.bench.redteam_world import World, load_world
from distillguard.online.audit import AuditLog

# Every account is asked to verify from its third request on, until it has passed.
STEP_UP = {"name": "step-up", "when": {"verified": False, "n_total": {">=": 3}},
           "action": "challenge", "scope": "request"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return load_world("tiny", 3, tmp_path_factory.mktemp("worlds"), 12)


def run(world: World, tmp: Path, mode: str) -> tuple[dict, InProcessGateway]:
    tmp.mkdir(parents=True, exist_ok=True)
    policy = tmp / "policy.yaml"
    policy.write_text(yaml.safe_dump({"online": {"rules": [STEP_UP]}}))
    gw = InProcessGateway(tmp / "svc", policy, "memory")
    res = run_strategy(world, "rotating", gw, "distillguard", 150, 7, 60, challenges=mode)
    return res.__dict__, gw


def test_a_benign_caller_passes_and_is_not_counted_blocked(world: World, tmp_path: Path) -> None:
    r, gw = run(world, tmp_path, "abandon")
    assert r["benign_accounts_challenged"] > 0
    assert r["benign_accounts_blocked"] == 0  # a challenge is no block
    assert r["benign_accounts_denied"] == r["benign_accounts_challenged"]  # the old figure
    audit = AuditLog(gw.scorer.data_dir / "audit.jsonl")
    passed = [e for e in audit.entries() if e["action"] == "challenge_passed"]
    assert {e["actor"] for e in passed} == {"bench-redteam:benign"}
    assert len(passed) == r["benign_accounts_challenged"]  # each passes once, then goes on


def test_an_attacker_abandons_or_pays_and_each_pass_is_priced(
    world: World, tmp_path: Path
) -> None:
    gone, _ = run(world, tmp_path / "a", "abandon")
    paid, _ = run(world, tmp_path / "p", "pay")
    assert gone["challenges_passed"] == 0 and gone["accounts_denied"] > 0
    assert gone["accounts"] > 20  # it opened accounts to replace the challenged ones
    assert paid["accounts_denied"] == 0 and paid["accounts"] == 20  # kept every account
    assert 0 < paid["challenges_passed"] <= paid["accounts"]  # once per account: then verified
    row = {"accounts": paid["accounts"], "answers": paid["answers"],
           "challenges_passed": paid["challenges_passed"]}
    at = cost_at_prices(row, 1000 * 20 / 150)
    assert [at[f"{c:g}"] for c in CHALLENGE_PRICES] == sorted(at.values())
    assert at["1"] == pytest.approx(
        (paid["accounts"] + paid["challenges_passed"]) / max(paid["answers"], 1) * 150 / 20,
        abs=0.01,
    )


def test_a_paid_account_challenged_again_is_given_up(world: World, tmp_path: Path) -> None:
    """A rule that challenges whether or not the account passed: the attacker pays once per
    account and gives it up on the next challenge, instead of paying for ever."""
    always = {**STEP_UP, "name": "always", "when": {"n_total": {">=": 3}}}
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"online": {"rules": [always]}}))
    gw = InProcessGateway(tmp_path / "svc", policy, "memory")
    r = run_strategy(world, "rotating", gw, "distillguard", 150, 7, 60, challenges="pay").__dict__
    assert r["accounts_denied"] > 0 and r["accounts"] > 20  # spent accounts were replaced
    assert 0 < r["challenges_passed"] <= r["accounts"]  # at most one pass per account


def test_over_http_a_pass_is_reported_with_the_admin_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make_gateway`` reads both tokens once; the pass goes to the admin route with the admin
    token (the API token alone is refused there) and is audited."""
    from fastapi.testclient import TestClient

    from distillguard.bench.redteam_gateway import make_gateway
    from distillguard.online.scorer import OnlineScorer
    from distillguard.online.service import create_app

    monkeypatch.setenv("DISTILLGUARD_TOKEN", "api-t")
    monkeypatch.setenv("DISTILLGUARD_ADMIN_TOKEN", "admin-t")
    gw = make_gateway("distillguard", tmp_path, None, "memory", "http://testserver")
    gw.client.close()
    scorer = OnlineScorer(tmp_path / "svc", load_results=False)
    app = create_app(scorer, "api-t", "admin-t", watch_interval_s=3600)
    with TestClient(app, headers={"authorization": "Bearer api-t"}) as client:
        gw.client = client
        gw.challenge_passed("acct-9", "attacker")
    entries = AuditLog(scorer.data_dir / "audit.jsonl").entries("acct-9")
    assert [e["actor"] for e in entries if e["action"] == "challenge_passed"] == [
        "bench-redteam:attacker"
    ]
    scorer.close()
