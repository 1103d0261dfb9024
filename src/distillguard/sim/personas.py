"""Generator 4's hard-benign personas: planners and request generators.

Honest customers whose requests ask for the reasoning, which random worlds lacked (issue 11;
a retrain that weighs campaign kinds equally put the hand-written ones at ``attack``), each
drawn per world from loose to campaign-tight (``scenario.TEACHER_TACTICS`` /
``TUTORING_TACTICS``, ranges in ``priors.yaml``):

- ``math_teacher``: teachers asking for a class's worksheets solved step by step, a grading
  rubric now and then, from school or home on the school-year week; from a few teachers of
  different schools with their own items and phrasing to one department on the school NAT and
  managed browser, working through the shared textbook in one template on the district's card;
- ``tutoring_service``: a startup sending its students' homework through one tutor system prompt
  and a few question forms, at student hours; from one business-verified account to many
  accounts opened one by one on one card from one backend, every form asking for the steps.

Planned after generator 3's groups with a stream of their own (``_Planner.plan_groups``), so
every other account of a world is generator 3's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import wordings
from .gen import Context, Rows, _keys, _take, _user, grammar_wordings, split_arrays
from .geo import COUNTRIES
from .groups import _network, _one_setting, _wave
from .plan import _CONSUMER_MAIL, DAY_MS, Group, _company_domain, _mail_domains
from .plan import _lognormal_counts as lognormal_counts
from .scenario import PersonaSpec, persona_tactics
from .text import esc

if TYPE_CHECKING:
    from .plan import _Planner

_TEACHER_COUNTRIES = ("US", "GB", "CA", "AU", "IN", "DE", "NL", "ZA")
_TUTOR_COUNTRIES = ("US", "GB", "IN", "CA", "AU", "SG", "BR", "DE")
# A tutoring app's tutor prompt (one per startup), beside the app prompts of ``scripts``.
TUTOR_SYSTEMS: tuple[str, ...] = (
    "You are Mathly, a patient math tutor for students aged 11-18. Explain each step of the "
    "solution, check the student's understanding and never just give the final answer.",
    "You are the homework helper of StudyStack. Walk the student through the problem step by "
    "step, name the rule used at each step, and end with a short practice question.",
    "You are Tutorly's AI tutor. Solve the student's problem showing your work, then explain "
    "the key idea in one or two sentences a 14-year-old would understand.",
    "You are a friendly tutor in the BrightPath learning app. Use simple language, number the "
    "steps, and encourage the student to try the next step themselves.",
)


# ---- planners (run with the planner's stream swapped for the personas' own) -----------------
def plan_math_teacher(p: _Planner, g: Group, n: int, spec: PersonaSpec) -> None:
    """Teachers of one department (school network, managed browser, district card, one
    training day) or of schools of their own (own network, browser, card, sign-up date)."""
    t = persona_tactics("math_teacher", spec)
    rng, tables = p.rng, p.tables
    n_req = lognormal_counts(rng, n, spec.requests, 0.7, lo=5)
    cidx = p.code_index[_TEACHER_COUNTRIES[int(rng.integers(len(_TEACHER_COUNTRIES)))]]
    country = np.full(n, cidx)
    g.params.update(tactics=t, tz=float(COUNTRIES[cidx].tz[0]), team=int(rng.integers(2**31)))
    dept = rng.random(n) < t["same_school"]
    school = np.where(dept, _network(p, cidx, n, t["school_nat"]), p.ips.corporate(rng, country))
    build = tables.browser(rng, 1)[0]
    managed = dept & (rng.random(n) < t["managed_browser"])
    own_day = p.start_ms - (rng.lognormal(np.log(200), 0.9, size=n) * DAY_MS).astype(np.int64)
    district = p.new_card() if t["district_card"] else ""
    cards = [district if (d and district) else p.new_card() for d in dept]
    school_mail = _company_domain(rng)
    mail = _mail_domains(rng, _CONSUMER_MAIL, "company", 10, n)
    p.add(
        g,
        n,
        n_req,
        signup="teacher",
        country=country,
        created=np.where(dept, _wave(p, n, t), own_day),
        ip_mode=np.full(n, 4),
        home=school,
        alt=p.ips.by_country(rng, country),
        ua1=np.where(managed, build, tables.browser(rng, n)),
        ua2=tables.browser(rng, n),
        payment=cards,
        email=[school_mail if d else m for d, m in zip(dept, mail, strict=True)],
        flag=dept.astype(np.int64),
    )


def plan_tutoring_service(p: _Planner, g: Group, n: int, spec: PersonaSpec) -> None:
    """One startup's accounts: one verified organisation or accounts opened one by one, its
    one SDK client, backend hosts, the startup's card or a card each, opened in a wave."""
    t = persona_tactics("tutoring_service", spec)
    rng, tables, ips = p.rng, p.tables, p.ips
    n_req = lognormal_counts(rng, n, spec.requests, 0.5, lo=20)
    cidx = p.code_index[_TUTOR_COUNTRIES[int(rng.integers(len(_TUTOR_COUNTRIES)))]]
    g.params.update(tactics=t, tz=float(COUNTRIES[cidx].tz[0]), team=int(rng.integers(2**31)))
    backend = ips.hosting(rng, 1)[0]
    client = tables.sdk(rng, 1)[0]
    org = [p.new_org()] * n if t["business_verified"] else None
    card = [p.new_card()] * n if t["company_card"] else None
    p.add(
        g,
        n,
        n_req,
        signup="startup_verified" if t["business_verified"] else "startup",
        country=np.full(n, cidx),
        created=_wave(p, n, t),
        ip_mode=np.full(n, 2),
        home=np.full(n, backend, np.uint32) if t["one_backend"] else ips.hosting(rng, n),
        alt=ips.hosting(rng, n),
        ua1=np.full(n, client),
        ua2=np.full(n, client),
        style=np.full(n, int(rng.integers(0, 2))),
        adopt=p.adopt_after(n, 48.0, 0.3),
        org=org,
        payment=card,
        email=[_company_domain(rng)] * n,
    )


G4_PLANNERS = {
    "math_teacher": plan_math_teacher,
    "tutoring_service": plan_tutoring_service,
}


# ---- request generators ---------------------------------------------------------------------
def _window(pool_len: int, offset: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A phrasing per row from ``k`` consecutive ones of a pool, starting at ``offset``: rows
    with one offset share their ``k`` phrasings (one department's template, one app's forms)."""
    return (offset + rng.integers(0, max(k, 1), size=len(offset))) % pool_len


def _teacher_wordings(ctx: Context, team: int) -> tuple[pa.Array, pa.Array]:
    """The world's pool of teacher phrasings: the teacher frames and the grammar's
    step-by-step ones (without the harvest's tags, which no teacher asks for)."""
    rng = np.random.default_rng([ctx.scenario.world.grammar_seed or 0, 4, 3000 + team % 1000])
    cot = [w for w in grammar_wordings(rng, "cot", ("en",), 24) if "<" not in w]
    return split_arrays(list(wordings.TEACHER_FRAMES) + cot)


def _teacher_text(
    ctx: Context, g: Group, rng: np.random.Generator, acct: np.ndarray, sess, pos, first, start
) -> pa.Array:
    """Per row: a worksheet item solved step by step, a rubric over a student's answer, or the
    teacher's own chat (lesson planning, a parent email)."""
    p, t, team = ctx.plan, g.params["tactics"], g.params["team"]
    ns = len(first)
    s_acct = acct[first]
    dept = (p.flag[s_acct] & 1) > 0
    u = rng.random(ns)
    kind = np.where(u < t["worksheet_share"], 0, 2)
    kind[(u >= t["worksheet_share"]) & (u < t["worksheet_share"] + t["rubric_share"])] = 1
    # The worksheet: the week's textbook items in order (shared by the department) or own ones.
    week = (start - ctx.start_ms) // (7 * DAY_MS)
    shared = dept & (rng.random(ns) < t["shared_curriculum"])
    base = np.where(shared, team % 997, p.key_base[s_acct].astype(np.int64) % 997)
    item = base * 211 + week * 23 + rng.integers(0, 3, size=ns)
    t_text, t_ans = ctx.tasks(rng, ("math",), len(acct), seq=item[sess] + pos)
    # Phrasing: the department's template window, else the teacher's own.
    pre, post = _teacher_wordings(ctx, team)
    own = (p.key_base[s_acct] >> 5).astype(np.int64)
    offset = np.where(dept, team, own)[sess]
    sheet = _user(
        ctx.wrapped(rng, pre, post, t_text, _window(len(pre), offset, t["wordings"], rng))
    )
    # Grading: the teacher's rubric over the task and a student's answer.
    r_pre, r_post = split_arrays(wordings.TEACHER_RUBRICS)
    answer = pc.binary_join_element_wise(t_text, "\\n\\nStudent's answer: ", t_ans, "")
    graded = _user(ctx.wrapped(rng, r_pre, r_post, answer, _window(len(r_pre), offset, 2, rng)))
    conv = ctx.bank.chat.pick(rng, np.bincount(sess))
    chat = ctx.bank.conv_messages(ctx.bank.chat, conv[sess], pos)
    row_kind = kind[sess]
    return pc.if_else(
        pa.array(row_kind == 0), sheet, pc.if_else(pa.array(row_kind == 1), graded, chat)
    )


def gen_math_teacher(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """School-week sessions (prep periods at school, evenings and Sundays at home), items
    pasted one after another, on the teacher's browser."""
    p, t = ctx.plan, g.params["tactics"]
    n = len(acct)
    sess, pos, first = ctx.sessions(rng, acct, 5.0, max_len=20)
    s_acct, ns = acct[first], len(first)
    tz = np.full(ns, g.params["tz"])
    at_school = rng.random(ns) < t["school_share"]
    start = np.empty(ns, dtype=np.int64)
    start[at_school] = ctx.session_starts(rng, s_acct[at_school], "work", "weekdays", tz[at_school])
    home = ~at_school
    start[home] = ctx.session_starts(rng, s_acct[home], "evening", "evening", tz[home])
    ts = ctx.within(rng, sess, pos, start, 60.0, 0.7)
    msgs = _teacher_text(ctx, g, rng, acct, sess, pos, first, start)
    rows = Rows(acct=acct, ts=ts, msgs=msgs, sess=sess)
    school = at_school[sess]
    rows.ip = np.where(school, p.home_ip[acct], p.alt_ip[acct]).astype(np.uint32)
    rows.country = p.country[acct]
    rows.ua = np.where(rng.random(n) < 0.9, p.ua1[acct], p.ua2[acct])
    rows.model = ctx.models(rng, acct, ts, prefer="base", sess=sess)
    rows.key = _keys(rng, p, acct)
    rows.route = p.route[acct]
    ctx.settings(rng, rows, np.zeros(n, dtype=bool), (0,), (0,), (0, 1, 2), 0.5)
    ctx.usage(rng, rows, 450, 0.7, 900)
    return rows


def _tutor_text(
    ctx: Context, g: Group, rng: np.random.Generator, acct: np.ndarray, sess, pos, first
) -> pa.Array:
    """Per session: a homework item through one of the app's forms (the first ``stepwise``
    share of them ask for the steps) or typed by the student, then the student's follow-ups."""
    t, team = g.params["tactics"], g.params["team"]
    ns = len(first)
    k = int(t["forms"])
    n_step = int(round(t["stepwise"] * k))
    s_pre, s_post = ctx.persona_wordings("benign_stepwise", 5000 + team % 1000, max(n_step, 1))
    f_pre, f_post = ctx.persona_wordings("plain", 6000 + team % 1000, max(k - n_step, 1))
    forms_pre = pa.concat_arrays([s_pre[:n_step], f_pre[: k - n_step]])
    forms_post = pa.concat_arrays([s_post[:n_step], f_post[: k - n_step]])
    form = rng.integers(0, len(forms_pre), size=ns)
    t_text, t_ans = ctx.tasks(rng, ("math", "math", "math", "general"), ns)
    filled = ctx.wrapped(rng, forms_pre, forms_post, t_text, form)
    st_pre, st_post = split_arrays(wordings.STUDENT)
    typed = ctx.wrapped(rng, st_pre, st_post, t_text)
    on_form = pa.array(rng.random(ns) < t["form_share"])
    first_user = pc.if_else(on_form, filled, typed)
    chain = rng.integers(0, len(wordings.FOLLOWUPS), size=ns)
    return ctx.with_followups(
        _take(first_user, sess), _take(t_ans, sess), pos, chain[sess], ctx.followups
    )


def gen_tutoring_service(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Students' sessions at student hours in their own time zone, through the app's backend,
    one tutor system prompt, one client, model and parameter tuple."""
    p, t, team = ctx.plan, g.params["tactics"], g.params["team"]
    n = len(acct)
    sess, pos, first = ctx.sessions(rng, acct, 1.0 + 3.0 * t["followups"], max_len=6)
    ns = len(first)
    local = rng.random(ns) < t["local_students"]
    w = np.array([c.weight for c in COUNTRIES])
    tz = np.array([COUNTRIES[c].tz[0] for c in rng.choice(len(COUNTRIES), size=ns, p=w / w.sum())])
    tz = np.where(local, g.params["tz"], tz)
    start = ctx.session_starts(rng, acct[first], "evening", "evening", tz=tz)
    ts = ctx.within(rng, sess, pos, start, 50.0, 0.8)
    rows = Rows(acct=acct, ts=ts, msgs=_tutor_text(ctx, g, rng, acct, sess, pos, first), sess=sess)
    rows.system = pa.array(np.full(n, esc(TUTOR_SYSTEMS[team % len(TUTOR_SYSTEMS)]), object))
    rows.ip = np.where(rng.random(n) < 0.85, p.home_ip[acct], p.alt_ip[acct]).astype(np.uint32)
    rows.country = ctx.ips.country_of(rows.ip, p.country[acct])
    rows.ua = p.ua1[acct]
    plain = ctx.tables.plain_models
    rows.model = np.full(n, plain[team % len(plain)])
    rows.key = _keys(rng, p, acct)
    rows.route = p.route[acct]
    _one_setting(ctx, rows, np.ones(n, dtype=bool), team)
    ctx.usage(rng, rows, 380, 0.6, 900)
    return rows


G4_GENERATORS = {
    "math_teacher": gen_math_teacher,
    "tutoring_service": gen_tutoring_service,
}
