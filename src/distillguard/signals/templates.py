"""Prompt templates: near-duplicate skeletons grouped across all accounts, incrementally.

The DuckDB tables are the index (an in-memory LSH index costs ~6 KB per prompt, too much at
10M prompts):

- ``templates(skeleton_hash, template_id)``: every distinct skeleton seen, with its template;
- ``template_bands(band_key, template_id, n_skeletons)``: the LSH band keys of each
  template's skeletons, with how many of its skeletons carry each key.

:meth:`TemplateIndex.update` reads the distinct ``(skeleton_hash, lsh_bands)`` of the
``requests`` table that are not in ``templates`` yet and groups them all in one pass (issue 15:
hash-modulo chunks of 250k skeletons split near-duplicate groups on ``large`` that the global
pass joins). The rules are written once, below :data:`DOMINANCE`: SQL texts for the buckets,
the stars and each component's template id (:func:`buckets_sql`, :func:`star_edges_sql`,
:func:`labelled_sql`) and one component labeller (:func:`star_components`), which DuckDB here
and Spark (``engines/spark/templates.py``) both run, so the two engines give the same
templates. The SQL spills under the store's memory limit; Python holds only the star edges and
a few numbers per star node for the connected components (~100 bytes per new skeleton by
count, not yet measured on ``large``). Each band key is a
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

DOMINANCE = 0.02  # a node links only through buckets ≥ 2% of its biggest usable one
DOMINANCE_DIVISOR = 50  # the same rule in integers: n ≥ 0.02·top ⇔ 50·n ≥ top
NODE_OFFSET = 1 << 63  # node = hash - NODE_OFFSET, a BIGINT in the hashes' unsigned order
REPEAT_CHECK_ROWS = 65_536  # skeletons' band-key lists checked for repeats at a time


# -- The grouping rules: one definition, run by both engines ------------------------------
#
# The SQL below runs unchanged in DuckDB (``TemplateIndex``) and Spark SQL
# (``engines/spark/templates.py``), on the same integers: a node (a new skeleton, or an
# existing template) is its hash minus 2^63 as a BIGINT (:data:`NODE_OFFSET`; the uint64's bits
# with the sign bit flipped), whose signed order is the hashes' unsigned order. So the stars'
# hubs, the components' labels and each template id ("the smallest") are the same nodes in
# both engines. Only integer arithmetic decides (``n >= 0.02 * top`` was a DECIMAL product in
# DuckDB and a DOUBLE one in Spark; the two agree for every ``top`` up to 10M, checked, but
# ``50 * n >= top`` needs no such check).
# The relations they read:
#
# - ``members(node, band, w)``: one row per node and band key; ``w`` the skeletons the node
#   stands for under that key (1 for a new skeleton; an existing template's count);
# - ``buckets(band, n, nodes)``: :func:`buckets_sql` over ``members``;
# - ``components(node, component)``: the star edges' connected components, labelled by the
#   smallest node (:func:`star_components`, or large/small-star on Spark's executors);
# - ``nodes(node, is_tpl)``: whether each node is an existing template.


def buckets_sql(members: str) -> str:
    """Each band key is a bucket: its size ``n`` in skeletons and its number of nodes."""
    return f"SELECT band, sum(w) AS n, count(*) AS nodes FROM {members} GROUP BY band"


def bucket_stats_sql(buckets: str, min_bucket: int, max_bucket: int) -> str:
    """Buckets big enough to link (``buckets``) and those too generic to use (``ignored``)."""
    return (
        f"SELECT coalesce(sum(CASE WHEN n >= {int(min_bucket)} THEN 1 ELSE 0 END), 0) "
        "AS buckets, "
        f"coalesce(sum(CASE WHEN n > {int(max_bucket)} THEN 1 ELSE 0 END), 0) AS ignored "
        f"FROM {buckets}"
    )


def star_edges_sql(members: str, buckets: str, min_bucket: int, max_bucket: int) -> str:
    """``(src, dst)`` star edges: each node linked to the smallest node of every usable
    bucket it keeps (usable: ``min_bucket``..``max_bucket`` skeletons and ≥ 2 nodes; kept:
    at least 1/``DOMINANCE_DIVISOR`` the size of the node's biggest usable bucket, shared
    with at least one other kept node). Each node's biggest bucket is a grouped ``max``
    joined back: a window partitioned by node cost DuckDB ~5x more (0.23 against 0.04 CPU-s
    over medium-w101's 2.56M usable pairs)."""
    return f"""
        WITH usable AS (
            SELECT m.node, m.band, k.n
            FROM {members} m JOIN {buckets} k ON m.band = k.band
            WHERE k.n >= {int(min_bucket)} AND k.n <= {int(max_bucket)} AND k.nodes >= 2
        ), tops AS (
            SELECT node, max(n) AS top FROM usable GROUP BY node
        ), kept AS (
            SELECT u.node, u.band FROM usable u JOIN tops t ON u.node = t.node
            WHERE u.n * {DOMINANCE_DIVISOR} >= t.top
        ), hubs AS (
            SELECT band, min(node) AS hub, count(*) AS c FROM kept GROUP BY band
        )
        SELECT DISTINCT kept.node AS src, hubs.hub AS dst
        FROM kept JOIN hubs ON kept.band = hubs.band
        WHERE hubs.c >= 2 AND kept.node <> hubs.hub
    """


def labelled_sql(components: str, nodes: str) -> str:
    """``(node, is_tpl, final, has_tpl, component)`` for every node with a star edge:
    ``final`` is the node whose id its component takes — the smallest existing template (the
    others merge into it), else the smallest new skeleton."""
    return f"""
        WITH l AS (
            SELECT c.node, c.component, n.is_tpl
            FROM {components} c JOIN {nodes} n ON c.node = n.node
        ), per_comp AS (
            SELECT component,
                   coalesce(min(CASE WHEN is_tpl THEN node END),
                            min(CASE WHEN NOT is_tpl THEN node END)) AS final,
                   max(CASE WHEN is_tpl THEN 1 ELSE 0 END) AS has_tpl
            FROM l GROUP BY component
        )
        SELECT l.node, l.is_tpl, p.final, p.has_tpl, l.component
        FROM l JOIN per_comp p ON l.component = p.component
    """


def star_components(src: np.ndarray, dst: np.ndarray) -> pa.Table:
    """``(node, component)`` int64 for every node of the star edges: connected components
    (``scipy.sparse.csgraph``) labelled by their smallest node, the label large-star /
    small-star gives (``engines/spark/graph.py``)."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    nodes, inv = np.unique(np.concatenate([src, dst]), return_inverse=True)
    n, m = len(nodes), len(src)
    if n == 0:
        return pa.table({"node": pa.array([], pa.int64()), "component": pa.array([], pa.int64())})
    graph = coo_matrix((np.ones(m, dtype=np.int8), (inv[:m], inv[m:])), shape=(n, n))
    _, lab = connected_components(graph, directed=False)
    # nodes are sorted, so the smallest index per label is the component's smallest node
    first = np.full(int(lab.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, lab, np.arange(n))
    return pa.table({"node": pa.array(nodes, pa.int64()),
                     "component": pa.array(nodes[first[lab]], pa.int64())})


def lists_with_repeats(lists: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Per list (of integers), whether it holds a value twice; NULL and empty lists do not.

    Lists of one length at a time are sorted as the rows of a matrix and neighbours compared:
    no Python loop per list, a few lengths per batch of band keys.
    """
    arr = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    out = np.zeros(len(arr), dtype=bool)
    if len(arr) == 0:
        return out
    if arr.values.null_count:  # a NULL value: every list takes the exact path
        return ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    offsets = arr.offsets.to_numpy()  # into ``arr.values``, whatever the array's own offset
    values = arr.values.to_numpy()
    length = np.diff(offsets)
    if arr.null_count:
        length = np.where(arr.is_null().to_numpy(zero_copy_only=False), 0, length)
    for n in np.unique(length[length > 1]):
        rows = np.flatnonzero(length == n)
        block = np.sort(values[offsets[rows, None] + np.arange(n)], axis=1)
        out[rows] = (block[:, 1:] == block[:, :-1]).any(axis=1)
    return out


def _to_node(col: str) -> str:
    """DuckDB SQL: the node (BIGINT) of the UBIGINT hash ``col``."""
    return f"({col}::HUGEINT - {NODE_OFFSET}::HUGEINT)::BIGINT"


def _to_hash(col: str) -> str:
    """DuckDB SQL: the UBIGINT hash of the node ``col``."""
    return f"({col}::HUGEINT + {NODE_OFFSET}::HUGEINT)::UBIGINT"


_TEMP_TABLES = (
    "_tpl_new", "_c", "_cb", "_ct", "_tpl_nodes", "_cm", "_cbk", "_lab", "_cl", "_remap",
    "_merged", "_nb",
)


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
        n_new = self._collect_new()
        stats: dict[str, Any] = {
            "new_skeletons": n_new,
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
        for t in _TEMP_TABLES:
            self.con.execute(f"DROP TABLE IF EXISTS {t}")
        self.con.execute("DROP VIEW IF EXISTS _cmv")
        row = self._one("SELECT count(*), count(DISTINCT template_id) FROM templates")
        stats["skeletons_total"] = int(row[0])
        stats["templates_total"] = int(row[1])
        stats["seconds"] = round(time.perf_counter() - t0, 3)
        return stats

    def _one(self, sql: str) -> tuple:
        return self.con.execute(sql).fetchall()[0]

    def _collect_new(self) -> int:
        """``_tpl_new``: the distinct skeletons of ``requests`` not yet in ``templates``.

        A skeleton's band keys are a function of its tokens, so every request with that
        skeleton carries the same list and any one of them will do. On a table, the first
        row's (``min(rowid)``): grouping carries only integers, not every row's list (a
        third of the CPU on medium-w101).
        """
        usable = (
            "{r}.skeleton_hash IS NOT NULL AND {r}.skeleton_hash <> 0 "
            "AND {r}.lsh_bands IS NOT NULL AND len({r}.lsh_bands) > 0"
        )
        new = "NOT EXISTS (SELECT 1 FROM templates t WHERE t.skeleton_hash = r.skeleton_hash)"
        if self._requests_is_table():
            sql = (
                "SELECT r.skeleton_hash, r.lsh_bands FROM requests r WHERE r.rowid IN ("
                f"SELECT min(q.rowid) FROM requests q WHERE {usable.format(r='q')} "
                f"GROUP BY q.skeleton_hash) AND {new}"
            )
        else:  # a view has no rowid
            sql = (
                "SELECT r.skeleton_hash, any_value(r.lsh_bands) AS lsh_bands FROM requests r "
                f"WHERE {usable.format(r='r')} AND {new} GROUP BY r.skeleton_hash"
            )
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _tpl_new AS {sql}")
        return int(self._one("SELECT count(*) FROM _tpl_new")[0])

    def _requests_is_table(self) -> bool:
        return bool(self._one(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name = 'requests' AND table_type <> 'VIEW'"
        )[0])

    def _group(self, min_bucket: int, max_bucket: int, stats: dict[str, Any]) -> None:
        """Group every new skeleton (``_tpl_new``) with each other and existing templates,
        by the shared rules (:func:`star_edges_sql`, :func:`labelled_sql`)."""
        m = self._number_nodes()
        if m == 0:
            return
        members = self._members()
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _cbk AS {buckets_sql(members)}")
        b = self._one(bucket_stats_sql("_cbk", min_bucket, max_bucket))
        stats["buckets"] += int(b[0])
        stats["buckets_ignored"] += int(b[1])
        edges = self.con.sql(star_edges_sql(members, "_cbk", min_bucket, max_bucket)).to_arrow_table()
        stats["star_edges"] += edges.num_rows
        self._label(edges)
        self._count(m, stats)
        self._write(stats)

    def _number_nodes(self) -> int:
        """Nodes (:data:`NODE_OFFSET`): the new skeletons (``_c``, their band keys ``_cb``)
        and the existing templates owning one of those keys (``_ct``); ``_tpl_nodes``."""
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _c AS SELECT skeleton_hash, lsh_bands, "
            f"{_to_node('skeleton_hash')} AS node FROM _tpl_new"
        )
        m = int(self._one("SELECT count(*) FROM _c")[0])
        if m == 0:
            return 0
        self._band_pairs()
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _ct AS
            SELECT template_id, {_to_node('template_id')} AS node
            FROM (SELECT DISTINCT tb.template_id FROM template_bands tb
                  WHERE tb.band_key IN (SELECT band_key FROM _cb))
            """
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _tpl_nodes AS "
            "SELECT node, false AS is_tpl FROM _c UNION ALL SELECT node, true FROM _ct"
        )
        return m

    def _band_pairs(self) -> None:
        """``_cb(node, band_key)``: each new skeleton's band keys, each once (the same pairs as
        a DISTINCT over all of them: nodes are distinct and the featurizer writes no NULL key).

        A prompt's keys are distinct by construction (each mixes its band index in through a
        bijection), so only the lists :func:`lists_with_repeats` finds go through
        ``list_distinct``, which cost ~0.7 CPU-s on every list of medium-w101 (164,715).
        """
        # Read in batches (read to the end: a half-read result blocks the connection): the
        # lists of every new skeleton at once would grow with the log (~270 bytes a skeleton).
        reader = self.con.sql("SELECT node, lsh_bands FROM _c").to_arrow_reader(REPEAT_CHECK_ROWS)
        found = [
            batch.column("node").filter(pa.array(hit))
            for batch in reader
            if (hit := lists_with_repeats(batch.column("lsh_bands"))).any()
        ]
        plain = "SELECT node, unnest(lsh_bands) AS band_key FROM _c"
        if not found:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE _cb AS {plain}")
            return
        nodes = pa.table({"node": pa.concat_arrays(found)})
        self.con.register("_tpl_repeats", nodes)
        try:
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE _cb AS "
                f"{plain} WHERE node NOT IN (SELECT node FROM _tpl_repeats) UNION ALL "
                "SELECT node, unnest(list_distinct(lsh_bands)) AS band_key FROM _c "
                "WHERE node IN (SELECT node FROM _tpl_repeats)"
            )
        finally:
            self.con.unregister("_tpl_repeats")

    def _members(self) -> str:
        """``_cm(node, band, w)``: an existing template weighs as many skeletons as it has with
        that key, so a bucket's size is the same as if everything ran in one batch. Returns
        the relation's name (``_cmv``, a view, when no existing template is involved)."""
        if not self._one("SELECT count(*) FROM _ct")[0]:
            # nothing to weigh (a first run): a view, not a copy of every (node, key) pair
            self.con.execute(
                "CREATE OR REPLACE TEMP VIEW _cmv AS "
                "SELECT node, band_key AS band, 1::BIGINT AS w FROM _cb"
            )
            return "_cmv"
        self.con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _cm AS
            SELECT node, band_key AS band, 1::BIGINT AS w FROM _cb
            UNION ALL
            SELECT t.node, tb.band_key AS band, sum(coalesce(tb.n_skeletons, 1))::BIGINT AS w
            FROM template_bands tb JOIN _ct t USING (template_id)
            WHERE tb.band_key IN (SELECT band_key FROM _cb)
            GROUP BY t.node, tb.band_key
            """
        )
        return "_cm"

    def _label(self, edges: pa.Table) -> None:
        """``_lab``: each star node's component and the template id it ends up with."""
        comps = star_components(
            edges.column("src").to_numpy(), edges.column("dst").to_numpy()
        )
        self.con.register("_tpl_comps", comps)
        try:
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE _lab AS "
                + labelled_sql("_tpl_comps", "_tpl_nodes")
            )
        finally:
            self.con.unregister("_tpl_comps")

    def _count(self, m: int, stats: dict[str, Any]) -> None:
        row = self._one(
            "SELECT count(*) FILTER (WHERE NOT is_tpl AND has_tpl = 1), "
            "count(DISTINCT component) FILTER (WHERE NOT is_tpl AND has_tpl = 0), "
            "count(*) FILTER (WHERE NOT is_tpl), "
            "count(*) FILTER (WHERE is_tpl AND node <> final) FROM _lab"
        )
        stats["joined_existing"] += int(row[0])
        stats["new_templates"] += int(row[1]) + m - int(row[2])  # + singletons (no star)
        stats["merged_templates"] += int(row[3])

    def _write(self, stats: dict[str, Any]) -> None:
        """Store the new skeletons' templates, merge remapped templates, update band counts."""
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _cl AS "
            "SELECT c.skeleton_hash, "
            f"coalesce({_to_hash('l.final')}, c.skeleton_hash) AS template_id, c.node, "
            "l.node IS NOT NULL AS starred "
            "FROM _c c LEFT JOIN _lab l USING (node)"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _remap AS "
            f"SELECT t.template_id AS old_id, {_to_hash('l.final')} AS new_id "
            "FROM _lab l JOIN _ct t USING (node) WHERE l.is_tpl AND l.node <> l.final"
        )
        if self._one("SELECT count(*) FROM _remap")[0]:
            self._merge_templates()
        con.execute("INSERT INTO templates SELECT skeleton_hash, template_id FROM _cl")
        self._add_bands()

    def _merge_templates(self) -> None:
        """Existing templates merged into another: rename them, one band row per template."""
        con = self.con
        for table in ("templates", "template_bands"):
            con.execute(
                f"UPDATE {table} SET template_id = r.new_id FROM _remap r "
                f"WHERE {table}.template_id = r.old_id"
            )
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
            "DELETE FROM template_bands WHERE template_id IN (SELECT DISTINCT new_id FROM _remap)"
        )
        con.execute("INSERT INTO template_bands SELECT * FROM _merged")

    def _add_bands(self) -> None:
        """Count the new skeletons' band keys into ``template_bands``."""
        con = self.con
        # A skeleton outside every star is a template of its own (its own hash, which no
        # other node carries) and holds each of its keys once: a count of 1, no grouping.
        # ``starred`` (in ``_lab``) is read from ``_cl``: IN / NOT IN over ``_lab`` cost more.
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _nb AS
            SELECT b.band_key, l.template_id, count(*)::BIGINT AS n_skeletons
            FROM _cb b JOIN _cl l USING (node) WHERE l.starred
            GROUP BY b.band_key, l.template_id
            UNION ALL
            SELECT b.band_key, l.template_id, 1::BIGINT AS n_skeletons
            FROM _cb b JOIN _cl l USING (node) WHERE NOT l.starred
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
