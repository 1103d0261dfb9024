"""Circle links: a careful campaign's account at ``review`` joins its fellows at ``attack``
through the private harvest wordings they share.

A careful campaign shares no sender (each account its own card, home line and browser), so
the graph's clusters and the sender-link rule never reach it: its accounts spread over a
dozen wordings and follow-ups, each edge too light to bind. What they do share is content a
solo honest user cannot produce: harvest requests on wordings a few *unaffiliated* accounts
use (the harvest circle, :mod:`.harvest_circle`), and those accounts are suspects on their
own evidence. So a wording links when

- it is a circle template (k ≥ 2 accounts from g ≥ 2 unaffiliated groups, k² at most the
  deployment's accounts: the ``circle_templates`` table of the harvest-circle unit);
- at least half of *all* its accounts are flagged (``review`` or ``attack``) and one is at
  ``attack``, by their own evidence: a wording copied from a public campaign is mostly used
  by honest people, who are not flagged, so it links no one (the reason sender links never
  pass on wording alone);

and an account at ``review`` sent at least ``MIN_HARVEST`` harvest requests on linking
wordings: it is raised to the attack line, as a sender link raises a cluster member. An
honest user's one borrowed phrasing does not link; a campaign account repeats its wordings.
One GROUP BY per (template, account) in SQL, then a pass over the rows it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..contract import HARVEST_SIGNALS
from ..engines.base import Engine

# One harvest request on a shared wording is a coincidence anyone can produce (a phrasing
# met once); two are a habit. The smallest count that is not a single event, not a fit.
MIN_HARVEST = 2
KEY_KIND = "harvest_circle"
LABEL = "sends harvest requests on private wordings it shares with unaffiliated suspects"

_HIT = " + ".join(f"hit_{s}" for s in HARVEST_SIGNALS)

# Per (circle template, account): the account's harvest requests on it and the template's
# accounts (all users, harvest or not).
CIRCLE_LINK_ROWS = f"""
SELECT r.template AS template, r.account_id AS account_id,
  sum(CASE WHEN {_HIT} > 0 THEN 1 ELSE 0 END) AS n_harvest, max(c.accts) AS accts
FROM request_keys r
JOIN circle_templates c ON r.template = c.template
CROSS JOIN (SELECT count(*) AS n FROM circle_groups) g
WHERE c.accts >= 2 AND c.groups_ >= 2 AND c.accts * c.accts <= g.n
GROUP BY r.template, r.account_id
"""


@dataclass
class CircleLink:
    """An account's link to flagged accounts of its harvest circle (the fields of
    ``scoring.analyze.SenderLink``, so ``inherit_attack`` and the reasons read it as one)."""

    cluster_id: str  # the circle, named after its riskiest account
    cluster_risk: float  # that account's own risk
    key_kind: str
    n_members: int  # accounts at attack on its linking wordings
    members: tuple[str, ...] = ()  # those accounts, riskiest first (the reviewer's refs)

    def reason(self) -> str:
        """The reason a reviewer reads first: why this account's verdict is attack."""
        who = "account" if self.n_members == 1 else "accounts"
        return (
            f"{LABEL}, with {self.n_members} {who} at attack "
            f"(riskiest {self.cluster_id}, risk {self.cluster_risk:.2f})"
        )


def link_accounts(
    rows: pa.Table,
    ids: list[str],
    risk: np.ndarray,
    review: float,
    attack: float,
    min_harvest: int = MIN_HARVEST,
) -> dict[int, CircleLink]:
    """Positions in ``ids`` of accounts at review linked by ``rows`` (``CIRCLE_LINK_ROWS``:
    template, account_id, n_harvest, accts), given each account's own ``risk``.

    Counted per template with ``bincount`` over the rows; only the few linked accounts' rows
    are walked in Python (for the fellows a reviewer is shown)."""
    risk = np.asarray(risk, float)
    at = pc.index_in(rows.column("account_id"), value_set=pa.array(ids, pa.string()))
    pos = np.asarray(at.to_numpy(zero_copy_only=False), float)
    rows = rows.filter(pa.array(~np.isnan(pos)))
    pos = pos[~np.isnan(pos)].astype(np.int64)
    if not len(pos):
        return {}
    tpl = pc.dictionary_encode(rows.column("template").combine_chunks())
    t = np.asarray(tpl.indices.to_numpy(zero_copy_only=False), np.int64)
    n = np.asarray(rows.column("n_harvest").to_numpy(zero_copy_only=False), float)
    r = risk[pos]
    flagged = np.bincount(t, weights=r >= review, minlength=len(tpl.dictionary))
    attackers = np.bincount(t, weights=r >= attack, minlength=len(tpl.dictionary))
    accts = np.zeros(len(tpl.dictionary))
    accts[t] = np.asarray(rows.column("accts").to_numpy(zero_copy_only=False), float)
    ok = (attackers > 0) & (2 * flagged >= accts)  # wordings that link: see the module doc
    cand = ok[t] & (n > 0) & (r >= review) & (r < attack)
    harvest = np.bincount(pos[cand], weights=n[cand], minlength=len(ids))
    on: dict[int, list[int]] = {}  # linking template → linked accounts on it
    for i, k in zip(pos[cand], t[cand], strict=True):
        if harvest[i] >= min_harvest:
            on.setdefault(int(k), []).append(int(i))
    fellows: dict[int, set[int]] = {}
    sel = np.isin(t, list(on)) & (r >= attack)
    for j, k in zip(pos[sel], t[sel], strict=True):  # the linking wordings' attackers
        for i in on[int(k)]:
            fellows.setdefault(i, set()).add(int(j))
    out = {}
    for i, fs in fellows.items():
        members = sorted(fs, key=lambda j: (-risk[j], ids[j]))
        out[i] = CircleLink(
            str(ids[members[0]]),
            float(risk[members[0]]),
            KEY_KIND,
            len(members),
            tuple(str(ids[j]) for j in members),
        )
    return out


def circle_links(
    engine: Engine, ids: pa.Array, risk: np.ndarray, review: float, attack: float
) -> dict[int, CircleLink]:
    """:func:`link_accounts` on the store's circle tables; ``{}`` when the harvest-circle unit
    did not run (no ``circle_templates``)."""
    if not (engine.has_table("circle_templates") and engine.has_table("circle_groups")):
        return {}
    rows = engine.fetch_arrow(CIRCLE_LINK_ROWS)
    return link_accounts(rows, ids.to_pylist(), np.asarray(risk, float), review, attack)
