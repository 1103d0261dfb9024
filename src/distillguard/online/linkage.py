"""Online linkage index: evidence that survives a new account.

A per-account score is what a rotating or adaptive attacker watches and steps around: a fresh
account starts at zero. This index keeps evidence on the keys batch coordination links accounts
by (``coordination/definitions.py``), so a new account inherits its linked cluster's risk on
its first request:

- ``payment``: the payment fingerprint;
- ``infra``: the client's /24 and user agent;
- ``asn_client``: the network (ASN, offline IP intelligence) and user agent;
- ``params``: the request-parameter tuple a client script sends (model, max_tokens,
  temperature, reasoning, stream, tools, system prompt), when it sets at least two of them;
- ``template``: the prompt's skeleton hash (wording with the task taken out); it only
  corroborates a sender key (see :func:`combine`).

Each key keeps, bounded: its member accounts (with their organisation), the restrictive
actions its members got (``flag``), and a sliding-window count of harvest-like requests
(math or code asking for reasoning) across all members: one job spread thin over many
accounts still adds up on the key. Accounts of one organisation are one customer: they never
lend each other risk (an organisation is accountable as a whole; the batch path acts on it).

A job's pressure on a key is measured against the deployment itself: a key carries for free
its heaviest organisation's own volume plus what one account carries in one window at the
``job_quantile`` of the deployment's account-windows (:class:`JobFloor`, :func:`free_volume`).
A key several organisations share that carries more is one job spread thin; its pressure is
the share of its volume above that.

On the keys that say who sends (``SENDER_KINDS``), a member whose own online risk (the shared
risk model on its own traffic, never its linked risk) reaches the model's review threshold
lends it like a flag while it lasts: the cluster's risk accumulates before anyone is acted on.

A key's risk is a noisy-OR of its members' flags and its job pressure, times the key kind's
weight and a specificity factor (a key shared by a crowd of organisations links nothing, as in
FRAUDAR's ``1 / log(degree)``). An account's linked risk is a noisy-OR over its key kinds
(independent keys corroborate each other).

Memory is bounded: at most ``max_keys`` keys (least recently used evicted) of at most
``max_members`` members each, and ``max_accounts`` account → keys entries. :class:`RedisLinkage`
keeps the same state in Redis hashes with a TTL, so replicas share it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from .state import WindowCount

KIND_WEIGHTS: dict[str, float] = {
    "payment": 1.0,
    "infra": 0.7,  # a hosting / VPN /24 and one client: someone's servers
    "home": 0.3,  # a residential /24 and one client: residential proxies share it with people
    "asn_client": 0.3,  # hosting networks only (a residential ASN is a crowd)
    "params": 0.6,
    "template": 0.6,  # wordings of harvest-like requests only (cover text links nothing)
    "signup": 0.3,  # one wave of sign-ups (signup_keys); corroborates a sender key only
}
# Kinds that say who sends (a job's pressure adds up on them); a parameter tuple is shared by
# everyone using the same SDK defaults, so it carries members' flags only.
JOB_KINDS = frozenset({"payment", "infra", "home", "asn_client", "template"})
# Kinds that identify the sender (its payment, network, client) — not what it asks (a
# ``template`` wording is shared with whoever asks the same kind of question) nor how its
# client is configured (``params``: SDK defaults). Only these are a second source independent
# of the account's own content-based risk: ``LinkView.sender_risk`` is taken over them.
SENDER_KINDS = frozenset({"payment", "infra", "home", "asn_client"})
# Sender keys that name one sender: a card, or one /24 with one client. A whole hosting ASN
# with a browser family is shared by unrelated customers (residential proxies exit from ranges
# the IP data classes as hosting), so it may corroborate a restriction but never a deny.
IDENTITY_KINDS = frozenset({"payment", "infra", "home"})
# Keys on a network: a member lends its flags and risk on one only while the network is where
# it sends from, i.e. it carries most of the member's requests (``LinkSettings.home_share``).
# A rotating-proxy account passes through a /24 (or ASN) with a request or two and moves on;
# that says nothing about the people who live behind it.
NETWORK_KINDS = frozenset({"infra", "home", "asn_client"})
# Keys on how a client is configured: a member counts on one, lending and receiving, only while
# it is its configuration, i.e. the key carries most of the member's requests that set
# parameters (``LinkSettings.home_share``), as batch links only each account's dominant tuple
# (``accounts/param_tuples.py``). A harness sends its one tuple on every request; people vary
# theirs per request, and two of them who once sent the same settings share nothing.
CONFIG_KINDS = frozenset({"params"})
# Keys a member's share of its own traffic decides (``_presence``).
PRESENCE_KINDS = NETWORK_KINDS | CONFIG_KINDS


def sets_parameters(keys: Iterable[str]) -> bool:
    """Whether a request's link keys include a configuration key (it set parameters)."""
    return any(k.split(":", 1)[0] in CONFIG_KINDS for k in keys)
# Kinds that only corroborate a sender key (see :func:`combine`): what is asked (a wording) or
# how the account was opened (a sign-up wave: many honest students share an education route
# and a university's domain, and sign up together at the start of a term).
CORROBORATING_KINDS = frozenset({"template", "signup"})
HARVEST_CAPABILITIES = frozenset({"math", "code"})
_NO_REASONING = ("", "none", "0", "off", "false", "disabled")


@dataclass(frozen=True)
class LinkSettings:
    """The numbers the index scores with (``linkage`` block of the online policy)."""

    window_s: int = 6 * 3600
    flag_ttl_s: float = 3 * 86400.0
    max_keys: int = 200_000
    max_members: int = 64
    max_accounts: int = 200_000
    crowd: int = 16  # organisations on a key before its weight starts to shrink
    job_floor: float = 40.0  # harvest-like requests per window a key carries for free, until
    # ``job_min_accounts`` accounts calibrate it (see :class:`JobFloor`)
    job_quantile: float = 0.95  # of account-windows (JobFloor: why the body, not the tail)
    job_min_accounts: int = 200
    lone_quantile: float = 0.999  # one account's own harvest ceiling: what the deployment's
    # heaviest accounts carry (the share of accounts above it, 1 - lone_quantile, is the most
    # a rule on it can touch by construction)
    floor_memory_s: float = 3 * 86400.0  # the job floor is the lowest estimate this far back:
    # a ring that raises it with its own accounts has to harvest this long first (JobFloor)
    job_min_orgs: int = 2  # a key one other organisation shares is shared: the floor, not a
    # member count, tells a job from a household
    flag_weight: float = 0.5  # what one fully flagged member lends a fresh account
    lend_min_risk: float = 0.5  # own online risk at which a member lends it (the risk model's
    # review threshold, scoring.review_threshold: where batch would put the account in review)
    home_share: float = 0.5  # share of a member's requests a network key must carry for the
    # member to lend on it: a majority, so each account lends on at most one network per kind


@dataclass
class LinkView:
    """What the index says about one account after its latest request."""

    risk: float = 0.0
    sender_risk: float = 0.0  # the same over the keys that say who sends (SENDER_KINDS)
    identity_risk: float = 0.0  # the same over the keys that name one sender (IDENTITY_KINDS)
    key: str | None = None  # the riskiest linked key (the cluster the account is acted on in)
    accounts: int = 0  # other organisations' accounts on that key
    flagged: int = 0
    job: float = 0.0  # harvest-like requests in the window on that key
    own: float = 0.0  # the account's own harvest-like requests in the window
    own_prev: float = 0.0  # ... in the window before it
    floor: float = 0.0  # what one account of the deployment carries (JobFloor.get)
    ceiling: float | None = None  # what its heaviest accounts carry (JobFloor.ceiling)
    reasons: list[str] = field(default_factory=list)

    @property
    def own_pressure(self) -> float:
        """The share of the account's own harvest-like volume above the deployment's ceiling,
        sustained: the lesser of this window's and the previous window's (0 under it, or
        before there is a population to rank in). The heaviest legitimate accounts work in
        bursts (a benchmark run); a harvester after thousands of answers has to keep going."""
        if self.ceiling is None:
            return 0.0
        ceiling = max(self.ceiling, 1.0)
        least = min(self.own, self.own_prev)
        return max(0.0, 1.0 - ceiling / least) if least > 0 else 0.0


def harvest_like(row: Mapping[str, Any]) -> bool:
    """A math or code request asking for reasoning (parameter or wording)."""
    if (row.get("capability") or "other") not in HARVEST_CAPABILITIES:
        return False
    r = row.get("reasoning")
    asked = (row.get("reasoning_tokens") or 0) > 0 or (
        r is not None and str(r).lower() not in _NO_REASONING
    )
    return asked or float(row.get("sig_cot") or 0.0) >= 0.5


@lru_cache(maxsize=65_536)
def _network(prefix: str) -> tuple[str | None, str]:
    """``(ASN, kind)`` of a /24 from the offline IP intelligence (kind ``unknown`` without)."""
    intel = _intel()
    if intel is None:
        return None, "unknown"
    try:
        got = intel.transform([prefix + ".1"]).select(["asn", "ip_kind"]).to_pylist()[0]
    except Exception:  # a missing data file or package: the keys are simply not built
        return None, "unknown"
    return (str(got["asn"]) if got["asn"] else None), str(got["ip_kind"] or "unknown")


@lru_cache(maxsize=1)
def _intel() -> Any:
    try:
        from ..accounts.ipintel import IpIntel

        return IpIntel().fit()
    except Exception:
        return None


def _prefix24(ip: Any) -> str | None:
    try:
        addr = ipaddress.ip_address(str(ip))
    except ValueError:
        return None
    if addr.version != 4:
        return str(ipaddress.ip_network(f"{addr}/48", strict=False))
    return ".".join(str(addr).split(".")[:3])


def link_keys(row: Mapping[str, Any], with_asn: bool = True) -> list[str]:
    """The ``kind:value`` keys of one normalised, featurized request."""
    keys = []
    if row.get("payment_fingerprint"):
        keys.append(f"payment:{row['payment_fingerprint']}")
    ua = row.get("user_agent") or ""
    prefix = _prefix24(row.get("ip")) if row.get("ip") else None
    if prefix and ua:
        asn, kind = _network(prefix) if with_asn and "." in prefix else (None, "unknown")
        hosted = kind in ("datacenter", "hosting", "vpn", "proxy", "tor", "cdn")
        keys.append(f"{'infra' if hosted else 'home'}:{prefix}|{_short(ua)}")
        if asn and hosted:
            keys.append(f"asn_client:{asn}|{_short(ua)}")
    set_params = [row.get(k) for k in ("max_tokens", "temperature", "reasoning")]
    if sum(v is not None for v in set_params) >= 2:
        tup = (row.get("model"), *set_params, row.get("stream"), bool(row.get("tools")))
        keys.append(f"params:{_short(repr(tup))}|{row.get('system_hash') or 0}")
    if row.get("skeleton_hash") and harvest_like(row):
        keys.append(f"template:{row['skeleton_hash']}")
    return keys


def signup_keys(attrs: Mapping[str, Any], evidence: Mapping[str, float]) -> list[str]:
    """The ``signup:`` keys of one scored sign-up (``POST /v1/signup``): one per wave the
    sign-up scorer saw it in (``domain_burst``, ``prefix_burst``, ``cohort_burst``: other
    sign-ups from the same e-mail domain, IP /24, or country and route in its window), named
    by the wave's value, the route and the day. The card's wave is the ``payment`` key."""
    ms = attrs.get("created_ms") or attrs.get("created_at")
    day = int(float(ms) // 86_400_000) if isinstance(ms, (int, float)) else 0
    route = str(attrs.get("signup_route") or "standard")
    values = {
        "domain_burst": attrs.get("email_domain"),
        "prefix_burst": _prefix24(attrs["ip"]) if attrs.get("ip") else None,
        "cohort_burst": attrs.get("country"),
    }
    return [
        f"signup:{name.split('_')[0]}|{_short(str(v))}|{route}|{day}"
        for name, v in values.items()
        if v and float(evidence.get(name) or 0.0) > 0.0
    ]


def _short(s: str) -> str:
    return hashlib.blake2b(s.encode("utf-8"), digest_size=6).hexdigest()


class JobFloor:
    """What the organisations on a key beyond its heaviest may add for free (:func:`free_volume`):
    the harvest-like volume one account carries in one window at the deployment's
    ``job_quantile`` of *account-windows* (each account's peak count in each window it was
    active in, pooled), the lowest such estimate over ``floor_memory_s``.

    - **In the body, not at the bursts.** The key's heaviest organisation is free whatever it
      carries, so the floor only covers what the others add; at the 95th percentile two
      unrelated members both above it share a key about once in 400 (0.05²). The 99th
      percentile is a heavy customer's burst wherever customers are few: in the random tiny
      worlds (~2.5% of ~250 accounts are eval runners) the p99 of account peaks was 35-85 and
      that of account-windows 49 on a deployment's first day, 13 later, where the 95th
      percentile of account-windows is 2-5 in every world at every age.
    - **Account-windows, not one all-time peak per account:** a key's volume is compared per
      window, and four windows a day per active account are samples enough from the first
      day (``5 / (1 - job_quantile)`` of them, five above the quantile, before it replaces
      ``job_floor``).
    - **A ring does not set its own floor.** A window in which the account shared a sender key
      with another organisation is not pooled (those keys are what the floor judges), and the
      floor is the lowest estimate of the last ``floor_memory_s``: in a small deployment a
      ring of 20-60 accounts is a third of the accounts active in a window, so any upper
      quantile of the live population ends at the ring's own volume once it has run a while.
      Its accounts pull the floor down at once; raising it takes harvesting for
      ``floor_memory_s`` first (three days by default, longer than the batch path's daily run,
      which judges the ring with its whole history).

    The lone ceiling stays on each account's all-time peak (``lone_quantile`` of accounts,
    from ``job_min_accounts`` accounts on): it is what the heaviest *customers* carry, bursts
    included, since it acts on one account.
    """

    REFRESH = 256  # updates between two quantiles (a quantile over all accounts is O(n))

    def __init__(self, cfg: LinkSettings) -> None:
        self.cfg = cfg
        self.peaks: OrderedDict[str, int] = OrderedDict()
        # account -> (window index, its peak in it, shared a sender key in it); closed windows
        # of unshared accounts go to ``pooled``
        self.open: OrderedDict[str, tuple[int, int, bool]] = OrderedDict()
        self.pooled: dict[int, int] = {}  # a window's peak -> how many account-windows had it
        self._floor: float | None = None
        self._estimates: OrderedDict[int, float] = OrderedDict()  # window -> lowest estimate
        self._window = 0  # the latest window seen
        self._ceiling: float | None = None
        self._n = 0
        self._lock = threading.Lock()

    def update(self, account: str, count: int, ts_ms: int = 0, shared: bool = False) -> None:
        """The account's harvest-like count in the window now (0 counts too) at ``ts_ms``;
        ``shared``: it is on a sender key with another organisation (see :meth:`_pool`)."""
        with self._lock:
            count = int(count)
            self.peaks[account] = max(self.peaks.pop(account, 0), count)
            if len(self.peaks) > self.cfg.max_accounts:
                self.peaks.popitem(last=False)
            window = int(ts_ms) // 1000 // max(self.cfg.window_s, 1)
            self._window = max(self._window, window)
            self._pool(account, count, window, shared)
            self._n += 1
            # Uncalibrated, sooner (but not on every request: every account may share a key,
            # and then no window is pooled and the floor stays uncalibrated for good).
            if self._n % (self.REFRESH if self._floor is not None else 16) == 0:
                self._refresh()

    def _pool(self, account: str, count: int, window: int, shared: bool) -> None:
        """Keep the account's peak in its current window; pool the window once it closes.

        A window in which the account shared a sender key (card, network) with another
        organisation is not pooled: the floor judges exactly such keys, and a ring's accounts
        must not set their own (in a small deployment a ring of 20-60 accounts is a third of
        the accounts active in a window, each above the customers' 99th percentile)."""
        w, peak, was = self.open.pop(account, (window, 0, False))
        if w != window:
            self._close(peak, was)
            peak, was = 0, False
        self.open[account] = (window, max(peak, count), was or shared)
        if len(self.open) > self.cfg.max_accounts:
            _, (_, peak, was) = self.open.popitem(last=False)
            self._close(peak, was)

    def _close(self, peak: int, shared: bool) -> None:
        if not shared:
            self.pooled[peak] = self.pooled.get(peak, 0) + 1

    def _refresh(self) -> None:
        self._floor = self._remember(_quantile(self._samples(), self.cfg.job_quantile))
        if len(self.peaks) < self.cfg.job_min_accounts:
            self._ceiling = None
            return
        peaks = np.fromiter(self.peaks.values(), dtype=float, count=len(self.peaks))
        # "lower": an observed account's peak, never one interpolated towards the top account,
        # so in a small deployment the heaviest account does not set its own ceiling.
        self._ceiling = float(np.quantile(peaks, self.cfg.lone_quantile, method="lower"))

    def _remember(self, estimate: float | None) -> float | None:
        """The lowest estimate over the last ``floor_memory_s`` (this one included)."""
        if estimate is None:
            return None
        w = self._window
        self._estimates[w] = min(self._estimates.get(w, estimate), estimate)
        keep = w - int(self.cfg.floor_memory_s // max(self.cfg.window_s, 1))
        while self._estimates and next(iter(self._estimates)) < keep:
            self._estimates.popitem(last=False)
        return min(self._estimates.values())

    def _samples(self) -> dict[int, int]:
        """Closed account-windows, and the open ones so far (a lower bound of their peak:
        before the first window closes, the deployment's first hours still count)."""
        out = dict(self.pooled)
        for _, peak, shared in self.open.values():
            if not shared:
                out[peak] = out.get(peak, 0) + 1
        return out

    def get(self) -> float:
        return self.cfg.job_floor if self._floor is None else self._floor

    def calibrated(self) -> bool:
        """True once the floor is the deployment's (not the ``job_floor`` setting)."""
        return self._floor is not None

    def ceiling(self) -> float | None:
        """One account's own harvest ceiling (None until there is a population)."""
        return self._ceiling

    def clear(self) -> None:
        with self._lock:
            self.peaks.clear()
            self.open.clear()
            self.pooled.clear()
            self._estimates.clear()
            self._floor = self._ceiling = None
            self._n = 0


def _quantile(hist: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile of a histogram of counts (an observed value: the smallest whose
    cumulative share reaches ``q``); None until there are ``5 / (1 - q)`` samples, five
    above it, so that no one account's burst is the estimate."""
    n = sum(hist.values())
    if n < 5.0 / max(1.0 - q, 1e-9) - 1e-9:
        return None
    values = np.array(sorted(hist), dtype=float)
    cum = np.cumsum([hist[int(v)] for v in values])
    return float(values[int(np.searchsorted(cum, q * n))])


class _Key:
    """One key's members, flags and harvest window."""

    __slots__ = ("members", "flags", "risks", "harvest", "total", "seen", "sent", "table")

    def __init__(self, bucket_s: int, n_buckets: int, table: int = 0) -> None:
        self.table = table  # the account table (Owners.gen) its members' owners follow
        self.seen = 0  # accounts that ever used the key (members keeps only the latest)
        self.members: OrderedDict[str, str] = OrderedDict()  # account → organisation
        self.sent: dict[str, int] = {}  # member → its requests on this key
        self.flags: dict[str, tuple[float, int]] = {}  # account → (weight, ts_ms)
        self.risks: dict[str, tuple[float, int]] = {}  # account → (own online risk, ts_ms)
        self.harvest = WindowCount(bucket_s, n_buckets)
        self.total = WindowCount(bucket_s, n_buckets)


def key_risk(
    kind: str,
    members: Mapping[str, str],
    flags: Mapping[str, tuple[float, int]],
    harvest: float,
    total: float,
    seen: int,
    account: str,
    org: str,
    now_ms: int,
    cfg: LinkSettings,
    floor: float | None = None,
    risks: Mapping[str, tuple[float, int]] | None = None,
    presence: Mapping[str, float] | None = None,
    volumes: Mapping[str, float] | None = None,
    owners: Mapping[str, str] | None = None,
) -> tuple[float, int, int]:
    """``(risk, other accounts, flagged others)`` of one key, for ``account`` of ``org``.

    ``seen`` is how many accounts ever used the key: flags on a key a crowd shares weigh
    less. Job pressure is not discounted by the crowd (a job spread thin *is* a crowd of
    accounts) but by the share of the key's traffic that is harvest-like: a popular benign key
    carries mostly other traffic. ``floor``: the harvest-like volume a key carries for free
    (:meth:`JobFloor.get`; ``cfg.job_floor`` when not given). ``risks``: members' own online
    risk (sender keys only), lent like flags while within the window. ``presence``: on network
    keys, each member's share of its requests sent on the key; a member below
    ``cfg.home_share`` was passing through and lends nothing (one missing from it lends). On
    a ``params`` key, the share of its parameter-setting requests, and the account itself
    below it receives nothing either (``CONFIG_KINDS``).
    ``volumes``: members' own harvest-like requests in the window (see :func:`free_volume`).
    ``owners``: the account table's owners, for flagged or lending accounts the key no longer
    lists as members (``members`` already holds the table's owner of each member).
    """
    table = owners or {}
    others = {m: o for m, o in members.items() if m != account and (not org or o != org)}
    if kind in CONFIG_KINDS and presence and presence.get(account, 1.0) < cfg.home_share:
        return 0.0, len(others), 0  # not the account's configuration: no link on it
    if kind in PRESENCE_KINDS and presence:
        away = {m for m, s in presence.items() if s < cfg.home_share}
        flags = {m: v for m, v in flags.items() if m not in away}
        risks = {m: v for m, v in (risks or {}).items() if m not in away}
    orgs = len(set(others.values()))
    by_org: dict[str, float] = {}  # one organisation's flagged accounts lend risk once
    for m, (w, ts) in flags.items():
        m_org = members.get(m) or table.get(m) or m
        if m != account and (not org or m_org != org) and now_ms - ts <= cfg.flag_ttl_s * 1000:
            by_org[m_org] = max(by_org.get(m_org, 0.0), w)
    acted = len(by_org)
    for m, (w, ts) in (risks or {}).items():
        m_org = members.get(m) or table.get(m) or m
        fresh = now_ms - ts <= cfg.window_s * 1000
        if m != account and (not org or m_org != org) and fresh and w >= cfg.lend_min_risk:
            by_org[m_org] = max(by_org.get(m_org, 0.0), w)
    keep = 1.0
    for w in by_org.values():
        keep *= 1.0 - cfg.flag_weight * w
    # A few flagged members among many unflagged ones: more likely a false positive than a ring.
    share = min(1.0, 2.0 * len(by_org) / max(orgs, 1))
    keep = 1.0 - (1.0 - keep) * share
    # Organisations acted on, and those only at review risk when two or more vouch: one
    # member's own score, lent, is a suspicion about it, not about whoever shares its card.
    n_flagged = len(by_org) if len(by_org) >= 2 else acted
    job = 0.0
    if kind in JOB_KINDS and orgs + 1 >= cfg.job_min_orgs and total > 0:
        free = free_volume(members, volumes, cfg.job_floor if floor is None else floor)
        pressure = max(0.0, 1.0 - free / harvest) if harvest > 0 else 0.0
        job = pressure * min(1.0, 2.0 * harvest / total)
    crowd = max(orgs, seen - 1)
    spec = 1.0 if crowd <= cfg.crowd else cfg.crowd / crowd
    if kind not in JOB_KINDS and total > 0:
        # A parameter tuple says how a client is configured, not who sends: its flags count
        # by how concentrated harvesting is on it (an SDK default that mostly carries other
        # traffic is shared by many unrelated customers and links next to nothing).
        spec *= min(1.0, 2.0 * harvest / total)
    risk = KIND_WEIGHTS[kind] * (1.0 - (1.0 - spec * (1.0 - keep)) * (1.0 - job))
    return risk, len(others), n_flagged


def free_volume(
    members: Mapping[str, str], volumes: Mapping[str, float] | None, floor: float
) -> float:
    """What a key carries for free: its heaviest organisation's own volume plus ``floor``
    (``volumes``: each member's own harvest-like requests in the window, on all its keys;
    ``floor`` alone without them).

    One customer, however heavy (an eval runner behind a NAT others share), is no job spread
    thin, so the heaviest is free whatever it carries, and the floor only has to cover what
    the *others* add together: it can sit in the body of the deployment's distribution
    (:class:`JobFloor`) instead of at its heaviest customers' bursts. Not a floor per other
    organisation: one job spread thin over many accounts, each under the floor, still adds up.
    """
    floor = max(1.0, floor)
    by_org: dict[str, float] = {}
    for m, o in members.items():
        v = (volumes or {}).get(m, 0.0)
        if v > 0:
            by_org[o or m] = by_org.get(o or m, 0.0) + v
    return max(by_org.values(), default=0.0) + floor


def _add_flag(old: float, weight: float, repeat: bool) -> float:
    return 1.0 - (1.0 - old) * (1.0 - weight) if repeat else max(old, weight)


def combine(per_key: list[tuple[str, float, int, int, float]]) -> LinkView:
    """Noisy-OR over key kinds of each kind's riskiest key.

    A ``template`` or ``signup`` link corroborates a sender link and never stands alone: a
    wording is what is asked, not who asks, and a benign customer who happens to use the
    attacker's (even rare) step-by-step wording shares it without sharing anything else; a
    sign-up wave is shared by a class of students. Without some risk on a key that says who
    sends (``SENDER_KINDS``), they lend nothing.
    """
    best: dict[str, tuple[str, float, int, int, float]] = {}
    for item in per_key:
        kind = item[0].split(":", 1)[0]
        if item[1] > best.get(kind, ("", -1.0))[1]:
            best[kind] = item
    sender_keep = identity_keep = 1.0
    for kind, (_, r, _, _, _) in best.items():
        if kind in SENDER_KINDS:
            sender_keep *= 1.0 - r
        if kind in IDENTITY_KINDS:
            identity_keep *= 1.0 - r
    if sender_keep >= 1.0:
        for kind in CORROBORATING_KINDS:
            best.pop(kind, None)
    keep = 1.0
    for _, r, _, _, _ in best.values():
        keep *= 1.0 - r
    view = LinkView(
        risk=1.0 - keep, sender_risk=1.0 - sender_keep, identity_risk=1.0 - identity_keep
    )
    if best:
        key, r, n, f, job = max(best.values(), key=lambda x: x[1])
        if r > 0:
            view.key, view.accounts, view.flagged, view.job = key, n, f, job
            view.reasons = [
                f"linked by {key.split(':', 1)[0]} to {n} other accounts "
                f"({f} acted on or at review risk, {job:.0f} harvest-like requests in the "
                f"window): "
                f"linked risk {view.risk:.2f}"
            ]
    return view


class MemoryLinkage:
    """The linkage index in process (bounded LRU dicts)."""

    kind = "memory"

    def __init__(self, cfg: LinkSettings | None = None, with_asn: bool = True) -> None:
        self.cfg = cfg or LinkSettings()
        self.with_asn = with_asn
        self.keys: OrderedDict[str, _Key] = OrderedDict()
        self.accounts: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._bucket_s = max(60, self.cfg.window_s // 60)
        self.floor = JobFloor(self.cfg)
        self._harvest: OrderedDict[str, WindowCount] = OrderedDict()  # per account
        self._sent: OrderedDict[str, int] = OrderedDict()  # requests per account (presence)
        self._sent_params: OrderedDict[str, int] = OrderedDict()  # ... that set parameters
        # account -> (its harvest-like requests in the window, at ts_ms): members' volumes
        self._volume: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._signup: OrderedDict[str, tuple[str, ...]] = OrderedDict()  # its sign-up waves
        self.owners = Owners()

    def note_signup(self, account_id: str, keys: list[str]) -> None:
        """The sign-up waves an account was opened in (:func:`signup_keys`): its requests join
        them as ``signup:`` keys, which corroborate a sender key and never stand alone."""
        with self._lock:
            self._signup.pop(account_id, None)
            if keys:
                self._signup[account_id] = tuple(keys)
                if len(self._signup) > self.cfg.max_accounts:
                    self._signup.popitem(last=False)

    def _volumes(self, st: _Key, now: int) -> dict[str, float]:
        """Each member's own harvest-like requests in the window (its latest count while it is
        within the window: an upper bound, since a count only decays without requests)."""
        span = self.cfg.window_s * 1000
        out = {}
        for m in st.members:
            c, ts = self._volume.get(m, (0, 0))
            if c > 0 and now - ts < span:
                out[m] = float(c)
        return out

    def _frees(self, kind: str, harvest: float) -> bool:
        """Whether a key's heaviest organisation is free on top of the floor: once the floor is
        the deployment's. Before, ``job_floor`` is what the whole key carries for free."""
        return kind in JOB_KINDS and harvest > 0 and self.floor.calibrated()

    def _account_harvest(self, acct: str, now: int, harvest: bool) -> tuple[int, int]:
        """The account's harvest-like requests in the window and in the window before it
        (under the index lock)."""
        n = self.cfg.window_s // self._bucket_s
        wc = self._harvest.pop(acct, None)
        if wc is None:
            wc = WindowCount(self._bucket_s, 2 * n)
        self._harvest[acct] = wc
        if len(self._harvest) > self.cfg.max_accounts:
            self._harvest.popitem(last=False)
        if harvest:
            wc.update(now / 1000.0)
        return _halves(wc.buckets, int(now / 1000.0 // self._bucket_s), n)

    def _count_sent(self, acct: str, params: bool) -> None:
        self._sent[acct] = self._sent.pop(acct, 0) + 1
        if len(self._sent) > self.cfg.max_accounts:
            self._sent.popitem(last=False)
        if params:
            self._sent_params[acct] = self._sent_params.pop(acct, 0) + 1
            if len(self._sent_params) > self.cfg.max_accounts:
                self._sent_params.popitem(last=False)

    def _presence(self, st: _Key, kind: str, acct: str) -> dict[str, float]:
        """Lending members' share of their requests sent on this key (on a ``params`` key, of
        their parameter-setting requests, the account's own share included)."""
        lenders = (set(st.flags) | set(st.risks)) & set(st.sent)  # evicted members still lend
        sent = self._sent
        if kind in CONFIG_KINDS:
            sent = self._sent_params
            lenders |= {acct} & set(st.sent)
        return {m: st.sent[m] / max(sent.get(m, 1), 1) for m in lenders}

    def _key(self, key: str) -> _Key:
        st = self.keys.get(key)
        if st is None:
            st = self.keys[key] = _Key(
                self._bucket_s, self.cfg.window_s // self._bucket_s, self.owners.gen
            )
            if len(self.keys) > self.cfg.max_keys:
                self.keys.popitem(last=False)
        else:
            self.keys.move_to_end(key)
        return st

    def observe(
        self,
        row: Mapping[str, Any],
        own_risk: float = 0.0,
        owner: str | None = None,
        owners: Mapping[str, str] | None = None,
    ) -> LinkView:
        """Learn one request's keys; the account's linked risk from the other members.

        ``own_risk``: the account's online risk on its own traffic (lent on sender keys).
        ``owner``: whom the account pools with (``LinkedEnforcement.owner``); None: the
        request's ``org_id`` (a caller-written field, for callers without an account table).
        ``owners``: the latest account table's owners (``VerdictCache.owners``): they override
        what a member's own requests stored, which may predate that table."""
        acct, org = _account_owner(row, owner)
        now = int(row["ts_ms"])
        keys = link_keys(row, self.with_asn)
        harvest = harvest_like(row)
        out = []
        with self._lock:
            table = self.owners.adopt(owners)
            keys += self._signup.get(acct, ())
            known = self.accounts.pop(acct, ())
            self.accounts[acct] = tuple(dict.fromkeys((*known, *keys)))[-16:]
            if len(self.accounts) > self.cfg.max_accounts:
                self.accounts.popitem(last=False)
            own, prev = self._account_harvest(acct, now, harvest)
            floor = self.floor.get()
            self._count_sent(acct, sets_parameters(keys))
            self._volume.pop(acct, None)
            self._volume[acct] = (own, now)
            if len(self._volume) > self.cfg.max_accounts:
                self._volume.popitem(last=False)
            for k in keys:
                st = self._key(k)
                if acct not in st.members:
                    st.seen += 1
                    if len(st.members) >= self.cfg.max_members:
                        st.sent.pop(st.members.popitem(last=False)[0], None)
                if st.table != self.owners.gen:  # once per key and account table
                    st.table = self.owners.gen
                    _take_owners(st.members, table)
                st.members[acct] = org
                st.sent[acct] = st.sent.get(acct, 0) + 1
                st.members.move_to_end(acct)
                kind = k.split(":", 1)[0]
                if kind in SENDER_KINDS:
                    st.risks[acct] = (float(own_risk), now)
                    if len(st.risks) > self.cfg.max_members:
                        st.risks.pop(min(st.risks, key=lambda m: st.risks[m][1]))
                if harvest:
                    st.harvest.update(now / 1000.0)
                st.total.update(now / 1000.0)
                h, t = st.harvest.get(now / 1000.0), st.total.get(now / 1000.0)
                lends = st.flags or (st.risks and kind in NETWORK_KINDS)
                presence = self._presence(st, kind, acct) if lends and kind in PRESENCE_KINDS else None
                volumes = self._volumes(st, now) if self._frees(kind, h) else None
                r, n, f = key_risk(
                    kind, st.members, st.flags, h, t, st.seen, acct, org, now, self.cfg,
                    floor, st.risks, presence, volumes, table,
                )
                out.append((k, r, n, f, float(h)))
        self.floor.update(acct, own, now, _shares_sender_key(out))
        return _with_own(combine(out), (own, prev), floor, self.floor.ceiling())

    def flag(self, account_id: str, weight: float, ts_ms: int, repeat: bool = False) -> None:
        """An action restricted the account: every key it used remembers it.

        ``repeat``: evidence that adds up when it recurs (degrades: ``1 - (1-w)(1-weight)``);
        otherwise the strongest action counts (``max``).
        """
        with self._lock:
            for k in self.accounts.get(account_id, ()):
                st = self.keys.get(k)
                if st is None:
                    continue
                w, _ = st.flags.get(account_id, (0.0, 0))
                st.flags[account_id] = (_add_flag(w, weight, repeat), ts_ms)
                if len(st.flags) > self.cfg.max_members:
                    st.flags.pop(min(st.flags, key=lambda m: st.flags[m][1]))

    def unflag(self, account_id: str) -> None:
        """An appeal reversed the account's actions: its flags and own risk stop lending."""
        with self._lock:
            for k in self.accounts.get(account_id, ()):
                st = self.keys.get(k)
                if st is not None:
                    st.flags.pop(account_id, None)
                    st.risks.pop(account_id, None)

    def n_keys(self) -> int:
        return len(self.keys)

    def clear(self) -> None:
        with self._lock:
            self.keys.clear()
            self.accounts.clear()
            self._harvest.clear()
            self._sent.clear()
            self._sent_params.clear()
            self._volume.clear()
            self._signup.clear()
        self.floor.clear()


def _account_owner(row: Mapping[str, Any], owner: str | None) -> tuple[str, str]:
    """``(account, owner)``; an empty owner means the account is its own (``key_risk``)."""
    acct = str(row["account_id"])
    org = owner if owner is not None else str(row.get("org_id") or "")
    return acct, "" if org == acct else org


class Owners:
    """The account table's owners (``VerdictCache.owners``) the index follows.

    A member stores its owner when it sends, maybe before the table was loaded; a new table
    (a reload) re-maps each key's stored owners once, the first time the key is used after
    it (``gen``), not on every request (that cost ``observe`` 1.17-1.38x with full keys)."""

    def __init__(self) -> None:
        self.table: Mapping[str, str] | None = None
        self.gen = 0

    def adopt(self, owners: Mapping[str, str] | None) -> Mapping[str, str] | None:
        """The table to score with: ``owners`` (a new object is a new table); None: none."""
        if owners is None:
            return None
        if owners is not self.table:
            self.table, self.gen = owners, self.gen + 1
        return owners or None


def _take_owners(members: dict[str, str], table: Mapping[str, str] | None) -> dict[str, str]:
    """Members → the table's owner where it lists them (``""``: the account is its own, as
    :func:`_account_owner` stores it), in place; returns the ones that changed."""
    changed = {}
    for m, o in list(members.items()) if table else ():
        t = table.get(m)
        if t is not None and ("" if t == m else t) != o:
            members[m] = changed[m] = "" if t == m else t
    return changed


class RedisLinkage(MemoryLinkage):
    """The same index in Redis: per key a members hash, a flags hash and a window hash."""

    kind = "redis"

    def __init__(
        self,
        url: str,
        cfg: LinkSettings | None = None,
        with_asn: bool = True,
        prefix: str = "dg:lk:",
    ) -> None:
        import redis

        super().__init__(cfg, with_asn)
        self.r = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.prefix = prefix
        self.ttl_s = int(max(self.cfg.flag_ttl_s, self.cfg.window_s))
        self._fresh: set[str] = set()  # keys re-mapped to the current account table
        self._fresh_gen = 0

    def observe(
        self,
        row: Mapping[str, Any],
        own_risk: float = 0.0,
        owner: str | None = None,
        owners: Mapping[str, str] | None = None,
    ) -> LinkView:
        acct, org = _account_owner(row, owner)
        table = self.owners.adopt(owners)
        now = int(row["ts_ms"])
        keys = link_keys(row, self.with_asn)
        bucket = now // 1000 // self._bucket_s
        p, ttl = self.prefix, self.ttl_s
        harvest = harvest_like(row)
        pipe = self.r.pipeline(transaction=False)
        if harvest:
            pipe.hincrby(f"{p}ah:{acct}", str(bucket), 1)
        pipe.expire(f"{p}ah:{acct}", ttl)
        pipe.incr(f"{p}an:{acct}")
        pipe.expire(f"{p}an:{acct}", ttl)
        if sets_parameters(keys):
            pipe.incr(f"{p}ap:{acct}")  # parameter-setting requests (CONFIG_KINDS presence)
            pipe.expire(f"{p}ap:{acct}", ttl)
        pipe.get(f"{p}su:{acct}")
        pipe.hgetall(f"{p}ah:{acct}")
        n_buckets = self.cfg.window_s // self._bucket_s
        lo = bucket - n_buckets + 1
        waves, mine = pipe.execute()[-2:]
        keys += waves.decode().split("\n") if waves else []
        own, prev = _halves({int(b): int(c) for b, c in mine.items()}, bucket, n_buckets)
        floor = self.floor.get()
        pipe = self.r.pipeline(transaction=False)
        pipe.set(f"{p}ow:{acct}", f"{own}@{now}", ex=max(1, int(self.cfg.window_s)))
        for k in keys:
            pipe.sadd(f"{p}a:{acct}", k)
            pipe.pfadd(f"{p}s:{k}", acct)
            pipe.hincrby(f"{p}t:{k}", str(bucket), 1)
            if harvest:
                pipe.hincrby(f"{p}h:{k}", str(bucket), 1)
        pipe.expire(f"{p}a:{acct}", ttl)
        for k in keys:
            pipe.hlen(f"{p}m:{k}")
        sizes = pipe.execute()[len(keys) * (3 + harvest) + 2 :] if keys else []
        pipe = self.r.pipeline(transaction=False)
        for k, size in zip(keys, sizes, strict=True):
            if size < self.cfg.max_members:
                pipe.hset(f"{p}m:{k}", acct, org)
                pipe.hincrby(f"{p}n:{k}", acct, 1)  # bounded like the members
                if k.split(":", 1)[0] in SENDER_KINDS:
                    pipe.hset(f"{p}r:{k}", acct, f"{float(own_risk)}@{now}")
            for suffix in ("m", "f", "h", "t", "s", "r", "n"):
                pipe.expire(f"{p}{suffix}:{k}", ttl)
        for k in keys:
            pipe.hgetall(f"{p}m:{k}")
            pipe.hgetall(f"{p}f:{k}")
            pipe.hgetall(f"{p}h:{k}")
            pipe.hgetall(f"{p}t:{k}")
            pipe.pfcount(f"{p}s:{k}")
            pipe.hgetall(f"{p}r:{k}")
        res = pipe.execute()[-6 * len(keys) :] if keys else []
        rows = [res[6 * i : 6 * i + 6] for i in range(len(keys))]
        presences = self._presences(keys, rows, acct)
        volumes = self._member_volumes(keys, rows, now, lo)
        out, fixed = [], {}
        for k, (members_raw, flags_raw, harvest_raw, total_raw, seen, risks_raw) in zip(
            keys, rows, strict=True
        ):
            members = {m.decode(): o.decode() for m, o in members_raw.items()}
            flags, risks = _decode(flags_raw), _decode(risks_raw)
            if table and self._stale(k):
                fixed[k] = _take_owners(members, table)
            h = sum(int(c) for b, c in harvest_raw.items() if int(b) >= lo)
            t = sum(int(c) for b, c in total_raw.items() if int(b) >= lo)
            kind = k.split(":", 1)[0]
            r, n, f = key_risk(
                kind, members, flags, h, t, int(seen), acct, org, now, self.cfg, floor, risks,
                presences.get(k), volumes.get(k), table,
            )
            out.append((k, r, n, f, float(h)))
        self._write_owners(fixed)
        self.floor.update(acct, own, now, _shares_sender_key(out))
        return _with_own(combine(out), (own, prev), floor, self.floor.ceiling())

    def _stale(self, key: str) -> bool:
        """True the first time this process reads ``key`` since the account table changed
        (then its stored owners are re-mapped and written back: :meth:`_write_owners`)."""
        if self._fresh_gen != self.owners.gen or len(self._fresh) >= self.cfg.max_keys:
            self._fresh_gen = self.owners.gen
            self._fresh.clear()
        if key in self._fresh:
            return False
        self._fresh.add(key)
        return True

    def _write_owners(self, fixed: Mapping[str, Mapping[str, str]]) -> None:
        """Store the table's owners of the members ``fixed`` re-mapped, per key."""
        pipe, n = self.r.pipeline(transaction=False), 0
        for k, changed in fixed.items():
            if changed:
                pipe.hset(f"{self.prefix}m:{k}", mapping=dict(changed))
                n += 1
        if n:
            pipe.execute()

    def _member_volumes(
        self, keys: list[str], rows: list[list[Any]], now: int, lo: int
    ) -> dict[str, dict[str, float]]:
        """Per job key with harvest-like volume in the window, each member's own volume (one
        round trip, only when such a key has more than one member)."""
        members = {
            k: sorted(m.decode() for m in row[0])
            for k, row in zip(keys, rows, strict=True)
            if len(row[0]) > 1 and self._frees(k.split(":", 1)[0], sum(
                int(c) for b, c in row[2].items() if int(b) >= lo))
        }
        if not members:
            return {}
        every = sorted({m for ms in members.values() for m in ms})
        got = self.r.mget([f"{self.prefix}ow:{m}" for m in every])
        span, vol = self.cfg.window_s * 1000, {}
        for m, v in zip(every, got, strict=True):
            if v is not None:
                c, ts = v.decode().split("@")
                if int(c) > 0 and now - int(ts) < span:
                    vol[m] = float(c)
        return {k: {m: vol[m] for m in ms if m in vol} for k, ms in members.items()}

    def _presences(
        self, keys: list[str], rows: list[list[Any]], acct: str
    ) -> dict[str, dict[str, float]]:
        """Per network key, each lending member's share of its requests sent on it; per
        ``params`` key, of its parameter-setting requests, the account's own included (one
        round trip, only when such a key has lenders)."""
        lenders: dict[str, list[str]] = {}
        for k, row in zip(keys, rows, strict=True):
            kind = k.split(":", 1)[0]
            ms = {m.decode() for m in (*row[1], *row[5])}
            if kind in CONFIG_KINDS and ms:  # nothing to lend: no share needed
                lenders[k] = sorted(ms | {acct})
            elif kind in NETWORK_KINDS and ms:
                lenders[k] = sorted(ms)
        if not lenders:
            return {}
        p, every = self.prefix, sorted({m for ms in lenders.values() for m in ms})
        pipe = self.r.pipeline(transaction=False)
        pipe.mget([f"{p}an:{m}" for m in every])
        pipe.mget([f"{p}ap:{m}" for m in every])
        for k, ms in lenders.items():
            pipe.hmget(f"{p}n:{k}", ms)
        got = pipe.execute()
        sent = {m: int(v) for m, v in zip(every, got[0], strict=True) if v is not None}
        with_params = {m: int(v) for m, v in zip(every, got[1], strict=True) if v is not None}
        out = {}
        for (k, ms), on_key in zip(lenders.items(), got[2:], strict=True):
            total = with_params if k.split(":", 1)[0] in CONFIG_KINDS else sent
            out[k] = {  # members missing a count (not admitted to the key) lend as before
                m: int(c) / max(total.get(m, 1), 1)
                for m, c in zip(ms, on_key, strict=True)
                if c is not None
            }
        return out

    def note_signup(self, account_id: str, keys: list[str]) -> None:
        if keys:
            self.r.set(f"{self.prefix}su:{account_id}", "\n".join(keys), ex=self.ttl_s)
        else:
            self.r.delete(f"{self.prefix}su:{account_id}")

    def flag(self, account_id: str, weight: float, ts_ms: int, repeat: bool = False) -> None:
        p = self.prefix
        keys = [k.decode() for k in self.r.smembers(f"{p}a:{account_id}")]
        pipe = self.r.pipeline(transaction=False)
        for k in keys:
            pipe.hget(f"{p}f:{k}", account_id)
        old = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for k, v in zip(keys, old, strict=True):
            w = _add_flag(float(v.decode().split("@")[0]) if v else 0.0, weight, repeat)
            pipe.hset(f"{p}f:{k}", account_id, f"{w}@{ts_ms}")
            pipe.expire(f"{p}f:{k}", self.ttl_s)
        pipe.execute()

    def unflag(self, account_id: str) -> None:
        p = self.prefix
        keys = [k.decode() for k in self.r.smembers(f"{p}a:{account_id}")]
        pipe = self.r.pipeline(transaction=False)
        for k in keys:
            pipe.hdel(f"{p}f:{k}", account_id)
            pipe.hdel(f"{p}r:{k}", account_id)
        pipe.execute()

    def n_keys(self) -> int:
        return sum(1 for _ in self.r.scan_iter(match=f"{self.prefix}m:*", count=1000))

    def clear(self) -> None:
        for k in self.r.scan_iter(match=f"{self.prefix}*", count=1000):
            self.r.delete(k)
        self.floor.clear()


def _shares_sender_key(per_key: list[tuple[str, float, int, int, float]]) -> bool:
    """True when one of the account's sender keys has another organisation's account."""
    return any(n > 0 and k.split(":", 1)[0] in SENDER_KINDS for k, _, n, _, _ in per_key)


def _halves(buckets: Mapping[int, int], current: int, n: int) -> tuple[int, int]:
    """Counts in the last ``n`` buckets up to ``current`` and in the ``n`` before them."""
    lo = current - n + 1
    own = sum(c for b, c in buckets.items() if lo <= b <= current)
    prev = sum(c for b, c in buckets.items() if lo - n <= b < lo)
    return own, prev


def _with_own(
    view: LinkView, own: tuple[int, int], floor: float, ceiling: float | None
) -> LinkView:
    view.own, view.own_prev = float(own[0]), float(own[1])
    view.floor, view.ceiling = float(floor), ceiling
    return view


def _decode(raw: Mapping[bytes, bytes]) -> dict[str, tuple[float, int]]:
    """A Redis hash of ``account → "weight@ts_ms"``."""
    out = {}
    for m, v in raw.items():
        w, ts = v.decode().split("@")
        out[m.decode()] = (float(w), int(ts))
    return out


def make_linkage(
    spec: str, cfg: LinkSettings | None = None, with_asn: bool = True
) -> MemoryLinkage | RedisLinkage:
    """``memory`` or a ``redis://`` URL (the same spec as the account state)."""
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisLinkage(spec, cfg, with_asn)
    return MemoryLinkage(cfg, with_asn)


def jitter(secret: bytes, key: str | None, spread: float) -> float:
    """A per-cluster factor in ``[1, 1 + spread]``: thresholds differ from cluster to cluster.

    Keyed by a secret, so an attacker cannot compute it, and stable per key, so probing one
    cluster repeatedly does not average it out.
    """
    if not key or spread <= 0:
        return 1.0
    h = hashlib.blake2b(key.encode("utf-8"), key=secret[:64], digest_size=8).digest()
    return 1.0 + spread * int.from_bytes(h, "little") / 2**64


def delay_ms(secret: bytes, subject: str, lo_s: float, hi_s: float) -> int:
    """A per-subject enforcement delay in ``[lo_s, hi_s]`` (keyed, stable)."""
    if hi_s <= 0:
        return 0
    h = hashlib.blake2b(("delay|" + subject).encode(), key=secret[:64], digest_size=8).digest()
    u = int.from_bytes(h, "little") / 2**64
    return int(1000 * (lo_s + (hi_s - lo_s) * u))
