"""``detect postgresql://…/db?table=LiteLLM_SpendLogs`` against a real PostgreSQL server that
this test starts (Debian's ``postgresql`` package, installed by scripts/install-system-deps.sh),
with the table created from LiteLLM's own schema.prisma."""

from __future__ import annotations

import datetime as dt
import getpass
import glob
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_samples import litellm_spendlogs, rec_for_tests

from distillguard.cli import main

psycopg = pytest.importorskip("psycopg", reason="pip install 'distillguard[postgres]'")

# Prisma's PostgreSQL column types (prisma.io/docs/orm/reference/prisma-schema-reference).
PRISMA_TYPES = {"String": "TEXT", "Int": "INTEGER", "BigInt": "BIGINT", "Float": "DOUBLE PRECISION",
                "Boolean": "BOOLEAN", "DateTime": "TIMESTAMP(3)", "Json": "JSONB"}


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    path = found[-1] if found else shutil.which("initdb")
    return Path(path).parent if path else None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; the Debian package creates the ``postgres`` user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (scripts/install-system-deps.sh installs it)")
    root = Path(tempfile.mkdtemp(prefix="dg-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = root / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    user = "postgres" if os.geteuid() == 0 else getpass.getuser()
    subprocess.run(_as_postgres_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                                      "-U", user, "--no-sync"]), check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -F"
    subprocess.run(_as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w",
                                      "-l", str(root / "log"), "start"]), check=True,
                   capture_output=True)
    try:
        with psycopg.connect(f"postgresql://{user}@127.0.0.1:{port}/postgres",
                             autocommit=True) as con:
            con.execute("CREATE DATABASE litellm")
        yield f"postgresql://{user}@127.0.0.1:{port}/litellm"
    finally:
        subprocess.run(_as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-m",
                                          "immediate", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def spendlogs_ddl() -> str:
    """CREATE TABLE for LiteLLM_SpendLogs from LiteLLM's own schema.prisma (installed)."""
    spec = importlib.util.find_spec("litellm")  # located, not imported (imports are slow)
    if spec is None or spec.origin is None:
        pytest.skip("the gateway extra (litellm) ships LiteLLM's schema.prisma")
    schema = Path(spec.origin).parent / "proxy" / "schema.prisma"
    block = re.search(r"model LiteLLM_SpendLogs \{(.*?)\n\}", schema.read_text(), re.S).group(1)
    cols = []
    for line in block.splitlines():
        m = re.match(r"\s+(\w+)\s+(\w+)(\??)\s*(.*)", line)
        if not m or line.strip().startswith("@@"):
            continue
        name, typ, opt, rest = m.groups()
        mapped = re.search(r'@map\("(\w+)"\)', rest)
        col = f'"{mapped.group(1) if mapped else name}" {PRISMA_TYPES[typ]}'
        if "@id" in rest:
            col += " PRIMARY KEY"
        elif not opt:
            col += " NOT NULL"
        default = re.search(r"@default\s*\((.*?)\)\s*(//|$|@)", rest)
        if default:
            value = default.group(1)
            col += " DEFAULT CURRENT_TIMESTAMP" if value == "now(" else (
                f" DEFAULT {value}" if not value.startswith('"') else
                f" DEFAULT '{value.strip(chr(34))}'")
        cols.append(col)
    return f'CREATE TABLE "LiteLLM_SpendLogs" ({", ".join(cols)})'


def insert(url: str, rows: list[dict]) -> None:
    with psycopg.connect(url, autocommit=True) as con:
        cols = [c for c in rows[0] if c != "proxy_server_request"]
        sql = (f'INSERT INTO "LiteLLM_SpendLogs" ({", ".join(chr(34) + c + chr(34) for c in cols)})'
               f' VALUES ({", ".join(["%s"] * len(cols))})')
        for r in rows:
            vals = []
            for c in cols:
                v = r[c]
                if c in ("startTime", "endTime"):
                    v = dt.datetime.fromisoformat(v)
                vals.append(v)
            con.execute(sql, vals)


def row(i: int, ts_ms: int) -> dict:
    r = rec_for_tests(i)
    r["ts"] = ts_ms
    r["account_id"] = f"acct-{i % 3}"
    return litellm_spendlogs(r)[0]


def _detect(url: str, tmp_path: Path, capsys) -> tuple[int, str, dict]:
    with pytest.raises(SystemExit) as exc:
        main(["detect", f"{url}?table=LiteLLM_SpendLogs", "--out", str(tmp_path / "out"),
              "--store", str(tmp_path / "store"), "--no-progress", "--workers", "1"])
    cap = capsys.readouterr()
    return (int(exc.value.code or 0), cap.err + cap.out,
            json.loads((tmp_path / "out" / "summary.json").read_text()))


def test_spendlogs_table_read_incrementally(pg_url, tmp_path, capsys):
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(spendlogs_ddl())
    base = 1_714_564_800_000
    insert(pg_url, [row(i, base + i * 60_000) for i in range(30)])

    code, msg, s = _detect(pg_url, tmp_path, capsys)
    assert code == 0, msg
    assert s["formats"] == {"litellm_spendlogs": 1}
    assert s["counts"]["requests_accepted"] == 30 and s["counts"]["requests_quarantined"] == 0
    assert s["counts"]["ts_assumed_tz"] == 30  # timestamp(3) has no zone: read as UTC

    # New rows: one sharing the last row's startTime with a smaller id, one written late
    # with a startTime before the last one read (LiteLLM writes spend logs in batches).
    late = [row(100 + i, base + (29 + i) * 60_000) for i in range(9)]
    late.append(row(200, base + 27 * 60_000 + 30_000))
    insert(pg_url, late)
    code, msg, s = _detect(pg_url, tmp_path, capsys)
    assert code == 0, msg
    assert s["counts"]["requests_accepted"] == 10
    assert s["counts"]["requests_in_store"] == 40
    assert s["counts"]["requests_quarantined"] == 0

    # Nothing new: the last export is skipped as read, the store is scored again.
    code, msg, s = _detect(pg_url, tmp_path, capsys)
    assert code == 0, msg
    assert s["counts"]["requests_accepted"] == 0 and s["counts"]["files_skipped"] == 1
    assert s["counts"]["requests_in_store"] == 40


def test_missing_table_parameter_and_unreachable_server(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["detect", "postgresql://u:secret@127.0.0.1:1/db", "--out", str(tmp_path / "o"),
              "--store", str(tmp_path / "s"), "--no-progress"])
    assert exc.value.code == 2 and "?table=NAME" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["detect", "postgresql://u:secret@127.0.0.1:1/db?table=LiteLLM_SpendLogs",
              "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s"), "--no-progress"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "cannot read" in err and "secret" not in err
