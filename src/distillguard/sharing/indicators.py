"""What a run found, as indicators a partner can match: one campaign per flagged cluster.

A key becomes an indicator only when it is *characteristic* of the cluster: at least two of
its members use it and they are at least ``min_share`` of every account that uses it. A
popular ISP range, a common SDK user agent or ``gmail.com`` is shared with benign customers,
so it stays home: sending it would make the partner flag their own benign users.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..errors import InvalidInputError, InvalidParameterError
from .keys import SharingKey

# Graph key kinds exported as they are, and those whose value is HMAC-ed before it leaves.
PLAIN_KINDS = ("ip", "prefix24_ua", "asn_ua")
HASHED_KINDS = ("payment",)
VERDICT_RANK = {"benign": 0, "review": 1, "attack": 2}
MAX_TEMPLATE_BANDS = 40  # band keys per template: the LSH bands of a few of its skeletons


@dataclass(frozen=True)
class SharedIndicator:
    """One indicator: ``kind`` in ip, prefix24_ua, asn_ua, payment, email_domain, template.

    ``value`` is the graph key (``prefix|ua``, ``asn|ua``), the HMAC digest of a payment
    fingerprint, a lower-cased e-mail domain, or for templates the space-separated hex MinHash
    LSH band keys (``signals.sketch``)."""

    kind: str
    value: str
    campaign: str
    n_accounts: int
    hashed: bool = False
    example_prompt: str | None = None


@dataclass
class Campaign:
    """A flagged cluster as the partner will see it (no account ids, only their count)."""

    cluster_id: str
    n_accounts: int
    risk: float
    verdict: str
    capabilities: str
    member_digests: tuple[str, ...] = field(default_factory=tuple)


def _store_of(findings: Path, store: Path | None) -> Path:
    """The store the findings were written from (``summary.json``), unless given."""
    if store is not None:
        path = store
    else:
        summary = findings / "summary.json"
        if not summary.is_file():
            raise InvalidInputError(f"{findings} holds no summary.json: is it a detect --out folder?")
        path = Path(json.loads(summary.read_text()).get("store") or "")
    if not (path / "store.duckdb").is_file():
        raise InvalidInputError(f"no store at {path} (pass --store DIR, the detect --store folder)")
    return path


def read_campaigns(findings: Path, min_verdict: str) -> list[Campaign]:
    """Clusters of ``clusters.csv`` (contract §4) at or above ``min_verdict``."""
    if min_verdict not in ("review", "attack"):
        raise InvalidParameterError(f"--min-verdict must be review or attack; got {min_verdict!r}")
    path = findings / "clusters.csv"
    if not path.is_file():
        raise InvalidInputError(f"{findings} holds no clusters.csv: is it a detect --out folder?")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = VERDICT_RANK[min_verdict]
    return [
        Campaign(r["cluster_id"], int(r["n_accounts"]), float(r["risk"]), r["verdict"],
                 r.get("capabilities") or "")
        for r in rows
        if VERDICT_RANK.get(r.get("verdict", ""), 0) >= need
    ]


# Keys of the chosen clusters shared by >= 2 members that make up >= min_share of the key's
# accounts (degree over the whole graph). Reads graph_edges and cluster_members (ARCHITECTURE).
_CHARACTERISTIC_KEYS = """
WITH deg AS (SELECT key_kind, key, count(*) AS deg FROM graph_edges GROUP BY key_kind, key),
     m AS (SELECT e.key_kind, e.key, c.cluster_id, count(*) AS n
           FROM graph_edges e JOIN cluster_members c USING (account_id)
           WHERE c.cluster_id IN (SELECT unnest($clusters)) AND e.key_kind IN (SELECT unnest($kinds))
           GROUP BY e.key_kind, e.key, c.cluster_id)
SELECT m.key_kind, m.key, m.cluster_id, m.n
FROM m JOIN deg USING (key_kind, key)
WHERE m.n >= 2 AND m.n >= $min_share * deg.deg
ORDER BY m.cluster_id, m.key_kind, m.n DESC, m.key
"""

_CHARACTERISTIC_DOMAINS = """
WITH d AS (SELECT lower(email_domain) AS domain, account_id FROM accounts
           WHERE email_domain IS NOT NULL AND email_domain <> ''),
     deg AS (SELECT domain, count(*) AS deg FROM d GROUP BY domain)
SELECT d.domain, c.cluster_id, count(*) AS n, any_value(deg.deg) AS deg
FROM d JOIN cluster_members c USING (account_id) JOIN deg USING (domain)
WHERE c.cluster_id IN (SELECT unnest($clusters))
GROUP BY d.domain, c.cluster_id
HAVING count(*) >= 2 AND count(*) >= $min_share * any_value(deg.deg)
ORDER BY c.cluster_id, n DESC, d.domain
"""

# A template's band keys that no other template owns (an owned-by-many key is boilerplate).
_TEMPLATE_BANDS = """
WITH own AS (SELECT band_key, count(DISTINCT template_id) AS n_tpl, sum(n_skeletons) AS n_sk
             FROM template_bands GROUP BY band_key)
SELECT CAST(tb.template_id AS VARCHAR) AS template, tb.band_key
FROM template_bands tb JOIN own USING (band_key)
WHERE own.n_tpl = 1 AND CAST(tb.template_id AS VARCHAR) IN (SELECT unnest($templates))
ORDER BY template, own.n_sk DESC, tb.band_key
"""


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    q = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    return con.execute(q, [table]).fetchall()[0][0] > 0


def _template_indicators(
    con: duckdb.DuckDBPyConnection, rows: list[tuple], with_prompts: bool
) -> list[SharedIndicator]:
    """Templates as MinHash LSH band keys (our template ids mean nothing to a partner)."""
    if not rows or not _has(con, "template_bands"):
        return []
    templates = sorted({k for _, k, _, _ in rows})
    bands: dict[str, list[str]] = {}
    for tpl, band in con.execute(_TEMPLATE_BANDS, {"templates": templates}).fetchall():
        if len(bands.setdefault(tpl, [])) < MAX_TEMPLATE_BANDS:
            bands[tpl].append(f"{int(band):016x}")
    out = []
    for _, tpl, cluster, n in rows:
        if not bands.get(tpl):
            continue
        prompt = _example_prompt(con, tpl) if with_prompts else None
        out.append(SharedIndicator("template", " ".join(bands[tpl]), cluster, int(n),
                                   example_prompt=prompt))
    return out


def _example_prompt(con: duckdb.DuckDBPyConnection, template: str) -> str | None:
    """One prompt of the template, only when the exporter asked for raw prompts."""
    row = con.execute(
        "SELECT r.prompt_text FROM requests r LEFT JOIN templates t USING (skeleton_hash) "
        "WHERE coalesce(CAST(t.template_id AS VARCHAR), CAST(r.skeleton_hash AS VARCHAR)) = ? "
        "AND r.prompt_text IS NOT NULL LIMIT 1",
        [template],
    ).fetchall()
    return row[0][0] if row else None


def collect_indicators(
    findings: Path,
    key: SharingKey,
    store: Path | None = None,
    min_verdict: str = "review",
    min_share: float = 0.5,
    with_prompts: bool = False,
) -> tuple[list[Campaign], list[SharedIndicator]]:
    """The campaigns of a detect run and their characteristic indicators."""
    campaigns = read_campaigns(findings, min_verdict)
    path = _store_of(findings, store) / "store.duckdb"
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:  # e.g. a detect run holds the store's lock
        raise InvalidInputError(f"cannot open {path} read-only: {exc}") from exc
    try:
        return campaigns, _collect(con, campaigns, key, min_share, with_prompts)
    finally:
        con.close()


def _collect(
    con: duckdb.DuckDBPyConnection,
    campaigns: list[Campaign],
    key: SharingKey,
    min_share: float,
    with_prompts: bool,
) -> list[SharedIndicator]:
    clusters = [c.cluster_id for c in campaigns]
    if not clusters:
        return []
    _check_same_run(con, campaigns)
    params = {"clusters": clusters, "min_share": min_share,
              "kinds": [*PLAIN_KINDS, *HASHED_KINDS, "template"]}
    rows = con.execute(_CHARACTERISTIC_KEYS, params).fetchall()
    out: list[SharedIndicator] = []
    for kind, value, cluster, n in rows:
        if kind in PLAIN_KINDS:
            out.append(SharedIndicator(kind, value, cluster, int(n)))
        elif kind in HASHED_KINDS:
            out.append(SharedIndicator(kind, key.digest(kind, value), cluster, int(n), hashed=True))
    out += _template_indicators(con, [r for r in rows if r[0] == "template"], with_prompts)
    if _has(con, "accounts"):
        dom = con.execute(_CHARACTERISTIC_DOMAINS,
                          {"clusters": clusters, "min_share": min_share}).fetchall()
        out += [SharedIndicator("email_domain", d, c, int(n)) for d, c, n, _ in dom]
    members = con.execute(
        "SELECT cluster_id, account_id FROM cluster_members ORDER BY account_id"
    ).fetchall()
    for c in campaigns:
        c.member_digests = tuple(
            key.digest("account", a) for cid, a in members if cid == c.cluster_id
        )
    return out


def _check_same_run(con: duckdb.DuckDBPyConnection, campaigns: list[Campaign]) -> None:
    """The store must hold the run that wrote the findings (cluster ids are per run)."""
    sizes = dict(con.execute(
        "SELECT cluster_id, count(*) FROM cluster_members GROUP BY cluster_id").fetchall())
    for c in campaigns:
        if sizes.get(c.cluster_id) != c.n_accounts:
            raise InvalidInputError(
                f"the store's cluster {c.cluster_id} has {sizes.get(c.cluster_id, 0)} members, "
                f"the findings say {c.n_accounts}: the store was re-run since (pass the matching --store)"
            )
