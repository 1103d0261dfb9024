"""Console page-render benchmark: server-side time of the queue, cluster and account pages.

``run(out_dir, data_dir)`` times pages through FastAPI's TestClient (the full app: session
check, DuckDB queries, plots, Jinja rendering; no network). With ``data_dir`` (a store built
by ``detect`` on the ``medium`` preset) it measures that store; otherwise it generates a
synthetic store with 100k accounts in DuckDB first. Console state (users, sessions) goes to a
scratch folder under ``out_dir``; the measured store is only read.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

from ..errors import InvalidInputError

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


def run(out_dir: Path, data_dir: Path | None = None, repeat: int = REPEAT) -> str:
    """Time the console pages and return a markdown section with the figures."""
    from fastapi.testclient import TestClient

    from . import queries
    from .app import create_app
    from .auth import ConsoleDB

    out_dir = Path(out_dir)
    scratch = out_dir / "console-bench"
    scratch.mkdir(parents=True, exist_ok=True)
    if data_dir is None:
        from .synthetic import build_synthetic_store

        t = time.perf_counter()
        store_dir = out_dir / "console-bench-store"
        build_synthetic_store(store_dir, n_accounts=100_000, n_clusters=4, cluster_size=1_000,
                              requests_per_account=5)
        source = (f"synthetic store, 100,000 accounts, built in DuckDB in "
                  f"{time.perf_counter() - t:.1f} s")
    else:
        store_dir = Path(data_dir)
        source = f"store at `{store_dir}`"
    db_file = store_dir / "store.duckdb"
    if not db_file.exists():
        raise InvalidInputError(f"no store.duckdb in {store_dir}")
    link = scratch / "store.duckdb"
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(db_file.resolve())
    (scratch / "console.sqlite").unlink(missing_ok=True)
    db = ConsoleDB(scratch / "console.sqlite")
    db.add_user("bench", "bench-password", "analyst", created_by="bench")
    db.close()

    app = create_app(scratch)
    try:
        client = TestClient(app)
        r = client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', r.text).group(1)
        client.post("/login", data={"username": "bench", "password": "bench-password",
                                    "login_token": token}, follow_redirects=False)
        t = time.perf_counter()
        first = client.get("/queue")
        first_ms = 1000 * (time.perf_counter() - t)
        if first.status_code != 200:
            raise InvalidInputError(f"queue page failed ({first.status_code}) on {store_dir}")
        cur = app.state.store.cursor()
        try:
            sch = queries.Schema(cur)
            n_accounts = queries.scalar(cur, "SELECT count(*) FROM out_accounts") or 0
            n_requests = queries.scalar(cur, "SELECT count(*) FROM requests") or 0
            top = queries.top_clusters(cur, sch, limit=1)
            acc = queries.top_accounts(cur, sch, limit=1)
        finally:
            cur.close()
        pages = [("queue (flagged, first page)", "/queue"),
                 ("queue (all verdicts, capability filter)", "/queue?verdict=all&capability=code")]
        if top:
            pages.append((f"cluster page ({top[0]['n_accounts']} accounts)",
                          f"/cluster/{top[0]['cluster_id']}"))
        if acc:
            pages.append(("account page", f"/account/{acc[0]['account_id']}"))
        results = []
        for name, url in pages:
            ms, status = _median_ms(client, url, repeat)
            results.append((name, ms, status))
        client.close()
    finally:
        app.state.store.close()
        app.state.actions.close()
        app.state.db.close()

    lines = [
        "## Console page render time",
        "",
        f"Source: {source}; {n_accounts:,} accounts, {n_requests:,} requests. Server-side time "
        f"through FastAPI's TestClient, median of {repeat} requests; target < {TARGET_S:.0f} s.",
        "",
        "| page | median ms | under 1 s |",
        "|---|---:|---|",
        f"| first request (opens the store, builds the case index) | {first_ms:.0f} | "
        f"{'yes' if first_ms < 1000 * TARGET_S else 'no'} |",
    ]
    for name, ms, status in results:
        ok = "yes" if ms < 1000 * TARGET_S and status == 200 else f"no (HTTP {status})"
        lines.append(f"| {name} | {ms:.0f} | {ok} |")
    lines += ["", "Reproduce: `python -c \"from distillguard.console.bench import run; "
              "print(run(Path('bench-results'), Path('STORE_DIR')))\"`", ""]
    return "\n".join(lines)
