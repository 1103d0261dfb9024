"""The account–key star graph with camouflage-resistant weights.

Weight of the edge between account ``a`` and key ``k`` of kind ``t``::

    w(a, k) = kind_weight[t] * share(a, k) ** share_power / ln(deg(k) + c)

- ``1 / ln(deg + c)`` is FRAUDAR's column weighting (Hooi et al., KDD 2016): a key used by very
  many accounts (a big ISP prefix, a common system prompt, "hi") counts little, so attackers
  cannot hide by also touching popular keys, and benign crowds do not glue together.
- ``share(a, k)`` = n(a, k) / (n(a) + share_prior): the fraction of the account's requests that
  carry the key, shrunk for accounts with very few requests. A key that makes up most of an
  account's traffic binds it strongly, a one-off coincidence barely at all; an account with one
  request cannot be "entirely" on a campaign's key. It also normalises accounts, so one very
  busy account does not dominate its cluster.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..accounts._base import Estimator, check_range
from ..engines.base import Engine
from ..errors import InvalidParameterError
from . import definitions as d

EDGE_KINDS: tuple[str, ...] = tuple(k for k in d.EDGE_KIND_SQL if k not in d.OPTIONAL_KINDS)
ALL_EDGE_KINDS: tuple[str, ...] = tuple(d.EDGE_KIND_SQL)
DEFAULT_KIND_WEIGHTS: dict[str, float] = {
    "ip": 1.0,
    "prefix24_ua": 0.6,
    "asn_ua": 0.15,
    "payment": 1.5,
    "template": 1.0,
    "system_prompt": 0.4,
    "template_window": 1.0,
    "pivot": 0.8,
    "shared_intel": 1.0,
}
# The edges' order: Leiden (seeded) must see the same graph on every run.
EDGE_ORDER: tuple[tuple[str, str], ...] = (
    ("key_kind", "ascending"),
    ("key", "ascending"),
    ("account_id", "ascending"),
)
GRAPH_EDGES_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("key_kind", pa.string()),
        ("key", pa.string()),
        ("weight", pa.float64()),
    ]
)


class EdgeBuilder(Estimator):
    """Build ``graph_edges`` (account → key star edges) from the fingerprint tables.

    Parameters
    ----------
    kinds : key kinds to link on (see ``EDGE_KINDS``).
    kind_weights : weight per kind; ``None`` means ``DEFAULT_KIND_WEIGHTS``.
    c : FRAUDAR's constant in ``1 / ln(deg + c)``.
    share_power : exponent on the account's traffic share of the key.
    share_prior : pseudo-requests added to each account's volume when computing shares.
    window_minutes : SynchroTrap window for ``template_window`` keys.
    pivot_bucket_hours : accounts that first used the new model in the same bucket share a key.
    pivot_min_share : minimum share of the post-release window on the new model to count.
    pivot_max_delay_hours : the first new-model request must come this soon after release.
    pivot_min_requests : requests an account needs in the post-release window to count.

    Attributes
    ----------
    edges_ : pa.Table with account_id, key_kind, key, weight, n, deg, share, owner (the
        account's verified organisation as ``org:ID``, else the account: see
        ``definitions.EDGES_WITH_DEGREE``).
    """

    def __init__(
        self,
        kinds: tuple[str, ...] = EDGE_KINDS,
        kind_weights: dict[str, float] | None = None,
        c: float = 5.0,
        share_power: float = 1.0,
        share_prior: float = 2.0,
        window_minutes: float = 60.0,
        pivot_bucket_hours: float = 6.0,
        pivot_min_share: float = 0.3,
        pivot_max_delay_hours: float = 24.0,
        pivot_min_requests: int = 3,
    ) -> None:
        self.kinds = kinds
        self.kind_weights = kind_weights
        self.c = c
        self.share_power = share_power
        self.share_prior = share_prior
        self.window_minutes = window_minutes
        self.pivot_bucket_hours = pivot_bucket_hours
        self.pivot_min_share = pivot_min_share
        self.pivot_max_delay_hours = pivot_max_delay_hours
        self.pivot_min_requests = pivot_min_requests

    def _weights(self) -> dict[str, float]:
        weights = dict(DEFAULT_KIND_WEIGHTS)
        weights.update(self.kind_weights or {})
        return weights

    def _validate(self) -> None:
        unknown = sorted(set(self.kinds) - set(ALL_EDGE_KINDS))
        if unknown or not self.kinds:
            raise InvalidParameterError(
                f"EdgeBuilder.kinds must be a non-empty subset of {list(ALL_EDGE_KINDS)}; got {self.kinds!r}"
            )
        bad = sorted(set(self.kind_weights or {}) - set(ALL_EDGE_KINDS))
        if bad:
            raise InvalidParameterError(f"EdgeBuilder.kind_weights has unknown kinds {bad}")
        check_range(self, "c", self.c, 1.0 + 1e-9, None)  # ln(deg + c) > 0 for deg >= 0
        check_range(self, "share_power", self.share_power, 0.0, 4.0)
        check_range(self, "share_prior", self.share_prior, 0.0, None)
        check_range(self, "window_minutes", self.window_minutes, 1.0, None)
        check_range(self, "pivot_bucket_hours", self.pivot_bucket_hours, 0.1, None)
        check_range(self, "pivot_min_share", self.pivot_min_share, 0.0, 1.0)
        check_range(self, "pivot_max_delay_hours", self.pivot_max_delay_hours, 0.0, None)

    def sql(self) -> str:
        """The SQL this builder runs (for ``explain`` and the Spark engine)."""
        return d.edge_union(
            tuple(self.kinds),
            window_ms=int(self.window_minutes * 60_000),
            pivot_bucket_ms=int(self.pivot_bucket_hours * 3_600_000),
            pivot_min_share=float(self.pivot_min_share),
            pivot_max_delay_h=float(self.pivot_max_delay_hours),
            pivot_min_requests=int(self.pivot_min_requests),
        )

    def fit(self, engine: Engine) -> EdgeBuilder:
        """Run the edge SQL, weight the edges and write table ``graph_edges``."""
        self._validate()
        # Read as a stream and sorted by Arrow in ``weight``: an ORDER BY here is the statement's
        # largest need (its strings grow with the time span: addresses, template windows), and
        # DuckDB's sort could not finish `large` within the analysis limit (BENCHMARKS §2).
        # ``weight`` owns the rows (no reference here), so it can free each column it replaces.
        self.edges_ = self.weight(read_owned(engine.fetch_batches(self.sql(), 65_536)))
        engine.register_arrow("graph_edges", self.edges_.select(GRAPH_EDGES_SCHEMA.names))
        return self

    def _window_popularity(
        self, raw: pa.Table, kinds: pa.ChunkedArray, deg: np.ndarray
    ) -> np.ndarray:
        """Per edge: 1, or for template_window edges ln(2 + c) / ln(deg(template) + c)."""
        factor = np.ones(raw.num_rows)
        is_win = np.asarray(pc.equal(kinds, "template_window").to_numpy(zero_copy_only=False), bool)
        if not is_win.any():
            return factor
        is_tpl = np.asarray(pc.equal(kinds, "template").to_numpy(zero_copy_only=False), bool)
        keys = raw.column("key")
        tpl_keys = pc.filter(keys, pa.array(is_tpl))
        tpl_deg = deg[is_tpl]
        win_keys = pc.filter(keys, pa.array(is_win))
        parent = pc.list_element(pc.split_pattern(win_keys, "@", max_splits=1), 0)
        pos = pc.index_in(parent, value_set=tpl_keys).to_numpy(zero_copy_only=False)
        pos = np.asarray(pos, dtype=float)
        parent_deg = np.where(
            np.isnan(pos),
            2.0,
            tpl_deg[np.nan_to_num(pos).astype(np.int64)] if len(tpl_deg) else 2.0,
        )
        factor[is_win] = np.log(2.0 + self.c) / np.log(np.maximum(parent_deg, 2.0) + self.c)
        return factor

    def weight(self, raw: pa.Table) -> pa.Table:
        """Add ``share`` and ``weight`` to rows of (account_id, key_kind, key, n, n_requests, deg
        [, owner])."""
        weights = self._weights()
        n = np.asarray(raw.column("n").to_numpy(zero_copy_only=False), float)
        total = np.asarray(raw.column("n_requests").to_numpy(zero_copy_only=False), float)
        deg = np.asarray(raw.column("deg").to_numpy(zero_copy_only=False), float)
        kinds = raw.column("key_kind")
        share = np.clip(n / np.maximum(total + self.share_prior, 1.0), 0.0, 1.0)
        # A card pays for the whole account however few requests it sent: no shrinkage.
        is_payment = np.asarray(pc.equal(kinds, "payment").to_numpy(zero_copy_only=False), bool)
        share[is_payment] = np.clip(n / np.maximum(total, 1.0), 0.0, 1.0)[is_payment]
        kw = np.zeros(raw.num_rows)
        for kind, w in weights.items():
            kw[np.asarray(pc.equal(kinds, kind).to_numpy(zero_copy_only=False), bool)] = w
        weight = kw * share**self.share_power / np.log(deg + self.c)
        # SynchroTrap on a popular template: sending "hi" in the same hour as a campaign is no
        # coincidence worth a link, so a window key also pays for its template's popularity.
        weight *= self._window_popularity(raw, kinds, deg)
        keep = weight > 0
        cols: dict[str, pa.ChunkedArray | pa.Array] = {
            "account_id": raw.column("account_id"),
            "key_kind": kinds,
            "key": raw.column("key"),
            "weight": pa.array(weight),
            "n": pa.array(n.astype(np.int64)),
            "deg": pa.array(deg.astype(np.int64)),
            "share": pa.array(share),
        }
        if "owner" in raw.column_names:  # the account's organisation or itself (cluster sizes)
            cols["owner"] = raw.column("owner")
        del raw, kinds, n, total, deg, share, weight  # the caller's rows are now only in cols
        if not keep.all():  # a filter copies every column, strings too
            _replace_each(cols, lambda col: col.filter(pa.array(keep)))
        # Deterministic order so Leiden (seeded) sees the same graph on every run, whatever
        # order the engine streamed the rows in; rows already in order are not copied.
        if not in_order(pa.table(cols), EDGE_ORDER):
            order = pc.sort_indices(
                pa.table({name: cols[name] for name, _ in EDGE_ORDER}), sort_keys=EDGE_ORDER
            )
            _replace_each(cols, lambda col: col.take(order))
        return pa.table(cols)


def read_owned(reader: pa.RecordBatchReader) -> pa.Table:
    """All of ``reader``'s rows, each column of each batch copied into memory of its own.

    An engine's exported batch (DuckDB's) is freed only once every one of its columns is, so
    ``EdgeBuilder.weight`` could free none of the unsorted columns while sorting: on `large`
    the edges were held twice at the graph's peak (BENCHMARKS §2). The copy is one memcpy.
    """
    batches = [
        pa.RecordBatch.from_arrays([pa.concat_arrays([c]) for c in b.columns], schema=b.schema)
        for b in reader
    ]
    return pa.Table.from_batches(batches, schema=reader.schema)


def _replace_each(cols: dict, step: Callable[[pa.Array], pa.Array]) -> None:
    """``cols[name] = step(cols[name])`` one column at a time, each made contiguous first and
    the old one freed before the next: the memory peak is the table plus one column, not two
    tables (Arrow's allocator hands freed pages back to the system here: they are large)."""
    for name in list(cols):
        col = cols.pop(name)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        cols[name] = step(col)
        del col
        pa.default_memory_pool().release_unused()


def in_order(table: pa.Table, keys: tuple[tuple[str, str], ...]) -> bool:
    """Whether ``table``'s rows already follow ``keys`` (``sort_by``'s ascending order).

    Adjacent rows are compared key by key; a column with nulls answers ``False`` (the caller
    then sorts), so the order never depends on how an engine places nulls.
    """
    n = table.num_rows
    if n < 2:
        return True
    tied = np.ones(n - 1, dtype=bool)  # pairs of rows equal on the keys so far
    for name, direction in keys:
        col = table.column(name)
        if col.null_count or direction != "ascending":
            return False
        a, b = col.slice(0, n - 1), col.slice(1)
        if (tied & np.asarray(pc.greater(a, b).to_numpy(zero_copy_only=False), bool)).any():
            return False
        tied &= np.asarray(pc.equal(a, b).to_numpy(zero_copy_only=False), bool)
        if not tied.any():
            break
    return True
