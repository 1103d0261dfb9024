"""The case queue: clusters and accounts by risk, filtered and paged."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from ..auth import CASE_STATUSES
from ..cases import VERDICT_FILTERS, QueueFilter
from ..context import Console
from ..session import Viewer

router = APIRouter()


@router.get("/")
def root() -> Response:
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue")
def queue(sess: Viewer, console: Console, f: Annotated[QueueFilter, Depends()]) -> Response:
    """One page of cases; the filters arrive as query parameters named as QueueFilter's fields."""
    q = console.store.queue(f, console.db.statuses())
    params = {k: v for k, v in f.__dict__.items() if v and k != "after"}
    next_url = "/queue?" + urlencode({**params, "after": q["next"]}) if q["next"] else None
    return console.page(
        "queue.html",
        sess,
        q=q,
        f=f,
        verdicts=VERDICT_FILTERS,
        statuses=CASE_STATUSES,
        next_url=next_url,
        first_url="/queue?" + urlencode(params) if f.after else None,
    )
