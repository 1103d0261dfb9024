"""Run a simulation: plan accounts, generate requests chunk by chunk, write the contract files.

The request log is written in chunks of work units (an account's requests, or a slice of a
heavy account's) in a seeded random order that mixes personas and campaigns; each chunk is
sorted by time, but the file as a whole is **not** time-sorted. JSON lines are assembled from
escaped string columns with ``pyarrow.compute`` and written through one gzip stream (mtime 0),
so the bytes are identical for the same seed and corpora.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from .. import __version__
from ..contract import ACCOUNT_FIELDS, LABEL_FIELDS, REQUEST_LABEL_FIELDS
from ..errors import InvalidParameterError
from ..progress import make_progress, stage
from .gen import GENERATORS, MAX_TOKENS, REASONING, TEMPS, Context, Rows, expand, gen_benign
from .geo import COUNTRY_CODES, ip_strings
from .groups import GROUP_GENERATORS
from .personas import G4_GENERATORS
from .plan import Group, Plan, Tables, build_plan
from .scenario import Scenario, load_scenario
from .scripts import TOOLSETS_JSON
from .styles import STYLE_GENERATORS
from .text import esc, load_bank

CHUNK_ROWS = 40_000
FORMATS = ("jsonl", "parquet")
GZIP_LEVEL = 3

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A bijective 64-bit mix: distinct inputs give distinct, random-looking outputs."""
    with np.errstate(over="ignore"):
        z = (x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)) & _M64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
        return z ^ (z >> np.uint64(31))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex16(x: np.ndarray) -> pa.Array:
    """Fixed-width lowercase hex of uint64 values, vectorised."""
    x = x.astype(np.uint64)
    shifts = np.arange(60, -1, -4, dtype=np.uint64)
    nib = ((x[:, None] >> shifts) & np.uint64(15)).astype(np.intp)
    chars = np.ascontiguousarray(_HEX[nib])
    return pa.array(chars.view("S16").ravel(), pa.binary(16)).cast(pa.string())


def _lit(values: np.ndarray, table: tuple[str, ...] | pa.Array) -> pa.Array:
    """Strings from a lookup table by index; -1 gives null."""
    arr = table if isinstance(table, pa.Array) else pa.array(list(table), pa.string())
    idx = np.asarray(values, dtype=np.int64)
    return arr.take(pa.array(np.where(idx < 0, 0, idx), mask=idx < 0))


def _num(values: np.ndarray) -> pa.Array:
    v = np.asarray(values, dtype=np.int64)
    return pc.cast(pa.array(v, mask=v < 0), pa.string())


def _frag(prefix: str, arr: pa.Array, suffix: str = "") -> pa.Array:
    """``prefix + value + suffix``; null stays null (the field is then left out)."""
    return pc.binary_join_element_wise(prefix, arr, suffix, "")


class _Accounts:
    """Per-account string columns, built once."""

    def __init__(self, plan, tables: Tables):
        self.ids = pa.array(plan.account_id, pa.string())
        self.orgs = pa.array(plan.org_id, pa.string())
        self.payment = pa.array([p if p else None for p in plan.payment], pa.string())
        self.uas = pa.array([esc(u) for u in tables.uas], pa.string())
        self.routes = pa.array(tables.routes, pa.string())
        self.models = pa.array(tables.models, pa.string())


ALL_GENERATORS = {**GENERATORS, **STYLE_GENERATORS, **GROUP_GENERATORS, **G4_GENERATORS}


def _ip_or_null(ips: np.ndarray) -> pa.Array:
    """Dotted quads; address 0 (no client IP known) becomes null, so the field is left out."""
    return pc.if_else(pa.array(ips == 0), pa.scalar(None, pa.string()), ip_strings(ips))


def _fill(rows: Rows, rng: np.random.Generator, plan) -> Rows:
    """Defaults for fields a generator did not set; session numbers made globally unique."""
    n = len(rows)
    neg = np.full(n, -1, dtype=np.int64)
    for name in ("tools", "max_tokens", "temp", "reasoning", "rsn_tok"):
        if getattr(rows, name) is None:
            setattr(rows, name, neg)
    if rows.stream is None:
        rows.stream = neg
    if rows.attack is None:
        rows.attack = np.zeros(n, dtype=bool)
    if rows.campaign is None:
        rows.campaign = neg
    if rows.system is None:
        rows.system = pa.nulls(n, pa.string())
    if rows.sess is None:
        rows.sess_id = None
    else:
        base = np.uint64(int(rng.integers(0, 2**62)))
        rows.sess_id = splitmix64(rows.sess.astype(np.uint64) + base)
    return rows


def _hide_cloud_clients(rows: Rows, ctx: Context) -> Rows:
    """Cloud marketplaces forward requests from their own servers: where the world says so, a
    cloud-route request carries no client IP (address 0 is written as an absent ``ip``)."""
    if ctx.scenario.world.cloud_hides_client:
        cloud = np.array([r.startswith("cloud:") for r in ctx.tables.routes])[rows.route]
        rows.ip = np.where(cloud, 0, rows.ip).astype(np.uint32)
    return rows


def _concat(parts: list[Rows]) -> dict:
    cols: dict = {}
    for name in (
        "acct",
        "ts",
        "model",
        "ip",
        "country",
        "ua",
        "key",
        "route",
        "tools",
        "max_tokens",
        "temp",
        "reasoning",
        "stream",
        "out_tok",
        "rsn_tok",
        "status",
        "latency",
        "attack",
        "campaign",
    ):
        cols[name] = np.concatenate([np.asarray(getattr(r, name)) for r in parts])
    cols["msgs"] = pa.concat_arrays([r.msgs.cast(pa.string()) for r in parts])
    cols["system"] = pa.concat_arrays([r.system.cast(pa.string()) for r in parts])
    sess = [
        r.sess_id if r.sess_id is not None else np.zeros(len(r), dtype=np.uint64) for r in parts
    ]
    has = [np.full(len(r), r.sess_id is not None) for r in parts]
    cols["sess"] = np.concatenate(sess)
    cols["has_sess"] = np.concatenate(has)
    return cols


def _assemble(
    cols: dict, acc: _Accounts, plan: Plan, rid: np.ndarray, parquet: bool, codes: list[str]
) -> tuple[pa.Array, pa.Array]:
    """JSON lines (with trailing newline) and request ids for one sorted chunk."""
    rid_s = pc.binary_join_element_wise("req_", hex16(rid), "")
    msgs, sys_field = _messages_and_system(cols, plan.style[cols["acct"]])
    parts = _client_fields(cols, acc, plan, rid_s, msgs, sys_field, codes) + _generation_fields(
        cols, msgs, sys_field, parquet
    )
    lines = pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")
    assert len(lines) == len(cols["acct"])
    return lines, rid_s


def _messages_and_system(cols: dict, style: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """The ``messages`` JSON and the ``system`` field of each request."""
    # System prompt: OpenAI-style clients send it as the first message, others in ``system``.
    sys = cols["system"]
    as_msg = pa.array((style == 0) & pc.is_valid(sys).to_numpy(zero_copy_only=False))
    sys_msg = _frag('{"role":"system","content":"', sys, '"},')
    msgs = pc.binary_join_element_wise(
        pc.if_else(as_msg, sys_msg, pa.scalar("", pa.string())), cols["msgs"], ""
    )
    return msgs, pc.if_else(as_msg, pa.scalar(None, pa.string()), sys)


def _client_fields(
    cols: dict,
    acc: _Accounts,
    plan: Plan,
    rid_s: pa.Array,
    msgs: pa.Array,
    sys_field: pa.Array,
    codes: list[str],
) -> list:
    """JSON fragments from ``request_id`` to ``access_route``: who sent what, from where."""
    acct = cols["acct"]
    a_idx = pa.array(acct)
    ts = np.datetime_as_string(cols["ts"].astype("datetime64[ms]"), unit="ms")
    key_num = splitmix64(plan.key_base[acct] + cols["key"].astype(np.uint64))
    sess = pc.if_else(pa.array(cols["has_sess"]), hex16(cols["sess"]), pa.scalar(None, pa.string()))
    return [
        '{"request_id":"',
        rid_s,
        '","ts":"',
        pa.array(ts, pa.string()),
        '+00:00","account_id":"',
        acc.ids.take(a_idx),
        '","model":"',
        acc.models.take(pa.array(cols["model"])),
        '","messages":[',
        msgs,
        "]",
        _frag(',"system":"', sys_field, '"'),
        ',"org_id":"',
        acc.orgs.take(a_idx),
        '","api_key_id":"key_',
        hex16(key_num),
        '"',
        _frag(',"session_id":"sess_', sess, '"'),
        _frag(',"ip":"', _ip_or_null(cols["ip"]), '"'),
        ',"user_agent":"',
        acc.uas.take(pa.array(cols["ua"])),
        '","country":"',
        pa.array(codes, pa.string()).take(pa.array(cols["country"])),
        '"',
        _frag(',"payment_fingerprint":"', acc.payment.take(a_idx), '"'),
        ',"access_route":"',
        acc.routes.take(pa.array(cols["route"])),
        '"',
    ]


def _generation_fields(cols: dict, msgs: pa.Array, sys_field: pa.Array, parquet: bool) -> list:
    """JSON fragments from ``tools`` to ``latency_ms``, closing the line."""
    in_tok = (
        pc.binary_length(msgs).to_numpy() + pc.fill_null(pc.binary_length(sys_field), 0).to_numpy()
    ) // 4 + 3
    reasoning = _lit(cols["reasoning"], REASONING)
    if parquet:  # the Parquet schema types reasoning as a string: budgets are quoted too
        reasoning = pc.binary_join_element_wise(
            '"', pc.replace_substring(reasoning, '"', ""), '"', ""
        )
    return [
        _frag(',"tools":', _lit(cols["tools"], TOOLSETS_JSON)),
        _frag(',"max_tokens":', _lit(cols["max_tokens"], tuple(str(m) for m in MAX_TOKENS))),
        _frag(',"temperature":', _lit(cols["temp"], TEMPS)),
        _frag(',"reasoning":', reasoning),
        _frag(',"stream":', _lit(cols["stream"], ("false", "true"))),
        ',"input_tokens":',
        _num(in_tok),
        ',"output_tokens":',
        _num(cols["out_tok"]),
        _frag(',"reasoning_tokens":', _num(cols["rsn_tok"])),
        ',"status":',
        _num(cols["status"]),
        ',"latency_ms":',
        _num(cols["latency"]),
        "}\n",
    ]


def _buffer(lines: pa.Array) -> memoryview:
    """The concatenated bytes of a string array: a zero-copy view of its data buffer."""
    lines = lines.cast(pa.large_string()) if lines.type != pa.large_string() else lines
    offsets = np.frombuffer(
        lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8
    )
    return memoryview(lines.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


PARQUET_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("ts", pa.string()),
        ("account_id", pa.string()),
        ("model", pa.string()),
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("system", pa.string()),
        ("org_id", pa.string()),
        ("api_key_id", pa.string()),
        ("session_id", pa.string()),
        ("ip", pa.string()),
        ("user_agent", pa.string()),
        ("country", pa.string()),
        ("payment_fingerprint", pa.string()),
        ("access_route", pa.string()),
        ("tools", pa.list_(pa.string())),
        ("max_tokens", pa.int64()),
        ("temperature", pa.float64()),
        ("reasoning", pa.string()),
        ("stream", pa.bool_()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("status", pa.int64()),
        ("latency_ms", pa.int64()),
    ]
)


def simulate(
    scenario: str | Path | Scenario,
    out: str | Path,
    seed: int = 1,
    corpora: Path | None = None,
    fmt: str = "jsonl",
    progress: bool = True,
    use_corpora: bool = True,
) -> dict:
    """Simulate one scenario into ``out``; returns the run summary (also ``sim_summary.json``).

    ``scenario`` is a preset name (tiny, small, medium, large), a YAML path or a Scenario.
    ``use_corpora=False`` forces the built-in text generator even when corpora exist.
    """
    _check_seed_and_format(seed, fmt)
    sc = load_scenario(scenario)
    out = _writable_folder(Path(out))
    t0 = time.perf_counter()
    seed = int(seed)
    bank = load_bank(Path(corpora) if corpora is not None else None, use_corpora)
    tables = Tables(sc, bank)
    plan = build_plan(sc, tables, bank, seed)
    ctx = Context(sc, bank, tables, plan, seed)
    t_plan = time.perf_counter() - t0
    tally = _Tally(ctx)
    req_path = _write_requests(ctx, out, fmt, progress, tally)
    _write_accounts(out / "accounts.csv", plan, tally.seen())
    _write_labels(out / "labels.csv", plan, tally)
    (out / "scenario.yaml").write_text(
        f"# effective scenario (source: {sc.source})\n" + sc.to_yaml(), encoding="utf-8"
    )
    seconds = time.perf_counter() - t0
    summary = {
        "scenario": sc.name,
        "seed": seed,
        "format": fmt,
        **tally.summary(),
        "period": {"start": sc.start.isoformat(), "days": sc.days},
        "time_sorted": False,
        "text_source": bank.source,
        "seconds": round(seconds, 2),
        "plan_seconds": round(t_plan, 2),
        "requests_per_second": round(tally.written / seconds, 1) if seconds > 0 else None,
        "bytes": req_path.stat().st_size,
        "distillguard_version": __version__,
    }
    (out / "sim_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _check_seed_and_format(seed: int, fmt: str) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"simulate: seed must be an integer >= 0; got {seed!r}")
    if fmt not in FORMATS:
        raise InvalidParameterError(
            f"simulate: fmt must be one of {', '.join(FORMATS)}; got {fmt!r}"
        )


def _writable_folder(out: Path) -> Path:
    """``out``, created if needed; fails early (before any work) when it cannot be written."""
    if out.exists() and not out.is_dir():
        raise InvalidParameterError(f"simulate: out must be a directory; {out} is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".dg-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidParameterError(
            f"simulate: cannot write to the output folder {out}: {exc.strerror or exc}"
        ) from None
    return out


class _Tally:
    """Counts for the labels and the summary, kept while the chunks are written."""

    def __init__(self, ctx: Context):
        self.scenario, self.plan, self.tables = ctx.scenario, ctx.plan, ctx.tables
        n_acc = self.plan.n_accounts
        self.written = 0
        self.attack = 0
        self.per_group_req: Counter = Counter()
        self.per_campaign_req: Counter = Counter()
        self.per_campaign_benign: Counter = Counter()
        self.acct_attack_req = np.zeros(n_acc, dtype=np.int64)
        self.acct_benign_req = np.zeros(n_acc, dtype=np.int64)
        self.new_model_hydra = [0, 0]  # hydra attack requests on the new model, all (24 h on)
        self.persona_counts: Counter = Counter()
        self.campaign_accounts: Counter = Counter()
        self.mixed_accounts = 0
        is_hydra = [g.kind == "hydra" for g in self.plan.groups]
        self._hydra_group = np.array(is_hydra)

    def seen(self) -> np.ndarray:
        """Accounts with at least one request (only they go to the account files)."""
        return (self.acct_attack_req + self.acct_benign_req) > 0

    def count_chunk(self, cols: dict) -> None:
        plan, att, acct = self.plan, cols["attack"], cols["acct"]
        self.attack += int(att.sum())
        np.add.at(self.acct_attack_req, acct[att], 1)
        np.add.at(self.acct_benign_req, acct[~att], 1)
        for gi, c in zip(*np.unique(plan.group[acct], return_counts=True), strict=True):
            self.per_group_req[plan.groups[int(gi)].kind] += int(c)
        for ci, c in zip(*np.unique(cols["campaign"][att], return_counts=True), strict=True):
            self.per_campaign_req[self.scenario.campaigns[int(ci)].id] += int(c)
        if self.tables.new_model >= 0:
            self._count_hydra_pivot(cols)
        self.written += len(acct)

    def _count_hydra_pivot(self, cols: dict) -> None:
        tables = self.tables
        hyd = self._hydra_group[self.plan.group[cols["acct"]]] & cols["attack"]
        after = hyd & (cols["ts"] >= tables.release_ms + 24 * 3_600_000)
        self.new_model_hydra[0] += int((after & (cols["model"] == tables.new_model)).sum())
        self.new_model_hydra[1] += int(after.sum())

    def count_account(self, g: Group, a: int, cid: str) -> None:
        self.persona_counts[g.label] += 1
        if cid:
            self.campaign_accounts[cid] += 1
            if self.acct_benign_req[a] > 0:
                self.mixed_accounts += 1
                self.per_campaign_benign[cid] += int(self.acct_benign_req[a])

    def summary(self) -> dict:
        """The summary's counts, in the summary's key order."""
        sc, tables, hydra = self.scenario, self.tables, self.new_model_hydra
        release = (
            np.datetime_as_string(np.datetime64(tables.release_ms, "ms"), unit="s") + "+00:00"
            if sc.new_model
            else None
        )
        return {
            "requests": self.written,
            "attack_requests": self.attack,
            "benign_requests": self.written - self.attack,
            "accounts": int(self.seen().sum()),
            "attack_accounts": int(sum(self.campaign_accounts.values())),
            "mixed_accounts": self.mixed_accounts,
            "accounts_per_persona": dict(sorted(self.persona_counts.items())),
            "requests_per_persona": dict(sorted(self.per_group_req.items())),
            "campaigns": {c.id: self._campaign_summary(c.id, c.type) for c in sc.campaigns},
            "new_model": sc.new_model.name if sc.new_model else None,
            "new_model_release": release,
            "hydra_new_model_share_after_24h": (hydra[0] / hydra[1]) if hydra[1] else None,
        }

    def _campaign_summary(self, cid: str, ctype: str) -> dict:
        return {
            "type": ctype,
            "accounts": self.campaign_accounts.get(cid, 0),
            "attack_requests": self.per_campaign_req.get(cid, 0),
            "genuine_requests_in_mixed_accounts": self.per_campaign_benign.get(cid, 0),
        }


class _RequestSink:
    """The request log (gzipped JSON lines or Parquet, written to ``.part`` and renamed when
    complete) and the request labels."""

    def __init__(self, out: Path, parquet: bool):
        self.parquet = parquet
        self.path = out / ("requests.parquet" if parquet else "requests.jsonl.gz")
        self.tmp_path = self.path.with_name(self.path.name + ".part")
        self.raw = open(self.tmp_path, "wb")
        self.gz = (
            None
            if parquet
            else gzip.GzipFile(
                filename="", mode="wb", fileobj=self.raw, compresslevel=GZIP_LEVEL, mtime=0
            )
        )
        self.pw: pq.ParquetWriter | None = None
        # zlib releases the GIL: compress chunk k on a writer thread while chunk k+1 is
        # generated. At most one write is in flight, so memory stays at about two chunks.
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dg-sim-writer")
        self.pending: Future | None = None
        self.labels = open(out / "request_labels.csv", "wb")
        self.labels.write((",".join(REQUEST_LABEL_FIELDS) + "\n").encode())

    def write(self, lines: pa.Array, label_lines: pa.Array) -> None:
        if self.parquet:
            tbl = _parquet_table(lines)
            if self.pw is None:
                self.pw = pq.ParquetWriter(self.raw, PARQUET_SCHEMA, compression="zstd")
            self.pw.write_table(tbl, row_group_size=len(tbl))
        else:
            if self.pending is not None:
                self.pending.result()
            self.pending = self.writer.submit(self.gz.write, _buffer(lines))
        self.labels.write(_buffer(label_lines))

    def close(self) -> None:
        """Flush and close everything (also after a failure; the ``.part`` file then stays)."""
        try:
            if self.pending is not None:
                self.pending.result()
        finally:
            self.writer.shutdown(wait=True)
            if self.gz is not None:
                self.gz.close()
            if self.pw is not None:
                self.pw.close()
            self.raw.close()
            self.labels.close()


def _parquet_table(lines: pa.Array) -> pa.Table:
    """The JSON lines of a chunk parsed into the Parquet schema."""
    return pajson.read_json(
        io.BytesIO(_buffer(lines)),
        parse_options=pajson.ParseOptions(
            explicit_schema=PARQUET_SCHEMA, unexpected_field_behavior="error"
        ),
        read_options=pajson.ReadOptions(block_size=1 << 26),
    ).select(PARQUET_SCHEMA.names)


def _write_requests(ctx: Context, out: Path, fmt: str, progress: bool, tally: _Tally) -> Path:
    """Generate, write and count the requests chunk by chunk; returns the log's path."""
    plan, sc, seed = ctx.plan, ctx.scenario, ctx.seed
    parquet = fmt == "parquet"
    acc = _Accounts(plan, ctx.tables)
    camp_ids = pa.array([c.id for c in sc.campaigns] or [""], pa.string())
    sink = _RequestSink(out, parquet)
    try:
        with (
            make_progress(progress) as bar,
            stage(bar, f"simulating {sc.name} (seed {seed})", total=int(plan.unit_n.sum())) as task,
        ):
            for chunk_no, sel in enumerate(_chunks(plan)):
                if len(sel) == 0:
                    continue
                cols = _generate_chunk(ctx, sel, np.random.default_rng([seed, 7, chunk_no]))
                rid = _request_ids(tally.written, len(cols["acct"]), seed)
                lines, rid_s = _assemble(cols, acc, plan, rid, parquet, ctx.ips.codes)
                sink.write(lines, _request_label_lines(rid_s, cols, camp_ids))
                tally.count_chunk(cols)
                bar.update(task, completed=tally.written)
    finally:
        sink.close()
    sink.tmp_path.replace(sink.path)
    return sink.path


def _chunks(plan: Plan) -> Iterator[np.ndarray]:
    """Work units in chunks of about ``CHUNK_ROWS`` requests. Empty chunks are yielded too:
    the chunk's number seeds its random stream."""
    units = np.arange(len(plan.unit_acct))
    csum = np.cumsum(plan.unit_n)
    bounds = (
        np.searchsorted(
            csum, np.arange(CHUNK_ROWS, int(csum[-1]) + CHUNK_ROWS, CHUNK_ROWS), side="left"
        )
        + 1
        if len(csum)
        else np.array([], dtype=np.int64)
    )
    bounds = np.unique(np.clip(bounds, 0, len(units)))
    lo = 0
    for hi in bounds:
        yield units[lo:hi]
        lo = hi


def _generate_chunk(ctx: Context, sel: np.ndarray, rng: np.random.Generator) -> dict:
    """The requests of the work units ``sel``, as columns sorted by time (then account)."""
    plan = ctx.plan
    parts: list[Rows] = []
    u_acct = plan.unit_acct[sel]
    u_group = plan.group[u_acct]
    u_gen = plan.unit_genuine[sel]
    for gi in np.unique(u_group):  # loop over the groups present in the chunk
        g = plan.groups[int(gi)]
        for genuine in (0, 1):
            m = (u_group == gi) & (u_gen == genuine)
            if not m.any():
                continue
            a, i = expand(u_acct[m], plan.unit_n[sel][m], plan.unit_off[sel][m])
            if genuine:  # a mixed account's genuine customers look like casual users
                rows = gen_benign(ctx, g, a, i, rng, persona="casual")
            else:
                rows = ALL_GENERATORS[g.kind](ctx, g, a, i, rng)
            parts.append(_hide_cloud_clients(_fill(rows, rng, plan), ctx))
    cols = _concat(parts)
    order = np.lexsort((cols["acct"], cols["ts"]))
    for k, v in list(cols.items()):
        cols[k] = v.take(pa.array(order)) if isinstance(v, pa.Array) else v[order]
    return cols


def _request_ids(first: int, n: int, seed: int) -> np.ndarray:
    """Ids of requests ``first .. first + n - 1``: distinct, random-looking, seed-dependent."""
    return splitmix64(
        np.arange(first, first + n, dtype=np.uint64) ^ np.uint64(seed * 0x2545F4914F6CDD1D % 2**63)
    )


def _request_label_lines(rid_s: pa.Array, cols: dict, camp_ids: pa.Array) -> pa.Array:
    """``request_id,is_attack,campaign_id`` lines of one chunk."""
    att = cols["attack"]
    return pc.binary_join_element_wise(
        rid_s,
        ",",
        pa.array(np.where(att, "1", "0")),
        ",",
        pc.fill_null(_lit(np.where(att, cols["campaign"], -1), camp_ids), ""),
        "\n",
        "",
    )


def _write_accounts(path: Path, plan: Plan, seen: np.ndarray) -> None:
    """accounts.csv: one row per account that sent requests."""
    created = np.datetime_as_string(plan.created_ms.astype("datetime64[ms]"), unit="s")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(ACCOUNT_FIELDS)
        for a in np.nonzero(seen)[0]:  # one row per account (small)
            w.writerow(
                [
                    plan.account_id[a],
                    created[a] + "+00:00",
                    plan.signup_route[a],
                    plan.verification[a],
                    plan.email_domain[a],
                    plan.payment[a],
                    COUNTRY_CODES[int(plan.country[a])],
                    plan.org_id[a],
                ]
            )


def _write_labels(path: Path, plan: Plan, tally: _Tally) -> None:
    """labels.csv: an account is an attack account when it sent any attack request."""
    seen = tally.seen()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(LABEL_FIELDS)
        for a in np.nonzero(seen)[0]:  # one row per account (small)
            g = plan.groups[int(plan.group[a])]
            is_attack = int(tally.acct_attack_req[a] > 0)
            cid = g.campaign.id if (g.campaign is not None and is_attack) else ""
            w.writerow([plan.account_id[a], is_attack, cid, g.label])
            tally.count_account(g, a, cid)
