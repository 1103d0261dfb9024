"""Canary facts: issued per account, found again in a suspect model's outputs."""

from __future__ import annotations

import json

import pytest

from distillguard.cli import main
from distillguard.countermeasures.canary import CanaryIssuer, chance_probability, check_canaries

KEY = b"canary-test-key-000001"


def test_issue_and_check(tmp_path):
    reg = tmp_path / "canaries.jsonl"
    issuer = CanaryIssuer(KEY, reg)
    answers = [issuer.embed(f"Answer {i}.", f"acct-{i % 3}") for i in range(9)]
    codes = [json.loads(line)["code"] for line in reg.read_text().splitlines()]
    assert len(set(codes)) == 9 and all(f"DG-{c}" in a for c, a in zip(codes, answers, strict=True))
    suspect = ["The student says: " + answers[2], "no canary here DG-2222-2222", answers[7]]
    res = check_canaries(suspect, reg)
    assert [r["code"] for r in res["reproduced"]] == [codes[2], codes[7]]
    assert {r["account_id"] for r in res["reproduced"]} == {"acct-2", "acct-1"}
    assert res["p_chance"] < 1e-20
    assert check_canaries(["nothing"], reg)["p_chance"] == 1.0


def test_chance_probability_grows_with_candidates():
    assert chance_probability(1, 10, 100) < chance_probability(1, 10_000, 100) < 1e-6


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


def test_canary_check_cli(tmp_path, capsys):
    issuer = CanaryIssuer(KEY, tmp_path / "data" / "canaries.jsonl")
    planted = issuer.embed("The integral is x sin x.", "acct-9")
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text(json.dumps({"text": "student: " + planted}) + "\n")
    code, msg = _run(["canary", "check", str(outputs), "--data", str(tmp_path / "data")], capsys)
    assert code == 0 and "1 of 1 issued canaries reproduced" in msg and "acct-9" in msg
    code, msg = _run(["canary", "check", str(tmp_path / "none.jsonl"), "--data",
                      str(tmp_path / "data")], capsys)
    assert code == 2 and "outputs not found" in msg
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    code, msg = _run(["canary", "check", str(bad), "--data", str(tmp_path / "data")], capsys)
    assert code == 2 and "bad.jsonl:1 is not JSON" in msg
