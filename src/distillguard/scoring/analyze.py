"""``analyze``: from the ``requests`` table to evidence-backed verdicts.

Stages (each timed, each shown as a progress task):
IP intelligence → account fingerprints → account–key graph → Leiden clusters →
cluster and account risk → evidence, reasons and the ``out_*`` tables.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..accounts.fingerprint import AccountFingerprinter
from ..accounts.ipintel import IpIntel, default_range_files, enrich_ips
from ..contract import HARVEST_SIGNALS
from ..coordination.circle_link import CircleLink, circle_links_and_holds
from ..coordination.cluster import LeidenClusterer, key_index, member_edges
from ..coordination.graph import EDGE_KINDS, EdgeBuilder
from ..engines.base import Engine
from ..errors import DistillguardError
from ..evidence import Evidence
from ..ingest.store import size_bytes
from ..policy import Policy, default_policy
from ..progress import stage
from ..sharing.intel import match_accounts
from ..sharing.keys import SharingKey
from . import definitions as d
from .catalog import BY_NAME, lowered_label
from .model import (
    MIN_POPULATION,
    LearnedAccountScorer,
    attach_cohort_keys,
    deployment_reference,
    input_features,
    model_inputs,
    percentile,
)
from .model import resolve as resolve_model
from .policy import SIGNALS
from .request_model import SCORE_ROWS
from .request_model import resolve as resolve_request_model
from .scorer import AccountScorer, ClusterScorer, account_strengths, col, scol

OUT_ACCOUNTS_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("risk", pa.float64()),
        ("verdict", pa.string()),
        ("cluster_id", pa.string()),
        ("reasons", pa.string()),
    ]
)
OUT_CLUSTERS_SCHEMA = pa.schema(
    [
        ("cluster_id", pa.string()),
        ("n_accounts", pa.int64()),
        ("risk", pa.float64()),
        ("verdict", pa.string()),
        ("capabilities", pa.string()),
        ("reasons", pa.string()),
    ]
)
EVIDENCE_SCHEMA = pa.schema(
    [
        ("subject_kind", pa.string()),
        ("subject_id", pa.string()),
        ("source", pa.string()),
        ("weight", pa.float64()),
        ("summary", pa.string()),
        ("refs", pa.list_(pa.string())),
    ]
)
KIND_LABELS = {
    "ip": "an IP address",
    "prefix24_ua": "an IP /24 range with the same user agent",
    "asn_ua": "a network (ASN) with the same user agent",
    "payment": "a payment method",
    "template": "a prompt template",
    "system_prompt": "a system prompt",
    "template_window": "the same template in the same time window",
    "pivot": "a synchronised switch to the new model",
    "shared_intel": "a partner's shared campaign indicators",
}
TEMPLATE_WEIGHT = 0.9  # a campaign-template request inherits 90% of its cluster's risk
REQUEST_FLOOR = 0.3  # request risk scale for a zero-risk account (see scoring.definitions)
# The learned request model scores the requests of accounts at least this risky; below it a
# request's risk (account risk × P(harvest)) cannot matter to a reviewer.
REQUEST_MIN_ACCOUNT_RISK = 0.1


@dataclass
class Findings:
    """What ``analyze`` produced: table names, counts, estimator parameters, timings."""

    tables: dict[str, str]
    counts: dict[str, int]
    params: dict[str, dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    new_model: str | None = None
    policy_version: str = ""


def _n(count: int, noun: str) -> str:
    """``1 other account`` / ``3 other accounts``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


@contextmanager
def _timed(timings: dict, name: str, progress: Any) -> Iterator[None]:
    t0 = time.perf_counter()
    ctx = stage(progress, name) if progress is not None else nullcontext()
    with ctx:
        yield
    timings[name] = round(time.perf_counter() - t0, 4)


def analyze(engine: Engine, policy: Policy | None = None, progress: Any = None) -> Findings:
    """Score every account of ``requests``; write ip_intel, account_features, graph_edges,
    cluster_members, evidence, out_accounts, out_clusters and out_requests."""
    policy = policy if policy is not None else default_policy()
    pol = policy.scoring
    timings: dict[str, float] = {}
    engine = _RunEngine.wrap(engine)

    with _timed(timings, "ip intelligence", progress):
        files = tuple(pol.ip_range_files) + (
            default_range_files() if pol.use_corpora_ip_lists else ()
        )
        intel = IpIntel(range_files=files).fit()
        n_new_ips = enrich_ips(engine, intel)
    with _timed(timings, "account fingerprints", progress):
        fp = AccountFingerprinter(
            signal_threshold=pol.signal_threshold,
            pivot_min_delay_days=pol.pivot_min_delay_days,
            pivot_window_hours=pol.pivot_window_hours,
        ).fit(engine)
    _signup_scores(engine, policy.signup.table())
    with _timed(timings, "shared intelligence", progress):
        matches = match_accounts(engine, _sharing_key(engine))
    if matches.num_rows:
        # Shared intel must never make an attack on its own: score once without it first.
        local = _coordinate_and_score(engine, pol, fp, timings, progress, shared=False)
    run = _coordinate_and_score(engine, pol, fp, timings, progress, shared=matches.num_rows > 0)
    eb, cl, cs, sc, ids = run.eb, run.cl, run.cs, run.sc, run.ids
    acc_cluster, strengths, affinity_info = run.acc_cluster, run.strengths, run.affinity_info
    if matches.num_rows:
        apply_shared_intel(sc, cs, cl, ids, matches, local, pol.shared_intel_cap)
    with _timed(timings, "evidence and outputs", progress):
        counts = _write_outputs(
            engine, pol, fp, eb, cl, cs, sc, ids, acc_cluster, strengths, affinity_info
        )
    counts["new_ips"] = n_new_ips
    counts["shared_intel_accounts"] = len(set(matches.column("account_id").to_pylist()))
    counts["graph_edges"] = eb.edges_.num_rows
    counts["alert_volume"] = alert_volume(sc.risk_)
    return Findings(
        tables={
            "accounts": "out_accounts",
            "clusters": "out_clusters",
            "requests": "out_requests",
            "evidence": "evidence",
            "account_features": "account_features",
            "model_inputs": "model_inputs",
            "graph_edges": "graph_edges",
            "cluster_members": "cluster_members",
            "ip_intel": "ip_intel",
        },
        counts=counts,
        params={
            "IpIntel": intel.get_params(),
            "AccountFingerprinter": fp.get_params(),
            "EdgeBuilder": eb.get_params(),
            "LeidenClusterer": cl.get_params(),
            "ClusterScorer": cs.get_params(),
            "AccountScorer": sc.get_params(),
        },
        timings=timings,
        new_model=fp.new_model_,
        policy_version=policy.version,
    )


# Tables only this analysis reads: on the embedded engine they are DuckDB TEMP tables, never
# written to the store (request_keys, one row per request, took ~0.83 CPU-s stored and ~0.34
# as a TEMP table on medium). The sharing import builds its own (sharing.intel._request_keys).
RUN_ONLY_TABLES: frozenset[str] = frozenset({"request_keys"})
# A TEMP table is uncompressed: request_keys took 121 MB in memory for 264,231 requests of
# medium-w101 (~480 bytes a row; 17 MB compressed in the store). Beyond DuckDB's memory_limit
# it would spill uncompressed to disk and each of its ~30 scans read it back, so it stays a
# stored table when it would fill more than a quarter of the limit (the rest is the working
# memory of the queries that scan it).
_TEMP_ROW_BYTES = 480
_TEMP_SHARE = 0.25


def _temp_fits(engine: Engine, con: duckdb.DuckDBPyConnection) -> bool:
    """Whether request_keys as a TEMP table stays within its share of ``memory_limit``."""
    if not engine.has_table("requests"):
        return True
    n = con.execute("SELECT count(*) FROM requests").fetchall()[0][0]
    try:
        limit = size_bytes(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
    except DistillguardError:  # a limit this code cannot read: stored, as before
        return False
    return n * _TEMP_ROW_BYTES <= _TEMP_SHARE * limit


class _RunEngine:
    """An engine whose ``create_table`` makes :data:`RUN_ONLY_TABLES` TEMP tables (on the
    same DuckDB connection, so every later query of this analysis reads them)."""

    def __init__(self, engine: Engine, con: Any) -> None:
        self._engine, self.con = engine, con

    @classmethod
    def wrap(cls, engine: Engine) -> Any:
        """``engine`` itself unless it is DuckDB's (Spark persists by its own list)."""
        con = getattr(engine, "con", None)
        if not isinstance(con, duckdb.DuckDBPyConnection):
            return engine
        # A store written by an older version holds a stored copy: drop it (disk space).
        stale = con.execute(
            "SELECT database_name, schema_name, table_name FROM duckdb_tables() "
            "WHERE NOT temporary AND list_contains(?, table_name)",
            [sorted(RUN_ONLY_TABLES)],
        ).fetchall()
        for db, schema, name in stale:
            con.execute(f'DROP TABLE "{db}"."{schema}"."{name}"')
        return cls(engine, con) if _temp_fits(engine, con) else engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def create_table(self, name: str, sql: str) -> None:
        if name in RUN_ONLY_TABLES:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        else:
            self._engine.create_table(name, sql)


def _signup_scores(engine: Engine, thresholds: dict) -> None:
    """Table ``signup_scores`` (``signups.csv``): each account's risk at sign-up, when the
    account table was given; the same scorer as ``POST /v1/signup``."""
    from ..signup.risk import signup_table

    if not engine.has_table("account_meta"):
        return
    meta = engine.fetch_arrow(
        "SELECT account_id, created_ms, signup_route, verification, email_domain, "
        "payment_fingerprint FROM account_meta"
    ).to_pylist()
    if meta:
        engine.register_arrow(
            "signup_scores", pa.Table.from_pylist(signup_table(meta, thresholds))
        )


@dataclass
class _Scored:
    """One pass of graph → clusters → risk."""

    eb: Any
    cl: Any
    cs: Any
    sc: Any
    ids: pa.Array
    acc_cluster: np.ndarray
    strengths: dict
    affinity_info: dict


def _coordinate_and_score(
    engine: Engine, pol: Any, fp: Any, timings: dict, progress: Any, shared: bool
) -> _Scored:
    """Graph, Leiden clusters and account risk; with the ``shared_intel`` edges when asked."""
    kinds = EDGE_KINDS + (("shared_intel",) if shared else ())
    with _timed(timings, "coordination graph", progress):
        eb = EdgeBuilder(
            kinds=kinds,
            kind_weights=dict(pol.edge_weights),
            c=pol.fraudar_c,
            window_minutes=pol.window_minutes,
            pivot_max_delay_hours=pol.pivot_window_hours,
        ).fit(engine)
    with _timed(timings, "leiden clusters", progress):
        cl = LeidenClusterer(
            objective=pol.leiden_objective,
            resolution=pol.leiden_resolution,
            seed=pol.seed,
            min_cluster_size=pol.min_cluster_size,
            min_attachment=pol.min_attachment,
            min_strength=pol.min_strength,
            core_share=pol.core_share,
            core_min=pol.core_min,
            n_iterations=pol.leiden_iterations,
        ).fit(eb.edges_)
        engine.register_arrow("cluster_members", cl.labels())
    with _timed(timings, "risk", progress):
        # Each account's route and client kind: the cohorts its evidence is ranked in.
        features = attach_cohort_keys(fp.features_, engine.fetch_arrow(d.ACCOUNT_COHORT_KEYS))
        ids = features.column("account_id").combine_chunks()
        base = account_strengths(features, pol.signal_weights)
        cs = ClusterScorer(
            bias=pol.cluster_bias,
            weights=dict(pol.cluster_weights),
            size_saturation=pol.size_saturation,
        ).fit(cl.members_, ids, base, eb.edges_)
        acc_cluster, acc_cluster_risk = _account_clusters(
            ids, cl.members_, cs.clusters_, pol.coordination_saturation
        )
        affinity, affinity_info = _template_affinity(
            engine, ids, features, cl.members_, cs.clusters_, pol
        )
        strengths = account_strengths(features, pol.signal_weights, acc_cluster_risk, affinity)
        sizes = _cluster_sizes(acc_cluster)
        inputs = model_inputs(features, strengths, sizes)
        engine.register_arrow("model_inputs", inputs)
        # What online ranks one account against (risk_reference.json beside the findings).
        reference = deployment_reference(features, sizes, inputs)
        reference.data["pivot"] = _pivot_context(fp)
        engine.register_arrow("risk_reference", pa.table({"reference": [reference.to_json()]}))
        sc = _account_scorer(pol, strengths, inputs)
        links = sender_links(ids, acc_cluster, eb.edges_, cl.cluster_keys_, cs.clusters_, sc, pol)
        held = {}  # accounts at review only the circle link's first-user rule keeps there
        if pol.circle_links:  # a careful campaign's accounts share wordings, not senders
            circle, held = circle_links_and_holds(
                engine, ids, sc.risk_, pol.review_threshold, pol.attack_threshold
            )
            links = {**circle, **links}
        inherit_attack(sc, links)
        sc.circle_held_ = {i: v for i, v in held.items() if i not in links}
    return _Scored(eb, cl, cs, sc, ids, acc_cluster, strengths, affinity_info)


# Sender keys name who sends (a card, an address, a network with its client); wording keys
# (template, system prompt) can be copied from a public campaign by anyone, so they never
# pass an attack verdict on.
SENDER_KINDS: tuple[str, ...] = ("payment", "ip", "prefix24_ua", "asn_ua")
# A circle link the first-user rule held back: a reason of the account, never an evidence row
# (it raised nothing; every evidence weight is > 0).
HELD = "circle_first_user"


@dataclass
class SenderLink:
    """An account's strongest sender link to an attack cluster (``CircleLink`` in
    coordination/circle_link.py has the same fields and ``reason``)."""

    cluster_id: str
    cluster_risk: float
    key_kind: str
    n_members: int
    members: tuple[str, ...] = ()  # the reviewer's refs; empty: the cluster's members

    def reason(self) -> str:
        """The reason a reviewer reads first: why this account's verdict is attack."""
        return (
            f"linked by {KIND_LABELS.get(self.key_kind, self.key_kind)} to coordinated cluster "
            f"{self.cluster_id} at attack (risk {self.cluster_risk:.2f}; {self.n_members} of "
            "its members use it)"
        )


def sender_links(
    ids: pa.Array,
    acc_cluster: np.ndarray,
    edges: pa.Table,
    keys: pa.Table,
    clusters: pa.Table,
    sc: Any,
    pol: Any,
) -> dict[int, SenderLink]:
    """Members at ``review`` (by position in ``ids``) of an attack cluster that share a sender
    key with fellow members: a key of a ``pol.sender_link_kinds`` kind used by at least two
    members and characteristic of the cluster (members are most of its users, the rule
    ``_campaign_templates`` uses), so a big ISP's network that members also use links no one.
    Only members: outside the cluster, one shared network is a neighbour, not a bond (on the
    hand-written world, benign users of a residential ISP the hydra's proxies exit through)."""
    kinds = [k for k in SENDER_KINDS if k in set(pol.sender_link_kinds)]
    if not kinds or keys.num_rows == 0 or clusters.num_rows == 0:
        return {}
    crisk = dict(zip(clusters.column("cluster_id").to_pylist(),
                     clusters.column("risk").to_pylist(), strict=True))
    attack = [c for c, r in crisk.items() if r >= pol.attack_threshold]
    n_mem = keys.column("n_members")
    k = keys.filter(
        pc.and_(
            pc.and_(pc.is_in(keys.column("key_kind"), pa.array(kinds)),
                    pc.is_in(keys.column("cluster_id"), pa.array(attack, pa.string()))),
            pc.and_(pc.greater_equal(n_mem, 2),
                    pc.greater_equal(pc.multiply(n_mem, 2), keys.column("deg"))),
        )
    ).select(["cluster_id", "key_kind", "key", "n_members"])
    if k.num_rows == 0:
        return {}
    j = edges.select(["account_id", "key_kind", "key"]).join(k, ["key_kind", "key"], join_type="inner")
    # Vectorised: only the edges of members of the key's own cluster at review reach the loop.
    at = pc.index_in(j.column("account_id"), value_set=ids)
    known = np.asarray(at.is_valid().to_numpy(zero_copy_only=False), bool)
    pos = np.asarray(at.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    risk = np.asarray(sc.risk_, float)
    cid = np.asarray(j.column("cluster_id").to_numpy(zero_copy_only=False), dtype=object)
    keep = known & (np.asarray(acc_cluster, dtype=object)[pos] == cid)
    keep &= (risk[pos] >= pol.review_threshold) & (risk[pos] < pol.attack_threshold)
    rows = pa.array(np.flatnonzero(keep))
    rank = {kind: n for n, kind in enumerate(SENDER_KINDS)}  # a card names a sender best
    out: dict[int, SenderLink] = {}
    for i, kind, c, m in zip(
        pos[keep].tolist(),
        *(j.column(x).take(rows).to_pylist() for x in ("key_kind", "cluster_id", "n_members")),
        strict=True,
    ):  # in the edges' order, as before: the first of equal links wins
        link = SenderLink(str(c), float(crisk[c]), str(kind), int(m))
        best = out.get(i)
        if best is None or (rank[kind], -link.cluster_risk) < (
            rank[best.key_kind], -best.cluster_risk
        ):
            out[i] = link
    return out


def inherit_attack(sc: Any, links: dict[int, SenderLink]) -> None:
    """Raise each linked account to the attack line (no higher: its own evidence keeps its
    rank among attacks), recorded as the ``sender_link`` contribution in log-odds (its reason)
    and ``sc.sender_links_`` (the link behind it)."""
    sc.sender_links_ = links
    if not links:
        return
    rows = np.fromiter(links, np.int64, len(links))
    risk = np.asarray(sc.risk_, float).copy()
    lift = np.zeros(len(risk))
    thr = float(sc.attack_threshold)
    old = np.clip(risk[rows], 1e-9, thr)
    lift[rows] = np.log(thr / (1 - thr)) - np.log(old / (1 - old))
    risk[rows] = thr
    sc.risk_ = risk
    sc.verdict_ = sc.verdicts(risk)
    sc.contributions_ = {**sc.contributions_, "sender_link": lift}


def _pivot_context(fp: Any) -> dict[str, Any] | None:
    """The newly released model and its pivot window: online counts an account's pivot
    against the same release."""
    if fp.new_model_ is None:
        return None
    return {
        "model": str(fp.new_model_),
        "release_ms": int(fp.release_ms_),
        "window_ms": int(fp.pivot_window_hours * 3_600_000),
    }


def _sharing_key(engine: Engine) -> Any:
    """The sharing group's key from the environment, or None (HMAC-ed intel cannot match)."""
    if not engine.has_table("shared_indicators"):
        return None
    try:
        return SharingKey.load()
    except DistillguardError:
        return None


def apply_shared_intel(
    sc: Any, cs: Any, cl: Any, ids: pa.Array, matches: pa.Table, local: _Scored, cap: float
) -> None:
    """Lift accounts matching a partner's indicators, never past ``cap`` (< attack).

    An account is ``attack`` only when the pass without shared intel (``local``) said so;
    otherwise its risk is at most ``cap``: the lifted risk of the shared pass, or
    ``cap × strength`` of its strongest match. Clusters are capped alike unless a member is a
    local attack. The lift is recorded as the ``shared_intel`` contribution (its reason)."""
    r0 = np.asarray(local.sc.risk_, float)
    r1 = np.asarray(sc.risk_, float)
    pos = {a: i for i, a in enumerate(ids.to_pylist())}
    s = np.zeros(len(r0))
    text = np.full(len(r0), "", dtype=object)
    for a, st, producer, kinds in zip(
        *(matches.column(k).to_pylist() for k in ("account_id", "strength", "producer", "kinds")),
        strict=True,
    ):  # a loop over matched accounts
        i = pos[a]
        if float(st or 0.0) >= s[i]:
            s[i] = float(st or 0.0)
            text[i] = f"matches {producer}'s shared campaign indicators ({kinds.replace(',', ', ')})"
    local_attack = r0 >= sc.attack_threshold
    lifted = np.maximum(r0, np.minimum(np.maximum(r1, cap * s), cap))
    risk = np.where(local_attack, np.maximum(r0, r1), lifted)
    sc.risk_ = risk
    sc.verdict_ = sc.verdicts(risk)
    sc.contributions_ = dict(sc.contributions_)
    sc.contributions_["shared_intel"] = np.where(s > 0, np.maximum(risk - r0, 0.0) * 4.0, 0.0)
    sc.shared_text_ = text
    # An attack from a sender link stands only when the local pass made it (its link, its text).
    links = getattr(local.sc, "sender_links_", {})
    sc.sender_links_ = {i: v for i, v in links.items() if local_attack[i]}
    sc.circle_held_ = getattr(local.sc, "circle_held_", {})
    sc.contributions_["sender_link"] = local.sc.contributions_.get(
        "sender_link", np.zeros(len(r0))
    )
    attack_members = set(np.asarray(ids.to_pylist(), dtype=object)[local_attack].tolist())
    _cap_clusters(cs, cl.members_, attack_members, cap)


def _cap_clusters(cs: Any, members: pa.Table, attack_members: set, cap: float) -> None:
    """A cluster without a locally-attack member keeps its risk under ``cap``."""
    if cs.clusters_.num_rows == 0:
        return
    with_attack = {c for a, c in zip(members.column("account_id").to_pylist(),
                                     members.column("cluster_id").to_pylist(), strict=True)
                   if a in attack_members}
    risk = [r if c in with_attack else min(r, cap) for c, r in zip(
        cs.clusters_.column("cluster_id").to_pylist(),
        cs.clusters_.column("risk").to_pylist(), strict=True)]
    i = cs.clusters_.column_names.index("risk")
    cs.clusters_ = cs.clusters_.set_column(i, "risk", pa.array(risk, pa.float64()))


ALERT_THRESHOLDS: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def alert_volume(risk: np.ndarray) -> dict[str, int]:
    """How many accounts each risk threshold would put in front of a reviewer: what an
    operator needs to pick thresholds from the deployment's own distribution."""
    return {f"{t:g}": int((np.asarray(risk) >= t).sum()) for t in ALERT_THRESHOLDS}


def _account_scorer(pol: Any, strengths: dict, inputs: pa.Table) -> Any:
    """The policy's risk model (learned, or the hand-set weights when ``risk_model: none`` or
    the deployment is too small to rank its accounts against)."""
    model = resolve_model(pol.risk_model)
    if model is not None and inputs.num_rows >= MIN_POPULATION:
        return LearnedAccountScorer(model, pol.review_threshold, pol.attack_threshold).fit(inputs)
    return AccountScorer(
        bias=pol.account_bias,
        weights=dict(pol.account_weights),
        review_threshold=pol.review_threshold,
        attack_threshold=pol.attack_threshold,
    ).fit(strengths)


def _cluster_sizes(acc_cluster: np.ndarray) -> np.ndarray:
    """Per account, the size of its cluster (0 when unclustered)."""
    ids, inv, counts = np.unique(acc_cluster.astype(str), return_inverse=True, return_counts=True)
    size = counts[inv].astype(float)
    size[acc_cluster == ""] = 0.0
    return size


def _account_clusters(
    ids: pa.Array, members: pa.Table, clusters: pa.Table, saturation: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Per account (aligned with ``ids``): its cluster id ('' when none) and its coordination
    strength: the cluster's risk, scaled down for members only loosely bound to the cluster
    (in-cluster edge weight below ``saturation``)."""
    cid = np.full(len(ids), "", dtype=object)
    risk = np.zeros(len(ids))
    if members.num_rows == 0:
        return cid, risk
    pos = np.asarray(
        pc.index_in(members.column("account_id"), value_set=ids).to_numpy(zero_copy_only=False),
        float,
    )
    ok = ~np.isnan(pos)
    mc = np.asarray(members.column("cluster_id").to_pylist(), dtype=object)[ok]
    cid[pos[ok].astype(np.int64)] = mc
    cr = dict(
        zip(
            clusters.column("cluster_id").to_pylist(),
            clusters.column("risk").to_pylist(),
            strict=True,
        )
    )
    bound = np.clip(
        np.asarray(members.column("strength").to_numpy(zero_copy_only=False), float)[ok]
        / saturation,
        0,
        1,
    )
    risk[pos[ok].astype(np.int64)] = np.array([cr.get(c, 0.0) for c in mc]) * bound
    return cid, risk


def _template_affinity(
    engine: Engine,
    ids: pa.Array,
    features: pa.Table,
    members: pa.Table,
    clusters: pa.Table,
    pol: Any,
) -> tuple[np.ndarray, dict[int, tuple[str, float, list[str]]]]:
    """Per account outside attack clusters: the share of its requests on prompt templates
    characteristic of an attack cluster (``definitions.ATTACK_TEMPLATES``), shrunk for small
    accounts (n/(n+2)); and, for accounts with any, (cluster, share, sample request ids).

    Registers ``attack_members`` and ``attack_templates``. It raises risk only: the account is
    not made a cluster member, since sharing a few templates is weaker than the graph's bond."""
    strength = np.zeros(len(ids))
    info: dict[int, tuple[str, float, list[str]]] = {}
    risk = np.asarray(clusters.column("risk").to_numpy(zero_copy_only=False), float)
    attack = clusters.filter(pa.array(risk >= pol.attack_threshold)).select(["cluster_id", "risk"])
    am = members.select(["account_id", "cluster_id"]).join(attack, "cluster_id", join_type="inner")
    engine.register_arrow(
        "attack_members",
        pa.table(
            {
                "account_id": am.column("account_id").cast(pa.string()),
                "cluster_id": am.column("cluster_id").cast(pa.string()),
                "risk": am.column("risk").cast(pa.float64()),
            }
        ),
    )
    engine.create_table(
        "attack_templates",
        d.ATTACK_TEMPLATES.format(
            min_accounts=int(pol.affinity_min_accounts), min_share=float(pol.affinity_min_share)
        ),
    )
    rows = engine.fetch_arrow(d.TEMPLATE_AFFINITY.format(max_refs=int(pol.max_refs)))
    if rows.num_rows == 0:
        return strength, info
    pos = {a: i for i, a in enumerate(ids.to_pylist())}
    n = col(features, "n_requests")
    by_acc: dict[str, tuple[int, dict[str, int], list[str]]] = {}
    for a, c, r, na, nc in zip(
        *(rows.column(k).to_pylist() for k in rows.column_names), strict=True
    ):
        tot, per, refs = by_acc.setdefault(a, (int(na), {}, []))  # a loop over sampled refs
        per[c] = int(nc)
        refs.append(r)
    for a, (tot, per, refs) in by_acc.items():  # one loop over accounts
        i = pos.get(a)
        if i is None or n[i] <= 0:
            continue
        share = min(tot / n[i], 1.0)
        strength[i] = share * n[i] / (n[i] + 2.0)
        best = max(sorted(per), key=lambda c: per[c])
        info[i] = (best, share, refs)
    return strength, info


def _account_evidence(
    i: int,
    f: dict[str, np.ndarray],
    contrib: dict[str, np.ndarray],
    risk: float,
    cluster: str,
    cluster_info: dict,
    share_info: dict,
    new_model: str | None,
    affinity_info: dict | None = None,
    links: dict[int, SenderLink] | None = None,
    held: dict[int, CircleLink] | None = None,
) -> list[Evidence]:
    """The evidence of account ``i`` in words, weighted by its share of the risk; ``held``:
    the circle links the first-user rule held back (``HELD``, weight 0)."""
    links, held = links or {}, held or {}
    pos = {k: float(v[i]) for k, v in contrib.items() if v[i] > 0.05}
    if i in links:  # the link is why the verdict is attack, however little it lifted
        pos["sender_link"] = max(pos.get("sender_link", 0.0), 0.05)
    total = sum(pos.values()) or 1.0
    n = int(f["n_requests"][i])
    out = []
    for k, c in pos.items():
        if k == "harvest_content":
            parts = [
                f"{_pct(f[s + '_share'][i])} {label}"
                for s, label in HARVEST_SIGNALS.items()
                if f[s + "_share"][i] >= 0.05
            ]
            text = f"{_pct(f['harvest_share'][i])} of {n:,} requests carry harvest signals ({', '.join(parts)})"
        elif k == "harvest_variety":
            text = "combines several kinds of harvest prompt in one account"
        elif k == "coordinated_cluster":
            size, crisk = cluster_info.get(cluster, (0, 0.0))
            text = f"member of coordinated cluster {cluster} ({size} accounts, cluster risk {crisk:.2f})"
            kind, m = share_info.get(i, ("", 0))
            # The card is already its own reason when it is a payment ring.
            if kind and not (kind == "payment" and "payment_ring" in pos):
                text += f"; shares {KIND_LABELS.get(kind, kind)} with {_n(m - 1, 'other account')} in it"
        elif k == "anonymised_ips":
            text = f"{_pct(f['vpn_share'][i] + f['tor_share'][i] + f['proxy_share'][i])} of requests from VPN, Tor or proxy IPs"
        elif k == "datacenter_ips":
            text = f"{_pct(f['datacenter_share'][i])} data-centre IPs"
        elif k == "ip_rotation":
            text = (
                f"rotates networks like a proxy pool: {int(f['n_asns'][i]):,} networks (ASNs), "
                f"{int(f['n_ips'][i]):,} IPs over {n:,} requests"
            )
        elif k == "payment_ring":
            text = f"its payment method also pays for {_n(int(f['card_owners'][i]) - 1, 'unrelated account')}"
        elif k == "weak_verification":
            text = f"weak sign-up verification ({f['verification'][i] or 'unknown'}, route {f['signup_route'][i] or 'unknown'})"
        elif k == "new_account":
            text = f"first request {f['account_age_days'][i]:.1f} days after sign-up"
        elif k == "machine_timing":
            # The evidence reads three inputs: name all three (a bursty account whose hours
            # span the day is flagged by its hours, not by regular gaps).
            text = (
                f"machine-like timing: gaps between requests CV {f['cv_gaps'][i]:.2f} (regular "
                f"below 1), hour-of-day spread {f['hod_entropy'][i]:.2f} (1 = round the "
                f"clock), busiest hour {_pct(f['hod_top_share'][i])} of requests"
            )
        elif k == "model_pivot":
            text = f"moved {_pct(f['pivot_share'][i])} of its traffic to the new model {new_model} within 24 h of its release"
        elif k == "template_concentration":
            text = f"{_pct(f['tpl_top_share'][i])} of requests use one prompt template"
        elif k == "attack_template_affinity" and affinity_info and i in affinity_info:
            c_id, share, _ = affinity_info[i]
            text = (
                f"{_pct(share)} of its requests use prompt templates characteristic of "
                f"coordinated cluster {c_id} (attack)"
            )
        elif k == "sender_link" and i in links:
            text = links[i].reason()
        elif k == "abused_signup_route":
            text = f"signed up on the {f['signup_route'][i] or 'unknown'} route, often abused for credits"
        elif k == "task_likeness":
            text = "single-shot prompts that read like items of a task set, not a conversation"
        elif k == "operator_labels" and "operator_labels" in f:
            if i in links:  # a link raised it to attack after the cap: the link is the reason
                continue
            text = f["operator_labels"][i]
        elif k == "shared_intel" and "shared_intel" in f:
            text = f"{f['shared_intel'][i]} (capped: never an attack on its own)"
        elif k == "client_churn":
            text = (
                f"changes IP on {_pct(f['ip_switch_share'][i])} and user agent on "
                f"{_pct(f['ua_switch_share'][i])} of consecutive requests, across "
                f"{_n(int(round(f['residential_prefixes_per_request'][i] * n)), 'residential /24')}"
            )
        elif k in _PEER_REASONS:
            # A reason names the peers it counts: none, no reason (a model's attribution can
            # credit a peer count of 0, but "shares X with 0 accounts" tells a reviewer nothing).
            text = _PEER_REASONS[k](f, i)
            if text is None:
                continue
        elif k == "activity_profile":
            text = f"activity unusual for accounts of its volume in this deployment ({n:,} requests)"
        else:
            continue
        out.append(Evidence(source=f"account:{k}", weight=round(risk * c / total, 4), summary=text))
    if i in held:  # it raised nothing, but a reviewer needs it beside the rest
        out.append(Evidence(source=f"account:{HELD}", weight=0.0, summary=held[i].held_reason()))
    # The sender link and the operator's labels first: the first reasons shown must say why
    # the verdict is attack (or held at review).
    first = ("account:sender_link", "account:operator_labels", f"account:{HELD}")
    return sorted(out, key=lambda e: (e.source not in first, -e.weight))


def _lockstep_reason(f: dict[str, np.ndarray], i: int) -> str | None:
    peers = int(max(f["lockstep_peers"][i], f["lockstep_daily_peers"][i]))
    if peers <= 0:
        return None
    return (
        f"acts in lockstep with {_n(peers, 'other account')} (same model and task kind "
        "in the same hours, or the same templates on the same days)"
    )


def _parameters_reason(f: dict[str, np.ndarray], i: int) -> str | None:
    peers = int(f["param_tuple_peers"][i])
    if peers <= 0:
        return None
    return (
        "its usual request settings (max_tokens, temperature, reasoning, stream, system "
        f"prompt, client) are also the usual ones of {_n(peers, 'other account')}"
    )


def _signup_reason(f: dict[str, np.ndarray], i: int) -> str | None:
    same_path = int(f["signup_burst_peers"][i])
    any_path = int(f["signup_window_peers"][i]) if "signup_window_peers" in f else 0
    if same_path > 0:
        return (
            f"signed up within a day of {_n(same_path, 'other account')} "
            "on the same route and verification"
        )
    if any_path > 0:
        return f"signed up within a day of {_n(any_path, 'other account')} (other routes)"
    return None


# Evidence whose reason counts peers: the reason, or None when there are none.
_PEER_REASONS = {
    "lockstep": _lockstep_reason,
    "shared_parameters": _parameters_reason,
    "signup_burst": _signup_reason,
}


REASON_MIN_LOG_ODDS = 0.05  # batch's reason threshold (log-odds), for either sign
LOWERED_PREFIX = "lowered:"  # the evidence source of what lowered an account's risk


class _Ranks:
    """Each account feature the catalog names and its percentile in the deployment (the
    ``pct:`` input the risk model reads), computed only for the features a reason names."""

    def __init__(self, features: pa.Table, cluster_size: np.ndarray) -> None:
        self.value = input_features(features, cluster_size)
        self._pct: dict[str, np.ndarray] = {}

    def pct(self, column: str) -> np.ndarray:
        if column not in self._pct:
            self._pct[column] = percentile(self.value[column])
        return self._pct[column]


def _num(x: float) -> str:
    x = round(float(x), 6) + 0.0  # no "-0" or "-1e-17" from float noise
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _drivers(ev: str, i: int, ranks: _Ranks, f: dict[str, np.ndarray]) -> str:
    """The values behind evidence that lowered account ``i``'s risk: its (at most two) inputs
    furthest on the benign side of the deployment's median, with their percentiles."""
    if ev in ("strong_verification", "weak_verification"):
        return f"verification {f['verification'][i] or 'unknown'}"
    if ev == "established_account":
        ev = "new_account"  # the same feature, account age, read by the hand-set weight
    leaning = []
    for c, direction in BY_NAME[ev].inputs if ev in BY_NAME else ():
        x, p = ranks.value[c][i], ranks.pct(c)[i]
        if not (np.isfinite(x) and np.isfinite(p)):
            continue
        # How far on the benign side of the median (direction unknown: either side).
        lean = (0.5 - p) * direction if direction else abs(p - 0.5)
        if lean > 0:
            leaning.append((lean, c, x, p))
    return ", ".join(
        f"{c.replace('_', ' ')} {_num(x)} at percentile {100 * p:.0f}"
        for _, c, x, p in sorted(leaning, reverse=True)[:2]
    )


def _lowered_evidence(
    i: int,
    contrib: dict[str, np.ndarray],
    risk: float,
    ranks: _Ranks,
    f: dict,
    top: int,
    baseline: str = "with it at the deployment's median",
) -> list[Evidence]:
    """The evidence that lowered account ``i``'s risk (log-odds below -0.05), strongest first.

    Its source is ``lowered:<evidence>`` (``account:<evidence>`` is what raised it) and its
    weight the risk the evidence took away (how much higher the risk would be with its inputs
    at the deployment's median), on the [0, 1] scale of every evidence weight."""
    neg = {k: float(v[i]) for k, v in contrib.items() if v[i] < -REASON_MIN_LOG_ODDS}
    z = float(np.log(np.clip(risk, 1e-9, 1 - 1e-9) / (1 - np.clip(risk, 1e-9, 1 - 1e-9))))
    out = []
    for k, c in sorted(neg.items(), key=lambda kv: kv[1])[:top]:
        at_median = float(1.0 / (1.0 + np.exp(-(z - c))))
        drivers = _drivers(k, i, ranks, f)
        text = (
            f"{lowered_label(k)}{f' ({drivers})' if drivers else ''}: {c:+.2f} log-odds, "
            f"risk {at_median:.2f} {baseline}"
        )
        out.append(Evidence(f"{LOWERED_PREFIX}{k}", round(at_median - risk, 4), text))
    return out


def _write_outputs(  # noqa: ANN001
    engine, pol, fp, eb, cl, cs, sc, ids, acc_cluster, strengths, affinity_info=None
) -> dict[str, int]:
    """Write ``out_accounts``, ``out_clusters``, ``evidence``, ``cluster_templates`` and
    ``out_requests``; return the counts ``detect`` reports."""
    f = _evidence_inputs(fp.features_, sc)
    cluster_info = _cluster_info(cs.clusters_)
    members_by_cluster = _members_by_cluster(cl.members_)
    flagged = np.flatnonzero(sc.verdict_ != "benign")
    reasons, ev_rows = _account_evidence_rows(
        f,
        sc,
        ids,
        acc_cluster,
        cluster_info,
        _shared_key_of_members(eb, cl, ids),
        fp.new_model_,
        affinity_info,
        flagged,
        _example_requests(engine, pol, ids, flagged),
        members_by_cluster,
        pol,
        _Ranks(fp.features_, _cluster_sizes(acc_cluster)),
    )
    out_accounts = pa.table(
        {
            "account_id": ids,
            "risk": pa.array(np.round(sc.risk_, 6)),
            "verdict": pa.array(sc.verdict_.tolist(), pa.string()),
            "cluster_id": pa.array([c or None for c in acc_cluster], pa.string()),
            "reasons": pa.array(reasons, pa.string()),
        },
        schema=OUT_ACCOUNTS_SCHEMA,
    )
    engine.register_arrow("out_accounts", out_accounts)
    c_rows = _cluster_rows(engine, pol, cl, cs, sc, ids, f, members_by_cluster, ev_rows)
    engine.register_arrow("out_clusters", pa.Table.from_pylist(c_rows, schema=OUT_CLUSTERS_SCHEMA))
    engine.register_arrow("evidence", pa.Table.from_pylist(ev_rows, schema=EVIDENCE_SCHEMA))
    engine.register_arrow("cluster_templates", _campaign_templates(cl.cluster_keys_, cluster_info))
    engine.register_arrow(
        "score_accounts",
        out_accounts.select(["account_id", "risk", "verdict", "cluster_id"])
        .append_column("rotation", pa.array(_address_rotation(fp.features_)))
        .append_column("pivot", pa.array(strengths["model_pivot"]))
        .append_column("affinity", pa.array(strengths["attack_template_affinity"])),
    )
    _score_requests(engine, pol, fp.new_model_)
    n_req = engine.fetch_arrow("SELECT count(*) AS n FROM out_requests").column("n")[0].as_py()
    return {
        "accounts": fp.features_.num_rows,
        "attack": int(np.sum(sc.verdict_ == "attack")),
        "review": int(np.sum(sc.verdict_ == "review")),
        "clusters": cl.n_clusters_,
        "requests_scored": int(n_req),
        "evidence": len(ev_rows),
    }


def _evidence_inputs(features: pa.Table, sc: Any) -> dict[str, np.ndarray]:
    """Every numeric account feature (NULL → 0) plus the few the reasons read otherwise."""
    numeric = [
        fld.name
        for fld in features.schema
        if pa.types.is_integer(fld.type)
        or pa.types.is_floating(fld.type)
        or pa.types.is_boolean(fld.type)
    ]
    f: dict[str, np.ndarray] = {k: col(features, k) for k in numeric}
    f["account_age_days"] = col(features, "account_age_days", fill=np.nan)
    f["verification"] = scol(features, "verification")
    f["signup_route"] = scol(features, "signup_route")
    if hasattr(sc, "shared_text_"):
        f["shared_intel"] = sc.shared_text_
    if hasattr(sc, "label_text_"):
        f["operator_labels"] = sc.label_text_
    return f


def _cluster_info(clusters: pa.Table) -> dict[str, tuple[int, float]]:
    """cluster id → (accounts, risk)."""
    return {
        c: (n, r)
        for c, n, r in zip(
            clusters.column("cluster_id").to_pylist(),
            clusters.column("n_accounts").to_pylist(),
            clusters.column("risk").to_pylist(),
            strict=True,
        )
    }


def _members_by_cluster(members: pa.Table) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a, c in zip(
        members.column("account_id").to_pylist(),
        members.column("cluster_id").to_pylist(),
        strict=True,
    ):
        out.setdefault(c, []).append(a)
    return out


def _shared_key_of_members(eb: Any, cl: Any, ids: pa.Array) -> dict[int, tuple[str, int]]:
    """For each clustered account (by position): the key it shares with the most fellow
    members, as (key kind, members sharing it): its heaviest cluster key, ties to the first in
    the edges' order.

    On integers (``member_edges``, ``key_index``): a cluster key is a (cluster, key) pair that
    two or more members' edges share (``LeidenClusterer._cluster_keys`` on the same edges). A
    join of the edges with the members and the keys copied ~3M member edges' strings on
    `large` (the run's memory peak), and its row order, which broke the ties, changed from
    call to call."""
    edges, members = eb.edges_, cl.members_
    if not (cl.cluster_keys_.num_rows and members.num_rows):
        return {}
    rows, member, c, _ = member_edges(edges, members)
    k_idx, n_key = key_index(edges)
    _, group, n_members = np.unique(
        c * np.int64(n_key) + k_idx[rows], return_inverse=True, return_counts=True
    )
    del k_idx
    n_members = n_members[group.reshape(-1)]
    keep = n_members >= 2
    rows, member, n_members = rows[keep], member[keep], n_members[keep]
    if len(rows) == 0:
        return {}
    weight = np.asarray(edges.column("weight").to_numpy(zero_copy_only=False), float)[rows]
    order = np.lexsort((-weight, member))  # stable: equal weights stay in edge order
    first = order[np.r_[True, member[order][1:] != member[order][:-1]]]
    at = pc.index_in(members.column("account_id").take(member[first]), value_set=ids)
    return {
        int(i): (kind, int(m))
        for i, kind, m in zip(
            at.to_pylist(),
            edges.column("key_kind").take(rows[first]).to_pylist(),
            n_members[first].tolist(),
            strict=True,
        )
        if i is not None
    }


def _example_requests(
    engine: Engine, pol: Any, ids: pa.Array, flagged: np.ndarray
) -> dict[str, list[str]]:
    """Example request ids behind each flagged account."""
    flagged_ids = pa.array([ids[int(i)].as_py() for i in flagged], pa.string())
    engine.register_arrow("flagged_accounts", pa.table({"account_id": flagged_ids}))
    ex = engine.fetch_arrow(d.EXAMPLE_REQUESTS.format(max_refs=int(pol.max_refs)))
    examples: dict[str, list[str]] = {}
    for a, r in zip(
        ex.column("account_id").to_pylist(), ex.column("request_id").to_pylist(), strict=True
    ):
        examples.setdefault(a, []).append(r)
    return examples


def _account_evidence_rows(  # noqa: ANN001
    f, sc, ids, acc_cluster, cluster_info, share_info, new_model, affinity_info, flagged,
    examples, members_by_cluster, pol, ranks,
) -> tuple[list[str], list[dict]]:
    """Each account's reasons, the evidence rows of the flagged ones, and what lowered the
    risk of every account where a reviewer looks (``lowered:`` rows; ``reasons`` keeps what
    raised it, as its readers expect)."""
    ev_rows: list[dict] = []
    reasons = []
    id_list = ids.to_pylist()
    flagged_set = set(flagged.tolist())
    held = {  # the final verdict, after shared intel: a held reason only below attack
        i: v for i, v in getattr(sc, "circle_held_", {}).items()
        if sc.risk_[i] < sc.attack_threshold
    }
    # Where a reviewer looks: the accounts whose contributions the learned scorer computes.
    shown = 0.5 * float(sc.review_threshold)
    # What a contribution is measured against: the learned model's median account, or the
    # hand-set weights' zero strength.
    baseline = (
        "with it at the deployment's median"
        if isinstance(sc, LearnedAccountScorer)
        else "without it"
    )
    for i in range(len(id_list)):  # one loop over accounts (not requests)
        if sc.risk_[i] >= shown:
            ev_rows.extend(
                _evidence_row("account", id_list[i], e, ())
                for e in _lowered_evidence(
                    i, sc.contributions_, float(sc.risk_[i]), ranks, f, pol.max_reasons, baseline
                )
            )
        evs = _account_evidence(
            i,
            f,
            sc.contributions_,
            float(sc.risk_[i]),
            acc_cluster[i],
            cluster_info,
            share_info,
            new_model,
            affinity_info,
            getattr(sc, "sender_links_", {}),
            held,
        )
        reasons.append(
            "; ".join(e.summary for e in evs[: pol.max_reasons])
            or "no harvest or coordination evidence"
        )
        if i not in flagged_set:
            continue
        for e in evs:
            if e.source == "account:coordinated_cluster":
                refs = members_by_cluster.get(acc_cluster[i], [])[: pol.max_refs]
            elif e.source == "account:sender_link":
                link = sc.sender_links_[i]
                refs = (link.members or members_by_cluster.get(link.cluster_id, []))[
                    : pol.max_refs
                ]
            elif e.source == f"account:{HELD}":
                continue  # a reason, not evidence (HELD)
            elif e.source == "account:attack_template_affinity" and affinity_info:
                # Its requests on the campaign's templates, then members of that cluster
                # (the cluster id itself is in the summary; refs are request/account ids).
                c_id, _, req_ids = affinity_info.get(i, ("", 0.0, []))
                refs = [*req_ids, *members_by_cluster.get(c_id, [])][: pol.max_refs]
            else:
                refs = examples.get(id_list[i], [])
            ev_rows.append(_evidence_row("account", id_list[i], e, refs))
    return reasons, ev_rows


def _evidence_row(kind: str, subject: str, e: Evidence, refs: Any) -> dict[str, Any]:
    return {
        "subject_kind": kind,
        "subject_id": subject,
        "source": e.source,
        "weight": e.weight,
        "summary": e.summary,
        "refs": list(refs),
    }


def _cluster_rows(  # noqa: ANN001
    engine, pol, cl, cs, sc, ids, f, members_by_cluster, ev_rows
) -> list[dict[str, Any]]:
    """Clusters' risk, verdict, capability mix and reasons; their evidence is appended to
    ``ev_rows``."""
    caps = engine.fetch_arrow(d.CLUSTER_CAPABILITIES + " ORDER BY cluster_id, n DESC, capability")
    cap_mix: dict[str, list[tuple[str, int]]] = {}
    for c, cap, n in zip(
        caps.column("cluster_id").to_pylist(),
        caps.column("capability").to_pylist(),
        caps.column("n").to_pylist(),
        strict=True,
    ):
        cap_mix.setdefault(c, []).append((cap, n))
    harvest_by_cluster = _cluster_harvest(ids, cl.members_, f)
    kind_summary = _kind_summary(cl.cluster_keys_)
    c_rows = []
    for r in cs.clusters_.to_pylist():  # one loop over clusters
        c = r["cluster_id"]
        mix = cap_mix.get(c, [])
        tot = sum(n for _, n in mix) or 1
        evs = _cluster_evidence(
            r, kind_summary, members_by_cluster.get(c, []), harvest_by_cluster.get(c, 0.0), pol
        )
        c_rows.append(
            {
                "cluster_id": c,
                "n_accounts": int(r["n_accounts"]),
                "risk": round(float(r["risk"]), 6),
                "verdict": sc.verdicts(np.array([r["risk"]]))[0],
                "capabilities": ", ".join(f"{cap} {_pct(n / tot)}" for cap, n in mix[:4]),
                "reasons": "; ".join(e.summary for e in evs[: pol.max_reasons]),
            }
        )
        ev_rows.extend(_evidence_row("cluster", c, e, e.refs) for e in evs)
    return c_rows


def _campaign_templates(keys: pa.Table, cluster_info: dict[str, tuple[int, float]]) -> pa.Table:
    """Campaign templates of each cluster: shared by >= 10% of its members (at least 2) and
    characteristic of it (most accounts using the template are members), so a popular
    template its members also send as genuine customer traffic does not mark those requests."""
    tpl = keys.filter(pc.equal(keys.column("key_kind"), "template")) if keys.num_rows else keys
    rows = []
    for c, key, m, deg in zip(
        tpl.column("cluster_id").to_pylist(),
        tpl.column("key").to_pylist(),
        tpl.column("n_members").to_pylist(),
        tpl.column("deg").to_pylist(),
        strict=True,
    ):
        size, risk = cluster_info.get(c, (0, 0.0))
        if m >= max(2, 0.1 * size) and m >= 0.5 * deg:
            rows.append({"cluster_id": c, "template": key, "risk": float(risk)})
    schema = pa.schema(
        [("cluster_id", pa.string()), ("template", pa.string()), ("risk", pa.float64())]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _score_requests(engine: Engine, pol: Any, new_model: str | None) -> None:
    """Table ``request_inputs`` and ``out_requests``: the learned request model's harvest
    probability times the account's risk, or the hand-set formula (``request_model: none``)."""
    model_name = str(new_model or "").replace("'", "''")
    model = resolve_request_model(pol.request_model)
    # With the hand-set formula every request's inputs are kept (a model's training data);
    # with the learned model only those it scores are computed.
    candidates = "TRUE" if model is None else f"a.risk >= {REQUEST_MIN_ACCOUNT_RISK}"
    engine.create_table(
        "request_inputs",
        d.REQUEST_INPUTS.format(
            new_model=model_name, thr=float(pol.signal_threshold), candidates=candidates
        ),
    )
    if model is None:
        engine.create_table("out_requests", _handset_request_sql(pol, model_name))
        return
    # Read in chunks: the inputs are ~200 bytes per candidate request (1.3M on `large`).
    sql = f"SELECT request_id, {', '.join(model.names_)} FROM request_inputs"
    reader = engine.fetch_batches(sql, SCORE_ROWS)
    ids, p_harvest = [], []
    for batch in reader:
        ids.append(batch.column("request_id"))
        p_harvest.append(model.score(pa.Table.from_batches([batch])))
    id_type = reader.schema.field("request_id").type
    engine.register_arrow(
        "request_harvest",
        pa.table(
            {
                "request_id": pa.chunked_array(ids, id_type),
                "p_harvest": pa.array(np.concatenate(p_harvest or [np.empty(0)]), pa.float64()),
            }
        ),
    )
    engine.create_table(
        "out_requests", d.LEARNED_REQUEST_SCORES.format(thr=float(pol.signal_threshold))
    )


def _handset_request_sql(pol: Any, model_name: str) -> str:
    sw = {s: float(pol.signal_weights.get(s, 0.0)) for s in SIGNALS}
    return d.REQUEST_SCORES.format(
        floor=REQUEST_FLOOR,
        w_template=TEMPLATE_WEIGHT,
        thr=float(pol.signal_threshold),
        w_ip_once=0.7,
        w_net_once=0.3,
        followup=0.3,
        w_pivot=0.5,
        new_model=model_name,
        **{f"w_{k}": v for k, v in sw.items()},
    )


def _address_rotation(features: pa.Table) -> np.ndarray:
    """How strongly an account hops between addresses (0 below 30% new IPs per request, 1 from
    70%), for accounts with at least 5 requests; used to mark its one-off-address requests."""
    n = col(features, "n_requests")
    return np.where(n >= 5, np.clip((col(features, "ips_per_request") - 0.3) / 0.4, 0, 1), 0.0)


def _cluster_harvest(
    ids: pa.Array, members: pa.Table, f: dict[str, np.ndarray]
) -> dict[str, float]:
    """Request-weighted share of harvest requests over each cluster's members."""
    pos = {a: i for i, a in enumerate(ids.to_pylist())}
    num: dict[str, float] = {}
    den: dict[str, float] = {}
    for a, c in zip(
        members.column("account_id").to_pylist(),
        members.column("cluster_id").to_pylist(),
        strict=True,
    ):
        i = pos[a]
        num[c] = num.get(c, 0.0) + f["harvest_share"][i] * f["n_requests"][i]
        den[c] = den.get(c, 0.0) + f["n_requests"][i]
    return {c: num[c] / den[c] for c in num if den[c] > 0}


def _kind_summary(keys: pa.Table) -> dict[str, dict[str, tuple[int, int, float]]]:
    """cluster → key kind → (most members sharing one key, number of keys, total weight)."""
    out: dict[str, dict[str, tuple[int, int, float]]] = {}
    if keys.num_rows == 0:
        return out
    g = keys.group_by(["cluster_id", "key_kind"]).aggregate(
        [("n_members", "max"), ("key", "count"), ("weight", "sum")]
    )
    for c, kind, best, count, tw in zip(*(g.column(i).to_pylist() for i in range(5)), strict=True):
        out.setdefault(c, {})[kind] = (int(best), int(count), float(tw))
    return out


def _cluster_evidence(
    r: dict,
    kind_summary: dict[str, dict[str, tuple[int, int, float]]],
    members: list[str],
    harvest: float,
    pol: Any,
) -> list[Evidence]:
    """Shared indicators (kind, how many members share them) and the members' content."""
    c, size, risk = r["cluster_id"], int(r["n_accounts"]), float(r["risk"])
    items: list[tuple[float, str, str]] = []
    for kind, (best, count, tw) in kind_summary.get(c, {}).items():
        more = f" ({count:,} shared {kind.replace('_', ' ')} keys)" if count > 1 else ""
        items.append(
            (
                tw,
                f"graph:shared_{kind}",
                f"{best} of {size} accounts share {KIND_LABELS.get(kind, kind)}{more}",
            )
        )
    if harvest >= 0.05:
        items.append(
            (
                r["s_harvest_content"] * 5.0,
                "cluster:harvest_content",
                f"{_pct(harvest)} of the members' requests carry harvest signals",
            )
        )
    if r["s_weak_verification"] >= 0.3:
        items.append(
            (
                r["s_weak_verification"],
                "cluster:weak_verification",
                f"members weakly verified (mean weakness {r['s_weak_verification']:.2f})",
            )
        )
    if r["s_new_accounts"] >= 0.3:
        items.append(
            (
                r["s_new_accounts"],
                "cluster:new_accounts",
                "most members started right after sign-up",
            )
        )
    if r["s_payment_ring"] >= 0.1:
        items.append(
            (
                r["s_payment_ring"] * 2.0,
                "cluster:payment_ring",
                "members pay with cards shared across unrelated accounts",
            )
        )
    if r["s_ip_rotation"] >= 0.2:
        items.append(
            (r["s_ip_rotation"], "cluster:ip_rotation", "members rotate through proxy networks")
        )
    if r["s_anonymised_ips"] >= 0.2:
        items.append(
            (
                r["s_anonymised_ips"],
                "cluster:anonymised_ips",
                f"{_pct(r['s_anonymised_ips'])} of traffic via VPN/Tor/proxy",
            )
        )
    total = sum(w for w, _, _ in items) or 1.0
    refs = tuple(members[: pol.max_refs])
    evs = [
        Evidence(source=s, weight=round(risk * w / total, 4), summary=t, refs=refs)
        for w, s, t in items
    ]
    return sorted(evs, key=lambda e: e.weight, reverse=True)
