"""ActionStore: apply, aliases, expiry, reversal (appeal), allow-list, labels, audit trail."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.errors import InvalidParameterError
from distillguard.online.actions import ACTIONS, ActionStore
from distillguard.online.audit import AuditLog


@pytest.fixture
def store(tmp_path: Path) -> ActionStore:
    return ActionStore(tmp_path / "actions.sqlite", AuditLog(tmp_path / "audit.jsonl"))


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("scope", ["request", "account", "cluster"])
def test_every_action_and_scope_is_stored_and_audited(
    store: ActionStore, action: str, scope: str
) -> None:
    aid = store.apply(scope, "s-1", action, actor="analyst", reason="test", params={"k": 1})
    act = store.active("s-1")
    assert [(a["id"], a["action"], a["subject_kind"], a["params"]) for a in act] == [
        (aid, action, scope, {"k": 1})
    ]
    entry = store.audit.entries("s-1")[-1]
    assert (entry["action"], entry["subject_kind"], entry["extra"]["action_id"]) == (
        action,
        scope,
        aid,
    )


def test_suspend_is_block_and_unknowns_are_refused(store: ActionStore) -> None:
    store.apply("account", "a", "suspend", actor="analyst", reason="confirmed")
    assert store.active("a")[0]["action"] == "block"
    assert store.audit.entries("a")[-1]["extra"]["requested_action"] == "suspend"
    with pytest.raises(InvalidParameterError, match="action must be one of"):
        store.apply("account", "a", "nuke", actor="x", reason="y")
    with pytest.raises(InvalidParameterError, match="scope must be one of"):
        store.apply("org", "a", "block", actor="x", reason="y")
    with pytest.raises(InvalidParameterError, match="in the future"):
        store.apply("account", "a", "block", actor="x", reason="y", expires_at=time.time() - 1)


def test_expiry_and_reversal(store: ActionStore) -> None:
    short = store.apply(
        "account", "a", "rate_limit", actor="policy", reason="burst", expires_at=time.time() + 0.2
    )
    keep = store.apply("account", "a", "challenge", actor="policy", reason="risk")
    assert {a["id"] for a in store.active("a")} == {short, keep}
    time.sleep(0.25)
    assert [a["id"] for a in store.active("a")] == [keep]
    gen = store.generation()
    store.reverse(keep, actor="analyst", reason="appeal upheld")
    assert store.active("a") == [] and store.generation() > gen
    hist = {h["id"]: h["status"] for h in store.history("a")}
    assert hist == {short: "expired", keep: "reversed"}
    last = store.audit.entries("a")[-1]
    assert (last["action"], last["extra"]["reversed_action"], last["reason"]) == (
        "reverse",
        "challenge",
        "appeal upheld",
    )
    with pytest.raises(InvalidParameterError, match="already reversed"):
        store.reverse(keep, actor="analyst", reason="again")
    with pytest.raises(InvalidParameterError, match="no action"):
        store.reverse(9999, actor="analyst", reason="x")


def test_allow_list_and_labels(store: ActionStore) -> None:
    assert not store.is_allowed("cust")
    store.allow("cust", actor="sales", reason="verified enterprise")
    assert store.is_allowed("cust")
    store.label("cust", "benign", actor="analyst")
    store.label("cust", "attack", actor="analyst")
    assert [x["label"] for x in store.labels("cust")] == ["benign", "attack"]
    kinds = [(h["kind"], h["action"]) for h in store.history("cust")]
    assert kinds == [("action", "allow"), ("label", "label"), ("label", "label")]
    assert store.audit.verify().ok


def test_cli_appeal_reverses_and_allows(tmp_path: Path) -> None:
    from distillguard.cli import app

    store = ActionStore(tmp_path / "actions.sqlite", AuditLog(tmp_path / "audit.jsonl"))
    store.apply("account", "acct-9", "block", actor="policy", reason="rule")
    store.apply("account", "acct-9", "degrade", actor="policy", reason="rule")
    res = CliRunner().invoke(
        app,
        [
            "appeal",
            "acct-9",
            "--reason",
            "customer verified",
            "--data",
            str(tmp_path),
            "--actor",
            "ana",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "reversed 2 action(s)" in res.output
    assert [a["action"] for a in store.active("acct-9")] == ["allow"]
    acts = [e["action"] for e in AuditLog(tmp_path / "audit.jsonl").entries("acct-9")]
    assert acts == ["block", "degrade", "reverse", "reverse", "allow"]
