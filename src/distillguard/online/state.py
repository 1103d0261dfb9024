"""Per-account online state: River-style small objects with ``update``/``get``/``merge``.

The batch detector aggregates an account's whole log in SQL (``accounts/definitions.py``);
online, the same quantities are kept incrementally, one request at a time:

- :class:`WindowCount` — sliding-window request counts in time buckets;
- :class:`GapStats` — inter-arrival gap mean / variance (Welford; merge = Chan et al.);
- :class:`DistinctCount` — distinct IPs / user agents: exact for a handful, then a
  ``datasketch.HyperLogLog`` (merge = register max);
- :class:`TopShare` — concentration of templates or capabilities (bounded space-saving
  counter; ``get`` is the top value's share, as ``*_top_share`` in the batch path);
- :class:`AccountState` — all of the above plus request-signal counts and the client-churn
  aggregates of ``accounts/rotation.py`` (see :meth:`AccountState.update`); :func:`derive_features`
  derives the features the online policy reads (``FEATURES`` in ``online/policy.py``) and,
  through :func:`account_features`, the batch ``account_features`` of the account under the
  batch names (what the risk model reads, see ``online/risk.py``).

Two stores hold them: :class:`MemoryState` (in-process, default) and :class:`RedisState`
(``--state redis://…``: one Lua script per request does the whole update atomically, HLLs are
``PFADD`` keys, so replicas share state). Both derive features with the same
:func:`derive_features` from the same raw aggregates.

>>> a, b = WindowCount(60, 10), WindowCount(60, 10)
>>> a.update(0); a.update(30); b.update(59)
>>> a.merge(b).get(59)
3
"""

from __future__ import annotations

import hashlib
import math
import sys
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
from datasketch import HyperLogLog

from ..contract import HARVEST_SIGNALS
from ..scoring.definitions import COHORT_COUNTS, request_cohort_counts

SIGNALS: tuple[str, ...] = tuple(HARVEST_SIGNALS)
IP_KINDS: tuple[str, ...] = ("datacenter", "vpn", "tor", "proxy")  # the batch *_share kinds
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_EXACT_DISTINCT = 8  # keep up to this many distinct values exactly before switching to HLL
_HLL_P = 8  # 256 registers: ~6.5% standard error, 256 bytes per sketch
# The client-churn ratios (distinct IP-UA pairs, residential /24s, sessions per request) are
# evidence in themselves: 1024 registers, ~3.3% standard error (about 2% at 40 distinct values,
# where the sketch counts linearly), 1 kB per sketch once an account has more than 8.
_CHURN_HLL_P = 10
_TOP_K = 16
# The cohort counts under their raw (Redis hash) and feature names, built once.
_COHORT_RAW = tuple(f"c_{c}" for c in COHORT_COUNTS)
COHORT_FEATURES = tuple(f"cohort_{c}" for c in COHORT_COUNTS)


def _h64(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "little")


class WindowCount:
    """Counts in ``bucket_s`` buckets; ``get(t)`` sums the last ``n_buckets`` buckets."""

    __slots__ = ("bucket_s", "n_buckets", "buckets")

    def __init__(self, bucket_s: int = 60, n_buckets: int = 60) -> None:
        self.bucket_s = bucket_s
        self.n_buckets = n_buckets
        self.buckets: dict[int, int] = {}

    def update(self, t_s: float, n: int = 1) -> None:
        b = int(t_s // self.bucket_s)
        self.buckets[b] = self.buckets.get(b, 0) + n
        if len(self.buckets) > self.n_buckets + 1:
            self._prune(b)

    def _prune(self, current: int) -> None:
        lo = current - self.n_buckets + 1
        for k in [k for k in self.buckets if k < lo]:
            del self.buckets[k]

    def get(self, t_s: float) -> int:
        lo = int(t_s // self.bucket_s) - self.n_buckets + 1
        return sum(c for b, c in self.buckets.items() if b >= lo)

    def merge(self, other: WindowCount) -> WindowCount:
        for b, c in other.buckets.items():
            self.buckets[b] = self.buckets.get(b, 0) + c
        if self.buckets:
            self._prune(max(self.buckets))
        return self


class GapStats:
    """Inter-arrival gaps (ms): count, mean and M2 (Welford), plus first/last timestamp."""

    __slots__ = ("first", "last", "n", "mean", "m2")

    def __init__(self) -> None:
        self.first: int | None = None
        self.last: int | None = None
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def update(self, ts_ms: int) -> None:
        if self.last is None:
            self.first = self.last = ts_ms
            return
        if ts_ms < self.last:  # out-of-order arrival: keep the extent, skip the gap
            self.first = min(self.first or ts_ms, ts_ms)
            return
        gap = float(ts_ms - self.last)
        self.last = ts_ms
        self.n += 1
        d = gap - self.mean
        self.mean += d / self.n
        self.m2 += d * (gap - self.mean)

    def get(self) -> dict[str, float]:
        sd = math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0
        return {
            "gap_mean_ms": self.mean,
            "gap_sd_ms": sd,
            "gap_cv": sd / self.mean if self.mean > 0 else 0.0,
            "n_gaps": self.n,
        }

    def merge(self, other: GapStats) -> GapStats:
        if other.n:
            n = self.n + other.n
            d = other.mean - self.mean
            self.m2 += other.m2 + d * d * self.n * other.n / n
            self.mean += d * other.n / n
            self.n = n
        for ts in (other.first, other.last):
            if ts is not None:
                self.first = ts if self.first is None else min(self.first, ts)
                self.last = ts if self.last is None else max(self.last, ts)
        return self


class DistinctCount:
    """Distinct values: an exact set of 64-bit hashes while small, then a HyperLogLog with
    ``2**p`` registers (``datasketch``'s registers, hash and estimator).

    The estimator's two sums (registers at zero, sum of ``2**-register``) are kept as
    registers change, so ``get`` is O(1): it runs on every request, for every sketch of the
    account, and ``HyperLogLog.count`` scans all registers."""

    __slots__ = ("exact", "hll", "p", "zeros", "inv")

    def __init__(self, p: int = _HLL_P) -> None:
        self.exact: set[int] | None = set()
        self.hll: HyperLogLog | None = None
        self.p = p
        self.zeros = 0
        self.inv = 0.0

    def update(self, value: str | None) -> None:
        if not value:
            return
        h = _h64(value)
        if self.exact is not None:
            self.exact.add(h)
            if len(self.exact) > _EXACT_DISTINCT:
                self._to_hll()
        else:
            self._add(h)

    def _add(self, h: int) -> None:
        """``HyperLogLog.update`` of the hash's bytes, keeping the two sums."""
        hll = self.hll
        hv = hll.hashfunc(h.to_bytes(8, "little"))
        idx = hv & (hll.m - 1)
        rank = hll.max_rank - (hv >> hll.p).bit_length() + 1
        old = int(hll.reg[idx])
        if rank > old:
            hll.reg[idx] = rank
            self.zeros -= old == 0
            self.inv += 2.0**-rank - 2.0**-old

    def _sync(self) -> None:
        reg = self.hll.reg
        self.zeros = int(len(reg) - np.count_nonzero(reg))
        self.inv = float(np.sum(2.0 ** (-reg.astype(np.float64))))

    def _to_hll(self) -> None:
        self.hll = HyperLogLog(p=self.p)
        self._sync()
        for h in self.exact or ():
            self._add(h)
        self.exact = None

    def get(self) -> int:
        if self.exact is not None:
            return len(self.exact)
        m = self.hll.m  # HyperLogLog.count, from the kept sums
        e = self.hll.alpha * float(m * m) / self.inv
        if e <= 2.5 * m and self.zeros > 0:
            return int(round(m * math.log(m / self.zeros)))
        if e <= (1 << 32) / 30.0:
            return int(round(e))
        return int(round(-(1 << 32) * math.log(1.0 - e / (1 << 32))))

    def merge(self, other: DistinctCount) -> DistinctCount:
        if self.exact is not None and other.exact is not None:
            self.exact |= other.exact
            if len(self.exact) > _EXACT_DISTINCT:
                self._to_hll()
            return self
        if self.exact is not None:
            self._to_hll()
        if other.exact is not None:
            for h in other.exact:
                self._add(h)
        else:
            self.hll.merge(other.hll)
            self._sync()
        return self


class TopShare:
    """Bounded counts of categorical values (space-saving); ``get()`` = top share."""

    __slots__ = ("counts", "n")

    def __init__(self) -> None:
        self.counts: dict[Any, int] = {}
        self.n = 0

    def update(self, value: Any, n: int = 1) -> None:
        if value is None:
            return
        self.n += n
        c = self.counts
        if value in c or len(c) < _TOP_K:
            c[value] = c.get(value, 0) + n
        else:  # evict the smallest and inherit its count (space-saving over-estimate)
            low = min(c, key=c.__getitem__)
            c[value] = c.pop(low) + n

    def get(self) -> float:
        return max(self.counts.values()) / self.n if self.n else 0.0

    def merge(self, other: TopShare) -> TopShare:
        for v, c in other.counts.items():
            self.update(v, c)  # adds to n as well
        return self


class ActiveCount:
    """Distinct time periods (hours, days) with activity, counted as requests arrive: exact
    for requests in time order (a late request from an earlier period is not counted)."""

    __slots__ = ("period_ms", "last", "n")

    def __init__(self, period_ms: int) -> None:
        self.period_ms = period_ms
        self.last: int | None = None
        self.n = 0

    def update(self, ts_ms: int) -> None:
        p = ts_ms // self.period_ms
        if self.last is None or p > self.last:
            self.n += 1
            self.last = p

    def merge(self, other: ActiveCount) -> ActiveCount:
        """Fold another partial state: periods may overlap, so the sum is an upper bound."""
        if other.last is not None:
            self.n += other.n - (self.last == other.last)
            self.last = other.last if self.last is None else max(self.last, other.last)
        return self


class AccountState:
    """Everything the online path knows about one account, updated per request / event."""

    __slots__ = (
        "window",
        "gaps",
        "ips",
        "uas",
        "templates",
        "caps",
        "n",
        "hits",
        "sig_hits",
        "sum_harvest",
        "reasoning",
        "multi_turn",
        "atpl",
        "atpl_max",
        "n_events",
        "n_errors",
        "in_tokens",
        "out_tokens",
        "sum_turns",
        "hod",
        "tpls",
        "hours",
        "days",
        "intel_n",
        "kinds",
        "asns",
        "prefixes",
        "req_in",
        "req_out",
        "campaign",
        "pivot_window",
        "pivot_new",
        "first_new",
        "prev_ip",
        "prev_ua",
        "ip_cmp",
        "ip_sw",
        "ua_cmp",
        "ua_sw",
        "ipua_n",
        "pairs",
        "kind_n",
        "res_prefixes",
        "sessions",
        "cohort",
    )

    def __init__(self, bucket_s: int = 60, n_buckets: int = 60) -> None:
        self.window = WindowCount(bucket_s, n_buckets)
        self.gaps = GapStats()
        self.ips = DistinctCount()
        self.uas = DistinctCount()
        self.templates = TopShare()
        self.caps = TopShare()
        self.n = 0
        self.hits = 0  # requests where any signal fired
        self.sig_hits = [0, 0, 0, 0, 0]
        self.sum_harvest = 0.0
        self.reasoning = 0
        self.multi_turn = 0
        self.atpl = 0  # requests matching a template used by known attack accounts
        self.atpl_max = 0.0
        self.n_events = 0
        self.n_errors = 0
        self.in_tokens = 0
        self.out_tokens = 0
        self.sum_turns = 0
        self.hod = [0] * 24  # requests per UTC hour of day
        self.tpls = DistinctCount()
        self.hours = ActiveCount(HOUR_MS)
        self.days = ActiveCount(DAY_MS)
        self.intel_n = 0  # requests whose IP had intelligence (kind, ASN, prefix)
        self.kinds = [0] * len(IP_KINDS)
        self.asns = DistinctCount()
        self.prefixes = DistinctCount()
        self.req_in = 0  # tokens reported on the request records themselves
        self.req_out = 0
        self.campaign = 0  # requests on a template characteristic of a batch attack cluster
        self.pivot_window = 0  # requests in the release window of batch's new model
        self.pivot_new = 0  # of which on the new model
        self.first_new: int | None = None  # first request on the new model
        # Client churn (``accounts/rotation.py``), over consecutive requests in arrival order:
        # the previous request's IP and user agent (64-bit hashes; None: it had none), how
        # often both requests had one and how often it changed.
        self.prev_ip: int | None = None
        self.prev_ua: int | None = None
        self.ip_cmp = 0
        self.ip_sw = 0
        self.ua_cmp = 0
        self.ua_sw = 0
        self.ipua_n = 0  # requests with both an IP and a user agent
        self.kind_n = 0  # requests with an IP whose kind is known (batch's IP intelligence)
        # Distinct IP|UA pairs, /24s of residential IPs, session ids: made at the first value
        # (most accounts have no session ids or no residential IP; ~0.3 kB each saved).
        self.pairs: DistinctCount | None = None
        self.res_prefixes: DistinctCount | None = None
        self.sessions: DistinctCount | None = None
        # What batch's comparable-cohort keys count (scoring.definitions.COHORT_COUNTS):
        # requests per access route kind, with a user agent, with a browser's.
        self.cohort = [0] * len(COHORT_COUNTS)

    def update(self, x: Mapping[str, Any], hit_threshold: float = 0.5) -> None:
        """Learn one request (a normalised row plus its text features)."""
        ts = int(x["ts_ms"])
        self.n += 1
        self.window.update(ts / 1000.0)
        self.gaps.update(ts)
        self.ips.update(x.get("ip"))
        self.uas.update(x.get("user_agent"))
        self.templates.update(x.get("template"))
        self.caps.update(x.get("capability") or "other")
        harvest = 0.0
        any_hit = False
        for i, s in enumerate(SIGNALS):
            v = float(x.get("sig_" + s) or 0.0)
            harvest = max(harvest, v)
            if v >= hit_threshold:
                self.sig_hits[i] += 1
                any_hit = True
        self.hits += any_hit
        self.sum_harvest += harvest
        r = x.get("reasoning")
        if (x.get("reasoning_tokens") or 0) > 0 or (
            r is not None and str(r).lower() not in ("", "none", "0", "off", "false", "disabled")
        ):
            self.reasoning += 1
        self.multi_turn += (x.get("n_user_turns") or 1) > 1
        self.sum_turns += int(x.get("n_user_turns") or 1)
        self.hod[(ts // HOUR_MS) % 24] += 1
        self.tpls.update(None if x.get("template") is None else str(x.get("template")))
        self.hours.update(ts)
        self.days.update(ts)
        if x.get("ip_kind"):
            self.intel_n += 1
            kind = str(x["ip_kind"])
            if kind in IP_KINDS:
                self.kinds[IP_KINDS.index(kind)] += 1
            self.asns.update(x.get("asn"))
            self.prefixes.update(x.get("prefix"))
        self.req_in += int(x.get("input_tokens") or 0)
        self.req_out += int(x.get("output_tokens") or 0)
        self.campaign += bool(x.get("campaign_template"))
        self.pivot_window += bool(x.get("pivot_window"))
        self.pivot_new += bool(x.get("pivot_new"))
        if x.get("new_model") and (self.first_new is None or ts < self.first_new):
            self.first_new = ts
        share = float(x.get("template_attack_share") or 0.0)
        if share >= 0.5:
            self.atpl += 1
        self.atpl_max = max(self.atpl_max, share)
        self._churn(x)
        for i, v in enumerate(request_cohort_counts(x.get("access_route"), x.get("user_agent"))):
            self.cohort[i] += v

    def _churn(self, x: Mapping[str, Any]) -> None:
        """The ``accounts/rotation.py`` aggregates and the distinct sessions of one request.

        As batch's ``lag()`` over the account's requests: a switch is counted between this
        request and the previous one when both carry an IP (a user agent). Online, "previous"
        is the previous request to arrive, which is batch's ``ORDER BY ts_ms, request_id``
        when requests arrive in that order (a late request is compared with the one that
        arrived before it)."""
        ip, ua = x.get("ip") or None, x.get("user_agent") or None
        hip = None if ip is None else _h64(str(ip))
        hua = None if ua is None else _h64(str(ua))
        if hip is not None and self.prev_ip is not None:
            self.ip_cmp += 1
            self.ip_sw += hip != self.prev_ip
        if hua is not None and self.prev_ua is not None:
            self.ua_cmp += 1
            self.ua_sw += hua != self.prev_ua
        self.prev_ip, self.prev_ua = hip, hua
        if ip is not None and ua is not None:
            self.ipua_n += 1
            if self.pairs is None:
                self.pairs = DistinctCount(_CHURN_HLL_P)
            self.pairs.update(f"{ip}|{ua}")
        kind = x.get("ip_kind")
        if ip is not None and kind:
            self.kind_n += 1
            if kind == "residential" and x.get("prefix"):
                if self.res_prefixes is None:
                    self.res_prefixes = DistinctCount(_CHURN_HLL_P)
                self.res_prefixes.update(str(x["prefix"]))
        sid = x.get("session_id")
        if sid is not None and sid != "":
            if self.sessions is None:
                self.sessions = DistinctCount(_CHURN_HLL_P)
            self.sessions.update(str(sid))

    def learn_event(self, ev: Mapping[str, Any]) -> None:
        """Learn an after-the-fact event: usage and status of a served request."""
        self.n_events += 1
        self.in_tokens += int(ev.get("input_tokens") or 0)
        self.out_tokens += int(ev.get("output_tokens") or 0)
        status = ev.get("status")
        if status is not None and int(status) >= 400:
            self.n_errors += 1

    def raw(self, now_ms: int) -> dict[str, float]:
        """The raw aggregates :func:`derive_features` reads (same keys as the Redis hash)."""
        g = self.gaps
        return {
            "n": self.n,
            "n_window": self.window.get(now_ms / 1000.0),
            "hits": self.hits,
            **{f"h_{s}": self.sig_hits[i] for i, s in enumerate(SIGNALS)},
            "sum_harvest": self.sum_harvest,
            "reasoning": self.reasoning,
            "multi_turn": self.multi_turn,
            "atpl": self.atpl,
            "atpl_max": self.atpl_max,
            "gap_n": g.n,
            "gap_mean": g.mean,
            "gap_m2": g.m2,
            "first": g.first or now_ms,
            "last": g.last or now_ms,
            "distinct_ips": self.ips.get(),
            "distinct_uas": self.uas.get(),
            "template_share": self.templates.get(),
            "capability_share": self.caps.get(),
            "n_events": self.n_events,
            "n_errors": self.n_errors,
            "in_tokens": self.in_tokens,
            "out_tokens": self.out_tokens,
            "sum_turns": self.sum_turns,
            **{f"hod_{h}": c for h, c in enumerate(self.hod)},
            "distinct_templates": self.tpls.get(),
            "active_hours": self.hours.n,
            "active_days": self.days.n,
            "intel_n": self.intel_n,
            **{f"k_{k}": c for k, c in zip(IP_KINDS, self.kinds, strict=True)},
            "distinct_asns": self.asns.get(),
            "distinct_prefixes": self.prefixes.get(),
            "req_in": self.req_in,
            "req_out": self.req_out,
            "campaign": self.campaign,
            "pivot_window": self.pivot_window,
            "pivot_new": self.pivot_new,
            "first_new": math.nan if self.first_new is None else self.first_new,
            "ip_cmp": self.ip_cmp,
            "ip_sw": self.ip_sw,
            "ua_cmp": self.ua_cmp,
            "ua_sw": self.ua_sw,
            "ipua_n": self.ipua_n,
            "distinct_pairs": _distinct(self.pairs),
            "kind_n": self.kind_n,
            "distinct_res_prefixes": _distinct(self.res_prefixes),
            "distinct_sessions": _distinct(self.sessions),
            **dict(zip(_COHORT_RAW, self.cohort, strict=True)),
        }

    def merge(self, other: AccountState) -> AccountState:
        """Fold another partial state of the same account into this one (returns self).

        ``other`` is taken as the later part for the previous IP / user agent: the one
        comparison across the seam of two partial states is not counted."""
        if other.n:
            self.prev_ip, self.prev_ua = other.prev_ip, other.prev_ua
        for name in ("pairs", "res_prefixes", "sessions"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None:
                if mine is None:
                    mine = DistinctCount(_CHURN_HLL_P)
                    setattr(self, name, mine)
                mine.merge(theirs)
        self.window.merge(other.window)
        self.gaps.merge(other.gaps)
        self.ips.merge(other.ips)
        self.uas.merge(other.uas)
        self.templates.merge(other.templates)
        self.caps.merge(other.caps)
        self.tpls.merge(other.tpls)
        self.asns.merge(other.asns)
        self.prefixes.merge(other.prefixes)
        self.hours.merge(other.hours)
        self.days.merge(other.days)
        self.hod = [a + b for a, b in zip(self.hod, other.hod, strict=True)]
        self.kinds = [a + b for a, b in zip(self.kinds, other.kinds, strict=True)]
        if other.first_new is not None:
            self.first_new = min(self.first_new or other.first_new, other.first_new)
        for name in (
            "pivot_window",
            "pivot_new",
            "campaign",
            "sum_turns",
            "intel_n",
            "req_in",
            "req_out",
            "n",
            "hits",
            "sum_harvest",
            "reasoning",
            "multi_turn",
            "atpl",
            "n_events",
            "n_errors",
            "in_tokens",
            "out_tokens",
            "ip_cmp",
            "ip_sw",
            "ua_cmp",
            "ua_sw",
            "ipua_n",
            "kind_n",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.sig_hits = [a + b for a, b in zip(self.sig_hits, other.sig_hits, strict=True)]
        self.cohort = [a + b for a, b in zip(self.cohort, other.cohort, strict=True)]
        self.atpl_max = max(self.atpl_max, other.atpl_max)
        return self


def _distinct(d: DistinctCount | None) -> int:
    return 0 if d is None else d.get()


def derive_features(raw: Mapping[str, float], window_s: float) -> dict[str, float]:
    """Raw aggregates → the account features (names as in the batch ``account_features``)."""
    n = max(float(raw["n"]), 1.0)
    gap_n = float(raw["gap_n"])
    sd = math.sqrt(float(raw["gap_m2"]) / (gap_n - 1)) if gap_n > 1 else 0.0
    mean = float(raw["gap_mean"])
    span_min = max((float(raw["last"]) - float(raw["first"])) / 60000.0, 1.0)
    return {
        "n_total": float(raw["n"]),
        "n_window": float(raw["n_window"]),
        "req_per_min": float(raw["n_window"]) / max(min(window_s / 60.0, span_min), 1.0),
        "signal_rate": float(raw["hits"]) / n,  # = batch harvest_share
        "mean_harvest": float(raw["sum_harvest"]) / n,
        **{f"{s}_share": float(raw[f"h_{s}"]) / n for s in SIGNALS},
        "reasoning_share": float(raw["reasoning"]) / n,
        "multi_turn_share": float(raw["multi_turn"]) / n,
        "attack_template_share": float(raw["atpl"]) / n,
        "attack_template_max": float(raw["atpl_max"]),
        "gap_mean_ms": mean,
        "gap_sd_ms": sd,
        "gap_cv": sd / mean if mean > 0 and gap_n > 1 else -1.0,  # -1: not enough gaps yet
        "distinct_ips": float(raw["distinct_ips"]),
        "distinct_uas": float(raw["distinct_uas"]),
        "template_share": float(raw["template_share"]),
        "capability_share": float(raw["capability_share"]),
        "error_rate": float(raw["n_errors"]) / max(float(raw["n_events"]), 1.0),
        **account_features(raw),
    }


def account_features(raw: Mapping[str, float]) -> dict[str, float]:
    """Raw aggregates → the batch ``account_features`` of one account, under the batch names
    and definitions (``accounts/definitions.py``); NaN for what online state cannot know
    (IP intelligence when no request had any)."""
    n = max(float(raw["n"]), 1.0)
    gap_n, mean = float(raw["gap_n"]), float(raw["gap_mean"])
    sd = math.sqrt(float(raw["gap_m2"]) / (gap_n - 1)) if gap_n > 1 else 0.0
    hod = [float(raw.get(f"hod_{h}", 0.0)) for h in range(24)]
    total = sum(hod) or 1.0
    probs = [c / total for c in hod if c > 0]
    intel = float(raw.get("intel_n", 0.0)) > 0
    req_in, ev_in = float(raw.get("req_in", 0.0)), float(raw["in_tokens"])
    tok_in, tok_out = (
        (req_in, float(raw.get("req_out", 0.0))) if req_in > 0 else (ev_in, float(raw["out_tokens"]))
    )
    hours = max(float(raw.get("active_hours", 0.0)), 1.0)
    pivot_n = float(raw.get("pivot_window", 0.0))

    def per_request(key: str) -> float:
        return float(raw.get(key, 0.0)) / n if intel else math.nan

    def ratio(num: str, den: str) -> float:  # NaN (the deployment median online) without data
        d = float(raw.get(den, 0.0))
        return float(raw.get(num, 0.0)) / d if d > 0 else math.nan

    n_sessions = float(raw.get("distinct_sessions", 0.0))

    return {
        "n_requests": float(raw["n"]),
        "first_ts": float(raw["first"]),
        "last_ts": float(raw["last"]),
        "span_hours": (float(raw["last"]) - float(raw["first"])) / HOUR_MS,
        "active_hours": float(raw.get("active_hours", 0.0)),
        "active_days": float(raw.get("active_days", 0.0)),
        "rate_per_active_hour": float(raw["n"]) / hours,
        "harvest_share": float(raw["hits"]) / n,
        "mean_harvest": float(raw["sum_harvest"]) / n,
        **{f"{s}_share": float(raw[f"h_{s}"]) / n for s in SIGNALS},
        "reasoning_share": float(raw["reasoning"]) / n,
        "multi_turn_share": float(raw["multi_turn"]) / n,
        "mean_user_turns": float(raw.get("sum_turns", n)) / n,
        "out_in_ratio": tok_out / tok_in if tok_in > 0 else 0.0,
        "n_ips": float(raw["distinct_ips"]),
        "n_uas": float(raw["distinct_uas"]),
        "n_templates": float(raw.get("distinct_templates", 0.0)),
        "ips_per_request": float(raw["distinct_ips"]) / n,
        "templates_per_request": float(raw.get("distinct_templates", 0.0)) / n,
        "n_asns": float(raw.get("distinct_asns", 0.0)) if intel else math.nan,
        "n_prefixes": float(raw.get("distinct_prefixes", 0.0)) if intel else math.nan,
        "asns_per_request": per_request("distinct_asns"),
        **{f"{k}_share": per_request(f"k_{k}") for k in IP_KINDS},
        "gap_mean_ms": mean,
        "gap_sd_ms": sd,
        "cv_gaps": sd / mean if mean > 0 else 0.0,
        "burstiness": (sd - mean) / (sd + mean) if sd + mean > 0 else 0.0,
        "hod_entropy": -sum(p * math.log(p) for p in probs) / math.log(24),
        "hod_top_share": max(probs, default=0.0),
        "tpl_top_share": float(raw["template_share"]),
        "cap_top_share": float(raw["capability_share"]),
        # not a batch column: what batch's template affinity counts (its campaign templates)
        "campaign_template_share": float(raw.get("campaign", 0.0)) / n,
        "pivot_window_requests": pivot_n,
        "pivot_new_requests": float(raw.get("pivot_new", 0.0)),
        "pivot_share": float(raw.get("pivot_new", 0.0)) / pivot_n if pivot_n > 0 else 0.0,
        "pivot_first_new_ts": float(raw.get("first_new", math.nan)),
        # accounts/rotation.py; NaN where batch gives the deployment median (no IP, one
        # request), which online.risk substitutes. The residential /24s are counted over the
        # requests whose IP kind online knows (batch's IP intelligence): batch counts them
        # over every request with an IP, whose kind it has looked up.
        "ip_switch_share": ratio("ip_sw", "ip_cmp"),
        "ua_switch_share": ratio("ua_sw", "ua_cmp"),
        "ip_ua_pairs_per_request": ratio("distinct_pairs", "ipua_n"),
        "residential_prefixes_per_request": ratio("distinct_res_prefixes", "kind_n"),
        # accounts/fingerprint.py: missing when the account's requests carry no session id
        "sessions_per_request": n_sessions / n if n_sessions > 0 else math.nan,
        # not batch columns: the counts its cohort keys come from (online.risk.account_row)
        **{f: float(raw.get(r, 0.0)) for f, r in zip(COHORT_FEATURES, _COHORT_RAW, strict=True)},
    }


def _deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Approximate bytes held by ``obj`` (slots, dicts, lists, sets, numpy buffers)."""
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        size += sum(_deep_size(v, seen) for v in obj)
    elif hasattr(obj, "reg"):  # datasketch HyperLogLog registers
        size += obj.reg.nbytes
    if hasattr(obj, "__slots__"):
        size += sum(_deep_size(getattr(obj, s), seen) for s in obj.__slots__ if hasattr(obj, s))
    return size


class TokenBuckets:
    """In-process token buckets keyed by subject (account or cluster)."""

    def __init__(self) -> None:
        self._b: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float, burst: float, now_s: float) -> bool:
        tokens, last = self._b.get(key, (burst, now_s))
        tokens = min(burst, tokens + max(0.0, now_s - last) * rate)
        ok = tokens >= 1.0
        self._b[key] = (tokens - 1.0 if ok else tokens, now_s)
        return ok

    def __len__(self) -> int:
        return len(self._b)


class MemoryState:
    """In-process state: a dict of :class:`AccountState` (default backend)."""

    kind = "memory"

    def __init__(
        self, window_s: int = 3600, bucket_s: int = 60, hit_threshold: float = 0.5
    ) -> None:
        self.window_s, self.bucket_s, self.hit_threshold = window_s, bucket_s, hit_threshold
        self.accounts: dict[str, AccountState] = {}
        self.buckets = TokenBuckets()
        self._lock = threading.Lock()

    def _get(self, account_id: str) -> AccountState:
        st = self.accounts.get(account_id)
        if st is None:
            st = self.accounts[account_id] = AccountState(
                self.bucket_s, self.window_s // self.bucket_s
            )
        return st

    def observe(self, account_id: str, x: Mapping[str, Any]) -> dict[str, float]:
        """Learn one request and return the account's features after it."""
        with self._lock:
            st = self._get(account_id)
            st.update(x, self.hit_threshold)
            raw = st.raw(int(x["ts_ms"]))
        return derive_features(raw, self.window_s)

    def peek(self, account_id: str, now_ms: int) -> dict[str, float] | None:
        with self._lock:
            st = self.accounts.get(account_id)
            raw = None if st is None else st.raw(now_ms)
        return None if raw is None else derive_features(raw, self.window_s)

    def learn_events(self, events: list[Mapping[str, Any]]) -> int:
        with self._lock:
            for ev in events:
                self._get(str(ev["account_id"])).learn_event(ev)
        return len(events)

    def take_token(self, key: str, rate: float, burst: float, now_s: float) -> bool:
        with self._lock:
            return self.buckets.take(key, rate, burst, now_s)

    def n_accounts(self) -> int:
        return len(self.accounts)

    def memory_bytes(self, sample: int = 2000) -> int:
        """Estimated bytes of all account states (deep size of a sample, scaled)."""
        with self._lock:
            items = list(self.accounts.items())
        if not items:
            return 0
        step = max(1, len(items) // sample)
        part = items[::step]
        per = sum(_deep_size(k) + _deep_size(v) for k, v in part) / len(part)
        return int(per * len(items) + sys.getsizeof(self.accounts))

    def clear(self) -> None:
        with self._lock:
            self.accounts.clear()


# One round trip per request: update every aggregate of the account and return them.
# KEYS: 1 hash, 2 window hash, 3 templates, 4 capabilities, 5 ip HLL, 6 ua HLL,
#       7 template HLL, 8 ASN HLL, 9 prefix HLL, 10 IP|UA pair HLL, 11 residential /24 HLL,
#       12 session HLL
# ARGV: ts_ms, bucket, n_buckets, template, capability, ip, ua, hit flags (5), harvest,
#       reasoning(0/1), multi(0/1), atpl(0/1), atpl_share, ttl_s, topk,
#       hour index, day index, hour of day, user turns, ip kind, asn, prefix,
#       input tokens, output tokens, campaign template (0/1), in the new model's release
#       window (0/1), in it on the new model (0/1), on the new model (0/1),
#       IP hash, UA hash ('' for none), IP|UA pair, IP with a known kind (0/1),
#       residential /24, session id, the cohort counts this request adds to
#       (``c_<name>`` hash fields, comma-separated)
_OBSERVE_LUA = """
local h, w, t, c, ip, ua = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local tp, asn, pfx = KEYS[7], KEYS[8], KEYS[9]
local pair, res, ses = KEYS[10], KEYS[11], KEYS[12]
local ts = tonumber(ARGV[1]); local b = tonumber(ARGV[2]); local nb = tonumber(ARGV[3])
redis.call('HINCRBY', h, 'n', 1)
local last = tonumber(redis.call('HGET', h, 'last') or '-1')
if last < 0 then
  redis.call('HSET', h, 'first', ts, 'last', ts)
elseif ts >= last then
  local gap = ts - last
  local n = tonumber(redis.call('HGET', h, 'gap_n') or '0') + 1
  local mean = tonumber(redis.call('HGET', h, 'gap_mean') or '0')
  local m2 = tonumber(redis.call('HGET', h, 'gap_m2') or '0')
  local d = gap - mean
  mean = mean + d / n
  m2 = m2 + d * (gap - mean)
  redis.call('HSET', h, 'gap_n', n, 'gap_mean', tostring(mean), 'gap_m2', tostring(m2), 'last', ts)
else
  local first = tonumber(redis.call('HGET', h, 'first'))
  if ts < first then redis.call('HSET', h, 'first', ts) end
end
redis.call('HINCRBY', w, b, 1)
if redis.call('HLEN', w) > nb + 1 then
  local ks = redis.call('HKEYS', w)
  for _, k in ipairs(ks) do if tonumber(k) <= b - nb then redis.call('HDEL', w, k) end end
end
local topk = tonumber(ARGV[15])
local function top(key, v)
  if v == '' then return end
  if redis.call('HEXISTS', key, v) == 1 or redis.call('HLEN', key) < topk then
    redis.call('HINCRBY', key, v, 1)
  end
  redis.call('HINCRBY', key, '__n', 1)
end
top(t, ARGV[4]); top(c, ARGV[5])
if ARGV[6] ~= '' then redis.call('PFADD', ip, ARGV[6]) end
if ARGV[7] ~= '' then redis.call('PFADD', ua, ARGV[7]) end
local any = 0
for name in string.gmatch(ARGV[8], '[^,]+') do  -- the harvest signals this request hit
  redis.call('HINCRBY', h, 'h_' .. name, 1); any = 1
end
redis.call('HINCRBY', h, 'hits', any)
redis.call('HINCRBYFLOAT', h, 'sum_harvest', ARGV[9])
redis.call('HINCRBY', h, 'reasoning', tonumber(ARGV[10]))
redis.call('HINCRBY', h, 'multi_turn', tonumber(ARGV[11]))
redis.call('HINCRBY', h, 'atpl', tonumber(ARGV[12]))
local amax = tonumber(redis.call('HGET', h, 'atpl_max') or '0')
if tonumber(ARGV[13]) > amax then redis.call('HSET', h, 'atpl_max', ARGV[13]) end
local function active(field, lastf, p)
  local prev = tonumber(redis.call('HGET', h, lastf) or '-1')
  if prev < 0 or p > prev then
    redis.call('HINCRBY', h, field, 1)
    redis.call('HSET', h, lastf, p)
  end
end
active('active_hours', 'last_hour', tonumber(ARGV[16]))
active('active_days', 'last_day', tonumber(ARGV[17]))
redis.call('HINCRBY', h, 'hod_' .. ARGV[18], 1)
redis.call('HINCRBY', h, 'sum_turns', tonumber(ARGV[19]))
if ARGV[4] ~= '' then redis.call('PFADD', tp, ARGV[4]) end
if ARGV[20] ~= '' then
  redis.call('HINCRBY', h, 'intel_n', 1)
  redis.call('HINCRBY', h, 'k_' .. ARGV[20], 1)
  if ARGV[21] ~= '' then redis.call('PFADD', asn, ARGV[21]) end
  if ARGV[22] ~= '' then redis.call('PFADD', pfx, ARGV[22]) end
end
redis.call('HINCRBY', h, 'req_in', tonumber(ARGV[23]))
redis.call('HINCRBY', h, 'req_out', tonumber(ARGV[24]))
redis.call('HINCRBY', h, 'campaign', tonumber(ARGV[25]))
redis.call('HINCRBY', h, 'pivot_window', tonumber(ARGV[26]))
redis.call('HINCRBY', h, 'pivot_new', tonumber(ARGV[27]))
if ARGV[28] == '1' then
  local fn = tonumber(redis.call('HGET', h, 'first_new') or '-1')
  if fn < 0 or ts < fn then redis.call('HSET', h, 'first_new', ts) end
end
local function switch(cur, prevf, cmpf, swf)  -- as batch's lag(): both requests carry one
  local prev = redis.call('HGET', h, prevf)
  if cur ~= '' and prev and prev ~= '' then
    redis.call('HINCRBY', h, cmpf, 1)
    if prev ~= cur then redis.call('HINCRBY', h, swf, 1) end
  end
  redis.call('HSET', h, prevf, cur)
end
switch(ARGV[29], 'prev_ip', 'ip_cmp', 'ip_sw')
switch(ARGV[30], 'prev_ua', 'ua_cmp', 'ua_sw')
if ARGV[31] ~= '' then
  redis.call('HINCRBY', h, 'ipua_n', 1)
  redis.call('PFADD', pair, ARGV[31])
end
if ARGV[32] == '1' then redis.call('HINCRBY', h, 'kind_n', 1) end
if ARGV[33] ~= '' then redis.call('PFADD', res, ARGV[33]) end
if ARGV[34] ~= '' then redis.call('PFADD', ses, ARGV[34]) end
for name in string.gmatch(ARGV[35], '[^,]+') do redis.call('HINCRBY', h, name, 1) end
local ttl = tonumber(ARGV[14])
for _, k in ipairs({h, w, t, c, ip, ua, tp, asn, pfx, pair, res, ses}) do
  redis.call('EXPIRE', k, ttl)
end
local counts = {}  -- the distinct counts, here rather than eight more pipelined commands
for i = 5, 12 do counts[#counts + 1] = redis.call('PFCOUNT', KEYS[i]) end
return counts
"""

_TOKEN_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1]); local burst = tonumber(ARGV[2]); local now = tonumber(ARGV[3])
local v = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(v[1]) or burst
local last = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', key, math.ceil(burst / rate) + 60)
return ok
"""


class RedisState:
    """Shared state in Redis (``redis://host:port/db``): several replicas see one account."""

    kind = "redis"

    def __init__(
        self,
        url: str,
        window_s: int = 3600,
        bucket_s: int = 60,
        hit_threshold: float = 0.5,
        prefix: str = "dg:",
        ttl_s: int = 7 * 86400,
    ) -> None:
        import redis

        self.window_s, self.bucket_s, self.hit_threshold = window_s, bucket_s, hit_threshold
        self.prefix, self.ttl_s = prefix, ttl_s
        self.url = url
        self.r = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.r.ping()
        self._observe = self.r.register_script(_OBSERVE_LUA)
        self._token = self.r.register_script(_TOKEN_LUA)

    def _keys(self, account_id: str) -> list[str]:
        p = self.prefix
        return [
            f"{p}a:{account_id}",
            f"{p}w:{account_id}",
            f"{p}t:{account_id}",
            f"{p}c:{account_id}",
            f"{p}ip:{account_id}",
            f"{p}ua:{account_id}",
            f"{p}tp:{account_id}",
            f"{p}asn:{account_id}",
            f"{p}pfx:{account_id}",
            f"{p}pair:{account_id}",
            f"{p}res:{account_id}",
            f"{p}ses:{account_id}",
        ]

    def observe(self, account_id: str, x: Mapping[str, Any]) -> dict[str, float]:
        ts = int(x["ts_ms"])
        sigs = [float(x.get("sig_" + s) or 0.0) for s in SIGNALS]
        r = x.get("reasoning")
        reasoning = int(
            (x.get("reasoning_tokens") or 0) > 0
            or (
                r is not None
                and str(r).lower() not in ("", "none", "0", "off", "false", "disabled")
            )
        )
        share = float(x.get("template_attack_share") or 0.0)
        tpl = x.get("template")
        ip, ua = x.get("ip") or None, x.get("user_agent") or None
        kind, sid = x.get("ip_kind"), x.get("session_id")
        args = [
            ts,
            ts // 1000 // self.bucket_s,
            self.window_s // self.bucket_s,
            "" if tpl is None else str(tpl),
            x.get("capability") or "other",
            x.get("ip") or "",
            x.get("user_agent") or "",
            ",".join(s for s, v in zip(SIGNALS, sigs, strict=True) if v >= self.hit_threshold),
            repr(max(sigs)),
            reasoning,
            int((x.get("n_user_turns") or 1) > 1),
            int(share >= 0.5),
            repr(share),
            self.ttl_s,
            16,
            ts // HOUR_MS,
            ts // DAY_MS,
            (ts // HOUR_MS) % 24,
            int(x.get("n_user_turns") or 1),
            str(x.get("ip_kind") or ""),
            str(x.get("asn") or ""),
            str(x.get("prefix") or ""),
            int(x.get("input_tokens") or 0),
            int(x.get("output_tokens") or 0),
            int(bool(x.get("campaign_template"))),
            int(bool(x.get("pivot_window"))),
            int(bool(x.get("pivot_new"))),
            "1" if x.get("new_model") else "0",
            "" if ip is None else format(_h64(str(ip)), "x"),
            "" if ua is None else format(_h64(str(ua)), "x"),
            f"{ip}|{ua}" if ip is not None and ua is not None else "",
            int(ip is not None and bool(kind)),
            str(x.get("prefix") or "") if ip is not None and kind == "residential" else "",
            "" if sid is None else str(sid),
            ",".join(
                r
                for r, v in zip(
                    _COHORT_RAW,
                    request_cohort_counts(x.get("access_route"), x.get("user_agent")),
                    strict=True,
                )
                if v
            ),
        ]
        keys = self._keys(account_id)
        pipe = self.r.pipeline(transaction=False)
        self._observe(keys=keys, args=args, client=pipe)
        self._read(pipe, keys, counts=False)
        res = pipe.execute()
        return derive_features(self._raw([*res[1:5], *res[0]], ts), self.window_s)

    def _read(self, pipe: Any, keys: list[str], counts: bool = True) -> None:
        pipe.hgetall(keys[0])
        pipe.hgetall(keys[1])
        pipe.hgetall(keys[2])
        pipe.hgetall(keys[3])
        if counts:  # the observe script returns them itself
            for k in keys[4:]:
                pipe.pfcount(k)

    def _raw(self, res: list[Any], now_ms: int) -> dict[str, float]:
        h = {k.decode(): float(v) for k, v in res[0].items() if not k.startswith(b"prev_")}
        lo = now_ms // 1000 // self.bucket_s - self.window_s // self.bucket_s + 1
        n_window = sum(int(v) for k, v in res[1].items() if int(k) >= lo)

        def share(d: dict) -> float:
            d = {k.decode(): int(v) for k, v in d.items()}
            n = d.pop("__n", 0)
            return max(d.values()) / n if n and d else 0.0

        raw = {
            k: h.get(k, 0.0)
            for k in (
                "n",
                "hits",
                *(f"h_{s}" for s in SIGNALS),
                "sum_harvest",
                "reasoning",
                "multi_turn",
                "atpl",
                "atpl_max",
                "gap_n",
                "gap_mean",
                "gap_m2",
                "n_events",
                "n_errors",
                "in_tokens",
                "out_tokens",
                "sum_turns",
                "active_hours",
                "active_days",
                "intel_n",
                "req_in",
                "req_out",
                "campaign",
                "pivot_window",
                "pivot_new",
                "ip_cmp",
                "ip_sw",
                "ua_cmp",
                "ua_sw",
                "ipua_n",
                "kind_n",
                *(f"hod_{i}" for i in range(24)),
                *(f"k_{k}" for k in IP_KINDS),
                *_COHORT_RAW,
            )
        }
        raw.update(
            first=h.get("first", now_ms),
            last=h.get("last", now_ms),
            n_window=n_window,
            distinct_ips=res[4],
            distinct_uas=res[5],
            first_new=h.get("first_new", math.nan),
            distinct_templates=res[6],
            distinct_asns=res[7],
            distinct_prefixes=res[8],
            distinct_pairs=res[9],
            distinct_res_prefixes=res[10],
            distinct_sessions=res[11],
            template_share=share(res[2]),
            capability_share=share(res[3]),
        )
        return raw

    def peek(self, account_id: str, now_ms: int) -> dict[str, float] | None:
        keys = self._keys(account_id)
        pipe = self.r.pipeline(transaction=False)
        self._read(pipe, keys)
        res = pipe.execute()
        if not res[0]:
            return None
        return derive_features(self._raw(res, now_ms), self.window_s)

    def learn_events(self, events: list[Mapping[str, Any]]) -> int:
        pipe = self.r.pipeline(transaction=False)
        for ev in events:
            key = f"{self.prefix}a:{ev['account_id']}"
            pipe.hincrby(key, "n_events", 1)
            pipe.hincrby(key, "in_tokens", int(ev.get("input_tokens") or 0))
            pipe.hincrby(key, "out_tokens", int(ev.get("output_tokens") or 0))
            status = ev.get("status")
            pipe.hincrby(key, "n_errors", int(status is not None and int(status) >= 400))
        pipe.execute()
        return len(events)

    def take_token(self, key: str, rate: float, burst: float, now_s: float) -> bool:
        return bool(self._token(keys=[f"{self.prefix}tb:{key}"], args=[rate, burst, repr(now_s)]))

    def n_accounts(self) -> int:
        return sum(1 for _ in self.r.scan_iter(match=f"{self.prefix}a:*", count=1000))

    def memory_bytes(self, sample: int = 200) -> int:
        """Estimated bytes in Redis for all account keys (MEMORY USAGE of a sample, scaled)."""
        keys = list(self.r.scan_iter(match=f"{self.prefix}a:*", count=1000))
        if not keys:
            return 0
        part = keys[:: max(1, len(keys) // sample)]
        per = 0
        for k in part:
            acct = k.decode()[len(self.prefix) + 2 :]
            per += sum(self.r.memory_usage(x) or 0 for x in self._keys(acct))
        return int(per / len(part) * len(keys))

    def clear(self) -> None:
        for k in self.r.scan_iter(match=f"{self.prefix}*", count=1000):
            self.r.delete(k)


def make_state(
    spec: str, window_s: int = 3600, bucket_s: int = 60, hit_threshold: float = 0.5
) -> MemoryState | RedisState:
    """``memory`` or ``redis://host:port/db`` → a state store."""
    from ..errors import InvalidParameterError

    if spec in ("memory", "", None):
        return MemoryState(window_s, bucket_s, hit_threshold)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        try:
            return RedisState(spec, window_s, bucket_s, hit_threshold)
        except Exception as exc:  # connection refused, bad URL: one clear line
            raise InvalidParameterError(f"--state {spec}: cannot connect to Redis: {exc}") from exc
    raise InvalidParameterError(f"--state must be 'memory' or a redis:// URL; got {spec!r}")
