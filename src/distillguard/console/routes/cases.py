"""The case pages: one cluster, one account. Prompt text shows only after an audited reveal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from .. import plots, queries
from ..auth import CASE_STATUSES
from ..casework import CONSOLE_ACTIONS, active_batches
from ..context import Console, ConsoleContext
from ..report import redact_prompt
from ..session import Viewer

router = APIRouter()


@router.get("/cluster/{cluster_id:path}")
def cluster_page(sess: Viewer, console: Console, cluster_id: str, msg: str = "") -> Response:
    reveal = console.can_see_text(sess, "cluster", cluster_id)
    with console.store.cursor() as cur:
        findings = _cluster_findings(cur, cluster_id, reveal)
    member_ids = {m["account_id"] for m in findings["members"]}
    return _case_page(
        console, sess, "cluster", cluster_id, findings, reveal, msg,
        batches=active_batches(console.actions.active(), cluster_id, member_ids),
        history=console.audit_view.entries(cluster_id, limit=30),
    )


def _cluster_findings(cur: Any, cluster_id: str, reveal: bool) -> dict[str, Any]:
    """What the store says about a cluster: members, shared keys, traffic, examples."""
    sch = queries.Schema(cur)
    row = queries.cluster_row(cur, sch, cluster_id)
    if row is None:
        raise HTTPException(404, f"no cluster {cluster_id!r} in the store")
    msql, margs = queries.members_sql(sch), [cluster_id]
    graph = queries.cluster_graph(cur, sch, cluster_id, max_accounts=150, max_keys=120)
    member_rows = queries.members(cur, sch, cluster_id, limit=200)
    return {
        "c": row,
        "graph": plots.fig_html(
            plots.cluster_graph_figure(graph, title="member accounts and shared keys"),
            div_id="cluster-graph",
        ),
        "indicators": queries.shared_indicators(cur, sch, cluster_id, limit=40),
        "network": queries.network_summary(cur, sch, msql, margs),
        "volume": plots.fig_html(
            plots.volume_figure(queries.hourly_volume(cur, sch, msql, margs)),
            div_id="cluster-volume",
        ),
        "capability": plots.fig_html(
            plots.capability_figure(queries.capability_mix(cur, sch, [cluster_id])),
            div_id="cluster-capability",
        ),
        "examples": queries.example_prompts(cur, sch, msql, margs, limit=8, with_text=reveal),
        "evidence": queries.evidence_for(cur, sch, "cluster", cluster_id),
        "members": member_rows,
    }


@router.get("/account/{account_id:path}")
def account_page(sess: Viewer, console: Console, account_id: str, msg: str = "") -> Response:
    reveal = console.can_see_text(sess, "account", account_id)
    with console.store.cursor() as cur:
        findings = _account_findings(cur, account_id, reveal)
    actions = console.actions
    return _case_page(
        console, sess, "account", account_id, findings, reveal, msg,
        active=actions.active(account_id),
        history=actions.history(account_id),
        audit_entries=console.audit_view.entries(account_id, limit=30),
        allowed=actions.is_allowed(account_id),
    )


def _case_page(
    console: ConsoleContext,
    sess: dict,
    kind: str,
    subject_id: str,
    findings: dict[str, Any],
    reveal: bool,
    msg: str,
    **extra: Any,
) -> Response:
    """``{kind}.html``: the findings (example prompts redacted unless revealed), the case's
    status and the action menu, plus the page's ``extra`` context."""
    findings["examples"] = [redact_prompt(e, not reveal) for e in findings["examples"]]
    return console.page(
        f"{kind}.html",
        sess,
        **findings,
        **extra,
        revealed=reveal,
        status=console.db.status(kind, subject_id),
        statuses=CASE_STATUSES,
        actions_menu=CONSOLE_ACTIONS,
        msg=msg,
    )


def _account_findings(cur: Any, account_id: str, reveal: bool) -> dict[str, Any]:
    """What the store says about an account: timeline, fingerprint, links, examples."""
    sch = queries.Schema(cur)
    row = queries.account_row(cur, sch, account_id)
    if row is None:
        raise HTTPException(404, f"no account {account_id!r} in the store")
    pct = queries.fingerprint_percentiles(cur, sch, account_id)
    return {
        "a": row,
        "volume": plots.fig_html(
            plots.volume_figure(
                queries.hourly_volume(cur, sch, "SELECT ?", [account_id]),
                title="Request timeline (per hour, by model)",
            ),
            div_id="account-volume",
        ),
        "fingerprint": plots.fig_html(plots.fingerprint_figure(pct), div_id="account-fp")
        if pct
        else None,
        "percentiles": pct,
        "capabilities": queries.account_capability_mix(cur, sch, account_id),
        "evidence": queries.evidence_for(cur, sch, "account", account_id),
        "lowered": queries.lowered_reasons(cur, sch, [account_id]).get(account_id, []),
        "linked": queries.linked_accounts(cur, sch, account_id),
        "examples": queries.account_requests(cur, sch, account_id, limit=10, with_text=reveal),
    }
