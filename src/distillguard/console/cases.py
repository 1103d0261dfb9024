"""The case queue: clusters and single accounts ordered by risk, filtered and paged.

The store is opened read-only (attached to an in-memory DuckDB). On open, one pass over the
store builds two small in-memory tables: ``dg_account_index`` (one row per account: risk,
verdict, cluster, sign-up route, capabilities, first/last request) and ``dg_cases`` (one row per
cluster plus one per account outside any cluster). Queue pages are then top-N queries over
``dg_cases`` with keyset paging, a few milliseconds at 100k accounts. The index is rebuilt when
the store file changes (a new ``detect`` run).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..errors import InvalidInputError, InvalidParameterError
from .auth import CASE_STATUSES
from .queries import Schema, rows

PAGE_SIZE = 50
VERDICT_FILTERS: tuple[str, ...] = ("flagged", "attack", "review", "benign", "all")


@dataclass(frozen=True)
class QueueFilter:
    """What the analyst asked the queue for (all strings, as they come from the form)."""

    verdict: str = "flagged"
    capability: str = ""
    route: str = ""
    status: str = ""
    kind: str = ""
    since: str = ""  # YYYY-MM-DD (UTC), inclusive
    until: str = ""  # YYYY-MM-DD (UTC), inclusive
    after: str = ""  # keyset cursor: "risk|case_kind|case_id" of the last row shown

    def validate(self) -> QueueFilter:
        if self.verdict not in VERDICT_FILTERS:
            raise InvalidParameterError(
                f"verdict must be one of {', '.join(VERDICT_FILTERS)}; got {self.verdict!r}"
            )
        if self.status and self.status not in CASE_STATUSES:
            raise InvalidParameterError(
                f"status must be one of {', '.join(CASE_STATUSES)}; got {self.status!r}"
            )
        if self.kind and self.kind not in ("cluster", "account"):
            raise InvalidParameterError(f"kind must be cluster or account; got {self.kind!r}")
        for name in ("since", "until"):
            v = getattr(self, name)
            if v:
                _day_ms(v, name)
        return self


def _day_ms(day: str, name: str) -> int:
    try:
        d = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise InvalidParameterError(f"{name} must be a date YYYY-MM-DD; got {day!r}") from exc
    return int(d.timestamp() * 1000)


class StoreReader:
    """A read-only view of ``DIR/store.duckdb`` with the case index, safe across threads.

    The store is attached only while a request uses it (reference-counted), so a nightly
    ``detect`` can take its write lock whenever no page is being rendered; while ``detect``
    holds the lock, pages say so instead of failing obscurely. The case index lives in the
    in-memory database and survives detaching; it is rebuilt when the store file changes.
    """

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.db_path = self.data_dir / "store.duckdb"
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._mtime: float | None = None
        self._users = 0
        self.schema: Schema | None = None

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
                self._users = 0

    def cursor(self) -> _Lease:
        """A cursor whose current database is the store; ``close()`` it when done (that
        releases the store)."""
        if not self.db_path.exists():
            raise InvalidInputError(
                f"no store at {self.db_path}: run `distillguard detect ... --store {self.data_dir}`"
            )
        with self._lock:
            if self._con is None:
                self._con = duckdb.connect(":memory:")
            if self._users == 0:
                self._attach()
            self._users += 1
            cur = self._con.cursor()
        try:
            cur.execute("USE s").fetchall()
        except Exception:
            cur.close()
            self._release()
            raise
        return _Lease(cur, self._release)

    def _attach(self) -> None:
        assert self._con is not None
        mtime = self.db_path.stat().st_mtime
        try:
            self._con.execute(
                f"ATTACH '{_sql_str(str(self.db_path))}' AS s (READ_ONLY)"
            ).fetchall()
        except duckdb.Error as exc:
            raise InvalidInputError(
                f"cannot open {self.db_path} read-only right now (is `detect` writing it?); "
                f"retry in a moment ({str(exc).splitlines()[0]})"
            ) from exc
        if mtime != self._mtime:
            try:
                self._con.execute("USE s").fetchall()
                self.schema = Schema(self._con)
                _build_index(self._con, self.schema)
            except Exception:
                self._con.execute("USE memory").fetchall()
                self._con.execute("DETACH s").fetchall()
                raise
            finally:
                self._con.execute("USE memory").fetchall()
            self._mtime = mtime

    def _release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._con is not None:
                self._con.execute("DETACH s").fetchall()

    # ---- the queue ------------------------------------------------------------------------
    def queue(
        self, f: QueueFilter, statuses: list[tuple[str, str, str]], page_size: int = PAGE_SIZE
    ) -> dict:
        """One page of cases plus counts by verdict and kind under the same filters."""
        f.validate()
        cur = self.cursor()
        try:
            cur.register("dg_status", _status_table(statuses))
            where, args = _where(f, include_verdict=False)
            counts = rows(
                cur,
                f"SELECT verdict, case_kind, count(*) AS n FROM ({_CASES}) q WHERE {where} "
                "GROUP BY ALL",
                args,
            )
            items = _page(cur, f, page_size)
            facets = _facets(cur)
        finally:
            cur.close()
        more = len(items) > page_size
        items = items[:page_size]
        next_cursor = None
        if more and items:
            last = items[-1]
            next_cursor = f"{float(last['risk'])!r}|{last['case_kind']}|{last['case_id']}"
        by_verdict, by_kind = _tally(counts, f.verdict)
        return {
            "items": items,
            "next": next_cursor,
            "by_verdict": by_verdict,
            "by_kind": by_kind,
            "total": sum(by_kind.values()),
            **facets,
        }


# Every case with its review status ('new' until a reviewer sets one).
_CASES = (
    "SELECT c.*, coalesce(st.status, 'new') AS status FROM memory.main.dg_cases c "
    "LEFT JOIN dg_status st USING (case_kind, case_id)"
)


def _status_table(statuses: list[tuple[str, str, str]]) -> pa.Table:
    names = ("case_kind", "case_id", "status")
    return pa.table(
        {name: [s[k] for s in statuses] for k, name in enumerate(names)},
        schema=pa.schema([(name, pa.string()) for name in names]),
    )


def _page(cur: Any, f: QueueFilter, page_size: int) -> list[dict]:
    """Up to ``page_size + 1`` cases after the filter's cursor, riskiest first (the extra row
    says whether there is a next page)."""
    where, args = _where(f, include_verdict=True)
    args = list(args)
    if f.after:
        r, k, i = _parse_cursor(f.after)
        where += " AND (risk < ? OR (risk = ? AND (case_kind > ? OR (case_kind = ? AND case_id > ?))))"
        args += [r, r, k, k, i]
    return rows(
        cur,
        f"SELECT * FROM ({_CASES}) q WHERE {where} ORDER BY risk DESC, case_kind, case_id LIMIT ?",
        [*args, page_size + 1],
    )


def _facets(cur: Any) -> dict[str, list[str]]:
    """The capabilities and sign-up routes the queue can be filtered by."""
    caps = rows(
        cur, "SELECT DISTINCT unnest(caps) AS c FROM memory.main.dg_account_index ORDER BY c"
    )
    routes = rows(
        cur,
        "SELECT DISTINCT signup_route AS r FROM memory.main.dg_account_index "
        "WHERE signup_route IS NOT NULL ORDER BY r",
    )
    return {"capabilities": [r["c"] for r in caps if r["c"]], "routes": [r["r"] for r in routes]}


def _tally(counts: list[dict], verdict: str) -> tuple[dict[str, int], dict[str, int]]:
    """Cases by verdict (every verdict), and by kind within the verdict filter."""
    by_verdict: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for c in counts:
        by_verdict[c["verdict"]] = by_verdict.get(c["verdict"], 0) + c["n"]
        shown = verdict in ("all", c["verdict"]) or (
            verdict == "flagged" and c["verdict"] in ("attack", "review")
        )
        if shown:
            by_kind[c["case_kind"]] = by_kind.get(c["case_kind"], 0) + c["n"]
    return by_verdict, by_kind


class _Lease:
    """A DuckDB cursor that releases the store when closed (delegates everything else)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, release: Any) -> None:
        self._cur = cur
        self._release = release
        self._closed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cur.close()
            self._release()

    def __enter__(self) -> _Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_cursor(after: str) -> tuple[float, str, str]:
    try:
        r, k, i = after.split("|", 2)
        return float(r), k, i
    except ValueError as exc:
        raise InvalidParameterError(f"bad page cursor {after!r}") from exc


# QueueFilter fields that filter by their value as given (unset: no filter).
_EQUALITY_FILTERS: tuple[tuple[str, str], ...] = (
    ("capability", "list_contains(caps, ?)"),
    ("route", "list_contains(routes, ?)"),
    ("status", "status = ?"),
    ("kind", "case_kind = ?"),
)


def _where(f: QueueFilter, include_verdict: bool) -> tuple[str, list[Any]]:
    parts, args = ["true"], []
    if include_verdict:
        if f.verdict == "flagged":
            parts.append("verdict IN ('attack', 'review')")
        elif f.verdict != "all":
            parts.append("verdict = ?")
            args.append(f.verdict)
    for field, condition in _EQUALITY_FILTERS:
        value = getattr(f, field)
        if value:
            parts.append(condition)
            args.append(value)
    if f.since:
        parts.append("last_ts >= ?")
        args.append(_day_ms(f.since, "since"))
    if f.until:
        parts.append("first_ts < ?")
        args.append(_day_ms(f.until, "until") + 86_400_000)
    return " AND ".join(parts), args


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def _build_index(con: duckdb.DuckDBPyConnection, schema: Schema) -> None:
    """``dg_account_index`` and ``dg_cases`` in the in-memory database (see module doc)."""
    if not schema.has("out_accounts"):
        con.execute(
            "CREATE OR REPLACE TABLE memory.main.dg_account_index (account_id VARCHAR, "
            "risk DOUBLE, verdict VARCHAR, cluster_id VARCHAR, reasons VARCHAR, "
            "signup_route VARCHAR, first_ts BIGINT, last_ts BIGINT, n_requests BIGINT, "
            "caps VARCHAR[])"
        ).fetchall()
    else:
        route = "a.signup_route" if schema.has("accounts", "signup_route") else "NULL::VARCHAR"
        acc_join = "LEFT JOIN accounts a USING (account_id)" if schema.has("accounts") else ""
        if schema.has("requests"):
            cap = (
                "list_sort(list(DISTINCT capability) FILTER (WHERE capability IS NOT NULL))"
                if schema.has("requests", "capability")
                else "[]::VARCHAR[]"
            )
            req = (
                f"LEFT JOIN (SELECT account_id, min(ts_ms) AS first_ts, max(ts_ms) AS last_ts, "
                f"count(*) AS n_requests, {cap} AS caps FROM requests GROUP BY account_id) f "
                "USING (account_id)"
            )
            cols = "f.first_ts, f.last_ts, f.n_requests, f.caps"
        else:
            req, cols = "", "NULL::BIGINT, NULL::BIGINT, NULL::BIGINT, []::VARCHAR[]"
        con.execute(
            "CREATE OR REPLACE TABLE memory.main.dg_account_index AS "
            "SELECT o.account_id, CAST(o.risk AS DOUBLE) AS risk, o.verdict, "
            "nullif(CAST(o.cluster_id AS VARCHAR), '') AS cluster_id, o.reasons, "
            f"{route} AS signup_route, {cols} "
            f"FROM out_accounts o {acc_join} {req}"
        ).fetchall()
    if schema.has("out_clusters"):
        clusters = (
            "SELECT 'cluster' AS case_kind, c.cluster_id AS case_id, c.risk, c.verdict, "
            "c.n_accounts, coalesce(m.caps, []) AS caps, coalesce(m.routes, []) AS routes, "
            "m.first_ts, m.last_ts, c.reasons "
            "FROM (SELECT CAST(cluster_id AS VARCHAR) AS cluster_id, CAST(risk AS DOUBLE) AS risk, "
            "verdict, CAST(n_accounts AS BIGINT) AS n_accounts, reasons FROM out_clusters) c "
            "LEFT JOIN (SELECT cluster_id, "
            "list_sort(list_distinct(flatten(list(coalesce(caps, []))))) AS caps, "
            "list_sort(list(DISTINCT signup_route) FILTER (WHERE signup_route IS NOT NULL)) "
            "AS routes, "
            "min(first_ts) AS first_ts, max(last_ts) AS last_ts "
            "FROM memory.main.dg_account_index WHERE cluster_id IS NOT NULL GROUP BY cluster_id) m "
            "USING (cluster_id) UNION ALL "
        )
        single = "WHERE cluster_id IS NULL OR cluster_id NOT IN (SELECT CAST(cluster_id AS VARCHAR) FROM out_clusters)"
    else:
        clusters, single = "", ""
    con.execute(
        "CREATE OR REPLACE TABLE memory.main.dg_cases AS "
        f"{clusters}"
        "SELECT 'account' AS case_kind, account_id AS case_id, risk, verdict, "
        "CAST(1 AS BIGINT) AS n_accounts, coalesce(caps, []) AS caps, "
        "CASE WHEN signup_route IS NULL THEN []::VARCHAR[] ELSE [signup_route] END AS routes, "
        "first_ts, last_ts, reasons "
        f"FROM memory.main.dg_account_index {single} "
        "ORDER BY risk DESC"
    ).fetchall()
