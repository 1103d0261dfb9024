"""The online scorer: every action and scope, shadow mode, allow-lists, expiry, known clusters."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from distillguard.online.normalize import RecordError
from distillguard.online.scorer import OnlineScorer

from .conftest import HARVEST

Rec = Callable[..., dict[str, Any]]
HARVEST_RULE = {"sig_cot": {">=": 0.5}}


def scorer_with(
    tmp_path: Path, write_policy: Callable, rules: list[dict], **online: Any
) -> OnlineScorer:
    return OnlineScorer(tmp_path / "data", write_policy({"rules": rules, **online}))


@pytest.mark.parametrize("action", ["log", "degrade", "challenge", "block"])
def test_request_scope_actions_apply_to_that_request_only(
    tmp_path: Path, write_policy: Callable, record: Rec, action: str
) -> None:
    s = scorer_with(
        tmp_path,
        write_policy,
        [{"name": "harvest", "when": HARVEST_RULE, "action": action, "scope": "request"}],
    )
    d = s.score(record(0, text=HARVEST))
    assert (d.action, d.rule, d.scope) == (action, "harvest", "request")
    assert d.risk > 0.3 and d.reasons
    assert s.score(record(1)).action == "allow"  # a benign request of the same account
    assert s.actions.active() == []  # nothing persisted
    entry = s.audit.entries()[-1]
    assert (entry["action"], entry["rule"], entry["subject_id"]) == (action, "harvest", "acct-1")
    assert entry["policy_version"] == s.policy.version and entry["evidence"]
    assert all("Think step by step" not in str(e) for e in entry["evidence"])  # no prompt text


@pytest.mark.parametrize("action", ["degrade", "challenge", "block"])
def test_account_scope_persists_with_expiry(
    tmp_path: Path, write_policy: Callable, record: Rec, action: str
) -> None:
    s = scorer_with(
        tmp_path,
        write_policy,
        [
            {
                "name": "harvest",
                "when": HARVEST_RULE,
                "action": action,
                "scope": "account",
                "expires_s": 0.5,
            }
        ],
    )
    first = s.score(record(0, text=HARVEST))
    assert first.action == action and first.action_id is not None
    later = s.score(record(1))  # benign text, but the account carries the action
    assert later.action == action and later.action_id == first.action_id
    assert later.reasons[0].startswith(f"active {action} on account")
    assert s.precheck("acct-1").action == action  # the O(1) path sees it too
    assert s.score(record(2, account="other")).action == "allow"
    assert len(s.actions.active("acct-1")) == 1
    time.sleep(0.6)
    s.refresh_actions(force=True)
    assert s.score(record(3)).action == "allow"  # expired


def test_cluster_scope_reaches_every_member_at_once(
    store_dir: Path, write_policy: Callable, record: Rec
) -> None:
    s = OnlineScorer(
        store_dir,
        write_policy(
            {
                "rules": [
                    {
                        "name": "bad-cluster",
                        "when": {"cluster_verdict": "attack"},
                        "action": "block",
                        "scope": "cluster",
                    }
                ]
            }
        ),
    )
    # hydra-2 is only 'review' itself, but its cluster c-7 is an attack cluster: known at once.
    d = s.precheck("hydra-2")
    assert (d.action, d.scope, d.cluster_id) == ("block", "cluster", "c-7")
    assert [(a["subject_kind"], a["subject_id"]) for a in s.actions.active()] == [
        ("cluster", "c-7")
    ]
    assert s.score(record(0, account="hydra-1")).action == "block"
    assert s.score(record(0, account="good-1")).action == "allow"
    assert len(s.actions.active()) == 1  # one cluster action, not one per member


def test_rate_limit_token_bucket_per_account_and_cluster(
    store_dir: Path, write_policy: Callable, record: Rec
) -> None:
    s = OnlineScorer(
        store_dir,
        write_policy(
            {
                "rules": [
                    {
                        "name": "rl-acct",
                        "when": {"verdict": "review", "in_cluster": False},
                        "action": "rate_limit",
                        "scope": "account",
                        "rate_per_s": 0.01,
                        "burst": 2,
                    },
                    {
                        "name": "rl-cluster",
                        "when": {"cluster_verdict": "attack"},
                        "action": "rate_limit",
                        "scope": "cluster",
                        "rate_per_s": 0.01,
                        "burst": 3,
                    },
                ]
            }
        ),
    )
    got = [s.score(record(i, account="rev-1")).action for i in range(4)]
    assert got == ["allow", "allow", "rate_limit", "rate_limit"]
    d = s.score(record(9, account="rev-1"))
    assert d.retry_after_s == pytest.approx(100.0) and d.rule.startswith("action:")
    # One bucket shared by both members of cluster c-7.
    members = [
        s.score(record(i, account=a)).action
        for i, a in enumerate(["hydra-1", "hydra-2", "hydra-1", "hydra-2", "hydra-1"])
    ]
    assert members == ["allow", "allow", "allow", "rate_limit", "rate_limit"]


def test_shadow_mode_records_but_never_enforces(
    tmp_path: Path, write_policy: Callable, record: Rec
) -> None:
    s = scorer_with(
        tmp_path,
        write_policy,
        [{"name": "harvest", "when": HARVEST_RULE, "action": "block", "scope": "account"}],
        shadow=True,
    )
    d = s.score(record(0, text=HARVEST))
    assert (d.action, d.would_action, d.shadow) == ("allow", "block", True)
    assert s.actions.active() == []
    e = s.audit.entries()[-1]
    assert e["action"] == "shadow:block" and e["extra"]["shadow"] is True
    assert (
        s.metrics.value(
            "distillguard_actions_total", action="block", scope="account", shadow="true"
        )
        == 1
    )
    # The CLI's --shadow overrides a policy without shadow.
    s2 = OnlineScorer(
        tmp_path / "d2",
        write_policy(
            {"rules": [{"name": "harvest", "when": HARVEST_RULE, "action": "block"}]}, "p2.yaml"
        ),
        shadow=True,
    )
    assert s2.score(record(0, text=HARVEST)).action == "allow"


def test_allow_lists_override_everything(
    store_dir: Path, write_policy: Callable, record: Rec
) -> None:
    s = OnlineScorer(
        store_dir,
        write_policy(
            {
                "allow_accounts": ["hydra-1"],
                "allow_orgs": ["org-ok"],
                "rules": [{"name": "b", "when": {"sig_cot": {">=": 0.5}}, "action": "block"}],
            }
        ),
    )
    assert s.score(record(0, account="hydra-1", text=HARVEST)).rule == "allow-list"
    # an org from a trusted org source (the table has no x): a plain claim is no such source
    assert s.score(record(0, account="x", text=HARVEST, org_id="org-ok")).action == "block"
    rec = record(1, account="x", text=HARVEST, org_id="org-ok")
    assert s.score(rec, org_trusted=True).action == "allow"
    assert s.score(record(0, account="y", text=HARVEST)).action == "block"
    s.actions.allow("y", actor="sales", reason="verified")
    s.refresh_actions(force=True)
    assert s.score(record(1, account="y", text=HARVEST)).action == "allow"


def test_appeal_reverses_and_is_audited(
    tmp_path: Path, write_policy: Callable, record: Rec
) -> None:
    s = scorer_with(
        tmp_path,
        write_policy,
        [{"name": "harvest", "when": HARVEST_RULE, "action": "challenge", "scope": "account"}],
    )
    assert s.score(record(0, text=HARVEST)).action == "challenge"
    out = s.appeal("acct-1", actor="ana", reason="student, verified")
    assert len(out["reversed"]) == 1 and out["allow_action_id"]
    assert s.score(record(1, text=HARVEST)).action == "allow"
    actions = [e["action"] for e in s.audit.entries("acct-1")]
    assert actions[-2:] == ["reverse", "allow"] and s.audit.verify().ok


def test_online_state_scores_a_harvester_and_acts_once_a_sender_link_agrees(
    tmp_path: Path, record: Rec
) -> None:
    s = OnlineScorer(tmp_path / "data", shadow=False)  # default rules, no batch results

    def harvest(i: int, acct: str) -> dict:
        ip = f"203.0.113.{i % 20}"
        return record(i, account=acct, text=HARVEST, ip=ip, payment_fingerprint="pf-x")

    decisions = [s.score(harvest(i, "h")) for i in range(40)]
    # No batch results and no population yet (cold start): the hand-set weights score the
    # account (online/risk.py). Its own traffic is one source: alone, nothing is restricted.
    assert all(d.action in ("allow", "log") for d in decisions)
    risk = s.account_risk("h")
    assert risk is not None and risk.reference == "hand-set" and risk.risk >= 0.35
    # A second organisation on its card carries the job on: its harvest requests are degraded.
    second = [s.score(harvest(40 + i, "h2")).action for i in range(10)]
    assert second[-1] == "degrade"
    # A person: irregular gaps, different questions, one address.
    rng = random.Random(4)
    topics = [
        "gardening",
        "a cover letter",
        "tax forms",
        "a birthday poem",
        "pasta sauce",
        "learning Spanish",
        "a bike repair",
        "moving house",
    ]
    benign, t = [], 0
    for _ in range(40):
        t += rng.randint(30, 4000)
        text = f"hi! could you help me with {rng.choice(topics)}? {'thanks' * rng.randint(0, 2)}"
        benign.append(s.score(record(t, account="b", text=text)).action)
    assert set(benign) <= {"allow", "log"}


def test_assess_is_fast_and_learns_in_the_background(
    tmp_path: Path, write_policy: Callable, record: Rec
) -> None:
    s = scorer_with(
        tmp_path,
        write_policy,
        [{"name": "harvest", "when": HARVEST_RULE, "action": "block", "scope": "account"}],
    )
    d = s.assess(record(0, text=HARVEST))
    assert d.action == "allow" and d.source == "precheck"  # not featurized yet
    assert s.learner().wait_idle(10)
    full = s.full_decision("acct-1-r0")
    assert full is not None and full.action == "block"
    assert s.assess(record(1)).action == "block"  # the persisted action, O(1)
    with pytest.raises(RecordError, match="messages: required field is missing"):
        s.assess({"request_id": "x", "ts": 1767225600000, "account_id": "a", "model": "m"})
    s.close()
