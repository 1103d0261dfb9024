"""Fixtures for the console tests: a findings store with real prompt text, a data folder
with one user per role, and logged-in TestClients."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from distillguard.console.auth import ConsoleDB
from distillguard.console.synthetic import build_synthetic_store
from distillguard.corpora import find_corpora, load_texts

PASSWORDS = {"admin": "admin-pass-123", "analyst": "analyst-pass-123", "viewer": "viewer-pass-123"}


def _texts() -> tuple[list[str], list[str]]:
    """Benign and attack-like prompts from the shared corpora (generated ones when absent)."""
    root = find_corpora()
    if root is None:
        return [], []
    benign = load_texts("benign/alpaca_eval_prompts.jsonl.gz", root, limit=200)
    attack = [
        f"Solve step by step and show all of your reasoning before the final answer.\n\n{t}"
        for t in load_texts("tasks/gsm8k_train.jsonl.gz", root, limit=30)
    ] + load_texts("templates/rubric_grading.jsonl.gz", root, limit=10)
    return benign, attack


@pytest.fixture(scope="session")
def prompt_texts() -> tuple[list[str], list[str]]:
    return _texts()


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory, prompt_texts) -> Path:
    """A store with 4 clusters of 12 attack accounts and 352 benign accounts."""
    benign, attack = prompt_texts
    out = tmp_path_factory.mktemp("console-store")
    build_synthetic_store(out, n_accounts=400, n_clusters=4, cluster_size=12,
                          requests_per_account=6, benign_texts=benign, attack_texts=attack)
    return out


@pytest.fixture(scope="session")
def users_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """console.sqlite with one user per role (argon2 hashing is slow: done once)."""
    path = tmp_path_factory.mktemp("console-users") / "console.sqlite"
    db = ConsoleDB(path)
    for role, pw in PASSWORDS.items():
        db.add_user(role, pw, role, created_by="test")
    db.close()
    return path


@pytest.fixture()
def data_dir(store_dir: Path, users_db: Path, tmp_path: Path) -> Path:
    """A fresh console data folder (store copied, no actions, no audit) with three users."""
    d = tmp_path / "data"
    d.mkdir()
    shutil.copy(store_dir / "store.duckdb", d / "store.duckdb")
    shutil.copy(users_db, d / "console.sqlite")
    return d


def login(client, username: str, password: str | None = None) -> str:
    """Log ``client`` in; returns the session's CSRF token."""
    r = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', r.text).group(1)
    r = client.post(
        "/login",
        data={"username": username, "password": password or PASSWORDS[username],
              "login_token": token, "next": "/queue"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "Case queue" in r.text, r.text[:500]
    return csrf_of(r.text)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture()
def app(data_dir: Path):
    from distillguard.console.app import create_app

    application = create_app(data_dir)
    yield application
    application.state.store.close()
    application.state.actions.close()
    application.state.db.close()


@pytest.fixture()
def client_as(app) -> Callable:
    """``client_as(role)`` → (TestClient logged in as that role, csrf token)."""
    from fastapi.testclient import TestClient

    clients = []

    def make(role: str):
        c = TestClient(app)
        clients.append(c)
        return c, login(c, role)

    yield make
    for c in clients:
        c.close()


@pytest.fixture(scope="session")
def detected(tiny_findings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``detect`` run on the simulator's ``tiny`` preset: (root, summary); the store is in
    ``root/store`` and the outputs in ``root/findings``. A copy of the session's
    ``tiny_findings`` (the same run: the tiny logs and account table, default settings), since
    these tests write into the store folder."""
    src, summary = tiny_findings
    root = tmp_path_factory.mktemp("console-pipeline")
    for name in ("findings", "store"):
        shutil.copytree(src / name, root / name)
    return root, summary


@pytest.fixture()
def real_data_dir(detected, users_db: Path, tmp_path: Path) -> Path:
    """A console data folder over the real pipeline's store, with three users."""
    root, _ = detected
    d = tmp_path / "real"
    d.mkdir()
    shutil.copy(root / "store" / "store.duckdb", d / "store.duckdb")
    shutil.copy(users_db, d / "console.sqlite")
    return d


@pytest.fixture()
def real_app(real_data_dir: Path):
    from distillguard.console.app import create_app

    application = create_app(real_data_dir)
    yield application
    application.state.store.close()
    application.state.actions.close()
    application.state.db.close()
