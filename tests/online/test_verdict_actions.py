"""How the service acts on batch verdicts with the default policy: in proportion to their
evidence, only while batch holds them, and never a deny below the model's population floor."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from distillguard.online.policy import compile_rules
from distillguard.online.scorer import OnlineScorer
from distillguard.online.verdicts import VerdictCache
from distillguard.policy import Policy
from distillguard.scoring.model import MIN_POPULATION
from distillguard.scoring.reference import DeploymentReference

from .conftest import HARVEST, make_store

Rec = Callable[..., dict[str, Any]]


def _publish_population(data_dir: Path, n_accounts: int) -> None:
    """The ``risk_reference`` a detect run writes, ranking ``n_accounts`` accounts."""
    ref = DeploymentReference.empty(4)
    ref.data["n_accounts"] = n_accounts
    con = duckdb.connect(str(data_dir / "store.duckdb"))
    con.execute("CREATE OR REPLACE TABLE risk_reference(reference VARCHAR)")
    con.execute("INSERT INTO risk_reference VALUES (?)", [ref.to_json()])
    con.close()


def _set_verdict(data_dir: Path, account: str, verdict: str) -> None:
    con = duckdb.connect(str(data_dir / "store.duckdb"))
    con.execute("UPDATE out_accounts SET verdict = ? WHERE account_id = ?", [verdict, account])
    con.close()


def test_attack_verdicts_are_held_to_review_below_the_population_floor(tmp_path: Path) -> None:
    d = make_store(tmp_path / "data")
    _publish_population(d, MIN_POPULATION - 1)
    cache = VerdictCache.load(d)
    assert cache.held and cache.summary()["held_to_review"]
    assert cache.account("hydra-1").verdict == "review"
    assert cache.account("hydra-1").reasons.startswith("held to review")
    assert cache.cluster("c-7").verdict == "review"
    assert cache.account("rev-1").verdict == "review"  # review and benign unchanged
    assert cache.account("good-1").verdict == "benign"


def test_attack_verdicts_stand_from_the_floor_on_or_without_a_published_population(
    tmp_path: Path,
) -> None:
    bare = VerdictCache.load(make_store(tmp_path / "bare"))  # no risk_reference: nothing to go by
    assert not bare.held and bare.account("hydra-1").verdict == "attack"
    d = make_store(tmp_path / "ranked")
    _publish_population(d, MIN_POPULATION)
    cache = VerdictCache.load(d)
    assert not cache.held
    assert cache.account("hydra-1").verdict == "attack"
    assert cache.cluster("c-7").verdict == "attack"


@pytest.fixture
def default_scorer(tmp_path: Path, write_policy: Callable) -> OnlineScorer:
    """The shipped rules, enforcing (``write_policy`` turns shadow off)."""
    return OnlineScorer(make_store(tmp_path / "data"), write_policy({}))


def test_an_attack_account_is_blocked_only_while_batch_holds_its_verdict(
    default_scorer: OnlineScorer, record: Rec
) -> None:
    s = default_scorer
    d = s.score(record(0, account="hydra-1"))
    assert (d.action, d.rule, d.scope) == ("block", "known-attack-account", "request")
    assert s.precheck("hydra-1").action == "block"  # the O(1) path too
    assert s.actions.active() == []  # nothing persisted beside the verdict cache
    _set_verdict(s.data_dir, "hydra-1", "benign")  # the next run takes it back
    s.reload_results()
    assert s.score(record(1, account="hydra-1")).action != "block"
    assert s.precheck("hydra-1").action == "allow"


def _matching(features: dict[str, Any]) -> list[tuple[str, str]]:
    """(rule, action) of every default rule the features match."""
    rules = compile_rules(Policy.load(None).online)
    base = {"harvest_like": False, "linked_sender_risk": 0.0, "verdict": "unknown",
            "cluster_verdict": "none"}
    return [(r.name, r.action) for r in rules if r.matches({**base, **features})]


def test_a_review_verdict_needs_a_sender_link_and_a_harvest_request_and_only_degrades() -> None:
    review = {"verdict": "review"}
    assert _matching({**review, "harvest_like": True}) == []  # one source: batch's model
    assert _matching({**review, "linked_sender_risk": 0.3}) == []  # nothing to distil
    assert _matching({**review, "harvest_like": True, "linked_sender_risk": 0.3}) == [
        ("batch-review", "degrade")
    ]


def test_an_attack_cluster_alone_degrades_its_members_harvest_requests() -> None:
    member = {"verdict": "review", "cluster_verdict": "attack"}
    assert _matching(member) == []
    assert _matching({**member, "harvest_like": True}) == [("known-attack-cluster", "degrade")]
    assert ("known-attack-account", "block") in _matching({"verdict": "attack"})


def test_review_and_a_cluster_verdict_alone_never_deny(
    default_scorer: OnlineScorer, record: Rec
) -> None:
    s = default_scorer
    # rev-1 is at review, unlinked; hydra-2 is at review in attack cluster c-7
    for acct, on_harvest in (("rev-1", {"allow", "log"}), ("hydra-2", {"degrade"})):
        assert s.score(record(0, account=acct)).action == "allow"  # a birthday note
        harvest = s.score(record(1, account=acct, text=HARVEST))
        assert harvest.action in on_harvest, (acct, harvest.rule)  # silently, never denied
        assert s.precheck(acct).action not in ("block", "challenge")
    assert s.actions.active() == []


def test_an_attack_template_is_wording_and_needs_a_sender_link() -> None:
    """Students' math questions share skeletons with a harvester's: the match alone acts on
    no one, even on a harvest-like request."""
    on_template = {"template_attack_share": 0.95, "harvest_like": True}
    assert _matching(on_template) == []
    assert _matching({**on_template, "linked_sender_risk": 0.3}) == [
        ("attack-template", "degrade")
    ]


def _reload_with(s: OnlineScorer, verdicts: dict[str, str]) -> dict[str, Any]:
    """The next batch run's verdicts on the store, then the service's reload."""
    for account, verdict in verdicts.items():
        _set_verdict(s.data_dir, account, verdict)
    return s.reload_results()


def test_a_new_attack_verdict_acts_as_a_review_until_the_next_run_agrees(
    default_scorer: OnlineScorer, record: Rec
) -> None:
    s = default_scorer
    # hydra-2 in attack cluster c-7, good-1 alone but on the same IP (a sender link)
    summary = _reload_with(s, {"hydra-2": "attack", "good-1": "attack"})
    assert summary["unconfirmed_attacks"] == 2
    assert s.cache.account("hydra-1").verdict == "attack"  # held by both loads: confirmed
    for i, acct in enumerate(("hydra-2", "good-1")):
        v = s.cache.account(acct)
        assert v.verdict == "review" and v.reasons.startswith("unconfirmed")
        d = s.score(record(10 + i, account=acct, text=HARVEST))
        assert (d.action, d.params.get("silent")) == ("degrade", True), d.rule
        assert s.score(record(15 + i, account=acct)).action in ("allow", "log")  # not harvest
        assert s.precheck(acct).action not in ("block", "challenge")
    assert s.score(record(20, account="hydra-1")).action == "block"
    # the next run agrees on hydra-2: it blocks as before; good-1's attack is gone: it lifts
    summary = _reload_with(s, {"good-1": "benign"})
    assert summary["unconfirmed_attacks"] == 0
    d = s.score(record(30, account="hydra-2"))
    assert (d.action, d.rule) == ("block", "known-attack-account")
    assert s.precheck("hydra-2").action == "block"
    assert s.cache.account("good-1").verdict == "benign"
    assert s.score(record(31, account="good-1")).action in ("allow", "log")
    # a run that takes hydra-2 back lifts the block at once, and an operator can reverse one
    _reload_with(s, {"hydra-2": "review"})
    assert s.score(record(40, account="hydra-2")).action != "block"
    s.actions.apply("account", "hydra-1", "allow", actor="analyst", reason="known customer")
    s.refresh_actions(force=True)
    assert s.score(record(41, account="hydra-1")).action == "allow"
    assert s.actions.active()[0]["action"] == "allow"  # only the operator's own action


def test_an_attack_flipping_between_runs_never_blocks(
    default_scorer: OnlineScorer, record: Rec
) -> None:
    s = default_scorer
    for i, verdict in enumerate(("attack", "benign", "attack", "benign")):
        _reload_with(s, {"good-1": verdict})
        assert s.score(record(i, account="good-1", text=HARVEST)).action != "block"
        assert s.precheck("good-1").action != "block"


def test_confirmation_is_a_policy_key_and_a_start_trusts_the_store(
    tmp_path: Path, write_policy: Callable, record: Rec
) -> None:
    off = OnlineScorer(make_store(tmp_path / "off"), write_policy({"confirm_attacks": False}))
    assert _reload_with(off, {"good-1": "attack"})["unconfirmed_attacks"] == 0
    assert off.score(record(0, account="good-1")).action == "block"  # as before the key
    # a restart: the first load has no history, so the store's attack verdicts stand
    on = OnlineScorer(make_store(tmp_path / "on"), write_policy({}, name="on.yaml"))
    assert on.score(record(0, account="hydra-1")).action == "block"
    # a start on an empty store remembers no attack: the first run's wait for the second
    empty = OnlineScorer(tmp_path / "empty", write_policy({}, name="empty.yaml"))
    make_store(empty.data_dir)
    assert empty.reload_results()["unconfirmed_attacks"] == 1
    assert empty.score(record(1, account="hydra-1")).action != "block"
    # reading the same results again is no second run: still waiting
    assert empty.reload_results()["unconfirmed_attacks"] == 1
    assert empty.score(record(2, account="hydra-1")).action != "block"
    assert _reload_with(empty, {"rev-1": "benign"})["unconfirmed_attacks"] == 0  # a new run
    assert empty.score(record(3, account="hydra-1")).action == "block"


def _restart_keeps_the_wait(
    first: Path, second: Path, policy: Path, record: Rec, state: str = "memory"
) -> None:
    """good-1's new attack waits for a second run, across a restart of the service (into
    ``second``: the same folder, or a replica's own with a copy of the store)."""
    s = OnlineScorer(make_store(first), policy, state=state)
    assert _reload_with(s, {"good-1": "attack"})["unconfirmed_attacks"] == 1
    assert s.score(record(0, account="good-1", text=HARVEST)).action != "block"
    if second != first:
        second.mkdir(parents=True, exist_ok=True)
        shutil.copy(first / "store.duckdb", second / "store.duckdb")
    s.actions.close()
    again = OnlineScorer(second, policy, state=state)  # the same run's results: still waiting
    assert again.cache.account("good-1").verdict == "review"
    assert again.cache.summary()["unconfirmed_attacks"] == 1
    assert again.score(record(1, account="good-1", text=HARVEST)).action != "block"
    assert again.score(record(2, account="hydra-1")).action == "block"  # confirmed stays
    # the next run agrees: it blocks; a run that came while the service was down is new
    assert _reload_with(again, {"rev-1": "benign"})["unconfirmed_attacks"] == 0
    assert again.score(record(3, account="good-1")).action == "block"
    _set_verdict(second, "rev-1", "attack")
    again.actions.close()
    third = OnlineScorer(second, policy, state=state)
    assert third.cache.account("rev-1").verdict == "review"  # new in the run: waits
    assert third.cache.account("good-1").verdict == "attack"  # the run before agreed


def test_a_restart_does_not_trust_its_first_load(
    tmp_path: Path, write_policy: Callable, record: Rec
) -> None:
    d = tmp_path / "data"
    _restart_keeps_the_wait(d, d, write_policy({}), record)


def test_replicas_share_the_history_in_redis(
    tmp_path: Path, write_policy: Callable, record: Rec, redis_url: str
) -> None:
    # a replica with its own folder (own SQLite) reads the history the first one kept in Redis
    _restart_keeps_the_wait(tmp_path / "a", tmp_path / "b", write_policy({}), record, redis_url)
