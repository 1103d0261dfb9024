"""Proxy-rotation fingerprint: an account whose consecutive requests hop between IPs and user
agents, across many residential /24s.

A rotating residential proxy pool gives every request (or every short sticky session) a new
exit in a new /24 of some consumer ISP, and harvest tooling often rotates user agents with it.
A person switches between a handful of places (home, office, phone) and keeps one browser.
"""

from __future__ import annotations

from .units import MEDIAN, EvidenceUnit

# Consecutive requests of one account (by time): how often the IP / the user agent changes.
ACCOUNT_ROTATION = """
SELECT account_id,
  sum(CASE WHEN prev_ip IS NOT NULL AND ip IS NOT NULL AND ip <> prev_ip THEN 1 ELSE 0 END)
    * 1.0 / nullif(sum(CASE WHEN prev_ip IS NOT NULL AND ip IS NOT NULL THEN 1 ELSE 0 END), 0)
    AS ip_switch_share,
  sum(CASE WHEN prev_ua IS NOT NULL AND ua IS NOT NULL AND ua <> prev_ua THEN 1 ELSE 0 END)
    * 1.0 / nullif(sum(CASE WHEN prev_ua IS NOT NULL AND ua IS NOT NULL THEN 1 ELSE 0 END), 0)
    AS ua_switch_share,
  count(DISTINCT CASE WHEN ip IS NOT NULL AND ua IS NOT NULL THEN concat(ip, '|', ua) END)
    * 1.0 / nullif(sum(CASE WHEN ip IS NOT NULL AND ua IS NOT NULL THEN 1 ELSE 0 END), 0)
    AS ip_ua_pairs_per_request,
  count(DISTINCT CASE WHEN ip IS NOT NULL AND ip_kind = 'residential' THEN prefix END)
    * 1.0 / nullif(sum(CASE WHEN ip IS NOT NULL THEN 1 ELSE 0 END), 0)
    AS residential_prefixes_per_request
FROM (
  SELECT account_id, ip, ua, prefix, ip_kind,
         lag(ip) OVER (PARTITION BY account_id ORDER BY ts_ms, request_id) AS prev_ip,
         lag(ua) OVER (PARTITION BY account_id ORDER BY ts_ms, request_id) AS prev_ua
  FROM request_keys
) x
GROUP BY account_id
"""


class ProxyRotation(EvidenceUnit):
    """Per account: IP and user-agent switch shares between consecutive requests, distinct
    IP–UA pairs per request, distinct residential /24s per request.

    An account without a client IP (a cloud marketplace forwards none), or with one request
    for the switch shares, gets the deployment's median: no evidence either way. A 0 would
    rank it as the least rotating account of the deployment, and missing would let the model
    learn "no IP" from the benign cloud customers of its train worlds; either reads as
    innocence to the monotone risk model (a held-out cloud-route campaign fell from 45% to
    18% found that way).
    """

    name = "proxy_rotation"
    columns = {
        "ip_switch_share": MEDIAN,
        "ua_switch_share": MEDIAN,
        "ip_ua_pairs_per_request": MEDIAN,
        "residential_prefixes_per_request": MEDIAN,
    }

    def sql(self) -> dict[str, str]:
        return {"account_rotation": ACCOUNT_ROTATION}
