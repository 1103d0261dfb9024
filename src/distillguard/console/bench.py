"""Console page-render benchmark: server-side time of the queue, cluster and account pages.

``run(out_dir, data_dir)`` times pages through FastAPI's TestClient (the full app: session
check, DuckDB queries, plots, Jinja rendering; no network), median of several requests.

- With ``data_dir`` (a store folder written by ``detect``) it measures that store.
- Without it, it looks for the ``medium`` preset that ``distillguard bench-suite`` simulated
  next to ``out_dir`` (``<results>/data/medium-s*``), runs ``detect`` on it once into
  ``out_dir`` and measures that store; it also measures a synthetic store with 100k accounts
  generated in DuckDB (queue paging at 100k accounts).

Console state (users, sessions) goes to a scratch folder under ``out_dir``; measured stores
are only read.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .report import url_segment

REPEAT = 7
TARGET_S = 1.0


def _median_ms(client, url: str, repeat: int) -> tuple[float, int]:
    times, status = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - t)
        status = r.status_code
    return 1000 * statistics.median(times), status


def find_medium_data(out_dir: Path) -> Path | None:
    """The suite's simulated ``medium`` data set near ``out_dir``, if there is one."""
    for root in (out_dir, out_dir.parent, out_dir.parent.parent):
        cands = sorted((root / "data").glob("medium-s*")) if (root / "data").is_dir() else []
        for c in cands:
            if any(c.glob("requests*")):
                return c
    return None


def _medium_store(data: Path, out_dir: Path) -> tuple[Path, str]:
    """Run ``detect`` on the medium data once (reused on later runs); (store dir, note)."""
    from ..engines.embedded import detect

    store = out_dir / "medium-store"
    done = store / ".console-bench-complete"
    if not done.exists():
        logs = sorted(p for p in data.glob("requests*") if p.is_file())
        accounts = data / "accounts.csv"
        t = time.perf_counter()
        detect(logs, out_dir / "medium-findings", accounts=accounts if accounts.exists() else None,
               store=store, progress=False)
        done.write_text(f"{time.perf_counter() - t:.1f}")
    return store, f"`medium` preset (`{data.name}`), store built by `detect` into `{store}`"


def measure(store_dir: Path, scratch: Path, source: str, repeat: int = REPEAT) -> str:
    """Markdown table of page times for the store in ``store_dir``."""
    from fastapi.testclient import TestClient

    from .app import create_app

    _prepare_scratch(store_dir, scratch)
    app = create_app(scratch)
    try:
        client = TestClient(app)
        _login(client)
        t = time.perf_counter()
        first = client.get("/queue")
        first_ms = 1000 * (time.perf_counter() - t)
        if first.status_code != 200:
            raise InvalidInputError(f"queue page failed ({first.status_code}) on {store_dir}")
        n_accounts, n_requests, pages = _pages(app)
        results = [(name, *_median_ms(client, url, repeat)) for name, url in pages]
        client.close()
    finally:
        app.state.store.close()
        app.state.actions.close()
        app.state.db.close()
    head = f"Store: {source}; {n_accounts:,} accounts, {n_requests:,} requests."
    return _table(head, first_ms, results)


def _prepare_scratch(store_dir: Path, scratch: Path) -> None:
    """A console directory whose store is a link to ``store_dir``'s, with one analyst."""
    from .auth import ConsoleDB

    db_file = Path(store_dir) / "store.duckdb"
    if not db_file.exists():
        raise InvalidInputError(f"no store.duckdb in {store_dir}")
    scratch.mkdir(parents=True, exist_ok=True)
    link = scratch / "store.duckdb"
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(db_file.resolve())
    (scratch / "console.sqlite").unlink(missing_ok=True)
    db = ConsoleDB(scratch / "console.sqlite")
    db.add_user("bench", "bench-password", "analyst", created_by="bench")
    db.close()


def _login(client: Any) -> None:
    r = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', r.text).group(1)
    client.post("/login", data={"username": "bench", "password": "bench-password",
                                "login_token": token}, follow_redirects=False)


def _pages(app: Any) -> tuple[int, int, list[tuple[str, str]]]:
    """The store's size and the pages to time: the queue twice, the riskiest and the largest
    cluster, the riskiest account."""
    from . import queries

    cur = app.state.store.cursor()
    try:
        sch = queries.Schema(cur)
        n_accounts = queries.scalar(cur, "SELECT count(*) FROM out_accounts") or 0
        n_requests = queries.scalar(cur, "SELECT count(*) FROM requests") or 0
        top = queries.top_clusters(cur, sch, limit=1)
        biggest = queries.rows(
            cur, "SELECT CAST(cluster_id AS VARCHAR) AS cluster_id, n_accounts "
            "FROM out_clusters ORDER BY n_accounts DESC, cluster_id LIMIT 1",
        ) if sch.has("out_clusters") else []
        acc = queries.top_accounts(cur, sch, limit=1)
    finally:
        cur.close()
    pages = [("queue (flagged, first page)", "/queue"),
             ("queue (all verdicts, capability filter)", "/queue?verdict=all&capability=code")]
    if top:
        pages.append((f"cluster page, riskiest cluster ({top[0]['n_accounts']} accounts)",
                      f"/cluster/{url_segment(top[0]['cluster_id'])}"))
    if biggest and (not top or biggest[0]["cluster_id"] != top[0]["cluster_id"]):
        pages.append((f"cluster page, largest cluster ({biggest[0]['n_accounts']} accounts)",
                      f"/cluster/{url_segment(biggest[0]['cluster_id'])}"))
    if acc:
        pages.append(("account page", f"/account/{url_segment(acc[0]['account_id'])}"))
    return n_accounts, n_requests, pages


def _table(head: str, first_ms: float, results: list[tuple[str, float, int]]) -> str:
    lines = [
        head,
        "",
        "| page | median ms | under 1 s |",
        "|---|---:|---|",
        f"| first request (opens the store, builds the case index) | {first_ms:.0f} | "
        f"{'yes' if first_ms < 1000 * TARGET_S else 'no'} |",
    ]
    for name, ms, status in results:
        ok = "yes" if ms < 1000 * TARGET_S else "no"
        if status != 200:
            ok = f"failed (HTTP {status})"
        lines.append(f"| {name} | {ms:.0f} | {ok} |")
    return "\n".join(lines)


def run(out_dir: Path, data_dir: Path | None = None, repeat: int = REPEAT) -> str:
    """Time the console pages and return a markdown section with the figures."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = []
    if data_dir is not None:
        tables.append(measure(Path(data_dir), out_dir / "console-bench", f"`{data_dir}`", repeat))
    else:
        medium = find_medium_data(out_dir)
        if medium is not None:
            store, note = _medium_store(medium, out_dir)
            tables.append(measure(store, out_dir / "console-bench-medium", note, repeat))
        else:
            tables.append("No `medium` data set found next to the results folder; run "
                          "`distillguard bench-suite` (it simulates one) or pass `data_dir`.")
        from .synthetic import build_synthetic_store

        store_dir = out_dir / "console-bench-store"
        t = time.perf_counter()
        build_synthetic_store(store_dir, n_accounts=100_000, n_clusters=4, cluster_size=1_000,
                              requests_per_account=5)
        note = (f"synthetic (`console.synthetic`), 100,000 accounts in 4 clusters of 1,000 plus "
                f"singles, generated in DuckDB in {time.perf_counter() - t:.1f} s")
        tables.append(measure(store_dir, out_dir / "console-bench-100k", note, repeat))
    arg = f"Path({str(data_dir)!r})" if data_dir is not None else "None"
    lines = [
        "## Analyst console: page render time",
        "",
        f"Server-side time through FastAPI's TestClient (session check, DuckDB queries, plots, "
        f"templates), median of {repeat} requests; target < {TARGET_S:.0f} s. The console "
        "builds the case index in the background at start-up (`distillguard console`), so "
        "analysts do not wait for the first request.",
        "",
    ]
    for t in tables:
        lines += [t, ""]
    lines += [
        "Reproduce: `python -c \"from pathlib import Path; from distillguard.console.bench "
        f"import run; print(run(Path('bench-results/sections/console'), {arg}))\"`",
        "",
    ]
    return "\n".join(lines)
