"""A batch ``attack`` resting on the account's own traffic alone (no second source in batch's
store), whatever its volume, is ``own-attack``: online it challenges (a verification step)
instead of blocking; once the caller passed, every answer is degraded silently while batch
holds the verdict, and the challenge flags the account's keys as a block does. With a second
source (an attack cluster, a sender link, a payment ring, an operator label) it blocks as
before (issue 16)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from distillguard.online.audit import AuditLog
from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app
from distillguard.online.verdicts import OWN_ATTACK, VerdictCache

from .conftest import HARVEST, T0, make_store

Rec = Callable[..., dict[str, Any]]
SECOND_SOURCE = ("vendor-1", "ring-1", "labelled-1", "hydra-1")


def _store_with_evidence(data_dir: Path) -> Path:
    """``make_store`` plus batch's evidence table. solo-1 (5 requests) and heavy-1 (40): their
    own harvest evidence only; vendor-1: a sender link; ring-1: a card paying for unrelated
    accounts; labelled-1: the operator's label; hydra-1: in attack cluster c-7."""
    make_store(data_dir)
    con = duckdb.connect(str(data_dir / "store.duckdb"))
    con.execute("""INSERT INTO out_accounts VALUES
        ('solo-1', 0.97, 'attack', NULL, '100% of 5 requests carry harvest signals'),
        ('heavy-1', 0.96, 'attack', NULL, '80% of 40 requests carry harvest signals'),
        ('vendor-1', 0.95, 'attack', NULL, 'linked by payment card to cluster c-7'),
        ('ring-1', 0.94, 'attack', NULL, 'its card pays for 6 unrelated accounts'),
        ('labelled-1', 0.93, 'attack', NULL, 'labelled attack by the operator')""")
    con.execute("""INSERT INTO account_features VALUES ('hydra-1', 3), ('solo-1', 5),
        ('heavy-1', 40), ('vendor-1', 5), ('ring-1', 8), ('labelled-1', 9), ('good-1', 4)""")
    con.execute(
        "CREATE TABLE evidence(subject_kind VARCHAR, subject_id VARCHAR, source VARCHAR,"
        " weight DOUBLE, summary VARCHAR, refs VARCHAR[])"
    )
    con.execute("""INSERT INTO evidence VALUES
        ('account', 'solo-1', 'account:harvest_content', 0.6, 'harvest', []),
        ('account', 'heavy-1', 'account:harvest_content', 0.7, 'harvest', []),
        ('account', 'vendor-1', 'account:sender_link', 0.05, 'card', []),
        ('account', 'ring-1', 'account:payment_ring', 0.2, 'card pays for 6', []),
        ('account', 'labelled-1', 'account:operator_labels', 0.3, 'label', [])""")
    con.close()
    return data_dir


@pytest.fixture
def scorer(tmp_path: Path, write_policy: Callable) -> OnlineScorer:
    """The shipped rules, enforcing, on a store with batch's evidence."""
    return OnlineScorer(_store_with_evidence(tmp_path / "data"), write_policy({}))


def test_an_attack_without_a_second_source_is_own_attack_whatever_its_volume(
    tmp_path: Path,
) -> None:
    cache = VerdictCache.load(_store_with_evidence(tmp_path / "d"))
    for own in ("solo-1", "heavy-1"):
        v = cache.account(own)
        assert v.verdict == OWN_ATTACK, own
        assert v.reasons.startswith("own evidence only: batch's attack names no second source")
    for linked in SECOND_SOURCE:
        assert cache.account(linked).verdict == "attack", linked
    s = cache.summary()
    assert (s["own_attacks"], s["attack_accounts"]) == (2, 6)
    assert {"solo-1", "heavy-1"} <= cache.batch_attacks  # batch's verdict, for confirmation
    # a store that does not say who is linked (no evidence table): the verdicts stand
    bare = VerdictCache.load(make_store(tmp_path / "bare"))
    assert bare.own_only is None and bare.summary()["own_attacks"] == 0


def test_an_own_attack_challenges_until_passed_then_every_answer_is_degraded_silently(
    scorer: OnlineScorer, record: Rec
) -> None:
    s = scorer
    d = s.score(record(0, account="heavy-1", text=HARVEST))
    assert (d.action, d.rule) == ("challenge", "own-attack-challenge")
    assert any("own evidence only" in r for r in d.reasons), d.reasons
    assert s.precheck("heavy-1").action == "challenge"  # the gateway's fast path agrees
    assert s.actions.active() == []  # request scope: nothing outlives batch's verdict
    out = s.challenge_passed("heavy-1", actor="gateway", method="sms")
    assert out["verified_id"] > 0
    assert s.precheck("heavy-1").action not in ("block", "challenge")
    for i, text in ((1, HARVEST), (2, None)):  # a harvest request and a plain one alike
        d = s.score(record(i, account="heavy-1", text=text))
        assert (d.action, d.rule, d.params.get("silent")) == (
            "degrade", "own-attack-account", True
        ), d
    audit = list(AuditLog(s.data_dir / "audit.jsonl").entries("heavy-1"))
    assert [e["action"] for e in audit] == ["challenge", "challenge_passed", "degrade"]
    assert audit[0]["rule"] == "own-attack-challenge"
    assert audit[1]["actor"] == "gateway" and audit[1]["extra"]["method"] == "sms"


def test_an_attack_with_a_second_source_still_blocks(scorer: OnlineScorer, record: Rec) -> None:
    for i, acct in enumerate(SECOND_SOURCE):
        d = scorer.score(record(i, account=acct))
        assert (d.action, d.rule) == ("block", "known-attack-account"), acct
        assert scorer.precheck(acct).action == "block"
    scorer.challenge_passed("vendor-1", actor="gateway", method="sms")  # a pass lifts no block
    assert scorer.score(record(9, account="vendor-1")).action == "block"


def test_the_challenge_flags_the_accounts_keys_as_a_block_does(
    scorer: OnlineScorer, record: Rec
) -> None:
    """Its successors on the same card inherit: the challenge is evidence, like a block."""
    card = {"payment_fingerprint": "pf_card_9"}
    assert scorer.score(record(0, account="solo-1", text=HARVEST, **card)).action == "challenge"
    fresh = scorer.linked.index.observe(
        {"account_id": "fresh-1", "ts_ms": T0 + 5_000, **card}
    )
    assert fresh.flagged >= 1 and fresh.sender_risk > 0


def test_an_unconfirmed_own_attack_waits_at_review(scorer: OnlineScorer, record: Rec) -> None:
    """The milder hold wins: an own attack the previous run did not give acts as a review."""

    def set_verdict(verdict: str, risk: float = 0.96) -> None:
        con = duckdb.connect(str(scorer.data_dir / "store.duckdb"))
        con.execute(
            "UPDATE out_accounts SET verdict = ?, risk = ? WHERE account_id = 'heavy-1'",
            [verdict, risk],
        )
        con.close()
        scorer.reload_results()

    set_verdict("benign")
    set_verdict("attack")
    v = scorer.cache.account("heavy-1")
    assert v.verdict == "review" and v.reasons.startswith("unconfirmed: ")
    assert scorer.score(record(0, account="heavy-1", text=HARVEST)).action not in (
        "block", "challenge"
    )
    set_verdict("attack", 0.98)  # a new run agrees: own-attack, challenged, never blocked
    assert scorer.cache.account("heavy-1").verdict == OWN_ATTACK
    d = scorer.score(record(1, account="heavy-1", text=HARVEST))
    assert (d.action, d.rule) == ("challenge", "own-attack-challenge")


def test_a_gateway_clears_the_challenge_over_http(
    scorer: OnlineScorer, serve: Callable, record: Rec
) -> None:
    """What a challenged caller sees (403 verification_required), and the admin call that
    clears it; the account's answers are then served, degraded silently (no marker)."""
    api, admin = {"Authorization": "Bearer api-t"}, {"Authorization": "Bearer admin-t"}
    check = {**api, "X-Account-Id": "solo-1"}
    body = {"model": "frontier-1", "messages": [{"role": "user", "content": HARVEST}]}
    with (
        serve(create_app(scorer, "api-t", "admin-t")) as srv,
        httpx.Client(base_url=srv.url, timeout=10) as c,
    ):
        r = c.post("/v1/check", json=body, headers=check)
        assert r.status_code == 403 and r.headers["x-distillguard-action"] == "challenge"
        passed = {"account_id": "solo-1", "method": "sms", "actor": "verify-svc"}
        assert c.post("/v1/admin/challenge/passed", json=passed, headers=api).status_code == 403
        ok = c.post("/v1/admin/challenge/passed", json=passed, headers=admin)
        assert ok.status_code == 200 and ok.json()["verified_id"] > 0
        r = c.post("/v1/check", json=body, headers=check)
        assert r.status_code == 200, r.text
        d = c.post(
            "/v1/score?sync=true", json=record(5, account="solo-1", text=HARVEST), headers=api
        ).json()
        assert (d["action"], d["rule"], d["params"]["silent"]) == (
            "degrade", "own-attack-account", True
        )
    audit = [e["action"] for e in AuditLog(scorer.data_dir / "audit.jsonl").entries("solo-1")]
    assert audit[:2] == ["challenge", "challenge_passed"] and "degrade" in audit
