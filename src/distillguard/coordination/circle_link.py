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
  ``attack`` and sent harvest requests on it, by their own evidence: a wording copied from a
  public campaign is mostly used by honest people, who are not flagged, so it links no one
  (the reason sender links never pass on wording alone);

and an account at ``review`` sent at least ``MIN_HARVEST`` harvest requests on linking
wordings: it is raised to the attack line, as a sender link raises a cluster member. An
honest user's one borrowed phrasing does not link; a campaign account repeats its wordings.

**Who used the wording first.** A wording does not link the owner that used it first (the
account's verified organisation, else the account: ``ACCOUNT_OWNER``): whoever uses it after
may have copied it, and an attacker that copies an honest customer's wording must not hand its
verdict to the customer it copied (bench-redteam tiny-105: eight red-team accounts sent a
labelling vendor's own rubric wording once each, two days after the vendor's first use, and
four of the vendor's accounts were blocked). A campaign loses one link per wording, its
first user's; its other accounts came later. That first user stays at ``review`` with a
reason naming the later users at ``attack`` (``held_reason``), so a reviewer sees the circle
it would have joined. And a fellow is of another owner (an organisation's accounts are one
owner, not unaffiliated suspects) that sent harvest requests on the wording itself: an
attacker's cover traffic copies honest people's prompts verbatim (tiny-112: "Download images
from s3 using python", sent once as cover by eight red-team accounts, linked a casual user
who had asked it with a request for step-by-step reasoning).
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
HELD_LABEL = "used first a private harvest wording that unaffiliated suspects sent after it"

_HIT = " + ".join(f"hit_{s}" for s in HARVEST_SIGNALS)

# Per (circle template, account): the account's harvest requests on it, the template's
# accounts (all users, harvest or not), when the account first used it and its owner.
CIRCLE_LINK_ROWS = f"""
SELECT r.template AS template, r.account_id AS account_id,
  sum(CASE WHEN {_HIT} > 0 THEN 1 ELSE 0 END) AS n_harvest, max(c.accts) AS accts,
  min(r.ts_ms) AS first_ts, max(o.org) AS owner
FROM request_keys r
JOIN circle_templates c ON r.template = c.template
JOIN circle_groups o ON r.account_id = o.account_id
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

    def held_reason(self) -> str:
        """Why an account this link would raise stays at review: it used the wording first."""
        who = "account" if self.n_members == 1 else "accounts"
        return (
            f"{HELD_LABEL}, {self.n_members} {who} at attack (riskiest {self.cluster_id}, "
            f"risk {self.cluster_risk:.2f}); not raised to attack: they may have copied it"
        )


def link_accounts(
    rows: pa.Table,
    ids: list[str],
    risk: np.ndarray,
    review: float,
    attack: float,
    min_harvest: int = MIN_HARVEST,
    first_user: bool = True,
) -> dict[int, CircleLink]:
    """Positions in ``ids`` of accounts at review linked by ``rows`` (``CIRCLE_LINK_ROWS``:
    template, account_id, n_harvest, accts, first_ts, owner), given each account's own
    ``risk``: not through a wording its owner used first (unless ``first_user`` is False:
    what that rule holds back), nor to a fellow of its owner.

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
    # a fellow harvests on the wording itself: cover prompts copied from honest users are
    # not a campaign's harvest wordings
    fellow = (r >= attack) & (n > 0)
    attackers = np.bincount(t, weights=fellow, minlength=len(tpl.dictionary))
    accts = np.zeros(len(tpl.dictionary))
    accts[t] = np.asarray(rows.column("accts").to_numpy(zero_copy_only=False), float)
    ok = (attackers > 0) & (2 * flagged >= accts)  # wordings that link: see the module doc
    first = np.asarray(rows.column("first_ts").to_numpy(zero_copy_only=False), float)
    own = pc.dictionary_encode(rows.column("owner").combine_chunks()).indices
    own = np.asarray(own.to_numpy(zero_copy_only=False), np.int64)
    owner_first = _owner_first(t, own, first)
    tpl_first = np.full(len(tpl.dictionary), np.inf)
    np.minimum.at(tpl_first, t, first)
    other = _other_suspect(t, own, fellow, len(tpl.dictionary))
    cand = ok[t] & (n > 0) & (r >= review) & (r < attack) & other
    if first_user:
        cand &= owner_first > tpl_first[t]  # not the wording's first user
    harvest = np.bincount(pos[cand], weights=n[cand], minlength=len(ids))
    on: dict[int, list[int]] = {}  # linking template → linked accounts on it
    owner_of = {}  # (template, linked account) → its owner
    for i, k, o in zip(pos[cand], t[cand], own[cand], strict=True):
        if harvest[i] >= min_harvest:
            on.setdefault(int(k), []).append(int(i))
            owner_of[(int(k), int(i))] = o
    fellows: dict[int, set[int]] = {}
    sel = np.isin(t, list(on)) & fellow
    for j, k, o in zip(pos[sel], t[sel], own[sel], strict=True):  # the wordings' attackers
        for i in on[int(k)]:
            if o != owner_of[(int(k), int(i))]:
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


def _owner_first(t: np.ndarray, own: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Per row: the earliest ``first`` of any row with the same template and owner."""
    pair = t * (int(np.max(own, initial=0)) + 1) + own
    uniq, inv = np.unique(pair, return_inverse=True)
    low = np.full(len(uniq), np.inf)
    np.minimum.at(low, inv, first)
    return low[inv]


def _other_suspect(t: np.ndarray, own: np.ndarray, suspect: np.ndarray, n_tpl: int) -> np.ndarray:
    """Per row: whether a ``suspect`` row of another owner is on its template (per template,
    how many suspects and how many of them are one owner's, without a loop)."""
    n_sus = np.bincount(t[suspect], minlength=n_tpl)
    pair = t * (int(np.max(own, initial=0)) + 1) + own
    uniq, inv = np.unique(pair, return_inverse=True)
    mine = np.bincount(inv, weights=suspect, minlength=len(uniq))[inv]
    return n_sus[t] > mine


def circle_links(
    engine: Engine, ids: pa.Array, risk: np.ndarray, review: float, attack: float
) -> dict[int, CircleLink]:
    """:func:`link_accounts` on the store's circle tables; ``{}`` when the harvest-circle unit
    did not run (no ``circle_templates``)."""
    return circle_links_and_holds(engine, ids, risk, review, attack)[0]


def circle_links_and_holds(
    engine: Engine, ids: pa.Array, risk: np.ndarray, review: float, attack: float
) -> tuple[dict[int, CircleLink], dict[int, CircleLink]]:
    """The accounts :func:`circle_links` raises, and those only the first-user rule keeps at
    review (each with the later users at attack that would have raised it)."""
    if not (engine.has_table("circle_templates") and engine.has_table("circle_groups")):
        return {}, {}
    rows = engine.fetch_arrow(CIRCLE_LINK_ROWS)
    ids_, risk = ids.to_pylist(), np.asarray(risk, float)
    linked = link_accounts(rows, ids_, risk, review, attack)
    every = link_accounts(rows, ids_, risk, review, attack, first_user=False)
    return linked, {i: link for i, link in every.items() if i not in linked}
