"""``report.html``: one self-contained page of findings that opens offline.

plotly.js is inlined once in the page head; every figure is a fragment that uses it. All
aggregation happens in DuckDB (:mod:`distillguard.console.queries`), and every list is capped,
so the page stays small and quick to build whatever the size of the store. The same builder
renders a single case (one cluster or account) for the console's export.
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import jinja2
from markupsafe import Markup

from . import plots, queries
from .queries import Schema

TEMPLATES = Path(__file__).parent / "templates"
MAX_GRAPH_CLUSTERS = 6
MAX_TIMELINE_CLUSTERS = 4
MAX_CAPABILITY_CLUSTERS = 12
MAX_TOP_ACCOUNTS = 20
EXAMPLES_PER_ACCOUNT = 2


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped inside the installed ``plotly`` package (no network)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report and the console (autoescaping on)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ts"] = format_ts
    env.filters["num"] = format_num
    env.filters["idurl"] = url_segment
    return env


def url_segment(value: Any) -> str:
    """An id as one URL path segment: every reserved character, '/' included, escaped.

    (Jinja's ``urlencode`` keeps '/', which turned ``team/a`` into two path segments.)
    """
    return quote(str(value), safe="")


def format_ts(ms: Any) -> str:
    """Epoch milliseconds (or a datetime / float seconds) as a UTC timestamp string."""
    if ms is None or ms == "":
        return ""
    if isinstance(ms, _dt.datetime):
        return ms.strftime("%Y-%m-%d %H:%M")
    v = float(ms)
    if v > 1e11:  # milliseconds
        v /= 1000.0
    return _dt.datetime.fromtimestamp(v, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def format_num(v: Any, digits: int = 2) -> str:
    if v is None:
        return ""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{int(f):,}" if f.is_integer() else f"{f:.{digits}f}"


def redact_prompt(row: dict, redact: bool) -> dict:
    """Replace ``prompt_text`` by a placeholder when redacting or when it was not retained
    (``text_missing``, set by queries that skip reading the text, says which)."""
    out = dict(row)
    text = row.get("prompt_text")
    n = row.get("prompt_chars")
    if n is None and text is not None:
        n = len(text)
    missing = row.get("text_missing", text is None)
    if missing is None:  # text not read (redacted view): retained or not, it stays hidden
        missing = False
    if missing:
        out["prompt_text"] = None
        out["prompt_placeholder"] = f"[not retained · {n if n is not None else '?'} chars]"
    elif redact or text is None:
        out["prompt_text"] = None
        out["prompt_placeholder"] = f"[redacted · {n} chars]"
    else:
        out["prompt_placeholder"] = None
    return out


def build_report_html(
    con: duckdb.DuckDBPyConnection,
    summary: dict | None = None,
    redact: bool = False,
    cluster_ids: list[str] | None = None,
    account_ids: list[str] | None = None,
    title: str = "distillguard findings",
) -> str:
    """The report page as a string. With ``cluster_ids``/``account_ids`` it covers only those
    (a case report); otherwise the top campaigns and accounts of the whole store."""
    schema = Schema(con)
    clusters = _clusters(con, schema, cluster_ids)
    ids = [c["cluster_id"] for c in clusters]
    campaigns = _campaigns(con, schema, clusters[:MAX_GRAPH_CLUSTERS])
    timeline = _timeline(con, schema, ids[:MAX_TIMELINE_CLUSTERS], account_ids)
    mix = queries.capability_mix(con, schema, ids[:MAX_CAPABILITY_CLUSTERS])
    capability = Markup(plots.fig_html(plots.capability_figure(mix))) if mix else None
    top = _top_accounts(con, schema, ids, cluster_ids, account_ids)
    accounts = _with_examples(con, schema, top, redact)
    whole_store = cluster_ids is None and account_ids is None
    quarantine = queries.quarantine_summary(con, schema, examples=5) if whole_store else None
    qfig = _quarantine_figure(quarantine, redact)
    return (
        environment()
        .get_template("report.html")
        .render(
            title=title,
            generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            plotly_js=Markup(plotly_js()),
            counts=queries.store_counts(con, schema),
            summary=_flat_summary(summary or {}),
            clusters=clusters,
            campaigns=campaigns,
            timeline=timeline,
            capability=capability,
            accounts=accounts,
            quarantine=quarantine,
            quarantine_fig=qfig,
            redact=redact,
            metadata_only=(summary or {}).get("mode") == "metadata-only",
            case=not whole_store,
        )
    )


def _clusters(
    con: duckdb.DuckDBPyConnection, schema: Schema, cluster_ids: list[str] | None
) -> list[dict]:
    """The given clusters, or the store's top non-benign ones."""
    if cluster_ids is None:
        return [c for c in queries.top_clusters(con, schema, limit=50) if c["verdict"] != "benign"]
    return [c for c in (queries.cluster_row(con, schema, cid) for cid in cluster_ids) if c]


def _campaigns(con: duckdb.DuckDBPyConnection, schema: Schema, clusters: list[dict]) -> list[dict]:
    """Each cluster with its account-key graph and its shared indicators."""
    campaigns = []
    for c in clusters:
        graph = queries.cluster_graph(con, schema, c["cluster_id"], max_accounts=80, max_keys=60)
        fig = plots.cluster_graph_figure(graph, title=f"cluster {c['cluster_id']}")
        campaigns.append(
            {
                **c,
                "graph": Markup(plots.fig_html(fig)),
                "indicators": queries.shared_indicators(con, schema, c["cluster_id"], limit=12),
            }
        )
    return campaigns


def _timeline(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    timeline_ids: list[str],
    account_ids: list[str] | None,
) -> Markup | None:
    """Hourly volume of the clusters, else of the case's accounts; None when neither."""
    if timeline_ids:
        vol = queries.clusters_hourly_volume(con, schema, timeline_ids)
        return Markup(plots.fig_html(plots.clusters_volume_figure(vol, timeline_ids)))
    if account_ids:
        vol = queries.hourly_volume(con, schema, "SELECT unnest(?)", [account_ids])
        return Markup(plots.fig_html(plots.volume_figure(vol)))
    return None


def _top_accounts(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    ids: list[str],
    cluster_ids: list[str] | None,
    account_ids: list[str] | None,
) -> list[dict]:
    """The case's accounts, the case clusters' members, or the store's top accounts."""
    if account_ids is not None:
        return [r for r in (queries.account_row(con, schema, a) for a in account_ids) if r]
    top = queries.top_accounts(con, schema, limit=MAX_TOP_ACCOUNTS)
    if cluster_ids is not None:
        top = [a for cid in ids for a in queries.members(con, schema, cid, limit=MAX_TOP_ACCOUNTS)]
        top = top[:MAX_TOP_ACCOUNTS]
        for a in top:
            a.setdefault("cluster_id", None)
    return top


def _with_examples(
    con: duckdb.DuckDBPyConnection, schema: Schema, top: list[dict], redact: bool
) -> list[dict]:
    """Each account with its example prompts (redacted as asked) and its lowered reasons."""
    examples = queries.examples_by_account(
        con,
        schema,
        [a["account_id"] for a in top],
        per_account=EXAMPLES_PER_ACCOUNT,
        with_text=not redact,
    )
    lowered = queries.lowered_reasons(con, schema, [a["account_id"] for a in top])
    return [
        {
            **a,
            "examples": [redact_prompt(e, redact) for e in examples.get(a["account_id"], [])],
            "lowered": lowered.get(a["account_id"], []),
        }
        for a in top
    ]


def _quarantine_figure(quarantine: dict | None, redact: bool) -> Markup | None:
    """The quarantine-by-reason figure; when redacting, the raw example lines are hidden."""
    if not (quarantine and quarantine["by_reason"]):
        return None
    fig = Markup(plots.fig_html(plots.quarantine_figure(quarantine["by_reason"])))
    if redact:
        # Raw quarantined lines can carry prompt text: keep only where and why.
        for e in quarantine["examples"]:
            if "raw" in e:
                e["raw"] = f"[redacted · {len(str(e['raw'] or ''))} chars]"
    return fig


def write_report(
    con: duckdb.DuckDBPyConnection, path: Path, summary: dict, redact: bool = False
) -> Path:
    """Write the self-contained ``report.html`` for the store open on ``con`` and return it.

    ``summary`` is ``summary.json``'s content (its scalar fields are shown in a table);
    ``redact`` replaces every prompt by a placeholder (prompts not retained always are).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_report_html(con, summary, redact=redact), encoding="utf-8")
    return path


def _flat_summary(summary: dict, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Scalar fields of the summary (one level of nesting) as (key, value) pairs."""
    out: list[tuple[str, str]] = []
    for k, v in summary.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth < 1:
            out += _flat_summary(v, prefix=f"{key}.", depth=depth + 1)
        elif isinstance(v, (str, int, float, bool)) or v is None:
            out.append((key, format_num(v) if isinstance(v, float) else str(v)))
    return out[:80]
