"""Countries, time zones, ISP address blocks, access routes and SDK user agents.

Residential and mobile blocks are real ISP allocations of each country (checked against an
offline GeoIP table in the tests); any address that falls in the shared data-centre or VPN
lists is redrawn, so "residential" really means "not a known hosting/VPN range".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Country:
    code: str
    weight: float  # share of benign accounts
    tz: tuple[float, ...]  # UTC offsets (hours) of its main time zones, DST ignored
    lang: str
    residential: tuple[str, ...]
    mobile: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "US",
        0.27,
        (-5, -6, -7, -8),
        "en",
        (
            "73.0.0.0/10",
            "24.0.0.0/13",
            "71.192.0.0/12",
            "98.192.0.0/13",
            "76.96.0.0/12",
            "99.0.0.0/12",
        ),
        ("172.56.0.0/14", "174.192.0.0/12"),
    ),
    Country(
        "IN",
        0.08,
        (5.5,),
        "en",
        ("49.32.0.0/12", "117.192.0.0/11", "122.160.0.0/13"),
        ("157.32.0.0/12",),
    ),
    Country(
        "GB",
        0.05,
        (0,),
        "en",
        ("86.128.0.0/11", "81.96.0.0/13", "82.0.0.0/14"),
        ("31.94.0.0/16", "148.252.0.0/16"),
    ),
    Country(
        "DE",
        0.05,
        (1,),
        "de",
        ("79.192.0.0/11", "84.128.0.0/11", "91.32.0.0/12"),
        ("80.187.0.0/16",),
    ),
    Country(
        "BR",
        0.05,
        (-3,),
        "pt",
        ("177.32.0.0/13", "189.0.0.0/13", "201.0.0.0/14"),
        ("179.208.0.0/12",),
    ),
    Country(
        "FR",
        0.04,
        (1,),
        "fr",
        ("90.0.0.0/11", "86.192.0.0/12", "92.128.0.0/12"),
        ("37.160.0.0/13",),
    ),
    Country(
        "JP", 0.04, (9,), "ja", ("153.128.0.0/11", "126.0.0.0/11", "60.32.0.0/13"), ("1.72.0.0/13",)
    ),
    Country("CA", 0.03, (-5, -8), "en", ("70.48.0.0/13", "174.88.0.0/13"), ("204.48.0.0/16",)),
    Country("KR", 0.03, (9,), "ko", ("211.192.0.0/12", "121.128.0.0/12"), ("223.32.0.0/12",)),
    Country("ES", 0.03, (1,), "es", ("83.32.0.0/12", "88.0.0.0/13"), ("85.58.0.0/16",)),
    Country("IT", 0.03, (1,), "en", ("79.0.0.0/13", "87.0.0.0/13"), ("5.168.0.0/14",)),
    Country("MX", 0.03, (-6,), "es", ("187.128.0.0/12", "189.128.0.0/12"), ("200.68.0.0/16",)),
    Country("NL", 0.02, (1,), "en", ("84.24.0.0/13", "77.160.0.0/12"), ("62.140.128.0/17",)),
    Country("PL", 0.02, (1,), "en", ("83.0.0.0/13", "89.64.0.0/13"), ("37.47.0.0/16",)),
    Country("ID", 0.02, (7,), "en", ("36.64.0.0/12", "180.240.0.0/13"), ("114.120.0.0/13",)),
    Country("AU", 0.02, (10,), "en", ("101.160.0.0/12", "120.144.0.0/13"), ("1.128.0.0/12",)),
    Country("TR", 0.02, (3,), "en", ("78.160.0.0/12", "88.224.0.0/12"), ("176.216.0.0/13",)),
    Country("VN", 0.02, (7,), "en", ("113.160.0.0/12", "14.160.0.0/12"), ("27.64.0.0/13",)),
    Country("PH", 0.02, (8,), "en", ("112.198.0.0/16", "49.144.0.0/13"), ("110.54.128.0/17",)),
    Country("NG", 0.015, (1,), "en", ("105.112.0.0/12",), ("102.88.0.0/14",)),
    Country("EG", 0.01, (2,), "ar", ("41.32.0.0/13", "156.192.0.0/12"), ("197.32.0.0/13",)),
    Country("SA", 0.01, (3,), "ar", ("94.96.0.0/13", "188.48.0.0/13"), ("37.104.0.0/13",)),
    Country("AE", 0.01, (4,), "ar", ("94.200.0.0/13",), ("5.192.0.0/13",)),
    Country("SG", 0.01, (8,), "en", ("116.86.0.0/15", "220.255.0.0/16"), ("183.90.32.0/19",)),
    Country("SE", 0.01, (1,), "en", ("78.64.0.0/12",), ("90.224.0.0/13",)),
    Country("UA", 0.01, (2,), "ru", ("93.72.0.0/13", "178.136.0.0/13"), ("37.73.0.0/16",)),
    Country("AR", 0.01, (-3,), "es", ("181.0.0.0/12", "190.16.0.0/12"), ("186.128.0.0/12",)),
    Country("CO", 0.01, (-5,), "es", ("181.48.0.0/12", "190.24.0.0/13"), ("191.88.0.0/13",)),
    Country("ZA", 0.01, (2,), "en", ("105.224.0.0/12", "41.112.0.0/12"), ("197.184.0.0/13",)),
    Country("PT", 0.01, (0,), "pt", ("85.240.0.0/13", "89.152.0.0/13"), ("94.60.0.0/15",)),
    Country("HK", 0.01, (8,), "zh", ("112.118.0.0/15", "219.76.0.0/14"), ("223.104.128.0/17",)),
    Country("TW", 0.01, (8,), "zh", ("114.32.0.0/12", "36.224.0.0/12"), ("39.8.0.0/13",)),
    Country("MY", 0.01, (8,), "en", ("175.136.0.0/13", "60.48.0.0/13"), ("115.164.0.0/14",)),
    Country("CH", 0.01, (1,), "de", ("178.192.0.0/12", "83.76.0.0/14"), ("178.197.192.0/18",)),
)
COUNTRY_CODES: tuple[str, ...] = tuple(c.code for c in COUNTRIES)
COUNTRY_INDEX: dict[str, int] = {c: i for i, c in enumerate(COUNTRY_CODES)}
# Each country's main time zone, for tests and for users who want local hours.
COUNTRY_TZ: dict[str, float] = {c.code: c.tz[0] for c in COUNTRIES}

# Corporate egress ranges (business ISPs) where a country has distinct ones; elsewhere offices
# sit on the national ISPs' business lines (the residential blocks above).
CORPORATE_BLOCKS: dict[str, tuple[str, ...]] = {
    "US": ("12.0.0.0/10", "63.64.0.0/11", "65.192.0.0/11"),
    "GB": ("195.0.0.0/11", "62.0.0.0/12"),
}
# University networks by country (the campus of a simulated class).
CAMPUS_BLOCKS: dict[str, tuple[str, ...]] = {
    "US": ("128.32.0.0/16", "171.64.0.0/14", "129.105.0.0/16", "141.211.0.0/16", "130.126.0.0/16"),
    "GB": ("128.40.0.0/16", "131.111.0.0/16"),
    "DE": ("129.187.0.0/16", "141.2.0.0/16"),
    "CA": ("128.100.0.0/16", "142.103.0.0/16"),
}

# Built-in hosting / VPN ranges used when the shared infra lists are absent.
FALLBACK_DATACENTER: tuple[str, ...] = (
    "3.80.0.0/12",
    "18.204.0.0/14",
    "34.64.0.0/10",
    "35.184.0.0/13",
    "20.36.0.0/14",
    "40.112.0.0/13",
    "52.0.0.0/11",
    "104.131.0.0/16",
    "159.65.0.0/16",
    "167.99.0.0/16",
    "138.68.0.0/16",
    "88.198.0.0/16",
    "95.216.0.0/15",
    "51.68.0.0/16",
    "141.95.0.0/16",
    "45.32.0.0/16",
    "139.59.0.0/16",
    "43.128.0.0/14",
    "47.74.0.0/15",
    "119.28.0.0/15",
)
FALLBACK_VPN: tuple[str, ...] = (
    "185.159.156.0/22",
    "146.70.0.0/16",
    "37.120.192.0/19",
    "89.187.160.0/19",
    "185.220.100.0/22",
    "193.37.252.0/22",
    "194.127.167.0/24",
    "185.65.134.0/24",
    "91.219.212.0/22",
    "198.54.128.0/19",
)

CLOUD_PLATFORMS: tuple[str, ...] = ("aws-bedrock", "gcp-vertex", "azure-foundry")
RESELLERS: tuple[str, ...] = ("routerhub", "apimart", "tokenbridge", "llmgate")

# SDK and tool user agents (the browser ones come from the shared corpus or fallback.py).
SDK_USER_AGENTS: tuple[str, ...] = (
    "OpenAI/Python 1.52.2",
    "OpenAI/Python 1.58.1",
    "OpenAI/Python 1.40.6",
    "openai-python/1.61.0",
    "OpenAI/JS 4.77.0",
    "OpenAI/JS 4.56.0",
    "Anthropic/Python 0.40.0",
    "anthropic-sdk-python/0.45.2",
    "anthropic-sdk-typescript/0.33.1",
    "curl/8.5.0",
    "curl/7.81.0",
    "litellm/1.55.3",
    "litellm/1.48.2",
    "python-requests/2.32.3",
    "python-httpx/0.27.2",
    "axios/1.7.9",
    "Go-http-client/2.0",
    "langchain-openai/0.2.14",
    "okhttp/4.12.0",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
)
AGENT_USER_AGENTS: tuple[str, ...] = (
    "claude-cli/1.0.24 (external, cli)",
    "Aider/0.69.1",
    "Cline/3.1.4",
    "opencode/0.3.2",
    "Continue/0.9.248 (vscode)",
    "Cursor/0.44.11",
)
EVAL_USER_AGENTS: tuple[str, ...] = (
    "OpenAI/Python 1.58.1",
    "lm-eval-harness/0.4.7 python-requests/2.32.3",
    "inspect_ai/0.3.57",
    "python-httpx/0.27.2",
)


def parse_cidrs(lines: list[str] | tuple[str, ...]) -> np.ndarray:
    """``(n, 2)`` uint64 array of ``[first, last]`` addresses of IPv4 CIDRs, sorted, merged."""
    rows = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or ":" in line:
            continue
        try:
            net = ipaddress.IPv4Network(line, strict=False)
        except ValueError:
            continue
        rows.append((int(net.network_address), int(net.broadcast_address)))
    if not rows:
        return np.zeros((0, 2), dtype=np.uint64)
    arr = np.array(sorted(rows), dtype=np.uint64)
    merged = [list(arr[0])]
    for lo, hi in arr[1:]:
        if lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return np.array(merged, dtype=np.uint64)


def in_ranges(ips: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``ips`` fall inside the sorted, merged ``ranges``."""
    if len(ranges) == 0:
        return np.zeros(len(ips), dtype=bool)
    ips = ips.astype(np.uint64)
    pos = np.searchsorted(ranges[:, 0], ips, side="right") - 1
    ok = pos >= 0
    hit = np.zeros(len(ips), dtype=bool)
    hit[ok] = ips[ok] <= ranges[pos[ok], 1]
    return hit


def sample_in_ranges(rng: np.random.Generator, ranges: np.ndarray, n: int) -> np.ndarray:
    """``n`` addresses drawn from ``ranges`` (a range is picked with weight ~ sqrt(size))."""
    sizes = (ranges[:, 1] - ranges[:, 0] + 1).astype(np.float64)
    w = np.sqrt(sizes)
    idx = rng.choice(len(ranges), size=n, p=w / w.sum())
    off = (rng.random(n) * sizes[idx]).astype(np.uint64)
    ips = ranges[idx, 0] + off
    # Avoid network/broadcast-looking hosts.
    low = ips & np.uint64(255)
    ips = np.where(low == 0, ips + np.uint64(7), ips)
    ips = np.where(low == 255, ips - np.uint64(9), ips)
    return ips.astype(np.uint32)


def ip_strings(ips: np.ndarray):
    """Dotted-quad strings of uint32 addresses, as a pyarrow array (vectorised)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ips = ips.astype(np.uint32)
    parts = [pc.cast(pa.array((ips >> s) & 255), pa.string()) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*parts, ".")
