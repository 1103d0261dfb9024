"""The account plan: every account of a run with its attributes, and the work units.

Planning is cheap (one row per account) and fully determined by the scenario and the seed.
Request generation then walks the units in chunks, so the run never holds the whole log.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import geo
from .geo import COUNTRIES, sample_in_ranges
from .scenario import (
    BENIGN_PERSONAS,
    G4_PERSONAS,
    GROUP_PERSONAS,
    HARD_BENIGN_PERSONAS,
    CampaignSpec,
    PersonaSpec,
    Scenario,
)
from .scripts import ENTERPRISE_TEMPLATES
from .text import TextBank

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
UNIT_ROWS = 16_400  # heavy accounts are generated in units of this many requests (a multiple of
# the eval-run and batch-job lengths, so runs and jobs never straddle two units)

_CONSUMER_MAIL = (
    ("gmail.com", 45),
    ("outlook.com", 12),
    ("yahoo.com", 6),
    ("icloud.com", 7),
    ("hotmail.com", 4),
    ("proton.me", 3),
    ("qq.com", 2),
    ("naver.com", 2),
    ("gmx.de", 2),
    ("yandex.ru", 1),
    ("mail.ru", 1),
    ("163.com", 1),
    ("tutamail.com", 0.3),
)
_ATTACK_MAIL = (
    ("gmail.com", 22),
    ("outlook.com", 8),
    ("proton.me", 9),
    ("qq.com", 4),
    ("163.com", 4),
    ("tutamail.com", 3),
    ("mail.ustc.edu.cn", 3),
    ("alumni.nus.edu.sg", 2),
    ("stu.pku.edu.cn", 3),
    ("kaist.ac.kr", 2),
    ("hust.edu.cn", 2),
)
_UNIS = (
    "berkeley.edu",
    "stanford.edu",
    "umich.edu",
    "illinois.edu",
    "northwestern.edu",
    "tum.de",
    "ucl.ac.uk",
    "utoronto.ca",
    "nus.edu.sg",
    "u-tokyo.ac.jp",
    "snu.ac.kr",
    "unam.mx",
    "usp.br",
    "iitb.ac.in",
    "mail.ustc.edu.cn",
    "stu.pku.edu.cn",
    "kaist.ac.kr",
    "alumni.nus.edu.sg",
    "hust.edu.cn",
)
_WORDS = (
    "acme",
    "nimbus",
    "vertex",
    "lumen",
    "orbit",
    "quanta",
    "harbor",
    "cedar",
    "pixel",
    "atlas",
    "north",
    "ember",
    "nova",
    "delta",
    "sprout",
    "kite",
    "maple",
    "zenith",
    "copper",
    "falcon",
    "tidal",
    "prism",
    "river",
    "summit",
)
_TLDS = ("com", "io", "ai", "co", "dev", "net", "de", "co.uk")

# Sign-up routes and verification: attackers lean on education/research/startup credits with
# weak verification; benign accounts mostly sign up normally. Both overlap on purpose.
SIGNUP_P = {
    "benign": (
        (
            ("standard", 0.74),
            ("startup", 0.09),
            ("education", 0.08),
            ("research", 0.04),
            ("enterprise", 0.05),
        ),
        (("email", 0.46), ("phone", 0.30), ("id", 0.08), ("business", 0.08), ("none", 0.08)),
    ),
    "attack": (
        (("standard", 0.18), ("startup", 0.30), ("education", 0.30), ("research", 0.22)),
        (("none", 0.34), ("email", 0.46), ("phone", 0.16), ("id", 0.04)),
    ),
    "careful": (
        (("standard", 0.7), ("startup", 0.3)),
        (("phone", 0.5), ("id", 0.3), ("email", 0.2)),
    ),
    "enterprise": ((("enterprise", 1.0),), (("business", 1.0),)),
    "education": ((("education", 1.0),), (("email", 0.8), ("id", 0.2))),
    "research": (
        (("research", 0.5), ("enterprise", 0.3), ("standard", 0.2)),
        (("business", 0.5), ("id", 0.3), ("email", 0.2)),
    ),
    "platform": ((("startup", 0.6), ("enterprise", 0.4)), (("business", 0.8), ("id", 0.2))),
    "power": (
        (("standard", 0.6), ("startup", 0.3), ("enterprise", 0.1)),
        (("phone", 0.4), ("id", 0.3), ("email", 0.3)),
    ),
    # Generator 3's groups (sim/groups.py): members sign up one by one, never as a verified org.
    "team": (
        (("standard", 0.7), ("startup", 0.3)),
        (("email", 0.6), ("phone", 0.3), ("id", 0.1)),
    ),
    "eval_team": (
        (("research", 0.6), ("standard", 0.4)),
        (("email", 0.6), ("phone", 0.3), ("id", 0.1)),
    ),
    "sponsor_credits": (
        (("education", 0.5), ("startup", 0.5)),
        (("email", 0.8), ("none", 0.2)),
    ),
    # Generator 4's personas (sim/personas.py): teachers as ordinary customers (a school
    # address to verify is as common as a phone), tutoring startups on the startup route.
    "teacher": (
        (("standard", 0.6), ("education", 0.4)),
        (("email", 0.5), ("phone", 0.4), ("id", 0.1)),
    ),
    "startup_verified": ((("startup", 1.0),), (("business", 1.0),)),
    "startup": ((("startup", 1.0),), (("email", 0.6), ("phone", 0.3), ("none", 0.1))),
}
ATTACK_COUNTRIES = (
    ("US", 0.28),
    ("SG", 0.14),
    ("HK", 0.08),
    ("JP", 0.08),
    ("MY", 0.06),
    ("GB", 0.06),
    ("DE", 0.05),
    ("KR", 0.05),
    ("TW", 0.05),
    ("CA", 0.05),
    ("AU", 0.05),
    ("NL", 0.05),
)
_NOT_ISO = frozenset({"EU", "AP", "A1", "A2", "O1", "XK", "ZZ"})
PROXY_COUNTRIES = (
    ("US", 0.34),
    ("GB", 0.07),
    ("DE", 0.07),
    ("BR", 0.07),
    ("IN", 0.07),
    ("FR", 0.05),
    ("CA", 0.05),
    ("JP", 0.05),
    ("MX", 0.05),
    ("ES", 0.04),
    ("IT", 0.04),
    ("PL", 0.03),
    ("ID", 0.03),
    ("VN", 0.02),
    ("TR", 0.02),
)


CAMPAIGN_SIGMA = {  # spread of requests per account (lognormal sigma)
    "reasoning_harvest": 0.15,
    "agentic_harvest": 0.5,
    "hydra": 0.6,
    "careful": 0.5,
    "shard": 0.1,
    "slow_drip": 0.3,
    "cloud_route": 0.5,
    "adaptive": 0.4,
}


def _share_benign_cards(rng: np.random.Generator, share: float, cols: dict, groups: list) -> None:
    """Families, agencies and small teams: groups of 2-5 ordinary accounts of different
    owners paying with one card (benign payment rings, as providers see them)."""
    if share <= 0:
        return
    ordinary = {g.index for g in groups if g.kind in BENIGN_PERSONAS}
    pool = [j for j, gi in enumerate(cols["group"]) if gi in ordinary and cols["payment"][j]]
    chosen = [pool[i] for i in rng.permutation(len(pool))[: int(share * len(pool))]]
    j = 0
    while j < len(chosen) - 1:  # a loop over small groups
        k = int(rng.integers(2, 6))
        for a in chosen[j + 1 : j + k]:
            cols["payment"][a] = cols["payment"][chosen[j]]
        j += k


def _signup_probabilities(scenario: Scenario) -> dict:
    """``SIGNUP_P`` with the world's redrawn route and verification weights."""
    w = scenario.world
    out = dict(SIGNUP_P)
    routes, verif = out["attack"]
    if w.attack_routes:
        routes = tuple(w.attack_routes.items())
    if w.attack_verification:
        verif = tuple(w.attack_verification.items())
    out["attack"] = (routes, verif)
    if w.benign_routes:
        out["benign"] = (tuple(w.benign_routes.items()), out["benign"][1])
    return out


@dataclass
class Group:
    """A persona or campaign: what generates the requests of its accounts."""

    index: int
    kind: str  # a benign persona, a hard-benign persona, or a campaign type
    label: str  # persona column of labels.csv
    campaign: CampaignSpec | None = None
    campaign_index: int = -1
    params: dict = field(default_factory=dict)


@dataclass
class Plan:
    """All accounts and work units of a run."""

    groups: list[Group]
    # per account
    account_id: list[str]
    org_id: list[str]
    payment: list[str]
    signup_route: list[str]
    verification: list[str]
    email_domain: list[str]
    group: np.ndarray
    member: np.ndarray
    n_req: np.ndarray
    n_mixed: np.ndarray
    created_ms: np.ndarray
    country: np.ndarray
    tz: np.ndarray
    home_ip: np.ndarray
    alt_ip: np.ndarray
    ip_mode: np.ndarray  # 0 home+mobile, 1 vpn, 2 cloud, 3 corporate, 4 campus
    ua1: np.ndarray
    ua2: np.ndarray
    style: np.ndarray  # 0 system prompt as a message, 1 as the ``system`` field
    route: np.ndarray
    adopt_ms: np.ndarray
    n_keys: np.ndarray
    key_base: np.ndarray
    flag: np.ndarray  # persona-specific bit (has a system prompt, browser client, ...)
    # work units
    unit_acct: np.ndarray
    unit_n: np.ndarray
    unit_off: np.ndarray
    unit_genuine: np.ndarray

    @property
    def n_accounts(self) -> int:
        return len(self.account_id)


class Tables:
    """Lookup tables shared by plan and generators: user agents, routes, models."""

    def __init__(self, scenario: Scenario, bank: TextBank):
        self.browser_lo = 0
        self.uas: list[str] = list(bank.browser_uas)
        self.browser_hi = len(self.uas)
        self.sdk_lo = len(self.uas)
        self.uas += list(geo.SDK_USER_AGENTS)
        self.sdk_hi = len(self.uas)
        self.agent_lo = len(self.uas)
        self.uas += list(geo.AGENT_USER_AGENTS)
        self.agent_hi = len(self.uas)
        self.eval_lo = len(self.uas)
        self.uas += list(geo.EVAL_USER_AGENTS)
        self.eval_hi = len(self.uas)
        self.browser_p = bank.browser_p
        routes = (
            ["direct"]
            + [f"cloud:{p}" for p in geo.CLOUD_PLATFORMS]
            + [f"reseller:{r}" for r in geo.RESELLERS]
        )
        for c in scenario.campaigns:
            for r in c.tactics["routes"]:
                if r not in routes:
                    routes.append(r)
        self.routes = routes
        self.route_index = {r: i for i, r in enumerate(routes)}
        self.models = [m.name for m in scenario.models]
        self.base_models = [i for i, m in enumerate(scenario.models) if m.released_day is None]
        self.base_p = np.array(
            [scenario.models[i].share for i in self.base_models], dtype=np.float64
        )
        self.base_p /= self.base_p.sum()
        self.reasoning = np.array([m.reasoning for m in scenario.models])
        nm = scenario.new_model
        self.new_model = self.models.index(nm.name) if nm else -1
        self.new_adoption = nm.adoption if nm else 0.0
        start_ms = int(scenario.start.timestamp() * 1000)
        self.release_ms = start_ms + int(nm.released_day * DAY_MS) if nm else 2**62
        # Which base model is "small", "standard", "reasoning" for persona preferences.
        order = sorted(
            self.base_models,
            key=lambda i: (self.reasoning[i], scenario.models[i].share),
            reverse=False,
        )
        self.reasoning_models = [i for i in self.base_models if self.reasoning[i]] or order[-1:]
        self.plain_models = [i for i in self.base_models if not self.reasoning[i]] or order[:1]

    def browser(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.browser_lo + rng.choice(
            self.browser_hi - self.browser_lo, size=n, p=self.browser_p
        )

    def sdk(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(self.sdk_lo, self.sdk_hi, size=n)

    def agent(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(self.agent_lo, self.agent_hi, size=n)

    def eval_ua(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(self.eval_lo, self.eval_hi, size=n)


def _choice(rng: np.random.Generator, pairs, n: int) -> list[str]:
    names = [p[0] for p in pairs]
    w = np.array([p[1] for p in pairs], dtype=np.float64)
    return [names[i] for i in rng.choice(len(names), size=n, p=w / w.sum())]


def _hex(rng: np.random.Generator, n: int, digits: int, prefix: str, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        v = int(rng.integers(0, 2**62))
        s = prefix + format(v, "016x")[-digits:]
        if s not in taken:
            taken.add(s)
            out.append(s)
    return out


def _company_domain(rng: np.random.Generator) -> str:
    w = _WORDS[int(rng.integers(len(_WORDS)))] + _WORDS[int(rng.integers(len(_WORDS)))]
    if rng.random() < 0.3:
        w += str(int(rng.integers(2, 99)))
    return f"{w}.{_TLDS[int(rng.integers(len(_TLDS)))]}"


class IpSampler:
    """Residential/mobile/corporate/campus/hosting/VPN addresses; residential draws avoid the
    hosting and VPN lists."""

    def __init__(self, bank: TextBank):
        self.dc = bank.datacenter
        self.vpn = bank.vpn
        self.bad = np.concatenate([self.dc, self.vpn]) if len(self.vpn) else self.dc
        order = np.argsort(self.bad[:, 0], kind="stable")
        self.bad = self.bad[order]
        self.res = [geo.parse_cidrs(c.residential) for c in COUNTRIES]
        self.mob = [geo.parse_cidrs(c.mobile) for c in COUNTRIES]
        codes = [c.code for c in COUNTRIES]
        self.corp = [
            geo.parse_cidrs(geo.CORPORATE_BLOCKS[c]) if c in geo.CORPORATE_BLOCKS else self.res[i]
            for i, c in enumerate(codes)
        ]
        self.campus = {codes.index(c): geo.parse_cidrs(b) for c, b in geo.CAMPUS_BLOCKS.items()}
        # Country codes of request rows: the simulated countries first, then any other country
        # an offline GeoIP lookup of a hosting/VPN address returns (appended as discovered).
        self.codes: list[str] = list(codes)
        self._code_index = {c: i for i, c in enumerate(codes)}
        self._geo_cache: dict[int, int] = {}
        try:
            from geoip2fast import GeoIP2Fast

            self._geo = GeoIP2Fast()
        except Exception:  # the lookup is a nicety: without it rows keep their default country
            self._geo = None

    def country_of(self, ips: np.ndarray, default: np.ndarray) -> np.ndarray:
        """Country (index into ``codes``) of each address by offline GeoIP, as a provider's
        log would record it; ``default`` where the address is unknown."""
        out = np.asarray(default, dtype=np.int64).copy()
        if len(ips) == 0 or self._geo is None:
            return out
        uniq, inv = np.unique(ips, return_inverse=True)
        found = np.empty(len(uniq), dtype=np.int64)
        for j, ip in enumerate(uniq):  # distinct addresses only (hosting/VPN pools are small)
            key = int(ip)
            idx = self._geo_cache.get(key)
            if idx is None:
                code = self._geo.lookup(str(ipaddress.IPv4Address(key))).country_code
                idx = -1
                # Skip GeoIP pseudo-codes (EU, AP, anonymous proxies): not ISO 3166-1 countries.
                if (
                    isinstance(code, str)
                    and len(code) == 2
                    and code.isalpha()
                    and code.upper() not in _NOT_ISO
                ):
                    code = code.upper()
                    if code not in self._code_index:
                        self._code_index[code] = len(self.codes)
                        self.codes.append(code)
                    idx = self._code_index[code]
                self._geo_cache[key] = idx
            found[j] = idx
        hit = found[inv]
        return np.where(hit >= 0, hit, out)

    def _clean(self, rng: np.random.Generator, ranges: np.ndarray, n: int) -> np.ndarray:
        ips = sample_in_ranges(rng, ranges, n)
        for _ in range(20):
            bad = geo.in_ranges(ips, self.bad)
            if not bad.any():
                break
            ips[bad] = sample_in_ranges(rng, ranges, int(bad.sum()))
        return ips

    def by_country(
        self, rng: np.random.Generator, country: np.ndarray, mobile: bool = False
    ) -> np.ndarray:
        """One address per row in the row's country (residential or mobile blocks)."""
        out = np.zeros(len(country), dtype=np.uint32)
        pools = self.mob if mobile else self.res
        for c in np.unique(country):  # loop over distinct countries
            rows = np.nonzero(country == c)[0]
            out[rows] = self._clean(rng, pools[int(c)], len(rows))
        return out

    def corporate(self, rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
        """One office address per row, in the row's country."""
        out = np.zeros(len(country), dtype=np.uint32)
        for c in np.unique(country):  # loop over distinct countries
            rows = np.nonzero(country == c)[0]
            out[rows] = self._clean(rng, self.corp[int(c)], len(rows))
        return out

    def campus_net(self, rng: np.random.Generator, country: int) -> np.uint32:
        """A campus /24 (its first address) of a university in ``country``."""
        ip = self._clean(rng, self.campus[country], 1)
        return np.uint32(int(ip[0]) & 0xFFFFFF00)

    def hosting(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return sample_in_ranges(rng, self.dc, n)

    def vpn_ips(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return sample_in_ranges(rng, self.vpn if len(self.vpn) else self.dc, n)


def _lognormal_counts(
    rng: np.random.Generator, n: int, total: int, sigma: float, lo: int = 1
) -> np.ndarray:
    """``n`` positive counts summing to ``total`` with lognormal spread."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    w = rng.lognormal(0.0, sigma, size=n)
    raw = np.maximum(lo, np.floor(w / w.sum() * total)).astype(np.int64)
    diff = total - int(raw.sum())
    if diff > 0:
        np.add.at(raw, rng.choice(n, size=diff, p=w / w.sum()), 1)
    elif diff < 0:
        for i in np.argsort(-raw):  # trim the largest first (a loop over at most n accounts)
            take = min(-diff, int(raw[i]) - lo)
            raw[i] -= take
            diff += take
            if diff == 0:
                break
    return raw


_ACCOUNT_COLUMNS = (
    "group",
    "member",
    "n_req",
    "n_mixed",
    "created_ms",
    "country",
    "tz",
    "home_ip",
    "alt_ip",
    "ip_mode",
    "ua1",
    "ua2",
    "style",
    "route",
    "adopt_ms",
    "n_keys",
    "flag",
    "org_id",
    "payment",
    "signup_route",
    "verification",
    "email_domain",
)
NEVER_MS = 2**62  # an adoption time after any simulated period
# Columns a group may give ``_Planner.add`` (short names: ``home`` is ``home_ip`` ...).
_GIVEN_COLUMNS = (
    "country",
    "created",
    "home",
    "alt",
    "ip_mode",
    "ua1",
    "ua2",
    "style",
    "route",
    "adopt",
    "n_keys",
    "flag",
    "org",
    "payment",
    "email",
    "n_mixed",
)


def build_plan(scenario: Scenario, tables: Tables, bank: TextBank, seed: int) -> Plan:
    """Every account of the run, deterministic for ``(scenario, seed)``."""
    # The phases draw from one random stream: their order is part of the output.
    planner = _Planner(scenario, tables, bank, seed)
    planner.plan_benign_population()
    planner.plan_hard_benign()
    planner.plan_campaigns()
    planner.share_cards()
    planner.plan_groups()
    return planner.finish()


class _Planner:
    """Accumulates the account columns, group by group, from one seeded random stream."""

    def __init__(self, scenario: Scenario, tables: Tables, bank: TextBank, seed: int):
        self.scenario = scenario
        self.tables = tables
        self.seed = seed
        self.rng = np.random.default_rng([seed, 1])
        self.ips = IpSampler(bank)
        self.start_ms = int(scenario.start.timestamp() * 1000)
        self.period_ms = int(scenario.days * DAY_MS)
        self.groups: list[Group] = []
        self.cols: dict[str, list] = {k: [] for k in _ACCOUNT_COLUMNS}
        self.taken: set[str] = set()  # ids, organisations and cards drawn so far (all distinct)
        self.n_base: int | None = None  # accounts before generator 3's groups (plan_groups)
        self.n_g3: int | None = None  # accounts before generator 4's personas (plan_groups)
        self.signup_p = _signup_probabilities(scenario)
        self.country_w = np.array([c.weight for c in COUNTRIES])
        self.country_w /= self.country_w.sum()
        self.code_index = {c.code: i for i, c in enumerate(COUNTRIES)}

    def new_group(self, kind: str, **kw: Any) -> Group:
        g = Group(len(self.groups), kind, kind, **kw)
        self.groups.append(g)
        return g

    def random_countries(self, n: int) -> np.ndarray:
        return self.rng.choice(len(COUNTRIES), size=n, p=self.country_w)

    def adopt_after(self, n: int, mean_hours: float, never: float) -> np.ndarray:
        """When each account moves to the new model: hours after release, or ``never``."""
        rng = self.rng
        delay = (rng.exponential(mean_hours, size=n) * HOUR_MS).astype(np.int64)
        out = self.tables.release_ms + delay
        out[rng.random(n) < never] = NEVER_MS
        return out

    def new_org(self) -> str:
        return _hex(self.rng, 1, 10, "org_", self.taken)[0]

    def new_card(self) -> str:
        return _hex(self.rng, 1, 16, "pf_", self.taken)[0]

    # ---- appending accounts -----------------------------------------------------------------
    def add(self, group: Group, n: int, n_req: np.ndarray, *, signup: str, **given: Any) -> None:
        """Append ``n`` accounts of ``group``. ``given`` holds some of ``_GIVEN_COLUMNS``; the
        rest are drawn, always in the same order so the random stream stays put."""
        unknown = set(given) - set(_GIVEN_COLUMNS)
        if unknown:  # a misspelt column would otherwise be drawn silently
            raise TypeError(f"add: unknown account columns {sorted(unknown)}")
        if n == 0:
            return
        country, tz, created = self._where_and_since(n, signup, given)
        cols = self.cols
        cols["group"] += [group.index] * n
        cols["member"] += list(range(n))
        cols["n_req"] += list(n_req)
        cols["n_mixed"] += list(_given(given, "n_mixed", lambda: np.zeros(n, dtype=np.int64)))
        cols["created_ms"] += list(created)
        cols["country"] += list(country)
        cols["tz"] += list(tz)
        self._add_network(n, country, given)
        self._add_clients(n, given)
        self._add_billing(n, signup, given)

    def _where_and_since(
        self, n: int, signup: str, given: dict
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Country, UTC offset and sign-up time of each new account."""
        rng = self.rng
        country = _given(given, "country", lambda: self.random_countries(n))
        tz = np.array(
            [COUNTRIES[c].tz[int(rng.integers(len(COUNTRIES[c].tz)))] for c in country],
            dtype=np.float64,
        )
        created = _given(
            given,
            "created",
            lambda: (
                self.start_ms - (rng.lognormal(np.log(200), 0.9, size=n) * DAY_MS).astype(np.int64)
            ),
        )
        if signup not in ("attack", "careful"):
            tz = tz + self.scenario.world.diurnal_shift  # a world whose users keep other hours
        return country, tz, created

    def _add_network(self, n: int, country: np.ndarray, given: dict) -> None:
        rng, cols = self.rng, self.cols
        cols["home_ip"] += list(_given(given, "home", lambda: self.ips.by_country(rng, country)))
        cols["alt_ip"] += list(
            _given(given, "alt", lambda: self.ips.by_country(rng, country, mobile=True))
        )
        cols["ip_mode"] += list(_given(given, "ip_mode", lambda: np.zeros(n, dtype=np.int64)))

    def _add_clients(self, n: int, given: dict) -> None:
        rng, cols, tables = self.rng, self.cols, self.tables
        cols["ua1"] += list(_given(given, "ua1", lambda: tables.sdk(rng, n)))
        cols["ua2"] += list(_given(given, "ua2", lambda: tables.sdk(rng, n)))
        cols["style"] += list(_given(given, "style", lambda: rng.integers(0, 2, size=n)))
        cols["route"] += list(_given(given, "route", lambda: np.zeros(n, dtype=np.int64)))
        cols["adopt_ms"] += list(
            _given(given, "adopt", lambda: np.full(n, NEVER_MS, dtype=np.int64))
        )
        cols["n_keys"] += list(
            _given(given, "n_keys", lambda: 1 + (rng.random(n) < 0.25).astype(np.int64))
        )
        cols["flag"] += list(_given(given, "flag", lambda: np.zeros(n, dtype=np.int64)))

    def _add_billing(self, n: int, signup: str, given: dict) -> None:
        rng, cols, taken = self.rng, self.cols, self.taken
        routes_p, verif_p = self.signup_p[signup]
        cols["org_id"] += _given(given, "org", lambda: _hex(rng, n, 10, "org_", taken))
        cols["payment"] += _given(given, "payment", lambda: _hex(rng, n, 16, "pf_", taken))
        cols["signup_route"] += _choice(rng, routes_p, n)
        cols["verification"] += _choice(rng, verif_p, n)
        cols["email_domain"] += _given(
            given, "email", lambda: _mail_domains(rng, _CONSUMER_MAIL, "company", 18, n)
        )

    # ---- ordinary benign population ---------------------------------------------------------
    def plan_benign_population(self) -> None:
        b = self.scenario.benign
        mix_total = sum(b.mix.values())
        counts = {
            p: int(round(b.accounts * b.mix.get(p, 0.0) / mix_total)) for p in BENIGN_PERSONAS
        }
        counts[max(counts, key=counts.get)] += b.accounts - sum(counts.values())
        for persona in BENIGN_PERSONAS:
            g = self.new_group(persona)
            if counts[persona]:
                self.plan_benign_persona(g, counts[persona])

    def plan_benign_persona(self, g: Group, n: int) -> None:
        """``n`` ordinary accounts of the persona ``g.kind`` (casual, developer, student)."""
        b, rng, persona = self.scenario.benign, self.rng, g.kind
        n_req = np.minimum(
            b.max_requests,
            np.maximum(
                1, np.round(rng.lognormal(np.log(b.requests_median), b.requests_sigma, size=n))
            ),
        ).astype(np.int64)
        created = self._benign_signups(n)
        mode = self._benign_ip_modes(persona, n)
        is_browser, ua1, ua2 = self._benign_clients(persona, n)
        route = self._benign_routes(n)
        has_system = rng.random(n) < {"casual": 0.15, "developer": 0.4, "student": 0.05}[persona]
        country = self.random_countries(n)
        home, alt = self._benign_addresses(country, mode)
        email = None
        if persona == "student":
            email = _mail_domains(rng, _CONSUMER_MAIL, "uni", 60, n)
        self.add(
            g,
            n,
            n_req,
            signup="benign",
            country=country,
            created=created,
            ip_mode=mode,
            ua1=ua1,
            ua2=ua2,
            route=route,
            adopt=self.adopt_after(n, 60.0, 0.45),
            flag=(is_browser.astype(np.int64) | (has_system.astype(np.int64) << 1)),
            home=home,
            alt=alt,
            email=email,
        )

    def _benign_signups(self, n: int) -> np.ndarray:
        """Sign-up times: mostly long before the period, some new during it."""
        rng, b = self.rng, self.scenario.benign
        created = self.start_ms - (rng.lognormal(np.log(250), 1.0, size=n) * DAY_MS).astype(
            np.int64
        )
        new = rng.random(n) < b.new_signups
        created[new] = self.start_ms + (rng.random(int(new.sum())) * self.period_ms * 0.8).astype(
            np.int64
        )
        return created

    def _benign_ip_modes(self, persona: str, n: int) -> np.ndarray:
        """0 home, 1 VPN, 2 cloud, 3 corporate (developers in offices)."""
        rng, b = self.rng, self.scenario.benign
        mode = np.zeros(n, dtype=np.int64)
        u = rng.random(n)
        mode[u < b.vpn_share] = 1
        cloud_p = b.cloud_share * (3.0 if persona == "developer" else 0.5)
        mode[(u >= b.vpn_share) & (u < b.vpn_share + cloud_p)] = 2
        if persona == "developer":
            mode[(mode == 0) & (rng.random(n) < 0.35)] = 3
        return mode

    def _benign_clients(self, persona: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Whether the main client is a browser, and the two user agents."""
        rng, tables = self.rng, self.tables
        browser_p = {"casual": 0.55, "developer": 0.15, "student": 0.75}[persona]
        is_browser = rng.random(n) < browser_p
        ua1 = np.where(is_browser, tables.browser(rng, n), tables.sdk(rng, n))
        ua2 = np.where(rng.random(n) < 0.7, tables.browser(rng, n), tables.sdk(rng, n))
        return is_browser, ua1, ua2

    def _benign_routes(self, n: int) -> np.ndarray:
        """Mostly direct; 5% through a cloud platform, 2% through a reseller."""
        rng = self.rng
        route = np.zeros(n, dtype=np.int64)
        r = rng.random(n)
        route[r < 0.05] = 1 + rng.integers(0, len(geo.CLOUD_PLATFORMS), size=int((r < 0.05).sum()))
        res = (r >= 0.05) & (r < 0.07)
        route[res] = (
            1 + len(geo.CLOUD_PLATFORMS) + rng.integers(0, len(geo.RESELLERS), size=int(res.sum()))
        )
        return route

    def _benign_addresses(
        self, country: np.ndarray, mode: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Home and second address per account, by its IP mode."""
        rng, ips = self.rng, self.ips
        home = ips.by_country(rng, country)
        vpn_rows = mode == 1
        home[vpn_rows] = ips.vpn_ips(rng, int(vpn_rows.sum()))
        alt = ips.by_country(rng, country, mobile=True)
        cloud_rows = mode == 2
        alt[cloud_rows] = ips.hosting(rng, int(cloud_rows.sum()))
        corp_rows = mode == 3
        for c in np.unique(country[corp_rows]):  # loop over distinct countries
            # Colleagues share an office egress /24: a benign look-alike of coordinated accounts.
            rows_c = np.nonzero(corp_rows & (country == c))[0]
            k = len(rows_c)
            offices = ips.corporate(rng, np.full(max(1, k // 6), c)) & np.uint32(0xFFFFFF00)
            alt[rows_c] = offices[rng.integers(0, len(offices), size=k)] + rng.integers(
                2, 254, size=k
            ).astype(np.uint32)
        return home, alt

    # ---- hard-benign personas ---------------------------------------------------------------
    def plan_hard_benign(self) -> None:
        for persona in HARD_BENIGN_PERSONAS:
            g = self.new_group(persona)
            spec = self.scenario.hard_benign.get(persona)
            if spec is None or spec.accounts == 0:
                continue
            g.params["spec"] = spec
            planner = self._hard_benign_planners().get(persona)
            if planner is not None:
                planner(g, spec.accounts, spec)

    def _hard_benign_planners(self) -> dict[str, Callable[[Group, int, PersonaSpec], None]]:
        return {
            "eval_runner": self._plan_eval_runner,
            "agentic_power_user": self._plan_agentic_power_user,
            "enterprise_batch": self._plan_enterprise_batch,
            "university_class": self._plan_university_class,
            "app_platform": self._plan_app_platform,
            "leaderboard_operator": self._plan_leaderboard_operator,
            "labelling_vendor": self._plan_labelling_vendor,
            "research_synthetic": self._plan_research_synthetic,
        }

    def _plan_eval_runner(self, g: Group, n: int, spec: PersonaSpec) -> None:
        rng, ips = self.rng, self.ips
        n_req = _lognormal_counts(rng, n, spec.requests, 0.4, lo=20)
        country = self.random_countries(n)
        self.add(
            g,
            n,
            n_req,
            signup="research",
            **self._eval_harness(n, adopt_hours=6.0),
            alt=ips.corporate(rng, country),
            country=country,
            email=[_company_domain(rng) for _ in range(n)],
        )

    def _eval_harness(self, n: int, adopt_hours: float) -> dict[str, Any]:
        """Evaluation suites run from hosted servers: eval user agents, system prompt in the
        messages, the new model adopted within hours by every account."""
        rng = self.rng
        return dict(
            ip_mode=np.full(n, 2),
            ua1=self.tables.eval_ua(rng, n),
            ua2=self.tables.eval_ua(rng, n),
            style=np.zeros(n, dtype=np.int64),
            adopt=self.adopt_after(n, adopt_hours, 0.0),
            home=self.ips.hosting(rng, n),
        )

    def _plan_agentic_power_user(self, g: Group, n: int, spec: PersonaSpec) -> None:
        rng, tables = self.rng, self.tables
        n_req = _lognormal_counts(rng, n, spec.requests, 0.7, lo=50)
        self.add(
            g,
            n,
            n_req,
            signup="power",
            ip_mode=np.full(n, 2),
            ua1=tables.agent(rng, n),
            ua2=tables.sdk(rng, n),
            style=np.ones(n, dtype=np.int64),
            adopt=self.adopt_after(n, 10.0, 0.1),
            n_keys=rng.integers(1, 4, size=n),
            flag=rng.integers(0, 4, size=n),
            alt=self.ips.hosting(rng, n),
        )

    def _plan_enterprise_batch(self, g: Group, n: int, spec: PersonaSpec) -> None:
        # One organisation, one card, several accounts and keys.
        rng, tables, ips = self.rng, self.tables, self.ips
        n_req = _lognormal_counts(rng, n, spec.requests, 0.3, lo=20)
        org, pay = self.new_org(), self.new_card()
        country = self.code_index["US"] if rng.random() < 0.6 else self.code_index["DE"]
        corp = ips.corporate(rng, np.array([country]))
        dom = _company_domain(rng)
        self.add(
            g,
            n,
            n_req,
            signup="enterprise",
            ip_mode=np.full(n, 3),
            ua1=np.full(n, tables.sdk_lo + 14),
            ua2=np.full(n, tables.sdk_lo),
            style=np.zeros(n, dtype=np.int64),
            n_keys=np.full(n, spec.keys),
            org=[org] * n,
            payment=[pay] * n,
            email=[dom] * n,
            home=np.repeat(corp, n),
            alt=ips.hosting(rng, n),
            country=np.full(n, country),
            flag=rng.integers(0, len(ENTERPRISE_TEMPLATES), size=n),
        )

    def _plan_university_class(self, g: Group, n: int, spec: PersonaSpec) -> None:
        # One course on one campus network; the students mostly use a browser.
        rng, tables, ips = self.rng, self.tables, self.ips
        n_req = _lognormal_counts(rng, n, spec.requests, 0.8, lo=2)
        cidx = int(rng.choice([self.code_index[c] for c in ("US", "GB", "DE", "CA")]))
        uni = _UNIS[int(rng.integers(len(_UNIS)))]
        campus = ips.campus_net(rng, cidx)
        g.params["campus"] = int(campus)
        g.params["tz"] = float(COUNTRIES[cidx].tz[0])
        country = np.full(n, cidx)
        browser = rng.random(n) < 0.8
        cols = dict(
            ua1=np.where(browser, tables.browser(rng, n), tables.sdk(rng, n)),
            ua2=tables.browser(rng, n),
            payment=[""] * n,
            created=self.start_ms - (rng.uniform(10, 60, size=n) * DAY_MS).astype(np.int64),
            home=campus + rng.integers(2, 254, size=n).astype(np.uint32),
        )
        if spec.tactics is not None:  # generator 2: this world's tightness (own stream)
            g.params["tactics"] = spec.tactics
            self._tighten_class(np.random.default_rng([self.seed, 3, g.index]), spec, cols, campus)
        self.add(
            g,
            n,
            n_req,
            signup="education",
            country=country,
            ip_mode=np.full(n, 4),
            email=[uni] * n,
            alt=ips.by_country(rng, country),
            flag=browser.astype(np.int64),
            **cols,
        )

    def _tighten_class(
        self, side: np.random.Generator, spec: PersonaSpec, cols: dict, campus: np.uint32
    ) -> None:
        """A class's sign-up wave, lab browser, campus NAT and department card, drawn from
        ``side`` so the rest of the world's accounts stay as they were."""
        t, n = spec.tactics or {}, spec.accounts
        lag = t["signup_lag_days"] + side.uniform(0, t["signup_wave_days"], size=n)
        cols["created"] = self.start_ms - (lag * DAY_MS).astype(np.int64)
        lab = side.random(n) < t["lab_browser"]
        cols["ua1"] = np.where(lab, self.tables.browser(side, 1)[0], cols["ua1"])
        if t["campus_nat"]:
            cols["home"] = np.full(n, campus + np.uint32(side.integers(2, 254)), np.uint32)
        if t["dept_card"]:
            cols["payment"] = [_hex(side, 1, 16, "pf_", self.taken)[0]] * n

    def _plan_app_platform(self, g: Group, n: int, spec: PersonaSpec) -> None:
        rng, tables, ips = self.rng, self.tables, self.ips
        n_req = _lognormal_counts(rng, n, spec.requests, 0.6, lo=50)
        self.add(
            g,
            n,
            n_req,
            signup="platform",
            ip_mode=np.full(n, 2),
            ua1=tables.sdk(rng, n),
            ua2=tables.sdk(rng, n),
            home=ips.hosting(rng, n),
            alt=ips.hosting(rng, n),
            n_keys=rng.integers(2, 5, size=n),
            flag=rng.integers(0, 5, size=n),
            email=[_company_domain(rng) for _ in range(n)],
            route=np.where(
                rng.random(n) < 0.3, 1 + rng.integers(0, len(geo.CLOUD_PLATFORMS), size=n), 0
            ),
            adopt=self.adopt_after(n, 72.0, 0.5),
        )

    def _plan_leaderboard_operator(self, g: Group, n: int, spec: PersonaSpec) -> None:
        # One organisation, one card, many API keys as accounts: suites run in parallel.
        rng, ips = self.rng, self.ips
        n_req = _lognormal_counts(rng, n, spec.requests, 0.3, lo=20)
        self.add(
            g,
            n,
            n_req,
            signup="research",
            **self._eval_harness(n, adopt_hours=4.0),
            alt=ips.hosting(rng, n),
            org=[self.new_org()] * n,
            payment=[self.new_card()] * n,
            email=[_company_domain(rng)] * n,
            n_keys=np.full(n, spec.keys),
        )

    def _plan_labelling_vendor(self, g: Group, n: int, spec: PersonaSpec) -> None:
        # Annotators behind one office NAT, one vendor card, rubric grading all day.
        rng, tables = self.rng, self.tables
        n_req = _lognormal_counts(rng, n, spec.requests, 0.5, lo=5)
        cidx = int(rng.choice([self.code_index[c] for c in ("IN", "PH", "US", "PL", "BR")]))
        nat = self.ips.corporate(rng, np.array([cidx]))
        browser = rng.random(n) < 0.7
        self.add(
            g,
            n,
            n_req,
            signup="platform",
            country=np.full(n, cidx),
            ip_mode=np.full(n, 3),
            ua1=np.where(browser, tables.browser(rng, n), tables.sdk(rng, n)),
            ua2=tables.browser(rng, n),
            home=np.repeat(nat, n),
            alt=np.repeat(nat, n),
            org=[self.new_org()] * n,
            payment=[self.new_card()] * n,
            email=[_company_domain(rng)] * n,
            flag=browser.astype(np.int64),
        )

    def _plan_research_synthetic(self, g: Group, n: int, spec: PersonaSpec) -> None:
        rng, tables, ips = self.rng, self.tables, self.ips
        n_req = _lognormal_counts(rng, n, spec.requests, 0.5, lo=20)
        self.add(
            g,
            n,
            n_req,
            signup="research",
            ip_mode=np.full(n, 2),
            ua1=tables.sdk(rng, n),
            ua2=tables.sdk(rng, n),
            home=ips.hosting(rng, n),
            alt=ips.corporate(rng, self.random_countries(n)),
            email=[_UNIS[int(rng.integers(len(_UNIS)))]] * n,
            adopt=self.adopt_after(n, 12.0, 0.2),
        )

    # ---- attack campaigns -------------------------------------------------------------------
    def plan_campaigns(self) -> None:
        countries = self._attack_countries()
        for ci, c in enumerate(self.scenario.campaigns):
            g = self.new_group(c.type, campaign=c, campaign_index=ci)
            _CampaignPlanner(self, g, c, countries).plan()

    def _attack_countries(self) -> tuple[np.ndarray, np.ndarray]:
        """Country indexes the operators sign up from, and their weights."""
        attack_countries = ATTACK_COUNTRIES
        world = self.scenario.world
        if world.attack_countries:
            known = [c for c in world.attack_countries if c in self.code_index]
            attack_countries = tuple((c, 1.0) for c in known) or ATTACK_COUNTRIES
        codes = np.array([self.code_index[c] for c, _ in attack_countries])
        weights = np.array([w for _, w in attack_countries])
        return codes, weights / weights.sum()

    # ---- the whole population -----------------------------------------------------------------
    def share_cards(self) -> None:
        """Cards shared by benign families and teams, and cards hidden by cloud billing."""
        cols, tables = self.cols, self.tables
        _share_benign_cards(self.rng, self.scenario.world.benign_card_sharing, cols, self.groups)
        if self.scenario.world.cloud_hides_client:
            # Billed through the marketplace: no card of ours on any cloud-route account.
            cloud = {tables.route_index[r] for r in tables.routes if r.startswith("cloud:")}
            cols["payment"] = [
                "" if r in cloud else pay
                for r, pay in zip(cols["route"], cols["payment"], strict=True)
            ]

    # ---- generator 3's coordinated groups ------------------------------------------------------
    def plan_groups(self) -> None:
        """The honest coordinated groups (``GROUP_PERSONAS``), planned last and from a stream
        of their own, so every other account is planned exactly as without them; then
        generator 4's personas (``G4_PERSONAS``) after them, from another stream."""
        from .groups import GROUP_PLANNERS
        from .personas import G4_PLANNERS

        self.n_base = len(self.cols["group"])
        self._plan_side(GROUP_PERSONAS, GROUP_PLANNERS, 7)
        self.n_g3 = len(self.cols["group"])
        self._plan_side(G4_PERSONAS, G4_PLANNERS, 9)

    def _plan_side(self, personas: tuple[str, ...], planners: dict, stream: int) -> None:
        """Plan the ``personas`` present with the planner's stream swapped for ``stream``'s."""
        present = [p for p in personas if self.scenario.hard_benign.get(p)]
        if not present:
            return
        main, self.rng = self.rng, np.random.default_rng([self.seed, stream])
        try:
            for persona in present:
                spec = self.scenario.hard_benign[persona]
                if spec.accounts:
                    g = self.new_group(persona)
                    g.params["spec"] = spec
                    planners[persona](self, g, spec.accounts, spec)
        finally:
            self.rng = main

    def finish(self) -> Plan:
        """The plan: account ids, key seeds and the shuffled work units (the groups' after
        the rest, from their own stream)."""
        cols, rng = self.cols, self.rng
        n_acc = len(cols["group"])
        n_base = n_acc if self.n_base is None else self.n_base
        n_g3 = n_acc if self.n_g3 is None else self.n_g3
        # Each generator's accounts from its own stream: generator 3's, then generator 4's.
        tiers = ((n_base, n_g3, 8), (n_g3, n_acc, 10))
        ids = _hex(rng, n_base, 12, "acct_", self.taken)
        key_base = rng.integers(0, 2**62, size=n_base, dtype=np.int64).astype(np.uint64)
        sides = {k: np.random.default_rng([self.seed, k]) for _, _, k in tiers}
        for lo, hi, k in tiers:
            if hi > lo:
                ids += _hex(sides[k], hi - lo, 12, "acct_", self.taken)
                extra = sides[k].integers(0, 2**62, size=hi - lo, dtype=np.int64)
                key_base = np.concatenate([key_base, extra.astype(np.uint64)])
        n_req = np.array(cols["n_req"], dtype=np.int64)
        n_mixed = np.array(cols["n_mixed"], dtype=np.int64)
        units = _work_units(n_req, n_mixed)
        bounds = np.searchsorted(units[0], [n_base, n_g3, n_acc])  # units are in account order
        perm = [rng.permutation(int(bounds[0]))]  # file order mixes personas and campaigns
        for (_, _, k), u_lo, u_hi in zip(tiers, bounds[:-1], bounds[1:], strict=True):
            perm.append(int(u_lo) + sides[k].permutation(int(u_hi - u_lo)))
        perm = np.concatenate(perm)

        def arr(k: str, dt: type = np.int64) -> np.ndarray:
            return np.array(cols[k], dtype=dt)

        return Plan(
            groups=self.groups,
            account_id=ids,
            org_id=cols["org_id"],
            payment=cols["payment"],
            signup_route=cols["signup_route"],
            verification=cols["verification"],
            email_domain=cols["email_domain"],
            group=arr("group"),
            member=arr("member"),
            n_req=n_req,
            n_mixed=n_mixed,
            created_ms=arr("created_ms"),
            country=arr("country"),
            tz=arr("tz", np.float64),
            home_ip=arr("home_ip", np.uint32),
            alt_ip=arr("alt_ip", np.uint32),
            ip_mode=arr("ip_mode"),
            ua1=arr("ua1"),
            ua2=arr("ua2"),
            style=arr("style"),
            route=arr("route"),
            adopt_ms=arr("adopt_ms"),
            n_keys=arr("n_keys"),
            key_base=key_base,
            flag=arr("flag"),
            unit_acct=units[0][perm],
            unit_n=units[1][perm],
            unit_off=units[2][perm],
            unit_genuine=units[3][perm],
        )


class _CampaignPlanner:
    """The accounts of one attack campaign, drawn from the campaign's own random stream (so a
    campaign's accounts do not change when another campaign is added)."""

    def __init__(
        self,
        planner: _Planner,
        group: Group,
        c: CampaignSpec,
        countries: tuple[np.ndarray, np.ndarray],
    ):
        self.planner = planner
        self.tables = planner.tables
        self.group = group
        self.campaign = c
        self.tactics = c.tactics
        self.n = c.accounts
        self.countries = countries
        self.rng = np.random.default_rng([planner.seed, 2, group.campaign_index])

    def plan(self) -> None:
        c, t, n, crng, p = self.campaign, self.tactics, self.n, self.rng, self.planner
        n_req = _lognormal_counts(crng, n, c.requests, CAMPAIGN_SIGMA[c.type], lo=1)
        route = self._routes()
        n_mixed = self._mixed_counts(n_req, route)
        payment = self._cards()
        codes, weights = self.countries
        country = codes[crng.choice(len(codes), size=n, p=weights)]
        country, created, signup, email = self._signups(country)
        ua1, ua2 = self._clients()
        home, alt = self._addresses()
        pivot = self._pivot_times()
        self.group.params["pivot_share"] = t["pivot_share"]
        ip_mode = {"hosting": 2, "residential": 0, "stable": 0, "home": 0, "none": 2}[t["proxy"]]
        p.add(
            self.group,
            n,
            n_req,
            signup=signup,
            country=country,
            created=created,
            ip_mode=np.full(n, ip_mode),
            ua1=ua1,
            ua2=ua2,
            route=route,
            adopt=pivot,
            payment=payment,
            email=email,
            home=home,
            alt=alt,
            n_mixed=n_mixed,
            n_keys=1 + (crng.random(n) < 0.3).astype(np.int64),
        )
        self._drop_cards()

    def _routes(self) -> np.ndarray:
        routes = [self.tables.route_index[r] for r in self.tactics["routes"]]
        return np.array(routes)[self.rng.integers(0, len(routes), size=self.n)]

    def _mixed_counts(self, n_req: np.ndarray, route: np.ndarray) -> np.ndarray:
        """Genuine customer requests per account (mixed accounts only)."""
        t, n, crng = self.tactics, self.n, self.rng
        n_mixed = np.zeros(n, dtype=np.int64)
        if t["mixed_accounts"] > 0 and t["mixed_share"] > 0:
            # Resold capacity carries genuine customers: reseller-route accounts mix more often.
            resold = np.array([self.tables.routes[r].startswith("reseller:") for r in route])
            p_mix = np.where(resold, 2.0, 0.5) * t["mixed_accounts"]
            p_mix *= t["mixed_accounts"] / max(1e-9, float(p_mix.mean()))
            mixed = crng.random(n) < np.minimum(p_mix, 0.95)
            ratio = t["mixed_share"] / (1 - t["mixed_share"])
            n_mixed[mixed] = np.maximum(
                1, np.round(n_req[mixed] * ratio * crng.uniform(0.5, 1.5, size=int(mixed.sum())))
            ).astype(np.int64)
        return n_mixed

    def _cards(self) -> list[str]:
        """One card per ``payment_sharing`` accounts."""
        n, crng = self.n, self.rng
        n_pay = max(1, int(math.ceil(n / self.tactics["payment_sharing"])))
        pays = _hex(crng, n_pay, 16, "pf_", self.planner.taken)
        return [pays[i] for i in crng.integers(0, n_pay, size=n)] if n_pay < n else pays[:n]

    def _signups(self, country: np.ndarray) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
        """Country, sign-up time, sign-up kind and mail domain of each account."""
        c, n, crng, start_ms = self.campaign, self.n, self.rng, self.planner.start_ms
        if c.type in ("careful", "adaptive"):
            if c.type == "careful":
                country = np.full(n, self.planner.code_index["US"])
            created = start_ms - (crng.uniform(90, 400, size=n) * DAY_MS).astype(np.int64)
            return country, created, "careful", _choice(crng, _CONSUMER_MAIL[:6], n)
        # Bulk sign-ups shortly before (or during) the campaign's activity; some bought.
        s_ms = start_ms + int(c.start_day * DAY_MS)
        created = s_ms - (crng.uniform(0.2, 20, size=n) * DAY_MS).astype(np.int64)
        aged = crng.random(n) < self.tactics["aged_share"]
        created[aged] = s_ms - (crng.uniform(60, 700, size=int(aged.sum())) * DAY_MS).astype(
            np.int64
        )
        return country, created, "attack", _mail_domains(crng, _ATTACK_MAIL, "startup", 14, n)

    def _clients(self) -> tuple[np.ndarray, np.ndarray]:
        tables, n, crng = self.tables, self.n, self.rng
        mode = self.tactics["user_agents"]
        if mode == "sdk":
            return tables.sdk(crng, n), tables.sdk(crng, n)
        if mode == "agent":
            return tables.agent(crng, n), tables.sdk(crng, n)
        if mode == "browser":
            return tables.browser(crng, n), tables.browser(crng, n)
        if mode == "one_browser":  # one browser per account, never another client
            ua = tables.browser(crng, n)
            return ua, ua.copy()
        ua1 = np.where(crng.random(n) < 0.6, tables.browser(crng, n), tables.sdk(crng, n))
        ua2 = np.where(crng.random(n) < 0.6, tables.browser(crng, n), tables.sdk(crng, n))
        return ua1, ua2

    def _addresses(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Home and second address from a rented pool, or None: drawn like anyone's."""
        if self.tactics["proxy"] != "hosting":
            return None, None
        # A campaign rents a handful of servers/VPN exits; accounts share them.
        ips, n, crng = self.planner.ips, self.n, self.rng
        pool = np.concatenate(
            [ips.hosting(crng, max(2, n // 3)), ips.vpn_ips(crng, max(1, n // 6))]
        )
        return pool[crng.integers(0, len(pool), size=n)], pool[crng.integers(0, len(pool), size=n)]

    def _pivot_times(self) -> np.ndarray:
        """When each account moves to the new model: about ``pivot_hours`` after release."""
        hours = self.tactics["pivot_hours"]
        spread = self.rng.uniform(-0.3, 0.3, size=self.n) * hours * HOUR_MS
        return self.tables.release_ms + int(hours * HOUR_MS) + spread.astype(np.int64)

    def _drop_cards(self) -> None:
        """Accounts billed elsewhere have no card of ours."""
        cols, n = self.planner.cols, self.n
        first = len(cols["payment"]) - n
        if self.tactics["proxy"] == "none":
            # Billed by the cloud marketplace: no card of the provider's own.
            cols["payment"][first:] = [""] * n
        if self.campaign.type == "hydra":
            # Hydras farm free education/research credits: many such accounts have no card.
            for j in range(first, len(cols["payment"])):  # a loop over the campaign's accounts
                if cols["signup_route"][j] in ("education", "research") and self.rng.random() < 0.6:
                    cols["payment"][j] = ""


def _given(given: dict, key: str, draw: Callable[[], Any]) -> Any:
    """``given[key]`` when given (not None), else a fresh draw."""
    value = given.get(key)
    return value if value is not None else draw()


def _mail_domains(
    rng: np.random.Generator, pairs: tuple, own: str, weight: float, n: int
) -> list[str]:
    """Mail domains from ``pairs`` plus ``own`` (weight ``weight``): an own domain of the
    account's company (or university for ``uni``)."""
    draw_own = _company_domain if own != "uni" else _university
    return [d if d != own else draw_own(rng) for d in _choice(rng, pairs + ((own, weight),), n)]


def _university(rng: np.random.Generator) -> str:
    return _UNIS[int(rng.integers(len(_UNIS)))]


def _work_units(
    n_req: np.ndarray, n_mixed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Account, size, offset and genuine bit of each work unit: heavy accounts split, genuine
    traffic of mixed accounts as its own unit."""
    ua, un, uo, ug = [], [], [], []
    for a in range(len(n_req)):  # a loop over accounts
        for n_total, genuine in ((int(n_req[a]), 0), (int(n_mixed[a]), 1)):
            for off in range(0, n_total, UNIT_ROWS):
                ua.append(a)
                un.append(min(UNIT_ROWS, n_total - off))
                uo.append(off)
                ug.append(genuine)
    return tuple(np.array(x, dtype=np.int64) for x in (ua, un, uo, ug))  # type: ignore[return-value]
