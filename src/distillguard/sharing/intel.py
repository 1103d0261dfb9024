"""A partner's indicators in our store, and which of our accounts they match.

``import_bundle`` writes table ``shared_indicators`` of ``store.duckdb`` in one transaction
(a bundle imported twice replaces itself). ``match_accounts`` runs in ``analyze`` after the
fingerprints: it links each account to the partner campaigns whose indicators it matches
(table ``shared_matches``), which the graph turns into edges of kind ``shared_intel`` and the
scorer into capped ``shared_intel`` evidence.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from ..engines.base import Engine
from ..errors import InvalidInputError
from .keys import SharingKey
from .stix import ParsedBundle

SHARED_INDICATORS_SCHEMA = pa.schema([
    ("bundle_id", pa.string()), ("indicator_id", pa.string()), ("kind", pa.string()),
    ("value", pa.string()), ("campaign_ref", pa.string()), ("producer", pa.string()),
    ("confidence", pa.int32()), ("hashed", pa.bool_()), ("key_id", pa.string()),
    ("imported_at", pa.string()),
])
SHARED_MATCHES_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("campaign_ref", pa.string()), ("producer", pa.string()),
    ("kinds", pa.string()), ("n", pa.int64()), ("strength", pa.float64()),
])
# How specific a match of each kind is, whoever shared it: a card or an IP names an operator,
# a network with a common user agent (asn_ua) or an e-mail domain is shared with customers, so
# alone it must not reach review (cap x 0.5 < review threshold at the defaults).
KIND_SPECIFICITY = {"payment": 1.0, "ip": 0.9, "prefix24_ua": 0.8, "template": 0.8,
                    "email_domain": 0.6, "asn_ua": 0.5}
# Kinds matched per request (n = matching requests) or per account (the whole account).
_REQUEST_KIND_SQL = {
    "ip": "rk.ip = si.value",
    "prefix24_ua": "concat(rk.prefix, '|', rk.ua) = si.value",
    "asn_ua": "concat(rk.asn, '|', rk.ua) = si.value",
}

# The columns of ``request_keys`` (accounts/definitions.py) that ``_match_sql`` reads.
_KEY_COLUMNS = "account_id, ip, prefix, asn, ua, payment"


@dataclass
class ImportReport:
    imported: int
    skipped: Counter
    by_kind: Counter
    foreign_key_ids: dict[str, int] = field(default_factory=dict)
    own_key_id: str | None = None
    matched_accounts: int | None = None
    matched_by_kind: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """What ``distillguard import stix`` prints."""
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.by_kind.items())) or "none"
        out = [f"imported {self.imported} indicators ({kinds})"]
        if self.skipped:
            out.append("skipped " + ", ".join(f"{v} {k}" for k, v in sorted(self.skipped.items())))
        for kid, n in self.foreign_key_ids.items():
            out.append(
                f"warning: {n} HMAC-ed indicators were made with sharing key {kid}, yours is "
                f"{self.own_key_id or 'not set'}: none of them can match your values"
            )
        if self.matched_accounts is not None:
            per = ", ".join(f"{k} {v}" for k, v in sorted(self.matched_by_kind.items())) or "none"
            out.append(f"matches in the store now: {self.matched_accounts} accounts ({per}); "
                       "run detect to turn them into evidence")
        return out


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    q = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    return con.execute(q, [table]).fetchall()[0][0] > 0


def import_bundle(parsed: ParsedBundle, store: Path, key: SharingKey | None) -> ImportReport:
    """Write the bundle's indicators into the store (replacing an earlier import of it)."""
    if store.exists() and not store.is_dir():
        raise InvalidInputError(f"--store {store} exists and is a file, not a folder")
    store.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc).isoformat()
    rows = [
        {"bundle_id": parsed.bundle_id, "indicator_id": i.indicator_id, "kind": i.kind,
         "value": i.value, "campaign_ref": i.campaign_ref, "producer": i.producer,
         "confidence": i.confidence, "hashed": i.hashed, "key_id": i.key_id, "imported_at": now}
        for i in parsed.indicators
    ]
    table = pa.Table.from_pylist(rows, schema=SHARED_INDICATORS_SCHEMA)
    try:
        con = duckdb.connect(str(store / "store.duckdb"))
    except duckdb.Error as exc:  # e.g. a detect run holds the store's lock
        raise InvalidInputError(f"cannot open the store {store}: {exc}") from exc
    try:
        con.execute("BEGIN")
        con.register("_dg_new_intel", table)
        con.execute(
            "CREATE TABLE IF NOT EXISTS shared_indicators AS SELECT * FROM _dg_new_intel LIMIT 0")
        con.unregister("_dg_new_intel")
        con.execute("DELETE FROM shared_indicators WHERE bundle_id = ?", [parsed.bundle_id])
        con.from_arrow(table).insert_into("shared_indicators")
        con.execute("COMMIT")
        report = ImportReport(len(rows), parsed.skipped, Counter(i.kind for i in parsed.indicators))
        own = key.key_id if key is not None else None
        report.own_key_id = own
        report.foreign_key_ids = {k: n for k, n in parsed.key_ids.items() if k != own}
        if _request_keys(con):
            matches = _match(con, key)
            report.matched_accounts = len({r["account_id"] for r in matches})
            report.matched_by_kind = Counter(
                k for r in matches for k in r["kinds"].split(","))
        return report
    finally:
        con.close()


def _request_keys(con: duckdb.DuckDBPyConnection) -> bool:
    """Table ``request_keys`` (TEMP, on this connection) with the columns the matches read,
    from the fingerprinter's own SQL over the store's ``requests``: ``detect`` does not keep
    it in the store. False before any ``detect`` (no ``ip_intel``, ``account_base``)."""
    if not all(_has(con, t) for t in ("requests", "ip_intel", "account_meta", "account_base")):
        return False
    from ..accounts.fingerprint import AccountFingerprinter

    sql = AccountFingerprinter().sql(has_templates=_has(con, "templates"))["request_keys"]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE request_keys AS SELECT {_KEY_COLUMNS} FROM ({sql}) k"
    )
    return True


def _local_digests(con: duckdb.DuckDBPyConnection, key: SharingKey | None) -> pa.Table:
    """HMACs of our own payment fingerprints, to meet the partner's on equal terms."""
    raw = [r[0] for r in con.execute(
        "SELECT DISTINCT payment FROM request_keys WHERE payment IS NOT NULL UNION "
        "SELECT DISTINCT payment_fingerprint FROM account_meta "
        "WHERE payment_fingerprint IS NOT NULL").fetchall()]
    digests = [key.digest("payment", v) for v in raw] if key is not None else []
    return pa.table({"raw": pa.array(raw if key else [], pa.string()),
                     "digest": pa.array(digests, pa.string())})


def _template_bands(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The partner's template band keys, one row per (indicator, band key)."""
    ids, bands = [], []
    for ind_id, value in con.execute(
            "SELECT indicator_id, value FROM shared_indicators WHERE kind = 'template'").fetchall():
        for h in value.split():
            try:
                bands.append(int(h, 16))
            except ValueError:
                continue
            ids.append(ind_id)
    return pa.table({"indicator_id": pa.array(ids, pa.string()),
                     "band_key": pa.array(bands, pa.uint64())})


def _match_sql(with_templates: bool) -> str:
    specificity = ", ".join(f"('{k}', {v})" for k, v in KIND_SPECIFICITY.items())
    parts = [
        f"SELECT rk.account_id, si.indicator_id, count(*) AS n FROM request_keys rk "
        f"JOIN shared_indicators si ON si.kind = '{kind}' AND {cond} "
        f"GROUP BY rk.account_id, si.indicator_id"
        for kind, cond in _REQUEST_KIND_SQL.items()
    ]
    parts.append(
        "SELECT rk.account_id, si.indicator_id, count(*) AS n FROM request_keys rk "
        "JOIN _dg_local_digests d ON rk.payment = d.raw "
        "JOIN shared_indicators si ON si.kind = 'payment' AND si.value = d.digest "
        "GROUP BY rk.account_id, si.indicator_id")
    # Account-level kinds cover the whole account: n = its request count.
    parts.append(
        "SELECT m.account_id, si.indicator_id, b.n_requests AS n FROM account_meta m "
        "JOIN account_base b USING (account_id) JOIN _dg_local_digests d "
        "ON m.payment_fingerprint = d.raw "
        "JOIN shared_indicators si ON si.kind = 'payment' AND si.value = d.digest")
    parts.append(
        "SELECT m.account_id, si.indicator_id, b.n_requests AS n FROM account_meta m "
        "JOIN account_base b USING (account_id) "
        "JOIN shared_indicators si ON si.kind = 'email_domain' AND lower(m.email_domain) = si.value")
    if with_templates:
        parts.append(
            "SELECT r.account_id, sb.indicator_id, count(DISTINCT r.request_id) AS n FROM "
            "(SELECT account_id, request_id, unnest(lsh_bands) AS band FROM requests) r "
            "JOIN _dg_shared_bands sb ON r.band = sb.band_key "
            "GROUP BY r.account_id, sb.indicator_id")
    return f"""
SELECT x.account_id, si.campaign_ref, any_value(si.producer) AS producer,
       string_agg(DISTINCT si.kind, ',' ORDER BY si.kind) AS kinds,
       least(max(x.n), any_value(b.n_requests)) AS n,
       max(si.confidence / 100.0 * k.specificity
           * least(1.0, x.n * 1.0 / greatest(b.n_requests, 1))) AS strength
FROM ({' UNION ALL '.join(parts)}) x
JOIN shared_indicators si USING (indicator_id)
JOIN (VALUES {specificity}) k(kind, specificity) ON si.kind = k.kind
JOIN account_base b USING (account_id)
GROUP BY x.account_id, si.campaign_ref
ORDER BY x.account_id, si.campaign_ref
"""


def _match(con: duckdb.DuckDBPyConnection, key: SharingKey | None) -> list[dict]:
    digests, bands = _local_digests(con, key), _template_bands(con)
    con.register("_dg_local_digests", digests)
    con.register("_dg_shared_bands", bands)
    try:
        with_tpl = bands.num_rows > 0 and _has(con, "requests")
        return con.sql(_match_sql(with_tpl)).to_arrow_table().to_pylist()
    finally:
        con.unregister("_dg_local_digests")
        con.unregister("_dg_shared_bands")


def match_accounts(engine: Engine, key: SharingKey | None) -> pa.Table:
    """Table ``shared_matches`` (account × partner campaign), empty without imported intel.

    Needs the embedded engine (the store's DuckDB connection); other engines get no matches."""
    con = getattr(engine, "con", None)
    empty = SHARED_MATCHES_SCHEMA.empty_table()
    if con is None:  # Spark: nothing registered, the shared_intel edges are not built
        return empty
    table = empty
    if engine.has_table("shared_indicators"):
        rows = _match(con, key)
        table = pa.Table.from_pylist(rows, schema=SHARED_MATCHES_SCHEMA) if rows else empty
    engine.register_arrow("shared_matches", table)
    return table
