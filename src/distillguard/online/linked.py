"""The scorer's hooks into the linkage index, and enforcement without a decision boundary.

:class:`LinkedEnforcement` is what :class:`~distillguard.online.scorer.OnlineScorer` calls:

- :meth:`~LinkedEnforcement.add_features` — the account's linked-cluster risk (jittered per
  cluster) joins ``account_risk``; the linked key becomes the account's cluster when the batch
  path gave it none, so cluster-scope rules budget the whole linked cluster at once;
- :meth:`~LinkedEnforcement.hold` — an account-level action (rate_limit, challenge, block)
  starts only after a keyed, per-subject delay; meanwhile the subject is silently degraded,
  so the action does not reveal which request crossed the line. Degrades are silent when the
  policy says so (``params.silent``: the gateway adds no marker);
- :meth:`~LinkedEnforcement.learn` — every restrictive decision flags the account on all its
  keys, which is what lends risk to the next fresh account on them.

Every delay is audited when it is scheduled; an appeal (:meth:`~LinkedEnforcement.forget`)
drops the account's flags and pending delays along with its actions.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ..evidence import Evidence
from .linkage import LinkSettings, delay_ms, jitter, make_linkage
from .orgs import ORG_TRUSTED

ACCOUNT_ACTIONS = frozenset({"rate_limit", "challenge", "block"})
FLAG_WEIGHT = {"degrade": 0.2, "rate_limit": 0.6, "challenge": 1.0, "block": 1.0}
ENV_SECRET = "DISTILLGUARD_LINKAGE_SECRET"
# Rules on these features act on offline verdicts, not on what the caller just sent.
BATCH_FEATURES = frozenset({"verdict", "batch_risk", "cluster_verdict", "cluster_risk"})
LINK_FEATURES = frozenset(
    {
        "linked_risk",
        "linked_sender_risk",
        "linked_identity_risk",
        "linked_accounts",
        "linked_flagged",
        "job_pressure",
    }
)

# Rules on these features act on evidence that says nothing new about who sends: a linked
# cluster's risk (inherited), or how much the account harvests (the heaviest benign customers
# harvest as much; flagging them would lend risk to everyone on their SDK defaults).
NOT_EVIDENCE = LINK_FEATURES | {"harvest_pressure"}


def _inherited(name: str | None, rules: list[Any]) -> bool:
    """True for a rule whose action is no new evidence about the sender (see NOT_EVIDENCE)."""
    rule = next((r for r in rules if r.name == name), None)
    return rule is not None and any(f in NOT_EVIDENCE for f, _, _ in rule.conditions)


def _online_rule(name: str | None, rules: list[Any]) -> bool:
    """True for a policy rule that reads online evidence only (its actions are delayed)."""
    rule = next((r for r in rules if r.name == name), None)
    return rule is not None and not any(f in BATCH_FEATURES for f, _, _ in rule.conditions)


class LinkedEnforcement:
    """Linkage index + jitter + delayed, silent enforcement for one scorer."""

    def __init__(self, scorer: Any, state: str, secret: bytes | None = None) -> None:
        self.scorer = scorer
        cfg = scorer.policy.policy.linkage
        self.index = make_linkage(state, self._settings(cfg))
        # A secret the attacker cannot compute the jitter and delays from.
        env = os.environ.get(ENV_SECRET)
        self.secret = secret or (env.encode() if env else os.urandom(32))
        self._due: OrderedDict[str, int] = OrderedDict()

    def _settings(self, cfg: Any) -> LinkSettings:
        return LinkSettings(
            lend_min_risk=self.scorer.policy.policy.scoring.review_threshold,
            window_s=cfg.window_s,
            flag_ttl_s=cfg.flag_ttl_s,
            max_keys=cfg.max_keys,
            max_members=cfg.max_members,
            crowd=cfg.crowd,
            job_floor=cfg.job_floor,
            job_quantile=cfg.job_quantile,
            job_min_accounts=cfg.job_min_accounts,
            floor_memory_s=cfg.floor_memory_s,
            lone_quantile=cfg.lone_quantile,
        )

    @property
    def cfg(self) -> Any:
        return self.scorer.policy.policy.linkage

    def add_features(
        self, row: Mapping[str, Any], features: dict[str, Any], ev: list[Evidence]
    ) -> None:
        """Linked risk into the features (and account_risk, risk, cluster_id)."""
        cfg = self.cfg
        features.update(dict.fromkeys(LINK_FEATURES, 0.0), harvest_pressure=0.0)
        if not cfg.enabled:
            return
        owners = self.scorer.cache.owners
        view = self.index.observe(row, self._lendable(row, features), self.owner(row), owners)
        # The account's own evidence (not inherited): how far its harvest-like volume, in this
        # window and the one before, exceeds what the deployment's heaviest accounts carry
        # (JobFloor.ceiling; LinkView.own_pressure).
        features["harvest_pressure"] = view.own_pressure
        jit = jitter(self.secret, view.key, cfg.jitter)
        risk = min(1.0, view.risk * jit)
        features.update(
            linked_risk=risk,
            linked_sender_risk=min(1.0, view.sender_risk * jit),
            linked_identity_risk=min(1.0, view.identity_risk * jit),
            linked_accounts=float(view.accounts),
            linked_flagged=float(view.flagged),
            job_pressure=view.job,
        )
        if risk <= 0:
            return
        ev.append(Evidence("linked:cluster", round(risk, 4), view.reasons[0]))
        account_risk = max(float(features["account_risk"]), risk)
        features["account_risk"] = account_risk
        features["risk"] = 1.0 - (1.0 - account_risk) * (1.0 - 0.5 * features["request_risk"])
        if features.get("cluster_id") is None and risk >= cfg.cluster_min_risk:
            features["cluster_id"] = "link:" + str(view.key)

    def owner(self, row: Mapping[str, Any]) -> str:
        """Whom the account pools with on a shared key: the owner batch gave the account from
        the operator's account table (a verified org, else itself: ``VerdictCache.owner``);
        for an account the table does not list, the org a trusted org source gave
        (``OrgSource``: a gateway that authenticates it) when the policy allow-lists that org,
        or the request's claim while no account table is loaded at all (nothing else says who
        owns what: ignoring it then made a vendor's accounts lend each other risk,
        docs/ONLINE.md); else the account itself, since an org any sign-up can claim would let
        a ring erase its own links (as batch, ACCOUNT_OWNER)."""
        acct, claimed = str(row["account_id"]), row.get("org_id")
        cache = self.scorer.cache
        known = cache.owner(acct)
        if known is not None:
            return known
        org = self.scorer.orgs.trusted(acct, claimed, bool(row.get(ORG_TRUSTED)))
        if org and org in self.scorer.policy.online.allow_orgs:
            return f"org:{org}"
        return f"org:{claimed}" if claimed and not cache.owners else acct

    def _lendable(self, row: Mapping[str, Any], features: Mapping[str, Any]) -> float:
        """The account's own online risk, lent on its sender keys; none once an analyst
        allow-listed it (an appeal reverses what it lends too) or its trusted org is."""
        on, acct = self.scorer.policy.online, row["account_id"]
        org = features.get("org_id")  # the trusted org (OrgSource), not the claimed one
        if acct in self.scorer._allowed or acct in on.allow_accounts or org in on.allow_orgs:
            return 0.0
        return float(features.get("online_risk") or 0.0)

    def hold(self, d: Any, row: Mapping[str, Any], action: str, subject: str) -> str:
        """The action to enforce now: account-level ones wait out their subject's delay."""
        cfg = self.cfg
        if action == "degrade" and cfg.silent_degrade:
            d.params["silent"] = True
        if action not in ACCOUNT_ACTIONS or subject.startswith("request:") or cfg.delay_max_s <= 0:
            return action
        now = int(row["ts_ms"])
        due = self._due.get(subject)
        if due is None and not _online_rule(d.rule, self.scorer.policy.rules):
            return action  # batch verdicts and analysts' actions reveal nothing: act now
        if due is None:
            due = now + delay_ms(self.secret, subject, cfg.delay_min_s, cfg.delay_max_s)
            self._remember(subject, due)
            self._audit_delay(d, subject, action, due)
        if now >= due:
            return action
        d.params.update(delayed=action, silent=True)
        d.reasons = [f"{action} scheduled for this subject; degraded until it starts"] + d.reasons
        return "degrade"

    def _remember(self, subject: str, due: int) -> None:
        self._due[subject] = due
        if len(self._due) > 200_000:
            self._due.popitem(last=False)

    def _audit_delay(self, d: Any, subject: str, action: str, due: int) -> None:
        kind, _, sid = subject.partition(":")
        self.scorer._append_audit(
            "delayed:" + action,
            kind,
            sid,
            actor="policy",
            reason=f"rule {d.rule}: {action} starts at ts {due} (delayed enforcement)",
            rule=d.rule,
            policy_version=self.scorer.policy.version,
            extra={"request_id": d.request_id, "account_id": d.account_id, "due_ts_ms": due},
        )

    def learn(self, d: Any, row: Mapping[str, Any]) -> None:
        """A restrictive decision flags the account on every key it used."""
        act = d.would_action or d.action
        w = FLAG_WEIGHT.get(act, 0.0)
        if w <= 0 or not self.cfg.enabled or _inherited(d.rule, self.scorer.policy.rules):
            return  # inherited risk is not evidence: it must never grow its own cluster
        self.index.flag(d.account_id, w, int(row["ts_ms"]), repeat=act == "degrade")

    def forget(self, account_id: str) -> None:
        """An appeal: the account lends no more risk and has no pending delay."""
        self.index.unflag(account_id)
        for key in [k for k in self._due if k.endswith(":" + account_id)]:
            del self._due[key]
