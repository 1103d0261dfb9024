"""The red-team bench's background: the benign side of a random simulated world.

Only accounts labelled benign (ordinary and hard-benign personas) are kept; their requests are
normalised, featurized once (shared by every strategy run) and replayed in time order. The
world also lends the attackers what a real one would find around them: the benign prompts
(cover traffic), residential address space, browser user agents and the model catalogue.
"""

from __future__ import annotations

import csv
import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..online.normalize import RecordError, normalize_record
from ..online.replay import iter_records
from ..online.scorer import text_features

HOUR_MS = 3_600_000


@dataclass
class World:
    """Benign rows in time order plus the pools attackers draw from."""

    benign: list[dict[str, Any]]
    t0: int
    t_end: int
    attack_offset_ms: int
    models: list[str]
    reasoning_model: str
    cover_prompts: list[str]
    residential_prefixes: list[str]
    browser_uas: list[str]
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The benign accounts' own sign-ups (``POST /v1/signup`` bodies, ``created_at`` order) and
    # the world's sign-up fields an attacker copies from (each a list with its frequencies).
    signups: list[dict[str, Any]] = field(default_factory=list)
    signup_pools: dict[str, list[str]] = field(default_factory=dict)
    personas: dict[str, str] = field(default_factory=dict)  # benign account → its persona
    orgs: dict[str, str] = field(default_factory=dict)  # benign account → its org_id (§2)

    def features_of(self, row: dict[str, Any]) -> dict[str, Any] | None:
        return self.features.get(row["request_id"])


def _benign_personas(folder: Path) -> dict[str, str]:
    """``account_id → persona`` of the world's benign accounts (its ground truth)."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as fh:
        return {
            r["account_id"]: r.get("persona") or "?"
            for r in csv.DictReader(fh)
            if str(r["is_attack"]) in ("0", "0.0")
        }


def _epoch_ms(v: str | None) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return None


def _signups(folder: Path, benign: set[str], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One sign-up body per benign account of the world's account table (docs/CONTRACT.md §2),
    with the address of its first request as the sign-up IP (a gateway sees one)."""
    path = folder / "accounts.csv"
    if not path.exists():
        return []
    first_ip: dict[str, str] = {}
    for r in rows:
        if r.get("ip"):
            first_ip.setdefault(r["account_id"], r["ip"])
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for a in csv.DictReader(fh):
            ms = _epoch_ms(a.get("created_at"))
            if a["account_id"] not in benign or ms is None:
                continue
            body = {k: a.get(k) or None for k in ("account_id", "signup_route", "verification",
                                                   "email_domain", "payment_fingerprint",
                                                   "country")}
            out.append({**body, "ip": first_ip.get(a["account_id"]), "created_at": ms})
    return sorted(out, key=lambda b: (b["created_at"], b["account_id"]))


def _orgs(folder: Path) -> dict[str, str]:
    """``account_id → org_id`` of the world's account table (docs/CONTRACT.md §2)."""
    path = folder / "accounts.csv"
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {a["account_id"]: a["org_id"] for a in csv.DictReader(fh) if a.get("org_id")}


def simulate_world(size: str, seed: int, root: Path) -> Path:
    """The random world ``size``/``seed`` under ``root``: the same worlds (and folders) as
    ``bench-transfer``, simulated once."""
    from .transfer import ensure_world

    return ensure_world(Path(root), size, seed)


def _prefix(ip: str | None) -> str | None:
    try:
        addr = ipaddress.ip_address(ip or "")
    except ValueError:
        return None
    if addr.version != 4 or not addr.is_global:
        return None
    return ".".join(str(addr).split(".")[:3])


def load_world(size: str, seed: int, root: Path, hours: float | None = None) -> World:
    """Simulate (or reuse) a random world and keep its benign side, featurized.

    ``hours`` keeps only the world's first hours (quick runs and smoke tests).
    """
    folder = simulate_world(size, seed, Path(root))
    personas = _benign_personas(folder)
    benign_ids = set(personas)
    log = next(folder.glob("requests.*"))
    rows = []
    for i, rec in enumerate(iter_records(log), start=1):
        if rec.get("account_id") not in benign_ids:
            continue
        try:
            row = normalize_record(rec, str(log), i)
        except RecordError:
            continue
        row["_record"] = rec  # what goes over HTTP to a running service
        rows.append(row)
    rows.sort(key=lambda r: (r["ts_ms"], r["request_id"]))
    if hours is not None and rows:
        rows = [r for r in rows if r["ts_ms"] - rows[0]["ts_ms"] <= hours * HOUR_MS]
    feats: dict[str, dict[str, Any]] = {}
    for k in range(0, len(rows), 2048):
        part = rows[k : k + 2048]
        for row, f in zip(part, text_features(part)[0], strict=True):
            feats[row["request_id"]] = f
    models = Counter(r["model"] for r in rows)
    reasoning = Counter(r["model"] for r in rows if r.get("reasoning"))
    prefixes = sorted({p for r in rows if (p := _prefix(r.get("ip")))})
    uas = Counter(r.get("user_agent") for r in rows if "Mozilla" in (r.get("user_agent") or ""))
    t0, t_end = rows[0]["ts_ms"], rows[-1]["ts_ms"]
    signups = _signups(folder, benign_ids, rows)
    pools = {k: [str(b[k]) for b in signups if b.get(k)]
             for k in ("email_domain", "country", "signup_route", "verification")}
    return World(
        benign=rows,
        t0=t0,
        t_end=t_end,
        attack_offset_ms=min(24 * HOUR_MS, (t_end - t0) // 4),
        models=[m for m, _ in models.most_common()],
        reasoning_model=(reasoning or models).most_common(1)[0][0],
        cover_prompts=[r["prompt_text"] for r in rows if 20 <= len(r["prompt_text"]) <= 2000],
        residential_prefixes=prefixes,
        browser_uas=[u for u, _ in uas.most_common(40)],
        features=feats,
        signups=signups,
        signup_pools=pools,
        personas={a: personas[a] for a in {r["account_id"] for r in rows}},
        orgs={a: o for a, o in _orgs(folder).items() if a in benign_ids},
    )
