"""A PostgreSQL table as a request-log source, read incrementally by a watermark column.

``detect postgresql://user:pw@host:5432/litellm?table=LiteLLM_SpendLogs`` exports the rows
added since the last run into a JSON Lines file in the store folder; ingest then reads that
file like any other (its format recognised from the rows, e.g. ``litellm_spendlogs``).

Incremental and crash-safe. Each export file has a sidecar with the newest watermark it holds
and the keys of its rows within ``lookback`` of it; the next run starts from the newest export
the store has *ingested* (its ``ingested_files`` table), so an export whose ingest failed is
read again. A time watermark is re-read ``lookback`` seconds back, skipping the keys already
exported: LiteLLM writes spend logs in batches, so a row can land after a later-starting one,
and rows sharing a time are neither lost nor read twice. An integer watermark (an increasing
id) is read strictly after the last one.

URL parameters: ``table`` (required), ``schema`` (default ``public``), ``watermark`` and
``key`` (defaults for ``LiteLLM_SpendLogs``: ``startTime`` and ``request_id``, the columns of
its own ``(startTime, request_id)`` index), ``lookback`` (seconds, default 900), ``batch``
(rows fetched at a time).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..errors import InvalidInputError, InvalidParameterError

# Watermark and key columns of tables whose schema we know (LiteLLM's schema.prisma indexes
# LiteLLM_SpendLogs on (startTime, request_id)).
KNOWN_TABLES: dict[str, tuple[str, str]] = {"LiteLLM_SpendLogs": ("startTime", "request_id")}
EXPORT_DIR = "pg-exports"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TableSource:
    """A parsed ``postgresql://…/db?table=…`` URL."""

    dsn: str  # the URL without distillguard's parameters
    schema: str
    table: str
    watermark: str
    key: str
    batch: int
    lookback_s: int

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def is_database_url(arg: str) -> bool:
    return str(arg).startswith(("postgresql://", "postgres://"))


def resolve_source(arg: str | Path, store: Path) -> Path:
    """A log path as given; a ``postgresql://`` URL is first exported into the store folder
    (incrementally) and the export is what is read."""
    if is_database_url(str(arg)):
        return export_table(str(arg), Path(store))
    path = Path(arg)
    if not path.exists():
        raise InvalidInputError(f"input not found: {path}")
    return path


def parse_url(url: str) -> TableSource:
    """The table, watermark and key a URL names; clear errors for a missing table."""
    parts = urlsplit(url)
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    table = params.pop("table", "")
    if not table:
        raise InvalidParameterError(f"a postgresql:// source needs ?table=NAME; got {_safe(url)}")
    schema = params.pop("schema", "public")
    default_wm, default_key = KNOWN_TABLES.get(table, ("", ""))
    watermark = params.pop("watermark", default_wm)
    key = params.pop("key", default_key)
    batch = int(params.pop("batch", "10000"))
    lookback = int(params.pop("lookback", "900"))
    if not watermark:
        raise InvalidParameterError(
            f"table {table} needs ?watermark=COLUMN (a time or increasing id) to be read "
            "incrementally"
        )
    for ident in (schema, table, watermark, key or "x"):
        if not _IDENT.match(ident):
            raise InvalidParameterError(f"not a plain SQL identifier: {ident!r}")
    rest = "&".join(f"{k}={v}" for k, v in params.items())  # libpq options (sslmode=...)
    dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, ""))
    return TableSource(dsn, schema, table, watermark, key, batch, lookback)


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _json_default(v: Any) -> Any:
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()  # timestamp without time zone → no offset: read in --assume-tz
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (bytes, memoryview)):
        return bytes(v).hex()
    return str(v)


def _last_ingested(store: Path, source: TableSource) -> dict[str, Any] | None:
    """The sidecar of the newest export of this table that the store has ingested
    (``None``: read everything)."""
    db = store / "store.duckdb"
    if not db.exists():
        return None
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        has = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'ingested_files'"
        ).fetchall()[0][0]
        paths = [r[0] for r in con.execute("SELECT path FROM ingested_files").fetchall()] if has else []
    finally:
        con.close()
    marks = []
    for p in paths:
        side = Path(p + ".watermark.json")
        if Path(p).parent == (store / EXPORT_DIR).resolve() and side.exists():
            mark = json.loads(side.read_text())
            if mark.get("table") == source.name:
                marks.append(mark)
    return max(marks, key=lambda m: _order(m["watermark"])) if marks else None


def _order(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


def _as_time(v: Any) -> dt.datetime | None:
    if isinstance(v, str):
        try:
            return dt.datetime.fromisoformat(v)
        except ValueError:
            return None
    return None


def _query(source: TableSource, mark: dict[str, Any] | None) -> tuple[str, list[Any]]:
    t = f'"{source.schema}"."{source.table}"'
    wm = f'"{source.watermark}"'
    order = f'{wm}, "{source.key}"' if source.key else wm
    if mark is None:
        return f"SELECT * FROM {t} ORDER BY {order}", []
    last = mark["watermark"]
    since = _as_time(last)
    if since is not None and source.key:  # re-read the lookback window, skip known keys
        return (f"SELECT * FROM {t} WHERE {wm} >= %s ORDER BY {order}",
                [since - dt.timedelta(seconds=source.lookback_s)])
    return f"SELECT * FROM {t} WHERE {wm} > %s ORDER BY {order}", [last]


def export_table(url: str, store: Path) -> Path:
    """Export the rows added since the last ingested export; return the file to read.

    With no new rows the newest export is returned again (ingest skips it as already read,
    and detect re-scores the store).
    """
    try:
        import psycopg
    except ImportError as exc:
        raise InvalidInputError(
            "a postgresql:// source needs psycopg: pip install 'distillguard[postgres]'"
        ) from exc
    source = parse_url(url)
    folder = Path(store) / EXPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    mark = _last_ingested(Path(store), source)
    sql, args = _query(source, mark)
    known = {k for _, k in (mark or {}).get("recent", [])}
    path = folder / f"{source.table}-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9}.jsonl"
    try:
        marks = _copy_rows(psycopg, source, sql, args, path, known)
    except psycopg.Error as exc:
        path.unlink(missing_ok=True)
        raise InvalidInputError(f"cannot read {source.name} from {_safe(url)}: {exc}") from exc
    if not marks and mark is not None:
        path.unlink(missing_ok=True)
        return _newest_export(folder, source) or path
    Path(str(path) + ".watermark.json").write_text(
        json.dumps(_sidecar(source, mark, marks), default=_json_default)
    )
    return path


def _sidecar(source: TableSource, mark: dict[str, Any] | None, marks: list[list[Any]]
             ) -> dict[str, Any]:
    """Newest watermark, and the (watermark, key) pairs within ``lookback`` of it."""
    pairs = list((mark or {}).get("recent", [])) + marks
    newest = max((p[0] for p in pairs), key=_order) if pairs else None
    recent = []
    top = _as_time(newest)
    if top is not None:
        floor = top - dt.timedelta(seconds=source.lookback_s)
        recent = [p for p in pairs if (_as_time(p[0]) or top) >= floor]
    return {"table": source.name, "watermark": newest, "recent": recent, "rows": len(marks)}


def _copy_rows(psycopg: Any, source: TableSource, sql: str, args: list[Any], path: Path,
               known: set[Any]) -> list[list[Any]]:
    """Stream the query into JSON Lines with a server-side cursor, skipping ``known`` keys;
    the (watermark, key) of every row written."""
    marks: list[list[Any]] = []
    with psycopg.connect(source.dsn) as con, open(path, "w", encoding="utf-8") as fh:
        with con.cursor(name="distillguard_export") as cur:
            cur.itersize = source.batch
            cur.execute(sql, args)
            names = [d.name for d in cur.description]
            for row in cur:
                rec = dict(zip(names, row, strict=True))
                key = rec.get(source.key) if source.key else None
                if key is not None and key in known:
                    continue
                fh.write(json.dumps(rec, default=_json_default, ensure_ascii=False) + "\n")
                marks.append(json.loads(json.dumps([rec[source.watermark], key],
                                                   default=_json_default)))
    return marks


def _newest_export(folder: Path, source: TableSource) -> Path | None:
    files = sorted(folder.glob(f"{source.table}-*.jsonl"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None
