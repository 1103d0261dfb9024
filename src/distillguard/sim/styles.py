"""Campaign styles and hard-benign personas that random worlds add to the presets' cast.

Campaigns (one generator, timing chosen by the campaign's ``timing`` tactic):
- ``shard``: accounts take disjoint slices of one task pool, all with one job's parameters;
- ``slow_drip``: thousands of accounts, 1-5 single-shot requests a day each;
- ``cloud_route``: through cloud marketplaces, no client IP and no card reach the provider;
- ``adaptive``: human-like jittered sessions, rotating egress and user agents, every prompt
  paraphrased, half its traffic genuine-looking cover (the plan's mixed units).

Personas (benign traps):
- ``leaderboard_operator``: whole benchmark suites through many keys (the eval runner's
  generator over many accounts of one organisation);
- ``labelling_vendor``: annotators behind one office NAT grading model outputs with rubrics;
- ``research_synthetic``: a research group generating synthetic training data.
"""

from __future__ import annotations

import numpy as np

from .gen import (
    HOUR_MS,
    MAX_TOKENS,
    Context,
    Rows,
    _attack_common,
    _attack_text,
    _burst_times,
    _cum_within,
    _keys,
    _take,
    _user,
    gen_eval_runner,
)
from .plan import DAY_MS, Group


def _round_robin(ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng) -> tuple:
    """One request stream dealt across the accounts, with the campaign's jitter."""
    s, e, dt = ctx.rr[g.campaign_index]
    jitter = g.campaign.tactics["jitter"]
    slot = i * g.campaign.accounts + ctx.plan.member[acct]
    ts = s + ((slot + rng.uniform(-jitter, jitter, size=len(acct))) * dt).astype(np.int64)
    return np.clip(ts, s, e - 1), None, np.zeros(len(acct), dtype=np.int64)


def _drip(ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng) -> tuple:
    """Single-shot requests spread over each account's life at the operators' hours."""
    c = g.campaign
    s = ctx.start_ms + int(c.start_day * DAY_MS)
    e = ctx.start_ms + int((c.end_day if c.end_day is not None else ctx.scenario.days) * DAY_MS)
    lo = np.maximum(ctx.plan.created_ms[acct], s)
    lo = np.minimum(lo, e - HOUR_MS)
    tz = np.full(len(acct), c.tactics["operator_tz"])
    ts = ctx.session_starts(
        rng, acct, "operator", "flat", tz=tz, lo_ms=lo, hi_ms=np.full_like(lo, e)
    )
    return ts, None, np.zeros(len(acct), dtype=np.int64)


def _burst(ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng) -> tuple:
    return _burst_times(ctx, g, acct, rng, 2.0, 6.0, (1.0, 5.0))


def _human(ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng) -> tuple:
    """Evening sessions with follow-ups; think times jittered by the campaign's ``jitter``."""
    t = g.campaign.tactics
    mean_len = 1.0 / max(0.05, 1.0 - t["followups"])
    sess, pos, first = ctx.sessions(rng, acct, mean_len, max_len=4)
    tz = np.full(len(first), t["operator_tz"]) + rng.normal(0, 3 * t["jitter"], size=len(first))
    start = ctx.session_starts(rng, acct[first], "evening", "consumer", tz=tz)
    return ctx.within(rng, sess, pos, start, 90.0, 0.5 + t["jitter"]), sess, pos


TIMERS = {"round_robin": _round_robin, "drip": _drip, "burst": _burst, "human": _human}


def gen_styled(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Any campaign of the styles above: timing by tactic, text by tactic over real tasks."""
    c = g.campaign
    n = len(acct)
    ts, sess, pos = TIMERS[c.tactics["timing"]](ctx, g, acct, i, rng)
    if sess is None:
        seq = _shard_items(ctx, g, acct, i) if c.type == "shard" else None
        content, _, _ = _attack_text(ctx, g, rng, n, seq=seq)
        rows = Rows(acct=acct, ts=ts, msgs=_user(content))
    else:
        first = np.nonzero(pos == 0)[0]
        content, ans, _ = _attack_text(ctx, g, rng, len(first))
        chain = rng.integers(0, len(ctx.followups) // 6, size=len(first))
        msgs = ctx.with_followups(
            _take(content, sess), _take(ans, sess), pos, chain[sess], ctx.followups
        )
        rows = Rows(acct=acct, ts=ts, msgs=msgs, sess=sess)
    _attack_common(ctx, g, rows, rng, "reasoning" if c.tactics["cot"] >= 0.4 else "base")
    if c.type == "shard":
        _job_settings(ctx, g, rows)
    else:
        sdk = (
            np.ones(n, dtype=bool) if c.tactics["user_agents"] != "varied" else rng.random(n) < 0.5
        )
        ctx.settings(rng, rows, sdk, (0, 4, 5, 6), (2, 3, 4, 5, 6), (1, 2, 5, 6), 0.5)
    ctx.usage(rng, rows, 800, 0.6, 3000, p429=0.02)
    return rows


def _shard_items(ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Item numbers: account ``m`` of the shard works on items ``m*stride .. m*stride+n-1``."""
    members = ctx.plan.group == g.index
    stride = int(ctx.plan.n_req[members].max()) if members.any() else 1
    return ctx.plan.member[acct].astype(np.int64) * stride + i


def _job_settings(ctx: Context, g: Group, rows: Rows) -> None:
    """One job configuration for every request of the shard (one harness, many keys)."""
    rng = np.random.default_rng([ctx.seed, 9, g.campaign_index])
    n = len(rows)
    rows.max_tokens = np.full(n, int(rng.integers(3, len(MAX_TOKENS))))
    rows.temp = np.full(n, int(rng.integers(0, 7)))
    rows.reasoning = np.where(ctx.tables.reasoning[rows.model], int(rng.integers(1, 7)), -1)
    rows.stream = np.zeros(n, dtype=np.int64)


# ---- hard-benign personas -----------------------------------------------------------------
def _office_rows(ctx: Context, acct: np.ndarray, rng, gap_s: float, mean_len: float):
    """Business-hour sessions from the office's one NAT address."""
    sess, pos, first = ctx.sessions(rng, acct, mean_len, max_len=40)
    start = ctx.session_starts(rng, acct[first], "work", "work")
    return ctx.within(rng, sess, pos, start, gap_s, 0.6), sess, pos, first


def gen_labelling_vendor(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Annotators grading model outputs against rubrics, all behind the vendor's NAT."""
    p = ctx.plan
    n = len(acct)
    ts, sess, pos, first = _office_rows(ctx, acct, rng, 75.0, 12.0)
    cap = ("math", "code", "general")[int(rng.integers(3))]
    pre, post = ctx.persona_wordings("rubric", g.index, 12)
    graded = ctx.bank.rubric_prompts(rng, cap, n)
    rows = Rows(acct=acct, ts=ts, msgs=_user(ctx.wrapped(rng, pre, post, graded)), sess=sess)
    rows.model = ctx.models(rng, acct, ts, prefer="base", sess=sess)
    rows.ip = p.home_ip[acct].astype(np.uint32)
    rows.country = p.country[acct].copy()
    rows.ua = np.where(rng.random(n) < 0.9, p.ua1[acct], p.ua2[acct])
    rows.key = _keys(rng, p, acct)
    rows.route = p.route[acct]
    ctx.settings(rng, rows, (p.flag[acct] & 1) == 0, (0, 4), (2, 3), (1, 2), 0.3)
    ctx.usage(rng, rows, 300, 0.5, 600)
    return rows


def gen_research_synthetic(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """A research group's synthetic-data jobs: generation prompts over seed tasks, in batches."""
    p = ctx.plan
    n = len(acct)
    job = i // 200
    key = acct * 10_000 + job
    uniq, inv = np.unique(key, return_inverse=True)
    start = ctx.session_starts(rng, uniq // 10_000, "long_work", "work")
    gaps = rng.lognormal(np.log(4000.0), 0.5, size=n).astype(np.int64)
    ts = start[inv] + _cum_within(gaps, inv)
    pre, post = ctx.persona_wordings("synthetic", g.index, 8)
    tasks, _ = ctx.tasks(rng, ("general", "nlp", "math"), n)
    rows = Rows(acct=acct, ts=ts, msgs=_user(ctx.wrapped(rng, pre, post, tasks)))
    rows.model = ctx.models(rng, acct, ts, prefer="reasoning")
    rows.ip = np.where(rng.random(n) < 0.8, p.home_ip[acct], p.alt_ip[acct]).astype(np.uint32)
    rows.country = ctx.ips.country_of(rows.ip, p.country[acct])
    rows.ua = p.ua1[acct]
    rows.key = _keys(rng, p, acct)
    rows.route = p.route[acct]
    ctx.settings(rng, rows, np.ones(n, dtype=bool), (6, 7), (5, 6, 7), (2, 6), 0.1)
    ctx.usage(rng, rows, 1400, 0.5, 2000, p429=0.02)
    return rows


STYLE_GENERATORS = {
    "shard": gen_styled,
    "slow_drip": gen_styled,
    "cloud_route": gen_styled,
    "adaptive": gen_styled,
    "leaderboard_operator": gen_eval_runner,
    "labelling_vendor": gen_labelling_vendor,
    "research_synthetic": gen_research_synthetic,
}
