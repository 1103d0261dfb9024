"""Red-team attacker strategies: naive, rotating, adaptive, patient, lone.

An attacker owns accounts, each with its own pace, infrastructure and card, and a queue of
math and code tasks it wants answered with reasoning. It sees only what a client sees: the
visible action (a silent degrade reads as an answer, unless the attacker's spot check of the
answer against the task's known solution catches it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..sim.grammar import wordings
from .redteam_gateway import Outcome
from .redteam_world import HOUR_MS, World

MIN_MS = 60_000
DC_PREFIX = "34.102.137"  # one data-centre /24 (a cloud provider's range)
SDK_UA = "python-httpx/0.27.0 harvest-client/1.4"


@dataclass
class Account:
    """One attacker account and what the attacker learned about it."""

    id: str
    card: str | None
    ua: str
    prefix: str
    gap_ms: float
    next_ts: int
    ip: str = ""
    n_sent: int = 0
    warmup: int = 0  # cover requests before it starts harvesting
    throttles: int = 0  # consecutive rate limits
    sent_ts: deque = field(default_factory=deque)
    paid_challenge: bool = False  # passed a challenge once (``pays_challenges``)


@dataclass
class Meta:
    """What the attacker needs back with the outcome of one request."""

    account: Account
    task: tuple[str, str] | None
    cover: bool
    wording: str | None


def _tasks(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """Math and code tasks (the shared corpora, else generated arithmetic), shuffled."""
    from ..corpora import find_corpora, load

    pool: list[tuple[str, str]] = []
    if find_corpora() is not None:
        for rel, cap in (
            ("tasks/gsm8k_train.jsonl.gz", "math"),
            ("tasks/humaneval.jsonl.gz", "code"),
            ("tasks/gpteacher_codegen.jsonl.gz", "code"),
        ):
            pool += [(r["text"][:3000], cap) for r in load(rel) if r.get("text")]
    while len(pool) < n:
        a, b, c = (int(x) for x in rng.integers(2, 999, size=3))
        pool.append(
            (
                f"A shop sells {a} items a day at {b} dollars each, minus {c} dollars "
                f"of costs. What is its profit over {c % 30 + 2} days?",
                "math",
            )
        )
    order = rng.permutation(len(pool))[: max(n * 2, 1)]
    return [pool[i] for i in order]


class Attacker(ABC):
    """Shared mechanics; strategies override the hooks at the bottom."""

    name = "base"
    initial_accounts = 20
    cover_share = 0.0
    params: dict[str, Any] = {"max_tokens": 8192, "temperature": 0.6, "stream": True}

    def __init__(
        self, world: World, rng: np.random.Generator, answers: int, max_accounts: int, t0: int
    ) -> None:
        self.world, self.rng = world, rng
        self.answers_wanted, self.max_accounts = answers, max_accounts
        self.tasks = deque(_tasks(rng, answers))
        self.active: list[Account] = []
        self.n_accounts = self.n_denied = self.n_abandoned = 0
        self.got = 0  # answers the attacker believes it has
        self.stopped = ""
        self.last_ts: int | None = None
        self._seq = 0
        self.cot = wordings("cot", "en", rng, 12)
        # Its own stream, so sending sign-ups or not leaves the attack itself unchanged.
        self.su_rng = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
        self.traits = self.signup_traits()
        self.signups: list[tuple[Account, dict[str, Any]]] = []  # opened, not yet signed up
        for _ in range(self.initial_accounts):
            self.open_account(t0)

    # ---- accounts ------------------------------------------------------------------------------
    def open_account(self, ts: int) -> Account | None:
        if self.n_accounts >= self.max_accounts:
            return None
        self.n_accounts += 1
        acct = self.new_account(f"acct_rt{self.name[:3]}_{self.n_accounts:05d}", ts)
        self.active.append(acct)
        self.signups.append((acct, self.signup_body(acct, ts)))
        return acct

    def signup_traits(self) -> dict[str, Any]:
        """What one operator's sign-ups share: a few e-mail domains, one country, one route and
        one verification level, each drawn from the world's own sign-ups by frequency (so a
        common free-mail domain is the likeliest: nothing here is chosen to be caught)."""
        pools = self.world.signup_pools

        def draw(k: str, n: int = 1, fallback: str = "standard") -> list[str]:
            pool = pools.get(k) or [fallback]
            return [pool[int(i)] for i in self.su_rng.integers(len(pool), size=n)]

        return {
            "email_domains": sorted(set(draw("email_domain", 3, "gmail.com"))),
            "country": draw("country", 1, "US")[0],
            "signup_route": draw("signup_route")[0],
            "verification": draw("verification", 1, "email")[0],
        }

    def signup_body(self, acct: Account, ts: int) -> dict[str, Any]:
        """The ``POST /v1/signup`` body a gateway sends when this account is created."""
        doms = self.traits["email_domains"]
        return {
            "account_id": acct.id,
            "signup_route": self.traits["signup_route"],
            "verification": self.traits["verification"],
            "email_domain": doms[int(self.su_rng.integers(len(doms)))],
            "payment_fingerprint": acct.card,
            "country": self.traits["country"],
            "ip": acct.ip,
            "created_at": ts,
        }

    def drop(self, acct: Account, denied: bool) -> None:
        if acct in self.active:
            self.active.remove(acct)
            self.n_denied += denied
            self.n_abandoned += not denied

    def next_time(self, ts: int) -> int | None:
        if self.stopped:
            return None
        if not self.active:
            self.stopped = "out of accounts"
            return None
        return min(a.next_ts for a in self.active)

    # ---- requests ------------------------------------------------------------------------------
    def next_request(self, ts: int) -> tuple[dict[str, Any], Meta] | None:
        due = [a for a in self.active if a.next_ts <= ts]
        if not due or self.stopped:
            return None
        acct = min(due, key=lambda a: a.next_ts)
        cover = acct.warmup > 0 or self.rng.random() < self.cover_share
        acct.warmup = max(0, acct.warmup - 1)
        task = None if cover or not self.tasks else self.tasks.popleft()
        if task is None:
            cover = True
        wording = None if cover else self.pick_wording(acct)
        if cover:
            prompts = self.world.cover_prompts
            text = prompts[int(self.rng.integers(len(prompts)))]
        else:
            text = wording.replace("{task}", task[0])
        self._seq += 1
        acct.n_sent += 1
        acct.sent_ts.append(ts)
        while acct.sent_ts and acct.sent_ts[0] < ts - HOUR_MS:
            acct.sent_ts.popleft()
        acct.next_ts = ts + int(acct.gap_ms * self.jitter())
        self.last_ts = ts
        rec = {
            "request_id": f"req_rt_{self.name}_{self._seq:07d}",
            "ts": ts,
            "account_id": acct.id,
            "model": self.world.reasoning_model,
            "messages": [{"role": "user", "content": text}],
            "ip": self.ip_for(acct, ts),
            "user_agent": acct.ua,
            "api_key_id": "key_" + acct.id[-8:],
            "org_id": "org_" + acct.id[-8:],  # a self-serve account is its own organisation
            "access_route": "direct",
        }
        if acct.card:
            rec["payment_fingerprint"] = acct.card
        if not cover:
            rec.update(self.params, reasoning="high")
        return rec, Meta(acct, task, cover, wording)

    def pays_for(self, acct: Account) -> bool:
        """Whether the attacker passes this account's challenge: once per account, so an
        account challenged again after a pass is given up (a verified account that still
        draws challenges is spent)."""
        return self.pays_challenges and not acct.paid_challenge

    def observe(self, meta: Meta, out: Outcome, ts: int, paid: bool = False) -> None:
        """What the attacker learns from one answer; ``paid``: it passed this challenge."""
        acct = meta.account
        seen = out.visible_action
        if seen == "allow" and out.action == "degrade" and not meta.cover:
            seen = "degrade" if self.rng.random() < self.verify_rate else "allow"
        if not meta.cover:
            if seen in ("allow", "log"):
                self.got += 1
            elif meta.task is not None:
                self.tasks.appendleft(meta.task)  # still wanted
        if seen == "block" or (seen == "challenge" and not paid):
            self.drop(acct, denied=True)
            self.on_denied(acct, ts)
        elif seen == "challenge":  # passed (``_Run.attack`` paid for it): the account goes on
            acct.throttles = 0
        elif seen == "rate_limit":
            acct.throttles += 1
            acct.next_ts = ts + int(1000 * max(out.retry_after_s or 60.0, 60.0) * acct.throttles)
            self.on_throttled(acct, ts)
        else:
            acct.throttles = 0
            if seen == "degrade":
                self.on_degraded(acct, meta, ts)
        if self.got >= self.answers_wanted:
            self.stopped = "done"
        elif not self.tasks:
            self.stopped = "out of tasks"

    # ---- hooks ---------------------------------------------------------------------------------
    verify_rate = 0.0  # share of answers the attacker checks against the known solution
    # On a ``challenge``: pass the verification step and keep the account (bench-redteam
    # ``--challenges pay``, priced per pass) instead of giving the account up (``abandon``).
    pays_challenges = False

    @abstractmethod
    def new_account(self, acct_id: str, ts: int) -> Account:
        """A fresh account of this strategy (identity, egress, card), first used at ``ts``."""

    def pick_wording(self, acct: Account) -> str:
        return self.cot[0]

    def ip_for(self, acct: Account, ts: int) -> str:
        return acct.ip

    def jitter(self) -> float:
        return 1.0

    def on_denied(self, acct: Account, ts: int) -> None:
        return None

    def on_throttled(self, acct: Account, ts: int) -> None:
        return None

    def on_degraded(self, acct: Account, meta: Meta, ts: int) -> None:
        return None

    def residential(self) -> tuple[str, str]:
        """A residential /24 and an address in it (the world's own address space)."""
        pre = self.world.residential_prefixes
        prefix = pre[int(self.rng.integers(len(pre)))] if pre else "98.210.14"
        return prefix, f"{prefix}.{int(self.rng.integers(2, 254))}"

    def browser_ua(self) -> str:
        uas = self.world.browser_uas or [SDK_UA]
        return uas[int(self.rng.integers(len(uas)))]


class Naive(Attacker):
    """20 fixed accounts, one data-centre /24, one shared card, one wording, fixed pace."""

    name = "naive"

    def new_account(self, acct_id: str, ts: int) -> Account:
        n = self.n_accounts
        return Account(
            acct_id,
            "pf_rt_naive_card",
            SDK_UA,
            DC_PREFIX,
            60_000.0,
            ts + n * 3_000,
            ip=f"{DC_PREFIX}.{10 + n}",
        )


class Rotating(Attacker):
    """A new account whenever one is denied; residential addresses; a paraphrase per request."""

    name = "rotating"
    n_cards = 25
    verify_rate = 0.25  # it checks a quarter of its answers against the tasks' known solutions

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.paraphrases = self.cot + wordings("cot", "en", self.rng, 40)

    def new_account(self, acct_id: str, ts: int) -> Account:
        card = f"pf_rt_{self.name}_{int(self.rng.integers(self.n_cards)):02d}"
        prefix, ip = self.residential()
        return Account(
            acct_id,
            card,
            self.browser_ua(),
            prefix,
            120_000.0,
            ts + int(self.rng.integers(0, 120_000)),
            ip=ip,
        )

    def pick_wording(self, acct: Account) -> str:
        return self.paraphrases[int(self.rng.integers(len(self.paraphrases)))]

    def ip_for(self, acct: Account, ts: int) -> str:
        return self.residential()[1]  # a rotating residential proxy: new exit per request

    def jitter(self) -> float:
        return float(self.rng.exponential(1.0)) + 0.05

    def on_denied(self, acct: Account, ts: int) -> None:
        new = self.open_account(ts)
        if new is not None:
            new.next_ts = ts + 5 * MIN_MS

    def on_throttled(self, acct: Account, ts: int) -> None:
        if acct.throttles >= 5:  # throttled for good: as useless as denied
            self.drop(acct, denied=False)
            self.on_denied(acct, ts)


class Adaptive(Rotating):
    """Learns thresholds from the actions it sees and steps under them.

    - after a ``degrade`` (seen, or caught by checking an answer against the task's known
      solution) it burns that wording and moves to plain or benign-looking step-by-step
      wordings, and caps every account's hourly volume under the volume it was degraded at;
    - after a ``rate_limit`` it halves the pace of all accounts;
    - half of its requests are cover traffic (real benign prompts), new accounts warm up
      with cover first, and it opens accounts when denied or when it falls behind schedule.
    """

    name = "adaptive"
    cover_share = 0.5
    horizon_h = 48.0

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.burned: set[str] = set()
        self.stealth = False
        self.hourly_cap = 1e9
        self.pace_ms = 300_000.0
        self._checked = 0
        self.t_start = args[4] if len(args) > 4 else kw["t0"]
        super().__init__(*args, **kw)
        self.quiet = wordings("benign_stepwise", "en", self.rng, 30) + wordings(
            "plain", "en", self.rng, 30
        )

    def new_account(self, acct_id: str, ts: int) -> Account:
        acct = super().new_account(acct_id, ts)
        acct.gap_ms = self.pace_ms
        acct.warmup = 3 if self.n_accounts > self.initial_accounts else 0
        return acct

    def ip_for(self, acct: Account, ts: int) -> str:
        return acct.ip  # one sticky residential address per account: looks like a person

    def pick_wording(self, acct: Account) -> str:
        pool = [
            w for w in (self.quiet if self.stealth else self.paraphrases) if w not in self.burned
        ]
        pool = pool or self.quiet
        return pool[int(self.rng.integers(len(pool)))]

    def on_degraded(self, acct: Account, meta: Meta, ts: int) -> None:
        if meta.wording:
            self.burned.add(meta.wording)
        self.stealth = True
        self.hourly_cap = max(2.0, min(self.hourly_cap, 0.7 * len(acct.sent_ts)))
        acct.next_ts = ts + 2 * HOUR_MS  # let it cool down
        self._respace()

    def on_throttled(self, acct: Account, ts: int) -> None:
        self.pace_ms *= 2
        self.hourly_cap = max(2.0, min(self.hourly_cap, 0.5 * len(acct.sent_ts)))
        self._respace()
        super().on_throttled(acct, ts)

    def on_denied(self, acct: Account, ts: int) -> None:
        self.pace_ms *= 1.3
        self._respace()
        super().on_denied(acct, ts)

    def _respace(self) -> None:
        gap = max(self.pace_ms, HOUR_MS / self.hourly_cap)
        for a in self.active:
            a.gap_ms = gap

    def next_time(self, ts: int) -> int | None:
        self._keep_schedule(ts)
        return super().next_time(ts)

    def _keep_schedule(self, ts: int) -> None:
        """Behind schedule for the horizon: open accounts (each at the learned safe pace)."""
        if self.stopped or self._seq - self._checked < 50:
            return
        self._checked = self._seq
        left_h = self.horizon_h - (ts - self.t_start) / HOUR_MS
        per_acct_h = (HOUR_MS / max(self.pace_ms, HOUR_MS / self.hourly_cap)) * (
            1 - self.cover_share
        )
        need = (self.answers_wanted - self.got) / max(per_acct_h * max(left_h, 1.0), 1e-9)
        for _ in range(min(5, int(need) - len(self.active))):
            if self.open_account(ts) is None:
                break


class Patient(Adaptive):
    """The adaptive ring, patient: it spreads its harvest over ``spread_h`` (longer than the
    job floor's memory, ``linkage.floor_memory_s``: three days), starting below any floor a
    deployment could set (``start`` harvest-like requests per account per 6 h window, the
    body of benign accounts) and raising every account's pace by ``growth`` a day, so that
    whatever the deployment learns from its accounts' windows rises with it.

    It keeps the adaptive attacker's learning (burned wordings, stealth wordings, backing off
    after a rate limit or a denial) and its link-avoidance (a card from a pool of 25, one
    sticky home address per account, 50% cover). A degrade it sees or catches sets its pace
    back to 70% and halves its growth: it looks for the most the floor lets through. A
    sign-up held for review teaches it that sign-ups in a wave are seen: from then on it opens
    one account at a time, spaced ``6 h`` apart and twice that after every further hold (up
    to 2 days), instead of replacing each held account at once.
    """

    name = "patient"
    spread_h = 8 * 24.0
    start = 1.5  # harvest-like requests per account per window at the start
    growth = 1.25  # per simulated day
    window_h = 6.0

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.rate = self.start
        self.rate_ts: int | None = None
        self.day_growth = self.growth
        self.open_after = 0  # no account opens before this (sign-up spacing)
        self.open_gap_ms = 0.0
        super().__init__(*args, **kw)
        # The whole spread when the world is long enough, else what is left of it (the
        # tiny worlds end ~6 days after the attack starts: still twice the floor's memory).
        left_h = (self.world.t_end - self.t_start) / HOUR_MS
        self.horizon_h = min(self.spread_h, 0.95 * left_h)
        self.rate_ts = self.t_start
        self._respace()

    def _grow(self, ts: int) -> None:
        """Raise the per-window rate by ``day_growth`` per simulated day since last asked."""
        if self.rate_ts is None:
            return
        days = max(0, ts - self.rate_ts) / (24 * HOUR_MS)
        self.rate *= self.day_growth**days
        self.rate_ts = max(self.rate_ts, ts)

    def _gap_ms(self) -> float:
        """Request gap of one account: its harvest rate per window, cover included."""
        per_window = self.rate / max(1.0 - self.cover_share, 1e-9)
        return max(self.window_h * HOUR_MS / per_window, HOUR_MS / self.hourly_cap, MIN_MS)

    def _respace(self) -> None:
        if not hasattr(self, "rate"):
            return super()._respace()
        gap = self._gap_ms()
        for a in self.active:
            a.gap_ms = gap

    def new_account(self, acct_id: str, ts: int) -> Account:
        acct = super().new_account(acct_id, ts)
        if hasattr(self, "rate"):
            acct.gap_ms = self._gap_ms()
        return acct

    def open_account(self, ts: int) -> Account | None:
        if ts < self.open_after:
            return None
        acct = super().open_account(ts)
        if acct is not None and self.open_gap_ms:
            self.open_after = ts + int(self.open_gap_ms)
        return acct

    def next_time(self, ts: int) -> int | None:
        self._grow(ts)
        self._respace()
        idle = not self.stopped and not self.active and self.n_accounts < self.max_accounts
        if idle and ts < self.open_after:
            return self.open_after  # waiting to open the next account, not out of accounts
        if idle:
            self.open_account(ts)
        return super().next_time(ts)

    def on_degraded(self, acct: Account, meta: Meta, ts: int) -> None:
        if meta.wording:
            self.burned.add(meta.wording)
        self.stealth = True
        self.rate = max(0.5, 0.7 * self.rate)
        self.day_growth = 1.0 + (self.day_growth - 1.0) / 2
        acct.next_ts = ts + 2 * HOUR_MS
        self._respace()

    def on_throttled(self, acct: Account, ts: int) -> None:
        self.rate = max(0.5, 0.5 * self.rate)
        Rotating.on_throttled(self, acct, ts)
        self._respace()

    def on_denied(self, acct: Account, ts: int) -> None:
        if acct.n_sent == 0:  # held at sign-up: open the next ones one at a time, spaced
            self.open_gap_ms = min(48 * HOUR_MS, max(6 * HOUR_MS, 2 * self.open_gap_ms))
            self.open_after = max(self.open_after, ts + int(self.open_gap_ms))
            return
        self.rate = max(0.5, self.rate / 1.3)
        Rotating.on_denied(self, acct, ts)
        self._respace()

    def _keep_schedule(self, ts: int) -> None:
        """Behind schedule: what each account still brings by the horizon at the rising rate
        (the integral of ``rate * growth**t``) decides how many accounts to open."""
        if self.stopped or self._seq - self._checked < 50:
            return
        self._checked = self._seq
        left_d = max(self.horizon_h - (ts - self.t_start) / HOUR_MS, self.window_h) / 24.0
        g = max(self.day_growth, 1.0 + 1e-6)
        per_acct = self.rate * (24.0 / self.window_h) * (g**left_d - 1.0) / np.log(g)
        need = (self.answers_wanted - self.got) / max(per_acct, 1e-9)
        for _ in range(min(5, int(need) - len(self.active))):
            if self.open_account(ts) is None:
                break


class PatientSolo(Patient):
    """The patient ring with a card of its own per account (and its own home address, as
    before): no sender key shared inside the ring, so each account is a lone one to the
    online path (only the lone ceiling applies; the batch path links such rings)."""

    name = "patient-solo"
    n_cards = 10**9  # drawn like the others' cards, from a pool too large to repeat


class Lone(Attacker):
    """One account at a time with its own card, home address and client: no key it shares
    with anyone. It harvests steadily (about one task a minute) and opens a fresh account,
    with a fresh card and address, only when denied."""

    name = "lone"
    initial_accounts = 1
    verify_rate = 0.25

    def new_account(self, acct_id: str, ts: int) -> Account:
        prefix, ip = self.residential()
        card = f"pf_rt_lone_{self.n_accounts:05d}"
        return Account(acct_id, card, SDK_UA, prefix, 60_000.0, ts, ip=ip)

    def jitter(self) -> float:
        return float(self.rng.uniform(0.5, 1.5))

    def on_denied(self, acct: Account, ts: int) -> None:
        new = self.open_account(ts)
        if new is not None:
            new.next_ts = ts + 5 * MIN_MS


STRATEGIES: dict[str, type[Attacker]] = {
    "naive": Naive,
    "rotating": Rotating,
    "adaptive": Adaptive,
    "patient": Patient,
    "patient-solo": PatientSolo,
    "lone": Lone,
}
