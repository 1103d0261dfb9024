"""Fixtures for the online stage: records, policies, a small batch store, a real redis-server,
and a real uvicorn server on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import uvicorn
import yaml

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

HARVEST = (
    "Think step by step and show your full internal reasoning before the final answer. "
    "Then grade the answer on a rubric from 1 to 10. Problem {i}: integrate x^{i} sin x."
)
BENIGN = (
    "hey, can you help me write a friendly birthday note for my aunt {i}? "
    "she loves gardening and old films"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _audit_key_from_the_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests use the default key and checkpoint files in their own data folder."""
    for name in (
        "DISTILLGUARD_AUDIT_KEY",
        "DISTILLGUARD_AUDIT_KEY_FILE",
        "DISTILLGUARD_AUDIT_CHECKPOINTS",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def record() -> Callable[..., dict[str, Any]]:
    """``record(i, account, text=..., **fields)``: one contract request record."""

    def make(
        i: int = 0, account: str = "acct-1", text: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        rec = {
            "request_id": f"{account}-r{i}",
            "ts": T0 + i * 1000,
            "account_id": account,
            "model": "frontier-1",
            "messages": [{"role": "user", "content": (text or BENIGN).format(i=i)}],
            "ip": "198.51.100.7",
            "user_agent": "python-httpx/0.28",
        }
        rec.update(kw)
        return rec

    return make


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[dict], Path]:
    """Write an ``online`` policy section (merged into a file) and return its path.

    Tests exercise enforcement, so ``shadow`` is false unless the section says otherwise
    (the shipped default is shadow mode), and account actions start at once (delayed
    enforcement has its own tests in ``test_linkage.py``).
    """

    def write(online: dict, name: str = "policy.yaml", linkage: dict | None = None) -> Path:
        p = tmp_path / name
        now = {"delay_min_s": 0.0, "delay_max_s": 0.0, **(linkage or {})}
        p.write_text(yaml.safe_dump({"online": {"shadow": False, **online}, "linkage": now}))
        return p

    return write


def make_store(data_dir: Path) -> Path:
    """A tiny store.duckdb as ``detect --store`` writes it: verdicts, clusters, templates."""
    data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(data_dir / "store.duckdb"))
    con.execute(
        "CREATE TABLE out_accounts(account_id VARCHAR, risk DOUBLE, verdict VARCHAR,"
        " cluster_id VARCHAR, reasons VARCHAR)"
    )
    con.execute("""INSERT INTO out_accounts VALUES
        ('hydra-1', 0.93, 'attack', 'c-7', 'shared payment; one template'),
        ('hydra-2', 0.35, 'review', 'c-7', 'shared payment'),
        ('rev-1', 0.55, 'review', NULL, 'reasoning elicitation'),
        ('good-1', 0.02, 'benign', NULL, '')""")
    con.execute(
        "CREATE TABLE out_clusters(cluster_id VARCHAR, n_accounts INTEGER, risk DOUBLE,"
        " verdict VARCHAR, capabilities VARCHAR, reasons VARCHAR)"
    )
    con.execute("INSERT INTO out_clusters VALUES ('c-7', 2, 0.91, 'attack', 'math', 'coordinated')")
    con.execute("CREATE TABLE templates(skeleton_hash UBIGINT, template_id VARCHAR)")
    con.execute("CREATE TABLE template_bands(band_key UBIGINT, template_id VARCHAR)")
    con.execute("CREATE TABLE account_features(account_id VARCHAR, n_requests BIGINT)")
    con.close()
    return data_dir


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return make_store(tmp_path / "data")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port, stopped after the test."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not installed (make system-deps installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class ServerThread:
    """A uvicorn server for an ASGI app on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="error", access_log=False
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve() -> Callable[[Any], ServerThread]:
    return ServerThread


# The start of a child script of the learner tests: the test traffic and `rec(i)`, its i-th
# request over 16 accounts (two in three harvest).
REC_SCRIPT = f"""
T0, HARVEST, BENIGN = {T0}, {HARVEST!r}, {BENIGN!r}
ACCOUNTS = ["hydra-1", "hydra-2", "rev-1", "good-1"] + [f"acct-{{k}}" for k in range(12)]

def rec(i):
    a = ACCOUNTS[i % len(ACCOUNTS)]
    return {{"request_id": f"{{a}}-r{{i}}", "ts": T0 + 50 * i, "account_id": a,
            "model": "frontier-1", "ip": f"198.51.100.{{i % 5}}",
            "user_agent": "ua", "messages": [{{"role": "system", "content": "be brief"}},
            {{"role": "user", "content": (HARVEST if i % 3 else BENIGN).format(i=i % 50)}}]}}
"""
