"""Harvest circles: harvest prompts on a template that a few unrelated accounts share.

A careful campaign hides every trace of one operator (its own card, one home connection, one
browser, human pacing) except its content: the same few harvest wordings, and the same
follow-ups, come from each of its accounts and from nobody else. People who share a template
are either many (a popular phrasing, "hi") or one organisation (a class on one campus network,
annotators behind one office NAT, an enterprise on one card, an org's keys); an eval runner's
template is its own. So a template counts as a circle by how many *unaffiliated* groups use it,
divided by how many accounts use it (``1 / k``: a template k accounts use is each one's in a
k-th part, so a popular phrasing counts almost nothing, a campaign's private wording a lot).

An account's groups are its dominant home network (/24, else the IP), its dominant payment
method, its organisation (a verified one, ``accounts.definitions.ACCOUNT_OWNER``, as payment
rings and coordination edges count owners) and its e-mail domain when that domain is an
organisation's (see ``CIRCLE_TEMPLATES``); a template's unaffiliated groups are the fewest
distinct values of any of the four among its accounts. Harvest is the catalog's own hit definition (any harvest
signal at the policy threshold, as ``harvest_share``). Blocked by template: GROUP BYs and one
join back to the requests, no pairs of accounts.
"""

from __future__ import annotations

from ..accounts.definitions import ACCOUNT_OWNER
from ..accounts.units import EvidenceUnit
from ..contract import HARVEST_SIGNALS

# Each account's dominant value of a request column (ties: the smaller value).
_DOMINANT = """
SELECT account_id, v FROM (
  SELECT account_id, v, row_number() OVER (PARTITION BY account_id ORDER BY c DESC, v) AS rk
  FROM (SELECT account_id, {expr} AS v, count(*) AS c FROM request_keys
        WHERE {expr} IS NOT NULL GROUP BY account_id, {expr}) x
) y WHERE rk = 1
"""

# One row per account: its affiliation keys (a missing key is the account itself: no tie).
CIRCLE_GROUPS = """
SELECT a.account_id AS account_id,
  coalesce(h.v, a.account_id) AS home,
  coalesce(p.v, m.payment_fingerprint, a.account_id) AS pay,
  coalesce(o.owner, a.account_id) AS org,
  lower(m.email_domain) AS dom
FROM (SELECT DISTINCT account_id FROM request_keys) a
LEFT JOIN ({home}) h ON a.account_id = h.account_id
LEFT JOIN ({pay}) p ON a.account_id = p.account_id
LEFT JOIN account_meta m ON a.account_id = m.account_id
LEFT JOIN ({owner}) o ON a.account_id = o.account_id
""".format(
    home=_DOMINANT.format(expr="coalesce(prefix, ip)"),
    pay=_DOMINANT.format(expr="payment"),
    owner=ACCOUNT_OWNER,
)

# Each template's accounts with their keys; accounts per e-mail domain, overall and per template.
CIRCLE_MEMBERS = """
SELECT t.template AS template, g.account_id AS account_id, g.home AS home, g.pay AS pay,
  g.org AS org, g.dom AS dom
FROM (SELECT DISTINCT template, account_id FROM request_keys WHERE template IS NOT NULL) t
JOIN circle_groups g ON t.account_id = g.account_id
"""
CIRCLE_DOMAINS = """
SELECT dom, count(*) AS n FROM circle_groups WHERE dom IS NOT NULL GROUP BY dom
"""
CIRCLE_TEMPLATE_DOMAINS = """
SELECT template, dom, count(*) AS n FROM circle_members WHERE dom IS NOT NULL
GROUP BY template, dom
"""

# Per template: accounts, and unaffiliated groups (the fewest distinct values of any key). An
# e-mail domain ties its accounts on a template when they are at least half of the domain's
# accounts (an organisation's domain is mostly its own people working together; a public mail
# provider's users on one template are a sliver of it).
CIRCLE_TEMPLATES = """
SELECT c.template AS template, count(*) AS accts,
  least(count(DISTINCT c.home), count(DISTINCT c.pay), count(DISTINCT c.org),
        count(DISTINCT CASE WHEN td.n * 2 >= d.n THEN c.dom ELSE c.account_id END)) AS groups_
FROM circle_members c
LEFT JOIN circle_template_domains td ON c.template = td.template AND c.dom = td.dom
LEFT JOIN circle_domains d ON c.dom = d.dom
GROUP BY c.template
"""

_HIT = " + ".join(f"hit_{s}" for s in HARVEST_SIGNALS)

# Per account: its harvest requests' circle weight, averaged over all its requests. A template
# more accounts use than the square root of the deployment's account count is a crowd's
# phrasing, not a circle: a circle stays a few accounts while the deployment grows, and
# without the cut a phrasing thousands use would still rank above every account at zero.
ACCOUNT_HARVEST_CIRCLE = f"""
SELECT r.account_id AS account_id,
  avg(CASE WHEN {_HIT} > 0 AND c.accts >= 2 AND c.groups_ >= 2 AND c.accts * c.accts <= n.n
           THEN c.groups_ * 1.0 / (c.accts * c.accts) ELSE 0.0 END) AS harvest_circle
FROM request_keys r
LEFT JOIN circle_templates c ON r.template = c.template
CROSS JOIN (SELECT count(*) AS n FROM circle_groups) n
GROUP BY r.account_id
"""


class HarvestCircle(EvidenceUnit):
    """Per account: ``harvest_circle``, the mean over its requests of, for a harvest request on
    a template used by k ≥ 2 accounts (k² at most the deployment's accounts) from g ≥ 2
    unaffiliated groups, ``(g / k) / k`` (else 0).

    Five unrelated accounts that send nothing but one private harvest wording score 0.2; the
    same wording shared by one campus's 20 students (one network) scores 1/400; a phrasing
    a thousand people use, 0.001."""

    name = "harvest_circle"
    columns = {"harvest_circle": 0.0}

    def sql(self) -> dict[str, str]:
        return {
            "circle_groups": CIRCLE_GROUPS,
            "circle_members": CIRCLE_MEMBERS,
            "circle_domains": CIRCLE_DOMAINS,
            "circle_template_domains": CIRCLE_TEMPLATE_DOMAINS,
            "circle_templates": CIRCLE_TEMPLATES,
            "account_harvest_circle": ACCOUNT_HARVEST_CIRCLE,
        }
