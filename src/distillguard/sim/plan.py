"""The account plan: every account of a run with its attributes, and the work units.

Planning is cheap (one row per account) and fully determined by the scenario and the seed.
Request generation then walks the units in chunks, so the run never holds the whole log.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

import numpy as np

from . import geo
from .geo import COUNTRIES, sample_in_ranges
from .scenario import BENIGN_PERSONAS, HARD_BENIGN_PERSONAS, CampaignSpec, Scenario
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


def build_plan(scenario: Scenario, tables: Tables, bank: TextBank, seed: int) -> Plan:
    """Every account of the run, deterministic for ``(scenario, seed)``."""
    rng = np.random.default_rng([seed, 1])
    ips = IpSampler(bank)
    start_ms = int(scenario.start.timestamp() * 1000)
    period_ms = int(scenario.days * DAY_MS)
    groups: list[Group] = []
    cols: dict[str, list] = {
        k: []
        for k in (
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
    }
    taken: set[str] = set()
    signup_p = _signup_probabilities(scenario)
    country_w = np.array([c.weight for c in COUNTRIES])
    country_w /= country_w.sum()
    code_index = {c.code: i for i, c in enumerate(COUNTRIES)}

    def add(
        group: Group,
        n: int,
        n_req: np.ndarray,
        *,
        signup: str,
        country: np.ndarray | None = None,
        created: np.ndarray | None = None,
        ip_mode: np.ndarray | None = None,
        ua1: np.ndarray | None = None,
        ua2: np.ndarray | None = None,
        style: np.ndarray | None = None,
        route: np.ndarray | None = None,
        adopt: np.ndarray | None = None,
        n_keys: np.ndarray | None = None,
        flag: np.ndarray | None = None,
        org: list[str] | None = None,
        payment: list[str] | None = None,
        email: list[str] | None = None,
        home: np.ndarray | None = None,
        alt: np.ndarray | None = None,
        n_mixed: np.ndarray | None = None,
    ) -> None:
        if n == 0:
            return
        if country is None:
            country = rng.choice(len(COUNTRIES), size=n, p=country_w)
        tz = np.array(
            [COUNTRIES[c].tz[int(rng.integers(len(COUNTRIES[c].tz)))] for c in country],
            dtype=np.float64,
        )
        if created is None:
            created = start_ms - (rng.lognormal(np.log(200), 0.9, size=n) * DAY_MS).astype(np.int64)
        routes_p, verif_p = signup_p[signup]
        if signup not in ("attack", "careful"):
            tz = tz + scenario.world.diurnal_shift  # a world whose users keep other hours
        cols["group"] += [group.index] * n
        cols["member"] += list(range(n))
        cols["n_req"] += list(n_req)
        cols["n_mixed"] += list(n_mixed if n_mixed is not None else np.zeros(n, dtype=np.int64))
        cols["created_ms"] += list(created)
        cols["country"] += list(country)
        cols["tz"] += list(tz)
        cols["home_ip"] += list(home if home is not None else ips.by_country(rng, country))
        cols["alt_ip"] += list(
            alt if alt is not None else ips.by_country(rng, country, mobile=True)
        )
        cols["ip_mode"] += list(ip_mode if ip_mode is not None else np.zeros(n, dtype=np.int64))
        cols["ua1"] += list(ua1 if ua1 is not None else tables.sdk(rng, n))
        cols["ua2"] += list(ua2 if ua2 is not None else tables.sdk(rng, n))
        cols["style"] += list(style if style is not None else rng.integers(0, 2, size=n))
        cols["route"] += list(route if route is not None else np.zeros(n, dtype=np.int64))
        cols["adopt_ms"] += list(adopt if adopt is not None else np.full(n, 2**62, dtype=np.int64))
        cols["n_keys"] += list(
            n_keys if n_keys is not None else 1 + (rng.random(n) < 0.25).astype(np.int64)
        )
        cols["flag"] += list(flag if flag is not None else np.zeros(n, dtype=np.int64))
        cols["org_id"] += org if org is not None else _hex(rng, n, 10, "org_", taken)
        cols["payment"] += payment if payment is not None else _hex(rng, n, 16, "pf_", taken)
        cols["signup_route"] += _choice(rng, routes_p, n)
        cols["verification"] += _choice(rng, verif_p, n)
        cols["email_domain"] += (
            email
            if email is not None
            else [
                d if d != "company" else _company_domain(rng)
                for d in _choice(rng, _CONSUMER_MAIL + (("company", 18),), n)
            ]
        )

    def adopt_after(n: int, mean_hours: float, never: float) -> np.ndarray:
        out = tables.release_ms + (rng.exponential(mean_hours, size=n) * HOUR_MS).astype(np.int64)
        out[rng.random(n) < never] = 2**62
        return out

    # ---- ordinary benign population ---------------------------------------------------------
    b = scenario.benign
    mix_total = sum(b.mix.values())
    counts = {p: int(round(b.accounts * b.mix.get(p, 0.0) / mix_total)) for p in BENIGN_PERSONAS}
    counts[max(counts, key=counts.get)] += b.accounts - sum(counts.values())
    for persona in BENIGN_PERSONAS:
        n = counts[persona]
        g = Group(len(groups), persona, persona)
        groups.append(g)
        if n == 0:
            continue
        n_req = np.minimum(
            b.max_requests,
            np.maximum(
                1, np.round(rng.lognormal(np.log(b.requests_median), b.requests_sigma, size=n))
            ),
        ).astype(np.int64)
        created = start_ms - (rng.lognormal(np.log(250), 1.0, size=n) * DAY_MS).astype(np.int64)
        new = rng.random(n) < b.new_signups
        created[new] = start_ms + (rng.random(int(new.sum())) * period_ms * 0.8).astype(np.int64)
        mode = np.zeros(n, dtype=np.int64)
        u = rng.random(n)
        mode[u < b.vpn_share] = 1
        cloud_p = b.cloud_share * (3.0 if persona == "developer" else 0.5)
        mode[(u >= b.vpn_share) & (u < b.vpn_share + cloud_p)] = 2
        if persona == "developer":
            mode[(mode == 0) & (rng.random(n) < 0.35)] = 3
        browser_p = {"casual": 0.55, "developer": 0.15, "student": 0.75}[persona]
        is_browser = rng.random(n) < browser_p
        ua1 = np.where(is_browser, tables.browser(rng, n), tables.sdk(rng, n))
        ua2 = np.where(rng.random(n) < 0.7, tables.browser(rng, n), tables.sdk(rng, n))
        route = np.zeros(n, dtype=np.int64)
        r = rng.random(n)
        route[r < 0.05] = 1 + rng.integers(0, len(geo.CLOUD_PLATFORMS), size=int((r < 0.05).sum()))
        res = (r >= 0.05) & (r < 0.07)
        route[res] = (
            1 + len(geo.CLOUD_PLATFORMS) + rng.integers(0, len(geo.RESELLERS), size=int(res.sum()))
        )
        has_system = rng.random(n) < {"casual": 0.15, "developer": 0.4, "student": 0.05}[persona]
        country = rng.choice(len(COUNTRIES), size=n, p=country_w)
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
        signup = "benign"
        email = None
        if persona == "student":
            email = [
                d if d != "uni" else _UNIS[int(rng.integers(len(_UNIS)))]
                for d in _choice(rng, _CONSUMER_MAIL + (("uni", 60),), n)
            ]
        add(
            g,
            n,
            n_req,
            signup=signup,
            country=country,
            created=created,
            ip_mode=mode,
            ua1=ua1,
            ua2=ua2,
            route=route,
            adopt=adopt_after(n, 60.0, 0.45),
            flag=(is_browser.astype(np.int64) | (has_system.astype(np.int64) << 1)),
            home=home,
            alt=alt,
            email=email,
        )

    # ---- hard-benign personas ---------------------------------------------------------------
    for persona in HARD_BENIGN_PERSONAS:
        g = Group(len(groups), persona, persona)
        groups.append(g)
        spec = scenario.hard_benign.get(persona)
        if spec is None or spec.accounts == 0:
            continue
        g.params["spec"] = spec
        n = spec.accounts
        if persona == "eval_runner":
            n_req = _lognormal_counts(rng, n, spec.requests, 0.4, lo=20)
            country = rng.choice(len(COUNTRIES), size=n, p=country_w)
            add(
                g,
                n,
                n_req,
                signup="research",
                ip_mode=np.full(n, 2),
                ua1=tables.eval_ua(rng, n),
                ua2=tables.eval_ua(rng, n),
                style=np.zeros(n, dtype=np.int64),
                adopt=adopt_after(n, 6.0, 0.0),
                home=ips.hosting(rng, n),
                alt=ips.corporate(rng, country),
                country=country,
                email=[_company_domain(rng) for _ in range(n)],
            )
        elif persona == "agentic_power_user":
            n_req = _lognormal_counts(rng, n, spec.requests, 0.7, lo=50)
            add(
                g,
                n,
                n_req,
                signup="power",
                ip_mode=np.full(n, 2),
                ua1=tables.agent(rng, n),
                ua2=tables.sdk(rng, n),
                style=np.ones(n, dtype=np.int64),
                adopt=adopt_after(n, 10.0, 0.1),
                n_keys=rng.integers(1, 4, size=n),
                flag=rng.integers(0, 4, size=n),
                alt=ips.hosting(rng, n),
            )
        elif persona == "enterprise_batch":
            n_req = _lognormal_counts(rng, n, spec.requests, 0.3, lo=20)
            org = (
                _hex(rng, 1, 10, "org_", taken) * n
            )  # one organisation, one card, several accounts and keys
            pay = _hex(rng, 1, 16, "pf_", taken) * n
            ent_country = code_index["US"] if rng.random() < 0.6 else code_index["DE"]
            corp = ips.corporate(rng, np.array([ent_country]))
            dom = _company_domain(rng)
            add(
                g,
                n,
                n_req,
                signup="enterprise",
                ip_mode=np.full(n, 3),
                ua1=np.full(n, tables.sdk_lo + 14),
                ua2=np.full(n, tables.sdk_lo),
                style=np.zeros(n, dtype=np.int64),
                n_keys=np.full(n, spec.keys),
                org=org,
                payment=pay,
                email=[dom] * n,
                home=np.repeat(corp, n),
                alt=ips.hosting(rng, n),
                country=np.full(n, ent_country),
                flag=rng.integers(0, len(ENTERPRISE_TEMPLATES), size=n),
            )
        elif persona == "university_class":
            n_req = _lognormal_counts(rng, n, spec.requests, 0.8, lo=2)
            cidx = int(
                rng.choice([code_index["US"], code_index["GB"], code_index["DE"], code_index["CA"]])
            )
            uni = _UNIS[int(rng.integers(len(_UNIS)))]
            campus = ips.campus_net(rng, cidx)
            g.params["campus"] = int(campus)
            g.params["tz"] = float(COUNTRIES[cidx].tz[0])
            country = np.full(n, cidx)
            browser = rng.random(n) < 0.8
            add(
                g,
                n,
                n_req,
                signup="education",
                country=country,
                ip_mode=np.full(n, 4),
                ua1=np.where(browser, tables.browser(rng, n), tables.sdk(rng, n)),
                ua2=tables.browser(rng, n),
                payment=[""] * n,
                email=[uni] * n,
                created=start_ms - (rng.uniform(10, 60, size=n) * DAY_MS).astype(np.int64),
                home=campus + rng.integers(2, 254, size=n).astype(np.uint32),
                alt=ips.by_country(rng, country),
                flag=browser.astype(np.int64),
            )
        elif persona == "app_platform":
            n_req = _lognormal_counts(rng, n, spec.requests, 0.6, lo=50)
            add(
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
                adopt=adopt_after(n, 72.0, 0.5),
            )
        elif persona == "leaderboard_operator":
            # One organisation, one card, many API keys as accounts: suites run in parallel.
            n_req = _lognormal_counts(rng, n, spec.requests, 0.3, lo=20)
            add(
                g,
                n,
                n_req,
                signup="research",
                ip_mode=np.full(n, 2),
                ua1=tables.eval_ua(rng, n),
                ua2=tables.eval_ua(rng, n),
                style=np.zeros(n, dtype=np.int64),
                adopt=adopt_after(n, 4.0, 0.0),
                home=ips.hosting(rng, n),
                alt=ips.hosting(rng, n),
                org=_hex(rng, 1, 10, "org_", taken) * n,
                payment=_hex(rng, 1, 16, "pf_", taken) * n,
                email=[_company_domain(rng)] * n,
                n_keys=np.full(n, spec.keys),
            )
        elif persona == "labelling_vendor":
            # Annotators behind one office NAT, one vendor card, rubric grading all day.
            n_req = _lognormal_counts(rng, n, spec.requests, 0.5, lo=5)
            cidx = int(rng.choice([code_index[c] for c in ("IN", "PH", "US", "PL", "BR")]))
            nat = ips.corporate(rng, np.array([cidx]))
            browser = rng.random(n) < 0.7
            add(
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
                org=_hex(rng, 1, 10, "org_", taken) * n,
                payment=_hex(rng, 1, 16, "pf_", taken) * n,
                email=[_company_domain(rng)] * n,
                flag=browser.astype(np.int64),
            )
        elif persona == "research_synthetic":
            n_req = _lognormal_counts(rng, n, spec.requests, 0.5, lo=20)
            add(
                g,
                n,
                n_req,
                signup="research",
                ip_mode=np.full(n, 2),
                ua1=tables.sdk(rng, n),
                ua2=tables.sdk(rng, n),
                home=ips.hosting(rng, n),
                alt=ips.corporate(rng, rng.choice(len(COUNTRIES), size=n, p=country_w)),
                email=[_UNIS[int(rng.integers(len(_UNIS)))]] * n,
                adopt=adopt_after(n, 12.0, 0.2),
            )

    # ---- attack campaigns -------------------------------------------------------------------
    attack_countries = ATTACK_COUNTRIES
    if scenario.world.attack_countries:
        known = [c for c in scenario.world.attack_countries if c in code_index]
        attack_countries = tuple((c, 1.0) for c in known) or ATTACK_COUNTRIES
    att_codes = np.array([code_index[c] for c, _ in attack_countries])
    att_w = np.array([w for _, w in attack_countries])
    att_w /= att_w.sum()
    for ci, c in enumerate(scenario.campaigns):
        t = c.tactics
        g = Group(len(groups), c.type, c.type, campaign=c, campaign_index=ci)
        groups.append(g)
        n = c.accounts
        crng = np.random.default_rng([seed, 2, ci])
        sigma = CAMPAIGN_SIGMA[c.type]
        n_req = _lognormal_counts(crng, n, c.requests, sigma, lo=1)
        n_mixed = np.zeros(n, dtype=np.int64)
        routes = [tables.route_index[r] for r in t["routes"]]
        route = np.array(routes)[crng.integers(0, len(routes), size=n)]
        if t["mixed_accounts"] > 0 and t["mixed_share"] > 0:
            # Resold capacity carries genuine customers: reseller-route accounts mix more often.
            resold = np.array([tables.routes[r].startswith("reseller:") for r in route])
            p_mix = np.where(resold, 2.0, 0.5) * t["mixed_accounts"]
            p_mix *= t["mixed_accounts"] / max(1e-9, float(p_mix.mean()))
            mixed = crng.random(n) < np.minimum(p_mix, 0.95)
            ratio = t["mixed_share"] / (1 - t["mixed_share"])
            n_mixed[mixed] = np.maximum(
                1, np.round(n_req[mixed] * ratio * crng.uniform(0.5, 1.5, size=int(mixed.sum())))
            ).astype(np.int64)
        n_pay = max(1, int(math.ceil(n / t["payment_sharing"])))
        pays = _hex(crng, n_pay, 16, "pf_", taken)
        payment = [pays[i] for i in crng.integers(0, n_pay, size=n)] if n_pay < n else pays[:n]
        country = att_codes[crng.choice(len(att_codes), size=n, p=att_w)]
        s_ms = start_ms + int(c.start_day * DAY_MS)
        if c.type in ("careful", "adaptive"):
            if c.type == "careful":
                country = np.full(n, code_index["US"])
            created = start_ms - (crng.uniform(90, 400, size=n) * DAY_MS).astype(np.int64)
            signup = "careful"
            email = _choice(crng, _CONSUMER_MAIL[:6], n)
        else:
            # Bulk sign-ups shortly before (or during) the campaign's activity; some bought.
            created = s_ms - (crng.uniform(0.2, 20, size=n) * DAY_MS).astype(np.int64)
            aged = crng.random(n) < t["aged_share"]
            created[aged] = s_ms - (crng.uniform(60, 700, size=int(aged.sum())) * DAY_MS).astype(
                np.int64
            )
            signup = "attack"
            email = [
                d if d != "startup" else _company_domain(crng)
                for d in _choice(crng, _ATTACK_MAIL + (("startup", 14),), n)
            ]
        mode = t["user_agents"]
        if mode == "sdk":
            ua1, ua2 = tables.sdk(crng, n), tables.sdk(crng, n)
        elif mode == "agent":
            ua1, ua2 = tables.agent(crng, n), tables.sdk(crng, n)
        elif mode == "browser":
            ua1, ua2 = tables.browser(crng, n), tables.browser(crng, n)
        else:
            ua1 = np.where(crng.random(n) < 0.6, tables.browser(crng, n), tables.sdk(crng, n))
            ua2 = np.where(crng.random(n) < 0.6, tables.browser(crng, n), tables.sdk(crng, n))
        ip_mode = {"hosting": 2, "residential": 0, "stable": 0, "none": 2}[t["proxy"]]
        home = alt = None
        if t["proxy"] == "hosting":
            # A campaign rents a handful of servers/VPN exits; accounts share them.
            pool = np.concatenate(
                [ips.hosting(crng, max(2, n // 3)), ips.vpn_ips(crng, max(1, n // 6))]
            )
            home = pool[crng.integers(0, len(pool), size=n)]
            alt = pool[crng.integers(0, len(pool), size=n)]
        pivot = (
            tables.release_ms
            + int(t["pivot_hours"] * HOUR_MS)
            + (crng.uniform(-0.3, 0.3, size=n) * t["pivot_hours"] * HOUR_MS).astype(np.int64)
        )
        g.params["pivot_share"] = t["pivot_share"]
        add(
            g,
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
        if t["proxy"] == "none":
            # Billed by the cloud marketplace: no card of the provider's own.
            first = len(cols["payment"]) - n
            cols["payment"][first:] = [""] * n
        if c.type == "hydra":
            # Hydras farm free education/research credits: many such accounts have no card.
            first = len(cols["payment"]) - n
            for j in range(first, len(cols["payment"])):  # a loop over the campaign's accounts
                if cols["signup_route"][j] in ("education", "research") and crng.random() < 0.6:
                    cols["payment"][j] = ""

    _share_benign_cards(rng, scenario.world.benign_card_sharing, cols, groups)
    if scenario.world.cloud_hides_client:
        # Billed through the marketplace: no card of ours on any cloud-route account.
        cloud = {tables.route_index[r] for r in tables.routes if r.startswith("cloud:")}
        cols["payment"] = [
            "" if r in cloud else pay for r, pay in zip(cols["route"], cols["payment"], strict=True)
        ]
    n_acc = len(cols["group"])
    ids = _hex(rng, n_acc, 12, "acct_", taken)
    key_base = rng.integers(0, 2**62, size=n_acc, dtype=np.int64).astype(np.uint64)
    # Work units: heavy accounts split; genuine traffic of mixed accounts as its own unit.
    n_req_a = np.array(cols["n_req"], dtype=np.int64)
    n_mix_a = np.array(cols["n_mixed"], dtype=np.int64)
    ua, un, uo, ug = [], [], [], []
    for a in range(n_acc):  # a loop over accounts
        for n_total, genuine in ((int(n_req_a[a]), 0), (int(n_mix_a[a]), 1)):
            off = 0
            while off < n_total:
                k = min(UNIT_ROWS, n_total - off)
                ua.append(a)
                un.append(k)
                uo.append(off)
                ug.append(genuine)
                off += k
    perm = rng.permutation(len(ua))  # file order mixes personas and campaigns

    def arr(k: str, dt: type = np.int64) -> np.ndarray:
        return np.array(cols[k], dtype=dt)

    return Plan(
        groups=groups,
        account_id=ids,
        org_id=cols["org_id"],
        payment=cols["payment"],
        signup_route=cols["signup_route"],
        verification=cols["verification"],
        email_domain=cols["email_domain"],
        group=arr("group"),
        member=arr("member"),
        n_req=n_req_a,
        n_mixed=n_mix_a,
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
        unit_acct=np.array(ua, dtype=np.int64)[perm],
        unit_n=np.array(un, dtype=np.int64)[perm],
        unit_off=np.array(uo, dtype=np.int64)[perm],
        unit_genuine=np.array(ug, dtype=np.int64)[perm],
    )
