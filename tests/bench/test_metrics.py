"""Metrics against values computed by hand on small label/score tables."""

from __future__ import annotations

import csv
import gzip
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.bench.metrics import (
    account_metrics,
    cluster_purity,
    early_detection,
    load_accounts,
    mixed_request_metrics,
    mixed_requests,
    recall_at_fpr,
)
from distillguard.errors import InvalidInputError

BENIGN_RISK = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9]
ATTACK_RISK = [0.95, 0.9, 0.5, 0.05]


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture()
def tables(tmp_path: Path) -> tuple[Path, Path]:
    """10 benign (b0–b4 regular, b5–b9 eval_runner), campaign A = a0–a2, campaign B = a3."""
    labels = [[f"b{i}", 0, "", "regular" if i < 5 else "eval_runner"] for i in range(10)]
    labels += [["a0", 1, "A", "attacker"], ["a1", 1, "A", "attacker"]]
    labels += [["a2", 1, "A", "attacker"], ["a3", 1, "B", "attacker"]]
    verdict_b = ["benign"] * 8 + ["review", "attack"]
    clusters_b = ["k1"] + [""] * 9
    out = [[f"b{i}", BENIGN_RISK[i], verdict_b[i], clusters_b[i], ""] for i in range(10)]
    out += [
        ["a0", 0.95, "attack", "k1", "x"],
        ["a1", 0.9, "attack", "k1", "x"],
        ["a2", 0.5, "review", "k2", "x"],
        ["a3", 0.05, "benign", "k3", ""],
    ]
    lab = _write_csv(
        tmp_path / "labels.csv", ["account_id", "is_attack", "campaign_id", "persona"], labels
    )
    acc = _write_csv(
        tmp_path / "accounts.csv", ["account_id", "risk", "verdict", "cluster_id", "reasons"], out
    )
    return acc, lab


def test_recall_at_fpr_ties_are_conservative() -> None:
    y = np.array([0] * 10 + [1] * 4, dtype=bool)
    r = np.array(BENIGN_RISK + ATTACK_RISK)
    # k = floor(0.1 * 10) = 1 benign may pass: threshold = 2nd highest benign = 0.9; the
    # attack account tied at 0.9 is not counted, so only 0.95 is found.
    res = recall_at_fpr(y, r, 0.1)
    assert res["threshold"] == pytest.approx(0.9)
    assert res["recall"] == pytest.approx(0.25)
    assert res["fpr"] == 0.0
    # k = 2: threshold = 0.8; 0.95 and 0.9 pass; both benign 0.9s pass too (FPR 20%).
    res = recall_at_fpr(y, r, 0.2)
    assert res["threshold"] == pytest.approx(0.8)
    assert res["recall"] == pytest.approx(0.5)
    assert res["fpr"] == pytest.approx(0.2)
    # 0.1% of 10 accounts allows none: strictly above the top benign score.
    assert recall_at_fpr(y, r, 0.001)["recall"] == pytest.approx(0.25)


def test_recall_at_fpr_all_benign_tied_flags_nothing_tied() -> None:
    y = np.array([0, 0, 0, 1, 1], dtype=bool)
    r = np.array([0.5, 0.5, 0.5, 0.5, 0.7])
    res = recall_at_fpr(y, r, 0.5)  # k = 1, threshold = 0.5
    assert res["recall"] == pytest.approx(0.5)
    assert res["fpr"] == 0.0


def test_account_metrics_hand_computed(tables: tuple[Path, Path]) -> None:
    acc, lab = tables
    m = account_metrics(load_accounts(acc, lab))
    assert m["n_accounts"] == 14 and m["n_attack_accounts"] == 4 and m["n_missing"] == 0
    # AUC by hand: a0 beats 10, a1 beats 8 and ties 2 (9), a2 beats 4 and ties 1 (4.5),
    # a3 beats none: 23.5 / 40.
    assert m["roc_auc"] == pytest.approx(23.5 / 40)
    assert 0 < m["pr_auc"] <= 1
    assert m["attack_precision"] == pytest.approx(2 / 3)
    assert m["attack_recall"] == pytest.approx(0.5)
    assert m["attack_fpr"] == pytest.approx(0.1)
    assert m["flag_recall"] == pytest.approx(0.75)
    assert m["flag_fpr"] == pytest.approx(0.2)
    assert m["recall_at_fpr_1%"]["recall"] == pytest.approx(0.25)
    ev = m["personas"]["eval_runner"]
    assert ev == {"n": 5, "attack_fpr": pytest.approx(0.2), "flag_fpr": pytest.approx(0.4)}
    assert m["personas"]["regular"]["attack_fpr"] == 0.0
    a, b = m["campaigns"]["A"], m["campaigns"]["B"]
    assert a["n"] == 3
    assert a["found_attack"] == pytest.approx(2 / 3) and a["found_flagged"] == 1.0
    # k1 = {a0, a1, b0}: purity 2/3 for a0, a1; k2 = {a2}: purity 1.
    assert a["in_pure_clusters"] == pytest.approx(1 / 3)
    assert a["mean_purity"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert b == {
        "n": 1,
        "found_attack": 0.0,
        "found_flagged": 0.0,
        "in_pure_clusters": 1.0,
        "clustered": 1.0,
        "mean_purity": 1.0,
    }


def test_missing_accounts_count_as_benign_zero(tmp_path: Path, tables: tuple[Path, Path]) -> None:
    acc, lab = tables
    rows = list(csv.reader(open(acc)))
    short = _write_csv(tmp_path / "short.csv", rows[0], [r for r in rows[1:] if r[0] != "a0"])
    t = load_accounts(short, lab)
    assert t.n_missing == 1
    i = list(t.account_id).index("a0")
    assert t.risk[i] == 0.0 and t.verdict[i] == "benign"


def test_load_accounts_rejects_non_contract_output(
    tmp_path: Path, tables: tuple[Path, Path]
) -> None:
    _, lab = tables
    bad = _write_csv(tmp_path / "bad.csv", ["account_id", "score"], [["a0", 1]])
    with pytest.raises(InvalidInputError, match="risk"):
        load_accounts(bad, lab)


def test_cluster_purity() -> None:
    pur = cluster_purity(
        np.array(["c1", "c1", "c1", "c1", "", "c2"], dtype=object),
        np.array(["A", "A", "A", "", "A", "B"], dtype=object),
    )
    assert pur[:4].tolist() == pytest.approx([0.75, 0.75, 0.75, 0.25])
    assert math.isnan(pur[4]) and pur[5] == 1.0


def test_mixed_account_request_metrics(tmp_path: Path) -> None:
    # m1 mixes harvest (r1, r2) and genuine (r3, r4); p1 is pure attack, b1 pure benign.
    recs = [("r1", "m1", 1), ("r2", "m1", 1), ("r3", "m1", 0), ("r4", "m1", 0)]
    recs += [("r5", "p1", 1), ("r6", "b1", 0)]
    with gzip.open(tmp_path / "requests.jsonl.gz", "wt") as fh:
        for i, (rid, acc, _) in enumerate(recs):
            msg = [{"role": "user", "content": f"prompt {i}"}]
            fh.write(
                json.dumps(
                    {
                        "request_id": rid,
                        "ts": 1000 * i,
                        "account_id": acc,
                        "model": "m",
                        "messages": msg,
                    }
                )
                + "\n"
            )
    rl = _write_csv(
        tmp_path / "request_labels.csv",
        ["request_id", "is_attack", "campaign_id"],
        [[rid, att, "C" if att else ""] for rid, _, att in recs],
    )
    mixed = tmp_path / "mixed.parquet"
    info = mixed_requests(rl, [tmp_path / "requests.jsonl.gz"], mixed)
    assert info == {"n_mixed_accounts": 1, "n_requests": 4, "n_attack_requests": 2}
    # r2 is absent from requests.parquet (risk 0); r3 is a false harvest mark.
    pq.write_table(
        pa.table(
            {
                "request_id": ["r1", "r3", "r4", "r5"],
                "account_id": ["m1", "m1", "m1", "p1"],
                "risk": [0.9, 0.7, 0.2, 0.9],
                "signals": ["", "", "", ""],
            }
        ),
        tmp_path / "scores.parquet",
    )
    res = mixed_request_metrics(mixed, tmp_path / "scores.parquet")
    assert res["recall"] == pytest.approx(0.5)
    assert res["precision"] == pytest.approx(0.5)
    assert math.isnan(mixed_request_metrics(mixed, None)["recall"])


def test_early_detection(tables: tuple[Path, Path]) -> None:
    acc, lab = tables
    res = early_detection(load_accounts(acc, lab), active={"a0", "a3", "b1"})
    assert res["flagged_of_all"] == pytest.approx(0.75)
    assert res["n_active_campaign_accounts"] == 2
    assert res["flagged_of_active"] == pytest.approx(0.5)
    assert res["attack_of_active"] == pytest.approx(0.5)
