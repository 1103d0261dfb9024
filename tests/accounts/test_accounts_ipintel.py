"""Offline IP intelligence: kinds, prefixes, range files, graceful degradation, incremental."""

from __future__ import annotations

import pyarrow as pa
import pytest

from distillguard.accounts.ipintel import IpIntel, enrich_ips
from distillguard.engines.base import DuckDBEngine
from distillguard.errors import InvalidParameterError, NotFittedError


@pytest.fixture(scope="module")
def intel():
    return IpIntel().fit()


@pytest.mark.parametrize(
    "ip, kind, prefix",
    [
        ("52.95.110.1", "datacenter", "52.95.110.0/24"),  # AWS: a cloud machine
        ("81.2.69.160", "residential", "81.2.69.0/24"),  # a UK home ISP
        ("10.1.2.3", "reserved", "10.1.2.0/24"),
        ("not-an-ip", "invalid", None),
        ("2a03:2880:f12f::1", "datacenter", "2a03:2880:f12f::/48"),  # v6 prefix is /48
    ],
)
def test_kinds_and_prefixes(intel, ip, kind, prefix):
    row = intel.transform([ip]).to_pylist()[0]
    assert row["ip_kind"] == kind
    assert row["prefix"] == prefix


def test_country_and_asn_from_geoip(intel):
    row = intel.transform(["52.95.110.1"]).to_pylist()[0]
    assert row["country"] == "US"
    assert "AMAZON" in row["asn"]
    assert "geoip2fast" in intel.sources_ and "iporigin" in intel.sources_


def test_range_files_mark_proxies_and_most_hiding_kind_wins(tmp_path):
    proxies = tmp_path / "proxies.txt"
    proxies.write_text("# residential proxy exits\n95.100.0.0/16\n95.100.4.0/24\nbad line\n")
    dc = tmp_path / "dc.txt"
    dc.write_text("95.100.4.0/22\n")
    intel = IpIntel(use_origin=False, range_files=(f"proxy={proxies}", f"datacenter={dc}")).fit()
    kinds = (
        intel.transform(["95.100.4.9", "95.100.200.1", "95.101.0.1"]).column("ip_kind").to_pylist()
    )
    assert kinds == ["proxy", "proxy", "residential"]


def test_degrades_without_sources():
    intel = IpIntel(use_geoip=False, use_origin=False).fit()
    row = intel.transform(["52.95.110.1"]).to_pylist()[0]
    assert row["ip_kind"] == "residential" and row["country"] is None and row["asn"] is None
    assert intel.sources_ == []


def test_missing_range_file_is_skipped_and_bad_spec_is_an_error(tmp_path):
    intel = IpIntel(use_geoip=False, range_files=(f"vpn={tmp_path / 'absent.txt'}",)).fit()
    assert intel.sources_ == ["iporigin"]
    with pytest.raises(InvalidParameterError, match="kind=path"):
        IpIntel(range_files=("cloud:/x",)).fit()


def test_not_fitted():
    with pytest.raises(NotFittedError):
        IpIntel().transform(["1.1.1.1"])


def test_enrich_is_incremental(lt):
    engine = DuckDBEngine()
    rows = [
        {"account_id": "a", "ts_ms": lt.T0 + i, "ip": ip}
        for i, ip in enumerate(["52.95.110.1", "81.2.69.160", "52.95.110.1", None])
    ]
    engine.register_arrow("requests", lt.requests_table(rows))
    intel = IpIntel(use_geoip=False).fit()
    assert enrich_ips(engine, intel) == 2
    assert enrich_ips(engine, intel) == 0  # nothing new: no lookups
    more = rows + [{"account_id": "b", "ts_ms": lt.T0 + 9, "ip": "176.10.99.200"}]
    engine.register_arrow("requests", lt.requests_table(more))
    assert enrich_ips(engine, intel) == 1
    got = engine.fetch_arrow("SELECT ip, ip_kind FROM ip_intel ORDER BY ip").to_pylist()
    assert [r["ip"] for r in got] == ["176.10.99.200", "52.95.110.1", "81.2.69.160"]
    assert isinstance(engine.fetch_arrow("SELECT * FROM ip_intel"), pa.Table)


def test_vectorised_geoip_equals_one_lookup_per_ip(intel):
    """Country and ASN read from geoip2fast's tables with numpy are its ``lookup``'s answers."""
    import numpy as np

    from distillguard.accounts.ipintel import _geo_v4_tables, _geoip

    rng = np.random.default_rng(0)
    ints = rng.integers(1 << 24, (224 << 24), 20_000)  # 1.0.0.0 .. below multicast
    ips = [f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}" for x in ints.tolist()]
    ips += ["8.8.8.8", "1.1.1.1", "08.8.8.8", "010.1.2.3", "2001:4860:4860::8888", "10.0.0.1"]
    got = intel.transform(ips).to_pydict()
    geo = _geoip()
    for ip, kind, cc, asn in zip(ips, got["ip_kind"], got["country"], got["asn"], strict=True):
        if kind in ("reserved", "invalid"):
            assert cc is None and asn is None
            continue
        r = geo.lookup(ip)
        want_cc = r.country_code if len(r.country_code) == 2 and r.country_code != "--" else None
        assert (cc, asn) == (want_cc, getattr(r, "asn_name", "") or None), ip
    assert sum(c is not None for c in got["country"]) > 10_000
    tables = _geo_v4_tables(geo)  # the numpy path ran (not the per-IP fallback)
    assert tables is not None and tables["ok"]


def test_transform_a_slice_at_a_time_gives_the_same_table(intel):
    from distillguard.accounts.ipintel import transform_chunked

    ips = pa.chunked_array([
        ["52.95.110.1", "81.2.69.160", "10.1.2.3", None, "not-an-ip"],
        ["2a03:2880:f12f::1", "81.2.69.160", " 8.8.8.8 ", "010.1.2.3"],
    ])
    whole = intel.transform(ips)
    assert transform_chunked(intel, ips, rows=2).equals(whole)
    assert transform_chunked(intel, ips, rows=3).num_rows == len(ips)
    assert transform_chunked(intel, ips.slice(0, 0)).equals(intel.transform(ips.slice(0, 0)))
