"""The sharing round trip, measured: does a partner's bundle find our campaigns sooner?

Provider A detects on its world and exports a bundle. Provider B's world is another random
world in which ``share`` of every campaign's accounts reuse the infrastructure of one of A's
campaigns (the same operator buying from the same proxy pool, paying with the same cards,
signing up with the same e-mail domains: the pattern the public reports describe). B runs detect
on its first ``d`` days, once alone and once after importing A's bundle, for several ``d``.
Reported per cutoff: campaigns found (at least half their active accounts flagged review or
attack), campaign-account recall, attack-verdict recall, and the benign accounts flagged.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import InvalidParameterError
from .keys import ENV_KEY, SharingKey

BENCH_KEY = b"distillguard-bench-share-key-0001"  # a fixed group key: the run is reproducible


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _requests(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@dataclass
class Infra:
    ips: list[str]
    uas: list[str]
    payments: list[str]
    domains: list[str]


def campaign_infra(world: Path) -> dict[str, Infra]:
    """Per campaign of a world: the IPs, user agents, cards and e-mail domains it used."""
    labels = {r["account_id"]: r["campaign_id"] for r in _csv(world / "labels.csv")
              if r["is_attack"] == "1" and r["campaign_id"]}
    sets: dict[str, tuple[set, set, set, set]] = defaultdict(lambda: (set(), set(), set(), set()))
    for r in _requests(world / "requests.jsonl.gz"):
        c = labels.get(r["account_id"])
        if c:
            ips, uas, pays, _ = sets[c]
            ips.add(r.get("ip"))
            uas.add(r.get("user_agent"))
            pays.add(r.get("payment_fingerprint"))
    for a in _csv(world / "accounts.csv"):
        c = labels.get(a["account_id"])
        if c:
            _, _, pays, domains = sets[c]
            pays.add(a.get("payment_fingerprint"))
            domains.add(a.get("email_domain"))
    return {c: Infra(*(sorted(x for x in s if x) for s in v)) for c, v in sorted(sets.items())}


def share_infrastructure(
    a: Path, b: Path, out: Path, share: float, only: set[str] | None = None
) -> dict[str, list[str]]:
    """Write world B' into ``out``; returns, per B campaign, its accounts moved onto A's infra.

    ``only``: the A campaigns B's campaigns may borrow from (those A found and shared)."""
    if not 0 < share <= 1:
        raise InvalidParameterError(f"--share must be in (0, 1]; got {share}")
    infra_a = {c: i for c, i in campaign_infra(a).items() if only is None or c in only}
    if not infra_a:
        raise InvalidParameterError(f"world {a} has no attack campaign to share")
    labels = _csv(b / "labels.csv")
    by_campaign: dict[str, list[str]] = defaultdict(list)
    for r in labels:
        if r["is_attack"] == "1" and r["campaign_id"]:
            by_campaign[r["campaign_id"]].append(r["account_id"])
    a_names = sorted(infra_a)
    moved: dict[str, Infra] = {}
    moved_by_campaign: dict[str, list[str]] = {}
    for i, (camp, accts) in enumerate(sorted(by_campaign.items())):
        chosen = sorted(accts, key=_h)[: max(1, round(share * len(accts)))]
        moved_by_campaign[camp] = chosen
        for acct in chosen:
            moved[acct] = infra_a[a_names[i % len(a_names)]]
    out.mkdir(parents=True, exist_ok=True)
    _write_accounts(b / "accounts.csv", out / "accounts.csv", moved)
    _write_requests(b / "requests.jsonl.gz", out / "requests.jsonl.gz", moved)
    shutil.copy(b / "labels.csv", out / "labels.csv")
    return moved_by_campaign


def _pick(values: list[str], key: str) -> str | None:
    return values[_h(key) % len(values)] if values else None


def _write_accounts(src: Path, dst: Path, moved: dict[str, Infra]) -> None:
    rows = _csv(src)
    for r in rows:
        inf = moved.get(r["account_id"])
        if inf is not None:
            r["payment_fingerprint"] = _pick(inf.payments, r["account_id"]) or r["payment_fingerprint"]
            r["email_domain"] = _pick(inf.domains, r["account_id"]) or r["email_domain"]
    with dst.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _write_requests(src: Path, dst: Path, moved: dict[str, Infra]) -> None:
    with gzip.open(dst, "wt", encoding="utf-8") as out:
        for r in _requests(src):
            inf = moved.get(r["account_id"])
            if inf is not None:
                _set(r, "ip", _pick(inf.ips, str(r.get("ip"))))
                _set(r, "user_agent", _pick(inf.uas, str(r.get("user_agent"))))
                _set(r, "payment_fingerprint", _pick(inf.payments, r["account_id"]))
            out.write(json.dumps(r) + "\n")


def _set(record: dict, field: str, value: str | None) -> None:
    """Replace a field when A's campaign had such a value (a cloud-routed one has no IPs)."""
    if value is not None:
        record[field] = value


def first_days(world: Path, days: float, out: Path) -> Path:
    """The world's requests of its first ``days`` days (and its account table)."""
    rows = _requests(world / "requests.jsonl.gz")
    ts = [datetime.fromisoformat(r["ts"]).timestamp() for r in rows]
    cut = min(ts) + days * 86400
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "requests.jsonl.gz", "wt", encoding="utf-8") as fh:
        for r, t in zip(rows, ts, strict=True):
            if t < cut:
                fh.write(json.dumps(r) + "\n")
    shutil.copy(world / "accounts.csv", out / "accounts.csv")
    return out


def score(findings: Path, labels: Path, campaigns: dict[str, list[str]]) -> dict:
    """Campaigns found, recall and benign flags of one run (accounts active in it only)."""
    verdict = {r["account_id"]: r["verdict"] for r in _csv(findings / "accounts.csv")}
    lab = _csv(labels)
    benign = [r["account_id"] for r in lab if r["is_attack"] == "0" and r["account_id"] in verdict]
    flagged = {a for a, v in verdict.items() if v in ("review", "attack")}
    found, n_active, n_flagged, n_attack = 0, 0, 0, 0
    for camp in campaigns:
        active = [r["account_id"] for r in lab
                  if r["campaign_id"] == camp and r["account_id"] in verdict]
        hit = [a for a in active if a in flagged]
        n_active, n_flagged = n_active + len(active), n_flagged + len(hit)
        n_attack += sum(verdict[a] == "attack" for a in active)
        found += bool(active) and len(hit) >= 0.5 * len(active)
    moved = [a for accts in campaigns.values() for a in accts if a in verdict]
    return {
        "shared_accounts": len(moved),
        "shared_flagged": sum(a in flagged for a in moved) / max(len(moved), 1),
        "campaigns": len(campaigns), "campaigns_found": int(found),
        "campaign_accounts": n_active, "recall_flagged": n_flagged / max(n_active, 1),
        "recall_attack": n_attack / max(n_active, 1),
        "benign_accounts": len(benign),
        "benign_flagged": sum(a in flagged for a in benign) / max(len(benign), 1),
        "benign_attack": sum(verdict[a] == "attack" for a in benign) / max(len(benign), 1),
    }


def _detect(world: Path, store: Path, out: Path) -> None:
    from ..engines.embedded import detect

    # detect reads the group key from the environment, as in production.
    saved = os.environ.get(ENV_KEY)
    os.environ[ENV_KEY] = BENCH_KEY.decode()
    try:
        detect([world / "requests.jsonl.gz"], out=out, accounts=world / "accounts.csv",
               store=store, progress=False, workers=1)
    finally:
        if saved is None:
            os.environ.pop(ENV_KEY, None)
        else:
            os.environ[ENV_KEY] = saved


def shared_campaigns(world: Path, store: Path, clusters: set[str]) -> set[str]:
    """A's true campaigns behind the clusters it exported (the intel that exists to share)."""
    import duckdb

    labels = {r["account_id"]: r["campaign_id"] for r in _csv(world / "labels.csv")}
    con = duckdb.connect(str(store / "store.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT account_id, cluster_id FROM cluster_members").fetchall()
    finally:
        con.close()
    return {labels[a] for a, c in rows if c in clusters and labels.get(a)}


def run_pair(preset: str, seed_a: int, seed_b: int, share: float, days: list[float],
             root: Path) -> dict:
    """One (A, B) pair: simulate, detect A, export, build B', detect B' alone and with intel."""
    from ..sim import simulate
    from ..sim.world import Priors, draw_scenario
    from .indicators import collect_indicators
    from .intel import import_bundle
    from .stix import build_bundle, load_bundle, parse_bundle, write_bundle

    key = SharingKey(BENCH_KEY)
    for seed, name in ((seed_a, "a"), (seed_b, "b")):
        if not (root / name / "labels.csv").is_file():
            simulate(draw_scenario(preset, seed, Priors.load(None)), out=root / name, seed=seed,
                     progress=False)
    shutil.rmtree(root / "a-store", ignore_errors=True)  # a fresh run, never an increment
    _detect(root / "a", root / "a-store", root / "a-findings")
    campaigns, indicators = collect_indicators(root / "a-findings", key)
    write_bundle(build_bundle(campaigns, indicators, key), root / "a-bundle.json")
    shared_a = shared_campaigns(root / "a", root / "a-store", {c.cluster_id for c in campaigns})
    moved = share_infrastructure(root / "a", root / "b", root / "b-shared", share, shared_a)
    parsed = parse_bundle(load_bundle(root / "a-bundle.json"))
    rows = []
    for d in days:
        cut = first_days(root / "b-shared", d, root / f"b-days-{d:g}")
        row: dict = {"days": d}
        for mode in ("alone", "with_intel"):
            store = root / f"b-{mode}-{d:g}-store"
            shutil.rmtree(store, ignore_errors=True)
            if mode == "with_intel":
                import_bundle(parsed, store, key)
            _detect(cut, store, root / f"b-{mode}-{d:g}")
            row[mode] = score(root / f"b-{mode}-{d:g}", root / "b-shared" / "labels.csv", moved)
        rows.append(row)
    return {"preset": preset, "seed_a": seed_a, "seed_b": seed_b, "share": share,
            "exported": {"campaigns": len(campaigns), "indicators": len(indicators),
                         "true_campaigns_behind_them": sorted(shared_a)},
            "rows": rows}


def markdown(results: list[dict]) -> str:
    """The BENCHMARKS.md table: one line per pair and cutoff, alone → with the partner's intel."""
    head = ("| worlds (A → B) | days of B | accounts on A's infrastructure flagged | "
            "campaigns found | campaign accounts flagged | as attack | benign flagged | "
            "benign attack |\n|---|---|---|---|---|---|---|---|\n")
    lines = []
    for res in results:
        for row in res["rows"]:
            a, w = row["alone"], row["with_intel"]
            lines.append(
                f"| {res['preset']} {res['seed_a']} → {res['seed_b']} | {row['days']:g} | "
                f"{a['shared_flagged']:.1%} → **{w['shared_flagged']:.1%}** of {a['shared_accounts']} | "
                f"{a['campaigns_found']} → **{w['campaigns_found']}** of {a['campaigns']} | "
                f"{a['recall_flagged']:.1%} → **{w['recall_flagged']:.1%}** | "
                f"{a['recall_attack']:.1%} → {w['recall_attack']:.1%} | "
                f"{a['benign_flagged']:.2%} → {w['benign_flagged']:.2%} | "
                f"{a['benign_attack']:.2%} → {w['benign_attack']:.2%} |")
    return head + "\n".join(lines) + "\n"
