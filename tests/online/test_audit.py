"""The hash-chained audit log: append, read, verify, detect tampering, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.online.audit import GENESIS_HASH, AuditLog, entry_hash


def _fill(path: Path, n: int = 5) -> AuditLog:
    log = AuditLog(path)
    for i in range(n):
        log.append(
            "block",
            "account",
            f"a{i % 2}",
            actor="policy",
            reason=f"rule r{i}",
            evidence=[{"source": "signal:cot", "weight": 0.8, "summary": "x", "refs": []}],
            rule=f"r{i}",
            policy_version="v1",
            extra={"i": i},
        )
    return log


def test_append_returns_chained_entries(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    e1 = log.append("challenge", "account", "a1", actor="policy", reason="high risk")
    e2 = log.append("reverse", "account", "a1", actor="analyst", reason="appeal upheld")
    assert (e1["seq"], e2["seq"]) == (1, 2)
    assert e1["prev_hash"] == GENESIS_HASH and e2["prev_hash"] == e1["hash"]
    assert e2["hash"] == entry_hash(e1["hash"], e2)
    assert log.verify().ok and log.verify().n_entries == 2
    assert len(log) == 2


def test_entries_filter_and_limit(tmp_path: Path) -> None:
    log = _fill(tmp_path / "audit.jsonl", 6)
    assert [e["seq"] for e in log.entries("a1")] == [2, 4, 6]
    assert [e["seq"] for e in log.entries(limit=2)] == [5, 6]
    assert log.entries(limit=0) == []


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "truncate_json"])
def test_tampering_is_detected(tmp_path: Path, tamper: str) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 5)
    lines = path.read_text().splitlines()
    if tamper == "edit":  # change the reason of entry 3, keep its stored hash
        e = json.loads(lines[2])
        e["reason"] = "nothing to see"
        lines[2] = json.dumps(e, sort_keys=True, separators=(",", ":"))
        bad = 3
    elif tamper == "delete":
        del lines[1]
        bad = 2
    elif tamper == "reorder":
        lines[3], lines[4] = lines[4], lines[3]
        bad = 4
    else:
        lines[4] = lines[4][:20]
        bad = 5
    path.write_text("\n".join(lines) + "\n")
    res = AuditLog(path).verify()
    assert not res.ok
    assert res.first_bad_seq == bad
    assert res.n_entries == bad - 1


def test_rehashing_an_edit_still_breaks_the_next_link(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 4)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[1]["reason"] = "forged"
    lines[1]["hash"] = entry_hash(lines[1]["prev_hash"], lines[1])  # forger recomputes entry 2
    path.write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    res = AuditLog(path).verify()
    assert not res.ok and res.first_bad_seq == 3


def _writer(path: str, who: str, n: int) -> None:
    log = AuditLog(Path(path))
    for i in range(n):
        log.append("log", "account", who, actor=who, reason=f"{i}")


def test_two_processes_append_without_forking_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 40)) for w in ("p1", "p2")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    res = AuditLog(path).verify()
    assert res.ok, res.message
    assert res.n_entries == 80
    assert {e["actor"] for e in AuditLog(path).entries()} == {"p1", "p2"}


def test_cli_audit_verify_exit_codes(tmp_path: Path) -> None:
    from distillguard.cli import app

    _fill(tmp_path / "audit.jsonl", 3)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--data", str(tmp_path)])
    assert ok.exit_code == 0 and "chain intact (3 entries)" in ok.output
    text = (tmp_path / "audit.jsonl").read_text().replace('"rule r1"', '"rule rX"')
    (tmp_path / "audit.jsonl").write_text(text)
    bad = runner.invoke(app, ["audit", "verify", "--data", str(tmp_path)])
    assert bad.exit_code == 1 and "TAMPERED" in bad.output and "entry 2" in bad.output
