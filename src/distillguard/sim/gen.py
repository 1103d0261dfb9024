"""Request generators, one per persona and campaign type, vectorised over the rows of a chunk.

Each generator takes the work units of one group (accounts with a request count and an offset
into that account's request sequence) and returns a :class:`Rows` batch. Timestamps, sessions,
models, addresses and usage are numpy draws; message text is assembled from JSON-escaped pools
with ``pyarrow.compute`` (loops run over distinct values only, never over rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import scripts, wordings
from .geo import COUNTRIES
from .plan import DAY_MS, HOUR_MS, PROXY_COUNTRIES, Group, IpSampler, Plan, Tables
from .scenario import CLASS_TACTICS, Scenario
from .text import TextBank, esc

# JSON literals for a few optional fields (index -1 = field absent).
TEMPS: tuple[str, ...] = ("0", "0.2", "0.3", "0.5", "0.7", "0.8", "1", "1.0")
REASONING: tuple[str, ...] = (
    '"low"',
    '"medium"',
    '"high"',
    "1024",
    "4096",
    "8192",
    "16000",
    "32000",
)
MAX_TOKENS: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192, 16000, 32000)

# Local-hour activity profiles (relative weights for hours 0..23) and weekday weights (Mon..Sun).
PROFILES: dict[str, np.ndarray] = {
    "consumer": np.array(
        [
            2,
            1.2,
            0.8,
            0.55,
            0.45,
            0.55,
            1.1,
            2.1,
            3,
            3.5,
            3.8,
            4,
            4.2,
            4,
            3.9,
            3.9,
            4,
            4.3,
            4.8,
            5.4,
            5.8,
            5.6,
            4.6,
            3.2,
        ]
    ),
    "work": np.array(
        [
            0.4,
            0.25,
            0.2,
            0.2,
            0.25,
            0.4,
            0.9,
            2,
            4.2,
            5.6,
            6,
            5.8,
            4.8,
            5.4,
            5.8,
            5.6,
            5,
            3.8,
            2.4,
            1.8,
            1.6,
            1.4,
            1,
            0.7,
        ]
    ),
    "evening": np.array(
        [
            2.2,
            1.2,
            0.6,
            0.3,
            0.2,
            0.3,
            0.6,
            1.2,
            1.8,
            2,
            2.2,
            2.4,
            2.6,
            2.8,
            3.2,
            3.8,
            4.4,
            4.8,
            5,
            5.4,
            5.8,
            5.6,
            4.6,
            3.4,
        ]
    ),
    "long_work": np.array(
        [
            1,
            0.6,
            0.4,
            0.3,
            0.3,
            0.5,
            1.2,
            2.4,
            4,
            5,
            5.5,
            5.5,
            5,
            5.4,
            5.6,
            5.5,
            5.2,
            4.6,
            3.8,
            3.4,
            3.2,
            2.8,
            2.2,
            1.5,
        ]
    ),
    "platform": np.array(
        [
            2.6,
            2,
            1.6,
            1.4,
            1.4,
            1.6,
            2.2,
            3,
            3.6,
            4,
            4.2,
            4.3,
            4.4,
            4.3,
            4.2,
            4.2,
            4.3,
            4.5,
            4.8,
            5,
            5,
            4.8,
            4.2,
            3.4,
        ]
    ),
    "batch": np.array(
        [
            6,
            7,
            7,
            7,
            6,
            3,
            0.4,
            0.2,
            0.2,
            0.2,
            0.2,
            0.2,
            0.2,
            0.2,
            0.2,
            0.2,
            0.2,
            0.2,
            0.2,
            0.2,
            0.3,
            0.5,
            1.5,
            4,
        ]
    ),
    "operator": np.array(
        [
            2.4,
            2.2,
            2,
            2,
            2,
            2.1,
            2.4,
            2.8,
            3,
            3.1,
            3.1,
            3.1,
            3,
            3.1,
            3.1,
            3.1,
            3,
            3,
            3,
            2.9,
            2.9,
            2.8,
            2.7,
            2.5,
        ]
    ),
}
WEEKLY: dict[str, np.ndarray] = {
    "consumer": np.array([1, 1, 1, 1, 0.95, 0.85, 0.9]),
    "work": np.array([1, 1, 1, 1, 0.9, 0.25, 0.2]),
    "evening": np.array([1, 1, 1, 0.9, 0.7, 0.6, 0.95]),
    "flat": np.ones(7),
    "weekdays": np.array([1, 1, 1, 1, 1, 0, 0]),
}


@dataclass
class Rows:
    """One batch of requests (columns); ``msgs`` is the escaped JSON of the message list."""

    acct: np.ndarray
    ts: np.ndarray
    msgs: pa.Array
    system: pa.Array | None = None
    sess: np.ndarray | None = None
    model: np.ndarray | None = None
    ip: np.ndarray | None = None
    country: np.ndarray | None = None
    ua: np.ndarray | None = None
    key: np.ndarray | None = None
    route: np.ndarray | None = None
    tools: np.ndarray | None = None
    max_tokens: np.ndarray | None = None
    temp: np.ndarray | None = None
    reasoning: np.ndarray | None = None
    stream: np.ndarray | None = None
    out_tok: np.ndarray | None = None
    rsn_tok: np.ndarray | None = None
    status: np.ndarray | None = None
    latency: np.ndarray | None = None
    attack: np.ndarray | None = None
    campaign: np.ndarray | None = None
    sess_id: np.ndarray | None = None  # globally unique session numbers (set by the runner)

    def __len__(self) -> int:
        return len(self.acct)


def _user(content: pa.Array | list) -> pa.Array:
    parts = content if isinstance(content, list) else [content]
    return pc.binary_join_element_wise('{"role":"user","content":"', *parts, '"}', "")


def _take(arr: pa.Array, idx: np.ndarray) -> pa.Array:
    return arr.take(pa.array(np.asarray(idx, dtype=np.int64)))


def split_arrays(ws: list[str] | tuple[str, ...]) -> tuple[pa.Array, pa.Array]:
    """The escaped text before and after each wording's ``{task}`` slot, as two arrays."""
    pre, post = zip(*(wordings.split(w) for w in ws), strict=True)
    return pa.array([esc(x) for x in pre]), pa.array([esc(x) for x in post])


def grammar_wordings(
    rng: np.random.Generator, intent: str, langs: tuple[str, ...] | list[str], n: int
) -> list[str]:
    """``n`` wordings of ``intent`` spread over ``langs`` (English where a language is not
    covered by the grammar)."""
    from . import grammar

    langs = [x if x in grammar.LANGS else "en" for x in langs] or ["en"]
    per = np.bincount(rng.integers(0, len(langs), size=max(n, len(langs))), minlength=len(langs))
    per = np.maximum(per, 1)
    out: list[str] = []
    for lang, k in zip(langs, per, strict=True):
        out += grammar.wordings(intent, lang, rng, int(k))
    return list(dict.fromkeys(out))


class Context:
    """Everything the generators share for one run."""

    def __init__(self, scenario: Scenario, bank: TextBank, tables: Tables, plan: Plan, seed: int):
        self.scenario = scenario
        self.bank = bank
        self.tables = tables
        self.plan = plan
        self.seed = seed
        self.ips = IpSampler(bank)
        self.start_ms = int(scenario.start.timestamp() * 1000)
        self.period_ms = int(scenario.days * DAY_MS)
        self.end_ms = self.start_ms + self.period_ms
        self.n_days = int(np.ceil(scenario.days))
        first_weekday = scenario.start.weekday()
        self.day_weekday = (first_weekday + np.arange(self.n_days)) % 7
        self.agent_scripts = scripts.build_scripts(
            bank.answers.get("code", pa.array([], pa.string()))
        )
        self.script_steps = 40
        self.n_scripts = len(self.agent_scripts) // self.script_steps
        self.followups = self._chains(wordings.FOLLOWUPS)
        self.careful_followups = self._chains(wordings.CAREFUL_FOLLOWUPS)
        self.systems = {
            "agent": pa.array([esc(s) for s in scripts.AGENT_SYSTEMS]),
            "app": pa.array([esc(s) for s in scripts.APP_SYSTEMS]),
            "dev": pa.array([esc(s) for s in scripts.DEV_SYSTEMS]),
            "harvest": pa.array([esc(s) for s in scripts.HARVEST_SYSTEMS]),
            "enterprise": pa.array([esc(s) for s in scripts.ENTERPRISE_SYSTEMS]),
        }
        self.enterprise = [
            tuple(esc(p) for p in wordings.split(t)) for t in scripts.ENTERPRISE_TEMPLATES
        ]
        self.campaign_words = {
            ci: self._campaign_wordings(ci) for ci in range(len(scenario.campaigns))
        }
        self.proxy_countries = np.array(
            [[c.code for c in COUNTRIES].index(code) for code, _ in PROXY_COUNTRIES]
        )
        w = np.array([w for _, w in PROXY_COUNTRIES])
        self.proxy_p = w / w.sum()
        # Round-robin spacing per campaign: the campaign's requests evenly over its window.
        self.rr: dict[int, tuple[int, int, float]] = {}
        for ci, c in enumerate(scenario.campaigns):
            s = self.start_ms + int(c.start_day * DAY_MS)
            e = self.start_ms + int(
                (c.end_day if c.end_day is not None else scenario.days) * DAY_MS
            )
            members = plan.group == next(g.index for g in plan.groups if g.campaign_index == ci)
            max_n = int(plan.n_req[members].max()) if members.any() else 1
            self.rr[ci] = (s, e, (e - s) / max(1, max_n * c.accounts))

    def _chains(self, texts: tuple[str, ...], kmax: int = 6) -> pa.Array:
        """Follow-up chains: index ``s * kmax + k`` holds follow-ups 1..k starting at ``s``."""
        reply = esc(
            "Sure, here's more detail on that. The key step is to keep track of what changes and why; the rest follows directly."
        )
        out = []
        for s in range(len(texts)):
            for k in range(kmax):
                parts = []
                for j in range(1, k + 1):
                    if j > 1:
                        parts.append(',{"role":"assistant","content":"' + reply + '"}')
                    parts.append(
                        ',{"role":"user","content":"' + esc(texts[(s + j - 1) % len(texts)]) + '"}'
                    )
                out.append("".join(parts))
        return pa.array(out, pa.string())

    def _campaign_wordings(self, ci: int) -> dict[str, tuple[pa.Array, pa.Array]]:
        if self.scenario.world.grammar_seed is not None:
            return self._grammar_wordings(ci)
        c = self.scenario.campaigns[ci]
        rng = np.random.default_rng([self.seed, 3, ci])
        n = c.tactics["wordings"]
        langs = list(c.languages)

        def sample(pool: list[str], k: int) -> list[str]:
            if len(pool) <= k:
                return pool
            return [pool[i] for i in sorted(rng.choice(len(pool), size=k, replace=False))]

        if c.type == "hydra":
            plain = wordings.hydra_paraphrases(rng, langs, n)
        elif c.type == "agentic_harvest":
            plain = sample(wordings.pick(wordings.AGENTIC, langs), n)
        elif c.type == "careful":
            plain = sample(list(wordings.CAREFUL), n)
        else:
            plain = [
                "Answer the following question in detail.\n\n{task}",
                "{task}",
                "{task}\n\nGive a complete answer.",
            ]
        cot_pool = wordings.pick(wordings.COT, langs if c.type != "careful" else ["en"])
        # At least one chain-of-thought wording per language, then fill up to ``n``.
        cot = [w for lang in langs for w in wordings.COT.get(lang, ())[:1]]
        cot += [w for w in sample(cot_pool, n) if w not in cot]
        cot = cot[: max(n, len(langs))]
        sens = wordings.pick(wordings.SENSITIVE_REWRITE, langs)
        out = {}
        for name, ws in (
            ("plain", plain),
            ("cot", cot),
            ("sensitive", sens),
            ("rubric", list(wordings.RUBRIC_FRAMES)),
        ):
            out[name] = split_arrays(ws)
        return out

    def _grammar_wordings(self, ci: int) -> dict[str, tuple[pa.Array, pa.Array]]:
        """A random world's wordings: drawn from the combinatorial grammar, new per world."""
        c = self.scenario.campaigns[ci]
        rng = np.random.default_rng([self.scenario.world.grammar_seed, 3, ci])
        n = c.tactics["wordings"]
        plain_intent = "agent" if c.type in ("agentic_harvest",) else "plain"
        if c.type in ("hydra", "slow_drip", "adaptive"):
            plain_intent = "cot" if c.type == "adaptive" else "plain"
        out = {}
        for name, intent, k in (
            ("plain", plain_intent, n),
            ("cot", "cot", n),
            ("sensitive", "sensitive", max(2, n // 3)),
            ("rubric", "rubric", max(2, n // 3)),
        ):
            ws = grammar_wordings(rng, intent, c.languages, k)
            out[name] = split_arrays(ws)
        return out

    def eval_forms(self, cap: str) -> tuple[str, ...]:
        """The harness formats of benchmark ``cap`` (math, code) in use in this world: the fixed
        two, or (``world.eval_formats``) that many drawn per world from every known one."""
        base = {"math": wordings.EVAL_MATH, "code": wordings.EVAL_CODE}[cap]
        k = self.scenario.world.eval_formats
        if k is None:
            return base
        pool = base + {"math": wordings.EVAL_MATH_MORE, "code": wordings.EVAL_CODE_MORE}[cap]
        rng = np.random.default_rng([self.scenario.world.grammar_seed or 0, 14, len(cap)])
        return tuple(pool[int(i)] for i in rng.permutation(len(pool))[: min(k, len(pool))])

    def persona_wordings(self, intent: str, key: int, n: int) -> tuple[pa.Array, pa.Array]:
        """Wordings of a hard-benign persona (grammar in random worlds, else fixed lists)."""
        seed = self.scenario.world.grammar_seed
        if seed is None and intent == "benign_stepwise":
            ws = list(wordings.STUDENT)  # the presets' students keep their fixed phrasings
        else:
            rng = np.random.default_rng([seed or 0, 4, key])
            ws = grammar_wordings(rng, intent, ("en",), n)
        return split_arrays(ws)

    # ---- time --------------------------------------------------------------------------
    def session_starts(
        self,
        rng: np.random.Generator,
        acct: np.ndarray,
        profile: str,
        weekly: str,
        tz: np.ndarray | None = None,
        lo_ms: np.ndarray | None = None,
        hi_ms: np.ndarray | None = None,
    ) -> np.ndarray:
        """Session start times: a day (weekly cycle) and a local hour (diurnal cycle) in the
        account's own time zone, restricted to ``[lo_ms, hi_ms)`` (default: after sign-up)."""
        n = len(acct)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        pd = WEEKLY[weekly][self.day_weekday].astype(np.float64)
        last_frac = self.scenario.days - (self.n_days - 1)
        pd[-1] *= last_frac
        if pd.sum() <= 0:  # e.g. a weekend-only period for a weekdays-only persona
            pd = np.ones(self.n_days)
        day = rng.choice(self.n_days, size=n, p=pd / pd.sum())
        prof = PROFILES[profile]
        hour = rng.choice(24, size=n, p=prof / prof.sum()) + rng.random(n)
        tz = self.plan.tz[acct] if tz is None else tz
        off = ((day * 24 + hour - tz) * HOUR_MS).astype(np.int64) % self.period_ms
        ts = self.start_ms + off
        lo = np.maximum(self.plan.created_ms[acct], self.start_ms) if lo_ms is None else lo_ms
        hi = np.full(n, self.end_ms, dtype=np.int64) if hi_ms is None else hi_ms
        # Outside the window: move by whole days (keeps the local hour), else draw uniformly.
        early = ts < lo
        ts[early] += np.ceil((lo[early] - ts[early]) / DAY_MS).astype(np.int64) * DAY_MS
        late = ts >= hi
        span = np.maximum(hi - lo, 1)
        back = np.ceil((ts[late] - hi[late] + 1) / DAY_MS).astype(np.int64) * DAY_MS
        ts[late] -= back
        bad = (ts < lo) | (ts >= hi)
        ts[bad] = lo[bad] + (rng.random(int(bad.sum())) * span[bad]).astype(np.int64)
        return ts

    @staticmethod
    def sessions(
        rng: np.random.Generator, acct_rows: np.ndarray, mean_len: float, max_len: int = 12
    ):
        """Split each account's rows (contiguous) into sessions: ``(sess, pos, first_row)``."""
        n = len(acct_rows)
        new = rng.random(n) < 1.0 / mean_len
        new[0] = True
        new[1:] |= acct_rows[1:] != acct_rows[:-1]
        idx = np.arange(n)
        sess = np.cumsum(new) - 1
        first = idx[new]
        pos = idx - first[sess]
        # Cap session length: a row past ``max_len`` starts a new session.
        over = pos >= max_len
        if over.any():
            new |= pos % max_len == 0
            sess = np.cumsum(new) - 1
            first = idx[new]
            pos = idx - first[sess]
        return sess, pos, first

    @staticmethod
    def within(
        rng: np.random.Generator,
        sess: np.ndarray,
        pos: np.ndarray,
        start: np.ndarray,
        median_s: float,
        sigma: float,
    ) -> np.ndarray:
        """Row times: session start plus cumulative think/step times inside the session."""
        gaps = (rng.lognormal(np.log(median_s * 1000.0), sigma, size=len(sess))).astype(np.int64)
        gaps[pos == 0] = 0
        csum = np.cumsum(gaps)
        base = csum[np.searchsorted(sess, sess, side="left")] if len(sess) else csum
        # ``sess`` is non-decreasing, so the first row of each session is found by searchsorted.
        return start[sess] + (csum - base)

    # ---- models, addresses, usage ----------------------------------------------------------
    def models(
        self,
        rng: np.random.Generator,
        acct: np.ndarray,
        ts: np.ndarray,
        prefer: str = "base",
        new_share: float | None = None,
        sess: np.ndarray | None = None,
    ) -> np.ndarray:
        """Model per row; with ``sess`` one model per session (people rarely switch mid-chat)."""
        if sess is not None and len(sess):
            first = np.searchsorted(sess, np.arange(int(sess[-1]) + 1))
            return self.models(rng, acct[first], ts[first], prefer, new_share)[sess]
        t = self.tables
        n = len(acct)
        if prefer == "reasoning":
            pool = np.array(t.reasoning_models + t.plain_models)
            w = np.array(
                [0.65 / len(t.reasoning_models)] * len(t.reasoning_models)
                + [0.35 / len(t.plain_models)] * len(t.plain_models)
            )
            m = pool[rng.choice(len(pool), size=n, p=w / w.sum())]
        elif prefer == "plain":
            m = np.array(t.plain_models)[rng.integers(0, len(t.plain_models), size=n)]
        else:
            m = np.array(t.base_models)[rng.choice(len(t.base_models), size=n, p=t.base_p)]
        if t.new_model >= 0:
            share = t.new_adoption if new_share is None else new_share
            on_new = (ts >= np.maximum(self.plan.adopt_ms[acct], t.release_ms)) & (
                rng.random(n) < share
            )
            m = np.where(on_new, t.new_model, m)
        return m

    def home_ips(
        self, rng: np.random.Generator, acct: np.ndarray, p_home: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row from the account's home/main address or its alternate (mobile, office, cloud)."""
        p = self.plan
        use_home = rng.random(len(acct)) < p_home
        ip = np.where(use_home, p.home_ip[acct], p.alt_ip[acct]).astype(np.uint32)
        # Mobile carriers hand out a new address per connection: redraw inside the carrier block.
        mobile = (~use_home) & (p.ip_mode[acct] == 0)
        if mobile.any():
            ip[mobile] = self.ips.by_country(rng, p.country[acct][mobile], mobile=True)
        country = p.country[acct].copy()
        # Hosting / VPN exits are recorded with the country GeoIP gives their address.
        hosted = ((p.ip_mode[acct] == 1) & use_home) | ((p.ip_mode[acct] == 2) & ~use_home)
        if hosted.any():
            country[hosted] = self.ips.country_of(ip[hosted], country[hosted])
        return ip, country

    @staticmethod
    def usage(
        rng: np.random.Generator,
        rows: Rows,
        out_median: float,
        out_sigma: float,
        rsn_median: float,
        p429: float = 0.004,
    ) -> None:
        n = len(rows)
        out = np.maximum(1, rng.lognormal(np.log(out_median), out_sigma, size=n)).astype(np.int64)
        rsn = np.full(n, -1, dtype=np.int64)
        if rows.reasoning is not None:
            has = rows.reasoning >= 0
            rsn[has] = np.maximum(
                0, rng.lognormal(np.log(rsn_median), 0.8, size=int(has.sum()))
            ).astype(np.int64)
        u = rng.random(n)
        status = np.full(n, 200, dtype=np.int64)
        status[u < p429] = 429
        status[(u >= p429) & (u < p429 + 0.003)] = 400
        status[(u >= p429 + 0.003) & (u < p429 + 0.005)] = 500
        ok = status == 200
        out = np.where(ok, out, 0)
        rsn = np.where(ok | (rsn < 0), rsn, 0)
        lat = np.where(
            ok,
            250 + out * rng.uniform(9, 22, size=n) + np.maximum(rsn, 0) * 8,
            rng.uniform(20, 400, size=n),
        )
        rows.out_tok, rows.rsn_tok, rows.status, rows.latency = (
            out,
            rsn,
            status,
            lat.astype(np.int64),
        )

    def settings(
        self,
        rng: np.random.Generator,
        rows: Rows,
        sdk_rows: np.ndarray,
        temps: tuple[int, ...],
        max_tok: tuple[int, ...],
        rsn_choices: tuple[int, ...],
        stream_p: float,
    ) -> None:
        """Sampling settings: SDK clients set max_tokens/temperature; browsers mostly do not."""
        n = len(rows)
        mt = np.array(max_tok)[rng.integers(0, len(max_tok), size=n)]
        rows.max_tokens = np.where(sdk_rows & (rng.random(n) < 0.85), mt, -1)
        tp = np.array(temps)[rng.integers(0, len(temps), size=n)]
        rows.temp = np.where(sdk_rows & (rng.random(n) < 0.6), tp, -1)
        is_r = self.tables.reasoning[rows.model]
        rs = np.array(rsn_choices)[rng.integers(0, len(rsn_choices), size=n)]
        rows.reasoning = np.where(is_r, rs, -1)
        rows.stream = np.where(sdk_rows, (rng.random(n) < stream_p).astype(np.int64), 1)

    # ---- text ----------------------------------------------------------------------------
    def tasks(
        self, rng: np.random.Generator, caps: tuple[str, ...], n: int, seq: np.ndarray | None = None
    ):
        """Task text and reference answer per row (escaped), from the capability pools."""
        cap_i = rng.integers(0, len(caps), size=n)
        out_t: list[pa.Array] = []
        out_a: list[pa.Array] = []
        order = []
        for j, cap in enumerate(caps):  # loop over distinct capabilities
            rows = np.nonzero(cap_i == j)[0]
            if len(rows) == 0:
                continue
            pool_t, pool_a = self.bank.tasks[cap], self.bank.answers[cap]
            idx = (
                seq[rows] if seq is not None else rng.integers(0, len(pool_t), size=len(rows))
            ) % len(pool_t)
            out_t.append(_take(pool_t, idx))
            out_a.append(_take(pool_a, idx))
            order.append(rows)
        inv = np.argsort(np.concatenate(order), kind="stable")
        return pa.concat_arrays(out_t).take(pa.array(inv)), pa.concat_arrays(out_a).take(
            pa.array(inv)
        )

    def wrapped(
        self,
        rng: np.random.Generator,
        pre: pa.Array,
        post: pa.Array,
        task: pa.Array,
        w: np.ndarray | None = None,
    ) -> pa.Array:
        if w is None:
            w = rng.integers(0, len(pre), size=len(task))
        return pc.binary_join_element_wise(_take(pre, w), task, _take(post, w), "")

    def with_followups(
        self,
        first_user: pa.Array,
        answer: pa.Array,
        pos: np.ndarray,
        chain_start: np.ndarray,
        chains: pa.Array,
    ) -> pa.Array:
        """First user turn, then (for later turns) the answer and the follow-up chain."""
        kmax = 6
        pos = np.minimum(pos, kmax - 1)
        tail = _take(chains, chain_start * kmax + pos)
        asst = pc.binary_join_element_wise(',{"role":"assistant","content":"', answer, '"}', "")
        asst = pc.if_else(pa.array(pos > 0), asst, pa.scalar("", pa.string()))
        return pc.binary_join_element_wise(_user(first_user), asst, tail, "")


# ---- helpers --------------------------------------------------------------------------------
def expand(
    units_acct: np.ndarray, units_n: np.ndarray, units_off: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row account and index within the account's request sequence."""
    acct = np.repeat(units_acct, units_n)
    starts = np.repeat(np.cumsum(units_n) - units_n, units_n)
    i = np.arange(len(acct)) - starts + np.repeat(units_off, units_n)
    return acct, i


def _cum_within(gaps: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``gaps`` restarted at 0 for each group (rows keep their order)."""
    order = np.argsort(group, kind="stable")
    g = group[order]
    cs = np.cumsum(gaps[order]) - gaps[order]
    f = np.searchsorted(g, g, side="left")
    rel = np.empty(len(gaps), dtype=np.int64)
    rel[order] = cs - cs[f]
    return rel


def _keys(rng: np.random.Generator, plan: Plan, acct: np.ndarray) -> np.ndarray:
    return (rng.random(len(acct)) * plan.n_keys[acct]).astype(np.int64)


# ---- benign personas ----------------------------------------------------------------------
def gen_benign(
    ctx: Context,
    g: Group,
    acct: np.ndarray,
    i: np.ndarray,
    rng: np.random.Generator,
    persona: str | None = None,
) -> Rows:
    """Ordinary users: casual chat, developers, students (and genuine traffic of mixed accounts)."""
    persona = persona or g.kind
    p, bank = ctx.plan, ctx.bank
    mean_len = {"casual": ctx.scenario.benign.mean_session_turns, "developer": 1.9, "student": 1.6}[
        persona
    ]
    sess, pos, first = ctx.sessions(rng, acct, mean_len)
    s_acct = acct[first]
    profile, weekly, gap = {
        "casual": ("consumer", "consumer", 50.0),
        "developer": ("work", "work", 70.0),
        "student": ("evening", "evening", 60.0),
    }[persona]
    start = ctx.session_starts(rng, s_acct, profile, weekly)
    ts = ctx.within(rng, sess, pos, start, gap, 0.9)
    n = len(acct)
    length = np.bincount(sess)
    if persona == "student":
        t_text, t_ans = ctx.tasks(rng, ("math", "general", "code"), len(first))
        pre, post = ctx.persona_wordings("benign_stepwise", g.index, 40)
        first_user = ctx.wrapped(rng, pre, post, t_text)
        chain_start = rng.integers(0, len(wordings.FOLLOWUPS), size=len(first))
        msgs = ctx.with_followups(
            _take(first_user, sess), _take(t_ans, sess), pos, chain_start[sess], ctx.followups
        )
    else:
        use_code = np.zeros(len(first), dtype=bool)
        if persona == "developer":
            use_code = rng.random(len(first)) < 0.7
        msgs_parts = []
        order = []
        for pool, mask in ((bank.chat, ~use_code), (bank.code_chat, use_code)):
            rows_s = np.nonzero(mask)[0]
            if len(rows_s) == 0:
                continue
            conv = pool.pick(rng, length[rows_s])
            conv_s = np.zeros(len(first), dtype=np.int64)
            conv_s[rows_s] = conv
            row_mask = mask[sess]
            r = np.nonzero(row_mask)[0]
            msgs_parts.append(bank.conv_messages(pool, conv_s[sess[r]], pos[r]))
            order.append(r)
        inv = np.argsort(np.concatenate(order), kind="stable")
        msgs = pa.concat_arrays(msgs_parts).take(pa.array(inv))
    rows = Rows(acct=acct, ts=ts, msgs=msgs, sess=sess)
    # System prompts: some accounts always set one (a role prompt, or a dev assistant prompt).
    has_sys = (p.flag[acct] & 2) > 0
    pool = bank.systems if persona != "developer" else ctx.systems["dev"]
    s_pick = rng.integers(0, len(pool), size=len(first))
    sys = _take(pool, s_pick[sess])
    rows.system = pc.if_else(pa.array(has_sys), sys, pa.scalar(None, pa.string()))
    browser = (p.flag[acct] & 1) > 0
    rows.ua = np.where(rng.random(n) < 0.88, p.ua1[acct], p.ua2[acct])
    sdk = ~browser
    rows.model = ctx.models(rng, acct, ts, prefer="base", sess=sess)
    rows.ip, rows.country = ctx.home_ips(rng, acct, 0.62 if persona != "developer" else 0.5)
    rows.key = _keys(rng, p, acct)
    rows.route = p.route[acct]
    tools = np.full(n, -1, dtype=np.int64)
    if persona == "developer":
        t = rng.random(n) < 0.12
        tools[t] = scripts.APP_TOOLSETS[
            rng.integers(0, len(scripts.APP_TOOLSETS), size=int(t.sum()))
        ]
    rows.tools = tools
    ctx.settings(rng, rows, sdk, (0, 1, 4, 6), (0, 1, 2, 3, 4), (0, 1, 2, 3, 4), 0.5)
    ctx.usage(rng, rows, 320 if persona != "developer" else 450, 0.8, 900)
    return rows


# ---- hard-benign personas -------------------------------------------------------------------
EVAL_RUN = 164  # one benchmark pass (HumanEval has 164 problems; GSM8K runs use as many)


def gen_eval_runner(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Public benchmarks run once per model with step-by-step prompting, at high concurrency.

    Run ``r`` of an account evaluates one (benchmark, model) combination; the second run is the
    new model within hours of its release (what eval teams do on launch day)."""
    p, t = ctx.plan, ctx.tables
    n = len(acct)
    run = i // EVAL_RUN
    key = acct * 1000 + run
    uniq, inv = np.unique(key, return_inverse=True)
    r_acct, r_run = uniq // 1000, uniq % 1000
    rr = np.random.default_rng([ctx.seed, 5, int(uniq.sum() % (2**31))])
    salt = p.key_base[r_acct].astype(np.int64) % 7
    models = list(t.base_models)
    has_new = t.new_model >= 0 and t.release_ms < ctx.end_ms
    # Combination list per account: run 1 is always the new model (when there is one).
    combos = [(b, m) for m in models for b in (0, 1)]
    slot = (r_run + salt) % len(combos)
    bench = np.array([combos[s][0] for s in slot])
    r_model = np.array([combos[s][1] for s in slot])
    start = ctx.session_starts(rr, r_acct, "work", "work")
    if has_new:
        new_run = r_run % len(combos) == 1
        bench[new_run] = (salt[new_run] + r_run[new_run] // len(combos)) % 2
        r_model[new_run] = t.new_model
        later = r_run[new_run] // len(combos)  # repeat passes on the new model come days later
        start[new_run] = t.release_ms + (
            (rr.uniform(1, 10, size=int(new_run.sum())) + 30 * later) * HOUR_MS
        ).astype(np.int64)
        start[new_run] = np.minimum(start[new_run], max(t.release_ms, ctx.end_ms - HOUR_MS))
    gaps = rng.lognormal(np.log(900.0), 0.6, size=n).astype(np.int64)
    ts = start[inv] + _cum_within(gaps, inv)
    # Items in benchmark order; GSM8K runs move on through the set, HumanEval repeats per model.
    within = i % EVAL_RUN
    offset = p.key_base[acct].astype(np.int64) % 997
    msgs_parts, order = [], []
    for b, cap in ((0, "math"), (1, "code")):
        bank_w = ctx.eval_forms(cap)
        rows_b = np.nonzero(bench[inv] == b)[0]
        if len(rows_b) == 0:
            continue
        pool = ctx.bank.eval_tasks[cap]
        item = (offset[rows_b] * EVAL_RUN + i[rows_b]) if cap == "math" else within[rows_b]
        tx = _take(pool, item % len(pool))
        pre = pa.array([esc(wordings.split(w)[0]) for w in bank_w])
        post = pa.array([esc(wordings.split(w)[1]) for w in bank_w])
        fmt = (p.key_base[acct[rows_b]].astype(np.int64) >> 3) % len(
            bank_w
        )  # one format per account
        msgs_parts.append(_user(ctx.wrapped(rng, pre, post, tx, fmt)))
        order.append(rows_b)
    msgs = pa.concat_arrays(msgs_parts).take(
        pa.array(np.argsort(np.concatenate(order), kind="stable"))
    )
    rows = Rows(acct=acct, ts=ts, msgs=msgs)
    rows.model = r_model[inv]
    srv = ctx.ips.hosting(rr, len(uniq))
    rows.ip = srv[inv]
    rows.country = ctx.ips.country_of(rows.ip, p.country[acct])
    rows.ua = p.ua1[acct]
    rows.key = _keys(rng, p, acct)
    rows.route = p.route[acct]
    rows.max_tokens = np.where(bench[inv] == 0, MAX_TOKENS.index(1024), MAX_TOKENS.index(2048))
    rows.temp = np.zeros(n, dtype=np.int64)
    rows.reasoning = np.where(t.reasoning[rows.model], 1, -1)
    rows.stream = np.zeros(n, dtype=np.int64)
    ctx.usage(rng, rows, 260, 0.5, 1200, p429=0.02)
    return rows


def gen_agentic_power(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Coding-agent power users: fixed agent system prompt, tools, long fast loops, cloud boxes."""
    p = ctx.plan
    n = len(acct)
    sess, pos, first = ctx.sessions(rng, acct, 28.0, max_len=120)
    start = ctx.session_starts(rng, acct[first], "long_work", "work")
    ts = ctx.within(rng, sess, pos, start, 7.0, 0.8)
    code_tasks = np.array([t[0] for t in ctx.bank.code_chat.turns], dtype=object)
    task_idx = rng.integers(0, len(code_tasks), size=len(first))
    tasks = pa.array(code_tasks[task_idx], pa.string())
    script = rng.integers(0, ctx.n_scripts, size=len(first))
    step = np.minimum(pos, ctx.script_steps - 1)
    hist = _take(ctx.agent_scripts, script[sess] * ctx.script_steps + step)
    msgs = pc.binary_join_element_wise(_user(_take(tasks, sess)), hist, "")
    rows = Rows(acct=acct, ts=ts, msgs=msgs, sess=sess)
    rows.system = _take(ctx.systems["agent"], p.flag[acct] % len(scripts.AGENT_SYSTEMS))
    rows.tools = scripts.AGENT_TOOLSETS[p.flag[acct] % len(scripts.AGENT_TOOLSETS)]
    rows.model = ctx.models(rng, acct, ts, prefer="reasoning", new_share=0.6, sess=sess)
    rows.ip, rows.country = ctx.home_ips(rng, acct, 0.3)
    rows.ua = np.where(rng.random(n) < 0.95, p.ua1[acct], p.ua2[acct])
    rows.key = _keys(rng, p, acct)
    rows.route = p.route[acct]
    ctx.settings(rng, rows, np.ones(n, dtype=bool), (0, 6, 7), (5, 6, 7), (1, 2, 5, 6, 7), 0.9)
    ctx.usage(rng, rows, 380, 0.9, 1500, p429=0.02)
    return rows


def gen_enterprise(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Nightly batch jobs: one fixed template over thousands of documents, keys in rotation."""
    p = ctx.plan
    n = len(acct)
    job_len = 400
    job = i // job_len
    key = acct * 10_000 + job
    uniq, inv = np.unique(key, return_inverse=True)
    rr = np.random.default_rng([ctx.seed, 6, int(uniq.sum() % (2**31))])
    start = ctx.session_starts(rr, uniq // 10_000, "batch", "weekdays")
    gaps = rng.lognormal(np.log(1100.0), 0.35, size=n).astype(np.int64)
    ts = start[inv] + _cum_within(gaps, inv)
    tmpl = p.flag[acct] % len(ctx.enterprise)
    docs = _take(ctx.bank.docs, (p.key_base[acct].astype(np.int64) % 1000 + i) % len(ctx.bank.docs))
    pre = pa.array([t[0] for t in ctx.enterprise])
    post = pa.array([t[1] for t in ctx.enterprise])
    msgs = _user(ctx.wrapped(rng, pre, post, docs, tmpl))
    rows = Rows(acct=acct, ts=ts, msgs=msgs)
    rows.system = _take(ctx.systems["enterprise"], tmpl % 2)
    rows.model = np.full(n, ctx.tables.plain_models[0])
    office = rng.random(n) < 0.8
    rows.ip = np.where(office, p.home_ip[acct], p.alt_ip[acct]).astype(np.uint32)
    rows.country = p.country[acct].copy()
    rows.country[~office] = ctx.ips.country_of(rows.ip[~office], rows.country[~office])
    rows.ua = p.ua1[acct]
    rows.key = i % p.n_keys[acct]  # round-robin over the job's keys
    rows.route = p.route[acct]
    rows.max_tokens = np.full(n, MAX_TOKENS.index(512))
    rows.temp = np.zeros(n, dtype=np.int64)
    rows.reasoning = np.full(n, -1)
    rows.stream = np.zeros(n, dtype=np.int64)
    ctx.usage(rng, rows, 180, 0.4, 500, p429=0.01)
    return rows


# A class's meeting weekdays by meetings a week (0 = Monday): lecture, Tue/Thu, Mon/Wed/Fri ...
_MEETING_DAYS = {1: (2,), 2: (1, 3), 3: (0, 2, 4), 4: (0, 1, 2, 3), 5: (0, 1, 2, 3, 4)}


def gen_class(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """A university class: one campus /24, the week's assignment, at class and homework hours."""
    p = ctx.plan
    n = len(acct)
    t = g.params.get("tactics") or {k: v[0] for k, v in CLASS_TACTICS.items()}
    sess, pos, first = ctx.sessions(rng, acct, 1.8, max_len=6)
    s_acct = acct[first]
    ns = len(first)
    tz = np.full(ns, g.params["tz"])
    in_class = rng.random(ns) < t["class_share"]
    start = np.empty(ns, dtype=np.int64)
    # Class sessions: the meeting days (two: Tuesday and Thursday), 10:00-11:30 local;
    # otherwise homework evenings.
    class_days = np.nonzero(np.isin(ctx.day_weekday, _MEETING_DAYS[t["meeting_days"]]))[0]
    if len(class_days) == 0:
        class_days = np.arange(ctx.n_days)
    k = int(in_class.sum())
    d = class_days[rng.integers(0, len(class_days), size=k)]
    local = d * 24 + 10 + rng.random(k) * 1.5
    start[in_class] = ctx.start_ms + ((local - tz[in_class]) * HOUR_MS).astype(np.int64)
    start[~in_class] = ctx.session_starts(
        rng, s_acct[~in_class], "evening", "evening", tz=tz[~in_class]
    )
    start = np.clip(start, np.maximum(p.created_ms[s_acct], ctx.start_ms), ctx.end_ms - 1)
    ts = ctx.within(rng, sess, pos, start, 55.0, 0.7)
    # The week's problem set: a handful of shared items everyone asks about.
    week = ((start - ctx.start_ms) // (7 * DAY_MS)).astype(np.int64)
    base = int(g.params["campus"]) % 1000
    k_items = t["items_per_week"]
    item = base * 13 + week * k_items + rng.integers(0, k_items, size=ns)
    if t["set_share"] < 1:  # the student's own questions, off the set
        own = rng.random(ns) >= t["set_share"]
        item[own] = rng.integers(0, 2**31, size=int(own.sum()))
    caps = ("math", "code")
    t_text, t_ans = ctx.tasks(rng, caps, ns, seq=item)
    if ctx.scenario.world.grammar_seed is None:
        pre, post = split_arrays(wordings.CLASS_WORDINGS)
    else:
        # A random world's class: the course's own phrasing, often "show every step".
        intent = "cot" if (int(g.params["campus"]) >> 3) % 2 else "benign_stepwise"
        pre, post = ctx.persona_wordings(intent, g.index, t["wordings"])
    first_user = ctx.wrapped(rng, pre, post, t_text)
    chain = rng.integers(0, len(wordings.FOLLOWUPS), size=ns)
    msgs = ctx.with_followups(
        _take(first_user, sess), _take(t_ans, sess), pos, chain[sess], ctx.followups
    )
    rows = Rows(acct=acct, ts=ts, msgs=msgs, sess=sess)
    on_campus = in_class
    if t["campus_share"] > 0:  # homework in the library, the labs, the dorms
        on_campus = in_class | (rng.random(ns) < t["campus_share"])
    campus = on_campus[sess]
    rows.ip = np.where(campus, p.home_ip[acct], p.alt_ip[acct]).astype(np.uint32)
    rows.country = p.country[acct]
    rows.ua = np.where(rng.random(n) < 0.9, p.ua1[acct], p.ua2[acct])
    rows.model = ctx.models(rng, acct, ts, prefer="plain", sess=sess)
    rows.key = np.zeros(n, dtype=np.int64)
    rows.route = p.route[acct]
    ctx.settings(rng, rows, (p.flag[acct] & 1) == 0, (0, 4), (1, 2), (0, 1), 0.3)
    ctx.usage(rng, rows, 350, 0.7, 800)
    return rows


def gen_app_platform(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """An app serving many end users through a few accounts: one system prompt, many sessions."""
    p = ctx.plan
    n = len(acct)
    sess, pos, first = ctx.sessions(rng, acct, 2.4, max_len=10)
    ns = len(first)
    # End users live in many time zones; the platform's traffic is the sum of their days.
    c = rng.choice(
        len(COUNTRIES),
        size=ns,
        p=np.array([x.weight for x in COUNTRIES]) / sum(x.weight for x in COUNTRIES),
    )
    tz = np.array([COUNTRIES[x].tz[0] for x in c])
    start = ctx.session_starts(rng, acct[first], "consumer", "consumer", tz=tz)
    ts = ctx.within(rng, sess, pos, start, 35.0, 0.8)
    length = np.bincount(sess)
    conv = ctx.bank.chat.pick(rng, length)
    msgs = ctx.bank.conv_messages(ctx.bank.chat, conv[sess], pos)
    rows = Rows(acct=acct, ts=ts, msgs=msgs, sess=sess)
    rows.system = _take(ctx.systems["app"], p.flag[acct] % len(scripts.APP_SYSTEMS))
    rows.model = ctx.models(rng, acct, ts, prefer="plain", sess=sess)
    srv = np.stack([p.home_ip[acct], p.alt_ip[acct]], axis=1)
    rows.ip = srv[np.arange(n), rng.integers(0, 2, size=n)].astype(np.uint32)
    rows.country = ctx.ips.country_of(rows.ip, np.full(n, [x.code for x in COUNTRIES].index("US")))
    rows.ua = p.ua1[acct]
    rows.key = _keys(rng, p, acct)
    rows.route = p.route[acct]
    t = rng.random(n) < 0.3
    rows.tools = np.where(t, scripts.APP_TOOLSETS[p.flag[acct] % len(scripts.APP_TOOLSETS)], -1)
    ctx.settings(rng, rows, np.ones(n, dtype=bool), (4, 5), (2,), (0,), 0.95)
    ctx.usage(rng, rows, 220, 0.6, 400, p429=0.006)
    return rows


# ---- attack campaigns -----------------------------------------------------------------------
def _attack_text(
    ctx: Context, g: Group, rng: np.random.Generator, n: int, seq: np.ndarray | None = None
) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """User content per row by tactic (CoT wording, rubric grading, sensitive rewrite, plain
    paraphrase) over real task text; returns (content, answer, tactic code)."""
    c = g.campaign
    t = c.tactics
    words = ctx.campaign_words[g.campaign_index]
    u = rng.random(n)
    tactic = np.full(n, 3)  # 3 plain
    tactic[u < t["cot"]] = 0
    tactic[(u >= t["cot"]) & (u < t["cot"] + t["rubric"])] = 1
    tactic[
        (u >= t["cot"] + t["rubric"]) & (u < t["cot"] + t["rubric"] + t["sensitive_rewrite"])
    ] = 2
    task, ans = ctx.tasks(rng, c.capability, n, seq=seq)
    parts, order = [], []
    for code, name in ((0, "cot"), (3, "plain")):
        r = np.nonzero(tactic == code)[0]
        if len(r):
            pre, post = words[name]
            parts.append(ctx.wrapped(rng, pre, post, _take(task, r)))
            order.append(r)
    r = np.nonzero(tactic == 1)[0]
    if len(r):
        cap = c.capability[int(rng.integers(len(c.capability)))]
        pre, post = words["rubric"]
        parts.append(ctx.wrapped(rng, pre, post, ctx.bank.rubric_prompts(rng, cap, len(r))))
        order.append(r)
    r = np.nonzero(tactic == 2)[0]
    if len(r):
        pre, post = words["sensitive"]
        q = _take(ctx.bank.sensitive, rng.integers(0, len(ctx.bank.sensitive), size=len(r)))
        parts.append(ctx.wrapped(rng, pre, post, q))
        order.append(r)
    inv = np.argsort(np.concatenate(order), kind="stable")
    return pa.concat_arrays(parts).take(pa.array(inv)), ans, tactic


def _attack_common(
    ctx: Context, g: Group, rows: Rows, rng: np.random.Generator, prefer: str
) -> None:
    p = ctx.plan
    acct = rows.acct
    n = len(rows)
    t = g.campaign.tactics
    rows.model = ctx.models(
        rng, acct, rows.ts, prefer=prefer, new_share=g.params["pivot_share"], sess=rows.sess
    )
    if t["proxy"] == "residential":
        # Rotating residential proxies: a fresh address (and often country) per request.
        c = ctx.proxy_countries[rng.choice(len(ctx.proxy_countries), size=n, p=ctx.proxy_p)]
        ip = ctx.ips.by_country(rng, c)
        mob = rng.random(n) < 0.2  # some proxy pools are mobile-carrier exits
        if mob.any():
            ip[mob] = ctx.ips.by_country(rng, c[mob], mobile=True)
        rows.ip, rows.country = _sticky(ip, c, acct, rows.ts, t.get("rotation_minutes", 0.0))
    elif t["proxy"] == "none":
        # Through a cloud marketplace: the provider sees the platform, not the client.
        rows.ip, rows.country = np.zeros(n, dtype=np.uint32), p.country[acct].copy()
    elif t["proxy"] == "hosting":
        rows.ip = np.where(rng.random(n) < 0.7, p.home_ip[acct], p.alt_ip[acct]).astype(np.uint32)
        rows.country = ctx.ips.country_of(rows.ip, p.country[acct])
    elif t["proxy"] == "home":  # one home broadband line: no mobile-carrier churn
        rows.ip, rows.country = ctx.home_ips(rng, acct, 1.0)
    else:
        rows.ip, rows.country = ctx.home_ips(rng, acct, 0.7)
    if t["user_agents"] == "varied":
        pick = rng.random(n)
        ua = np.where(pick < 0.45, p.ua1[acct], p.ua2[acct])
        fresh = pick > 0.8
        ua[fresh] = np.where(
            rng.random(int(fresh.sum())) < 0.6,
            ctx.tables.browser(rng, int(fresh.sum())),
            ctx.tables.sdk(rng, int(fresh.sum())),
        )
        rows.ua = ua
    else:
        rows.ua = np.where(rng.random(n) < 0.9, p.ua1[acct], p.ua2[acct])
    rows.key = _keys(rng, p, acct)
    routes = np.array([ctx.tables.route_index[r] for r in t["routes"]])
    if g.kind == "agentic_harvest":
        rows.route = routes[
            rng.integers(0, len(routes), size=n)
        ]  # several access routes per account
    else:
        rows.route = p.route[acct]
    rows.attack = np.ones(n, dtype=bool)
    rows.campaign = np.full(n, g.campaign_index)


def _sticky(
    ip: np.ndarray, country: np.ndarray, acct: np.ndarray, ts: np.ndarray, minutes: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sticky proxy sessions: an account keeps one exit for ``minutes`` (0: new per request)."""
    if minutes <= 0 or len(ip) == 0:
        return ip, country
    window = ts // int(minutes * 60_000)
    key = acct.astype(np.int64) * 10_000_019 + window
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return ip[first][inv], country[first][inv]


def gen_reasoning_harvest(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Reasoning-trace harvest: CoT elicitation, rubric grading, sensitive rewrites; accounts
    share payment instruments and take turns (round-robin) on one request stream."""
    p = ctx.plan
    n = len(acct)
    s, e, dt = ctx.rr[g.campaign_index]
    k = g.campaign.accounts
    slot = i * k + p.member[acct]
    ts = s + ((slot + rng.uniform(-0.25, 0.25, size=n)) * dt).astype(np.int64)
    ts = np.clip(ts, s, e - 1)
    content, ans, tactic = _attack_text(ctx, g, rng, n)
    rows = Rows(acct=acct, ts=ts, msgs=_user(content))
    sys = _take(ctx.systems["harvest"], rng.integers(0, 3, size=n))
    rows.system = pc.if_else(pa.array(rng.random(n) < 0.35), sys, pa.scalar(None, pa.string()))
    _attack_common(ctx, g, rows, rng, "reasoning")
    ctx.settings(rng, rows, np.ones(n, dtype=bool), (4, 6), (5, 6, 7), (2, 2, 6, 7), 0.2)
    ctx.usage(rng, rows, 900, 0.6, 5000, p429=0.03)
    return rows


def _burst_times(
    ctx: Context,
    g: Group,
    acct: np.ndarray,
    rng: np.random.Generator,
    mean_len: float,
    gap_s: float,
    life_days: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bursts of requests inside each account's short active life (hydra, agentic harvest)."""
    p = ctx.plan
    c = g.campaign
    s = ctx.start_ms + int(c.start_day * DAY_MS)
    e = ctx.start_ms + int((c.end_day if c.end_day is not None else ctx.scenario.days) * DAY_MS)
    sess, pos, first = ctx.sessions(rng, acct, mean_len, max_len=8)
    # Each account's life window is a pure function of the account (stable across units).
    kb = p.key_base[acct[first]].astype(np.uint64)
    u1 = (kb % np.uint64(1_000_003)).astype(np.float64) / 1_000_003
    u2 = (kb % np.uint64(999_983)).astype(np.float64) / 999_983
    u3 = (kb % np.uint64(7_919)).astype(np.float64) / 7_919
    life = ((life_days[0] + u2 * (life_days[1] - life_days[0])) * DAY_MS).astype(np.int64)
    life = np.minimum(life, e - s)
    w_start = s + (u1 * np.maximum(1, e - s - life)).astype(np.int64)
    rel = ctx.tables.release_ms
    if c.type == "hydra" and s < rel < e:
        # About 40% of the network is spun up in the day after the new model's release.
        late = u3 < 0.4
        w_start = np.where(late, rel + (u1 * min(20 * HOUR_MS, e - rel)).astype(np.int64), w_start)
    w_start = np.minimum(np.maximum(w_start, p.created_ms[acct[first]]), e - HOUR_MS)
    life = np.clip(np.minimum(life, e - w_start), HOUR_MS, None)
    start = ctx.session_starts(
        rng,
        acct[first],
        "operator",
        "flat",
        tz=np.full(len(first), c.tactics["operator_tz"]),
        lo_ms=w_start,
        hi_ms=w_start + life,
    )
    ts = ctx.within(rng, sess, pos, start, gap_s, 0.9)
    return ts, sess, pos


def gen_agentic_harvest(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Agentic / coding harvest: tool-use trajectories over coding tasks, several access routes."""
    n = len(acct)
    ts, sess, pos = _burst_times(ctx, g, acct, rng, 2.5, 4.0, (2.0, 6.0))
    first = np.nonzero(pos == 0)[0]
    content, ans, tactic = _attack_text(ctx, g, rng, len(first))
    script = rng.integers(0, ctx.n_scripts, size=len(first))
    hist = _take(
        ctx.agent_scripts, script[sess] * ctx.script_steps + np.minimum(pos, ctx.script_steps - 1)
    )
    msgs = pc.binary_join_element_wise(_user(_take(content, sess)), hist, "")
    rows = Rows(acct=acct, ts=ts, msgs=msgs, sess=sess)
    rows.system = _take(
        ctx.systems["agent"], rng.integers(0, len(scripts.AGENT_SYSTEMS), size=len(first))[sess]
    )
    rows.tools = scripts.AGENT_TOOLSETS[
        rng.integers(0, len(scripts.AGENT_TOOLSETS), size=len(first))[sess]
    ]
    if not g.campaign.tactics["tools"]:
        rows.tools = np.full(n, -1)
    _attack_common(ctx, g, rows, rng, "reasoning")
    ctx.settings(rng, rows, np.ones(n, dtype=bool), (0, 4, 6), (5, 6, 7), (1, 2, 6), 0.6)
    ctx.usage(rng, rows, 1100, 0.6, 3000, p429=0.03)
    return rows


def gen_hydra(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """Hydra: thousands of low-volume accounts, proxies, varied UAs, paraphrased templates, a
    pivot to the new model after its release."""
    n = len(acct)
    ts, sess, pos = _burst_times(ctx, g, acct, rng, 3.0, 9.0, (0.5, 3.0))
    content, ans, tactic = _attack_text(ctx, g, rng, n)
    rows = Rows(acct=acct, ts=ts, msgs=_user(content))
    _attack_common(ctx, g, rows, rng, "base")
    ctx.settings(rng, rows, np.ones(n, dtype=bool), (0, 4, 5, 6), (2, 3, 4, 5), (1, 2, 5), 0.4)
    ctx.usage(rng, rows, 600, 0.7, 2500, p429=0.02)
    return rows


def gen_careful(
    ctx: Context, g: Group, acct: np.ndarray, i: np.ndarray, rng: np.random.Generator
) -> Rows:
    """A small careful campaign: human-like sessions, hours and phrasing; aged accounts."""
    n = len(acct)
    t = g.campaign.tactics
    mean_len = 1.0 / max(0.05, 1.0 - t["followups"])
    sess, pos, first = ctx.sessions(rng, acct, mean_len, max_len=4)
    tz, profile = np.full(len(first), t["operator_tz"]), "evening"
    if t["local_hours"]:  # the hours of an ordinary user of its country in this world
        tz = ctx.plan.tz[acct[first]] + ctx.scenario.world.diurnal_shift
        profile = "consumer"
    start = ctx.session_starts(rng, acct[first], profile, "consumer", tz=tz)
    ts = ctx.within(rng, sess, pos, start, 110.0, 0.7)
    content, ans, tactic = _attack_text(ctx, g, rng, len(first))
    chain = rng.integers(0, len(wordings.CAREFUL_FOLLOWUPS), size=len(first))
    msgs = ctx.with_followups(
        _take(content, sess), _take(ans, sess), pos, chain[sess], ctx.careful_followups
    )
    rows = Rows(acct=acct, ts=ts, msgs=msgs, sess=sess)
    _attack_common(ctx, g, rows, rng, "base")
    ctx.settings(rng, rows, np.zeros(n, dtype=bool), (4,), (2,), (1, 2), 0.5)
    ctx.usage(rng, rows, 500, 0.7, 1800)
    return rows


GENERATORS = {
    "casual": gen_benign,
    "developer": gen_benign,
    "student": gen_benign,
    "eval_runner": gen_eval_runner,
    "agentic_power_user": gen_agentic_power,
    "enterprise_batch": gen_enterprise,
    "university_class": gen_class,
    "app_platform": gen_app_platform,
    "reasoning_harvest": gen_reasoning_harvest,
    "agentic_harvest": gen_agentic_harvest,
    "hydra": gen_hydra,
    "careful": gen_careful,
}
