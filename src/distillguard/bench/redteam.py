"""``distillguard bench-redteam``: attackers that watch the online path and step around it.

Benign traffic of a random simulated world (its benign accounts only) is replayed in time order
through the online path; attacker strategies send their requests in between, see the action
each request got, and react:

- ``naive``: 20 fixed accounts on one data-centre /24, one shared card, one wording, fixed
  pace; a denied account is gone for good;
- ``rotating``: a new account whenever one is denied, a new residential address per request,
  a paraphrase per request, cards from a small pool;
- ``adaptive``: learns from the actions it sees (see :class:`Adaptive`) and steps under them.

Each attacker wants ``answers`` answers to math and code tasks with reasoning elicited. An
answer counts as harvested only when it was served undegraded; a degraded answer is counted
apart. An account is denied when an action stops it from getting answers (``block``,
``challenge``). Every strategy also runs once against no detector: the cost ratio is the
accounts it needs per 1,000 answers with the detector over that figure without it.

A ``challenge`` is a verification step (403 ``verification_required``), priced explicitly:
a benign caller passes it (``POST /v1/admin/challenge/passed``) and goes on: it counts as
actioned and as challenged, not as blocked (``benign_accounts_blocked``: accounts that got a
``block``; ``benign_accounts_denied``: a block or a challenge, this figure's definition before
the twelfth session). The attacker either gives the account up (``challenges="abandon"``, as
on a block) or passes the challenge and keeps the account (``"pay"``; once per account: a paid
account challenged again is given up), each pass costing
``c`` account-equivalents: the cost ratio at price c counts accounts + c x passes
(``cost_at_price``, for :data:`CHALLENGE_PRICES`).
"""

from __future__ import annotations

import heapq
import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ..online.policy import DEFAULT_RULES, LINKAGE_RULES
from ..progress import make_progress, stage
from .redteam_attackers import STRATEGIES, Attacker
from .redteam_batch import DailyBatch
from .redteam_gateway import Gateway, Outcome, make_gateway
from .redteam_world import World, load_world

DENY = frozenset({"block", "challenge"})
CHALLENGE_MODES = ("abandon", "pay")
# What one passed challenge costs the attacker, in accounts (0: it passes for free).
CHALLENGE_PRICES = (0.0, 0.25, 0.5, 1.0)
RESTRICTIVE = frozenset({"degrade", "rate_limit", "challenge", "block"})


@dataclass
class StrategyResult:
    """What one attacker got against one detector, and what benign traffic paid for it."""

    strategy: str
    detector: str
    answers_wanted: int
    answers: int = 0
    degraded: int = 0
    throttled: int = 0
    requests: int = 0
    cover_requests: int = 0
    accounts: int = 0
    accounts_denied: int = 0
    answers_before_first_denial: int | None = None
    hours: float = 0.0
    stopped: str = ""
    max_account_risk: float = 0.0
    benign_requests: int = 0
    benign_requests_actioned: int = 0
    benign_accounts: int = 0
    benign_accounts_actioned: int = 0
    benign_accounts_blocked: int = 0  # got a block
    benign_accounts_challenged: int = 0  # got a challenge (and passed it)
    benign_accounts_denied: int = 0  # a block or a challenge (the blocked figure before)
    challenges: str = "abandon"  # what the attacker does on a challenge (CHALLENGE_MODES)
    challenges_passed: int = 0  # challenges the attacker paid for and passed
    benign_actions: dict[str, int] = field(default_factory=dict)
    benign_rules: dict[str, int] = field(default_factory=dict)  # accounts per first rule
    signups: dict[str, int] = field(default_factory=dict)  # attacker sign-ups per action
    benign_signups: dict[str, int] = field(default_factory=dict)  # benign sign-ups per action
    batch_runs: list[dict[str, Any]] = field(default_factory=list)  # daily detect + reload
    benign_personas_actioned: dict[str, int] = field(default_factory=dict)  # accounts per persona

    @property
    def accounts_per_1000(self) -> float:
        return 1000.0 * self.accounts / max(self.answers, 1)


class _Run:
    """One strategy against one gateway, interleaved with the benign replay."""

    def __init__(
        self, world: World, attacker: Attacker, gateway: Gateway, detector: str, signup: bool,
        batch: DailyBatch | None = None,
    ) -> None:
        self.world, self.attacker, self.gateway = world, attacker, gateway
        self.signup, self.batch = signup, batch
        self.res = StrategyResult(attacker.name, detector, attacker.answers_wanted)
        self.benign_hit: dict[str, set[str]] = {}

    def benign(self, row: dict[str, Any]) -> None:
        out = self.gateway.decide(row, self.world.features_of(row))
        if self.batch is not None:
            self.batch.note(row)
        r = self.res
        r.benign_requests += 1
        acts = self.benign_hit.setdefault(row["account_id"], set())
        if out.action == "challenge":  # an honest caller passes the verification step
            self.gateway.challenge_passed(row["account_id"], "benign")
        if out.action in RESTRICTIVE:
            r.benign_requests_actioned += 1
            r.benign_actions[out.action] = r.benign_actions.get(out.action, 0) + 1
            if not acts:
                rule = _rule_name(out)
                r.benign_rules[rule] = r.benign_rules.get(rule, 0) + 1
            acts.add(out.action)

    def benign_signup(self, body: dict[str, Any]) -> None:
        act = self.gateway.signup(body)
        if self.batch is not None:
            self.batch.note_account(body)
        self.res.benign_signups[act] = self.res.benign_signups.get(act, 0) + 1

    def attacker_signups(self, ts_ms: int) -> None:
        """Sign up the accounts the attacker opened: one held for ``manual_review`` never
        opens (the attacker counts it denied and may open another, signed up in turn)."""
        att, r = self.attacker, self.res
        if not self.signup:
            att.signups.clear()
        while att.signups:
            acct, body = att.signups.pop(0)
            act = self.gateway.signup(body)
            if self.batch is not None:
                self.batch.note_account(body)
            r.signups[act] = r.signups.get(act, 0) + 1
            if act == "manual_review":
                att.drop(acct, denied=True)
                att.on_denied(acct, ts_ms)

    def attack(self, ts_ms: int) -> int | None:
        """Send the attacker's next request; returns when it wants to send again (or None)."""
        att, r = self.attacker, self.res
        self.attacker_signups(ts_ms)
        req = att.next_request(ts_ms)
        if req is None:
            return att.next_time(ts_ms)
        row, meta = req
        out = self.gateway.decide(row, None)
        if self.batch is not None:
            self.batch.note(row)
        r.requests += 1
        r.max_account_risk = max(r.max_account_risk, out.account_risk)
        if meta.cover:
            r.cover_requests += 1
        elif out.action in ("allow", "log"):
            r.answers += 1
        elif out.action == "degrade":
            r.degraded += 1
        elif out.action == "rate_limit":
            r.throttled += 1
        if out.action in DENY and r.answers_before_first_denial is None:
            r.answers_before_first_denial = r.answers
        paid = out.action == "challenge" and att.pays_for(meta.account)
        if paid:
            self.gateway.challenge_passed(row["account_id"], "attacker")
            meta.account.paid_challenge = True
            r.challenges_passed += 1
        att.observe(meta, out, ts_ms, paid)
        return att.next_time(ts_ms)

    def finish(self, t_end: int, t_start: int) -> StrategyResult:
        r, att = self.res, self.attacker
        r.accounts = att.n_accounts
        r.accounts_denied = att.n_denied
        r.hours = round((min(att.last_ts or t_start, t_end) - t_start) / 3.6e6, 2)
        r.stopped = att.stopped or "world ended"
        if r.answers_before_first_denial is None:
            r.answers_before_first_denial = r.answers
        r.benign_accounts = len(self.benign_hit)
        r.benign_accounts_actioned = sum(1 for a in self.benign_hit.values() if a)
        r.benign_accounts_blocked = sum(1 for a in self.benign_hit.values() if "block" in a)
        r.benign_accounts_challenged = sum(
            1 for a in self.benign_hit.values() if "challenge" in a
        )
        r.benign_accounts_denied = sum(1 for a in self.benign_hit.values() if a & DENY)
        for acct, acts in self.benign_hit.items():
            if acts:
                p = self.world.personas.get(acct, "?")
                r.benign_personas_actioned[p] = r.benign_personas_actioned.get(p, 0) + 1
        r.max_account_risk = round(r.max_account_risk, 4)
        r.batch_runs = list(self.batch.runs) if self.batch is not None else []
        return r


def _rule_name(out: Outcome) -> str:
    """The rule behind an action, with the linked key's kind when a linked cluster drove it."""
    rule = out.rule or "?"
    if out.cluster_id and out.cluster_id.startswith("link:"):
        rule += "@" + out.cluster_id[5:].split(":", 1)[0]
    return rule


def run_strategy(
    world: World,
    strategy: str,
    gateway: Gateway,
    detector: str,
    answers: int,
    seed: int,
    max_accounts: int,
    on_step: Callable[[int], None] | None = None,
    signup: bool = True,
    batch_every_hours: float | None = None,
    challenges: str = "abandon",
) -> StrategyResult:
    """Replay the world's benign traffic with one attacker in between; see module docstring.

    ``signup``: every account, benign or attacker, is first signed up through the gateway's
    sign-up path when it is created (benign accounts created before the log are signed up
    before it starts).

    ``batch_every_hours``: a daily batch (:class:`DailyBatch`) every so many simulated hours
    from the world's start, into the in-process gateway's store (ignored for no detector).

    ``challenges``: ``abandon`` (a challenged account is given up) or ``pay`` (passed)."""
    rng = np.random.default_rng(seed)
    t_start = world.t0 + world.attack_offset_ms
    attacker = STRATEGIES[strategy](world, rng, answers, max_accounts, t_start)
    attacker.pays_challenges = challenges == "pay"
    batch = _daily_batch(gateway, batch_every_hours, world)
    run = _Run(world, attacker, gateway, detector, signup, batch)
    run.res.challenges = challenges
    sus = world.signups if signup else []
    si = 0
    queue: list[tuple[int, int, int]] = []  # (ts, kind 0 benign / 1 attack, index)
    nxt = attacker.next_time(t_start)
    if nxt is not None:
        heapq.heappush(queue, (nxt, 1, 0))
    bi = 0
    rows = world.benign
    while queue or bi < len(rows):
        nxt_ts = min(rows[bi]["ts_ms"] if bi < len(rows) else 2**62, queue[0][0] if queue else 2**62)
        if batch is not None and batch.due(nxt_ts) and nxt_ts <= world.t_end:
            batch.run(nxt_ts)
        if si < len(sus) and sus[si]["created_at"] <= nxt_ts:
            run.benign_signup(sus[si])
            si += 1
            continue
        if bi < len(rows) and (not queue or rows[bi]["ts_ms"] <= queue[0][0]):
            run.benign(rows[bi])
            bi += 1
            if on_step is not None:
                on_step(1)
            continue
        ts, _, _ = heapq.heappop(queue)
        if ts > world.t_end:
            attacker.stopped = attacker.stopped or "world ended"
            continue
        nxt = run.attack(ts)
        if nxt is not None:
            heapq.heappush(queue, (max(nxt, ts + 1), 1, 0))
    gateway.close()
    return run.finish(world.t_end, t_start)


def _daily_batch(gateway: Gateway, every_hours: float | None, world: World) -> DailyBatch | None:
    if not every_hours or gateway.name == "none":
        return None
    scorer = getattr(gateway, "scorer", None)
    if scorer is None:  # over HTTP the service's store is not ours to write
        raise InvalidParameterError("bench-redteam: --batch-every-hours needs the in-process path")
    benign = frozenset(r["account_id"] for r in world.benign)
    return DailyBatch(scorer, every_hours, world.t0, scorer.data_dir / "daily-batch", benign,
                      world.orgs)


def run_redteam(
    size: str = "tiny",
    seed: int = 101,
    strategies: tuple[str, ...] = ("naive", "rotating", "adaptive", "patient"),
    answers: int = 3000,
    max_accounts: int = 2000,
    policy: Path | None = None,
    state: str = "memory",
    url: str | None = None,
    data_root: Path | None = None,
    out: Path | None = None,
    progress: bool = True,
    baseline: bool = True,
    hours: float | None = None,
    signup: bool = True,
    batch_every_hours: float | None = None,
    challenges: str = "abandon",
) -> dict[str, Any]:
    """Every strategy against no detector and against distillguard; writes JSON + markdown.

    ``baseline`` also runs the detector with the linkage index off, every action enforced at
    once and visibly (today's per-account online path), for the before/after comparison.
    ``hours`` keeps only the world's first hours of benign traffic (quick runs).
    ``signup``: accounts are signed up through the gateway's sign-up path when created.
    ``batch_every_hours``: also run the daily batch (``detect`` + verdict-cache reload).
    ``challenges``: what the attackers do on a challenge, ``abandon`` or ``pay`` (module doc).
    """
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        raise InvalidParameterError(
            f"bench-redteam: unknown strategy {unknown}; known: {', '.join(STRATEGIES)}"
        )
    if challenges not in CHALLENGE_MODES:
        raise InvalidParameterError(
            f"bench-redteam: --challenges must be one of {', '.join(CHALLENGE_MODES)}; "
            f"got {challenges!r}"
        )
    if answers < 1 or max_accounts < 1:
        raise InvalidParameterError("bench-redteam: --answers and --max-accounts must be >= 1")
    tmp = tempfile.TemporaryDirectory(prefix="distillguard-redteam-")
    try:
        root = data_root if data_root is not None else Path(tmp.name) / "worlds"
        world = load_world(size, seed, root, hours)
        rows: list[dict[str, Any]] = []
        policies = {"none": None, "distillguard": policy}
        if baseline and not url:
            policies["baseline"] = baseline_policy(policy, Path(tmp.name) / "baseline.yaml")
        with make_progress(progress) as prog:
            for name in strategies:
                for detector, pol in policies.items():
                    gw = make_gateway(
                        detector, Path(tmp.name) / f"{name}-{detector}", pol, state, url
                    )
                    with stage(prog, f"{name} vs {detector}", total=len(world.benign)) as task:
                        res = run_strategy(
                            world,
                            name,
                            gw,
                            detector,
                            answers,
                            seed,
                            max_accounts,
                            on_step=lambda n, t=task: prog.update(t, advance=n),
                            signup=signup,
                            batch_every_hours=batch_every_hours,
                            challenges=challenges,
                        )
                    rows.append(_row(res))
        report = _report(rows, world, size, seed, answers, url)
        report["signup"] = signup
        report["batch_every_hours"] = batch_every_hours
        report["challenges"] = challenges
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "redteam.json").write_text(json.dumps(report, indent=2) + "\n")
            (out / "redteam.md").write_text(render_markdown(report))
        return report
    finally:
        tmp.cleanup()


# The online rules before the linkage work: no linked-cluster rules, one harvesting request
# was enough for a degrade (now the account's traffic must carry signals too), and the
# account's own risk acted alone (now each online restriction needs a sender link).
def _today(rule: dict[str, Any]) -> dict[str, Any]:
    if rule["name"] == "harvest-request":
        return {**rule, "when": {"request_risk": {">=": 0.8}}}
    when = {k: v for k, v in rule["when"].items() if v != {">": 0.0}}
    return {**rule, "when": when}


TODAY_RULES: list[dict[str, Any]] = [
    _today(r) for r in DEFAULT_RULES if r not in LINKAGE_RULES and r["name"] != "lone-harvest"
]


def baseline_policy(policy: Path | None, path: Path) -> Path:
    """``policy`` with the linkage index off and every action immediate and visible."""
    import yaml

    raw = dict((yaml.safe_load(policy.read_text()) if policy is not None else None) or {})
    if policy is None:  # today's shipped rules: no linked rules, single-request degrades
        raw["online"] = {"rules": TODAY_RULES}
    raw["linkage"] = {
        **(raw.get("linkage") or {}),
        "enabled": False,
        "delay_min_s": 0.0,
        "delay_max_s": 0.0,
        "silent_degrade": False,
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def _row(res: StrategyResult) -> dict[str, Any]:
    d = asdict(res)
    d["accounts_per_1000"] = round(res.accounts_per_1000, 2)
    return d


def _report(
    rows: list[dict[str, Any]], world: World, size: str, seed: int, answers: int, url: str | None
) -> dict[str, Any]:
    base = {r["strategy"]: r for r in rows if r["detector"] == "none"}
    results = []
    for r in sorted(rows, key=lambda r: r["detector"] != "baseline"):
        if r["detector"] == "none":
            continue
        b = base[r["strategy"]]
        r = dict(r)
        r["cost_ratio"] = round(r["accounts_per_1000"] / max(b["accounts_per_1000"], 1e-9), 2)
        r["cost_at_price"] = cost_at_prices(r, b["accounts_per_1000"])
        r["accounts_without_detector"] = b["accounts"]
        r["answers_without_detector"] = b["answers"]
        results.append(r)
    benign_accounts = max((r["benign_accounts"] for r in results), default=0)
    return {
        "world": {
            "size": size,
            "seed": seed,
            "benign_requests": len(world.benign),
            "benign_accounts": benign_accounts,
            "attack_starts_h": round(world.attack_offset_ms / 3.6e6, 1),
            "hours": round((world.t_end - world.t0) / 3.6e6, 1),
        },
        "answers_wanted": answers,
        "mode": "http" if url else "in-process",
        "results": results,
        "baseline": list(base.values()),
    }


def cost_at_prices(row: dict[str, Any], none_per_1000: float) -> dict[str, float]:
    """The cost ratio when each challenge the attacker passed costs ``c`` accounts, per
    :data:`CHALLENGE_PRICES` (equal to ``cost_ratio`` when it passed none)."""
    out = {}
    for c in CHALLENGE_PRICES:
        per_1000 = 1000.0 * (row["accounts"] + c * row["challenges_passed"]) / max(row["answers"], 1)
        out[f"{c:g}"] = round(per_1000 / max(none_per_1000, 1e-9), 2)
    return out


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.2f}%" if b else "—"


def render_markdown(report: dict[str, Any]) -> str:
    """The per-strategy table (and benign collateral) as markdown."""
    w = report["world"]
    lines = [
        f"Random world `{w['size']}` seed {w['seed']}: {w['benign_requests']:,} benign requests "
        f"from {w['benign_accounts']:,} benign accounts over {w['hours']} h; attackers start at "
        f"{w['attack_starts_h']} h and want {report['answers_wanted']:,} answers "
        f"({report['mode']}).",
        "",
        "| attacker | detector | answers | degraded | accounts | accounts / 1,000 answers | "
        "cost vs. no detector | answers before first denial | max account risk | stopped |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['strategy']} | {r['detector']} | {r['answers']:,} | {r['degraded']:,} | {r['accounts']:,} | "
            f"{r['accounts_per_1000']:.1f} | **{r['cost_ratio']:.1f}×** | "
            f"{r['answers_before_first_denial']:,} | {r['max_account_risk']:.2f} | {r['stopped']} |"
        )
    lines += [
        "",
        "| benign collateral, during | detector | requests with a non-allow action | "
        "accounts with a non-allow action | accounts blocked | accounts challenged (passed) | "
        "actioned accounts per persona |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['strategy']} | {r['detector']} | {r['benign_requests_actioned']:,} / {r['benign_requests']:,} "
            f"({_pct(r['benign_requests_actioned'], r['benign_requests'])}) | "
            f"{r['benign_accounts_actioned']} / {r['benign_accounts']} "
            f"({_pct(r['benign_accounts_actioned'], r['benign_accounts'])}) | "
            f"{r['benign_accounts_blocked']} | {r.get('benign_accounts_challenged', 0)} | "
            f"{_acts(r.get('benign_personas_actioned') or {})} |"
        )
    lines += _challenge_lines(report)
    if report.get("signup"):
        lines += ["", "| sign-ups (POST /v1/signup) | detector | attacker: action → accounts | "
                  "benign: action → accounts |", "|---|---|---|---|"]
        for r in report["results"]:
            lines.append(f"| {r['strategy']} | {r['detector']} | {_acts(r['signups'])} | "
                         f"{_acts(r['benign_signups'])} |")
    if report.get("batch_every_hours"):
        lines += ["", f"| daily batch (every {report['batch_every_hours']:g} h) | detector | "
                  "runs | attack verdicts after each run (of them benign) | seconds per run |",
                  "|---|---|---|---|---|"]
        for r in report["results"]:
            runs = r.get("batch_runs") or []
            lines.append(f"| {r['strategy']} | {r['detector']} | {len(runs)} | "
                         f"{', '.join(_verdicts(b) for b in runs) or '—'} | "
                         f"{', '.join(str(b['seconds']) for b in runs) or '—'} |")
    return "\n".join(lines) + "\n"


def _challenge_lines(report: dict[str, Any]) -> list[str]:
    """The attackers' challenges and the cost ratio at each price of one (``pay`` runs)."""
    if report.get("challenges") != "pay":
        return []
    prices = " / ".join(f"c = {c:g}" for c in CHALLENGE_PRICES)
    lines = ["", f"| challenges (the attacker passes each, paying c accounts) | detector | "
             f"passed | cost vs. no detector at {prices} |", "|---|---|---|---|"]
    for r in report["results"]:
        at = r.get("cost_at_price") or {}
        lines.append(f"| {r['strategy']} | {r['detector']} | {r['challenges_passed']:,} | "
                     + " / ".join(f"{at.get(f'{c:g}', 0):,.1f}×" for c in CHALLENGE_PRICES) + " |")
    return lines


def _verdicts(run: dict[str, Any]) -> str:
    return f"{run['attack_accounts']} ({run.get('benign_attack_verdicts', 0)})"


def _acts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "—"
