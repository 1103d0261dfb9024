"""A small labelled traffic generator for the detector's own tests (not the simulator).

It writes the ``requests`` table exactly as ingest + signals store it
(``contract.STORED_REQUEST_SCHEMA``), an ``accounts`` table, and labels. Text features are
set directly (this stage reads them, it does not compute them). The populations follow the
issue: a heavy-tailed benign crowd, hard-benign look-alikes, and four kinds of campaign.
``build(seed, reasoning_users=True)`` adds honest customers who ask for step-by-step
reasoning (off by default, so the other comparisons keep their world).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from distillguard.contract import STORED_REQUEST_SCHEMA

DAY = 86_400_000
HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
OLD, NEW = "model-a", "model-b"
RELEASE = T0 + 3 * DAY
BROWSER = [f"Mozilla/5.0 (X11; Linux) Chrome/12{i}.0" for i in range(8)]
SDK = ["openai-python/1.40.0", "anthropic-sdk/0.30", "httpx/0.27", "node-fetch/3.0"]
SIGS = ("sig_cot", "sig_rubric", "sig_synth", "sig_format", "sig_rewrite")


@dataclass
class Traffic:
    rows: dict[str, list] = field(
        default_factory=lambda: {f.name: [] for f in STORED_REQUEST_SCHEMA}
    )
    accounts: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    request_labels: dict[str, int] = field(default_factory=dict)

    def table(self) -> pa.Table:
        return pa.table(self.rows, schema=STORED_REQUEST_SCHEMA)

    def account_table(self) -> pa.Table:
        return pa.Table.from_pylist(self.accounts)


def _ip(rng: np.random.Generator, first: int) -> str:
    return f"{first}.{rng.integers(1, 255)}.{rng.integers(1, 255)}.{rng.integers(1, 255)}"


class Builder:
    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.t = Traffic()
        self.n = 0

    def account(
        self,
        aid: str,
        persona: str,
        campaign: str = "",
        route: str = "standard",
        verification: str = "email",
        created: int = T0 - 200 * DAY,
        payment: str | None = None,
    ) -> None:
        self.t.accounts.append(
            {
                "account_id": aid,
                "created_at": created,
                "signup_route": route,
                "verification": verification,
                "email_domain": "example.org",
                "payment_fingerprint": payment or f"pay-{aid}",
                "country": "US",
                "org_id": None,
            }
        )
        self.t.labels.append(
            {
                "account_id": aid,
                "is_attack": int(bool(campaign)),
                "campaign_id": campaign,
                "persona": persona,
            }
        )

    def request(
        self,
        aid: str,
        ts: int,
        *,
        template: int,
        ip: str,
        ua: str,
        model: str = OLD,
        sig: dict | None = None,
        capability: str = "chat",
        system: int = 0,
        turns: int = 1,
        max_tokens: float | None = None,
        reasoning: str | None = None,
        attack: int | None = None,
        script: str = "latin",
        payment: str | None = None,
        tools: list | None = None,
        prompt: int | None = None,
    ) -> None:
        r = self.t.rows
        self.n += 1
        rid = f"r{self.n:07d}"
        sig = sig or {}
        vals = {
            "request_id": rid,
            "ts_ms": int(ts),
            "account_id": aid,
            "model": model,
            "ip": ip,
            "user_agent": ua,
            "payment_fingerprint": payment,
            "access_route": "direct",
            "tools": tools,
            "max_tokens": max_tokens,
            "reasoning": reasoning,
            "input_tokens": int(self.rng.integers(20, 800)),
            "output_tokens": int(self.rng.integers(50, 1500)),
            "n_messages": turns * 2 - 1,
            "n_user_turns": turns,
            "prompt_chars": 200,
            "session_id": f"{aid}-s{ts // HOUR}",
            "capability": capability,
            "script": script,
            "prompt_hash": int(self.rng.integers(1, 2**62)) if prompt is None else prompt,
            "system_hash": system,
            "skeleton_hash": template,
            "signal_hits": "|".join(k for k, v in sig.items() if v >= 0.5) or None,
        }
        for s in SIGS:
            vals[s] = float(sig.get(s, 0.0))
        for name in r:
            r[name].append(vals.get(name))
        if attack is not None:
            self.t.request_labels[rid] = attack


def diurnal_times(rng: np.random.Generator, n: int, days: float = 6.0, tz: int = 0) -> np.ndarray:
    day = rng.integers(0, int(days), n)
    hour = np.clip(rng.normal(14, 3.5, n), 0, 23.99)
    return np.sort(T0 + day * DAY + ((hour - tz) % 24) * HOUR + rng.integers(0, HOUR // 60, n))


def build(
    seed: int = 0, n_benign: int = 160, scale: float = 1.0, reasoning_users: bool = False
) -> Traffic:
    """Labelled traffic: ~160 benign, ~30 hard-benign, 4 campaigns (~90 attack accounts);
    ``reasoning_users`` adds 7 honest accounts asking for step-by-step reasoning."""
    b = Builder(seed)
    rng = b.rng
    pop_templates = rng.integers(1, 2**62, 400)
    popular = pop_templates[:5]  # "hi", "thanks", ... shared by many benign users
    days = 6.0

    def benign_req(
        aid: str, ts: int, ip: str, ua: str, model: str, attack: int | None = None
    ) -> None:
        tpl = int(rng.choice(popular)) if rng.random() < 0.15 else int(rng.choice(pop_templates))
        if rng.random() < 0.5:
            tpl = int(rng.integers(1, 2**62))  # a one-off prompt
        sig = {"sig_cot": 0.7} if rng.random() < 0.04 else {}
        b.request(
            aid,
            ts,
            template=tpl,
            ip=ip,
            ua=ua,
            model=model,
            sig=sig,
            capability=str(rng.choice(["chat", "code", "math", "other"])),
            turns=int(rng.choice([1, 1, 2, 3])),
            max_tokens=float(rng.choice([512, 1024, 2048])),
            attack=attack,
        )

    # -- benign crowd: heavy tailed volume, diurnal, residential IPs, gradual model adoption
    for i in range(n_benign):
        aid = f"ben{i:04d}"
        b.account(
            aid,
            "benign",
            verification=str(rng.choice(["email", "phone", "id"])),
            created=T0 - int(rng.integers(1, 400)) * DAY,
        )
        n = max(1, int(rng.lognormal(2.2, 1.0) * scale))
        home = _ip(rng, int(rng.choice([81, 92, 109, 176, 188])))
        ua = str(rng.choice(BROWSER + SDK))
        tz = int(rng.integers(-8, 9))
        adopt = rng.random() < 0.3
        for ts in diurnal_times(rng, n, days, tz):
            model = NEW if adopt and ts > RELEASE + rng.integers(0, 3 * DAY) else OLD
            ip = home if rng.random() < 0.85 else _ip(rng, 31)
            benign_req(aid, int(ts), ip, ua, model)

    # -- hard benign
    for i in range(3):  # eval runner: one benchmark, step-by-step, in a burst, cloud IP
        aid = f"eval{i}"
        b.account(aid, "eval_runner", route="research", verification="id")
        start = T0 + int(rng.integers(0, 5)) * DAY + 10 * HOUR
        ip, tpl = "52.95.110." + str(10 + i), int(rng.integers(1, 2**62))
        for k in range(int(250 * scale)):
            b.request(
                aid,
                start + k * 4000,
                template=tpl,
                ip=ip,
                ua=SDK[0],
                capability="math",
                sig={"sig_cot": 0.9},
                max_tokens=2048.0,
            )
    for i in range(3):  # agentic power user: fixed agent system prompt, tools, cloud IPs
        aid = f"agent{i}"
        b.account(aid, "agentic_power_user", verification="phone")
        sysp = int(rng.integers(1, 2**62))
        for ts in diurnal_times(rng, int(600 * scale), days):
            b.request(
                aid,
                int(ts),
                template=int(rng.integers(1, 2**62)),
                ip=f"3.5.{i}.{rng.integers(1, 9)}",
                ua="claude-code/1.0",
                capability="agentic",
                system=sysp,
                turns=int(rng.integers(3, 12)),
                tools=["bash", "edit"],
                max_tokens=8192.0,
            )
    tpl_ent = int(rng.integers(1, 2**62))
    for i in range(3):  # enterprise batch: one template, several keys, one payment
        aid = f"ent{i}"
        b.account(
            aid, "enterprise_batch", route="enterprise", verification="business", payment="pay-ent"
        )
        start = T0 + (i + 1) * DAY
        for k in range(int(500 * scale)):
            b.request(
                aid,
                start + k * 3000,
                template=tpl_ent,
                ip=f"20.1.1.{i + 1}",
                ua=SDK[1],
                capability="data_analysis",
                sig={"sig_format": 0.6},
                max_tokens=1024.0,
                payment="pay-ent",
            )
    class_tpls = rng.integers(1, 2**62, 4)
    for i in range(20):  # university class: one campus range, same prompts at lecture hours
        aid = f"uni{i:02d}"
        b.account(aid, "university_class", route="education", verification="email")
        for day in range(int(days)):
            for _k in range(int(rng.integers(2, 6))):
                ts = T0 + day * DAY + 9 * HOUR + int(rng.integers(0, 2 * HOUR))
                b.request(
                    aid,
                    ts,
                    template=int(class_tpls[day % 4]),
                    ip=f"128.32.10.{rng.integers(1, 255)}",
                    ua=BROWSER[0],
                    capability="code",
                    sig={"sig_cot": 0.6} if rng.random() < 0.3 else {},
                )
    for i in range(2):  # app platform: many end users, few accounts
        aid = f"app{i}"
        b.account(aid, "app_platform", route="startup", verification="business")
        for ts in diurnal_times(rng, int(900 * scale), days):
            benign_req(aid, int(ts), f"34.120.{i}.{rng.integers(1, 20)}", SDK[2], OLD)

    # -- campaign A: reasoning-trace harvest, shared payments, round-robin timing, cloud/VPN
    tplA = rng.integers(1, 2**62, 2)
    accA = [f"atkA{i:02d}" for i in range(15)]
    for i, aid in enumerate(accA):
        b.account(
            aid,
            "attack",
            "campA",
            verification=str(rng.choice(["none", "email"])),
            created=T0 - int(rng.integers(0, 3)) * DAY,
            payment=f"pay-A{i % 3}",
        )
    for k in range(int(15 * 80 * scale)):
        aid = accA[k % 15]
        ts = T0 + 2 * HOUR + k * 90_000
        sig = {
            "sig_cot": 0.9,
            "sig_rubric": 0.8 if k % 3 == 0 else 0.0,
            "sig_rewrite": 0.7 if k % 5 == 0 else 0.0,
        }
        b.request(
            aid,
            ts,
            template=int(tplA[k % 2]),
            ip=f"45.{(k % 15) + 60}.3.{k % 7}",
            ua=SDK[0],
            capability=str(rng.choice(["math", "code"])),
            sig=sig,
            max_tokens=4096.0,
            reasoning="high",
            payment=f"pay-A{(k % 15) % 3}",
            script="cjk" if k % 4 == 0 else "latin",
        )
    # -- campaign B: agentic harvest with synthetic-data instructions over several routes
    tplB = int(rng.integers(1, 2**62))
    sysB = int(rng.integers(1, 2**62))
    for i in range(10):
        aid = f"atkB{i:02d}"
        b.account(
            aid,
            "attack",
            "campB",
            route=str(rng.choice(["startup", "standard"])),
            verification="email",
            created=T0 - 5 * DAY,
        )
        for ts in T0 + np.sort(rng.integers(0, int(days * DAY), int(120 * scale))):
            b.request(
                aid,
                int(ts),
                template=tplB,
                ip=f"104.28.{i}.{rng.integers(1, 50)}",
                ua=SDK[3],
                capability="agentic",
                system=sysB,
                sig={"sig_synth": 0.8, "sig_format": 0.7},
                tools=["python"],
                max_tokens=8192.0,
            )
    # -- campaign C: hydra, many low-volume accounts, rotating residential proxies, pivot, mixed
    tplC = rng.integers(1, 2**62, 3)
    for i in range(60):
        aid = f"atkC{i:02d}"
        # Cards shared by about a dozen accounts each, as providers report for hydra networks.
        b.account(
            aid,
            "attack",
            "campC",
            verification=str(rng.choice(["none", "email"])),
            created=T0 - int(rng.integers(0, 20)) * DAY,
            payment=f"pay-C{i // 12}",
        )
        n = int(rng.integers(10, 20) * scale)
        ts_all = T0 + np.sort(rng.integers(0, int(days * DAY), n))
        for ts in ts_all:
            model = NEW if ts >= RELEASE and (ts < RELEASE + DAY or rng.random() < 0.5) else OLD
            b.request(
                aid,
                int(ts),
                template=int(rng.choice(tplC)),
                ip=_ip(rng, int(rng.choice([77, 83, 95]))),
                ua=str(rng.choice(BROWSER)),
                model=model,
                sig={"sig_cot": 0.8} if rng.random() < 0.7 else {},
                capability="math",
                attack=1,
            )
        if i < 10:  # mixed: genuine customer traffic of a reseller in the same account
            home = _ip(rng, 88)  # the reseller's customer: one home connection
            for ts in diurnal_times(rng, int(12 * scale), days):
                benign_req(aid, int(ts), home, BROWSER[1], OLD, attack=0)
    # -- campaign D: small and careful: human timing, residential, verified
    tplD = int(rng.integers(1, 2**62))
    for i in range(5):
        aid = f"atkD{i}"
        b.account(aid, "attack", "campD", verification="phone", created=T0 - 30 * DAY)
        home = _ip(rng, 71)
        for ts in diurnal_times(rng, int(40 * scale), days):
            b.request(
                aid,
                int(ts),
                template=tplD if rng.random() < 0.8 else int(rng.integers(1, 2**62)),
                ip=home,
                ua=BROWSER[2],
                capability="code",
                sig={"sig_cot": 0.7, "sig_rubric": 0.6},
                max_tokens=4096.0,
            )
    if reasoning_users:  # last, so every other account's requests are drawn as without it
        add_reasoning_users(b, days, scale)
    return b.t


def add_reasoning_users(b: Builder, days: float, scale: float) -> None:
    """Honest customers whose requests ask for the reasoning ("explain step by step", "show
    your work"), each with its own card and network and a customer's rhythm: a tutoring
    service's accounts, two math teachers, a team evaluating both models on a CoT benchmark."""
    rng = b.rng
    # Tutoring service: 3 accounts (one per school it serves), each its own card; students'
    # homework through the app's tutor prompt (one system prompt, a few question forms), by
    # day, with follow-ups ("why?", "next step?") from the app's two backend addresses.
    tutor_sys, forms = int(rng.integers(1, 2**62)), rng.integers(1, 2**62, 12)
    for i in range(3):
        aid = f"tutor{i}"
        b.account(aid, "tutoring_service", route="startup", verification="business")
        for ts in diurnal_times(rng, int(400 * scale), days, tz=-2):
            one_off = rng.random() < 0.6  # the student's own question, not an app form
            b.request(
                aid,
                int(ts),
                template=int(rng.integers(1, 2**62)) if one_off else int(rng.choice(forms)),
                ip=f"35.190.{40 + i}.{rng.integers(10, 12)}",
                ua=SDK[0],
                capability=str(rng.choice(["math", "math", "code", "other"])),
                system=tutor_sys,
                sig={"sig_cot": 0.85} if rng.random() < 0.8 else {},
                turns=int(rng.choice([1, 2, 2, 3, 4])),
                max_tokens=2048.0,
            )
    # Math teachers: a browser at home or at school, "solve it and show your work"
    # in the teacher's own wording, now and then a grading rubric or a worksheet layout.
    for i in range(2):
        aid = f"teacher{i}"
        created = T0 - int(rng.integers(1, 400)) * DAY  # as the benign crowd; strangers: own days
        b.account(aid, "math_teacher", verification="phone", created=created)
        home, school, wording = _ip(rng, 73), _ip(rng, 129), int(rng.integers(1, 2**62))
        for ts in diurnal_times(rng, int(rng.integers(60, 120) * scale), days, tz=3):
            sig = {"sig_cot": 0.8} if rng.random() < 0.7 else {}
            if rng.random() < 0.2:
                sig["sig_rubric"] = 0.7
            if rng.random() < 0.1:
                sig["sig_format"] = 0.6
            b.request(
                aid,
                int(ts),
                template=wording if rng.random() < 0.5 else int(rng.integers(1, 2**62)),
                ip=home if rng.random() < 0.7 else school,
                ua=BROWSER[3],
                capability="math",
                sig=sig,
                turns=int(rng.choice([1, 1, 2, 3])),
            )
    # Evaluation team: a fixed 200-item CoT benchmark (4 prompt formats) run on the old model
    # on day 1 and on the new one after its release, by one member in full and by another on
    # a 100-item subset twice while tuning the harness; a few conversational questions between.
    items = rng.integers(1, 2**62, 200)
    formats = rng.integers(1, 2**62, 4)
    runs = {
        "evalteam0": [(T0 + DAY, OLD, 200), (RELEASE + DAY, NEW, 200)],
        "evalteam1": [(T0 + 2 * DAY, OLD, 100), (RELEASE + 2 * DAY, NEW, 100)],
    }
    for i, (aid, plan) in enumerate(runs.items()):
        b.account(aid, "cot_eval_team", route="research", verification="id")
        ip = f"18.7.{i}.20"
        for start, model, n in plan:
            n = int(n * scale)  # a sequential harness: one item every 2-6 s
            for k, ts in enumerate(start + 14 * HOUR + np.cumsum(rng.integers(2000, 6000, n))):
                b.request(
                    aid,
                    int(ts),
                    template=int(formats[k % 4]),
                    prompt=int(items[k]),
                    ip=ip,
                    ua=SDK[1],
                    model=model,
                    capability="math",
                    sig={"sig_cot": 0.9},
                    max_tokens=4096.0,
                    reasoning="medium",
                )
            for ts in start + 17 * HOUR + np.sort(rng.integers(0, 2 * HOUR, 5)):
                b.request(
                    aid,
                    int(ts),
                    template=int(rng.integers(1, 2**62)),
                    ip=ip,
                    ua=BROWSER[4],
                    model=model,
                    capability="other",
                    turns=int(rng.integers(1, 4)),
                )


def load(engine, traffic: Traffic) -> None:
    """Register the traffic as the store tables ``requests`` and ``accounts``."""
    engine.register_arrow("requests", traffic.table())
    engine.register_arrow("accounts", traffic.account_table())


_CACHE: dict = {}


def analyzed(
    seed: int = 0,
    risk_model: str = "none",
    request_model: str = "none",
    reasoning_users: bool = False,
):
    """(traffic, engine, findings) for ``build(seed)`` after ``analyze``; built once per session.

    ``risk_model`` as in the policy: ``none`` (the hand-set weights these fixtures were written
    for) or ``builtin`` (the learned model, for which this traffic is an unseen world);
    ``request_model`` likewise (``builtin``, ``none`` or a manifest path);
    ``reasoning_users`` as in :func:`build`. Callers must only read from the engine.
    """
    key = (seed, risk_model, request_model, reasoning_users)
    if key not in _CACHE:
        from distillguard.engines.base import DuckDBEngine
        from distillguard.policy import Policy
        from distillguard.scoring import analyze

        traffic = build(seed, reasoning_users=reasoning_users)
        engine = DuckDBEngine()
        load(engine, traffic)
        policy = Policy.from_dict(
            {"scoring": {"risk_model": risk_model, "request_model": request_model}}
        )
        findings = analyze(engine, policy)
        _CACHE[key] = (traffic, engine, findings)
    return _CACHE[key]


def requests_table(rows: list[dict]) -> pa.Table:
    """A ``requests`` table from a few hand-written rows (unset columns get neutral defaults)."""
    defaults = {
        "model": OLD,
        "n_user_turns": 1,
        "n_messages": 1,
        "input_tokens": 100,
        "output_tokens": 200,
        "capability": "chat",
        "script": "latin",
        "system_hash": 0,
        "prompt_hash": 1,
        "skeleton_hash": 1,
    }
    for s in SIGS:
        defaults[s] = 0.0
    cols = {f.name: [] for f in STORED_REQUEST_SCHEMA}
    for i, row in enumerate(rows):
        full = dict(defaults, request_id=f"q{i:06d}", **row)
        for name in cols:
            cols[name].append(full.get(name))
    return pa.table(cols, schema=STORED_REQUEST_SCHEMA)


MIXED = {f"atkC{i:02d}" for i in range(10)}  # hydra accounts carrying a customer's traffic


def mixed_request_marks(traffic: Traffic, engine, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(marked harvest, is harvest) for each labelled request of the mixed accounts, a request
    being marked when its risk in ``out_requests`` reaches ``threshold``."""
    risk = {
        r["request_id"]: r["risk"]
        for r in engine.fetch_arrow("SELECT request_id, risk FROM out_requests").to_pylist()
    }
    acc = {
        r["request_id"]: r["account_id"]
        for r in engine.fetch_arrow("SELECT request_id, account_id FROM requests").to_pylist()
    }
    ids = [r for r in traffic.request_labels if acc[r] in MIXED]
    pred = np.array([risk.get(r, 0.0) >= threshold for r in ids])
    return pred, np.array([traffic.request_labels[r] == 1 for r in ids])
