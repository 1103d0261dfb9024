"""A batch ``attack`` on the account's own few requests alone is one source: online it degrades
the account's harvest-like requests silently and never denies; with a second source in batch's
store (an attack cluster, a link, enough requests) it blocks as before (issue 16)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from distillguard.online.audit import AuditLog
from distillguard.online.scorer import OnlineScorer
from distillguard.online.verdicts import THIN_ATTACK, VerdictCache, evidence_volume

from .conftest import HARVEST, make_store

Rec = Callable[..., dict[str, Any]]


def _store_with_facts(data_dir: Path) -> Path:
    """``make_store`` plus what ``detect --store`` writes beside the verdicts: request counts
    and the evidence table. solo-1: 5 requests, no link (thin); vendor-1: the same with a
    sender link; heavy-1: 40 requests, no link; hydra-1: in attack cluster c-7."""
    make_store(data_dir)
    con = duckdb.connect(str(data_dir / "store.duckdb"))
    con.execute("""INSERT INTO out_accounts VALUES
        ('solo-1', 0.97, 'attack', NULL, '100% of 5 requests carry harvest signals'),
        ('vendor-1', 0.95, 'attack', NULL, 'linked by payment card to cluster c-7'),
        ('heavy-1', 0.96, 'attack', NULL, '80% of 40 requests carry harvest signals')""")
    con.execute("""INSERT INTO account_features VALUES
        ('hydra-1', 3), ('solo-1', 5), ('vendor-1', 5), ('heavy-1', 40), ('good-1', 4)""")
    con.execute(
        "CREATE TABLE evidence(subject_kind VARCHAR, subject_id VARCHAR, source VARCHAR,"
        " weight DOUBLE, summary VARCHAR, refs VARCHAR[])"
    )
    con.execute("""INSERT INTO evidence VALUES
        ('account', 'solo-1', 'account:harvest_content', 0.6, 'harvest', []),
        ('account', 'vendor-1', 'account:sender_link', 0.05, 'card', []),
        ('account', 'heavy-1', 'account:harvest_content', 0.7, 'harvest', [])""")
    con.close()
    return data_dir


@pytest.fixture
def scorer(tmp_path: Path, write_policy: Callable) -> OnlineScorer:
    """The shipped rules, enforcing, on a store with batch's facts."""
    return OnlineScorer(_store_with_facts(tmp_path / "data"), write_policy({}))


def test_the_evidence_volume_comes_from_the_attack_line() -> None:
    # Wilson: n / (n + z^2) >= p at z = Phi^-1(p)  <=>  n >= z^2 p / (1 - p)
    assert evidence_volume(0.9) == 15
    assert evidence_volume(0.95) > evidence_volume(0.9) > evidence_volume(0.8)


def test_only_an_attack_without_a_second_source_is_thin(tmp_path: Path) -> None:
    cache = VerdictCache.load(_store_with_facts(tmp_path / "d"))
    assert cache.account("solo-1").verdict == THIN_ATTACK
    assert cache.account("solo-1").reasons.startswith(
        "one source: batch's attack rests on this account's own 5 requests (a deny needs 15"
    )
    for linked in ("vendor-1", "heavy-1", "hydra-1"):  # a link, the volume, a campaign
        assert cache.account(linked).verdict == "attack", linked
    assert cache.summary()["thin_attacks"] == 1
    assert "solo-1" in cache.batch_attacks  # batch's own verdict, as confirmation reads it
    # a store that does not say who is linked (no evidence table): the verdicts stand
    assert VerdictCache.load(make_store(tmp_path / "bare")).thin == 0


def test_a_thin_attack_degrades_harvest_silently_and_never_denies(
    scorer: OnlineScorer, record: Rec
) -> None:
    s = scorer
    d = s.score(record(0, account="solo-1", text=HARVEST))
    assert (d.action, d.rule, d.params.get("silent")) == ("degrade", "thin-attack-account", True)
    assert any("one source: batch's attack rests" in r for r in d.reasons), d.reasons
    plain = s.score(record(1, account="solo-1"))  # a birthday note: nothing to distil
    assert plain.action in ("allow", "log"), plain.rule
    assert s.precheck("solo-1").action not in ("block", "challenge")
    assert s.actions.active() == []  # request scope: nothing outlives batch's verdict
    audit = [e for e in AuditLog(s.data_dir / "audit.jsonl").entries("solo-1")]
    assert [e["action"] for e in audit] == ["degrade"]
    assert audit[0]["rule"] == "thin-attack-account"
    assert "one source" in audit[0]["reason"] + str(audit[0]["evidence"])


def test_an_attack_with_a_second_source_still_blocks(scorer: OnlineScorer, record: Rec) -> None:
    for i, acct in enumerate(("vendor-1", "heavy-1", "hydra-1")):
        d = scorer.score(record(i, account=acct))
        assert (d.action, d.rule) == ("block", "known-attack-account"), acct
        assert scorer.precheck(acct).action == "block"


def test_an_unconfirmed_thin_attack_waits_at_review(scorer: OnlineScorer, record: Rec) -> None:
    """The milder hold wins: a thin attack the previous run did not give acts as a review."""
    con = duckdb.connect(str(scorer.data_dir / "store.duckdb"))
    con.execute("UPDATE out_accounts SET verdict = 'benign' WHERE account_id = 'solo-1'")
    con.close()
    scorer.reload_results()
    con = duckdb.connect(str(scorer.data_dir / "store.duckdb"))
    con.execute("UPDATE out_accounts SET verdict = 'attack' WHERE account_id = 'solo-1'")
    con.close()
    assert scorer.reload_results()["unconfirmed_attacks"] == 1
    v = scorer.cache.account("solo-1")
    assert v.verdict == "review" and v.reasons.startswith("unconfirmed: ")
    assert scorer.score(record(0, account="solo-1", text=HARVEST)).action != "block"
    scorer.reload_results()  # the same results again is no second run
    con = duckdb.connect(str(scorer.data_dir / "store.duckdb"))
    con.execute("UPDATE out_accounts SET risk = 0.98 WHERE account_id = 'solo-1'")
    con.close()
    scorer.reload_results()  # a new run agrees: thin again, degraded, still no deny
    assert scorer.cache.account("solo-1").verdict == THIN_ATTACK
    d = scorer.score(record(1, account="solo-1", text=HARVEST))
    assert (d.action, d.rule) == ("degrade", "thin-attack-account")
