"""The audit log: HMAC chain, signed checkpoints, truncation, damaged tails and repair, key
rotation, concurrent writers, and the CLI's exit codes."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.online.audit import GENESIS_HASH, AuditKeyring, AuditLog, entry_hash


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
    key = (tmp_path / "audit.key").read_text().strip().encode()
    assert e2["hash"] == entry_hash(e1["hash"], e2, key)
    assert (tmp_path / "audit.key").stat().st_mode & 0o777 == 0o600
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


def test_without_the_key_a_rewritten_chain_does_not_verify(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 4)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[1]["reason"] = "forged"
    prev = lines[0]["hash"]
    for e in lines[1:]:  # the forger recomputes every hash after the edit, without the key
        e["prev_hash"] = prev
        e["hash"] = prev = entry_hash(e["prev_hash"], e, b"guessed key")
    path.write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    res = AuditLog(path).verify()
    assert not res.ok and res.first_bad_seq == 2 and "hash mismatch" in res.message


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
    assert bad.exit_code == 1 and "FAILED" in bad.output and "entry 2" in bad.output


@pytest.mark.parametrize("cut", ["last line", "last 1000 lines", "everything"])
def test_truncation_is_caught_by_the_checkpoint(tmp_path: Path, cut: str) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 1200)
    lines = path.read_text().splitlines(keepends=True)
    keep = {"last line": lines[:-1], "last 1000 lines": lines[:-1000], "everything": []}[cut]
    path.write_text("".join(keep))
    res = AuditLog(path).verify()
    assert not res.ok and "truncated" in res.message and "counted 1200" in res.message


@pytest.mark.parametrize("missing", ["log", "folder", "key", "checkpoints"])
def test_verify_exits_1_when_something_is_missing(tmp_path: Path, missing: str) -> None:
    from distillguard.cli import app

    data = tmp_path / "data"
    _fill(data / "audit.jsonl", 3)
    target = {
        "log": data / "audit.jsonl",
        "key": data / "audit.key",
        "checkpoints": data / "audit-checkpoints.jsonl",
    }.get(missing)
    if target is None:
        data = tmp_path / "nowhere"
    else:
        target.unlink()
    res = CliRunner().invoke(app, ["audit", "verify", "--data", str(data)])
    assert res.exit_code == 1 and "FAILED" in res.output
    assert not (data / "audit.key").exists() or missing != "key"  # verify never creates a key


def test_an_exported_checkpoint_catches_a_rewritten_checkpoint_file(tmp_path: Path) -> None:
    from distillguard.cli import app

    path = tmp_path / "audit.jsonl"
    _fill(path, 5)
    exported = tmp_path / "head.json"
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["audit", "checkpoint", "--data", str(tmp_path), "--out", str(exported)]
        ).exit_code
        == 0
    )
    assert json.loads(exported.read_text())["count"] == 5
    # Someone removes the last two entries and the checkpoints that mention them.
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))
    cps = tmp_path / "audit-checkpoints.jsonl"
    cps.write_text("".join(cps.read_text().splitlines(keepends=True)[:3]))
    assert AuditLog(path).verify().ok  # the local checkpoint file was rewritten too...
    res = runner.invoke(
        app, ["audit", "verify", "--data", str(tmp_path), "--checkpoint", str(exported)]
    )
    assert res.exit_code == 1 and "truncated" in res.output  # ...the exported one was not
    forged = {**json.loads(exported.read_text()), "count": 3}
    assert "signature" in AuditLog(path).verify(checkpoint=forged).message


def test_a_half_written_last_line_is_moved_aside_and_appends_go_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    alerts: list[tuple[str, dict]] = []
    _fill(path, 3)
    with open(path, "ab") as fh:
        fh.write(b'{"seq":4,"ts":17000,"action":"blo')  # the writer died mid-line
    log = AuditLog(path, on_alert=lambda kind, d: alerts.append((kind, d)))
    e = log.append("block", "account", "a9", actor="policy", reason="still enforced")
    assert e["seq"] == 5 and [k for k, _ in alerts] == ["audit_repair"]
    repair = log.entries()[3]
    assert repair["action"] == "audit_repair" and repair["extra"]["after_seq"] == 3
    side = tmp_path / repair["extra"]["set_aside"]
    assert side.read_bytes() == b'{"seq":4,"ts":17000,"action":"blo'
    res = log.verify()
    assert res.ok and "1 repair(s) at [4]" in res.message


def test_damaging_a_checkpointed_entry_is_recorded_as_a_gap(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 3)
    text = path.read_bytes()
    path.write_bytes(text[: len(text) - 30])  # entry 3 (already checkpointed) cut short
    alerts: list[str] = []
    log = AuditLog(path, on_alert=lambda kind, d: alerts.append(kind))
    log.append("block", "account", "a9", actor="policy", reason="still enforced")
    assert alerts == ["audit_repair", "audit_gap"]
    res = log.verify()
    assert not res.ok and "audit_gap" in res.message


def test_cli_repair_moves_a_damaged_tail_aside(tmp_path: Path) -> None:
    from distillguard.cli import app

    path = tmp_path / "audit.jsonl"
    _fill(path, 3)
    with open(path, "ab") as fh:
        fh.write(b"\x00\x00garbage")
    runner = CliRunner()
    assert runner.invoke(app, ["audit", "verify", "--data", str(tmp_path)]).exit_code == 1
    res = runner.invoke(app, ["audit", "repair", "--data", str(tmp_path)])
    assert res.exit_code == 0 and "ALERT: moved 9 damaged bytes after entry 3" in res.output
    assert runner.invoke(app, ["audit", "verify", "--data", str(tmp_path)]).exit_code == 0
    again = runner.invoke(app, ["audit", "repair", "--data", str(tmp_path)])
    assert again.exit_code == 0 and "nothing to repair" in again.output


def test_key_rotation_keeps_old_entries_verifiable(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    old, new = b"o" * 32, b"n" * 32
    AuditLog(path, keyring=AuditKeyring.from_keys([old])).append("log", "account", "a", "x", "1")
    rotated = AuditKeyring.from_keys([new, old])  # new key first, the old one kept to verify
    AuditLog(path, keyring=rotated).append("log", "account", "a", "x", "2")
    assert AuditLog(path, keyring=rotated).verify().ok
    assert not AuditLog(path, keyring=AuditKeyring.from_keys([new])).verify().ok
    # an entry signed with the retired key after the new one is refused
    AuditLog(path, keyring=AuditKeyring.from_keys([old, new])).append(
        "log", "account", "a", "x", "3"
    )
    res = AuditLog(path, keyring=rotated).verify()
    assert not res.ok and "retired key" in res.message
