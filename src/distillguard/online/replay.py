"""Replay a request log through the online path in time order (``distillguard replay``).

Every record is normalised and scored exactly as ``POST /v1/score`` would (text features in
chunks through the same batch featurizer, then one decision per request in timestamp order).
With ``speed > 0`` the replay sleeps so that log time runs ``speed`` times faster than wall
time; ``speed = 0`` goes as fast as possible.

When ``labels.csv`` (contract §3) sits beside the log, the report measures, per attack
account and per campaign: time-to-detect (first restricting action: degrade, rate_limit,
challenge or block) as wall time and as the share of the campaign's requests served before
it, and how many harvest requests were served before action. Given the batch detector's
results it also compares recall at the same benign false-positive rate.
"""

from __future__ import annotations

import csv
import gzip
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..progress import make_progress, stage
from .normalize import RecordError, normalize_record
from .scorer import RESTRICTIVE, OnlineScorer
from .verdicts import VerdictCache


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSON Lines (plain or .gz) or Parquet request log."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"log not found: {path}")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield from batch.to_pylist()
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # ingest quarantines these; replay skips them


def find_labels(log: Path) -> Path | None:
    for cand in (log.parent / "labels.csv", log.parent.parent / "labels.csv"):
        if cand.exists():
            return cand
    return None


def read_labels(path: Path) -> dict[str, tuple[int, str]]:
    """``account_id → (is_attack, campaign_id)``."""
    out = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out[row["account_id"]] = (int(float(row.get("is_attack") or 0)), row.get("campaign_id") or "")
    return out


@dataclass
class AccountTrack:
    n: int = 0
    first_ts: int = 0
    acted_at_ts: int | None = None
    acted_at_n: int | None = None
    first_action: str | None = None
    served: int = 0
    served_before_action: int = 0
    max_risk: float = 0.0


@dataclass
class ReplayReport:
    n_requests: int = 0
    n_rejected: int = 0
    n_accounts: int = 0
    seconds: float = 0.0
    actions: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, AccountTrack] = field(default_factory=dict)
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"n_requests": self.n_requests, "n_rejected": self.n_rejected,
                "n_accounts": self.n_accounts, "seconds": round(self.seconds, 3),
                "requests_per_s": round(self.n_requests / self.seconds, 1) if self.seconds else None,
                "actions": self.actions, "campaigns": self.campaigns, "summary": self.summary}


def replay(logs: list[Path], data_dir: Path | None = None, speed: float = 0.0,
           policy: Path | None = None, state: str = "memory", labels: Path | None = None,
           use_results: bool = False, batch_results: Path | None = None, chunk: int = 512,
           progress: bool = True) -> ReplayReport:
    """Feed ``logs`` through a fresh :class:`OnlineScorer` in time order; see module docstring.

    ``data_dir`` holds the scorer's audit log and actions (a temporary folder when None);
    ``use_results`` loads its batch verdict cache first (off by default: a replay measures
    what the online path finds on its own). ``batch_results`` (a store or findings folder)
    enables the recall-at-same-FPR comparison.
    """
    if speed < 0:
        raise InvalidInputError(f"--speed must be >= 0; got {speed}")
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="distillguard-replay-")
        data_dir = Path(tmp.name)
    try:
        scorer = OnlineScorer(data_dir, policy, state=state, load_results=use_results)
        rows: list[dict[str, Any]] = []
        rejected = 0
        for log in logs:
            for i, rec in enumerate(iter_records(Path(log)), start=1):
                try:
                    rows.append(normalize_record(rec, str(log), i))
                except RecordError:
                    rejected += 1
        if not rows:
            raise InvalidInputError(f"no valid records in {', '.join(map(str, logs))}")
        rows.sort(key=lambda r: (r["ts_ms"], r["request_id"]))
        rep = ReplayReport(n_requests=len(rows), n_rejected=rejected)
        tracks = rep.accounts
        t0 = time.perf_counter()
        ts0 = rows[0]["ts_ms"]
        with make_progress(progress) as prog, stage(prog, "replay", total=len(rows)) as task:
            for start in range(0, len(rows), chunk):
                part = rows[start:start + chunk]
                if speed > 0:
                    due = (part[0]["ts_ms"] - ts0) / 1000.0 / speed
                    lag = due - (time.perf_counter() - t0)
                    if lag > 0:
                        time.sleep(lag)
                decisions = scorer.score_rows(part)
                for row, d in zip(part, decisions, strict=True):
                    act = d.would_action or d.action
                    rep.actions[act] = rep.actions.get(act, 0) + 1
                    tr = tracks.get(d.account_id)
                    if tr is None:
                        tr = tracks[d.account_id] = AccountTrack(first_ts=row["ts_ms"])
                    tr.n += 1
                    tr.max_risk = max(tr.max_risk, d.account_risk)
                    if act in RESTRICTIVE and tr.acted_at_ts is None:
                        tr.acted_at_ts, tr.acted_at_n, tr.first_action = row["ts_ms"], tr.n, act
                    if act in ("allow", "log"):
                        tr.served += 1
                        if tr.acted_at_ts is None:
                            tr.served_before_action += 1
                prog.update(task, advance=len(part))
        rep.seconds = time.perf_counter() - t0
        rep.n_accounts = len(tracks)
        label_path = labels or find_labels(Path(logs[0]))
        if label_path is not None and Path(label_path).exists():
            _measure(rep, rows, read_labels(Path(label_path)), batch_results)
        scorer.close()
        return rep
    finally:
        if tmp is not None:
            tmp.cleanup()


def _measure(rep: ReplayReport, rows: list[dict[str, Any]], labels: dict[str, tuple[int, str]],
             batch_results: Path | None) -> None:
    tracks = rep.accounts
    camp_rows: dict[str, list[int]] = {}
    for r in rows:
        lab = labels.get(r["account_id"])
        if lab and lab[0] and lab[1]:
            camp_rows.setdefault(lab[1], []).append(r["ts_ms"])
    shares, served_before, served_total = [], 0, 0
    for cid, ts_list in camp_rows.items():
        members = [a for a, (att, c) in labels.items() if att and c == cid and a in tracks]
        acted = [tracks[a].acted_at_ts for a in members if tracks[a].acted_at_ts is not None]
        first = min(acted) if acted else None
        n = len(ts_list)
        before = n if first is None else sum(1 for t in ts_list if t < first)
        share = before / n if n else 1.0
        n_acted = sum(1 for a in members if tracks[a].acted_at_ts is not None)
        sb = sum(tracks[a].served_before_action for a in members)
        served_before += sb
        served_total += sum(tracks[a].served for a in members)
        shares.append(share)
        rep.campaigns[cid] = {
            "accounts": len(members), "accounts_acted_on": n_acted, "requests": n,
            "first_action_after_s": None if first is None else round((first - min(ts_list)) / 1000, 1),
            "share_before_first_action": round(share, 4), "served_before_action": sb}
    attack = [a for a, (att, _) in labels.items() if att and a in tracks]
    benign = [a for a, (att, _) in labels.items() if not att and a in tracks]
    acted_attack = sum(1 for a in attack if tracks[a].acted_at_ts is not None)
    acted_benign = sum(1 for a in benign if tracks[a].acted_at_ts is not None)
    s: dict[str, Any] = {
        "attack_accounts": len(attack), "benign_accounts": len(benign),
        "attack_accounts_acted_on": acted_attack, "benign_accounts_acted_on": acted_benign,
        "online_action_recall": round(acted_attack / len(attack), 4) if attack else None,
        "online_action_fpr": round(acted_benign / len(benign), 4) if benign else None,
        "campaigns": len(camp_rows),
        "median_share_before_first_action": round(statistics.median(shares), 4) if shares else None,
        "harvest_served_before_action": served_before,
        "harvest_served_total": served_total,
        "harvest_requests_total": sum(len(v) for v in camp_rows.values()),
    }
    if batch_results is not None:
        s.update(compare_with_batch(tracks, labels, VerdictCache.load(batch_results)))
    rep.summary = s


def compare_with_batch(tracks: dict[str, AccountTrack], labels: dict[str, tuple[int, str]],
                       cache: VerdictCache) -> dict[str, Any]:
    """Online recall at the batch detector's benign FPR (batch flag = verdict ``attack``)."""
    accts = [a for a in labels if a in tracks]
    attack = [a for a in accts if labels[a][0]]
    benign = [a for a in accts if not labels[a][0]]
    if not attack or not benign or not cache.accounts:
        return {"batch_comparison": "unavailable (needs labels with both classes and batch results)"}

    def flagged(a: str) -> bool:
        v = cache.accounts.get(a)
        return v is not None and v.verdict == "attack"

    b_recall = sum(map(flagged, attack)) / len(attack)
    b_fpr = sum(map(flagged, benign)) / len(benign)
    # Highest online recall whose benign FPR does not exceed the batch FPR.
    ben = sorted((tracks[a].max_risk for a in benign), reverse=True)
    allowed_fp = int(b_fpr * len(benign) + 1e-9)
    thr = ben[allowed_fp] if allowed_fp < len(ben) else -1.0  # strictly above this risk
    o_recall = sum(1 for a in attack if tracks[a].max_risk > thr) / len(attack)
    o_fpr = sum(1 for r in ben if r > thr) / len(benign)
    return {"batch_recall": round(b_recall, 4), "batch_fpr": round(b_fpr, 4),
            "online_recall_at_batch_fpr": round(o_recall, 4), "online_fpr": round(o_fpr, 4),
            "online_risk_threshold": round(thr, 4),
            "online_vs_batch_recall": round(o_recall / b_recall, 4) if b_recall else None}


def render_markdown(rep: ReplayReport) -> str:
    """The replay report as a short markdown block."""
    d = rep.to_dict()
    lines = [f"- replayed {d['n_requests']:,} requests of {d['n_accounts']:,} accounts in "
             f"{d['seconds']:.1f} s ({d['requests_per_s'] or 0:,.0f} req/s), {d['n_rejected']} rejected",
             "- actions: " + ", ".join(f"{k} {v:,}" for k, v in sorted(d["actions"].items()))]
    s = d["summary"]
    if s:
        lines += [
            f"- attack accounts acted on: {s['attack_accounts_acted_on']}/{s['attack_accounts']}"
            f" (benign acted on: {s['benign_accounts_acted_on']}/{s['benign_accounts']})",
            f"- median share of a campaign's requests before its first action: "
            f"{s['median_share_before_first_action']}",
            f"- harvest requests served before action: {s['harvest_served_before_action']:,} of "
            f"{s['harvest_requests_total']:,}",
        ]
        if "online_recall_at_batch_fpr" in s:
            lines.append(f"- recall at the batch FPR ({s['batch_fpr']}): online "
                         f"{s['online_recall_at_batch_fpr']} vs batch {s['batch_recall']} "
                         f"(ratio {s['online_vs_batch_recall']})")
    return "\n".join(lines)
