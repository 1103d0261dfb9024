"""End to end on the simulator's ``tiny`` preset (real corpora text when present): ingest with
the real text signals and templates, then ``analyze``."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from distillguard import contract
from distillguard.scoring import analyze

HARD_BENIGN = (
    "eval_runner",
    "agentic_power_user",
    "enterprise_batch",
    "university_class",
    "app_platform",
)


@pytest.fixture(scope="module")
def detected(tiny_data, tmp_path_factory):
    from distillguard.ingest.store import Store
    from distillguard.signals.templates import TemplateIndex

    store = Store(tmp_path_factory.mktemp("store"))
    logs = sorted(p for p in tiny_data.iterdir() if p.name.startswith("requests"))
    store.ingest(logs, accounts=tiny_data / "accounts.csv")
    TemplateIndex(store.con).update()
    from distillguard.engines.base import DuckDBEngine

    engine = DuckDBEngine(store.con.cursor())
    findings = analyze(engine)
    labels = {r["account_id"]: r for r in csv.DictReader(open(tiny_data / "labels.csv"))}
    yield engine, findings, labels
    store.close()


def test_contract_on_simulated_logs(detected):
    engine, findings, labels = detected
    out = engine.fetch_arrow("SELECT * FROM out_accounts").to_pylist()
    assert (
        tuple(engine.fetch_arrow("SELECT * FROM out_accounts LIMIT 0").column_names)
        == contract.OUTPUT_ACCOUNT_COLUMNS
    )
    assert sorted(r["account_id"] for r in out) == sorted(
        engine.fetch_arrow("SELECT DISTINCT account_id FROM requests").column(0).to_pylist()
    )
    assert set(r["account_id"] for r in out) <= set(labels)
    assert findings.new_model is not None  # the simulator releases a model mid-period


def test_campaigns_rank_above_benign_and_hard_benign_not_attacked(detected):
    engine, _, labels = detected
    out = engine.fetch_arrow("SELECT account_id, risk, verdict FROM out_accounts").to_pylist()
    attack = np.array([r["risk"] for r in out if labels[r["account_id"]]["is_attack"] == "1"])
    benign = np.array([r["risk"] for r in out if labels[r["account_id"]]["is_attack"] == "0"])
    # At a 1% benign false-positive rate, most campaign accounts are already above the line.
    assert (attack > np.quantile(benign, 0.99)).mean() >= 0.8
    for r in out:
        if labels[r["account_id"]]["persona"] in HARD_BENIGN:
            assert r["verdict"] != "attack", labels[r["account_id"]]
