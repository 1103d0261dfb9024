"""Generator 3's honest coordinated groups: planners and request generators.

Real honest coordination that random worlds lacked (issue 11), each drawn per world from loose
to campaign-tight (``scenario.*_TACTICS``, ranges in ``priors.yaml``):

- ``company_team``: colleagues who signed up one by one (no verified organisation, so every
  account is its own owner to the coordination graph): one office network, the team's internal
  tool (one client, one system prompt, one parameter tuple, a few task templates), one company
  card, office hours, an onboarding wave;
- ``eval_team``: an eval group running one harness from its members' accounts: one client, one
  prompt format and parameters, one item list, runs launched together by a sweep, machine
  timing, one server;
- ``hackathon``: participants signing up for the sponsor's credits in one wave before a
  weekend, hacking from the venue's network with the starter kit's client and prompt, asking
  the challenge in a few phrasings, most gone afterwards.

The planner swaps in its own random stream for these (``_Planner.plan_groups``), so the rest
of a world is planned exactly as by generator 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import wordings
from .gen import (
    EVAL_RUN,
    MAX_TOKENS,
    Context,
    Rows,
    _cum_within,
    _keys,
    _take,
    _user,
    split_arrays,
)
from .geo import COUNTRIES
from .plan import _CONSUMER_MAIL, DAY_MS, HOUR_MS, Group, _company_domain, _mail_domains
from .plan import _lognormal_counts as lognormal_counts
from .scenario import PersonaSpec, persona_tactics

if TYPE_CHECKING:
    from .plan import _Planner

_HACK_COUNTRIES = ("US", "GB", "DE", "IN", "FR", "CA", "BR", "SG")


# ---- planners (run with the planner's stream swapped for the groups' own) ---------------------
def _wave(p: _Planner, n: int, t: dict) -> np.ndarray:
    """Sign-up times: a wave ``signup_wave_days`` wide ending ``signup_lag_days`` before the
    period."""
    lag = t["signup_lag_days"] + p.rng.uniform(0, t["signup_wave_days"], size=n)
    return p.start_ms - (lag * DAY_MS).astype(np.int64)


def _network(p: _Planner, country: int, n: int, nat: bool) -> np.ndarray:
    """An office or venue network: its one NAT address for everyone, else a host each in its
    /24."""
    addr = p.ips.corporate(p.rng, np.array([country]))[0]
    if nat:
        return np.full(n, addr, np.uint32)
    net = np.uint32(int(addr) & 0xFFFFFF00)
    return net + p.rng.integers(2, 254, size=n).astype(np.uint32)


def plan_company_team(p: _Planner, g: Group, n: int, spec: PersonaSpec) -> None:
    t = persona_tactics("company_team", spec)
    rng, tables = p.rng, p.tables
    n_req = lognormal_counts(rng, n, spec.requests, 0.8, lo=3)
    cidx = int(p.random_countries(1)[0])
    country = np.full(n, cidx)
    g.params.update(tactics=t, tz=float(COUNTRIES[cidx].tz[0]), team=int(rng.integers(2**31)))
    tool = rng.random(n) < t["tool_share"]
    p.add(
        g,
        n,
        n_req,
        signup="team",
        country=country,
        created=_wave(p, n, t),
        ip_mode=np.full(n, 3),
        home=_network(p, cidx, n, t["office_nat"]),
        alt=p.ips.by_country(rng, country),
        ua1=np.where(tool, tables.sdk(rng, 1)[0], tables.browser(rng, n)),
        ua2=tables.browser(rng, n),
        payment=[p.new_card()] * n if t["team_card"] else None,
        email=[_company_domain(rng)] * n,
        flag=tool.astype(np.int64),
    )


def plan_eval_team(p: _Planner, g: Group, n: int, spec: PersonaSpec) -> None:
    t = persona_tactics("eval_team", spec)
    rng, tables, ips = p.rng, p.tables, p.ips
    n_req = lognormal_counts(rng, n, spec.requests, 0.4, lo=20)
    cidx = int(p.random_countries(1)[0])
    country = np.full(n, cidx)
    g.params.update(tactics=t, tz=float(COUNTRIES[cidx].tz[0]), team=int(rng.integers(2**31)))
    server = ips.hosting(rng, 1)[0]
    ua = np.full(n, tables.eval_ua(rng, 1)[0]) if t["one_format"] else tables.eval_ua(rng, n)
    p.add(
        g,
        n,
        n_req,
        signup="eval_team",
        country=country,
        created=_wave(p, n, t),
        ip_mode=np.full(n, 2),
        home=np.full(n, server, np.uint32) if t["one_server"] else ips.hosting(rng, n),
        alt=ips.by_country(rng, country),
        ua1=ua,
        ua2=ua,
        style=np.zeros(n, dtype=np.int64),
        adopt=p.adopt_after(n, 6.0, 0.0),
        payment=[p.new_card()] * n if t["team_card"] else None,
        email=[_company_domain(rng)] * n,
    )


def plan_hackathon(p: _Planner, g: Group, n: int, spec: PersonaSpec) -> None:
    t = persona_tactics("hackathon", spec)
    rng, tables = p.rng, p.tables
    n_req = lognormal_counts(rng, n, spec.requests, 0.7, lo=2)
    cidx = p.code_index[_HACK_COUNTRIES[int(rng.integers(len(_HACK_COUNTRIES)))]]
    country = np.where(rng.random(n) < 0.85, cidx, p.random_countries(n))
    days = p.period_ms / DAY_MS
    event = p.start_ms + int(t["event_day"] * p.period_ms)
    length = int(min(t["event_days"], days * (1 - t["event_day"])) * DAY_MS)
    g.params.update(tactics=t, tz=float(COUNTRIES[cidx].tz[0]), team=int(rng.integers(2**31)))
    g.params.update(event=(event, event + max(length, HOUR_MS)))
    kit = rng.random(n) < t["starter_kit"]
    own_client = np.where(rng.random(n) < 0.5, tables.browser(rng, n), tables.sdk(rng, n))
    # Registered before the doors open (some at the door, within the event's first hours).
    lag = rng.uniform(0, t["signup_wave_days"], size=n) - rng.uniform(0, 0.1, size=n)
    p.add(
        g,
        n,
        n_req,
        signup="sponsor_credits" if t["credits"] else "benign",
        country=country,
        created=event - (lag * DAY_MS).astype(np.int64),
        ip_mode=np.full(n, 3),
        home=_network(p, cidx, n, t["venue_nat"]),
        alt=p.ips.by_country(rng, country),
        ua1=np.where(kit, tables.sdk(rng, 1)[0], own_client),
        ua2=tables.browser(rng, n),
        adopt=p.adopt_after(n, 24.0, 0.5),
        payment=[""] * n if t["credits"] else None,
        email=_mail_domains(rng, _CONSUMER_MAIL, "company", 10, n),
        flag=kit.astype(np.int64),
    )


GROUP_PLANNERS = {
    "company_team": plan_company_team,
    "eval_team": plan_eval_team,
    "hackathon": plan_hackathon,
}


# ---- request generators ---------------------------------------------------------------------
def _own_chats(ctx: Context, rng: np.random.Generator, sess: np.ndarray, pos: np.ndarray):
    """Each session a conversation of the member's own (coding questions)."""
    pool = ctx.bank.code_chat
    conv = pool.pick(rng, np.bincount(sess))
    return ctx.bank.conv_messages(pool, conv[sess], pos)


def _one_setting(ctx: Context, rows: Rows, sel: np.ndarray, key: int) -> None:
    """One parameter tuple (max_tokens, temperature, reasoning, stream) on the rows ``sel``:
    what one client or harness configuration sends."""
    r = np.random.default_rng([key, 13])
    is_r = ctx.tables.reasoning[rows.model]
    rows.max_tokens = np.where(sel, int(r.integers(1, len(MAX_TOKENS) - 2)), rows.max_tokens)
    rows.temp = np.where(sel, int(r.integers(0, 5)), rows.temp)
    rows.reasoning = np.where(sel & is_r, int(r.integers(0, 6)), np.where(sel, -1, rows.reasoning))
    rows.stream = np.where(sel, int(r.integers(0, 2)), rows.stream)


def _one_model(ctx: Context, rows: Rows, sel: np.ndarray, key: int) -> None:
    """The one model a tool or kit is configured with."""
    plain = ctx.tables.plain_models
    rows.model = np.where(sel, plain[key % len(plain)], rows.model)


def gen_company_team(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Office hours; the internal tool's members send its system prompt and, for the team's
    task, one of its templates over a document; the rest are the members' own chats."""
    p, t, team = ctx.plan, g.params["tactics"], g.params["team"]
    n = len(acct)
    sess, pos, first = ctx.sessions(rng, acct, 2.5, max_len=10)
    s_acct, ns = acct[first], len(first)
    start = ctx.session_starts(rng, s_acct, "work", "work", tz=np.full(ns, g.params["tz"]))
    ts = ctx.within(rng, sess, pos, start, 40.0, 0.8)
    tool = (p.flag[acct] & 1) > 0
    task = (tool[first] & (rng.random(ns) < t["task_share"]))[sess]
    tmpl = (team + rng.integers(0, t["wordings"], size=n)) % len(ctx.enterprise)
    docs = _take(ctx.bank.docs, rng.integers(0, len(ctx.bank.docs), size=n))
    pre = pa.array([e[0] for e in ctx.enterprise])
    post = pa.array([e[1] for e in ctx.enterprise])
    task_msgs = _user(ctx.wrapped(rng, pre, post, docs, tmpl))
    msgs = pc.if_else(pa.array(task), task_msgs, _own_chats(ctx, rng, sess, pos))
    rows = Rows(acct=acct, ts=ts, msgs=msgs, sess=sess)
    office = (rng.random(ns) < t["office_share"])[sess]
    _shared_client(ctx, rng, rows, tool, "enterprise", team, office, (0, 1, 4), 0.4)
    ctx.usage(rng, rows, 320, 0.7, 800)
    return rows


def _shared_client(
    ctx: Context,
    rng: np.random.Generator,
    rows: Rows,
    shared: np.ndarray,
    system_kind: str,
    team: int,
    on_site: np.ndarray,
    max_tokens: tuple[int, ...],
    p_setting: float,
) -> None:
    """A group's shared client on its ``shared`` rows (the team's system prompt, browser build,
    model and request settings), the site's network on ``on_site`` rows, each member's own
    otherwise."""
    p, acct = ctx.plan, rows.acct
    system = ctx.systems[system_kind][team % len(ctx.systems[system_kind])]
    rows.system = pc.if_else(pa.array(shared), system, pa.scalar(None, pa.string()))
    rows.ip = np.where(on_site, p.home_ip[acct], p.alt_ip[acct]).astype(np.uint32)
    rows.country = p.country[acct]
    rows.ua = np.where(shared | (rng.random(len(acct)) < 0.85), p.ua1[acct], p.ua2[acct])
    rows.model = ctx.models(rng, acct, rows.ts, prefer="base", sess=rows.sess)
    rows.key = _keys(rng, p, acct)
    rows.route = p.route[acct]
    ctx.settings(rng, rows, shared, max_tokens, (1, 2, 3, 4), (0, 1, 2), p_setting)
    _one_model(ctx, rows, shared, team)
    _one_setting(ctx, rows, shared, team)


def _team_schedule(ctx: Context, g: Group) -> np.ndarray:
    """Launch times of the team's sweeps, one per run number (the same in every chunk)."""
    members = ctx.plan.group == g.index
    runs = int(ctx.plan.n_req[members].max()) // EVAL_RUN + 1
    r = np.random.default_rng([ctx.seed, 12, g.index])
    lo = np.full(runs, ctx.start_ms, dtype=np.int64)
    hi = np.full(runs, ctx.end_ms - HOUR_MS, dtype=np.int64)
    tz = np.full(runs, g.params["tz"])
    return np.sort(ctx.session_starts(r, np.zeros(runs, np.int64), "work", "work", tz, lo, hi))


def gen_eval_team(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Benchmark runs of one harness: run ``r`` of every member evaluates the team's ``r``-th
    (benchmark, model); a share of runs is launched together by a sweep, on one item list."""
    p, tb, t, team = ctx.plan, ctx.tables, g.params["tactics"], g.params["team"]
    n = len(acct)
    run = i // EVAL_RUN
    uniq, inv = np.unique(acct * 1000 + run, return_inverse=True)
    r_acct, r_run = uniq // 1000, uniq % 1000
    rr = np.random.default_rng([ctx.seed, 11, g.index, int(uniq.sum() % (2**31))])
    models = list(tb.base_models) + ([tb.new_model] if tb.new_model >= 0 else [])
    combos = [(b, m) for m in models for b in (0, 1)]
    slot = (r_run + team) % len(combos)
    bench = np.array([combos[s][0] for s in slot])
    r_model = np.array([combos[s][1] for s in slot])
    sync = rr.random(len(uniq)) < t["sync_runs"]
    start = ctx.session_starts(rr, r_acct, "work", "work", tz=np.full(len(uniq), g.params["tz"]))
    sweep = _team_schedule(ctx, g)[r_run]
    start[sync] = sweep[sync] + (rr.uniform(0, 180, size=int(sync.sum())) * 1000).astype(np.int64)
    new = r_model == tb.new_model
    start[new] = np.maximum(start[new], tb.release_ms + HOUR_MS)
    start = np.clip(start, np.maximum(p.created_ms[r_acct], ctx.start_ms), ctx.end_ms - HOUR_MS)
    gaps = rng.lognormal(np.log(700.0), 0.2, size=n).astype(np.int64)  # fixed concurrency
    ts = start[inv] + _cum_within(gaps, inv)
    shared = (rr.random(len(uniq)) < t["shared_items"])[inv]
    base = np.where(shared, team % 997, p.key_base[acct].astype(np.int64) % 997)
    owner = np.where(t["one_format"], team, p.key_base[acct].astype(np.int64) >> 3)
    msgs_parts, order = [], []
    for b, cap in ((0, "math"), (1, "code")):
        forms = ctx.eval_forms(cap)
        rows_b = np.nonzero(bench[inv] == b)[0]
        if len(rows_b) == 0:
            continue
        item = base[rows_b] * EVAL_RUN + i[rows_b] % EVAL_RUN
        public, own = ctx.bank.eval_tasks[cap], ctx.bank.tasks[cap]  # own: a private eval set
        text = pc.if_else(
            pa.array(shared[rows_b]),
            _take(public, item % len(public)),
            _take(own, item % len(own)),
        )
        pre, post = split_arrays(forms)
        fmt = owner[rows_b] % len(forms)
        msgs_parts.append(_user(ctx.wrapped(rng, pre, post, text, fmt)))
        order.append(rows_b)
    msgs = pa.concat_arrays(msgs_parts).take(
        pa.array(np.argsort(np.concatenate(order), kind="stable"))
    )
    rows = Rows(acct=acct, ts=ts, msgs=msgs)
    rows.model = r_model[inv]
    rows.ip = p.home_ip[acct].astype(np.uint32)
    rows.country = ctx.ips.country_of(rows.ip, p.country[acct])
    rows.ua = p.ua1[acct]
    rows.key = _keys(rng, p, acct)
    rows.route = p.route[acct]
    rows.max_tokens = MAX_TOKENS.index(1024) + bench[inv] + owner % 2
    rows.temp = np.zeros(n, dtype=np.int64)
    rows.reasoning = np.where(tb.reasoning[rows.model], 1 + owner % 3, -1)
    rows.stream = np.zeros(n, dtype=np.int64)
    ctx.usage(rng, rows, 260, 0.5, 1200, p429=0.02)
    return rows


def gen_hackathon(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Sessions at any hour of the event (a few after it for those who stay); the challenge's
    prompts over its small task list, or the participant's own coding questions."""
    p, t, team = ctx.plan, g.params["tactics"], g.params["team"]
    lo, hi = g.params["event"]
    hi = min(hi, ctx.end_ms - 1)
    sess, pos, first = ctx.sessions(rng, acct, 3.0, max_len=12)
    s_acct, ns = acct[first], len(first)
    stays = (p.key_base[s_acct] % 1000) / 1000.0 < t["retention"]
    after = stays & (rng.random(ns) < 0.4) & (hi < ctx.end_ms - DAY_MS)
    start = lo + (rng.random(ns) * (hi - lo)).astype(np.int64)
    k = int(after.sum())
    start[after] = ctx.session_starts(
        rng, s_acct[after], "evening", "consumer", None, np.full(k, hi), np.full(k, ctx.end_ms)
    )
    start = np.clip(start, p.created_ms[s_acct], ctx.end_ms - 1)
    ts = ctx.within(rng, sess, pos, start, 45.0, 0.8)
    challenge = (rng.random(ns) < t["challenge_share"])[sess]
    item = team % 10_000 * 25 + rng.integers(0, 25, size=ns)  # the challenge's task list
    t_text, t_ans = ctx.tasks(rng, ("code", "general"), ns, seq=item)
    pre, post = ctx.persona_wordings("plain", 1000 + team % 1000, t["wordings"])
    first_user = ctx.wrapped(rng, pre, post, t_text)
    chain = rng.integers(0, len(wordings.FOLLOWUPS), size=ns)
    challenge_msgs = ctx.with_followups(
        _take(first_user, sess), _take(t_ans, sess), pos, chain[sess], ctx.followups
    )
    msgs = pc.if_else(pa.array(challenge), challenge_msgs, _own_chats(ctx, rng, sess, pos))
    rows = Rows(acct=acct, ts=ts, msgs=msgs, sess=sess)
    kit = (p.flag[acct] & 1) > 0
    venue = (~after & (rng.random(ns) < t["venue_share"]))[sess]
    _shared_client(ctx, rng, rows, kit, "app", team, venue, (0, 4, 5), 0.6)
    ctx.usage(rng, rows, 400, 0.7, 900)
    return rows


GROUP_GENERATORS = {
    "company_team": gen_company_team,
    "eval_team": gen_eval_team,
    "hackathon": gen_hackathon,
}
