"""Which organisation an account belongs to, online: a trusted source's, never a claim's.

A request's ``org_id`` (the contract field, ``X-Org-Id``) is written by whoever sends it, and
``online.allow_orgs`` waves an allow-listed organisation's requests through: any account that
names an allow-listed org would pass. An organisation counts online only from

1. **the account table** (``account_meta`` of the batch store, the operator's own records, as
   batch reads it): for an account the table lists, its org there and nothing else. A request
   that claims another org is ignored for the allow-list and linkage, counted in
   ``distillguard_org_claims_total{result="mismatch"}`` and audited once per account, claim
   and table org (``org_claim_ignored``: "claimed org X, the account table says Y");
2. **a trusted org source**, for an account the table does not list yet (signed up since the
   last batch run): a gateway integration configured as one (``LocalGuard(...,
   trusted_org_source=True)``, the LiteLLM guardrail, whose org is the virtual key's) marks
   the rows it hands over (``ORG_TRUSTED``, set after validation: a record field of that name
   lands in ``extra``). Any other claim for an unlisted account counts nothing
   (``result="unlisted"``; audited when it names an allow-listed org: that is the attempt).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

ORG_TRUSTED = "org_trusted"  # row key set by a trusted org source (never from a record)
_SEEN_MAX = 100_000  # audited claims remembered per results load (bounded)


class OrgSource:
    """The trusted organisation of each account, for one scorer."""

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer
        self._audited: OrderedDict[tuple[str, str, str | None], None] = OrderedDict()
        self._table: object = None  # the org table the audited claims were checked against

    def trusted(
        self, account_id: str, claimed: Any, from_trusted_source: bool = False
    ) -> str | None:
        """The account's organisation: the account table's when it lists the account (None
        when it lists no org), else the claim when a trusted org source made it, else None."""
        listed = self.scorer.cache.orgs.get(account_id)
        if listed is not None:
            return listed or None
        return str(claimed) if claimed and from_trusted_source else None

    def of_row(self, row: Mapping[str, Any]) -> str | None:
        """:meth:`trusted` for a normalised row; a claim it does not back is counted and,
        when a reviewer should see it, audited."""
        acct, claimed = str(row["account_id"]), row.get("org_id")
        org = self.trusted(acct, claimed, bool(row.get(ORG_TRUSTED)))
        if claimed and str(claimed) != org:
            self._ignored(row, acct, str(claimed))
        return org

    def _ignored(self, row: Mapping[str, Any], acct: str, claimed: str) -> None:
        listed = self.scorer.cache.orgs.get(acct)
        result = "unlisted" if listed is None else "mismatch"
        self.scorer.metrics.counter(
            "distillguard_org_claims_total",
            "requests whose org_id no trusted source backs (ignored)",
            result=result,
        )
        if result == "unlisted" and claimed not in self.scorer.policy.online.allow_orgs:
            return  # an ordinary claim before the table lists the account: nothing to review
        if self._table is not self.scorer.cache.orgs:  # a new table: claims are news again
            self._audited.clear()
            self._table = self.scorer.cache.orgs
        key = (acct, claimed, listed)
        if key in self._audited:
            return
        self._audited[key] = None
        if len(self._audited) > _SEEN_MAX:
            self._audited.popitem(last=False)
        says = "does not list the account" if listed is None else f"says {listed or 'no org'!r}"
        self.scorer._append_audit(
            "org_claim_ignored",
            "account",
            acct,
            actor="policy",
            reason=f"claimed org {claimed!r}, the account table {says}: the claim counts "
            "for nothing (allow-list, linkage)",
            policy_version=self.scorer.policy.version,
            extra={
                "request_id": row.get("request_id"),
                "claimed_org": claimed,
                "table_org": listed,
                "allow_listed": claimed in self.scorer.policy.online.allow_orgs,
            },
        )
