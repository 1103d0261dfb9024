"""The run's flagged clusters as one MISP event, built with ``pymisp``.

Attribute types and categories are MISP's (pymisp ``data/describeTypes.json``,
``category_type_mappings``): ``ip-src`` (Network activity; a /24 range is a CIDR ``ip-src``),
``AS`` and ``user-agent`` (Network activity), ``domain`` for e-mail domains, ``anonymised``
(Financial fraud) for the HMAC-ed payment fingerprints, ``text`` (Other) for MinHash LSH band
keys, ``campaign-name`` (Attribution) per cluster. The TLP goes in as the ``tlp:<level>`` tag of
MISP's taxonomy; ``distribution`` 0 keeps the event in the receiving organisation until its
analyst shares it further.
"""

from __future__ import annotations

from pymisp import MISPEvent

from ..errors import InvalidParameterError
from .indicators import Campaign, SharedIndicator
from .keys import SCHEME, SharingKey
from .stix import MINHASH_PARAMS, TLP


def _attributes(ind: SharedIndicator, key: SharingKey) -> list[tuple[str, str, str, str, bool]]:
    """(category, type, value, comment, to_ids) rows of one indicator."""
    where = f"cluster {ind.campaign}, {ind.n_accounts} accounts"
    if ind.kind == "ip":
        return [("Network activity", "ip-src", ind.value, where, True)]
    if ind.kind in ("prefix24_ua", "asn_ua"):
        net, _, ua = ind.value.partition("|")
        net_type = "ip-src" if ind.kind == "prefix24_ua" else "AS"
        return [("Network activity", net_type, net, f"with user agent {ua!r}; {where}", False),
                ("Network activity", "user-agent", ua, f"from {net}; {where}", False)]
    if ind.kind == "email_domain":
        return [("Network activity", "domain", ind.value, f"sign-up e-mail domain; {where}", False)]
    if ind.kind == "payment":
        note = f"{SCHEME} of 'payment:<fingerprint>' with sharing key {key.key_id}; {where}"
        return [("Financial fraud", "anonymised", ind.value, note, False)]
    if ind.kind == "template":
        note = f"prompt template, MinHash LSH band keys {MINHASH_PARAMS}; {where}"
        return [("Other", "text", ind.value, note, False)]
    return []


def build_event(
    campaigns: list[Campaign], indicators: list[SharedIndicator], key: SharingKey,
    tlp: str = "amber",
) -> MISPEvent:
    """One event: a campaign-name per cluster and its indicators as attributes."""
    if tlp not in TLP:
        raise InvalidParameterError(f"--tlp must be one of {sorted(TLP)}; got {tlp!r}")
    event = MISPEvent()
    event.info = f"LLM distillation campaigns: {len(campaigns)} coordinated clusters"
    event.distribution = 0  # your organisation only
    event.threat_level_id = 2  # medium
    event.analysis = 1  # ongoing
    event.add_tag(f"tlp:{tlp}")
    for c in campaigns:
        event.add_attribute("campaign-name", f"cluster {c.cluster_id}", category="Attribution",
                            comment=f"{c.n_accounts} accounts, verdict {c.verdict}, risk {c.risk:.2f}")
    for ind in indicators:
        for category, type_, value, comment, to_ids in _attributes(ind, key):
            event.add_attribute(type_, value, category=category, comment=comment, to_ids=to_ids)
    return event
