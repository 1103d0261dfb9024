"""``distillguard detect``: exit codes and one-line messages for bad arguments."""

from __future__ import annotations

import json

import pytest

from distillguard.cli import main


def _run(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.err + captured.out


def _log(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_text(json.dumps({
        "request_id": "r1", "ts": 1_714_564_800_000, "account_id": "a", "model": "m",
        "messages": [{"role": "user", "content": "hi"}]}) + "\n")
    return p


def test_missing_input_path(tmp_path, capsys):
    code, msg = _run(["detect", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "input not found" in msg and "Traceback" not in msg


def test_out_is_a_file(tmp_path, capsys):
    (tmp_path / "o").write_text("x")
    code, msg = _run(["detect", str(_log(tmp_path)), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "is a file, not a folder" in msg


def test_store_is_a_file(tmp_path, capsys):
    (tmp_path / "s").write_text("x")
    code, msg = _run(["detect", str(_log(tmp_path)), "--out", str(tmp_path / "o"),
                      "--store", str(tmp_path / "s")], capsys)
    assert code == 2 and "--store" in msg


def test_missing_account_table(tmp_path, capsys):
    code, msg = _run(["detect", str(_log(tmp_path)), "--out", str(tmp_path / "o"),
                      "--accounts", str(tmp_path / "acc.csv")], capsys)
    assert code == 2 and "account table not found" in msg


def test_bad_policy_file(tmp_path, capsys):
    pol = tmp_path / "p.yaml"
    pol.write_text("nonsense_section: {a: 1}\n")
    code, msg = _run(["detect", str(_log(tmp_path)), "--out", str(tmp_path / "o"),
                      "--policy", str(pol)], capsys)
    assert code == 2 and "unknown policy section" in msg


def test_master_without_spark_and_unknown_engine(tmp_path, capsys):
    code, msg = _run(["detect", str(_log(tmp_path)), "--out", str(tmp_path / "o"),
                      "--master", "local[2]"], capsys)
    assert code == 2 and "--master only applies" in msg
    code, _ = _run(["detect", str(_log(tmp_path)), "--out", str(tmp_path / "o"),
                    "--engine", "flink"], capsys)
    assert code == 2  # usage error from the option parser


def test_missing_out_option_is_a_usage_error(tmp_path, capsys):
    code, msg = _run(["detect", str(_log(tmp_path))], capsys)
    assert code == 2 and "--out" in msg


def test_bad_memory_limit(tmp_path, capsys):
    code, msg = _run(["detect", str(_log(tmp_path)), "--out", str(tmp_path / "o"),
                      "--store", str(tmp_path / "s"), "--memory-limit", "huge"], capsys)
    assert code == 2 and "memory_limit" in msg


def test_spark_engine_without_java_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    code, msg = _run(["detect", str(_log(tmp_path)), "--out", str(tmp_path / "o"),
                      "--engine", "spark"], capsys)
    assert code == 2 and "needs a Java runtime" in msg and "Traceback" not in msg


def test_detect_prints_the_summary_table(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    rows = [json.dumps({
        "request_id": f"r{i}", "ts": 1_714_564_800_000 + i * 60_000, "account_id": f"a{i % 3}",
        "model": "m", "messages": [{"role": "user", "content": f"What is {i} squared?"}]})
        for i in range(30)]
    log.write_text("\n".join(rows + ["{broken"]) + "\n")
    main_args = ["detect", str(log), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s"),
                 "--no-progress"]
    try:
        main(main_args)
    except SystemExit as exc:  # typer may exit 0 explicitly
        assert not exc.code
    out = capsys.readouterr().out
    assert "requests accepted" in out and "30" in out and "invalid_json 1" in out
    assert str(tmp_path / "o") in out.replace("\n", "")
    assert (tmp_path / "o" / "accounts.csv").read_text().count("\n") == 4  # header + 3 accounts
