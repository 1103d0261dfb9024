"""Offline IP intelligence: prefix, country, ASN and kind of every distinct client IP.

Sources, all offline:
- ``geoip2fast`` (GeoLite2-derived data inside the wheel): country and ASN name;
- ``iporigin`` (providers' published feeds inside the wheel): hosting / CDN / VPN / Tor / bot;
- optional CIDR list files (``kind=path``, one CIDR per line), e.g. the X4BNet data-centre and
  VPN lists a provider already keeps; they are matched vectorised with ``numpy.searchsorted``.

Each source degrades on its own: when a package or file cannot be loaded, its columns stay NULL
(or the kind falls back to ``residential``) and ``sources_`` says what was used. Enrichment is
incremental: :func:`enrich_ips` looks up only IPs not yet in the ``ip_intel`` table.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..corpora import find_corpora
from ..engines.base import Engine
from ..errors import InvalidParameterError
from ._base import Estimator, table_exists

log = logging.getLogger(__name__)

IP_INTEL_SCHEMA = pa.schema(
    [
        ("ip", pa.string()),
        ("prefix", pa.string()),  # /24 for IPv4, /48 for IPv6
        ("country", pa.string()),
        ("asn", pa.string()),
        ("ip_kind", pa.string()),  # datacenter, vpn, tor, proxy, residential, reserved, invalid
        ("provider", pa.string()),
    ]
)
IP_KINDS: tuple[str, ...] = (
    "datacenter",
    "vpn",
    "tor",
    "proxy",
    "residential",
    "reserved",
    "invalid",
)
# When several sources match, the most hiding kind wins.
_PRIORITY = {"tor": 0, "vpn": 1, "proxy": 2, "datacenter": 3}
_ORIGIN_KIND = {
    "hosting": "datacenter",
    "cdn": "datacenter",
    "bot": "datacenter",
    "vpn": "vpn",
    "tor": "tor",
    "reserved": "reserved",
}


def default_range_files() -> tuple[str, ...]:
    """``kind=path`` entries for the public data-centre / VPN CIDR lists when present."""
    root = find_corpora()
    if root is None:
        return ()
    out = []
    for kind, name in (("datacenter", "datacenter_ipv4.txt"), ("vpn", "vpn_ipv4.txt")):
        path = Path(root) / "infra" / name
        if path.exists():
            out.append(f"{kind}={path}")
    return tuple(out)


def _load_ranges(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Merged, sorted [start, end] IPv4 integer intervals of a CIDR list file (cached)."""
    st = path.stat()
    return _load_ranges_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=16)
def _geoip() -> object:
    """The geoip2fast reader, loaded once per process (it takes ~0.7 s)."""
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz", verbose=False)


@lru_cache(maxsize=16)
def _load_ranges_cached(path_str: str, size: int, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    path = Path(path_str)
    starts, ends = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            net = ipaddress.ip_network(line, strict=False)
        except ValueError:
            continue
        if net.version != 4:
            continue
        starts.append(int(net.network_address))
        ends.append(int(net.broadcast_address))
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    s = np.asarray(starts, np.int64)
    e = np.asarray(ends, np.int64)
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    # Merge overlaps so one searchsorted candidate decides membership.
    run_end = np.maximum.accumulate(e)
    new = np.ones(len(s), bool)
    new[1:] = s[1:] > run_end[:-1] + 1
    group = np.cumsum(new) - 1
    ms = s[new]
    me = np.zeros(len(ms), np.int64)
    np.maximum.at(me, group, e)
    return ms, me


class IpIntel(Estimator):
    """Classify IP addresses offline.

    Parameters
    ----------
    use_geoip : look up country and ASN with geoip2fast.
    use_origin : classify hosting / VPN / Tor ranges with iporigin.
    range_files : ``kind=path`` CIDR lists (kind in datacenter, vpn, tor, proxy).

    Attributes
    ----------
    sources_ : list of the sources actually loaded.
    """

    def __init__(
        self,
        use_geoip: bool = True,
        use_origin: bool = True,
        range_files: tuple[str, ...] = (),
    ) -> None:
        self.use_geoip = use_geoip
        self.use_origin = use_origin
        self.range_files = range_files

    def fit(self, X: object = None) -> IpIntel:
        """Load the data sources (``X`` is ignored); each one may fail on its own."""
        self.sources_: list[str] = []
        self._geo = None
        self._origin = None
        self._ranges: list[tuple[str, np.ndarray, np.ndarray]] = []
        if self.use_geoip:
            try:
                self._geo = _geoip()
                self.sources_.append("geoip2fast")
            except Exception as exc:  # data file missing or unreadable: no country/ASN
                log.warning("geoip2fast unavailable (%s); country/ASN left empty", exc)
        if self.use_origin:
            try:
                import iporigin

                iporigin.classify("8.8.8.8")  # loads the bundled table once
                self._origin = iporigin
                self.sources_.append("iporigin")
            except Exception as exc:
                log.warning("iporigin unavailable (%s); kinds from range files only", exc)
        for spec in self.range_files:
            kind, sep, path = str(spec).partition("=")
            if not sep or kind not in _PRIORITY:
                raise InvalidParameterError(
                    f"IpIntel.range_files entries must be 'kind=path' with kind in "
                    f"{sorted(_PRIORITY)}; got {spec!r}"
                )
            p = Path(path)
            if not p.exists():
                log.warning("IP range file %s not found; skipped", p)
                continue
            s, e = _load_ranges(p)
            self._ranges.append((kind, s, e))
            self.sources_.append(f"{kind}:{p.name}")
        self.fitted_ = True
        return self

    def transform(self, ips: pa.Array | pa.ChunkedArray | list[str]) -> pa.Table:
        """One row of ``IP_INTEL_SCHEMA`` per (distinct) input IP."""
        self._check_fitted("fitted_")
        values = pa.array(ips, pa.string()) if isinstance(ips, list) else ips
        values = values.to_pylist()
        n = len(values)
        prefix: list[str | None] = [None] * n
        country: list[str | None] = [None] * n
        asn: list[str | None] = [None] * n
        kind: list[str] = ["invalid"] * n
        provider: list[str | None] = [None] * n
        v4_int = np.full(n, -1, np.int64)
        # A loop over distinct IPs (not requests), as the house rules allow.
        for i, raw in enumerate(values):
            try:
                addr = ipaddress.ip_address(str(raw).strip())
            except ValueError:
                continue
            if addr.version == 4:
                prefix[i] = str(ipaddress.ip_network(f"{addr}/24", strict=False))
                v4_int[i] = int(addr)
            else:
                prefix[i] = str(ipaddress.ip_network(f"{addr}/48", strict=False))
            if not addr.is_global:
                kind[i] = "reserved"
                continue
            kind[i] = "residential"
            if self._geo is not None:
                try:
                    r = self._geo.lookup(str(addr))
                    cc = getattr(r, "country_code", "") or ""
                    country[i] = cc if len(cc) == 2 and cc != "--" else None
                    asn[i] = getattr(r, "asn_name", "") or None
                except Exception:  # a lookup error leaves this IP's geo fields empty
                    pass
            if self._origin is not None:
                o = self._origin.classify(str(addr))
                mapped = _ORIGIN_KIND.get(o.kind)
                if mapped is not None:
                    kind[i] = mapped
                    provider[i] = o.provider or None
        kinds = np.asarray(kind, dtype=object)
        for rkind, starts, ends in self._ranges:
            if len(starts) == 0:
                continue
            idx = np.searchsorted(starts, v4_int, side="right") - 1
            hit = (v4_int >= 0) & (idx >= 0)
            hit &= v4_int <= ends[np.clip(idx, 0, None)]
            for j in np.flatnonzero(hit):
                cur = kinds[j]
                if _PRIORITY.get(cur, 99) > _PRIORITY[rkind]:
                    kinds[j] = rkind
        return pa.table(
            {
                "ip": pa.array([None if v is None else str(v) for v in values], pa.string()),
                "prefix": pa.array(prefix, pa.string()),
                "country": pa.array(country, pa.string()),
                "asn": pa.array(asn, pa.string()),
                "ip_kind": pa.array(kinds.tolist(), pa.string()),
                "provider": pa.array(provider, pa.string()),
            },
            schema=IP_INTEL_SCHEMA,
        )


NEW_IPS_SQL = """
SELECT DISTINCT r.ip AS ip FROM requests r
LEFT JOIN ip_intel i ON r.ip = i.ip
WHERE r.ip IS NOT NULL AND i.ip IS NULL
"""
ALL_IPS_SQL = "SELECT DISTINCT ip FROM requests WHERE ip IS NOT NULL"


def enrich_ips(engine: Engine, intel: IpIntel | None = None) -> int:
    """Add the IPs of ``requests`` not yet in ``ip_intel``; returns how many were added."""
    intel = intel if intel is not None else IpIntel().fit()
    if not hasattr(intel, "fitted_"):
        intel.fit()
    exists = table_exists(engine, "ip_intel")
    new = engine.fetch_arrow(NEW_IPS_SQL if exists else ALL_IPS_SQL)
    if not exists:
        engine.register_arrow("ip_intel", intel.transform(new.column("ip")))
        return new.num_rows
    if new.num_rows == 0:
        return 0
    engine.register_arrow("ip_intel_new", intel.transform(new.column("ip")))
    engine.create_table(
        "ip_intel_all",
        "SELECT ip, prefix, country, asn, ip_kind, provider FROM ip_intel "
        "UNION ALL SELECT ip, prefix, country, asn, ip_kind, provider FROM ip_intel_new",
    )
    engine.create_table("ip_intel", "SELECT * FROM ip_intel_all")
    return new.num_rows
