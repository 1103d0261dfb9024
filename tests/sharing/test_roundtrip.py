"""The round-trip bench's world surgery and scoring (``distillguard bench-share``)."""

from __future__ import annotations

import csv
import gzip
import json

from distillguard.sharing.roundtrip import campaign_infra, first_days, score, share_infrastructure


def _rows(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_share_infrastructure_moves_only_the_chosen_campaign_accounts(tiny_data, tmp_path):
    out = tmp_path / "b"
    moved = share_infrastructure(tiny_data, tiny_data, out, share=0.5)
    infra = campaign_infra(tiny_data)
    cards = {p for i in infra.values() for p in i.payments}
    ips = {p for i in infra.values() for p in i.ips}
    labels = {r["account_id"]: r for r in _rows(tiny_data / "labels.csv")}
    chosen = {a for accts in moved.values() for a in accts}
    for camp, accts in moved.items():
        n = sum(r["campaign_id"] == camp for r in labels.values())
        assert len(accts) == max(1, round(0.5 * n))
    before = {r["account_id"]: r for r in _rows(tiny_data / "accounts.csv")}
    n_carded = 0
    for r in _rows(out / "accounts.csv"):
        if r["account_id"] in chosen:  # A's card, or its own when that A campaign had none
            old = before[r["account_id"]]["payment_fingerprint"]
            assert r["payment_fingerprint"] in cards | {old}
            n_carded += r["payment_fingerprint"] in cards
        else:
            assert r == before[r["account_id"]]  # benign and unmoved accounts untouched
    assert n_carded >= len(chosen) // 2
    with gzip.open(out / "requests.jsonl.gz", "rt") as fh:
        reqs = [json.loads(line) for line in fh]
    # A's IPs, except where the paired A campaign came through a cloud route (no client IP).
    assert all(r.get("ip") in ips | {None} for r in reqs if r["account_id"] in chosen)
    assert sum(r.get("ip") in ips for r in reqs if r["account_id"] in chosen) > 0


def test_first_days_and_score(tiny_data, tmp_path):
    cut = first_days(tiny_data, 1, tmp_path / "d1")
    with gzip.open(cut / "requests.jsonl.gz", "rt") as fh:
        n1 = sum(1 for _ in fh)
    with gzip.open(tiny_data / "requests.jsonl.gz", "rt") as fh:
        n = sum(1 for _ in fh)
    assert 0 < n1 < n
    labels = _rows(tiny_data / "labels.csv")
    camp = next(r["campaign_id"] for r in labels if r["campaign_id"])
    members = [r["account_id"] for r in labels if r["campaign_id"] == camp]
    benign = [r["account_id"] for r in labels if r["is_attack"] == "0"][:10]
    findings = tmp_path / "f"
    findings.mkdir()
    with (findings / "accounts.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["account_id", "risk", "verdict", "cluster_id", "reasons"])
        for i, a in enumerate(members):
            w.writerow([a, 0.9, "attack" if i == 0 else "benign", "", ""])
        for i, a in enumerate(benign):
            w.writerow([a, 0.5, "review" if i == 0 else "benign", "", ""])
    got = score(findings, tiny_data / "labels.csv", {camp: members})
    assert got["campaign_accounts"] == len(members)
    assert got["recall_attack"] == 1 / len(members)
    assert got["campaigns_found"] == int(1 >= 0.5 * len(members))
    assert got["benign_flagged"] == 1 / len(benign) and got["benign_attack"] == 0
