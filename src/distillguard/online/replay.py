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
from .scorer import RESTRICTIVE, OnlineScorer, _featurize_in_worker, text_features
from .verdicts import ATTACK_VERDICTS, VerdictCache

ACCOUNT_LEVEL = frozenset({"rate_limit", "challenge", "block"})


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


def split_log(logs: list[Path], fraction: float, out_dir: Path) -> tuple[Path, Path, int]:
    """Split logs at ``fraction`` of their time span into ``before.jsonl.gz`` / ``after.jsonl.gz``.

    For warm-start evaluations: run the batch detector on *before*, then replay *after* with
    those results loaded, as a deployment that runs ``detect`` nightly would see it.
    Returns the two paths and the cut time (epoch ms).
    """
    from .normalize import parse_ts

    if not 0 < fraction < 1:
        raise InvalidInputError(f"fraction must be in (0, 1); got {fraction}")
    lo, hi = None, None
    for log in logs:
        for rec in iter_records(Path(log)):
            try:
                t = parse_ts(rec.get("ts"))
            except RecordError:
                continue
            lo = t if lo is None else min(lo, t)
            hi = t if hi is None else max(hi, t)
    if lo is None:
        raise InvalidInputError("no record with a valid ts to split on")
    cut = int(lo + fraction * (hi - lo))
    out_dir.mkdir(parents=True, exist_ok=True)
    before, after = out_dir / "before.jsonl.gz", out_dir / "after.jsonl.gz"
    with (
        gzip.open(before, "wt", encoding="utf-8") as fb,
        gzip.open(after, "wt", encoding="utf-8") as fa,
    ):
        for log in logs:
            for rec in iter_records(Path(log)):
                try:
                    early = parse_ts(rec.get("ts")) < cut
                except RecordError:
                    early = False
                (fb if early else fa).write(json.dumps(rec) + "\n")
    return before, after, cut


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
            out[row["account_id"]] = (
                int(float(row.get("is_attack") or 0)),
                row.get("campaign_id") or "",
            )
    return out


@dataclass
class AccountTrack:
    n: int = 0
    first_ts: int = 0
    acted_at_ts: int | None = None
    acted_at_n: int | None = None
    first_action: str | None = None
    account_action_ts: int | None = None  # first rate_limit / challenge / block
    served: int = 0
    served_before_action: int = 0
    max_risk: float = 0.0

    def record(self, ts_ms: int, act: str, risk: float) -> None:
        """Count one decided request of this account."""
        self.n += 1
        self.max_risk = max(self.max_risk, risk)
        if act in RESTRICTIVE and self.acted_at_ts is None:
            self.acted_at_ts, self.acted_at_n, self.first_action = ts_ms, self.n, act
        if act in ACCOUNT_LEVEL and self.account_action_ts is None:
            self.account_action_ts = ts_ms
        if act in ("allow", "log"):
            self.served += 1
            if self.acted_at_ts is None:
                self.served_before_action += 1


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
    truncated_at_ms: int | None = None  # set when max_seconds stopped the replay early

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_requests": self.n_requests,
            "n_rejected": self.n_rejected,
            "n_accounts": self.n_accounts,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.n_requests / self.seconds, 1) if self.seconds else None,
            "actions": self.actions,
            "campaigns": self.campaigns,
            "summary": self.summary,
            "truncated_at_ms": self.truncated_at_ms,
            "accounts": {
                a: {
                    "requests": t.n,
                    "max_risk": round(t.max_risk, 4),
                    "first_action": t.first_action,
                    "acted_at_request": t.acted_at_n,
                    "account_level_action": t.account_action_ts is not None,
                    "served_before_action": t.served_before_action,
                }
                for a, t in self.accounts.items()
            },
        }


def replay(
    logs: list[Path],
    data_dir: Path | None = None,
    speed: float = 0.0,
    policy: Path | None = None,
    state: str = "memory",
    labels: Path | None = None,
    use_results: bool = False,
    batch_results: Path | None = None,
    chunk: int = 2048,
    progress: bool = True,
    parallel: bool = True,
    max_seconds: float | None = None,
) -> ReplayReport:
    """Feed ``logs`` through a fresh :class:`OnlineScorer` in time order; see module docstring.

    ``data_dir`` holds the scorer's audit log and actions (a temporary folder when None);
    ``use_results`` loads its batch verdict cache first (off by default: a replay measures
    what the online path finds on its own). ``batch_results`` (a store or findings folder)
    enables the recall-at-same-FPR comparison. ``parallel`` featurizes the next chunk in a
    second process while this one decides the current chunk (decisions stay in time order).
    ``max_seconds`` stops early; the report then covers the log up to ``truncated_at_ms``.
    """
    if speed < 0:
        raise InvalidInputError(f"--speed must be >= 0; got {speed}")
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="distillguard-replay-")
        data_dir = Path(tmp.name)
    try:
        # A replay measures what the policy would do, so it enforces whatever the policy's
        # shadow setting (nothing leaves this process).
        scorer = OnlineScorer(data_dir, policy, state=state, shadow=False, load_results=use_results)
        scorer.event_time = True  # rate limits follow the log's clock, whatever the speed
        rows, rejected = _read_rows(logs)
        rep = ReplayReport(n_requests=len(rows), n_rejected=rejected)
        t0 = time.perf_counter()
        done = _decide_in_chunks(
            scorer, rows, rep, chunk, speed, parallel, progress, max_seconds, t0
        )
        if done < len(rows):
            rows = rows[:done]
            rep.n_requests = done
        rep.seconds = time.perf_counter() - t0
        rep.n_accounts = len(rep.accounts)
        label_path = labels or find_labels(Path(logs[0]))
        if label_path is not None and Path(label_path).exists():
            _measure(rep, rows, read_labels(Path(label_path)), batch_results)
        scorer.close()
        return rep
    finally:
        if tmp is not None:
            tmp.cleanup()


def _read_rows(logs: list[Path]) -> tuple[list[dict[str, Any]], int]:
    """The logs' normalised records in time order, and how many were rejected."""
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
    return rows, rejected


def _decide_in_chunks(
    scorer: OnlineScorer,
    rows: list[dict[str, Any]],
    rep: ReplayReport,
    chunk: int,
    speed: float,
    parallel: bool,
    progress: bool,
    max_seconds: float | None,
    t0: float,
) -> int:
    """Decide ``rows`` chunk by chunk, featurizing one chunk ahead; how many were decided
    (fewer when ``max_seconds``, counted from ``t0``, ran out)."""
    ts0 = rows[0]["ts_ms"]
    parts = [rows[i : i + chunk] for i in range(0, len(rows), chunk)]
    featurizer = _Featurizer(scorer, parallel and len(parts) > 2)
    done = 0
    with make_progress(progress) as prog, stage(prog, "replay", total=len(rows)) as task:
        featurizer.submit(parts[0])
        for k, part in enumerate(parts):
            if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                rep.truncated_at_ms = part[0]["ts_ms"]  # out of time: measure what was seen
                break
            feats = featurizer.result()
            if k + 1 < len(parts):
                featurizer.submit(parts[k + 1])  # featurize ahead while this chunk decides
            _keep_pace(part[0]["ts_ms"] - ts0, speed, t0)
            _decide_chunk(scorer, part, feats, rep)
            done += len(part)
            prog.update(task, advance=len(part))
    featurizer.close()
    return done


def _keep_pace(log_ms: float, speed: float, t0: float) -> None:
    """Sleep until ``log_ms`` of log time, sped up ``speed`` times, has passed since ``t0``."""
    if speed > 0:
        lag = log_ms / 1000.0 / speed - (time.perf_counter() - t0)
        if lag > 0:
            time.sleep(lag)


def _decide_chunk(
    scorer: OnlineScorer,
    part: list[dict[str, Any]],
    feats: list[dict[str, Any]],
    rep: ReplayReport,
) -> None:
    """Decide every request of the chunk, then count the actions per account."""
    decisions = []
    for row, f in zip(part, feats, strict=True):
        row.update(f)
        decisions.append(scorer.decide(row))
    for row, d in zip(part, decisions, strict=True):
        act = d.would_action or d.action
        rep.actions[act] = rep.actions.get(act, 0) + 1
        tr = rep.accounts.get(d.account_id)
        if tr is None:
            tr = rep.accounts[d.account_id] = AccountTrack(first_ts=row["ts_ms"])
        tr.record(row["ts_ms"], act, d.account_risk)


class _Featurizer:
    """Text features of a chunk, computed in a worker process one chunk ahead (or inline)."""

    def __init__(self, scorer: OnlineScorer, parallel: bool) -> None:
        self.scorer = scorer
        self.pool = None
        self._pending: Any = None
        if parallel:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            try:
                self.pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"))
            except OSError:
                self.pool = None

    def submit(self, part: list[dict[str, Any]]) -> None:
        if self.pool is None:
            self._pending = part
            return
        pol = self.scorer.policy
        cols = {k: [r.get(k) for r in part] for k in ("prompt_text", "system_text", "tools")}
        self._pending = self.pool.submit(
            _featurize_in_worker, cols, pol.policy.to_dict(), pol.version
        )

    def result(self) -> list[dict[str, Any]]:
        if self.pool is None:
            feats, ok = text_features(self._pending, self.scorer.policy.policy)
            self.scorer.text_features_available = ok
            return feats
        cols = self._pending.result()
        n = len(next(iter(cols.values())))
        return [{k: v[i] for k, v in cols.items()} for i in range(n)]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _measure(
    rep: ReplayReport,
    rows: list[dict[str, Any]],
    labels: dict[str, tuple[int, str]],
    batch_results: Path | None,
) -> None:
    tracks = rep.accounts
    camp_rows: dict[str, list[int]] = {}
    for r in rows:
        lab = labels.get(r["account_id"])
        if lab and lab[0] and lab[1]:
            camp_rows.setdefault(lab[1], []).append(r["ts_ms"])
    shares, shares_acct, served_before, served_total = [], [], 0, 0
    for cid, ts_list in camp_rows.items():
        members = [a for a, (att, c) in labels.items() if att and c == cid and a in tracks]
        acted = [tracks[a].acted_at_ts for a in members if tracks[a].acted_at_ts is not None]
        first = min(acted) if acted else None
        n = len(ts_list)
        before = n if first is None else sum(1 for t in ts_list if t < first)
        share = before / n if n else 1.0
        n_acted = sum(1 for a in members if tracks[a].acted_at_ts is not None)
        strong = [
            tracks[a].account_action_ts for a in members if tracks[a].account_action_ts is not None
        ]
        first_strong = min(strong) if strong else None
        share_acct = (
            1.0 if first_strong is None else sum(1 for t in ts_list if t < first_strong) / n
        )
        shares_acct.append(share_acct)
        sb = sum(tracks[a].served_before_action for a in members)
        served_before += sb
        served_total += sum(tracks[a].served for a in members)
        shares.append(share)
        rep.campaigns[cid] = {
            "accounts": len(members),
            "accounts_acted_on": n_acted,
            "requests": n,
            "first_action_after_s": None
            if first is None
            else round((first - min(ts_list)) / 1000, 1),
            "share_before_first_action": round(share, 4),
            "served_before_action": sb,
            "share_before_first_account_action": round(share_acct, 4),
        }
    attack = [a for a, (att, _) in labels.items() if att and a in tracks]
    benign = [a for a, (att, _) in labels.items() if not att and a in tracks]
    acted_attack = sum(1 for a in attack if tracks[a].acted_at_ts is not None)
    acted_benign = sum(1 for a in benign if tracks[a].acted_at_ts is not None)
    strong_attack = sum(1 for a in attack if tracks[a].account_action_ts is not None)
    strong_benign = sum(1 for a in benign if tracks[a].account_action_ts is not None)
    s: dict[str, Any] = {
        "attack_accounts": len(attack),
        "benign_accounts": len(benign),
        "attack_accounts_acted_on": acted_attack,
        "benign_accounts_acted_on": acted_benign,
        "attack_accounts_account_action": strong_attack,
        "benign_accounts_account_action": strong_benign,
        "online_action_recall": round(acted_attack / len(attack), 4) if attack else None,
        "online_action_fpr": round(acted_benign / len(benign), 4) if benign else None,
        "campaigns": len(camp_rows),
        "median_share_before_first_action": round(statistics.median(shares), 4) if shares else None,
        "median_share_before_first_account_action": round(statistics.median(shares_acct), 4)
        if shares_acct
        else None,
        "harvest_served_before_action": served_before,
        "harvest_served_total": served_total,
        "harvest_requests_total": sum(len(v) for v in camp_rows.values()),
    }
    if batch_results is not None:
        s.update(compare_with_batch(tracks, labels, VerdictCache.load(batch_results)))
    rep.summary = s


FPR_POINTS: tuple[float, ...] = (0.001, 0.01)


def _recall_at_fpr(attack: list[float], benign: list[float], fpr: float) -> tuple[float, float]:
    """Recall when at most floor(fpr * n_benign) benign accounts score strictly above the
    threshold (the bench harness's definition); returns (recall, threshold)."""
    ben = sorted(benign, reverse=True)
    k = int(fpr * len(ben) + 1e-9)
    thr = ben[k] if k < len(ben) else -1.0
    return sum(1 for r in attack if r > thr) / len(attack), thr


def compare_with_batch(
    tracks: dict[str, AccountTrack], labels: dict[str, tuple[int, str]], cache: VerdictCache
) -> dict[str, Any]:
    """Online vs batch attack recall at the same benign FPR, over the replayed accounts.

    Both rank accounts by risk (online: the highest account risk the replay reached; batch:
    ``risk`` of its findings) and flag at the FPR budgets of the bench harness (0.1 %, 1 %)
    and at the batch detector's own ``attack``-verdict FPR.
    """
    accts = [a for a in labels if a in tracks]
    attack = [a for a in accts if labels[a][0]]
    benign = [a for a in accts if not labels[a][0]]
    if not attack or not benign or not cache.accounts:
        return {
            "batch_comparison": "unavailable (needs labels with both classes and batch results)"
        }

    def brisk(a: str) -> float:
        v = cache.accounts.get(a)
        return v.risk if v is not None else 0.0

    def flagged(a: str) -> bool:
        v = cache.accounts.get(a)
        return v is not None and v.verdict in ATTACK_VERDICTS

    out: dict[str, Any] = {
        "batch_recall": round(sum(map(flagged, attack)) / len(attack), 4),
        "batch_fpr": round(sum(map(flagged, benign)) / len(benign), 4),
    }
    on_a = [tracks[a].max_risk for a in attack]
    on_b = [tracks[a].max_risk for a in benign]
    ba_a = [brisk(a) for a in attack]
    ba_b = [brisk(a) for a in benign]
    points = [("verdict", out["batch_fpr"])] + [(f"{f * 100:g}%", f) for f in FPR_POINTS]
    for name, fpr in points:
        o, thr = _recall_at_fpr(on_a, on_b, fpr)
        b = (
            sum(map(flagged, attack)) / len(attack)
            if name == "verdict"
            else _recall_at_fpr(ba_a, ba_b, fpr)[0]
        )
        out[f"at_fpr_{name}"] = {
            "fpr": fpr,
            "online_recall": round(o, 4),
            "batch_recall": round(b, 4),
            "online_threshold": round(thr, 4),
            "ratio": round(o / b, 4) if b else None,
        }
    head = out["at_fpr_1%"]
    out["online_recall_at_batch_fpr"] = out["at_fpr_verdict"]["online_recall"]
    out["online_vs_batch_recall"] = head["ratio"]  # headline: the harness's 1 % FPR point
    return out


def render_markdown(rep: ReplayReport) -> str:
    """The replay report as a short markdown block."""
    d = rep.to_dict()
    lines = [
        f"- replayed {d['n_requests']:,} requests of {d['n_accounts']:,} accounts in "
        f"{d['seconds']:.1f} s ({d['requests_per_s'] or 0:,.0f} req/s), {d['n_rejected']} rejected",
        "- actions: " + ", ".join(f"{k} {v:,}" for k, v in sorted(d["actions"].items())),
    ]
    if d.get("truncated_at_ms") is not None:
        lines.append(
            f"- stopped early (time budget) at log time {d['truncated_at_ms']} ms: "
            "the figures cover the log up to there"
        )
    s = d["summary"]
    if s:
        lines += [
            f"- attack accounts acted on: {s['attack_accounts_acted_on']}/{s['attack_accounts']}"
            f" (benign acted on: {s['benign_accounts_acted_on']}/{s['benign_accounts']}); with an "
            "account-level action (rate_limit / challenge / block): "
            f"{s['attack_accounts_account_action']}/{s['attack_accounts']} attack, "
            f"{s['benign_accounts_account_action']}/{s['benign_accounts']} benign",
            f"- median share of a campaign's requests before its first action: "
            f"{s['median_share_before_first_action']} (any restricting action); "
            f"{s['median_share_before_first_account_action']} (first rate_limit / challenge / block)",
            f"- harvest requests served before action: {s['harvest_served_before_action']:,} of "
            f"{s['harvest_requests_total']:,}",
        ]
        for key in ("at_fpr_0.1%", "at_fpr_1%", "at_fpr_verdict"):
            if key in s:
                p = s[key]
                label = "the batch verdicts' FPR" if key == "at_fpr_verdict" else key[7:] + " FPR"
                lines.append(
                    f"- recall at {label} ({p['fpr']:.2%}): online {p['online_recall']:.3f} "
                    f"vs batch {p['batch_recall']:.3f} (ratio {p['ratio']})"
                )
    return "\n".join(lines)
