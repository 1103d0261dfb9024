"""Plotly figures shared by ``report.html`` and the web console.

Each function takes the small, already-aggregated rows of :mod:`distillguard.console.queries`
and returns a ``plotly.graph_objects.Figure``; :func:`fig_html` turns one into an HTML
fragment that expects ``Plotly`` to be loaded once by the page (inline in the report, a local
static route in the console: never a CDN).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timezone

import igraph as ig
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .queries import edge_category

CATEGORY_COLORS: dict[str, str] = {
    "infrastructure": "#1f77b4",
    "template": "#ff7f0e",
    "timing": "#2ca02c",
    "payment": "#d62728",
    "other": "#7f7f7f",
}
_PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
)
# Plain white styling set directly: a named plotly template is deep-copied into every
# figure, which cost ~70 ms per figure here.
_LAYOUT = {
    "margin": {"l": 40, "r": 10, "t": 40, "b": 30},
    "template": None,
    "font": {"size": 11},
    "plot_bgcolor": "white",
    "paper_bgcolor": "white",
}


def fig_html(fig: go.Figure, div_id: str | None = None) -> str:
    """An HTML fragment for ``fig``; the page must load plotly.js once itself."""
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _edge_traces(pairs: list, kinds: list[str], xy: list) -> list[go.Scatter]:
    """One line trace per evidence class, so the legend switches a class on and off."""
    by_cat: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for (a, k), kind in zip(pairs, kinds, strict=True):
        xs, ys = by_cat[edge_category(kind)]
        xs += [xy[a][0], xy[k][0], None]
        ys += [xy[a][1], xy[k][1], None]
    return [
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            name=cat,
            hoverinfo="skip",
            line={"color": CATEGORY_COLORS.get(cat, "#7f7f7f"), "width": 1.2},
        )
        for cat, (xs, ys) in sorted(by_cat.items())
    ]


def _account_trace(accounts: list[dict], xy: list) -> go.Scatter:
    """Accounts as circles coloured by risk (the first ``len(accounts)`` layout points)."""
    return go.Scatter(
        x=[xy[i][0] for i in range(len(accounts))],
        y=[xy[i][1] for i in range(len(accounts))],
        mode="markers",
        name="accounts",
        text=[
            f"{a['account_id']}<br>risk {float(a.get('risk') or 0):.2f} · {a.get('verdict') or ''}"
            for a in accounts
        ],
        customdata=[a["account_id"] for a in accounts],
        hoverinfo="text",
        marker={
            "size": 11,
            "color": [float(a.get("risk") or 0) for a in accounts],
            "colorscale": "OrRd",
            "cmin": 0,
            "cmax": 1,
            "line": {"width": 1, "color": "#333"},
            "colorbar": {"title": "risk", "thickness": 10, "len": 0.5},
        },
    )


def _key_trace(keys: list[dict], xy: list) -> go.Scatter:
    """Shared keys as diamonds sized by how many accounts share them."""
    return go.Scatter(
        x=[p[0] for p in xy[: len(keys)]],
        y=[p[1] for p in xy[: len(keys)]],
        mode="markers",
        name="shared keys",
        text=[f"{k['key_kind']}: {str(k['key'])[:60]}<br>{k['n']} accounts" for k in keys],
        hoverinfo="text",
        marker={
            "symbol": "diamond",
            "size": [8 + min(int(k["n"]), 30) // 2 for k in keys],
            "color": [CATEGORY_COLORS.get(edge_category(k["key_kind"])) for k in keys],
            "line": {"width": 1, "color": "#222"},
        },
    )


def cluster_graph_figure(graph: dict, title: str = "", seed: int = 1) -> go.Figure:
    """Account–key star graph: accounts as circles coloured by risk, shared keys as diamonds,
    edges coloured by evidence class. Layout by igraph (Fruchterman–Reingold, seeded)."""
    accounts, keys, edges = graph["accounts"], graph["keys"], graph["edges"]
    names = [a["account_id"] for a in accounts] + [f"{k['key_kind']}:{k['key']}" for k in keys]
    index = {n: i for i, n in enumerate(names)}
    pairs, kinds, weights = [], [], []
    for e in edges:
        a = index.get(e["account_id"])
        k = index.get(f"{e['key_kind']}:{e['key']}")
        if a is not None and k is not None:
            pairs.append((a, k))
            kinds.append(e["key_kind"])
            weights.append(float(e["weight"] or 0.0))
    fig = go.Figure()
    if not names:
        fig.update_layout(title=title or "no members", **_LAYOUT)
        return fig
    g = ig.Graph(n=len(names), edges=pairs)
    random.seed(seed)  # igraph's layout draws from Python's RNG: a fixed seed, a fixed picture
    layout = g.layout_fruchterman_reingold(niter=300) if pairs else g.layout_circle()
    xy = layout.coords
    for trace in _edge_traces(pairs, kinds, xy):
        fig.add_trace(trace)
    fig.add_trace(_account_trace(accounts, xy))
    if keys:
        fig.add_trace(_key_trace(keys, xy[len(accounts) :]))
    fig.update_layout(
        title=title,
        showlegend=True,
        legend={"orientation": "h", "y": -0.05},
        xaxis={"visible": False},
        yaxis={"visible": False},
        height=460,
        **{k: v for k, v in _LAYOUT.items() if k != "margin"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def volume_figure(volume: list[dict], title: str = "Requests per hour by model") -> go.Figure:
    """Requests per hour, one line per model: a model pivot shows as one line handing over
    to another."""
    series: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for r in volume:
        xs, ys = series[str(r["model"])]
        xs.append(_dt(int(r["hour_ms"])))
        ys.append(int(r["n"]))
    fig = go.Figure()
    for i, (model, (xs, ys)) in enumerate(sorted(series.items())):
        # Hourly bars stacked by model: a pivot shows as one colour giving way to another.
        fig.add_trace(
            go.Bar(
                x=xs,
                y=ys,
                name=model,
                marker={"color": _PALETTE[i % len(_PALETTE)]},
                hovertemplate=f"{model}: %{{y}} requests<br>%{{x}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        height=300,
        yaxis_title="requests / hour",
        barmode="stack",
        bargap=0.05,
        **_LAYOUT,
    )
    return fig


def clusters_volume_figure(volume: list[dict], cluster_ids: list[str]) -> go.Figure:
    """One stacked panel per cluster: requests per hour by model (shared time axis)."""
    ids = [c for c in cluster_ids if any(r["cluster_id"] == c for r in volume)]
    if not ids:
        return volume_figure([], title="No request volume")
    fig = make_subplots(
        rows=len(ids),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        subplot_titles=[f"cluster {c}" for c in ids],
    )
    models = sorted({str(r["model"]) for r in volume})
    color = {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(models)}
    for row, cid in enumerate(ids, start=1):
        series: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        for r in volume:
            if r["cluster_id"] == cid:
                xs, ys = series[str(r["model"])]
                xs.append(_dt(int(r["hour_ms"])))
                ys.append(int(r["n"]))
        for m, (xs, ys) in sorted(series.items()):
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    name=m,
                    legendgroup=m,
                    showlegend=row == 1,
                    mode="lines",
                    line={"color": color[m], "shape": "hv"},
                ),
                row=row,
                col=1,
            )
    fig.update_layout(
        title="Requests per hour by model (top clusters)", height=140 + 150 * len(ids), **_LAYOUT
    )
    return fig


def capability_figure(mix: list[dict], title: str = "Capability mix") -> go.Figure:
    """Share of requests per capability, one horizontal stacked bar per cluster."""
    totals: dict[str, int] = defaultdict(int)
    for r in mix:
        totals[r["cluster_id"]] += int(r["n"])
    clusters = list(dict.fromkeys(r["cluster_id"] for r in mix))
    caps = sorted({r["capability"] for r in mix})
    fig = go.Figure()
    for i, cap in enumerate(caps):
        share = {
            r["cluster_id"]: int(r["n"]) / max(totals[r["cluster_id"]], 1)
            for r in mix
            if r["capability"] == cap
        }
        fig.add_trace(
            go.Bar(
                y=clusters,
                x=[100 * share.get(c, 0.0) for c in clusters],
                name=cap,
                orientation="h",
                marker={"color": _PALETTE[i % len(_PALETTE)]},
                hovertemplate=f"{cap}: %{{x:.0f}}%<extra>%{{y}}</extra>",
            )
        )
    fig.update_layout(
        title=title,
        barmode="stack",
        height=120 + 28 * max(len(clusters), 1),
        xaxis_title="% of requests",
        yaxis={"type": "category", "autorange": "reversed"},
        **_LAYOUT,
    )
    return fig


def fingerprint_figure(
    percentiles: list[dict], title: str = "Fingerprint vs population"
) -> go.Figure:
    """Where the account sits on each feature: its percentile among all accounts."""
    feats = [p for p in percentiles if p["percentile"] is not None]
    colors = [
        "#d62728" if p["percentile"] >= 95 or p["percentile"] <= 5 else "#4c78a8" for p in feats
    ]
    fig = go.Figure(
        go.Bar(
            y=[p["feature"] for p in feats],
            x=[p["percentile"] for p in feats],
            orientation="h",
            marker={"color": colors},
            text=[_fmt(p["value"]) for p in feats],
            textposition="outside",
            hovertemplate="%{y}: value %{text}, percentile %{x:.1f}<extra></extra>",
        )
    )
    fig.add_vline(x=50, line_dash="dot", line_color="#999")
    fig.update_layout(
        title=title,
        height=120 + 20 * max(len(feats), 1),
        xaxis={"range": [0, 112], "title": "percentile among all accounts"},
        yaxis={"autorange": "reversed", "automargin": True, "tickfont": {"size": 10}},
        **_LAYOUT,
    )
    return fig


def quarantine_figure(by_reason: list[dict]) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=[r["n"] for r in by_reason],
            y=[r["reason"] for r in by_reason],
            orientation="h",
            marker={"color": "#9d755d"},
        )
    )
    fig.update_layout(
        title="Quarantined records by reason",
        height=120 + 26 * max(len(by_reason), 1),
        yaxis={"autorange": "reversed"},
        **_LAYOUT,
    )
    return fig


def _fmt(v: object) -> str:
    if v is None:
        return ""
    f = float(v)  # type: ignore[arg-type]
    if f.is_integer():
        return f"{int(f)}"
    return f"{f:.3g}"
