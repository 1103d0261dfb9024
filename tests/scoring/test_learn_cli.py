"""``distillguard learn`` as an operator runs it: on a detect store, with a labels CSV."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np

from distillguard.scoring.catalog import BY_NAME
from distillguard.scoring.model import BUILTIN, RiskModel, align

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _learn(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "distillguard", "learn", "--no-console", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _risk(model: RiskModel, store: Path, which: int = 0) -> dict[str, float]:
    """Each account's risk as verdicts read it (``which`` 0: under the review cap), or the
    adapter's own (1)."""
    con = duckdb.connect(str(store / "store.duckdb"), read_only=True)
    try:
        inputs = con.sql("SELECT * FROM model_inputs").to_arrow_table()
    finally:
        con.close()
    ids = inputs.column("account_id").to_pylist()
    risk = model.verdict_risk(align(inputs, model.names_), 0.9, ids)[which]
    return dict(zip(ids, risk.tolist(), strict=True))


def test_learn_adapts_on_a_labels_file_and_demotes_no_other_attacker(
    tiny_findings, tiny_data, tmp_path
):
    store, before, truth = _store_risk_truth(tiny_findings, tiny_data, tmp_path)
    attackers = sorted((a for a in before if truth[a]), key=lambda a: -before[a])
    benign = sorted((a for a in before if not truth[a]), key=lambda a: -before[a])
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["account_id", "label"])
        w.writerows([[a, "attack"] for a in attackers[:5]] + [[a, "benign"] for a in benign[:3]])
        w.writerow(["acct_not_in_this_store", "attack"])
    res = _learn("--store", str(store), "--labels", str(labels))
    assert res.returncode == 0, res.stderr
    assert "adapted on 5 attack and 3 benign accounts" in res.stdout
    assert "1 labels named accounts not in the store" in res.stdout
    adapted = RiskModel.load(store / "risk-model.json")
    assert adapted.manifest_["adapted_on"]["attack"] == 5
    after = _risk(adapted, store)
    rest = attackers[5:]
    assert rest and all(after[a] >= before[a] - 0.02 for a in rest)
    assert np.mean([after[a] for a in benign[:3]]) < np.mean([before[a] for a in benign[:3]])
    _check_changes(store, res.stdout, before, after, labelled=set(attackers[:5] + benign[:3]))


def test_learn_changes_say_what_moved_each_account(tiny_findings, tiny_data, tmp_path):
    """Dismissing the three attackers the model ranks lowest (an operator's mistake) moves other
    attackers' verdicts: each is listed with its change of log-odds split into the shift every
    account got and what its own evidence brought, adding up to the change."""
    store, before, truth = _store_risk_truth(tiny_findings, tiny_data, tmp_path)
    attackers = sorted((a for a in before if truth[a]), key=lambda a: before[a])
    labels = tmp_path / "labels.csv"
    rows = [f"{a},benign\n" for a in attackers[:3]] + [f"{attackers[-1]},attack\n"]
    labels.write_text("account_id,label\n" + "".join(rows))
    res = _learn("--store", str(store), "--labels", str(labels))
    assert res.returncode == 0, res.stderr
    after = _risk(RiskModel.load(store / "risk-model.json"), store)
    with open(store / "learn-changes.csv", newline="") as fh:
        moved = list(csv.DictReader(fh))
    assert moved and all(r["verdict_before"] == "attack" for r in moved)
    assert all(float(r["shift_log_odds"]) + float(r["evidence_log_odds"]) < 0 for r in moved)
    _check_changes(store, res.stdout, before, after, labelled={*attackers[:3], attackers[-1]})


def _store_risk_truth(tiny_findings, tiny_data, tmp_path) -> tuple[Path, dict, dict]:
    """A copy of the tiny store, the shipped model's risk per account, and who attacks."""
    root, _ = tiny_findings
    store = tmp_path / "store"
    shutil.copytree(root / "store", store)
    before = _risk(RiskModel.load(BUILTIN), store)
    with open(tiny_data / "labels.csv", newline="") as fh:
        truth = {r["account_id"]: r["is_attack"] == "1" for r in csv.DictReader(fh)}
    return store, before, truth


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _verdict(risk: float) -> str:
    return "attack" if risk >= 0.9 else "review" if risk >= 0.5 else "benign"


def _check_changes(store: Path, stdout: str, before: dict, after: dict, labelled: set) -> None:
    """learn-changes.csv lists exactly the unlabelled accounts whose verdict moved and those
    the review cap held at review (the adapter alone put them at attack)."""
    with open(store / "learn-changes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    adapted = _risk(RiskModel.load(store / "risk-model.json"), store, which=1)
    held = {a for a in after if adapted[a] >= 0.9 > after[a]}
    expected = {
        a
        for a in before
        if a not in labelled and (_verdict(before[a]) != _verdict(after[a]) or a in held)
    }
    assert {r["account_id"] for r in rows} == expected
    for r in rows:
        assert r["verdict_before"] == _verdict(before[r["account_id"]])
        assert r["verdict_after"] == _verdict(after[r["account_id"]])
        assert (r["capped"] != "") == (r["account_id"] in held)
        # the adapter's change of log-odds, split into the shift every account got and its
        # own evidence
        change = _logit(adapted[r["account_id"]]) - _logit(before[r["account_id"]])
        parts = float(r["shift_log_odds"]) + float(r["evidence_log_odds"])
        assert abs(parts - change) < 1e-3
        assert (r["top_evidence"] in BY_NAME) == (r["top_evidence"] != "")
    moved = sum(r["verdict_after"] != r["verdict_before"] for r in rows)
    newly = sum(r["verdict_after"] == "attack" != r["verdict_before"] for r in rows)
    assert f"moves {moved} verdicts: {newly} newly at attack" in stdout
    assert f"{len(held - labelled)} held at review" in stdout


def test_learn_rejects_a_bad_label_in_one_line(tiny_findings, tmp_path):
    root, _ = tiny_findings
    labels = tmp_path / "labels.csv"
    labels.write_text("account_id,label\nacct_x,maybe\n")
    res = _learn("--store", str(root / "store"), "--labels", str(labels))
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and ":2: label 'maybe' is neither attack nor benign" in lines[0]
    labels.write_text("account_id,label\nacct_x,attack\n")
    res = _learn("--store", str(tmp_path / "nowhere"), "--labels", str(labels))
    assert res.returncode != 0 and "is not a distillguard store" in res.stderr


def test_learn_changes_list_the_unlabelled_verdicts_that_move(tmp_path):
    from distillguard.scoring.learn import write_changes

    ids = ["a", "b", "c", "d", "e"]
    labels = np.array([1, -1, -1, -1, -1])
    before = np.array([0.95, 0.60, 0.92, 0.40, 0.70])
    after = np.array([0.99, 0.93, 0.85, 0.55, 0.75])
    counts = write_changes(tmp_path / "c.csv", ids, labels, before, after, (0.5, 0.9))
    with open(tmp_path / "c.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # most raised first; the labelled account and the one that stays at review are left out
    assert [r["account_id"] for r in rows] == ["b", "d", "c"]
    assert [(r["verdict_before"], r["verdict_after"]) for r in rows] == [
        ("review", "attack"),
        ("benign", "review"),
        ("attack", "review"),
    ]
    assert counts == {"newly_attack": 1, "left_attack": 1, "verdicts_moved": 3}
