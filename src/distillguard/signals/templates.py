"""Prompt templates: near-duplicate skeletons grouped across all accounts, incrementally.

The DuckDB tables are the index (an in-memory LSH index costs ~6 KB per prompt, too much at
10M prompts):

- ``templates(skeleton_hash, template_id)``: every distinct skeleton seen, with its template;
- ``template_bands(band_key, template_id, n_skeletons)``: the LSH band keys of each
  template's skeletons, with how many of its skeletons carry each key.

:meth:`TemplateIndex.update` reads the distinct ``(skeleton_hash, lsh_bands)`` of the
``requests`` table that are not in ``templates`` yet and groups them all in one pass, as the
Spark engine does (``engines/spark/templates.py``), so both engines give the same templates
(issue 15: hash-modulo chunks of 250k skeletons split near-duplicate groups on ``large`` that
the global pass joins). The buckets, stars and dominance rules are DuckDB SQL (spilling under
the store's memory limit); Python holds only the star edges and a few numbers per skeleton for
the connected components (~100 bytes per new skeleton by count, not yet measured on
``large``). Each band key is a
*bucket*; the bucket's members are the new skeletons with that key plus the existing
templates that already own it (looked up in ``template_bands``). A bucket's size counts
skeletons (an existing template weighs as many as it has with that key), so the bucket rules
below mean the same whether the data arrives in one run or day by day. Each bucket becomes a
**star** — every member linked to the bucket's smallest member — never all pairs: a bucket of
n members costs n - 1 edges, not n(n-1)/2. Connected components of the star edges
(``scipy.sparse.csgraph``) are the templates:

- a component that contains existing templates keeps the smallest of their ids (the others
  are merged into it: tomorrow's skeletons join yesterday's templates);
- a new component's id is its smallest skeleton hash (stable, deterministic);
- buckets with fewer than ``min_bucket`` (default 3) members link nothing: at scale, chance
  LSH collisions between unrelated prompts come in pairs (payload-only windows of two
  different wrappers over the same task set collide now and then, and one such pair would
  merge both templates), while a real wrapper fills its buckets with every prompt that uses
  it. A pair spanning two days links once a third prompt arrives;
- a skeleton links only through its *dominant* buckets, those at least ``DOMINANCE`` (2%)
  the size of its biggest usable bucket: a prompt = wrapper + payload sits in a big wrapper
  bucket and, when the same task text is reused (bare, or under another wrapper), in small
  payload buckets; following those would merge every wrapper that ever carried the task.
  Paraphrased variants of a wrapper still meet: their shared buckets are far above 2%;
- buckets with more than ``max_bucket`` members (new skeletons plus existing
  templates) are ignored as too generic, so one boilerplate key cannot chain unrelated
  templates into a giant one; they are counted in the stats. The default (1M) only drops
  keys carried by very many skeletons; lowering it below the size of a real template splits
  that template (the test shows the mechanism with max_bucket=50).

Skeletons without a match are singleton templates (``template_id = skeleton_hash``): their
bands are stored too, so tomorrow's near-duplicates can join them.

:meth:`TemplateIndex.load_lookup` builds the online scorer's :class:`TemplateLookup` from the
templates seen in at least ``min_requests`` requests (one-off prompts stay on disk), and
:func:`template_spread` reports how each template spreads over accounts.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import InvalidInputError, InvalidParameterError
from .base import _signals_section

DOMINANCE = 0.02  # see _group: links only through buckets ≥ 2% of a node's biggest one


class TemplateIndex:
    """Incremental template grouping over a DuckDB store (see module doc).

    Parameters: ``con`` a DuckDB connection with a ``requests`` table holding
    ``skeleton_hash`` and ``lsh_bands`` (``contract.TEXT_FEATURE_SCHEMA``); ``max_bucket``
    (default: the policy's ``signals.max_bucket``).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        max_bucket: int | None = None,
        policy: Any = None,
    ) -> None:
        self.con = con
        self.max_bucket = max_bucket
        self.policy = policy

    def _min_bucket(self) -> int:
        return int(_signals_section(self.policy).min_bucket)

    def _max_bucket(self) -> int:
        mb = (
            self.max_bucket
            if self.max_bucket is not None
            else _signals_section(self.policy).max_bucket
        )
        if isinstance(mb, bool) or not isinstance(mb, int) or mb < 2:
            raise InvalidParameterError(
                f"TemplateIndex.max_bucket must be an integer in [2, inf]; got {mb!r}"
            )
        return mb

    def ensure_tables(self) -> None:
        """Create ``templates`` and ``template_bands`` when missing."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS templates (skeleton_hash UBIGINT, template_id UBIGINT)"
        )
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS template_bands "
            "(band_key UBIGINT, template_id UBIGINT, n_skeletons BIGINT)"
        )
        cols = {r[0] for r in self.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'template_bands'"
        ).fetchall()}
        if "n_skeletons" not in cols:  # a store written before the count was kept
            self.con.execute(
                "ALTER TABLE template_bands ADD COLUMN n_skeletons BIGINT DEFAULT 1"
            )

    def _check_requests(self) -> None:
        cols = {
            r[0]
            for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'requests'"
            ).fetchall()
        }
        if not cols:
            raise InvalidInputError("TemplateIndex.update needs a 'requests' table in the store")
        missing = sorted({"skeleton_hash", "lsh_bands"} - cols)
        if missing:
            raise InvalidInputError(
                f"the requests table lacks {missing}; run the text featurizer first"
            )

    def update(self, progress: Any = None) -> dict[str, Any]:
        """Group the new skeletons of ``requests`` into templates; returns run statistics."""
        t0 = time.perf_counter()
        max_bucket = self._max_bucket()
        min_bucket = self._min_bucket()
        self._check_requests()
        self.ensure_tables()
        con = self.con
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _tpl_new AS
            SELECT r.skeleton_hash, any_value(r.lsh_bands) AS lsh_bands
            FROM requests r
            WHERE r.skeleton_hash IS NOT NULL AND r.skeleton_hash <> 0
              AND r.lsh_bands IS NOT NULL AND len(r.lsh_bands) > 0
              AND NOT EXISTS (SELECT 1 FROM templates t WHERE t.skeleton_hash = r.skeleton_hash)
            GROUP BY r.skeleton_hash
            """
        )
        n_new = con.execute("SELECT count(*) FROM _tpl_new").fetchall()[0][0]
        stats: dict[str, Any] = {
            "new_skeletons": int(n_new),
            "chunks": 0,
            "buckets": 0,
            "buckets_ignored": 0,
            "star_edges": 0,
            "joined_existing": 0,
            "new_templates": 0,
            "merged_templates": 0,
        }
        if n_new:
            task = progress.add_task("templates", total=1) if progress is not None else None
            self._group(min_bucket, max_bucket, stats)
            stats["chunks"] = 1  # one global pass (the key stays for readers of summary.json)
            if task is not None:
                progress.advance(task)
        con.execute("DROP TABLE IF EXISTS _tpl_new")
        for t in ("_c", "_cb", "_ct", "_cm", "_cbk", "_cl", "_remap", "_merged", "_nb"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        row = con.execute("SELECT count(*), count(DISTINCT template_id) FROM templates").fetchall()[
            0
        ]
        stats["skeletons_total"] = int(row[0])
        stats["templates_total"] = int(row[1])
        stats["seconds"] = round(time.perf_counter() - t0, 3)
        return stats

    def _group(self, min_bucket: int, max_bucket: int, stats: dict[str, Any]) -> None:
        """Group every new skeleton (``_tpl_new``) with each other and existing templates."""
        con = self.con
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _c AS
            SELECT skeleton_hash, lsh_bands, (row_number() OVER (ORDER BY skeleton_hash) - 1)
                   AS node
            FROM _tpl_new
            """
        )
        m = con.execute("SELECT count(*) FROM _c").fetchall()[0][0]
        if m == 0:
            return
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _cb AS "
            "SELECT DISTINCT node, unnest(lsh_bands) AS band_key FROM _c"
        )
        # existing templates that own one of the new band keys become nodes m, m+1, ...
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _ct AS
            SELECT template_id, {m} + row_number() OVER (ORDER BY template_id) - 1 AS node
            FROM (SELECT DISTINCT tb.template_id FROM template_bands tb
                  WHERE tb.band_key IN (SELECT band_key FROM _cb))
            """
        )
        # members of each bucket; an existing template weighs as many skeletons as it has
        # with that key, so a bucket's size is the same as if everything ran in one batch
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _cm AS
            SELECT node, band_key, 1::BIGINT AS w FROM _cb
            UNION ALL
            SELECT t.node, tb.band_key, sum(coalesce(tb.n_skeletons, 1))::BIGINT AS w
            FROM template_bands tb JOIN _ct t USING (template_id)
            WHERE tb.band_key IN (SELECT band_key FROM _cb)
            GROUP BY t.node, tb.band_key
            """
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _cbk AS "
            "SELECT band_key, sum(w) AS n, count(*) AS nodes, min(node) AS hub "
            "FROM _cm GROUP BY band_key"
        )
        b = con.execute(
            f"SELECT count(*) FILTER (WHERE n >= {min_bucket}), "
            f"count(*) FILTER (WHERE n > {max_bucket}) "
            "FROM _cbk"
        ).fetchall()[0]
        stats["buckets"] += int(b[0])
        stats["buckets_ignored"] += int(b[1])
        # A node links only through its dominant buckets: one at least DOMINANCE × the size of
        # its biggest usable bucket. A prompt = wrapper + payload sits in a big wrapper bucket
        # and in small payload buckets (the same task text reused elsewhere); following the
        # small ones would merge every wrapper that ever carried that task.
        edges = con.sql(
            f"""
            WITH ok AS (
                SELECT m.node, m.band_key, k.n,
                       max(k.n) OVER (PARTITION BY m.node) AS top
                FROM _cm m JOIN _cbk k USING (band_key)
                WHERE k.n BETWEEN {min_bucket} AND {max_bucket} AND k.nodes >= 2
            ), kept AS (
                SELECT node, band_key FROM ok WHERE n >= {DOMINANCE} * top
            ), hubs AS (
                SELECT band_key, min(node) AS hub, count(*) AS c FROM kept GROUP BY band_key
            )
            SELECT DISTINCT kept.node, hubs.hub FROM kept JOIN hubs USING (band_key)
            WHERE hubs.c >= 2 AND kept.node <> hubs.hub
            """
        ).to_arrow_table()
        n_tpl = con.execute("SELECT count(*) FROM _ct").fetchall()[0][0]
        n_nodes = m + n_tpl
        src = edges.column("node").to_numpy().astype(np.int64)
        dst = edges.column("hub").to_numpy().astype(np.int64)
        stats["star_edges"] += len(src)
        graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes))
        _, labels = connected_components(graph, directed=False)

        # ids per node: skeleton hash for new nodes, template id for existing-template nodes
        ids = np.zeros(n_nodes, dtype=np.uint64)
        c = con.sql("SELECT node, skeleton_hash FROM _c").to_arrow_table()
        ids[c.column("node").to_numpy()] = c.column("skeleton_hash").to_numpy()
        is_tpl = np.zeros(n_nodes, dtype=bool)
        if n_tpl:
            t = con.sql("SELECT node, template_id FROM _ct").to_arrow_table()
            ids[t.column("node").to_numpy()] = t.column("template_id").to_numpy()
            is_tpl[t.column("node").to_numpy()] = True
        big = np.iinfo(np.uint64).max
        n_comp = int(labels.max()) + 1 if n_nodes else 0
        best_tpl = np.full(n_comp, big, dtype=np.uint64)
        np.minimum.at(best_tpl, labels[is_tpl], ids[is_tpl])
        best_new = np.full(n_comp, big, dtype=np.uint64)
        np.minimum.at(best_new, labels[~is_tpl], ids[~is_tpl])
        has_tpl = np.zeros(n_comp, dtype=bool)
        has_tpl[labels[is_tpl]] = True
        comp_id = np.where(has_tpl, best_tpl, best_new)
        final = comp_id[labels]

        new_nodes = np.arange(m)
        stats["joined_existing"] += int(has_tpl[labels[new_nodes]].sum())
        new_comps = np.unique(labels[new_nodes][~has_tpl[labels[new_nodes]]])
        stats["new_templates"] += len(new_comps)
        assign = pa.table(
            {
                "node": pa.array(new_nodes, pa.int64()),
                "template_id": pa.array(final[:m], pa.uint64()),
            }
        )
        con.register("_assign", assign)
        try:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _cl AS "
                "SELECT c.skeleton_hash, a.template_id, c.node FROM _c c JOIN _assign a USING (node)"
            )
        finally:
            con.unregister("_assign")
        # existing templates merged into another one
        if n_tpl:
            old = ids[is_tpl]
            new = final[is_tpl]
            moved = old != new
            if moved.any():
                remap = pa.table(
                    {
                        "old_id": pa.array(old[moved], pa.uint64()),
                        "new_id": pa.array(new[moved], pa.uint64()),
                    }
                )
                stats["merged_templates"] += int(moved.sum())
                con.register("_remap_arrow", remap)
                try:
                    con.execute("CREATE OR REPLACE TEMP TABLE _remap AS SELECT * FROM _remap_arrow")
                finally:
                    con.unregister("_remap_arrow")
                con.execute(
                    "UPDATE templates SET template_id = r.new_id FROM _remap r "
                    "WHERE templates.template_id = r.old_id"
                )
                con.execute(
                    "UPDATE template_bands SET template_id = r.new_id FROM _remap r "
                    "WHERE template_bands.template_id = r.old_id"
                )
                # one row per (band, template) again, with the counts summed
                con.execute(
                    """
                    CREATE OR REPLACE TEMP TABLE _merged AS
                    SELECT band_key, template_id, sum(n_skeletons)::BIGINT AS n_skeletons
                    FROM template_bands
                    WHERE template_id IN (SELECT DISTINCT new_id FROM _remap)
                    GROUP BY band_key, template_id
                    """
                )
                con.execute(
                    "DELETE FROM template_bands "
                    "WHERE template_id IN (SELECT DISTINCT new_id FROM _remap)"
                )
                con.execute("INSERT INTO template_bands SELECT * FROM _merged")
        con.execute("INSERT INTO templates SELECT skeleton_hash, template_id FROM _cl")
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _nb AS
            SELECT b.band_key, l.template_id, count(*)::BIGINT AS n_skeletons
            FROM _cb b JOIN _cl l USING (node) GROUP BY b.band_key, l.template_id
            """
        )
        con.execute(
            """
            UPDATE template_bands SET n_skeletons = template_bands.n_skeletons + nb.n_skeletons
            FROM _nb nb
            WHERE template_bands.band_key = nb.band_key
              AND template_bands.template_id = nb.template_id
            """
        )
        con.execute(
            """
            INSERT INTO template_bands
            SELECT nb.band_key, nb.template_id, nb.n_skeletons FROM _nb nb
            WHERE NOT EXISTS (SELECT 1 FROM template_bands tb
                              WHERE tb.band_key = nb.band_key
                                AND tb.template_id = nb.template_id)
            """
        )

    @staticmethod
    def load_lookup(con: duckdb.DuckDBPyConnection, min_requests: int = 2) -> TemplateLookup:
        """The online :class:`TemplateLookup` over templates seen in ≥ ``min_requests``
        requests (one-off prompts stay on disk only)."""
        has = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name IN ('templates', 'requests')"
        ).fetchall()[0][0]
        if has < 2:
            return TemplateLookup(
                np.zeros(0, np.uint64),
                np.zeros(0, np.uint64),
                np.zeros(0, np.uint64),
                np.zeros(0, np.uint64),
            )
        big = (
            "SELECT t.template_id FROM requests r JOIN templates t USING (skeleton_hash) "
            f"GROUP BY t.template_id HAVING count(*) >= {int(min_requests)}"
        )
        sk = con.sql(
            f"SELECT skeleton_hash, template_id FROM templates WHERE template_id IN ({big}) "
            "ORDER BY skeleton_hash"
        ).to_arrow_table()
        # a band key owned by several templates is ambiguous: keep the smallest template id
        bd = con.sql(
            f"SELECT band_key, min(template_id) AS template_id FROM template_bands "
            f"WHERE template_id IN ({big}) GROUP BY band_key ORDER BY band_key"
        ).to_arrow_table()
        return TemplateLookup(
            sk.column("skeleton_hash").to_numpy(),
            sk.column("template_id").to_numpy(),
            bd.column("band_key").to_numpy(),
            bd.column("template_id").to_numpy(),
        )


class TemplateLookup:
    """In-memory template matcher for the online scorer: sorted numpy arrays (16 bytes per
    skeleton and per band key of non-singleton templates), binary search per key."""

    def __init__(
        self,
        skeletons: np.ndarray,
        skeleton_tpl: np.ndarray,
        bands: np.ndarray,
        band_tpl: np.ndarray,
    ) -> None:
        self.skeletons = np.ascontiguousarray(skeletons, dtype=np.uint64)
        self.skeleton_tpl = np.ascontiguousarray(skeleton_tpl, dtype=np.uint64)
        self.bands = np.ascontiguousarray(bands, dtype=np.uint64)
        self.band_tpl = np.ascontiguousarray(band_tpl, dtype=np.uint64)

    def __len__(self) -> int:
        return len(np.unique(self.skeleton_tpl))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.skeletons, self.skeleton_tpl, self.bands, self.band_tpl))

    def match(self, skeleton_hash: int, lsh_bands: Any) -> int | None:
        """The template of a skeleton: exact skeleton first, else the template owning most of
        its band keys (ties: smallest id); None when nothing matches. O(bands · log n)."""
        if len(self.skeletons):
            i = int(np.searchsorted(self.skeletons, np.uint64(skeleton_hash)))
            if i < len(self.skeletons) and int(self.skeletons[i]) == int(skeleton_hash):
                return int(self.skeleton_tpl[i])
        if lsh_bands is None or not len(self.bands):
            return None
        keys = np.asarray(lsh_bands, dtype=np.uint64)
        if not len(keys):
            return None
        pos = np.searchsorted(self.bands, keys)
        pos = np.minimum(pos, len(self.bands) - 1)
        found = self.bands[pos] == keys
        if not found.any():
            return None
        tpls, counts = np.unique(self.band_tpl[pos[found]], return_counts=True)
        return int(tpls[np.argmax(counts)])


def template_spread(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """How each template spreads over accounts: one row per template with ≥ 1 request.

    Columns: template_id, n_skeletons, n_requests, n_accounts, top_account, top_share (the
    top account's share of the template's requests), first_ts_ms, last_ts_ms. Sorted by
    n_accounts, then n_requests, descending.
    """
    for table in ("requests", "templates"):
        has = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchall()[0][0]
        if not has:
            raise InvalidInputError(f"template_spread needs a '{table}' table in the store")
    return con.sql(
        """
        WITH r AS (
            SELECT t.template_id, q.account_id, q.ts_ms
            FROM requests q JOIN templates t USING (skeleton_hash)
        ), per_acc AS (
            SELECT template_id, account_id, count(*) AS n FROM r GROUP BY ALL
        ), top AS (
            SELECT template_id, arg_max(account_id, n) AS top_account, max(n) AS top_n,
                   count(*) AS n_accounts, sum(n) AS n_requests
            FROM per_acc GROUP BY template_id
        ), sk AS (
            SELECT template_id, count(*) AS n_skeletons FROM templates GROUP BY template_id
        ), ts AS (
            SELECT template_id, min(ts_ms) AS first_ts_ms, max(ts_ms) AS last_ts_ms
            FROM r GROUP BY template_id
        )
        SELECT top.template_id, sk.n_skeletons, top.n_requests::BIGINT AS n_requests,
               top.n_accounts, top.top_account,
               (top.top_n / top.n_requests)::DOUBLE AS top_share,
               ts.first_ts_ms, ts.last_ts_ms
        FROM top JOIN sk USING (template_id) JOIN ts USING (template_id)
        ORDER BY n_accounts DESC, n_requests DESC, template_id
        """
    ).to_arrow_table()
