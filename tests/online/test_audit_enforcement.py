"""The audit log and enforcement together: an action and its entry commit together or not at
all, and a damaged audit tail stops neither /v1/score nor appeals (issue 13, item 3)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from distillguard.errors import InvalidInputError
from distillguard.online.actions import ActionStore
from distillguard.online.audit import AuditLog
from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

Rec = Callable[..., dict[str, Any]]
RULES = [
    {
        "name": "bad-cluster",
        "when": {"cluster_verdict": "attack"},
        "action": "block",
        "scope": "account",
    }
]
HA = {"Authorization": "Bearer admin"}
H = {"Authorization": "Bearer api"}


def action_rows(data: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(data / "actions.sqlite") as con:
        return con.execute("SELECT id, subject_id, action FROM actions ORDER BY id").fetchall()


def audited_action_ids(data: Path) -> set[int]:
    return {
        e["extra"]["action_id"]
        for e in AuditLog(data / "audit.jsonl").entries()
        if "action_id" in e["extra"] and e["action"] != "reverse"
    }


class BrokenAudit(AuditLog):
    def append(self, *args: Any, **kw: Any) -> dict:
        raise OSError("disk full")


def test_an_action_is_not_kept_when_its_audit_entry_cannot_be_written(tmp_path: Path) -> None:
    store = ActionStore(tmp_path / "actions.sqlite", BrokenAudit(tmp_path / "audit.jsonl"))
    with pytest.raises(OSError, match="disk full"):
        store.apply("account", "a1", "block", actor="analyst", reason="confirmed")
    assert store.active() == [] and action_rows(tmp_path) == []
    good = ActionStore(tmp_path / "actions.sqlite", AuditLog(tmp_path / "audit.jsonl"))
    aid = good.apply("account", "a1", "block", actor="analyst", reason="confirmed")
    store.audit = BrokenAudit(tmp_path / "audit.jsonl")
    with pytest.raises(OSError):
        store.reverse(aid, actor="analyst", reason="appeal")
    assert [a["id"] for a in good.active("a1")] == [aid]  # the reversal was rolled back
    with pytest.raises(OSError):
        store.label("a1", "attack", actor="analyst")
    assert store.labels() == []


def test_a_scorer_whose_audit_fails_still_blocks_but_keeps_no_unaudited_row(
    store_dir: Path, write_policy: Callable, record: Rec
) -> None:
    scorer = OnlineScorer(store_dir, write_policy({"rules": RULES}))
    scorer.actions.audit = BrokenAudit(store_dir / "audit.jsonl")
    d = scorer.score(record(0, "hydra-1"))
    assert d.action == "block" and d.action_id is None
    assert action_rows(store_dir) == []
    assert scorer.metrics.value("distillguard_audit_errors_total", reason="OSError") == 1
    scorer.close()


def test_a_half_written_audit_line_stops_neither_scoring_nor_appeals(
    store_dir: Path, write_policy: Callable, record: Rec, serve: Callable
) -> None:
    scorer = OnlineScorer(store_dir, write_policy({"rules": RULES}))
    scorer.audit.append("log", "account", "x", actor="test", reason="before the crash")
    with open(store_dir / "audit.jsonl", "ab") as fh:
        fh.write(b'{"seq":2,"action":"blo')  # a writer died mid-line
    with serve(create_app(scorer, "api", "admin")) as srv, httpx.Client(base_url=srv.url) as c:
        for i in range(3):
            r = c.post("/v1/score?sync=true", json=record(i, "hydra-1"), headers=H)
            assert r.status_code == 200 and r.json()["action"] == "block"
        r = c.post("/v1/admin/appeal", json={"account_id": "hydra-1", "reason": "lab"}, headers=HA)
        assert r.status_code == 200 and r.json()["allow_action_id"] is not None
        assert c.get("/v1/admin/audit/verify", headers=HA).json()["ok"]
    rows = action_rows(store_dir)
    assert {a for _, _, a in rows} == {"block", "allow"}
    assert {i for i, _, _ in rows} == audited_action_ids(store_dir)  # every row has its entry
    kinds = [e["action"] for e in AuditLog(store_dir / "audit.jsonl").entries()]
    assert kinds[:3] == ["log", "audit_repair", "block"] and "reverse" in kinds
    assert scorer.metrics.value("distillguard_audit_alerts_total", kind="audit_repair") == 1
    scorer.close()


def test_a_missing_key_file_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISTILLGUARD_AUDIT_KEY_FILE", str(tmp_path / "nope.key"))
    with pytest.raises(InvalidInputError, match="does not exist"):
        AuditLog(tmp_path / "audit.jsonl").append("log", "account", "a", "x", "y")
    res = AuditLog(tmp_path / "audit.jsonl").verify()
    assert not res.ok
