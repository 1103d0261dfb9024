"""Sign-up risk: one score per new account, from what is known at creation.

River's loop (STYLE.md): :meth:`SignupScorer.score_one` scores a sign-up against the state of
earlier sign-ups, then :meth:`learn_one` adds it; :meth:`mark_flagged` tells the state which
accounts detection later flagged. Batch scoring replays an account table in ``created_at``
order through the same two calls, so every batch score could have been produced live.

Evidence (strengths in [0, 1]; ``risk = sigmoid(bias + sum(weight * strength))``):

- ``abused_route``: education, research or startup programme (credits attackers farm);
- ``weak_verification``: none 1, e-mail 0.5, phone 0.2; ``strong_verification`` (id, business)
  lowers the risk;
- ``disposable_domain``: the e-mail domain is on the ``disposable-email-domains`` blocklist;
- ``new_domain``: no earlier account used the domain;
- ``domain_burst`` / ``card_burst`` / ``prefix_burst`` / ``cohort_burst``: other sign-ups in the
  last ``window_hours`` from the same uncommon domain, card, IP /24, or (country, route):
  campaigns open accounts in waves;
- ``card_reuse``: the payment fingerprint already pays for other accounts;
- ``flagged_card`` / ``flagged_domain``: shared with accounts detection flagged (similarity to
  known clusters);
- ``risky_ip``: the sign-up IP is data-centre, VPN, Tor or proxy (when the sign-up carries one).
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from ..accounts._base import Estimator, check_range
from ..scoring.catalog import ABUSED_ROUTES

# Route, verification and card weights: a logistic fit on the sign-ups of tiny random worlds
# 1-4 (seeds never used for the figures in BENCHMARKS.md), rounded; strong verification kept
# at a negative prior (it can only lower risk). Evidence the simulated account tables never
# carry (disposable domains, sign-up IPs, known clusters) keeps the hand-set prior.
WEIGHTS: dict[str, float] = {
    "abused_route": 1.8,
    "weak_verification": 2.1,
    "strong_verification": -1.0,
    "disposable_domain": 2.5,
    "new_domain": 0.3,
    "domain_burst": 1.5,
    "card_burst": 1.5,
    "prefix_burst": 1.5,
    "cohort_burst": 0.5,
    "card_reuse": 1.5,
    "flagged_card": 4.0,
    "flagged_domain": 2.5,
    "risky_ip": 1.5,
}
LABELS: dict[str, str] = {
    "abused_route": "signed up on an often-abused route",
    "weak_verification": "weak verification",
    "strong_verification": "strong verification",
    "disposable_domain": "disposable e-mail domain",
    "new_domain": "e-mail domain never seen before",
    "domain_burst": "a wave of sign-ups from the same e-mail domain",
    "card_burst": "a wave of sign-ups paying with the same card",
    "prefix_burst": "a wave of sign-ups from the same IP /24",
    "cohort_burst": "a wave of sign-ups from the same country on the same route",
    "card_reuse": "payment method already pays for other accounts",
    "flagged_card": "payment method shared with flagged accounts",
    "flagged_domain": "e-mail domain shared with flagged accounts",
    "risky_ip": "signed up from a data-centre, VPN, Tor or proxy address",
}
VERIFICATION_WEAKNESS = {"none": 1.0, "": 1.0, "email": 0.5, "phone": 0.2}
RISKY_IP_KINDS = {"datacenter": 0.7, "vpn": 1.0, "tor": 1.0, "proxy": 1.0}


@dataclass
class SignupRisk:
    """A sign-up's risk, its evidence strengths and the reasons a reviewer reads."""

    account_id: str
    risk: float
    strengths: dict[str, float]
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "risk": round(self.risk, 4),
                "reasons": self.reasons,
                "evidence": {k: round(v, 3) for k, v in self.strengths.items() if v}}


@functools.lru_cache(maxsize=1)
def _disposable() -> frozenset[str]:
    """The disposable-email-domains blocklist (empty without the ``signup`` extra)."""
    try:
        from disposable_email_domains import blocklist
    except ImportError:
        return frozenset()
    return frozenset(blocklist)


def _burst(n_recent: int, start: int = 1, full: int = 4) -> float:
    """0 below ``start`` other recent sign-ups, 1 from ``full``."""
    return min(1.0, max(0.0, (n_recent - start + 1) / (full - start + 1)))


class SignupScorer(Estimator):
    """Online sign-up risk (see the module doc).

    Parameters
    ----------
    bias : log-odds of a sign-up with no evidence.
    weights : evidence → log-odds at full strength; ``None`` means ``WEIGHTS``.
    window_hours : how far back a wave of sign-ups is counted.
    popular_domain_share : a domain used by more than this share of accounts (once at least
        ``popular_min_accounts`` exist) is a mail provider, not a signal, for bursts.
    """

    def __init__(
        self,
        bias: float = -4.0,
        weights: dict[str, float] | None = None,
        window_hours: float = 24.0,
        popular_domain_share: float = 0.01,
        popular_min_accounts: int = 200,
    ) -> None:
        self.bias = bias
        self.weights = weights
        self.window_hours = window_hours
        self.popular_domain_share = popular_domain_share
        self.popular_min_accounts = popular_min_accounts

    def reset(self) -> SignupScorer:
        """Empty state (what ``fit`` starts from)."""
        check_range(self, "window_hours", self.window_hours, 0.01, None)
        self.weights_ = {**WEIGHTS, **(self.weights or {})}
        self.n_ = 0
        self.domain_count_: dict[str, int] = defaultdict(int)
        self.card_accounts_: dict[str, set[str]] = defaultdict(set)
        self.recent_: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.flagged_: set[str] = set()
        self.flagged_cards_: set[str] = set()
        self.flagged_domains_: dict[str, int] = defaultdict(int)
        self.owner_: dict[str, tuple[str, str]] = {}  # account → (domain, card)
        return self

    def fit(self, accounts: list[dict], flagged: set[str] | None = None) -> SignupScorer:
        """Learn every account of a table (``created_ms`` order), then the flagged ones."""
        self.reset()
        for acc in sorted(accounts, key=lambda a: a.get("created_ms") or 0):
            self.learn_one(acc)
        for a in flagged or ():
            self.mark_flagged(a)
        return self

    def _keys(self, acc: dict) -> dict[str, str]:
        domain = str(acc.get("email_domain") or "").strip().lower()
        ip = str(acc.get("ip") or "")
        return {
            "domain": domain,
            "card": str(acc.get("payment_fingerprint") or ""),
            "prefix": ip.rsplit(".", 1)[0] if ip.count(".") == 3 else "",
            "cohort": f"{acc['country']}|{acc.get('signup_route') or ''}" if acc.get("country") else "",
        }

    def _popular(self, domain: str) -> bool:
        return (self.n_ >= self.popular_min_accounts
                and self.domain_count_[domain] > self.popular_domain_share * self.n_)

    def _recent(self, now_ms: float, keys: dict[str, str]) -> dict[str, int]:
        """Other sign-ups inside the window sharing each key (one deque per key value, so a
        sign-up costs O(1) amortised however busy the window is)."""
        horizon = now_ms - self.window_hours * 3_600_000
        counts = {}
        for k, v in keys.items():
            times = self.recent_.get((k, v)) if v else None
            while times and times[0] < horizon:
                times.popleft()
            counts[k] = sum(1 for t in times if t <= now_ms) if times else 0
        return counts

    def strengths(self, acc: dict) -> dict[str, float]:
        """Every evidence strength of one sign-up against the current state."""
        self._check_fitted("weights_")
        keys = self._keys(acc)
        domain, card = keys["domain"], keys["card"]
        recent = self._recent(float(acc.get("created_ms") or 0), keys)
        verification = str(acc.get("verification") or "").lower()
        blocklist = _disposable()
        domain_n = self.domain_count_.get(domain, 0)
        return {
            "abused_route": float(str(acc.get("signup_route") or "") in ABUSED_ROUTES),
            "weak_verification": VERIFICATION_WEAKNESS.get(verification, 0.0),
            "strong_verification": float(verification in ("id", "business")),
            "disposable_domain": float(bool(domain) and domain in blocklist),
            "new_domain": float(bool(domain) and domain_n == 0 and self.n_ > 0),
            "domain_burst": 0.0 if not domain or self._popular(domain) else _burst(recent["domain"], 2),
            "card_burst": _burst(recent["card"]) if card else 0.0,
            "prefix_burst": _burst(recent["prefix"], 2) if keys["prefix"] else 0.0,
            "cohort_burst": _burst(recent["cohort"], 3, 8) if keys["cohort"] else 0.0,
            "card_reuse": min(1.0, len(self.card_accounts_.get(card, ())) / 2) if card else 0.0,
            "flagged_card": float(bool(card) and card in self.flagged_cards_),
            "flagged_domain": float(bool(domain) and not self._popular(domain)
                                    and self.flagged_domains_.get(domain, 0) >= 2),
            "risky_ip": RISKY_IP_KINDS.get(str(acc.get("ip_kind") or ""), 0.0),
        }

    def score_one(self, acc: dict) -> SignupRisk:
        """The sign-up's risk against what was known before it (does not learn it)."""
        s = self.strengths(acc)
        z = self.bias + sum(self.weights_.get(k, 0.0) * v for k, v in s.items())
        risk = 1.0 / (1.0 + math.exp(-z))
        top = sorted((k for k in s if s[k] > 0 and self.weights_.get(k, 0) > 0),
                     key=lambda k: -self.weights_[k] * s[k])[:3]
        return SignupRisk(str(acc.get("account_id") or ""), risk, s, [LABELS[k] for k in top])

    def learn_one(self, acc: dict) -> SignupScorer:
        """Add a sign-up to the state."""
        self._check_fitted("weights_")
        keys = self._keys(acc)
        aid = str(acc.get("account_id") or "")
        self.n_ += 1
        if keys["domain"]:
            self.domain_count_[keys["domain"]] += 1
        if keys["card"]:
            self.card_accounts_[keys["card"]].add(aid)
        ts = float(acc.get("created_ms") or 0)
        for k, v in keys.items():
            if v:
                self.recent_[(k, v)].append(ts)
        self.owner_[aid] = (keys["domain"], keys["card"])
        if aid in self.flagged_:
            self._flag_keys(aid)
        return self

    def mark_flagged(self, account_id: str) -> SignupScorer:
        """Detection flagged this account: its card and domain now count against others."""
        self._check_fitted("weights_")
        if account_id not in self.flagged_:
            self.flagged_.add(account_id)
            if account_id in self.owner_:
                self._flag_keys(account_id)
        return self

    def _flag_keys(self, account_id: str) -> None:
        domain, card = self.owner_[account_id]
        if card:
            self.flagged_cards_.add(card)
        if domain:
            self.flagged_domains_[domain] += 1

    def score_history(self, accounts: list[dict]) -> list[SignupRisk]:
        """Score then learn each account in ``created_ms`` order (the batch column)."""
        self.reset()
        out = []
        for acc in sorted(accounts, key=lambda a: a.get("created_ms") or 0):
            out.append(self.score_one(acc))
            self.learn_one(acc)
        return out


# Per route: (risk from which to step up verification, risk from which to send to manual
# review). The routes attackers farm for credits get stricter defaults. The policy's
# ``signup.route_thresholds`` (signup/policy.py) overrides them.
ROUTE_THRESHOLDS: dict[str, tuple[float, float]] = {
    "standard": (0.5, 0.85),
    "enterprise": (0.6, 0.9),
    "education": (0.3, 0.7),
    "research": (0.3, 0.7),
    "startup": (0.3, 0.7),
}


def route_action(route: str, risk: float, thresholds: dict | None = None) -> str:
    """allow, step_up or manual_review for a sign-up on ``route``."""
    table = thresholds or ROUTE_THRESHOLDS
    step_up, review = table.get(route, table["standard"])
    if risk >= review:
        return "manual_review"
    return "step_up" if risk >= step_up else "allow"


def signup_table(accounts: list[dict], thresholds: dict | None = None) -> list[dict]:
    """The batch form: every account scored at its sign-up (prequential), with its action."""
    out = []
    route = {a.get("account_id"): str(a.get("signup_route") or "standard") for a in accounts}
    for res in SignupScorer().score_history(accounts):
        r = route.get(res.account_id, "standard")
        out.append({"account_id": res.account_id, "signup_route": r, "signup_risk": res.risk,
                    "signup_action": route_action(r, res.risk, thresholds),
                    "signup_reasons": "; ".join(res.reasons)})
    return out
