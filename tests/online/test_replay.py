"""Replay: a labelled log through the online path in time order; time-to-detect and recall."""

from __future__ import annotations

import csv
import gzip
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.online.linkage import LinkSettings
from distillguard.online.replay import replay

from .conftest import HARVEST, T0

TOPICS = [
    "gardening",
    "a cover letter",
    "tax forms",
    "a poem",
    "pasta",
    "Spanish verbs",
    "a bike repair",
    "moving house",
    "a job interview",
    "my cat's diet",
]


def write_log(folder: Path, n_attack: int = 3, n_benign: int = 12, seed: int = 1) -> Path:
    """A campaign of harvesting accounts (regular timing, rotating IPs) among people."""
    rng = random.Random(seed)
    recs, labels = [], []
    for a in range(n_attack):
        acct = f"harvest-{a}"
        labels.append((acct, 1, "camp-1", "reasoning_harvest"))
        for i in range(60):
            recs.append(
                {
                    "request_id": f"{acct}-{i}",
                    "ts": T0 + i * 20_000 + a * 7000,
                    "account_id": acct,
                    "model": "m",
                    "ip": f"203.0.{a}.{i}",
                    "payment_fingerprint": "pf-camp",  # one campaign, one card
                    "messages": [{"role": "user", "content": HARVEST.format(i=i * 7 + a)}],
                }
            )
    for b in range(n_benign):
        acct = f"person-{b}"
        labels.append((acct, 0, "", "casual"))
        t = T0 + rng.randint(0, 600_000)
        for i in range(rng.randint(3, 15)):
            t += rng.randint(20_000, 900_000)
            recs.append(
                {
                    "request_id": f"{acct}-{i}",
                    "ts": t,
                    "account_id": acct,
                    "model": "m",
                    "ip": f"198.51.100.{b}",
                    "messages": [
                        {
                            "role": "user",
                            "content": f"could you help me with {rng.choice(TOPICS)}? thanks {i}",
                        }
                    ],
                }
            )
    rng.shuffle(recs)  # replay must sort by time itself
    recs.append(
        {
            "request_id": "broken",
            "ts": "not a time",
            "account_id": "x",
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "requests.jsonl.gz"
    with gzip.open(log, "wt") as fh:
        for r in recs:
            fh.write(json.dumps(r) + "\n")
    with open(folder / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["account_id", "is_attack", "campaign_id", "persona"])
        w.writerows(labels)
    return log


def test_replay_measures_time_to_detect(tmp_path: Path) -> None:
    log = write_log(tmp_path / "sim")
    findings = tmp_path / "findings"
    findings.mkdir()
    with open(findings / "accounts.csv", "w", newline="") as fh:  # a batch run: 2 of 3 caught
        w = csv.writer(fh)
        w.writerow(["account_id", "risk", "verdict", "cluster_id", "reasons"])
        w.writerows(
            [
                ("harvest-0", 0.9, "attack", "c1", ""),
                ("harvest-1", 0.9, "attack", "c1", ""),
                ("harvest-2", 0.3, "review", "", ""),
            ]
        )
        w.writerows([(f"person-{b}", 0.01, "benign", "", "") for b in range(12)])
    rep = replay([log], tmp_path / "data", batch_results=findings, progress=False, chunk=64)
    d = rep.to_dict()
    assert d["n_rejected"] == 1 and d["n_requests"] == 180 + sum(
        t.n for a, t in rep.accounts.items() if a.startswith("person")
    )
    camp = d["campaigns"]["camp-1"]
    assert camp["accounts"] == 3 and camp["accounts_acted_on"] == 3
    # Online, an account's own traffic alone restricts nothing; the campaign's card does once it
    # carries more than the job floor (the setting: 15 accounts are no population to calibrate).
    assert camp["share_before_first_action"] <= (LinkSettings().job_floor + 1) / 180
    s = d["summary"]
    assert s["benign_accounts_acted_on"] == 0
    assert s["harvest_served_before_action"] < s["harvest_requests_total"] == 180
    assert s["batch_recall"] == pytest.approx(2 / 3, abs=1e-3) and s["batch_fpr"] == 0.0
    assert s["online_recall_at_batch_fpr"] == 1.0 and s["at_fpr_verdict"]["ratio"] == pytest.approx(
        1.5, abs=1e-3
    )
    assert s["at_fpr_1%"]["online_recall"] == 1.0
    # decisions were made in time order: every account's first action is after its first request
    for t in rep.accounts.values():
        assert t.acted_at_ts is None or t.acted_at_ts >= t.first_ts
    # the replay's actions were audited in its data dir
    from distillguard.online.audit import AuditLog

    assert AuditLog(tmp_path / "data" / "audit.jsonl").verify().n_entries > 0


def test_replay_cli_with_speed(tmp_path: Path) -> None:
    from distillguard.cli import app

    log = write_log(tmp_path / "sim", n_attack=1, n_benign=2)
    out = tmp_path / "replay.json"
    # 60 requests, 20 s apart = ~20 min of log time; at speed 1e4 that is ~0.1 s of wall time
    res = CliRunner().invoke(app, ["replay", str(log), "--speed", "10000", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "median share of a campaign's requests before its first action" in res.output
    assert json.loads(out.read_text())["summary"]["attack_accounts"] == 1
    bad = CliRunner().invoke(app, ["replay", str(tmp_path / "missing.jsonl")])
    assert bad.exit_code != 0
